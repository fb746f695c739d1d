// engine/runtime.h (private to src/engine) — executes a plan on one GPU; and the builder that makes
// plans (builder.cc).
//
// Runtime: Create uploads the weights, allocates the activation arena (for max_batch), the graph
// input and output buffers and a workspace. Run(batch, stream) executes any batch in the plan's
// range: the first call for a batch size makes that size's runners, runs the layers eagerly
// (warm-up; libraries initialise lazily) and then captures the same launches into a CUDA graph;
// later calls replay the graph. Run never synchronises the host. Everything is stream-ordered:
// one Run at a time per Runtime (the arena is shared by all batch sizes), on any stream.
//
// Thread safety: none; one thread uses a Runtime at a time.
#pragma once

#ifdef VRSEG_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <memory>
#include <string>
#include <vector>

#include "engine/conv.h"
#include "engine/plan.h"
#include "vrseg/status.h"

namespace vrseg::engine {

struct RuntimeOptions {
  // Capture one CUDA graph per batch size and replay it (default). Off: every Run launches the
  // layers one by one (debugging; per-layer timing always runs eagerly).
  bool use_graphs = true;
};

struct LayerProfile {
  std::string name, op, kind, tactic;
  double ms = 0;      // mean per run of this layer alone
  double gbps = 0;    // achieved memory traffic (recorded bytes / time)
  double tflops = 0;  // achieved FLOP rate (recorded FLOPs / time); 0 for data movement
};

class Runtime {
 public:
  // Takes the plan (its weights are uploaded, then dropped from host memory). `ctx` is shared
  // with whoever else uses the device's library handles (the builder); it must be for the device
  // the caller made current. Errors: kOutOfMemory (device memory), kInternal (CUDA), kUnsupported
  // (a layer kind or tactic this engine does not know: a plan from a newer engine).
  static Result<std::unique_ptr<Runtime>> Create(Plan plan, std::shared_ptr<gpu::GpuContext> ctx,
                                                 const RuntimeOptions& options = {});
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  const Plan& plan() const { return plan_; }
  int min_batch() const { return plan_.key.min_batch; }
  int max_batch() const { return plan_.key.max_batch; }
  gpu::GpuContext& context() { return *ctx_; }

  // Device buffers of the graph inputs/outputs (plan order), each sized for max_batch; batch
  // entries are contiguous (entry i starts at i * bytes_per_sample).
  void* input_data(int i) const { return io_in_[i]; }
  void* output_data(int i) const { return io_out_[i]; }
  int64_t input_bytes(int i, int batch) const;
  int64_t output_bytes(int i, int batch) const;
  // Device memory this runtime holds (weights, arena, I/O, workspace).
  size_t device_bytes() const { return device_bytes_; }

  // Runs the first `batch` entries (min_batch <= batch <= max_batch) on `stream` (null: an
  // internal stream that is ordered with the legacy default stream). Errors name the layer.
  Status Run(int batch, cudaStream_t stream);

  // Times each layer alone: one full warm-up run, then per layer `iterations` launches captured
  // into a CUDA graph and timed between CUDA events (device time, as in Run's graphs, without the
  // host's launch overhead). Synchronises `stream`. For reports, never in the hot path.
  Result<std::vector<LayerProfile>> Profile(int batch, int iterations, cudaStream_t stream);

  struct BatchExec;  // per batch size: runners, bound launches, the captured graph

 private:
  Runtime() = default;
  Result<BatchExec*> ExecFor(int batch);
  Status MakeExec(int batch, BatchExec* ex);
  Status RunEager(BatchExec& ex, cudaStream_t s);
  void* BufferPtr(int32_t id) const;

  Plan plan_;
  std::shared_ptr<gpu::GpuContext> ctx_;
  RuntimeOptions options_;
  void* weights_ = nullptr;
  void* arena_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::vector<void*> io_in_, io_out_;
  std::vector<void*> extra_allocs_;  // per-batch workspaces larger than the shared one
  std::vector<std::unique_ptr<BatchExec>> execs_;  // by batch size
  cudaStream_t own_stream_ = nullptr;
  size_t device_bytes_ = 0;
};

// ---- the builder (builder.cc) -------------------------------------------------------------------

struct BuilderOptions {
  PlanDType precision = PlanDType::kF16;  // kF32 or kF16
  int min_batch = 1, opt_batch = 1, max_batch = 1;
  int warmup_iterations = 3;
  int timed_iterations = 10;
  bool verbose = false;  // log every candidate tactic's time
};

// Turns an optimised, layout-assigned graph (LoadAndOptimize) into a plan: one layer per live
// node, conv/gemm tactics timed on the layer's real shapes at opt_batch (the fastest kept), every
// other layer timed once for the report, activations placed in one arena by liveness. Fills
// everything but plan.key's model hash and plan.metadata's extras, which the caller sets.
// `log` (optional) receives one line per decision. Errors: kUnsupported naming the op and node
// (an operator or attribute combination the engine cannot run), kInternal/kOutOfMemory (CUDA).
Result<Plan> BuildPlan(const Graph& g, const BuilderOptions& options,
                       std::shared_ptr<gpu::GpuContext> ctx, std::vector<std::string>* log);

}  // namespace vrseg::engine

#endif  // VRSEG_HAVE_CUDA
