// engine/conv_device.cuh (private to the conv/gemm kernels: epilogue.cu, conv_direct.cu,
// conv_depthwise.cu) — element loads/stores in fp32 arithmetic and the activations, on the device.
// The activations follow ApplyAct (ir.cc), the reference definition.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "engine/ir.h"

namespace vrseg::engine::gpu::internal {

__device__ __forceinline__ float LoadF(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float LoadF(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void StoreF(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void StoreF(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

__device__ __forceinline__ float DeviceAct(Act a, float x, float alpha, float beta) {
  switch (a) {
    case Act::kNone: return x;
    case Act::kRelu: return x > 0.f ? x : 0.f;
    case Act::kClip: return fminf(fmaxf(x, alpha), beta);
    case Act::kHardSwish: return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case Act::kHardSigmoid: return fmaxf(0.f, fminf(1.f, alpha * x + beta));
    case Act::kSigmoid: return 1.f / (1.f + expf(-x));
    case Act::kTanh: return tanhf(x);
    case Act::kLeakyRelu: return x >= 0.f ? x : alpha * x;
  }
  return x;
}

// Grid size for a grid-stride loop over `total` elements with `threads` per block.
inline unsigned GridFor(int64_t total, int threads) {
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace vrseg::engine::gpu::internal
