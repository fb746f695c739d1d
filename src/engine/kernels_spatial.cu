// Spatial kernels of the engine over NHWC [N,H,W,C] (see kernels.h): Pool2D, GlobalAvgPool and
// Resize2D. Channels are innermost, so neighbouring threads read neighbouring channels of one
// pixel and loads coalesce; where C allows, a thread handles a 16-byte pack of channels.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "engine/kernels.h"
#include "engine/kernels_common.cuh"

namespace vrseg::engine::gpu {
namespace {

using namespace detail;

// Sizes of one NHWC -> NHWC spatial op, channels counted in packs (cv = C / V).
struct Nhwc {
  int64_t n, h, w, cv;  // input
  int64_t oh, ow;       // output
};

// ---- Pool2D -------------------------------------------------------------------------------------

struct PoolK {
  int64_t kh, kw, sh, sw, pt, pl, dh, dw;
  int64_t lim_h, lim_w;  // H + pad_bottom, W + pad_right: where padded positions stop counting
  bool is_max, include_pad;
};

template <typename T, int V>
__global__ void PoolKernel(const T* x, T* o, Nhwc s, PoolK k, int64_t total) {
  using P = Pack<T, V>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    int64_t r = i;
    const int64_t c = r % s.cv;
    r /= s.cv;
    const int64_t ox = r % s.ow;
    r /= s.ow;
    const int64_t oy = r % s.oh;
    const int64_t n = r / s.oh;
    const int64_t y0 = oy * k.sh - k.pt, x0 = ox * k.sw - k.pl;
    float acc[V];
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = k.is_max ? -INFINITY : 0.f;
    int64_t valid = 0, counted = 0;
    const P* base = reinterpret_cast<const P*>(x) + n * s.h * s.w * s.cv + c;
    for (int64_t ky = 0; ky < k.kh; ++ky) {
      const int64_t iy = y0 + ky * k.dh;
      const bool in_y = iy >= 0 && iy < s.h;
      const bool count_y = iy < k.lim_h;  // iy >= -pad_top always holds
      for (int64_t kx = 0; kx < k.kw; ++kx) {
        const int64_t ix = x0 + kx * k.dw;
        if (count_y && ix < k.lim_w) ++counted;
        if (!in_y || ix < 0 || ix >= s.w) continue;
        ++valid;
        const P p = base[(iy * s.w + ix) * s.cv];
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float f = ToF(p.v[v]);
          acc[v] = k.is_max ? fmaxf(acc[v], f) : acc[v] + f;
        }
      }
    }
    P out;
    if (k.is_max) {
#pragma unroll
      for (int v = 0; v < V; ++v) out.v[v] = FromF<T>(acc[v]);
    } else {
      const float div = static_cast<float>(k.include_pad ? counted : valid);
#pragma unroll
      for (int v = 0; v < V; ++v) out.v[v] = FromF<T>(div > 0.f ? acc[v] / div : 0.f);
    }
    reinterpret_cast<P*>(o)[i] = out;
  }
}

template <typename T, int V>
Status LaunchPool(const TensorArg& x, const TensorArg& out, const PoolK& k, cudaStream_t s) {
  const Nhwc d{x.dims[0], x.dims[1], x.dims[2], x.dims[3] / V, out.dims[1], out.dims[2]};
  const int64_t total = d.n * d.oh * d.ow * d.cv;
  PoolKernel<T, V><<<Blocks(total), kThreads, 0, s>>>(static_cast<const T*>(x.data),
                                                      static_cast<T*>(out.data), d, k, total);
  VRSEG_ENGINE_LAUNCH_CHECK("Pool2D");
  return Status::Ok();
}

template <typename T>
Status PoolT(const TensorArg& x, const TensorArg& out, const PoolK& k, cudaStream_t s) {
  constexpr int V = kVec<T>;
  const int64_t c = x.dims[3];
  if (c % V == 0 && Aligned(x.data, 16) && Aligned(out.data, 16))
    return LaunchPool<T, V>(x, out, k, s);
  if (c % 2 == 0 && Aligned(x.data, 2 * sizeof(T)) && Aligned(out.data, 2 * sizeof(T))) {
    return LaunchPool<T, 2>(x, out, k, s);
  }
  return LaunchPool<T, 1>(x, out, k, s);
}

