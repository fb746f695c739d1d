// Our depthwise convolution (groups == C == K): NHWC, weights [R][S][C], fp32 accumulation, the
// whole epilogue inside. v1: one thread per (n, oh, ow, pair of channels), so neighbouring threads
// read neighbouring channels of the same pixel (coalesced); any C. v2: one thread per (n, oh, ow,
// 16-byte vector of channels: 8 fp16 or 4 fp32), one vector load per tap of x and w; needs C to
// fill whole vectors and 16-byte aligned pointers (else the launcher runs v1).
#include <cuda_fp16.h>

#include <cstdint>

#include "engine/conv_device.cuh"
#include "engine/conv_internal.h"
#include "vrseg/cuda/check.h"

namespace vrseg::engine::gpu::internal {
namespace {

struct DepthwiseParams {
  int64_t n, h, w, c, r, s;
  int64_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
  int64_t oh, ow;
  bool residual_after_act;
  Act act;
  float alpha, beta;
};

template <typename T>
__device__ __forceinline__ void Finish(const DepthwiseParams& p, float acc, int64_t ch,
                                       int64_t out_index, const float* bias, const T* residual,
                                       T* y) {
  float v = acc;
  if (bias != nullptr) v += bias[ch];
  if (residual != nullptr && !p.residual_after_act) v += LoadF(residual, out_index);
  v = DeviceAct(p.act, v, p.alpha, p.beta);
  if (residual != nullptr && p.residual_after_act) v += LoadF(residual, out_index);
  StoreF(y, out_index, v);
}

template <typename T>
__global__ void DepthwiseConvKernel(DepthwiseParams p, const T* __restrict__ x,
                                    const T* __restrict__ w, const float* __restrict__ bias,
                                    const T* residual, T* y) {
  const int64_t pairs = (p.c + 1) / 2;
  const int64_t total = p.n * p.oh * p.ow * pairs;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t c0 = (i % pairs) * 2;
    int64_t t = i / pairs;
    const int64_t ox = t % p.ow;
    t /= p.ow;
    const int64_t oy = t % p.oh;
    const int64_t n = t / p.oh;
    const bool two = c0 + 1 < p.c;
    float acc0 = 0.f, acc1 = 0.f;
    for (int64_t r = 0; r < p.r; ++r) {
      const int64_t iy = oy * p.stride_h - p.pad_top + r * p.dil_h;
      if (iy < 0 || iy >= p.h) continue;
      for (int64_t q = 0; q < p.s; ++q) {
        const int64_t ix = ox * p.stride_w - p.pad_left + q * p.dil_w;
        if (ix < 0 || ix >= p.w) continue;
        const int64_t xb = ((n * p.h + iy) * p.w + ix) * p.c + c0;
        const int64_t wb = (r * p.s + q) * p.c + c0;
        acc0 += LoadF(x, xb) * LoadF(w, wb);
        if (two) acc1 += LoadF(x, xb + 1) * LoadF(w, wb + 1);
      }
    }
    const int64_t ob = ((n * p.oh + oy) * p.ow + ox) * p.c + c0;
    Finish(p, acc0, c0, ob, bias, residual, y);
    if (two) Finish(p, acc1, c0 + 1, ob + 1, bias, residual, y);
  }
}

// I: the index type (int32 where every tensor has fewer than 2^30 elements: GPU integer division
// is much cheaper in 32 bits); K: the kernel size when R == S == K is 3 or 5 (unrolled), else 0.
template <typename T, typename I, int K>
__global__ void DepthwiseConvVecKernel(DepthwiseParams p64, const T* __restrict__ x,
                                       const T* __restrict__ w, const float* __restrict__ bias,
                                       const T* residual, T* y) {
  constexpr int kN = Vec<T>::kN;
  const I h = static_cast<I>(p64.h), wd = static_cast<I>(p64.w), c = static_cast<I>(p64.c);
  const I oh = static_cast<I>(p64.oh), ow = static_cast<I>(p64.ow);
  const I sh = static_cast<I>(p64.stride_h), sw = static_cast<I>(p64.stride_w);
  const I pt = static_cast<I>(p64.pad_top), pl = static_cast<I>(p64.pad_left);
  const I dh = static_cast<I>(p64.dil_h), dw = static_cast<I>(p64.dil_w);
  const I kr = K > 0 ? K : static_cast<I>(p64.r), ks = K > 0 ? K : static_cast<I>(p64.s);
  const I vecs = c / kN;
  const I total = static_cast<I>(p64.n) * oh * ow * vecs;
  for (I i = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x);
       i < total; i += static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x)) {
    const I c0 = (i % vecs) * kN;
    I t = i / vecs;
    const I ox = t % ow;
    t /= ow;
    const I oy = t % oh;
    const I n = t / oh;
    float acc[kN];
#pragma unroll
    for (int j = 0; j < kN; ++j) acc[j] = 0.f;
#pragma unroll
    for (I r = 0; r < kr; ++r) {
      const I iy = oy * sh - pt + r * dh;
      if (iy < 0 || iy >= h) continue;
#pragma unroll
      for (I q = 0; q < ks; ++q) {
        const I ix = ox * sw - pl + q * dw;
        if (ix < 0 || ix >= wd) continue;
        float xv[kN], wv[kN];
        Vec<T>::Load(x + ((n * h + iy) * wd + ix) * c + c0, xv);
        Vec<T>::Load(w + (r * ks + q) * c + c0, wv);
#pragma unroll
        for (int j = 0; j < kN; ++j) acc[j] += xv[j] * wv[j];
      }
    }
    const I ob = ((n * oh + oy) * ow + ox) * c + c0;
    float res[kN];
    if (residual != nullptr) Vec<T>::Load(residual + ob, res);
#pragma unroll
    for (int j = 0; j < kN; ++j) {
      float v = acc[j];
      if (bias != nullptr) v += bias[c0 + j];
      if (residual != nullptr && !p64.residual_after_act) v += res[j];
      v = DeviceAct(p64.act, v, p64.alpha, p64.beta);
      if (residual != nullptr && p64.residual_after_act) v += res[j];
      acc[j] = v;
    }
    Vec<T>::Store(y + ob, acc);
  }
}

