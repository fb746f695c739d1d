// The "ort" backend: ONNX Runtime on the CPU.
//
// Buffers for every input and output are allocated once, for max_batch, and ONNX Runtime tensors
// (OrtValues) that wrap the first n slots are made once per batch size n on first use, then reused:
// Run() allocates nothing. Outputs are bound to our buffers, so ONNX Runtime writes into them.
#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "backend/registry_internal.h"
#include "vrseg/backend.h"
#include "vrseg/log.h"

namespace vrseg {
namespace {

Ort::Env& GlobalEnv() {
  // One environment per process (ONNX Runtime's rule); warnings and worse are logged.
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "vrseg");
  return env;
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

struct Buffer {
  TensorDesc desc;                 // declared shape (batch -1 where dynamic)
  std::vector<int64_t> full;       // shape with batch = max_batch
  std::shared_ptr<void> mem;
  int64_t slot_bytes = 0;
};

class OrtBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> Create(const std::string& path,
                                                 const BackendOptions& options) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Status::NotFound("model file not found: " + path);
    if (options.max_batch < 1) {
      return Status::InvalidArgument("backend.max_batch must be at least 1 (got " +
                                     std::to_string(options.max_batch) + ")");
    }
    std::unique_ptr<OrtBackend> b(new OrtBackend());
    b->path_ = path;
    b->max_batch_ = options.max_batch;
    b->threads_ = options.threads > 0 ? options.threads
                                      : std::max(1u, std::thread::hardware_concurrency());
    try {
      Ort::SessionOptions so;
      so.SetIntraOpNumThreads(b->threads_);
      so.SetInterOpNumThreads(1);
      so.SetExecutionMode(ExecutionMode::ORT_SEQUENTIAL);
      so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
      // Spin-waiting worker threads would take the cores the pipeline's other stages (decode,
      // pre/postprocessing, encode) need: measured in docs/benchmarks.md.
      so.AddConfigEntry("session.intra_op.allow_spinning", "0");
      b->session_ = std::make_unique<Ort::Session>(GlobalEnv(), path.c_str(), so);
    } catch (const Ort::Exception& e) {
      return Status::InvalidModel("cannot load model " + path + ": " + e.what());
    }
    Status st = b->Describe(options);
    if (!st.ok()) return st.WithContext("model " + path);
    return std::unique_ptr<Backend>(std::move(b));
  }

  std::string_view name() const override { return "ort"; }
  DeviceKind device() const override { return DeviceKind::kCpu; }
  std::string device_description() const override {
    return "CPU (ONNX Runtime " + OnnxRuntimeVersion() + ", " + std::to_string(threads_) +
           " threads)";
  }
  const ModelInfo& model_info() const override { return info_; }
  const std::vector<TensorDesc>& inputs() const override { return input_descs_; }
  const std::vector<TensorDesc>& outputs() const override { return output_descs_; }
  int max_batch() const override { return max_batch_; }

  Tensor input(int i) override { return View(in_[i]); }
  Tensor output(int i) override { return View(out_[i]); }

  Status Run(int batch, void* /*stream*/) override {
    if (batch < 1 || batch > max_batch_) {
      return Status::InvalidArgument("ort: batch " + std::to_string(batch) + " outside [1," +
                                     std::to_string(max_batch_) + "]");
    }
    Bound& bound = BoundFor(batch);
    try {
      session_->Run(run_options_, in_names_.data(), bound.inputs.data(), bound.inputs.size(),
                    out_names_.data(), bound.outputs.data(), bound.outputs.size());
    } catch (const Ort::Exception& e) {
      return Status::Internal("ort: running " + path_ + " on a batch of " +
                              std::to_string(batch) + ": " + e.what());
    }
    return Status::Ok();
  }

 private:
  struct Bound {
    std::vector<Ort::Value> inputs;
    std::vector<Ort::Value> outputs;
  };

  OrtBackend() = default;

  static Tensor View(const Buffer& b) {
    Tensor t;
    t.data = b.mem.get();
    t.dtype = b.desc.dtype;
    t.shape = b.full;
    t.memory = MemoryKind::kHost;
    t.storage = b.mem;
    return t;
  }

  Status Describe(const BackendOptions& options) {
    // Model metadata first: it fills in dynamic spatial dimensions of the image input.
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
    // The image input and mask output come first, so that input(0)/output(0) are the ones the
    // pipeline fills and reads.
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
    for (auto& s : in_name_storage_) in_names_.push_back(s.c_str());
    for (auto& s : out_name_storage_) out_names_.push_back(s.c_str());
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
      const size_t bytes = static_cast<size_t>((b.slot_bytes * max_batch_ + 63) / 64 * 64);
      void* mem = std::aligned_alloc(64, bytes);
      if (!mem) return Status::OutOfMemory("ort: buffer for '" + b.desc.name + "'");
      std::memset(mem, 0, bytes);
      b.mem = std::shared_ptr<void>(mem, [](void* p) { std::free(p); });
      (is_input ? input_descs_ : output_descs_).push_back(b.desc);
      (is_input ? in_name_storage_ : out_name_storage_).push_back(b.desc.name);
      (is_input ? in_ : out_).push_back(std::move(b));
    }
    if (is_input ? in_.empty() : out_.empty()) {
      return Status::InvalidModel(std::string("model has no ") + (is_input ? "inputs" : "outputs"));
    }
    return Status::Ok();
  }

  Bound& BoundFor(int n) {
    Bound& b = bound_[n];
    if (!b.inputs.empty()) return b;
    auto mi = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    auto wrap = [&](Buffer& buf) {
      std::vector<int64_t> shape = buf.full;
      shape[0] = n;
      return Ort::Value::CreateTensor(mi, buf.mem.get(), buf.slot_bytes * n, shape.data(),
                                      shape.size(), ToOrt(buf.desc.dtype));
    };
    for (auto& buf : in_) b.inputs.push_back(wrap(buf));
    for (auto& buf : out_) b.outputs.push_back(wrap(buf));
    return b;
  }

  std::string path_;
  int max_batch_ = 1;
  int threads_ = 1;
  ModelInfo info_;
  std::unique_ptr<Ort::Session> session_;
  Ort::RunOptions run_options_;
  std::vector<Buffer> in_, out_;
  std::vector<TensorDesc> input_descs_, output_descs_;
  std::vector<std::string> in_name_storage_, out_name_storage_;
  std::vector<const char*> in_names_, out_names_;
  std::vector<Bound> bound_;  // by batch size, made on first use
};

}  // namespace

std::string OnnxRuntimeVersion() { return Ort::GetVersionString(); }

namespace internal {
BackendFactory OrtBackendFactory() { return &OrtBackend::Create; }
}  // namespace internal

}  // namespace vrseg
