// vrseg/engine.h — vrseg's own GPU inference engine: build plans from ONNX files, cache them.
//
// A plan (".plan") is what `vrseg build-engine` writes: the model's layers with the fastest
// tactic for each (timed on this GPU), the prepared weights and a key (model hash, GPU, CUDA,
// cuDNN and cuBLAS versions, precision, batch range). The "gpu" backend
// (CreateBackend("gpu", path, options)) runs a plan, or an ONNX file through the engine cache.
//
// Thread safety: every function may be called from any thread; building uses the GPU named in
// the options and takes seconds to minutes, so callers should not hold locks across it.
// CachedEnginePlan serialises its callers within a process (one build per plan); separate
// processes sharing a cache may build the same plan twice, each written atomically.
// Without CUDA at build time every function that needs a GPU returns kUnavailable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vrseg/status.h"

namespace vrseg {

struct EngineBuildOptions {
  std::string precision =
      "fp16";            // "fp32" | "fp16" (fp16 weights and activations, fp32 accumulation)
  int min_batch = 1;     // the plan runs any batch in [min_batch, max_batch]
  int opt_batch = 1;     // tactics are timed at this batch
  int max_batch = 1;     // activation memory is planned for this batch
  int device = 0;        // CUDA device to build for (and time on)
  bool verbose = false;  // log every layer's candidate tactics and times
};

struct EngineBuildReport {
  double build_seconds = 0;
  uint64_t arena_bytes = 0;  // activation arena at max_batch (liveness-planned)
  uint64_t naive_bytes = 0;  // what one buffer per activation would take
  uint64_t weight_bytes = 0;
  std::string gpu;  // "NVIDIA H100 80GB HBM3 (sm_90)"
  // One line per layer: index, kind, name, tactic, measured time at opt_batch.
  std::vector<std::string> layers;
  // One line per optimiser pass ("fold_batchnorm: 53 folded").
  std::vector<std::string> optimizer;
  // One line per tactic search (candidates and their times).
  std::vector<std::string> tactics;
};

// Builds a plan for `onnx_path` and writes it to `plan_path` (atomically: a temporary file renamed
// into place). Errors: kNotFound (model), kInvalidModel (parse), kUnsupported (an operator or
// attribute the engine cannot run, naming the op and the node), kInvalidArgument (options),
// kUnavailable (no such CUDA device, or built without CUDA), kIoError (writing the plan).
Status BuildEngine(const std::string& onnx_path, const std::string& plan_path,
                   const EngineBuildOptions& options, EngineBuildReport* report = nullptr);

// Where cached plans live: $VRSEG_CACHE_DIR, else $XDG_CACHE_HOME/vrseg/engines, else
// ~/.cache/vrseg/engines.
std::string DefaultEngineCacheDir();

// The options the "gpu" backend builds an .onnx model's plan with: batches 1..max_batch, tactics
// timed at max_batch, `precision` "auto" (or "") meaning fp16.
EngineBuildOptions BackendEngineOptions(const std::string& precision, int max_batch, int device);

// What CachedEnginePlan did.
enum class EngineCacheOutcome : int {
  kHit = 0,          // a valid plan with a matching key was there
  kBuilt,            // no plan was there: built
  kRebuiltMismatch,  // a plan was there for another GPU/driver/library/options: rebuilt
  kRebuiltCorrupt,   // a plan was there but unreadable (truncated, corrupt): rebuilt
};

// The plan for `onnx_path` with `options` on this machine, from `cache_dir` (empty: the default),
// building it when it is missing, its key does not match (logged, with the differing fields) or
// it is corrupt (logged, with the error). Returns the plan's path. The file name holds the model's
// name and hash and the options, so plans of different models and options live side by side.
// Errors: as BuildEngine, plus kIoError when the cache directory cannot be made.
Result<std::string> CachedEnginePlan(const std::string& onnx_path,
                                     const EngineBuildOptions& options,
                                     const std::string& cache_dir = "",
                                     EngineCacheOutcome* outcome = nullptr);

// The time of each layer of a plan on its GPU (for `vrseg bench --layers`): loads the plan on
// `device`, runs `batch` once, then each layer `iterations` times between CUDA events.
struct EngineLayerTiming {
  std::string name, op, kind, tactic;
  double ms = 0;
  double gbps = 0;    // achieved memory traffic
  double tflops = 0;  // achieved FLOP rate (0 for data movement)
};
Result<std::vector<EngineLayerTiming>> ProfileEnginePlan(const std::string& plan_path, int batch,
                                                         int iterations = 20, int device = 0);

}  // namespace vrseg
