// The public engine API (vrseg/engine.h): BuildEngine, ProfileEnginePlan, MachinePlanKey.
// The cache lives in cache.cc.
#include <cstdio>

#include "engine/ir.h"
#include "engine/plan.h"
#include "vrseg/engine.h"
#include "vrseg/log.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "engine/conv.h"
#include "engine/runtime.h"
#endif

namespace vrseg {

#ifdef VRSEG_HAVE_CUDA

namespace {

Status CheckDevice(int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();
    return Status::Unavailable(
        "gpu engine: no CUDA device is available (" +
        std::string(e == cudaSuccess ? "none found" : cudaGetErrorString(e)) + ")");
  }
  if (device < 0 || device >= count) {
    return Status::Unavailable("gpu engine: CUDA device " + std::to_string(device) +
                               " does not exist (" + std::to_string(count) + " found)");
  }
  return Status::Ok();
}

Result<std::shared_ptr<engine::gpu::GpuContext>> MakeContext(int device) {
  VRSEG_RETURN_IF_ERROR(CheckDevice(device));
  auto ctx = engine::gpu::GpuContext::Create(device);
  if (!ctx.ok()) return ctx.status();
  return std::shared_ptr<engine::gpu::GpuContext>(std::move(*ctx));
}

}  // namespace

namespace engine {
Result<PlanKey> MachinePlanKey(int device) {
  VRSEG_ASSIGN_OR_RETURN(auto ctx, MakeContext(device));
  PlanKey k;
  k.gpu_name = ctx->gpu_name();
  k.compute_capability = ctx->cc();
  k.cuda_runtime_version = ctx->cuda_runtime_version();
  k.cudnn_version = static_cast<int64_t>(ctx->cudnn_version());
  k.cublas_version = ctx->cublas_version();
  k.engine_version = kEngineVersion;
  return k;
}
}  // namespace engine

Status BuildEngine(const std::string& onnx_path, const std::string& plan_path,
                   const EngineBuildOptions& options, EngineBuildReport* report) {
  using namespace engine;
  if (options.precision != "fp32" && options.precision != "fp16") {
    return Status::InvalidArgument("build-engine: precision must be fp32 or fp16 (got '" +
                                   options.precision + "')");
  }
  if (options.min_batch < 1 || options.min_batch > options.opt_batch ||
      options.opt_batch > options.max_batch) {
    return Status::InvalidArgument("build-engine: batch " + std::to_string(options.min_batch) +
                                   ":" + std::to_string(options.opt_batch) + ":" +
                                   std::to_string(options.max_batch) +
                                   " must satisfy 1 <= MIN <= OPT <= MAX");
  }
  VRSEG_ASSIGN_OR_RETURN(std::string sha, Sha256File(onnx_path));
  FrontendOptions fo;
  fo.import.min_batch = options.min_batch;
  fo.import.max_batch = options.max_batch;
  std::vector<std::string> opt_report;
  VRSEG_ASSIGN_OR_RETURN(Graph g, LoadAndOptimize(onnx_path, fo, &opt_report));
  VRSEG_ASSIGN_OR_RETURN(auto ctx, MakeContext(options.device));
  BuilderOptions bo;
  bo.precision = options.precision == "fp32" ? PlanDType::kF32 : PlanDType::kF16;
  bo.min_batch = options.min_batch;
  bo.opt_batch = options.opt_batch;
  bo.max_batch = options.max_batch;
  bo.verbose = options.verbose;
  std::vector<std::string> tactics;
  auto plan = BuildPlan(g, bo, ctx, &tactics);
  if (!plan.ok()) return plan.status().WithContext("building " + onnx_path);
  plan->key.model_sha256 = sha;
  plan->optimizer_report = opt_report;
  VRSEG_RETURN_IF_ERROR(WritePlanFile(*plan, plan_path));
  if (report) {
    report->build_seconds = plan->build_seconds;
    report->arena_bytes = plan->arena_bytes;
    report->naive_bytes = plan->naive_bytes;
    report->weight_bytes = plan->weights.size();
    report->gpu = plan->key.gpu_name + " (sm_" + std::to_string(plan->key.compute_capability) + ")";
    report->optimizer = opt_report;
    report->tactics = tactics;
    report->layers.clear();
    char line[512];
    for (size_t i = 0; i < plan->layers.size(); ++i) {
      const PlanLayer& l = plan->layers[i];
      std::snprintf(line, sizeof(line), "%4zu %-15s %-40.40s %-36.36s %9.4f ms", i,
                    LayerKindName(l.kind), l.name.c_str(),
                    l.tactic.name.empty() ? "own kernel" : l.tactic.name.c_str(), l.time_ms);
      report->layers.push_back(line);
    }
  }
  return Status::Ok();
}

Result<std::vector<EngineLayerTiming>> ProfileEnginePlan(const std::string& plan_path, int batch,
                                                         int iterations, int device) {
  using namespace engine;
  VRSEG_ASSIGN_OR_RETURN(Plan plan, ReadPlanFile(plan_path));
  VRSEG_ASSIGN_OR_RETURN(auto ctx, MakeContext(device));
  RuntimeOptions ro;
  ro.use_graphs = false;
  VRSEG_ASSIGN_OR_RETURN(auto rt, Runtime::Create(std::move(plan), ctx, ro));
  VRSEG_ASSIGN_OR_RETURN(auto prof, rt->Profile(batch, iterations, nullptr));
  std::vector<EngineLayerTiming> out;
  for (const LayerProfile& p : prof) {
    out.push_back({p.name, p.op, p.kind, p.tactic, p.ms, p.gbps, p.tflops});
  }
  return out;
}

#else  // !VRSEG_HAVE_CUDA

namespace engine {
Result<PlanKey> MachinePlanKey(int) {
  return Status::Unavailable("gpu engine: vrseg was built without CUDA");
}
}  // namespace engine

Status BuildEngine(const std::string&, const std::string&, const EngineBuildOptions&,
                   EngineBuildReport*) {
  return Status::Unavailable("build-engine: vrseg was built without CUDA");
}

Result<std::vector<EngineLayerTiming>> ProfileEnginePlan(const std::string&, int, int, int) {
  return Status::Unavailable("gpu engine: vrseg was built without CUDA");
}

#endif  // VRSEG_HAVE_CUDA

}  // namespace vrseg