// ---- GlobalAvgPool ------------------------------------------------------------------------------

constexpr int kGapLanes = 8;  // channel packs per block (threadIdx.x): 8 x 4 bytes = one sector

// Block (kGapLanes, ROWS) per (tile of kGapLanes packs of V channels, image): each thread sums
// every ROWS-th pixel of its channels, then the columns are reduced in shared memory. Narrow tiles
// give many blocks even at batch 1 ([1,64,64,2048]: 128 blocks); where there are still few
// (few channels, small batch: [1,128,128,16] is one tile), 128 rows a block instead of 32 spread
// the pixels over 4x the threads (selfie's last squeeze-excite pool at batch 1: 16.4 -> 7.5 us on
// an H200; one block is still bandwidth-starved there: splitting the pixels over blocks is next).
template <typename T, int V, int ROWS>
__global__ void GapKernel(const T* x, T* o, int64_t hw, int64_t cv) {
  using P = Pack<T, V>;
  __shared__ float part[ROWS][kGapLanes * V + 1];
  const int64_t c = static_cast<int64_t>(blockIdx.x) * kGapLanes + threadIdx.x;  // pack index
  const int64_t n = blockIdx.y;
  float sum[V];
#pragma unroll
  for (int v = 0; v < V; ++v) sum[v] = 0.f;
  if (c < cv) {
    const P* p = reinterpret_cast<const P*>(x) + n * hw * cv + c;
    for (int64_t i = threadIdx.y; i < hw; i += ROWS) {
      const P q = p[i * cv];
#pragma unroll
      for (int v = 0; v < V; ++v) sum[v] += ToF(q.v[v]);
    }
  }
#pragma unroll
  for (int v = 0; v < V; ++v) part[threadIdx.y][threadIdx.x * V + v] = sum[v];
  __syncthreads();
  // Tree over the rows: half the rows add the other half's partial sums, down to row 0.
  for (int half = ROWS / 2; half > 0; half /= 2) {
    if (threadIdx.y < half) {
#pragma unroll
      for (int v = 0; v < V; ++v) {
        part[threadIdx.y][threadIdx.x * V + v] += part[threadIdx.y + half][threadIdx.x * V + v];
      }
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && c < cv) {
    P out;
#pragma unroll
    for (int v = 0; v < V; ++v) out.v[v] = FromF<T>(part[0][threadIdx.x * V + v] / static_cast<float>(hw));
    reinterpret_cast<P*>(o)[n * cv + c] = out;
  }
}

template <typename T, int V>
Status LaunchGap(const TensorArg& x, const TensorArg& out, int64_t n, int64_t hw, int64_t c,
                 cudaStream_t s) {
  const int64_t cv = c / V;
  const dim3 grid(static_cast<unsigned>((cv + kGapLanes - 1) / kGapLanes),
                  static_cast<unsigned>(n));
  const T* xp = static_cast<const T*>(x.data);
  T* op = static_cast<T*>(out.data);
  // Fewer blocks than a quarter of an H100's SMs, and enough pixels to share: wide blocks.
  if (static_cast<int64_t>(grid.x) * grid.y < 32 && hw >= 512) {
    GapKernel<T, V, 128><<<grid, dim3(kGapLanes, 128), 0, s>>>(xp, op, hw, cv);
  } else {
    GapKernel<T, V, 32><<<grid, dim3(kGapLanes, 32), 0, s>>>(xp, op, hw, cv);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("GlobalAvgPool");
  return Status::Ok();
}

template <typename T>
Status GapT(const TensorArg& x, const TensorArg& out, int64_t n, int64_t hw, int64_t c,
            cudaStream_t s) {
  constexpr int V = 4 / sizeof(T) > 1 ? 4 / sizeof(T) : 1;  // 4-byte packs: half2 or float
  if (V > 1 && c % V == 0 && Aligned(x.data, 4) && Aligned(out.data, 4))
    return LaunchGap<T, V>(x, out, n, hw, c, s);
  return LaunchGap<T, 1>(x, out, n, hw, c, s);
}

// ---- Resize2D -----------------------------------------------------------------------------------

struct ResizeK {
  ResizeMode mode;
  CoordMode coord;
  NearestMode nearest;
  double scale_h, scale_w;  // ONNX scales (out / in)
};

// ONNX's coordinate_transformation_mode: the input coordinate of output coordinate `xo`. In
// double, as the reference computes it: a float coordinate on a 300-pixel axis is off by up to
// 2e-5 pixels, which shows in fp32 results; the kernels compute it once per row or column.
__device__ __forceinline__ double SourceCoord(CoordMode m, double xo, double scale, int64_t in,
                                              int64_t out) {
  static_cast<void>(out);  // the lengths come from the scale (see below)
  switch (m) {
    case CoordMode::kHalfPixel: return (xo + 0.5) / scale - 0.5;
    // ONNX measures the resized length as in * scale, unrounded, when scales are given (with
    // sizes the scale is out / in, which makes it the output size).
    case CoordMode::kPytorchHalfPixel:
      return static_cast<double>(in) * scale > 1 ? (xo + 0.5) / scale - 0.5 : 0.0;
    case CoordMode::kAlignCorners: {
      const double lr = static_cast<double>(in) * scale;
      return lr > 1 ? xo * static_cast<double>(in - 1) / (lr - 1) : 0.0;
    }
    case CoordMode::kAsymmetric: return xo / scale;
    case CoordMode::kTfHalfPixelForNN: return (xo + 0.5) / scale;
  }
  return xo;
}

__device__ __forceinline__ int64_t NearestIndex(NearestMode m, double x, int64_t in) {
  double r;
  const double f = floor(x);
  switch (m) {
    case NearestMode::kRoundPreferFloor: r = (x - f == 0.5) ? f : round(x); break;
    case NearestMode::kRoundPreferCeil: r = (x - f == 0.5) ? f + 1.0 : round(x); break;
    case NearestMode::kFloor: r = f; break;
    default: r = ceil(x); break;
  }
  if (r < 0) return 0;
  return r >= static_cast<double>(in) ? in - 1 : static_cast<int64_t>(r);
}

// Linear: clamped coordinate, its floor and ceil neighbours and the weight of the ceil one.
__device__ __forceinline__ void LinearAxis(double x, int64_t in, int64_t* i0, int64_t* i1,
                                           float* w) {
  x = fmin(fmax(x, 0.0), static_cast<double>(in - 1));
  const int64_t a = static_cast<int64_t>(x);  // x >= 0: truncation is floor
  *i0 = a;
  *i1 = a + 1 < in ? a + 1 : in - 1;
  *w = static_cast<float>(x - static_cast<double>(a));
}

// Output pixel (oy, ox) of every image: a thread per pixel computes its coordinates once and walks
// the images (NCHW planes resized as NHWC [N*C,H,W,1]: the coordinates are shared by all planes).
template <typename T>
__global__ void ResizePlanesKernel(const T* x, T* o, Nhwc s, ResizeK k, int64_t planes_per_block) {
  const int64_t pixels = s.oh * s.ow;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const bool nearest = k.mode == ResizeMode::kNearest;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels;
       p += stride) {
    const int64_t oy = p / s.ow, ox = p - oy * s.ow;
    const double sy = SourceCoord(k.coord, static_cast<double>(oy), k.scale_h, s.h, s.oh);
    const double sx = SourceCoord(k.coord, static_cast<double>(ox), k.scale_w, s.w, s.ow);
    int64_t y0, y1, x0, x1;
    float wy = 0.f, wx = 0.f;
    if (nearest) {
      y0 = y1 = NearestIndex(k.nearest, sy, s.h);
      x0 = x1 = NearestIndex(k.nearest, sx, s.w);
    } else {
      LinearAxis(sy, s.h, &y0, &y1, &wy);
      LinearAxis(sx, s.w, &x0, &x1, &wx);
    }
    const int64_t a = y0 * s.w + x0, b = y0 * s.w + x1, c = y1 * s.w + x0, d = y1 * s.w + x1;
    const int64_t plane = s.h * s.w;
    const int64_t n0 = blockIdx.y * planes_per_block;
    const int64_t n1 = n0 + planes_per_block < s.n ? n0 + planes_per_block : s.n;
#pragma unroll 4
    for (int64_t n = n0; n < n1; ++n) {
      const T* src = x + n * plane;
      float v;
      if (nearest) {
        v = ToF(src[a]);
      } else {
        const float top = ToF(src[a]) * (1.f - wx) + ToF(src[b]) * wx;
        const float bot = ToF(src[c]) * (1.f - wx) + ToF(src[d]) * wx;
        v = top * (1.f - wy) + bot * wy;
      }
      o[n * pixels + p] = FromF<T>(v);
    }
  }
}

// Few channels (odd C <= kResizeFewC, e.g. 21 class logits): a thread per output pixel computes its
// coordinates once and all C values into shared memory; the block then writes its kThreads * C
// contiguous outputs with coalesced stores.
constexpr int kResizeFewC = 32;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    ResizeFewChannelsKernel(const T* x, T* o, Nhwc s, ResizeK k) {
  __shared__ T buf[kThreads * kResizeFewC];
  const int64_t c = s.cv;  // V = 1
  const int64_t pixels = s.n * s.oh * s.ow;
  const int64_t p0 = static_cast<int64_t>(blockIdx.x) * kThreads;
  const int64_t p = p0 + threadIdx.x;
  if (p < pixels) {
    const int64_t ox = p % s.ow, r = p / s.ow, oy = r % s.oh, n = r / s.oh;
    const double sy = SourceCoord(k.coord, static_cast<double>(oy), k.scale_h, s.h, s.oh);
    const double sx = SourceCoord(k.coord, static_cast<double>(ox), k.scale_w, s.w, s.ow);
    const T* img = x + n * s.h * s.w * c;
    T* dst = buf + threadIdx.x * c;
    if (k.mode == ResizeMode::kNearest) {
      const T* src =
          img + (NearestIndex(k.nearest, sy, s.h) * s.w + NearestIndex(k.nearest, sx, s.w)) * c;
      for (int64_t ch = 0; ch < c; ++ch) dst[ch] = src[ch];
    } else {
      int64_t y0, y1, x0, x1;
      float wy, wx;
      LinearAxis(sy, s.h, &y0, &y1, &wy);
      LinearAxis(sx, s.w, &x0, &x1, &wx);
      const T *a = img + (y0 * s.w + x0) * c, *b = img + (y0 * s.w + x1) * c;
      const T *d = img + (y1 * s.w + x0) * c, *e = img + (y1 * s.w + x1) * c;
      for (int64_t ch = 0; ch < c; ++ch) {
        const float top = ToF(a[ch]) * (1.f - wx) + ToF(b[ch]) * wx;
        const float bot = ToF(d[ch]) * (1.f - wx) + ToF(e[ch]) * wx;
        dst[ch] = FromF<T>(top * (1.f - wy) + bot * wy);
      }
    }
  }
  __syncthreads();
  const int64_t count = (p0 + kThreads <= pixels ? kThreads : pixels - p0) * c;
  T* out = o + p0 * c;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) out[i] = buf[i];
}

