// GpuContext: the cuDNN, cuBLASLt and cuBLAS handles of one engine on one device.
#ifdef VRSEG_HAVE_CUDA

#include <string>

#include "engine/conv.h"
#include "engine/conv_internal.h"
#include "vrseg/cuda/check.h"

namespace vrseg::engine::gpu {

Result<std::unique_ptr<GpuContext>> GpuContext::Create(int device) {
  if (cuda::DeviceCount() == 0) {
    return Status::Unavailable("GPU engine: no CUDA device (" + cuda::DeviceDescription(device) +
                               ")");
  }
  std::unique_ptr<GpuContext> ctx(new GpuContext());
  ctx->device_ = device;
  VRSEG_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
  VRSEG_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&ctx->props_, device));
  const std::string what = "GPU engine context on device " + std::to_string(device);
  VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreate(&ctx->cudnn_), what);
  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&ctx->lt_), what);
  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasCreate(&ctx->blas_), what);
  return ctx;
}

GpuContext::~GpuContext() {
  if (blas_ != nullptr) cublasDestroy(blas_);
  if (lt_ != nullptr) cublasLtDestroy(lt_);
  if (cudnn_ != nullptr) cudnnDestroy(cudnn_);
}

int GpuContext::cuda_runtime_version() const {
  int v = 0;
  if (cudaRuntimeGetVersion(&v) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return v;
}

size_t GpuContext::cudnn_version() const { return cudnnGetVersion(); }

int GpuContext::cublas_version() const { return static_cast<int>(cublasLtGetVersion()); }

}  // namespace vrseg::engine::gpu

#endif  // VRSEG_HAVE_CUDA
