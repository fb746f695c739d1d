// Reductions of the engine (see kernels.h): Softmax/LogSoftmax, ArgMax and ReduceMean.
//
// A reduction over one axis sees x as [outer][len][inner]. When the axis is innermost (inner 1) a
// warp owns a row and reduces it with shuffles; otherwise a thread owns one (outer, inner) pair
// and walks the axis with stride `inner`, so neighbouring threads read neighbouring addresses.
// ReduceMean over [outer][R][inner] with inner > 1 (the NHWC spatial mean) reuses GlobalAvgPool.
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

constexpr int kWarp = 32;
constexpr int kWarpsPerBlock = kThreads / kWarp;

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ---- Softmax ------------------------------------------------------------------------------------

template <typename T>
__global__ void SoftmaxRowsKernel(const T* x, T* o, int64_t rows, int64_t len, bool log) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
       row < rows; row += warps) {
    const T* px = x + row * len;
    T* po = o + row * len;
    float m = -INFINITY;
    for (int64_t i = lane; i < len; i += kWarp) m = fmaxf(m, ToF(px[i]));
    m = WarpMax(m);
    float sum = 0.f;
    for (int64_t i = lane; i < len; i += kWarp) sum += expf(ToF(px[i]) - m);
    sum = WarpSum(sum);
    if (log) {
      const float ls = logf(sum);
      for (int64_t i = lane; i < len; i += kWarp) po[i] = FromF<T>(ToF(px[i]) - m - ls);
    } else {
      for (int64_t i = lane; i < len; i += kWarp) po[i] = FromF<T>(expf(ToF(px[i]) - m) / sum);
    }
  }
}

// Short innermost rows (class logits over C = 2 or 21): a block stages kThreads rows through
// shared memory with coalesced loads and stores; each thread then works on its row there.
constexpr int kShortRow = 32;

template <typename T>
__global__ void SoftmaxShortRowsKernel(const T* x, T* o, int64_t rows, int len, bool log) {
  extern __shared__ float buf[];  // kThreads * len
  const int64_t row0 = static_cast<int64_t>(blockIdx.x) * kThreads;
  const int nrows = static_cast<int>(min(static_cast<int64_t>(kThreads), rows - row0));
  const int count = nrows * len;
  const int64_t base = row0 * len;
  for (int i = threadIdx.x; i < count; i += kThreads) buf[i] = ToF(x[base + i]);
  __syncthreads();
  if (static_cast<int>(threadIdx.x) < nrows) {
    float* r = buf + threadIdx.x * len;
    float m = -INFINITY;
    for (int l = 0; l < len; ++l) m = fmaxf(m, r[l]);
    float sum = 0.f;
    for (int l = 0; l < len; ++l) sum += expf(r[l] - m);
    if (log) {
      const float ls = logf(sum);
      for (int l = 0; l < len; ++l) r[l] = r[l] - m - ls;
    } else {
      for (int l = 0; l < len; ++l) r[l] = expf(r[l] - m) / sum;
    }
  }
  __syncthreads();
  for (int i = threadIdx.x; i < count; i += kThreads) o[base + i] = FromF<T>(buf[i]);
}

template <typename T>
__global__ void SoftmaxStridedKernel(const T* x, T* o, int64_t outer, int64_t len, int64_t inner,
                                     bool log) {
  const int64_t n = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t a = i / inner, b = i - a * inner;
    const T* px = x + a * len * inner + b;
    T* po = o + a * len * inner + b;
    float m = -INFINITY;
    for (int64_t l = 0; l < len; ++l) m = fmaxf(m, ToF(px[l * inner]));
    float sum = 0.f;
    for (int64_t l = 0; l < len; ++l) sum += expf(ToF(px[l * inner]) - m);
    if (log) {
      const float ls = logf(sum);
      for (int64_t l = 0; l < len; ++l) po[l * inner] = FromF<T>(ToF(px[l * inner]) - m - ls);
    } else {
      for (int64_t l = 0; l < len; ++l)
        po[l * inner] = FromF<T>(expf(ToF(px[l * inner]) - m) / sum);
    }
  }
}

// ---- ArgMax -------------------------------------------------------------------------------------

__device__ __forceinline__ bool Better(float v, int64_t i, float best, int64_t bi, bool last) {
  if (v > best) return true;
  if (v == best) return last ? i > bi : i < bi;
  return false;
}