template <typename T, int V>
__global__ void ResizeKernel(const T* x, T* o, Nhwc s, ResizeK k, int64_t total) {
  using P = Pack<T, V>;
  const P* px = reinterpret_cast<const P*>(x);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += stride) {
    int64_t r = i;
    const int64_t c = r % s.cv;
    r /= s.cv;
    const int64_t ox = r % s.ow;
    r /= s.ow;
    const int64_t oy = r % s.oh;
    const int64_t n = r / s.oh;
    const double sy = SourceCoord(k.coord, static_cast<double>(oy), k.scale_h, s.h, s.oh);
    const double sx = SourceCoord(k.coord, static_cast<double>(ox), k.scale_w, s.w, s.ow);
    const int64_t img = n * s.h * s.w;
    P out;
    if (k.mode == ResizeMode::kNearest) {
      const int64_t iy = NearestIndex(k.nearest, sy, s.h), ix = NearestIndex(k.nearest, sx, s.w);
      out = px[(img + iy * s.w + ix) * s.cv + c];
    } else {
      int64_t y0, y1, x0, x1;
      float wy, wx;
      LinearAxis(sy, s.h, &y0, &y1, &wy);
      LinearAxis(sx, s.w, &x0, &x1, &wx);
      const P a = px[(img + y0 * s.w + x0) * s.cv + c];
      const P b = px[(img + y0 * s.w + x1) * s.cv + c];
      const P d = px[(img + y1 * s.w + x0) * s.cv + c];
      const P e = px[(img + y1 * s.w + x1) * s.cv + c];
#pragma unroll
      for (int v = 0; v < V; ++v) {
        const float top = ToF(a.v[v]) * (1.f - wx) + ToF(b.v[v]) * wx;
        const float bot = ToF(d.v[v]) * (1.f - wx) + ToF(e.v[v]) * wx;
        out.v[v] = FromF<T>(top * (1.f - wy) + bot * wy);
      }
    }
    reinterpret_cast<P*>(o)[i] = out;
  }
}

