// The "ort-cuda" backend: ONNX Runtime with its CUDA execution provider.
//
// The provider is a separate library (libonnxruntime_providers_cuda.so, CUDA 13 / cuDNN 9, fetched by
// `scripts/setup.sh --gpu`) that the core library loads at run time from its own folder through its
// provider bridge. The core must be a CUDA-enabled build of the same version (setup --gpu installs
// onnxruntime-node 1.29.0's): the CPU-only core of the foundation issue answers "not enabled" to the
// V2 options and, through the V1 ones, crashes on common operators (see AppendCudaProvider).
//
// Memory: every input and output has a device buffer of its own (cudaMalloc, sized for max_batch,
// zeroed), handed out by input(i)/output(i) as kDevice tensors, so CUDA preprocessing writes the
// model's input in place and postprocessing reads its output in place. For each batch size n an
// IoBinding over the first n slots of those buffers is made on first use, then reused: Run()
// allocates nothing of ours (ONNX Runtime's own arena serves its intermediate tensors).
//
// Streams: ONNX Runtime fixes its compute stream when the session is made, before the caller's stream
// is known, so the session runs on a stream of ours (has_user_compute_stream, copies on the same
// stream). Run(n, stream) orders it after the caller's stream with an event, runs, and orders the
// caller's stream after it with another event: no host synchronisation of ours, and the session's
// end-of-run synchronisation is switched off (outputs are device buffers, read in stream order).
// ONNX Runtime still waits for the device inside Run (measured on an H200: the host time of a Run is
// about its device time, for every model tried), so Run returns with the work done; that is its own
// doing, and why this backend cannot overlap batches the way the engine's graph replay does.
//
// Precision: that of the ONNX file. A float32 file runs in float32; a float16 file (its inputs and
// outputs float16) runs in float16. Asking for fp16 with a float32 file is refused: this backend
// does not convert models.
//
// cuDNN convolution algorithm search: HEURISTIC by default; EXHAUSTIVE (times every algorithm once per
// shape at the first run of that shape) or DEFAULT with VRSEG_ORT_CUDA_CONV_SEARCH=exhaustive|default
// (BackendOptions has no field for it yet). Measured on an H200 with FP16 torchvision exports,
// neither wins everywhere: EXHAUSTIVE is 15-30% faster on resnet50 and lraspp at some batch sizes,
// but picks algorithms that make deeplabv3_resnet50 ten times slower (27 ms instead of 2.9 at batch
// 1), so the default is the one without such cliffs; bench/gpu_engine_bench.sh runs both. VRSEG_ORT_CUDA_OPTIONS="key=value,..." passes further
// provider options by ONNX Runtime's names (e.g. prefer_nhwc=1), for tuning the peer.
#include "backend/registry_internal.h"
#include "vrseg/backend.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <dlfcn.h>
#include <onnxruntime_cxx_api.h>
#include <onnxruntime_run_options_config_keys.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "vrseg/cuda/check.h"
#include "vrseg/log.h"
#endif

namespace vrseg {

#ifdef VRSEG_HAVE_CUDA
namespace {

constexpr const char* kProviderLibrary = "libonnxruntime_providers_cuda.so";

Ort::Env& CudaEnv() {
  // ONNX Runtime keeps one environment per process and hands this same one to every holder. This
  // reference is never released: tearing the environment down at process exit after the CUDA
  // provider has run corrupts the heap ("corrupted double-linked list", abort, exit status 134, seen
  // here on an H200 with selfie and landscape; a known problem of ONNX Runtime's CUDA provider).
  // Exit frees it.
  static Ort::Env* env = new Ort::Env(ORT_LOGGING_LEVEL_ERROR, "vrseg");
  return *env;
}

// The folder of the ONNX Runtime core library in this process: the provider bridge loads provider
// libraries from there, and from nowhere else.
std::string OrtLibraryFolder() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&OrtGetApiBase), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(info.dli_fname, ec);
  if (ec) return "";
  return p.parent_path().string();
}

