// Our direct convolutions, NHWC, fp32 accumulation, the whole epilogue inside.
// v1: any groups, strides, dilations, asymmetric pads, and transposed convolution. One thread per
// output element (n, oh, ow, k); neighbouring threads take neighbouring output channels. Simple
// rather than fast: the fallback of last resort.
// v2: small regular convolutions with one group (network stems such as 3x3/s2 from RGB, with the
// asymmetric "same" pads cuDNN's descriptor cannot express): all weights in shared memory as
// [R][S][C][K] fp32, one thread per (n, oh, ow, 8 output channels), so every input value loaded
// serves 8 outputs; 32-bit indexing.
#include <cuda_fp16.h>

#include "engine/conv_device.cuh"
#include "engine/conv_internal.h"
#include "vrseg/cuda/check.h"

namespace vrseg::engine::gpu::internal {
namespace {

struct DirectParams {
  int64_t n, h, w, c, k, r, s, groups;
  int64_t stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
  int64_t oh, ow;
  bool transposed;
  bool residual_after_act;
  Act act;
  float alpha, beta;
};

// Regular: w is [K][R][S][C/g]; transposed: w is [C][R][S][K/g] and output (oh, ow) takes input
// (ih, iw) where ih * stride - pad_top + r * dil == oh.
template <typename T>
__global__ void DirectConvKernel(DirectParams p, const T* __restrict__ x, const T* __restrict__ w,
                                 const float* __restrict__ bias, const T* residual, T* y) {
  const int64_t total = p.n * p.oh * p.ow * p.k;
  const int64_t cg = p.c / p.groups, kg = p.k / p.groups;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < total;
       i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t k = i % p.k;
    int64_t t = i / p.k;
    const int64_t ox = t % p.ow;
    t /= p.ow;
    const int64_t oy = t % p.oh;
    const int64_t n = t / p.oh;
    const int64_t g = k / kg;
    const int64_t c0 = g * cg;
    float acc = 0.f;
    if (!p.transposed) {
      for (int64_t r = 0; r < p.r; ++r) {
        const int64_t iy = oy * p.stride_h - p.pad_top + r * p.dil_h;
        if (iy < 0 || iy >= p.h) continue;
        for (int64_t q = 0; q < p.s; ++q) {
          const int64_t ix = ox * p.stride_w - p.pad_left + q * p.dil_w;
          if (ix < 0 || ix >= p.w) continue;
          const int64_t xb = ((n * p.h + iy) * p.w + ix) * p.c + c0;
          const int64_t wb = ((k * p.r + r) * p.s + q) * cg;
          for (int64_t c = 0; c < cg; ++c) acc += LoadF(x, xb + c) * LoadF(w, wb + c);
        }
      }
    } else {
      const int64_t kk = k - g * kg;
      for (int64_t r = 0; r < p.r; ++r) {
        const int64_t ty = oy + p.pad_top - r * p.dil_h;
        if (ty < 0 || ty % p.stride_h != 0) continue;
        const int64_t iy = ty / p.stride_h;
        if (iy >= p.h) continue;
        for (int64_t q = 0; q < p.s; ++q) {
          const int64_t tx = ox + p.pad_left - q * p.dil_w;
          if (tx < 0 || tx % p.stride_w != 0) continue;
          const int64_t ix = tx / p.stride_w;
          if (ix >= p.w) continue;
          const int64_t xb = ((n * p.h + iy) * p.w + ix) * p.c + c0;
          for (int64_t c = 0; c < cg; ++c) {
            acc += LoadF(x, xb + c) * LoadF(w, (((c0 + c) * p.r + r) * p.s + q) * kg + kk);
          }
        }
      }
    }
    float v = acc;
    if (bias != nullptr) v += bias[k];
    if (residual != nullptr && !p.residual_after_act) v += LoadF(residual, i);
    v = DeviceAct(p.act, v, p.alpha, p.beta);
    if (residual != nullptr && p.residual_after_act) v += LoadF(residual, i);
    StoreF(y, i, v);
  }
}

constexpr int kDirect2Outputs = 8;            // output channels a thread (the loads below assume 8)
constexpr int64_t kDirect2MaxWeights = 8192;  // fp32 weights in shared memory (32 KB)

struct Direct2Params {
  int n, h, w, c, k, r, s;
  int stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
  int oh, ow;
  bool residual_after_act;
  Act act;
  float alpha, beta;
};

// kVectorIO: y and the residual are 16-byte aligned, so each thread's 8 outputs (K % 8 == 0) move
// as whole vectors.
template <typename T, bool kVectorIO>
__global__ void DirectConvSmemKernel(Direct2Params p, const T* __restrict__ x,
                                     const T* __restrict__ w, const float* __restrict__ bias,
                                     const T* residual, T* y) {
  extern __shared__ float4 sw4[];  // [R][S][C][K] fp32, 16-byte aligned
  float* sw = reinterpret_cast<float*>(sw4);
  const int rsc = p.r * p.s * p.c;
  for (int j = threadIdx.x; j < rsc * p.k; j += blockDim.x) {
    const int k = j / rsc;  // w is [K][R][S][C]
    sw[(j - k * rsc) * p.k + k] = LoadF(w, j);
  }
  __syncthreads();
  const int kbs = p.k / kDirect2Outputs;
  const int total = p.n * p.oh * p.ow * kbs;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int k0 = (i % kbs) * kDirect2Outputs;
    int t = i / kbs;
    const int ox = t % p.ow;
    t /= p.ow;
    const int oy = t % p.oh;
    const int n = t / p.oh;
    float acc[kDirect2Outputs];
#pragma unroll
    for (int j = 0; j < kDirect2Outputs; ++j) acc[j] = 0.f;
    for (int r = 0; r < p.r; ++r) {
      const int iy = oy * p.stride_h - p.pad_top + r * p.dil_h;
      if (iy < 0 || iy >= p.h) continue;
      for (int q = 0; q < p.s; ++q) {
        const int ix = ox * p.stride_w - p.pad_left + q * p.dil_w;
        if (ix < 0 || ix >= p.w) continue;
        const T* xp = x + ((n * p.h + iy) * p.w + ix) * p.c;
        const float* wp = sw + (r * p.s + q) * p.c * p.k + k0;
        for (int c = 0; c < p.c; ++c) {
          const float xv = LoadF(xp, c);
          // 8 weights of consecutive output channels: two 16-byte shared-memory loads (k0 and K
          // are multiples of 8, so the address is 32-byte aligned).
          const float4 w0 = *reinterpret_cast<const float4*>(wp + c * p.k);
          const float4 w1 = *reinterpret_cast<const float4*>(wp + c * p.k + 4);
          acc[0] += xv * w0.x;
          acc[1] += xv * w0.y;
          acc[2] += xv * w0.z;
          acc[3] += xv * w0.w;
          acc[4] += xv * w1.x;
          acc[5] += xv * w1.y;
          acc[6] += xv * w1.z;
          acc[7] += xv * w1.w;
        }
      }
    }
    const int ob = ((n * p.oh + oy) * p.ow + ox) * p.k + k0;
    float res[kDirect2Outputs];
    if (residual != nullptr) {
      if (kVectorIO) {
#pragma unroll
        for (int j = 0; j < kDirect2Outputs; j += Vec<T>::kN) {
          Vec<T>::Load(residual + ob + j, *reinterpret_cast<float(*)[Vec<T>::kN]>(res + j));
        }
      } else {
#pragma unroll
        for (int j = 0; j < kDirect2Outputs; ++j) res[j] = LoadF(residual, ob + j);
      }
    }
#pragma unroll
    for (int j = 0; j < kDirect2Outputs; ++j) {
      float v = acc[j];
      if (bias != nullptr) v += bias[k0 + j];
      if (residual != nullptr && !p.residual_after_act) v += res[j];
      v = DeviceAct(p.act, v, p.alpha, p.beta);
      if (residual != nullptr && p.residual_after_act) v += res[j];
      acc[j] = v;
    }
    if (kVectorIO) {
#pragma unroll
      for (int j = 0; j < kDirect2Outputs; j += Vec<T>::kN) {
        Vec<T>::Store(y + ob + j, *reinterpret_cast<const float(*)[Vec<T>::kN]>(acc + j));
      }
    } else {
#pragma unroll
      for (int j = 0; j < kDirect2Outputs; ++j) StoreF(y, ob + j, acc[j]);
    }
  }
}

}  // namespace