// The same with one output row per blockIdx.y (n * OH + oy) and a chunk of kResizeChunk packs of
// it per block: the block first tabulates the source columns and weights of the output columns
// its chunk touches (in shared memory), so that each element costs a table read, its loads and
// 32-bit index math, whatever C is (C = 21 class logits, or C = 1 for NCHW planes).
constexpr int kResizePerThread = 4;
constexpr int kResizeChunk = kThreads * kResizePerThread;

// With single-channel packs (odd C, or C = 1) a thread makes E consecutive outputs of the row
// instead and stores them as one E-wide pack.
template <typename T, int V, int E>
__global__ void __launch_bounds__(kThreads) ResizeRowsKernel(const T* x, T* o, Nhwc s, ResizeK k) {
  static_assert(E == 1 || V == 1, "grouped outputs need single-channel packs");
  __shared__ int32_t off0[kResizeChunk + 2];
  __shared__ int32_t off1[kResizeChunk + 2];
  __shared__ float wts[kResizeChunk + 2];
  using P = Pack<T, V>;
  const bool nearest = k.mode == ResizeMode::kNearest;
  const int64_t row = blockIdx.y;
  const int64_t n = row / s.oh, oy = row - n * s.oh;
  const uint32_t cv = static_cast<uint32_t>(s.cv);
  const uint32_t per_row = static_cast<uint32_t>(s.ow) * cv;
  const uint32_t j0 = blockIdx.x * static_cast<uint32_t>(kResizeChunk);
  const uint32_t ox_lo = j0 / cv;
  const uint32_t ox_hi = (min(j0 + static_cast<uint32_t>(kResizeChunk), per_row) - 1) / cv;
  for (uint32_t t = threadIdx.x; t <= ox_hi - ox_lo; t += blockDim.x) {
    const double sx = SourceCoord(k.coord, static_cast<double>(ox_lo + t), k.scale_w, s.w, s.ow);
    int64_t a, b;
    float w = 0.f;
    if (nearest) {
      a = b = NearestIndex(k.nearest, sx, s.w);
    } else {
      LinearAxis(sx, s.w, &a, &b, &w);
    }
    off0[t] = static_cast<int32_t>(a * s.cv);
    off1[t] = static_cast<int32_t>(b * s.cv);
    wts[t] = w;
  }
  const double sy = SourceCoord(k.coord, static_cast<double>(oy), k.scale_h, s.h, s.oh);
  int64_t y0, y1;
  float wy = 0.f;
  if (nearest) {
    y0 = y1 = NearestIndex(k.nearest, sy, s.h);
  } else {
    LinearAxis(sy, s.h, &y0, &y1, &wy);
  }
  const P* px = reinterpret_cast<const P*>(x);
  const int64_t img = n * s.h * s.w;
  const P* r0 = px + (img + y0 * s.w) * s.cv;
  const P* r1 = px + (img + y1 * s.w) * s.cv;
  P* po = reinterpret_cast<P*>(o) + row * per_row;
  __syncthreads();
  if constexpr (E > 1) {  // per_row % E == 0: a group is whole or absent
    const uint32_t jb = j0 + threadIdx.x * E;
    if (jb >= per_row) return;
    uint32_t ox = jb / cv, c = jb - ox * cv;
    Pack<T, E> group;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const uint32_t t = ox - ox_lo;
      const int32_t a = off0[t] + static_cast<int32_t>(c);
      if (nearest) {
        group.v[e] = r0[a].v[0];
      } else {
        const int32_t b = off1[t] + static_cast<int32_t>(c);
        const float wx = wts[t];
        const float top = ToF(r0[a].v[0]) * (1.f - wx) + ToF(r0[b].v[0]) * wx;
        const float bot = ToF(r1[a].v[0]) * (1.f - wx) + ToF(r1[b].v[0]) * wx;
        group.v[e] = FromF<T>(top * (1.f - wy) + bot * wy);
      }
      if (++c == cv) {
        c = 0;
        ++ox;
      }
    }
    *reinterpret_cast<Pack<T, E>*>(reinterpret_cast<T*>(po) + jb) = group;
  } else {
#pragma unroll
    for (int e = 0; e < kResizePerThread; ++e) {
      const uint32_t j = j0 + e * kThreads + threadIdx.x;
      if (j >= per_row) break;
      const uint32_t ox = j / cv, c = j - ox * cv, t = ox - ox_lo;
      const int32_t a = off0[t] + static_cast<int32_t>(c);
      P out;
      if (nearest) {
        out = r0[a];
      } else {
        const int32_t b = off1[t] + static_cast<int32_t>(c);
        const float wx = wts[t];
        const P pa = r0[a], pb = r0[b], pd = r1[a], pe = r1[b];
#pragma unroll
        for (int v = 0; v < V; ++v) {
          const float top = ToF(pa.v[v]) * (1.f - wx) + ToF(pb.v[v]) * wx;
          const float bot = ToF(pd.v[v]) * (1.f - wx) + ToF(pe.v[v]) * wx;
          out.v[v] = FromF<T>(top * (1.f - wy) + bot * wy);
        }
      }
      po[j] = out;
    }
  }
}