Result<DType> FromOrt(ONNXTensorElementDataType t, const std::string& what) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return DType::kFloat32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return DType::kFloat16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return DType::kUInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return DType::kInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return DType::kInt64;
    default:
      return Status::Unsupported(what + ": element type " + std::to_string(static_cast<int>(t)) +
                                 " is not supported");
  }
}

ONNXTensorElementDataType ToOrt(DType t) {
  switch (t) {
    case DType::kFloat32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DType::kFloat16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DType::kUInt8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DType::kInt32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DType::kInt64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

Result<OrtCudnnConvAlgoSearch> ConvSearchFromEnv(std::string* name) {
  const char* v = std::getenv("VRSEG_ORT_CUDA_CONV_SEARCH");
  const std::string s = v ? v : "heuristic";
  *name = s;
  if (s == "exhaustive") return OrtCudnnConvAlgoSearchExhaustive;
  if (s == "heuristic") return OrtCudnnConvAlgoSearchHeuristic;
  if (s == "default") return OrtCudnnConvAlgoSearchDefault;
  return Status::InvalidArgument("VRSEG_ORT_CUDA_CONV_SEARCH='" + s +
                                 "': expected exhaustive, heuristic or default");
}

// One model input or output: its device buffer, sized for max_batch.
struct Buffer {
  TensorDesc desc;            // declared shape (batch -1 where dynamic)
  std::vector<int64_t> full;  // shape with batch = max_batch
  std::shared_ptr<void> mem;  // device memory
  int64_t slot_bytes = 0;
};

class OrtCudaBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> Create(const std::string& path,
                                                 const BackendOptions& options) {
    // The provider library first: without it nothing below can work, and its absence is the usual
    // reason (setup without --gpu), on machines with or without a GPU.
    const std::string folder = OrtLibraryFolder();
    std::error_code ec;
    if (folder.empty() || !std::filesystem::exists(folder + "/" + kProviderLibrary, ec)) {
      return Status::Unavailable(
          std::string("ort-cuda needs ") + kProviderLibrary +
          ": run scripts/setup.sh --gpu (looked in " +
          (folder.empty() ? std::string("the ONNX Runtime library's folder") : folder) + ")");
    }
    if (!std::filesystem::exists(path, ec)) return Status::NotFound("model file not found: " + path);
    if (options.max_batch < 1) {
      return Status::InvalidArgument("backend.max_batch must be at least 1 (got " +
                                     std::to_string(options.max_batch) + ")");
    }
    if (options.precision != "auto" && options.precision != "fp32" && options.precision != "fp16") {
      return Status::InvalidArgument("ort-cuda: precision '" + options.precision +
                                     "' (expected auto, fp32 or fp16)");
    }
    const int devices = cuda::DeviceCount();
    if (options.device_id < 0 || options.device_id >= devices) {
      return Status::Unavailable("ort-cuda: CUDA device " + std::to_string(options.device_id) +
                                 " is not available (" + std::to_string(devices) +
                                 " device(s); " + cuda::DeviceDescription(options.device_id) + ")");
    }
    std::string search_name;
    VRSEG_ASSIGN_OR_RETURN(OrtCudnnConvAlgoSearch search, ConvSearchFromEnv(&search_name));
    try {
      // The environment first: the CUDA provider options log through its default logger, and
      // fail ("none has been registered") when this is the process's first use of ONNX Runtime.
      CudaEnv();
    } catch (const Ort::Exception& e) {
      return Status::Internal(std::string("ort-cuda: ONNX Runtime environment: ") + e.what());
    }

    std::unique_ptr<OrtCudaBackend> b(new OrtCudaBackend());
    b->path_ = path;
    b->max_batch_ = options.max_batch;
    b->device_id_ = options.device_id;
    b->conv_search_ = search_name;
    VRSEG_CUDA_RETURN_IF_ERROR(cudaSetDevice(b->device_id_));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&b->stream_, cudaStreamNonBlocking));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&b->inputs_ready_, cudaEventDisableTiming));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&b->outputs_ready_, cudaEventDisableTiming));

    Ort::SessionOptions so;
    try {
      // CPU threads only serve the few nodes ONNX Runtime keeps on the CPU (shape arithmetic).
      so.SetIntraOpNumThreads(options.threads > 0 ? options.threads : 1);
      so.SetInterOpNumThreads(1);
      so.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
      so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
      so.AddConfigEntry("session.intra_op.allow_spinning", "0");
    } catch (const Ort::Exception& e) {
      return Status::Internal(std::string("ort-cuda: session options: ") + e.what());
    }
    VRSEG_RETURN_IF_ERROR(b->AppendCudaProvider(&so, search, folder));
    try {
      b->session_ = std::make_unique<Ort::Session>(CudaEnv(), path.c_str(), so);
    } catch (const Ort::Exception& e) {
      return Status::InvalidModel("ort-cuda: cannot load model " + path + ": " + e.what());
    }
    Status st = b->Describe(options);
    if (!st.ok()) return st.WithContext("model " + path);
    try {
      // Outputs are device buffers read in stream order: no need for ONNX Runtime to wait for the
      // device at the end of every run.
      b->run_options_.AddConfigEntry(kOrtRunOptionsConfigDisableSynchronizeExecutionProviders, "1");
    } catch (const Ort::Exception& e) {
      return Status::Internal(std::string("ort-cuda: run options: ") + e.what());
    }
    return std::unique_ptr<Backend>(std::move(b));
  }

  ~OrtCudaBackend() override {
    // Work queued on our stream must finish before its buffers go.
    if (stream_ != nullptr) {
      cudaStreamSynchronize(stream_);
    }
    bound_.clear();
    session_.reset();
    in_.clear();
    out_.clear();
    if (inputs_ready_ != nullptr) cudaEventDestroy(inputs_ready_);
    if (outputs_ready_ != nullptr) cudaEventDestroy(outputs_ready_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  std::string_view name() const override { return "ort-cuda"; }
  DeviceKind device() const override { return DeviceKind::kCuda; }
  std::string device_description() const override {
    return cuda::DeviceDescription(device_id_) + " (ONNX Runtime " + OnnxRuntimeVersion() +
           " CUDA execution provider, " + precision_ + ", " + math_ + ", cuDNN conv search " +
           conv_search_ + ")";
  }
  std::string precision() const override { return precision_; }
  const ModelInfo& model_info() const override { return info_; }
  const std::vector<TensorDesc>& inputs() const override { return input_descs_; }
  const std::vector<TensorDesc>& outputs() const override { return output_descs_; }
  int max_batch() const override { return max_batch_; }

  Tensor input(int i) override { return View(in_[i]); }
  Tensor output(int i) override { return View(out_[i]); }

  Status Run(int batch, void* stream) override {
    if (batch < 1 || batch > max_batch_) {
      return Status::InvalidArgument("ort-cuda: batch " + std::to_string(batch) + " outside [1," +
                                     std::to_string(max_batch_) + "]");
    }
    // The calling thread may have another device current.
    VRSEG_CUDA_RETURN_IF_ERROR(cudaSetDevice(device_id_));
    auto caller = static_cast<cudaStream_t>(stream);
    VRSEG_ASSIGN_OR_RETURN(Ort::IoBinding * binding, BindingFor(batch));
    // Our stream waits for whatever the caller queued before (the inputs being written).
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(inputs_ready_, caller));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(stream_, inputs_ready_, 0));
    try {
      session_->Run(run_options_, *binding);
    } catch (const Ort::Exception& e) {
      return Status::Internal("ort-cuda: running " + path_ + " on a batch of " +
                              std::to_string(batch) + ": " + e.what());
    }
    // The caller's stream waits for the outputs.
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(outputs_ready_, stream_));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(caller, outputs_ready_, 0));
    return Status::Ok();
  }

 private:
  OrtCudaBackend() = default;

  // The CUDA provider with our options. A CUDA-enabled core library (scripts/setup.sh --gpu installs
  // one) takes the V2 options, which can switch TF32 off so that fp32 is fp32. A CPU-only core
  // answers "not enabled" to them, and its provider bridge lacks the CUDA part of the host interface
  // that the provider calls into (Concat, Slice, Split, Pad, Resize, Tile, ... go through it): with
  // it, such models crash the process during Run. So a CPU-only core is refused, unless
  // VRSEG_ORT_CUDA_ALLOW_CPU_CORE=1 asks to try anyway (V1 options, TF32 as ONNX Runtime defaults).
  Status AppendCudaProvider(Ort::SessionOptions* so, OrtCudnnConvAlgoSearch search,
                            const std::string& folder) {
    const std::string where = folder + "/" + kProviderLibrary;
    auto unavailable = [&](const char* what) {
      return Status::Unavailable(
          std::string("ort-cuda: ONNX Runtime could not start its CUDA execution provider from ") +
          where + ": " + what +
          " (it needs libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcurand.so.10 and "
          "cuDNN 9 on the library path)");
    };
    const OrtApi& api = Ort::GetApi();
    OrtCUDAProviderOptionsV2* raw = nullptr;
    if (OrtStatus* st = api.CreateCUDAProviderOptions(&raw)) {
      const std::string why = api.GetErrorMessage(st);
      api.ReleaseStatus(st);
      const char* allow = std::getenv("VRSEG_ORT_CUDA_ALLOW_CPU_CORE");
      if (allow == nullptr || std::string(allow) != "1") {
        return Status::Unavailable(
            "ort-cuda: the ONNX Runtime core library in " + folder +
            " is a CPU-only build (\"" + why +
            "\"); the CUDA provider crashes with it on common operators (Concat, Resize, Slice, "
            "...): run scripts/setup.sh --gpu, which installs a CUDA-enabled core, or set "
            "VRSEG_ORT_CUDA_ALLOW_CPU_CORE=1 to try anyway");
      }
      LogWarning("ort-cuda: the ONNX Runtime core is a CPU-only build; trying its CUDA provider "
                 "anyway (VRSEG_ORT_CUDA_ALLOW_CPU_CORE=1): models with Concat, Resize, Slice, ... "
                 "may crash");
      OrtCUDAProviderOptions v1;  // its constructor sets the documented defaults
      v1.device_id = device_id_;
      v1.cudnn_conv_algo_search = search;
      v1.do_copy_in_default_stream = 1;
      v1.has_user_compute_stream = 1;
      v1.user_compute_stream = stream_;
      try {
        so->AppendExecutionProvider_CUDA(v1);
      } catch (const Ort::Exception& e) {
        return unavailable(e.what());
      }
      math_ = "TF32 allowed, V1 options on a CPU-only core";
      return Status::Ok();
    }
    std::unique_ptr<OrtCUDAProviderOptionsV2, void (*)(OrtCUDAProviderOptionsV2*)> v2(
        raw, [](OrtCUDAProviderOptionsV2* p) { Ort::GetApi().ReleaseCUDAProviderOptions(p); });
    const std::string search_name = search == OrtCudnnConvAlgoSearchExhaustive ? "EXHAUSTIVE"
                                    : search == OrtCudnnConvAlgoSearchHeuristic ? "HEURISTIC"
                                                                                : "DEFAULT";
    std::vector<std::pair<std::string, std::string>> options = {
        {"device_id", std::to_string(device_id_)},
        {"cudnn_conv_algo_search", search_name},
        {"do_copy_in_default_stream", "1"},
        {"use_tf32", "0"}};
    // Extra provider options for tuning the peer (ONNX Runtime's names, e.g. prefer_nhwc=1),
    // applied after ours, so they may override them.
    std::string extra;
    if (const char* env = std::getenv("VRSEG_ORT_CUDA_OPTIONS")) {
      std::string list = env;
      size_t start = 0;
      while (start < list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        const std::string item = list.substr(start, end - start);
        start = end + 1;
        if (item.empty()) continue;
        const size_t eq = item.find('=');
        if (eq == std::string::npos || eq == 0) {
          return Status::InvalidArgument("VRSEG_ORT_CUDA_OPTIONS: '" + item +
                                         "' is not key=value");
        }
        options.emplace_back(item.substr(0, eq), item.substr(eq + 1));
        extra += ", " + item;
      }
    }
    std::vector<const char*> keys, values;
    for (const auto& [k, v] : options) {
      keys.push_back(k.c_str());
      values.push_back(v.c_str());
    }
    if (OrtStatus* st =
            api.UpdateCUDAProviderOptions(v2.get(), keys.data(), values.data(), keys.size())) {
      const std::string why = api.GetErrorMessage(st);
      api.ReleaseStatus(st);
      return Status::InvalidArgument("ort-cuda: CUDA provider options: " + why);
    }
    // Setting the stream also sets has_user_compute_stream.
    if (OrtStatus* st = api.UpdateCUDAProviderOptionsWithValue(v2.get(), "user_compute_stream",
                                                                stream_)) {
      const std::string why = api.GetErrorMessage(st);
      api.ReleaseStatus(st);
      return Status::Internal("ort-cuda: CUDA provider stream: " + why);
    }
    try {
      so->AppendExecutionProvider_CUDA_V2(*v2);
    } catch (const Ort::Exception& e) {
      return unavailable(e.what());
    }
    math_ = "no TF32" + extra;
    return Status::Ok();
  }

  static Tensor View(const Buffer& b) {
    Tensor t;
    t.data = b.mem.get();
    t.dtype = b.desc.dtype;
    t.shape = b.full;
    t.memory = MemoryKind::kDevice;
    t.storage = b.mem;
    return t;
  }

  Status Describe(const BackendOptions& options) {
    if (options.model_info_override) {
      info_ = *options.model_info_override;
    } else {
      std::map<std::string, std::string> props;
      try {
        Ort::ModelMetadata md = session_->GetModelMetadata();
        Ort::AllocatorWithDefaultOptions alloc;
        for (auto& key : md.GetCustomMetadataMapKeysAllocated(alloc)) {
          auto value = md.LookupCustomMetadataMapAllocated(key.get(), alloc);
          props[key.get()] = value ? value.get() : "";
        }
      } catch (const Ort::Exception& e) {
        return Status::InvalidModel(std::string("reading metadata: ") + e.what());
      }
      VRSEG_ASSIGN_OR_RETURN(info_, ModelInfo::FromMetadata(props));
    }
    VRSEG_RETURN_IF_ERROR(Collect(/*is_input=*/true));
    VRSEG_RETURN_IF_ERROR(Collect(/*is_input=*/false));
    if (info_.input_name.empty()) info_.input_name = input_descs_[0].name;
    if (info_.output_name.empty()) info_.output_name = output_descs_[0].name;
    // The image input and mask output come first: input(0)/output(0) are the pipeline's.
    MoveToFront(info_.input_name, &in_, &input_descs_, &in_name_storage_);
    MoveToFront(info_.output_name, &out_, &output_descs_, &out_name_storage_);
    if (in_.front().desc.name != info_.input_name) {
      return Status::InvalidModel("metadata names input '" + info_.input_name +
                                  "' but the model has no such input");
    }
    if (out_.front().desc.name != info_.output_name) {
      return Status::InvalidModel("metadata names output '" + info_.output_name +
                                  "' but the model has no such output");
    }
    // Precision is the file's: that of its image input.
    const DType image = in_.front().desc.dtype;
    precision_ = image == DType::kFloat16 ? "fp16" : "fp32";
    if (options.precision == "fp16" && image != DType::kFloat16) {
      return Status::Unsupported(
          "ort-cuda runs a model in the precision of its ONNX file, and input '" +
          info_.input_name + "' is " + DTypeName(image) +
          ": use precision fp32, or export the model in float16");
    }
    if (options.precision == "fp32" && image == DType::kFloat16) {
      LogInfo("ort-cuda: " + path_ + " is a float16 model; it runs in fp16");
    }
    bound_.resize(max_batch_ + 1);
    return Status::Ok();
  }

  static void MoveToFront(const std::string& name, std::vector<Buffer>* bufs,
                          std::vector<TensorDesc>* descs, std::vector<std::string>* names) {
    for (size_t i = 1; i < bufs->size(); ++i) {
      if ((*bufs)[i].desc.name == name) {
        std::rotate(bufs->begin(), bufs->begin() + i, bufs->begin() + i + 1);
        std::rotate(descs->begin(), descs->begin() + i, descs->begin() + i + 1);
        std::rotate(names->begin(), names->begin() + i, names->begin() + i + 1);
      }
    }
  }

  Status Collect(bool is_input) {
    const size_t n = is_input ? session_->GetInputCount() : session_->GetOutputCount();
    Ort::AllocatorWithDefaultOptions alloc;
    for (size_t i = 0; i < n; ++i) {
      Buffer b;
      try {
        auto nm = is_input ? session_->GetInputNameAllocated(i, alloc)
                           : session_->GetOutputNameAllocated(i, alloc);
        b.desc.name = nm.get();
        Ort::TypeInfo ti = is_input ? session_->GetInputTypeInfo(i) : session_->GetOutputTypeInfo(i);
        if (ti.GetONNXType() != ONNX_TYPE_TENSOR) {
          return Status::Unsupported("'" + b.desc.name + "' is not a tensor");
        }
        auto tsi = ti.GetTensorTypeAndShapeInfo();
        VRSEG_ASSIGN_OR_RETURN(b.desc.dtype, FromOrt(tsi.GetElementType(), "'" + b.desc.name + "'"));
        b.desc.shape = tsi.GetShape();
      } catch (const Ort::Exception& e) {
        return Status::InvalidModel(std::string("describing tensors: ") + e.what());
      }
      auto& shape = b.desc.shape;
      if (shape.empty()) return Status::Unsupported("'" + b.desc.name + "' is a scalar");
      b.full = shape;
      b.full[0] = max_batch_;
      if (shape[0] > 0 && shape[0] != max_batch_ && max_batch_ > 1) {
        return Status::InvalidArgument("model " + path_ + " has a fixed batch of " +
                                       std::to_string(shape[0]) + " on '" + b.desc.name +
                                       "'; backend.max_batch must be 1");
      }
      // Dynamic spatial dimensions of the image input come from the model metadata.
      if (is_input && b.desc.name == info_.input_name && shape.size() == 4) {
        const bool nhwc = info_.input_layout == TensorLayout::kNHWC;
        int64_t& h = b.full[nhwc ? 1 : 2];
        int64_t& w = b.full[nhwc ? 2 : 3];
        int64_t& c = b.full[nhwc ? 3 : 1];
        if (h < 0) h = info_.input_height;
        if (w < 0) w = info_.input_width;
        if (c < 0) c = 3;
      }
      for (size_t d = 1; d < b.full.size(); ++d) {
        if (b.full[d] < 0) {
          return Status::Unsupported("'" + b.desc.name + "' has a dynamic dimension " +
                                     std::to_string(d) + " " + ShapeToString(shape) +
                                     ": only the batch dimension may be dynamic");
        }
      }
      b.slot_bytes = ShapeElements(b.full) / max_batch_ * DTypeSize(b.desc.dtype);
      const size_t bytes = static_cast<size_t>(std::max<int64_t>(b.slot_bytes * max_batch_, 1));
      void* mem = nullptr;
      VRSEG_CUDA_RETURN_IF_ERROR(cudaMalloc(&mem, bytes));
      b.mem = std::shared_ptr<void>(mem, [](void* p) { cudaFree(p); });
      // Zeroed, so that slots the caller never writes hold no garbage (NaNs) that a model could
      // turn into errors.
      VRSEG_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(mem, 0, bytes, stream_));
      (is_input ? input_descs_ : output_descs_).push_back(b.desc);
      (is_input ? in_name_storage_ : out_name_storage_).push_back(b.desc.name);
      (is_input ? in_ : out_).push_back(std::move(b));
    }
    if (is_input ? in_.empty() : out_.empty()) {
      return Status::InvalidModel(std::string("model has no ") + (is_input ? "inputs" : "outputs"));
    }
    // The buffers must be zero before anyone (another stream) writes them.
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    return Status::Ok();
  }

  // The binding of the first n slots of every buffer, made on first use of batch size n.
  Result<Ort::IoBinding*> BindingFor(int n) {
    Bound& b = bound_[n];
    if (b.binding) return b.binding.get();
    try {
      Ort::MemoryInfo mi("Cuda", OrtDeviceAllocator, device_id_, OrtMemTypeDefault);
      auto wrap = [&](Buffer& buf) {
        std::vector<int64_t> shape = buf.full;
        shape[0] = n;
        return Ort::Value::CreateTensor(mi, buf.mem.get(), static_cast<size_t>(buf.slot_bytes * n),
                                        shape.data(), shape.size(), ToOrt(buf.desc.dtype));
      };
      auto binding = std::make_unique<Ort::IoBinding>(*session_);
      for (size_t i = 0; i < in_.size(); ++i) {
        b.values.push_back(wrap(in_[i]));
        binding->BindInput(in_name_storage_[i].c_str(), b.values.back());
      }
      for (size_t i = 0; i < out_.size(); ++i) {
        b.values.push_back(wrap(out_[i]));
        binding->BindOutput(out_name_storage_[i].c_str(), b.values.back());
      }
      b.binding = std::move(binding);
    } catch (const Ort::Exception& e) {
      b.values.clear();
      b.binding.reset();
      return Status::Internal("ort-cuda: binding device buffers of " + path_ + " for a batch of " +
                              std::to_string(n) + ": " + e.what());
    }
    return b.binding.get();
  }

  struct Bound {
    std::vector<Ort::Value> values;  // the tensors over our buffers that the binding refers to
    std::unique_ptr<Ort::IoBinding> binding;
  };

  std::string path_;
  int max_batch_ = 1;
  int device_id_ = 0;
  std::string precision_ = "fp32";
  std::string conv_search_;
  std::string math_;
  ModelInfo info_;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t inputs_ready_ = nullptr;
  cudaEvent_t outputs_ready_ = nullptr;
  std::unique_ptr<Ort::Session> session_;
  Ort::RunOptions run_options_;
  std::vector<Buffer> in_, out_;
  std::vector<TensorDesc> input_descs_, output_descs_;
  std::vector<std::string> in_name_storage_, out_name_storage_;
  std::vector<Bound> bound_;  // by batch size, made on first use
};

}  // namespace

namespace internal {
BackendFactory OrtCudaBackendFactory() { return &OrtCudaBackend::Create; }
}  // namespace internal

#else  // !VRSEG_HAVE_CUDA

namespace internal {
BackendFactory OrtCudaBackendFactory() {
  return [](const std::string&, const BackendOptions&) -> Result<std::unique_ptr<Backend>> {
    return Status::Unavailable(
        "ort-cuda: vrseg was built without CUDA (no CUDA toolkit was found at configure time)");
  };
}
}  // namespace internal

#endif  // VRSEG_HAVE_CUDA

}  // namespace vrseg
