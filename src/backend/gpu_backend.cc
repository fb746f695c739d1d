// The "gpu" backend: vrseg's own engine (src/engine). The model path is a plan (".plan", loaded
// as is) or an ONNX file (built through the engine cache, or into a temporary plan when
// BackendOptions::engine_cache is false). Inputs and outputs are device buffers sized for
// max_batch, in the plan's precision (fp16 plans take and give fp16; ArgMax outputs are int64);
// Run enqueues on the caller's stream and never waits for the device.
#include <filesystem>

#include "backend/registry_internal.h"
#include "vrseg/backend.h"
#include "vrseg/engine.h"
#include "vrseg/log.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "engine/plan.h"
#include "engine/runtime.h"
#endif

namespace vrseg {

#ifdef VRSEG_HAVE_CUDA
namespace {

DType ToDType(engine::PlanDType t) {
  switch (t) {
    case engine::PlanDType::kF32:
      return DType::kFloat32;
    case engine::PlanDType::kF16:
      return DType::kFloat16;
    case engine::PlanDType::kI64:
      return DType::kInt64;
    case engine::PlanDType::kBool:
      return DType::kUInt8;
  }
  return DType::kFloat32;
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class GpuBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> Create(const std::string& path,
                                                 const BackendOptions& options) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      return Status::NotFound("model file not found: " + path);
    if (options.max_batch < 1) {
      return Status::InvalidArgument("backend.max_batch must be at least 1 (got " +
                                     std::to_string(options.max_batch) + ")");
    }
    int count = 0;
    const cudaError_t ce = cudaGetDeviceCount(&count);
    if (ce != cudaSuccess || options.device_id < 0 || options.device_id >= count) {
      cudaGetLastError();
      return Status::Unavailable("gpu: CUDA device " + std::to_string(options.device_id) +
                                 " is not available (" +
                                 (ce == cudaSuccess ? std::to_string(count) + " devices found"
                                                    : std::string(cudaGetErrorString(ce))) +
                                 ")");
    }
    std::string plan_path = path;
    std::string temp_plan;
    if (!EndsWith(path, ".plan")) {
      const EngineBuildOptions eo =
          BackendEngineOptions(options.precision, options.max_batch, options.device_id);
      if (options.engine_cache) {
        VRSEG_ASSIGN_OR_RETURN(plan_path, CachedEnginePlan(path, eo, options.engine_cache_dir));
      } else {
        static std::atomic<int> counter{0};
        temp_plan = (std::filesystem::temp_directory_path() /
                     ("vrseg-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
                      "-" + std::filesystem::path(path).stem().string() + ".plan"))
                        .string();
        VRSEG_RETURN_IF_ERROR(BuildEngine(path, temp_plan, eo));
        plan_path = temp_plan;
      }
    }
    auto plan = engine::ReadPlanFile(plan_path);
    if (!temp_plan.empty()) std::filesystem::remove(temp_plan, ec);
    if (!plan.ok()) return plan.status();
    std::unique_ptr<GpuBackend> b(new GpuBackend());
    b->plan_file_ = temp_plan.empty() ? plan_path : path + " (built, not cached)";
    VRSEG_RETURN_IF_ERROR(b->Load(std::move(*plan), options).WithContext("gpu: plan " + plan_path));
    return std::unique_ptr<Backend>(std::move(b));
  }

  std::string_view name() const override { return "gpu"; }
  DeviceKind device() const override { return DeviceKind::kCuda; }
  std::string device_description() const override {
    return rt_->plan().key.gpu_name + " (vrseg engine, " + rt_->plan().key.precision + ", plan " +
           plan_file_ + ")";
  }
  std::string precision() const override { return rt_->plan().key.precision; }
  const ModelInfo& model_info() const override { return info_; }
  const std::vector<TensorDesc>& inputs() const override { return in_desc_; }
  const std::vector<TensorDesc>& outputs() const override { return out_desc_; }
  int max_batch() const override { return max_batch_; }

  Tensor input(int i) override { return View(in_desc_[i], rt_->input_data(in_order_[i])); }
  Tensor output(int i) override { return View(out_desc_[i], rt_->output_data(out_order_[i])); }

  Status Run(int batch, void* stream) override {
    if (batch < 1 || batch > max_batch_) {
      return Status::InvalidArgument("gpu: batch " + std::to_string(batch) + " outside [1," +
                                     std::to_string(max_batch_) + "]");
    }
    Status st = rt_->Run(batch, static_cast<cudaStream_t>(stream));
    if (!st.ok()) return st.WithContext("gpu: " + plan_file_);
    return st;
  }

 private:
  GpuBackend() = default;

  Tensor View(const TensorDesc& d, void* data) const {
    Tensor t;
    t.data = data;
    t.dtype = d.dtype;
    t.shape = d.shape;
    t.shape[0] = max_batch_;
    t.memory = MemoryKind::kDevice;
    return t;
  }

