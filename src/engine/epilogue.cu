// Our epilogue pass: bias, residual before/after the activation and the activation, in place on a
// [rows, channels] output, for the tactics whose library cannot fuse all of it.
#include <cuda_fp16.h>

#include "engine/conv_device.cuh"
#include "engine/conv_internal.h"
#include "vrseg/cuda/check.h"

namespace vrseg::engine::gpu::internal {
namespace {

template <typename T, typename B>
__global__ void EpilogueKernel(T* y, int64_t total, int64_t channels, const B* bias,
                               const T* res_before, const T* res_after, Act act, float alpha,
                               float beta) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    float v = LoadF(y, i);
    if (bias != nullptr) v += LoadF(bias, i % channels);
    if (res_before != nullptr) v += LoadF(res_before, i);
    v = DeviceAct(act, v, alpha, beta);
    if (res_after != nullptr) v += LoadF(res_after, i);
    StoreF(y, i, v);
  }
}

template <typename T, typename B>
void Launch(const EpilogueArgs& a, int64_t total, cudaStream_t stream) {
  constexpr int kThreads = 256;
  EpilogueKernel<T, B><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
      static_cast<T*>(a.y), total, a.channels, static_cast<const B*>(a.bias),
      static_cast<const T*>(a.residual_before), static_cast<const T*>(a.residual_after), a.act,
      a.alpha, a.beta);
}

}  // namespace

Status LaunchEpilogue(const EpilogueArgs& a, cudaStream_t stream) {
  if (a.rows < 0 || a.channels < 1 || a.y == nullptr ||
      (a.dt != DT::kF32 && a.dt != DT::kF16) ||
      (a.bias != nullptr && a.bias_dt != DT::kF32 && a.bias_dt != DT::kF16)) {
    return Status::InvalidArgument("conv epilogue: bad arguments");
  }
  const int64_t total = a.rows * a.channels;
  if (total == 0) return Status::Ok();
  const bool f16 = a.dt == DT::kF16, bias16 = a.bias_dt == DT::kF16;
  if (f16 && bias16) {
    Launch<__half, __half>(a, total, stream);
  } else if (f16) {
    Launch<__half, float>(a, total, stream);
  } else if (bias16) {
    Launch<float, __half>(a, total, stream);
  } else {
    Launch<float, float>(a, total, stream);
  }
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("EpilogueKernel");
  return Status::Ok();
}

}  // namespace vrseg::engine::gpu::internal