template <typename T, int V>
Status LaunchResize(const TensorArg& x, const TensorArg& out, const ResizeK& k, cudaStream_t s) {
  const Nhwc d{x.dims[0], x.dims[1], x.dims[2], x.dims[3] / V, out.dims[1], out.dims[2]};
  const int64_t total = d.n * d.oh * d.ow * d.cv;
  const int64_t per_row = d.ow * d.cv;
  if (d.n * d.oh <= 65535 && per_row < (int64_t{1} << 31) && d.w * d.cv < (int64_t{1} << 31)) {
    const dim3 grid(static_cast<unsigned>((per_row + kResizeChunk - 1) / kResizeChunk),
                    static_cast<unsigned>(d.n * d.oh));
    constexpr int E = kResizePerThread;
    if (V == 1 && per_row % E == 0 && Aligned(out.data, E * sizeof(T))) {
      ResizeRowsKernel<T, V, (V == 1 ? E : 1)><<<grid, kThreads, 0, s>>>(
          static_cast<const T*>(x.data), static_cast<T*>(out.data), d, k);
    } else {
      ResizeRowsKernel<T, V, 1><<<grid, kThreads, 0, s>>>(static_cast<const T*>(x.data),
                                                          static_cast<T*>(out.data), d, k);
    }
    VRSEG_ENGINE_LAUNCH_CHECK("Resize2D");
    return Status::Ok();
  }
  ResizeKernel<T, V><<<Blocks(total), kThreads, 0, s>>>(static_cast<const T*>(x.data),
                                                        static_cast<T*>(out.data), d, k, total);
  VRSEG_ENGINE_LAUNCH_CHECK("Resize2D");
  return Status::Ok();
}