bool DirectSmemFits(const ConvDesc& d, int64_t batch) {
  const ConvShape& s = d.shape;
  const int64_t limit = int64_t{1} << 30;
  return !s.transposed && s.groups == 1 && s.k % kDirect2Outputs == 0 &&
         s.r * s.s * s.c * s.k <= kDirect2MaxWeights && batch * s.h * s.w * s.c < limit &&
         batch * ConvOutH(s) * ConvOutW(s) * s.k < limit;
}

Status LaunchDirectConv(const ConvKernelArgs& a, cudaStream_t stream) {
  const ConvShape& s = a.shape;
  if (a.x == nullptr || a.w == nullptr || a.y == nullptr || s.groups < 1 || s.c % s.groups != 0 ||
      s.k % s.groups != 0 || (a.dt != DT::kF32 && a.dt != DT::kF16)) {
    return Status::InvalidArgument("direct conv kernel: bad arguments");
  }
  if (a.variant == 2) {
    ConvDesc d;
    d.shape = s;
    d.dt = a.dt;
    if (!DirectSmemFits(d, s.n)) {
      return Status::InvalidArgument("direct conv kernel v2: layer too large or grouped");
    }
    auto I = [](int64_t v) { return static_cast<int>(v); };
    Direct2Params p{I(s.n),        I(s.h),         I(s.w),         I(s.c),
                    I(s.k),        I(s.r),         I(s.s),         I(s.stride_h),
                    I(s.stride_w), I(s.pad_top),   I(s.pad_left),  I(s.dil_h),
                    I(s.dil_w),    I(ConvOutH(s)), I(ConvOutW(s)), a.residual_after_act,
                    a.act,         a.alpha,        a.beta};
    const int64_t total = int64_t{p.n} * p.oh * p.ow * (p.k / kDirect2Outputs);
    if (total <= 0) return Status::Ok();
    constexpr int kThreads = 128;
    unsigned blocks = GridFor(total, kThreads);
    if (blocks > 4096) blocks = 4096;  // each block loads all weights once
    const size_t smem = static_cast<size_t>(s.r * s.s * s.c * s.k) * sizeof(float);
    const bool vec = Aligned16(a.y) && Aligned16(a.residual);
    if (a.dt == DT::kF16) {
      auto* kernel = vec ? DirectConvSmemKernel<__half, true> : DirectConvSmemKernel<__half, false>;
      kernel<<<blocks, kThreads, smem, stream>>>(
          p, static_cast<const __half*>(a.x), static_cast<const __half*>(a.w), a.bias,
          static_cast<const __half*>(a.residual), static_cast<__half*>(a.y));
    } else {
      auto* kernel = vec ? DirectConvSmemKernel<float, true> : DirectConvSmemKernel<float, false>;
      kernel<<<blocks, kThreads, smem, stream>>>(
          p, static_cast<const float*>(a.x), static_cast<const float*>(a.w), a.bias,
          static_cast<const float*>(a.residual), static_cast<float*>(a.y));
    }
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("DirectConvSmemKernel");
    return Status::Ok();
  }
  DirectParams p{s.n,     s.h,      s.w,         s.c,         s.k,          s.r,
                 s.s,     s.groups, s.stride_h,  s.stride_w,  s.pad_top,    s.pad_left,
                 s.dil_h, s.dil_w,  ConvOutH(s), ConvOutW(s), s.transposed, a.residual_after_act,
                 a.act,   a.alpha,  a.beta};
  const int64_t total = p.n * p.oh * p.ow * p.k;
  if (total <= 0) return Status::Ok();
  constexpr int kThreads = 128;
  if (a.dt == DT::kF16) {
    DirectConvKernel<__half><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
        p, static_cast<const __half*>(a.x), static_cast<const __half*>(a.w), a.bias,
        static_cast<const __half*>(a.residual), static_cast<__half*>(a.y));
  } else {
    DirectConvKernel<float><<<GridFor(total, kThreads), kThreads, 0, stream>>>(
        p, static_cast<const float*>(a.x), static_cast<const float*>(a.w), a.bias,
        static_cast<const float*>(a.residual), static_cast<float*>(a.y));
  }
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("DirectConvKernel");
  return Status::Ok();
}

}  // namespace vrseg::engine::gpu::internal