template <typename T>
__global__ void ArgMaxRowsKernel(const T* x, int64_t* o, int64_t rows, int64_t len, bool last) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
       row < rows; row += warps) {
    const T* px = x + row * len;
    float best = -INFINITY;
    int64_t bi = -1;
    for (int64_t i = lane; i < len; i += kWarp) {
      const float v = ToF(px[i]);
      if (bi < 0 || Better(v, i, best, bi, last)) {
        best = v;
        bi = i;
      }
    }
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffu, best, off);
      const int64_t oi = __shfl_xor_sync(0xffffffffu, bi, off);
      if (oi >= 0 && (bi < 0 || Better(ov, oi, best, bi, last))) {
        best = ov;
        bi = oi;
      }
    }
    if (lane == 0) o[row] = bi < 0 ? 0 : bi;
  }
}

template <typename T>
__global__ void ArgMaxStridedKernel(const T* x, int64_t* o, int64_t outer, int64_t len,
                                    int64_t inner, bool last) {
  const int64_t n = outer * inner;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t a = i / inner, b = i - a * inner;
    const T* px = x + a * len * inner + b;
    float best = ToF(px[0]);
    int64_t bi = 0;
    for (int64_t l = 1; l < len; ++l) {
      const float v = ToF(px[l * inner]);
      if (v > best || (last && v == best)) {
        best = v;
        bi = l;
      }
    }
    o[i] = bi;
  }
}

// ---- ReduceMean ---------------------------------------------------------------------------------

template <typename T>
__global__ void MeanRowsKernel(const T* x, T* o, int64_t rows, int64_t len) {
  const int lane = threadIdx.x % kWarp;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * kWarpsPerBlock;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + threadIdx.x / kWarp;
       row < rows; row += warps) {
    const T* px = x + row * len;
    float s = 0.f;
    for (int64_t i = lane; i < len; i += kWarp) s += ToF(px[i]);
    s = WarpSum(s);
    if (lane == 0) o[row] = FromF<T>(s / static_cast<float>(len));
  }
}

// Out element i walks `kept` (its dims are out's non-reduced axes, strides into x); each sums the
// `red` sub-space (reduced axes, strides into x).
template <typename T>
__global__ void MeanGeneralKernel(const T* x, T* o, Strided kept, Strided red, int64_t n,
                                  int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const T* px = x + StridedOffset(kept, i);
    float s = 0.f;
    for (int64_t r = 0; r < count; ++r) s += ToF(px[StridedOffset(red, r)]);
    o[i] = FromF<T>(s / static_cast<float>(count));
  }
}

template <typename T>
Status LaunchMean(const TensorArg& x, const TensorArg& out, const std::vector<int64_t>& dims,
                  const std::vector<bool>& reduced, cudaStream_t s) {
  const T* px = static_cast<const T*>(x.data);
  T* po = static_cast<T*>(out.data);
  const int rank = static_cast<int>(dims.size());
  // Merge neighbouring axes of the same kind, dropping size-1 axes.
  std::vector<int64_t> md;
  std::vector<bool> mr;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] == 1) continue;
    if (!md.empty() && mr.back() == reduced[i]) {
      md.back() *= dims[i];
    } else {
      md.push_back(dims[i]);
      mr.push_back(reduced[i]);
    }
  }
  int64_t count = 1, n = 1;
  for (size_t i = 0; i < md.size(); ++i) (mr[i] ? count : n) *= md[i];
  if (count == 1) return Cast(x, out, s);  // nothing to average: a copy
  const int m = static_cast<int>(md.size());
  // [outer?][R]: a warp per row.
  if (mr[m - 1] && (m == 1 || (m == 2 && !mr[0]))) {
    const int64_t rows = n, len = md[m - 1];
    MeanRowsKernel<T><<<Blocks(rows * kWarp), kThreads, 0, s>>>(px, po, rows, len);
    VRSEG_ENGINE_LAUNCH_CHECK("ReduceMean(rows)");
    return Status::Ok();
  }
  // [outer?][R][inner]: the NHWC spatial mean.
  if (!mr[m - 1] && mr[m - 2] && (m == 2 || (m == 3 && !mr[0]))) {
    const int64_t outer = m == 3 ? md[0] : 1;
    if (outer <= 65535) {
      TensorArg xv = x, ov = out;
      xv.dims = {outer, md[m - 2], 1, md[m - 1]};
      ov.dims = {outer, 1, 1, md[m - 1]};
      return GlobalAvgPool(xv, ov, s).WithContext("engine kernel ReduceMean");
    }
  }
  if (m > kMaxRank) return Bad("ReduceMean", "too many axes after merging");
  Strided kept, red;
  int64_t st = 1;
  std::vector<int64_t> strides(m);
  for (int i = m - 1; i >= 0; --i) {
    strides[i] = st;
    st *= md[i];
  }
  for (int i = 0; i < m; ++i) {
    Strided& t = mr[i] ? red : kept;
    t.dims[t.rank] = md[i];
    t.strides[t.rank] = strides[i];
    ++t.rank;
  }
  MeanGeneralKernel<T><<<Blocks(n), kThreads, 0, s>>>(px, po, kept, red, n, count);
  VRSEG_ENGINE_LAUNCH_CHECK("ReduceMean");
  return Status::Ok();
}