template <typename T, typename I>
void LaunchVec(const DepthwiseParams& p, const ConvKernelArgs& a, int64_t total,
               cudaStream_t stream) {
  constexpr int kThreads = 128;
  const unsigned blocks = GridFor(total, kThreads);
  const T* x = static_cast<const T*>(a.x);
  const T* w = static_cast<const T*>(a.w);
  const T* res = static_cast<const T*>(a.residual);
  T* y = static_cast<T*>(a.y);
  if (p.r == 3 && p.s == 3) {
    DepthwiseConvVecKernel<T, I, 3><<<blocks, kThreads, 0, stream>>>(p, x, w, a.bias, res, y);
  } else if (p.r == 5 && p.s == 5) {
    DepthwiseConvVecKernel<T, I, 5><<<blocks, kThreads, 0, stream>>>(p, x, w, a.bias, res, y);
  } else {
    DepthwiseConvVecKernel<T, I, 0><<<blocks, kThreads, 0, stream>>>(p, x, w, a.bias, res, y);
  }
}

}  // namespace

bool DepthwiseVectorFits(const ConvDesc& d) { return d.shape.c % (d.dt == DT::kF16 ? 8 : 4) == 0; }

Status LaunchDepthwiseConv(const ConvKernelArgs& a, cudaStream_t stream) {
  const ConvShape& s = a.shape;
  if (a.x == nullptr || a.w == nullptr || a.y == nullptr || s.transposed || s.groups != s.c ||
      s.k != s.c || (a.dt != DT::kF32 && a.dt != DT::kF16)) {
    return Status::InvalidArgument("depthwise conv kernel: bad arguments (needs groups == C == K)");
  }
  DepthwiseParams p{s.n,     s.h,        s.w,         s.c,         s.r,
                    s.s,     s.stride_h, s.stride_w,  s.pad_top,   s.pad_left,
                    s.dil_h, s.dil_w,    ConvOutH(s), ConvOutW(s), a.residual_after_act,
                    a.act,   a.alpha,    a.beta};
  constexpr int kThreads = 128;
  const int vec = a.dt == DT::kF16 ? 8 : 4;
  if (a.variant == 2 && s.c % vec == 0 && Aligned16(a.x) && Aligned16(a.w) && Aligned16(a.y) &&
      Aligned16(a.bias) && Aligned16(a.residual)) {
    const int64_t total = p.n * p.oh * p.ow * (p.c / vec);
    if (total <= 0) return Status::Ok();
    const bool small =
        p.n * p.h * p.w * p.c < (int64_t{1} << 30) && p.n * p.oh * p.ow * p.c < (int64_t{1} << 30);
    if (a.dt == DT::kF16) {
      small ? LaunchVec<__half, int32_t>(p, a, total, stream)
            : LaunchVec<__half, int64_t>(p, a, total, stream);
    } else {
      small ? LaunchVec<float, int32_t>(p, a, total, stream)
            : LaunchVec<float, int64_t>(p, a, total, stream);
    }
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("DepthwiseConvVecKernel");
    return Status::Ok();
  }
  const int64_t total = p.n * p.oh * p.ow * ((p.c + 1) / 2);
  if (total <= 0) return Status::Ok();
  if (a.dt == DT::kF16) {
    DepthwiseConvKernel<__half><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
        p, static_cast<const __half*>(a.x), static_cast<const __half*>(a.w), a.bias,
        static_cast<const __half*>(a.residual), static_cast<__half*>(a.y));
  } else {
    DepthwiseConvKernel<float><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
        p, static_cast<const float*>(a.x), static_cast<const float*>(a.w), a.bias,
        static_cast<const float*>(a.residual), static_cast<float*>(a.y));
  }
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("DepthwiseConvKernel");
  return Status::Ok();
}

}  // namespace vrseg::engine::gpu::internal
