// Our epilogue pass: bias, residual before/after the activation and the activation, in place on a
// [rows, channels] output, for the tactics whose library cannot fuse all of it. 16-byte vectors
// of y a thread where the channels fill them and the pointers are aligned; one element otherwise.
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

// The same, one 16-byte vector of y a thread (8 fp16 or 4 fp32 channels); channels % kN == 0.
template <typename T, typename B>
__global__ void EpilogueVecKernel(T* y, int64_t vecs, int64_t channels, const B* bias,
                                  const T* res_before, const T* res_after, Act act, float alpha,
                                  float beta) {
  constexpr int kN = Vec<T>::kN;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < vecs;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t e = i * kN;
    const int64_t c0 = e % channels;
    float v[kN], rb[kN], ra[kN];
    Vec<T>::Load(y + e, v);
    if (res_before != nullptr) Vec<T>::Load(res_before + e, rb);
    if (res_after != nullptr) Vec<T>::Load(res_after + e, ra);
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      float t = v[j];
      if (bias != nullptr) t += LoadF(bias, c0 + j);
      if (res_before != nullptr) t += rb[j];
      t = DeviceAct(act, t, alpha, beta);
      if (res_after != nullptr) t += ra[j];
      v[j] = t;
    }
    Vec<T>::Store(y + e, v);
  }
}

template <typename T, typename B>
void Launch(const EpilogueArgs& a, int64_t total, cudaStream_t stream) {
  constexpr int kThreads = 256;
  constexpr int kN = Vec<T>::kN;
  if (a.channels % kN == 0 && Aligned16(a.y) && Aligned16(a.residual_before) &&
      Aligned16(a.residual_after)) {
    const int64_t vecs = total / kN;
    EpilogueVecKernel<T, B><<<GridFor(vecs, kThreads), kThreads, 0, stream>>>(
        static_cast<T*>(a.y), vecs, a.channels, static_cast<const B*>(a.bias),
        static_cast<const T*>(a.residual_before), static_cast<const T*>(a.residual_after), a.act,
        a.alpha, a.beta);
    return;
  }
  EpilogueKernel<T, B><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
      static_cast<T*>(a.y), total, a.channels, static_cast<const B*>(a.bias),
      static_cast<const T*>(a.residual_before), static_cast<const T*>(a.residual_after), a.act,
      a.alpha, a.beta);
}

}  // namespace

Status LaunchEpilogue(const EpilogueArgs& a, cudaStream_t stream) {
  if (a.rows < 0 || a.channels < 1 || a.y == nullptr || (a.dt != DT::kF32 && a.dt != DT::kF16) ||
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