struct AxisSplit {
  int64_t outer, len, inner;
};
AxisSplit Split(const std::vector<int64_t>& d, int axis) {
  return {Product(d, 0, axis), d[axis], Product(d, axis + 1, d.size())};
}

}  // namespace

Status Softmax(const TensorArg& x, int axis, bool log, const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "Softmax";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(K, x, out));
  VRSEG_RETURN_IF_ERROR(CheckAxis(K, axis, x.dims.size()));
  if (x.dims != out.dims)
    return Bad(K, "x " + DimsStr(x.dims) + " and out " + DimsStr(out.dims) + " differ");
  if (x.elements() == 0) return Status::Ok();
  const AxisSplit a = Split(x.dims, axis);
  // Long innermost rows: a warp each; short ones (class logits over C = 2 or 21): staged through
  // shared memory, a thread per row; strided axes: a thread per (outer, inner) pair.
  if (a.inner == 1 && a.len <= kShortRow) {
    const size_t smem = sizeof(float) * kThreads * static_cast<size_t>(a.len);
    const int64_t blocks = (a.outer + kThreads - 1) / kThreads;
    if (blocks > (int64_t{1} << 31) - 1)
      return Bad(K, "x " + DimsStr(x.dims) + " has too many rows");
    if (x.dt == DT::kF32) {
      SoftmaxShortRowsKernel<float><<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(
          static_cast<const float*>(x.data), static_cast<float*>(out.data), a.outer,
          static_cast<int>(a.len), log);
    } else {
      SoftmaxShortRowsKernel<__half><<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(
          static_cast<const __half*>(x.data), static_cast<__half*>(out.data), a.outer,
          static_cast<int>(a.len), log);
    }
  } else if (a.inner == 1 && a.len >= kWarp * 2) {
    const int64_t rows = a.outer;
    if (x.dt == DT::kF32) {
      SoftmaxRowsKernel<float><<<Blocks(rows * kWarp), kThreads, 0, stream>>>(
          static_cast<const float*>(x.data), static_cast<float*>(out.data), rows, a.len, log);
    } else {
      SoftmaxRowsKernel<__half><<<Blocks(rows * kWarp), kThreads, 0, stream>>>(
          static_cast<const __half*>(x.data), static_cast<__half*>(out.data), rows, a.len, log);
    }
  } else if (x.dt == DT::kF32) {
    SoftmaxStridedKernel<float><<<Blocks(a.outer * a.inner), kThreads, 0, stream>>>(
        static_cast<const float*>(x.data), static_cast<float*>(out.data), a.outer, a.len, a.inner,
        log);
  } else {
    SoftmaxStridedKernel<__half><<<Blocks(a.outer * a.inner), kThreads, 0, stream>>>(
        static_cast<const __half*>(x.data), static_cast<__half*>(out.data), a.outer, a.len, a.inner,
        log);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("Softmax");
  return Status::Ok();
}

