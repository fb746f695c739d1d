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
    case Act::kNone:
      return x;
    case Act::kRelu:
      return x > 0.f ? x : 0.f;
    case Act::kClip:
      return fminf(fmaxf(x, alpha), beta);
    case Act::kHardSwish:
      return x * fmaxf(0.f, fminf(1.f, x / 6.f + 0.5f));
    case Act::kHardSigmoid:
      return fmaxf(0.f, fminf(1.f, alpha * x + beta));
    case Act::kSigmoid:
      return 1.f / (1.f + expf(-x));
    case Act::kTanh:
      return tanhf(x);
    case Act::kLeakyRelu:
      return x >= 0.f ? x : alpha * x;
  }
  return x;
}

// 16-byte vectors of channels, converted to and from fp32.
template <typename T>
struct Vec;
template <>
struct Vec<float> {
  static constexpr int kN = 4;
  __device__ static void Load(const float* p, float (&v)[4]) {
    const float4 f = *reinterpret_cast<const float4*>(p);
    v[0] = f.x;
    v[1] = f.y;
    v[2] = f.z;
    v[3] = f.w;
  }
  __device__ static void Store(float* p, const float (&v)[4]) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
};
template <>
struct Vec<__half> {
  static constexpr int kN = 8;
  __device__ static void Load(const __half* p, float (&v)[8]) {
    const uint4 u = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&u);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 f = __half22float2(h[j]);
      v[2 * j] = f.x;
      v[2 * j + 1] = f.y;
    }
  }
  __device__ static void Store(__half* p, const float (&v)[8]) {
    uint4 u;
    __half2* h = reinterpret_cast<__half2*>(&u);
#pragma unroll
    for (int j = 0; j < 4; ++j) h[j] = __floats2half2_rn(v[2 * j], v[2 * j + 1]);
    *reinterpret_cast<uint4*>(p) = u;
  }
};

inline bool Aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

// Grid size for a grid-stride loop over `total` elements with `threads` per block.
inline unsigned GridFor(int64_t total, int threads) {
  int64_t blocks = (total + threads - 1) / threads;
  if (blocks > (int64_t{1} << 20)) blocks = int64_t{1} << 20;
  return static_cast<unsigned>(blocks < 1 ? 1 : blocks);
}

}  // namespace vrseg::engine::gpu::internal