template <typename T>
Status ResizeT(const TensorArg& x, const TensorArg& out, const ResizeK& k, cudaStream_t s) {
  constexpr int V = kVec<T>;
  const int64_t c = x.dims[3];
  if (c == 1) {  // planes (NCHW data as [N*C,H,W,1]): coordinates once per pixel for all planes
    const Nhwc d{x.dims[0], x.dims[1], x.dims[2], 1, out.dims[1], out.dims[2]};
    // Several planes per thread share its coordinates; blockIdx.y splits the planes.
    int64_t per_block = 8;
    if ((d.n + per_block - 1) / per_block > 65535) per_block = (d.n + 65534) / 65535;
    const dim3 grid(Blocks(d.oh * d.ow), static_cast<unsigned>((d.n + per_block - 1) / per_block));
    ResizePlanesKernel<T><<<grid, kThreads, 0, s>>>(static_cast<const T*>(x.data),
                                                    static_cast<T*>(out.data), d, k, per_block);
    VRSEG_ENGINE_LAUNCH_CHECK("Resize2D(planes)");
    return Status::Ok();
  }
  if (c % V == 0 && Aligned(x.data, 16) && Aligned(out.data, 16))
    return LaunchResize<T, V>(x, out, k, s);
  if (c % 2 == 0 && Aligned(x.data, 2 * sizeof(T)) && Aligned(out.data, 2 * sizeof(T))) {
    return LaunchResize<T, 2>(x, out, k, s);
  }
  const int64_t pixels = x.dims[0] * out.dims[1] * out.dims[2];
  if (c <= kResizeFewC && (pixels + kThreads - 1) / kThreads < (int64_t{1} << 31)) {
    const Nhwc d{x.dims[0], x.dims[1], x.dims[2], c, out.dims[1], out.dims[2]};
    ResizeFewChannelsKernel<T>
        <<<static_cast<unsigned>((pixels + kThreads - 1) / kThreads), kThreads, 0, s>>>(
            static_cast<const T*>(x.data), static_cast<T*>(out.data), d, k);
    VRSEG_ENGINE_LAUNCH_CHECK("Resize2D(few channels)");
    return Status::Ok();
  }
  return LaunchResize<T, 1>(x, out, k, s);
}

