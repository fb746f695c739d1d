// HostStaged: a GPU backend seen through pinned host buffers (see vrseg/host_staged_backend.h).
#include "vrseg/host_staged_backend.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>

#include <string>
#include <vector>

#include "vrseg/cuda/check.h"
#endif

namespace vrseg {

#ifdef VRSEG_HAVE_CUDA
namespace internal {
cudaError_t LaunchStagingCast(const void* in, void* out, int64_t n, bool to_half,
                              cudaStream_t stream);
}  // namespace internal

namespace {

// One staged tensor: pinned host buffer (what callers see), and for fp16 device tensors a float32
// device buffer that the cast kernel reads or writes.
struct Staged {
  Tensor device;           // the wrapped backend's tensor
  Tensor host;             // pinned, float32 where the device tensor is float
  std::shared_ptr<void> f32_device;  // only when device.dtype is fp16
};

std::shared_ptr<void> PinnedAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes == 0 ? 1 : bytes, cudaHostAllocDefault) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return std::shared_ptr<void>(p, [](void* q) { cudaFreeHost(q); });
}

std::shared_ptr<void> DeviceAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes == 0 ? 1 : bytes) != cudaSuccess) {
    (void)cudaGetLastError();
    return nullptr;
  }
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

class HostStagedBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> Create(std::unique_ptr<Backend> inner) {
    std::unique_ptr<HostStagedBackend> b(new HostStagedBackend());
    b->inner_ = std::move(inner);
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&b->stream_, cudaStreamNonBlocking));
    for (size_t i = 0; i < b->inner_->inputs().size(); ++i) {
      VRSEG_ASSIGN_OR_RETURN(Staged s, b->Stage(b->inner_->input(static_cast<int>(i))));
      b->in_.push_back(std::move(s));
      TensorDesc d = b->inner_->inputs()[i];
      if (d.dtype == DType::kFloat16) d.dtype = DType::kFloat32;
      b->in_desc_.push_back(d);
    }
    for (size_t i = 0; i < b->inner_->outputs().size(); ++i) {
      VRSEG_ASSIGN_OR_RETURN(Staged s, b->Stage(b->inner_->output(static_cast<int>(i))));
      b->out_.push_back(std::move(s));
      TensorDesc d = b->inner_->outputs()[i];
      if (d.dtype == DType::kFloat16) d.dtype = DType::kFloat32;
      b->out_desc_.push_back(d);
    }
    return std::unique_ptr<Backend>(std::move(b));
  }

  ~HostStagedBackend() override {
    if (stream_) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
  }

  std::string_view name() const override { return inner_->name(); }
  DeviceKind device() const override { return DeviceKind::kCuda; }
  std::string device_description() const override {
    return inner_->device_description() + ", host-staged";
  }
  std::string precision() const override { return inner_->precision(); }
  const ModelInfo& model_info() const override { return inner_->model_info(); }
  const std::vector<TensorDesc>& inputs() const override { return in_desc_; }
  const std::vector<TensorDesc>& outputs() const override { return out_desc_; }
  int max_batch() const override { return inner_->max_batch(); }
  Tensor input(int i) override { return in_.at(i).host; }
  Tensor output(int i) override { return out_.at(i).host; }

  Status Run(int batch, void* /*stream*/) override {
    if (batch < 1 || batch > max_batch()) {
      return Status::InvalidArgument(std::string(name()) + ": batch " + std::to_string(batch) +
                                     " outside 1.." + std::to_string(max_batch()));
    }
    for (Staged& s : in_) {
      const size_t host_bytes = static_cast<size_t>(s.host.slot_bytes() * batch);
      if (s.f32_device) {
        VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.f32_device.get(), s.host.data, host_bytes,
                                                   cudaMemcpyHostToDevice, stream_));
        VRSEG_CUDA_RETURN_IF_ERROR(internal::LaunchStagingCast(
            s.f32_device.get(), s.device.data, host_bytes / 4, /*to_half=*/true, stream_));
      } else {
        VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.device.data, s.host.data, host_bytes,
                                                   cudaMemcpyHostToDevice, stream_));
      }
    }
    VRSEG_RETURN_IF_ERROR(inner_->Run(batch, stream_));
    for (Staged& s : out_) {
      const size_t host_bytes = static_cast<size_t>(s.host.slot_bytes() * batch);
      if (s.f32_device) {
        VRSEG_CUDA_RETURN_IF_ERROR(internal::LaunchStagingCast(
            s.device.data, s.f32_device.get(), host_bytes / 4, /*to_half=*/false, stream_));
        VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.host.data, s.f32_device.get(), host_bytes,
                                                   cudaMemcpyDeviceToHost, stream_));
      } else {
        VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.host.data, s.device.data, host_bytes,
                                                   cudaMemcpyDeviceToHost, stream_));
      }
    }
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
    return Status::Ok();
  }

 private:
  HostStagedBackend() = default;

  Result<Staged> Stage(Tensor device) {
    Staged s;
    s.device = device;
    s.host.dtype = device.dtype == DType::kFloat16 ? DType::kFloat32 : device.dtype;
    s.host.shape = device.shape;
    s.host.memory = MemoryKind::kPinnedHost;
    const size_t bytes = static_cast<size_t>(s.host.bytes());
    s.host.storage = PinnedAlloc(bytes);
    if (!s.host.storage) {
      return Status::OutOfMemory(std::string(inner_->name()) + ": cannot allocate " +
                                 std::to_string(bytes) + " bytes of pinned host memory");
    }
    s.host.data = s.host.storage.get();
    if (device.dtype == DType::kFloat16) {
      s.f32_device = DeviceAlloc(bytes);
      if (!s.f32_device) {
        return Status::OutOfMemory(std::string(inner_->name()) + ": cannot allocate " +
                                   std::to_string(bytes) + " bytes of device staging memory");
      }
    }
    return s;
  }

  std::unique_ptr<Backend> inner_;
  cudaStream_t stream_ = nullptr;
  std::vector<Staged> in_, out_;
  std::vector<TensorDesc> in_desc_, out_desc_;
};

}  // namespace