Status ArgMax(const TensorArg& x, int axis, bool select_last_index, const TensorArg& out,
              cudaStream_t stream) {
  constexpr const char* K = "ArgMax";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  if (out.dt != DT::kI64) return Bad(K, std::string("out must be i64, not ") + DTName(out.dt));
  VRSEG_RETURN_IF_ERROR(CheckAxis(K, axis, x.dims.size()));
  const AxisSplit a = Split(x.dims, axis);
  if (out.elements() != a.outer * a.inner) {
    return Bad(K, "out " + DimsStr(out.dims) + " does not match x " + DimsStr(x.dims) +
                      " reduced over axis " + std::to_string(axis));
  }
  if (out.elements() == 0) return Status::Ok();
  if (a.len == 0)
    return Bad(K, "axis " + std::to_string(axis) + " of x " + DimsStr(x.dims) + " is empty");
  int64_t* po = static_cast<int64_t*>(out.data);
  if (a.inner == 1 && a.len >= kWarp) {
    if (x.dt == DT::kF32) {
      ArgMaxRowsKernel<float><<<Blocks(a.outer * kWarp), kThreads, 0, stream>>>(
          static_cast<const float*>(x.data), po, a.outer, a.len, select_last_index);
    } else {
      ArgMaxRowsKernel<__half><<<Blocks(a.outer * kWarp), kThreads, 0, stream>>>(
          static_cast<const __half*>(x.data), po, a.outer, a.len, select_last_index);
    }
  } else if (x.dt == DT::kF32) {
    ArgMaxStridedKernel<float><<<Blocks(a.outer * a.inner), kThreads, 0, stream>>>(
        static_cast<const float*>(x.data), po, a.outer, a.len, a.inner, select_last_index);
  } else {
    ArgMaxStridedKernel<__half><<<Blocks(a.outer * a.inner), kThreads, 0, stream>>>(
        static_cast<const __half*>(x.data), po, a.outer, a.len, a.inner, select_last_index);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("ArgMax");
  return Status::Ok();
}

Status ReduceMean(const TensorArg& x, const std::vector<int>& axes, const TensorArg& out,
                  cudaStream_t stream) {
  constexpr const char* K = "ReduceMean";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(K, x, out));
  const size_t rank = x.dims.size();
  std::vector<bool> reduced(rank, false);
  for (int a : axes) {
    VRSEG_RETURN_IF_ERROR(CheckAxis(K, a, rank));
    reduced[a] = true;
  }
  bool ok = out.dims.size() == rank;
  for (size_t d = 0; ok && d < rank; ++d) ok = out.dims[d] == (reduced[d] ? 1 : x.dims[d]);
  if (!ok) {
    std::vector<int64_t> ax(axes.begin(), axes.end());
    return Bad(K, "out " + DimsStr(out.dims) + " is not x " + DimsStr(x.dims) + " with axes " +
                      DimsStr(ax) + " kept as 1");
  }
  if (out.elements() == 0) return Status::Ok();
  if (x.elements() == 0) return Bad(K, "x " + DimsStr(x.dims) + " is empty: the mean is undefined");
  if (x.dt == DT::kF32) return LaunchMean<float>(x, out, x.dims, reduced, stream);
  return LaunchMean<__half>(x, out, x.dims, reduced, stream);
}