// Shared checks of the NHWC -> NHWC ops: rank 4, same dtype, float, same N and C.
Status CheckNhwcPair(const char* kernel, const TensorArg& x, const TensorArg& out) {
  VRSEG_RETURN_IF_ERROR(CheckTensor(kernel, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(kernel, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(kernel, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(kernel, x, out));
  if (x.dims.size() != 4 || out.dims.size() != 4) {
    return Bad(kernel,
               "x " + DimsStr(x.dims) + " and out " + DimsStr(out.dims) + " must be NHWC (rank 4)");
  }
  if (x.dims[0] != out.dims[0] || x.dims[3] != out.dims[3]) {
    return Bad(kernel, "x " + DimsStr(x.dims) + " and out " + DimsStr(out.dims) +
                           " differ in batch or channels");
  }
  return Status::Ok();
}

}  // namespace

Status Pool2D(const PoolArgs& p, const TensorArg& x, const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "Pool2D";
  VRSEG_RETURN_IF_ERROR(CheckNhwcPair(K, x, out));
  if (p.kh < 1 || p.kw < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dil_h < 1 || p.dil_w < 1 ||
      p.pad_top < 0 || p.pad_left < 0) {
    return Bad(K, "kernel " + std::to_string(p.kh) + "x" + std::to_string(p.kw) + ", strides " +
                      std::to_string(p.stride_h) + "x" + std::to_string(p.stride_w) +
                      ", dilations " + std::to_string(p.dil_h) + "x" + std::to_string(p.dil_w) +
                      ", pads " + std::to_string(p.pad_top) + "," + std::to_string(p.pad_left) +
                      ": sizes must be >= 1 and pads >= 0");
  }
  const int64_t h = x.dims[1], w = x.dims[2], oh = out.dims[1], ow = out.dims[2];
  if (out.elements() == 0) return Status::Ok();
  if (x.elements() == 0) return Bad(K, "x " + DimsStr(x.dims) + " is empty but out is not");
  PoolK k{p.kh,
          p.kw,
          p.stride_h,
          p.stride_w,
          p.pad_top,
          p.pad_left,
          p.dil_h,
          p.dil_w,
          0,
          0,
          p.kind == PoolKind::kMax,
          p.count_include_pad};
  // Where padded positions stop counting for count_include_pad: the explicit bottom/right pads,
  // or those the out dims imply (the end of the last window, never before the input's end).
  const int64_t implied_b =
      std::max<int64_t>(0, (oh - 1) * p.stride_h + (p.kh - 1) * p.dil_h + 1 - p.pad_top - h);
  const int64_t implied_r =
      std::max<int64_t>(0, (ow - 1) * p.stride_w + (p.kw - 1) * p.dil_w + 1 - p.pad_left - w);
  k.lim_h = h + (p.pad_bottom >= 0 ? p.pad_bottom : implied_b);
  k.lim_w = w + (p.pad_right >= 0 ? p.pad_right : implied_r);
  if (x.dt == DT::kF32) return PoolT<float>(x, out, k, stream);
  return PoolT<__half>(x, out, k, stream);
}

Status GlobalAvgPool(const TensorArg& x, const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "GlobalAvgPool";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(K, x, out));
  if (x.dims.size() != 4) return Bad(K, "x " + DimsStr(x.dims) + " must be NHWC (rank 4)");
  const int64_t n = x.dims[0], hw = x.dims[1] * x.dims[2], c = x.dims[3];
  if (out.dims.empty() || out.dims.front() != n || out.dims.back() != c ||
      out.elements() != n * c) {
    return Bad(K, "out " + DimsStr(out.dims) + " is not [N,1,1,C] for x " + DimsStr(x.dims));
  }
  if (out.elements() == 0) return Status::Ok();
  if (hw == 0) return Bad(K, "x " + DimsStr(x.dims) + " has no pixels to average");
  if (n > 65535) return Bad(K, "batch " + std::to_string(n) + " exceeds 65535");
  if (x.dt == DT::kF32) return GapT<float>(x, out, n, hw, c, stream);
  return GapT<__half>(x, out, n, hw, c, stream);
}

Status Resize2D(const ResizeArgs& r, const TensorArg& x, const TensorArg& out,
                cudaStream_t stream) {
  constexpr const char* K = "Resize2D";
  VRSEG_RETURN_IF_ERROR(CheckNhwcPair(K, x, out));
  if (r.scale_h < 0 || r.scale_w < 0 || !std::isfinite(r.scale_h) || !std::isfinite(r.scale_w)) {
    return Bad(K, "scales must be finite and >= 0 (0: out/in)");
  }
  if (out.elements() == 0) return Status::Ok();
  if (x.elements() == 0) return Bad(K, "x " + DimsStr(x.dims) + " is empty but out is not");
  ResizeK k{r.mode, r.coord, r.nearest, r.scale_h, r.scale_w};
  if (k.scale_h == 0) k.scale_h = static_cast<double>(out.dims[1]) / static_cast<double>(x.dims[1]);
  if (k.scale_w == 0) k.scale_w = static_cast<double>(out.dims[2]) / static_cast<double>(x.dims[2]);
  if (x.dt == DT::kF32) return ResizeT<float>(x, out, k, stream);
  return ResizeT<__half>(x, out, k, stream);
}

}  // namespace vrseg::engine::gpu