Result<std::unique_ptr<Backend>> HostStaged(std::unique_ptr<Backend> device_backend) {
  if (!device_backend) return Status::InvalidArgument("HostStaged: null backend");
  if (device_backend->device() != DeviceKind::kCuda) return device_backend;
  return HostStagedBackend::Create(std::move(device_backend));
}

Result<std::vector<double>> TimeDeviceRuns(Backend& b, int batch, int warmup, int iterations,
                                           int repeats) {
  if (b.device() != DeviceKind::kCuda) {
    return Status::InvalidArgument("TimeDeviceRuns: backend '" + std::string(b.name()) +
                                   "' does not run on a GPU");
  }
  if (iterations < 1 || repeats < 1) return Status::InvalidArgument("TimeDeviceRuns: no runs");
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::shared_ptr<void> guard(nullptr, [&](void*) {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  });
  VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreate(&start));
  VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreate(&stop));
  // Zeroed inputs: the cost does not depend on the values, but never-written memory may hold
  // NaN or denormal patterns.
  for (size_t i = 0; i < b.inputs().size(); ++i) {
    const Tensor t = b.input(static_cast<int>(i));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(t.data, 0, t.bytes(), stream));
  }
  for (int i = 0; i < warmup; ++i) VRSEG_RETURN_IF_ERROR(b.Run(batch, stream));
  VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream));
  std::vector<double> ms;
  for (int r = 0; r < repeats; ++r) {
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(start, stream));
    for (int i = 0; i < iterations; ++i) VRSEG_RETURN_IF_ERROR(b.Run(batch, stream));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop, stream));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(stop));
    float t = 0;
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(static_cast<double>(t) / iterations);
  }
  return ms;
}

#else  // !VRSEG_HAVE_CUDA

Result<std::unique_ptr<Backend>> HostStaged(std::unique_ptr<Backend> device_backend) {
  if (!device_backend) return Status::InvalidArgument("HostStaged: null backend");
  if (device_backend->device() != DeviceKind::kCuda) return device_backend;
  return Status::Unavailable("backend '" + std::string(device_backend->name()) +
                             "': vrseg was built without CUDA");
}

Result<std::vector<double>> TimeDeviceRuns(Backend& b, int, int, int, int) {
  return Status::Unavailable("TimeDeviceRuns(" + std::string(b.name()) +
                             "): vrseg was built without CUDA");
}

#endif

}  // namespace vrseg