  Status Load(engine::Plan plan, const BackendOptions& options) {
    // The plan must be for this GPU and these libraries (model, precision and batch are the
    // plan's own business).
    VRSEG_ASSIGN_OR_RETURN(engine::PlanKey here, engine::MachinePlanKey(options.device_id));
    engine::PlanKey have = plan.key;
    here.model_sha256 = have.model_sha256;
    here.precision = have.precision;
    here.min_batch = have.min_batch;
    here.opt_batch = have.opt_batch;
    here.max_batch = have.max_batch;
    const std::string diff = engine::KeyDifference(have, here);
    if (!diff.empty()) {
      return Status::InvalidModel("was built for another GPU or library version (" + diff +
                                  "): rebuild it with vrseg build-engine");
    }
    if (options.max_batch > plan.key.max_batch) {
      return Status::InvalidArgument("backend.max_batch " + std::to_string(options.max_batch) +
                                     " exceeds the plan's maximum batch " +
                                     std::to_string(plan.key.max_batch));
    }
    if (plan.key.min_batch > 1) {
      return Status::InvalidArgument("the plan's minimum batch is " +
                                     std::to_string(plan.key.min_batch) +
                                     "; the backend needs plans that run batch 1");
    }
    max_batch_ = options.max_batch;
    if (options.model_info_override) {
      info_ = *options.model_info_override;
    } else {
      VRSEG_ASSIGN_OR_RETURN(info_, ModelInfo::FromMetadata(plan.metadata));
    }
    for (const auto* ios : {&plan.inputs, &plan.outputs}) {
      for (const engine::PlanIO& io : *ios) {
        TensorDesc d;
        d.name = io.name;
        d.dtype = ToDType(io.dtype);
        for (const engine::Dim& dim : io.shape) d.shape.push_back(dim.is_const() ? dim.c : -1);
        if (d.shape.empty() || d.shape[0] != -1) {
          return Status::Unsupported(
              "'" + io.name + "': only tensors whose first dimension is the batch are supported");
        }
        (ios == &plan.inputs ? in_desc_ : out_desc_).push_back(d);
      }
    }
    if (in_desc_.empty() || out_desc_.empty()) return Status::InvalidModel("no inputs or outputs");
    in_order_.resize(in_desc_.size());
    out_order_.resize(out_desc_.size());
    for (size_t i = 0; i < in_order_.size(); ++i) in_order_[i] = static_cast<int>(i);
    for (size_t i = 0; i < out_order_.size(); ++i) out_order_[i] = static_cast<int>(i);
    if (info_.input_name.empty()) info_.input_name = in_desc_[0].name;
    if (info_.output_name.empty()) info_.output_name = out_desc_[0].name;
    // The image input and the mask output come first (what the pipeline fills and reads).
    VRSEG_RETURN_IF_ERROR(MoveToFront(info_.input_name, &in_desc_, &in_order_, "input"));
    VRSEG_RETURN_IF_ERROR(MoveToFront(info_.output_name, &out_desc_, &out_order_, "output"));
    VRSEG_ASSIGN_OR_RETURN(auto ctx, engine::gpu::GpuContext::Create(options.device_id));
    engine::RuntimeOptions ro;
    // Debugging aid: VRSEG_ENGINE_NO_GRAPHS=1 launches the layers one by one on every Run.
    if (const char* e = std::getenv("VRSEG_ENGINE_NO_GRAPHS"); e && *e && std::string(e) != "0") {
      ro.use_graphs = false;
    }
    VRSEG_ASSIGN_OR_RETURN(
        rt_, engine::Runtime::Create(std::move(plan),
                                     std::shared_ptr<engine::gpu::GpuContext>(std::move(ctx)), ro));
    return Status::Ok();
  }

  static Status MoveToFront(const std::string& name, std::vector<TensorDesc>* descs,
                            std::vector<int>* order, const char* what) {
    for (size_t i = 0; i < descs->size(); ++i) {
      if ((*descs)[i].name == name) {
        std::rotate(descs->begin(), descs->begin() + i, descs->begin() + i + 1);
        std::rotate(order->begin(), order->begin() + i, order->begin() + i + 1);
        return Status::Ok();
      }
    }
    return Status::InvalidModel(std::string("metadata names ") + what + " '" + name +
                                "' but the model has no such " + what);
  }

  std::string plan_file_;
  int max_batch_ = 1;
  ModelInfo info_;
  std::vector<TensorDesc> in_desc_, out_desc_;
  std::vector<int> in_order_, out_order_;  // backend index → plan I/O index
  std::unique_ptr<engine::Runtime> rt_;
};

}  // namespace

namespace internal {
BackendFactory GpuBackendFactory() { return &GpuBackend::Create; }
}  // namespace internal

#else  // !VRSEG_HAVE_CUDA

namespace internal {
BackendFactory GpuBackendFactory() {
  return [](const std::string&, const BackendOptions&) -> Result<std::unique_ptr<Backend>> {
    return Status::Unavailable(
        "gpu: vrseg was built without CUDA (no CUDA toolkit was found at configure time)");
  };
}
}  // namespace internal

#endif  // VRSEG_HAVE_CUDA

}  // namespace vrseg