namespace {

// ---- SqueezeExcite -------------------------------------------------------------------------------

constexpr int kSeThreads = 1024;

// One block per image. Phase 0: every thread starts loading the weights into shared memory (they
// do not depend on x, so their latency hides behind the pooling's). (1) Each thread sums every
// R-th pixel of one channel (R = threads / C rows of C threads: consecutive threads read
// consecutive channels of a pixel), eight loads in flight, the rows added in shared memory;
// (2) a warp per hidden value, lanes splitting the dot product over shared memory; (3) the same
// for the C2 outputs. Shared memory (dynamic): mean[C], hidden[C1], w1[C1*C], w2[C2*C1], b1[C1],
// b2[C2] as floats (SqueezeExciteSharedBytes).
template <typename T>
__global__ void SqueezeExciteKernel(const T* x, T* out, int64_t hw, int c, SqueezeExciteArgs a,
                                    int c2) {
  extern __shared__ float sm[];
  __shared__ float part[kSeThreads];
  const int c1 = a.c1;
  float* mean = sm;
  float* hidden = mean + c;
  float* w1 = hidden + c1;
  float* w2 = w1 + static_cast<int64_t>(c1) * c;
  float* b1 = w2 + static_cast<int64_t>(c2) * c1;
  float* b2 = b1 + c1;
  for (int i = threadIdx.x; i < c1 * c; i += blockDim.x) w1[i] = a.w1[i];
  for (int i = threadIdx.x; i < c2 * c1; i += blockDim.x) w2[i] = a.w2[i];
  for (int i = threadIdx.x; i < c1; i += blockDim.x) b1[i] = a.b1[i];
  for (int i = threadIdx.x; i < c2; i += blockDim.x) b2[i] = a.b2[i];
  const int64_t n = blockIdx.x;
  const T* xi = x + n * hw * c;
  const float inv = 1.f / static_cast<float>(hw);
  if (c <= kSeThreads) {
    const int rows = kSeThreads / c;
    const int t = threadIdx.x;
    float s = 0.f;
    if (t < rows * c) {
      const int ch = t % c, row = t / c;
      float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      int64_t p = row;
      for (; p + 7 * static_cast<int64_t>(rows) < hw; p += 8 * static_cast<int64_t>(rows)) {
#pragma unroll
        for (int u = 0; u < 8; ++u) acc[u] += ToF(xi[(p + u * rows) * c + ch]);
      }
      for (; p < hw; p += rows) acc[0] += ToF(xi[p * c + ch]);
#pragma unroll
      for (int u = 0; u < 8; ++u) s += acc[u];
    }
    part[t] = s;
    __syncthreads();
    for (int ch = threadIdx.x; ch < c; ch += blockDim.x) {
      float m = 0.f;
      for (int r = 0; r < rows; ++r) m += part[r * c + ch];
      mean[ch] = m * inv;
    }
  } else {
    for (int ch = threadIdx.x; ch < c; ch += blockDim.x) {
      float m = 0.f;
      for (int64_t p = 0; p < hw; ++p) m += ToF(xi[p * c + ch]);
      mean[ch] = m * inv;
    }
  }
  __syncthreads();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int j = warp; j < c1; j += warps) {
    float s = 0.f;
    for (int k = lane; k < c; k += 32) s += w1[static_cast<int64_t>(j) * c + k] * mean[k];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) hidden[j] = ActF(a.act1, s + b1[j], a.act1_alpha, a.act1_beta);
  }
  __syncthreads();
  for (int j = warp; j < c2; j += warps) {
    float s = 0.f;
    for (int k = lane; k < c1; k += 32) s += w2[static_cast<int64_t>(j) * c1 + k] * hidden[k];
    for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) out[n * c2 + j] = FromF<T>(ActF(a.act2, s + b2[j], a.act2_alpha, a.act2_beta));
  }
}

}  // namespace

Status SqueezeExcite(const SqueezeExciteArgs& a, const TensorArg& x, const TensorArg& out,
                     cudaStream_t stream) {
  constexpr const char* K = "SqueezeExcite";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(K, x, out));
  if (x.dims.size() != 4) return Bad(K, "x " + DimsStr(x.dims) + " must be NHWC (rank 4)");
  const int64_t n = x.dims[0], hw = x.dims[1] * x.dims[2], c = x.dims[3];
  if (n == 0) return Status::Ok();
  if (out.dims.empty() || out.dims.front() != n || out.elements() % n != 0) {
    return Bad(K, "out " + DimsStr(out.dims) + " is not [N,1,1,C2] for x " + DimsStr(x.dims));
  }
  const int64_t c2 = out.elements() / n;
  if (!a.w1 || !a.b1 || !a.w2 || !a.b2) return Bad(K, "a weight pointer is null");
  const size_t smem = SqueezeExciteSharedBytes(c, a.c1, c2);
  if (c < 1 || a.c1 < 1 || c2 < 1 || smem > kSqueezeExciteMaxSharedBytes) {
    return Bad(K, "channels " + std::to_string(c) + " -> " + std::to_string(a.c1) + " -> " +
                      std::to_string(c2) + ": the weights do not fit in shared memory");
  }
  if (hw == 0) return Bad(K, "x " + DimsStr(x.dims) + " has no pixels to average");
  if (n > 2147483647) return Bad(K, "batch too large");
  const dim3 grid(static_cast<unsigned>(n));
  if (x.dt == DT::kF32) {
    SqueezeExciteKernel<float><<<grid, kSeThreads, smem, stream>>>(
        static_cast<const float*>(x.data), static_cast<float*>(out.data), hw, static_cast<int>(c),
        a, static_cast<int>(c2));
  } else {
    SqueezeExciteKernel<__half><<<grid, kSeThreads, smem, stream>>>(
        static_cast<const __half*>(x.data), static_cast<__half*>(out.data), hw,
        static_cast<int>(c), a, static_cast<int>(c2));
  }
  VRSEG_ENGINE_LAUNCH_CHECK("SqueezeExcite");
  return Status::Ok();
}

}  // namespace vrseg::engine::gpu
