// Data-movement kernels of the engine (see kernels.h): Concat, Slice, Transpose, Pad and
// GatherConst, for every DT. They move words, not values: an element is a 1-, 2-, 4- or 8-byte
// word, and where rows allow, several elements move as one wider word (up to 16 bytes).
//
// Slice and Transpose are both "read a strided view, write it contiguously": the view is reduced
// (size-1 axes dropped, axes merged where the walk continues), widened, and copied by one
// index-decomposing kernel; a view that is a (batched) 2-D transpose goes through shared-memory
// tiles instead so that reads and writes both coalesce.
#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels.h"
#include "engine/kernels_common.cuh"

namespace vrseg::engine::gpu {
namespace {

using namespace detail;

struct alignas(16) W16 {
  uint64_t lo, hi;
};

template <typename F>
Status ByWordSize(int bytes, F&& f) {
  switch (bytes) {
    case 1: return f(uint8_t{});
    case 2: return f(uint16_t{});
    case 4: return f(uint32_t{});
    case 8: return f(uint64_t{});
    case 16: return f(W16{});
  }
  return Status::Internal("engine kernels: no word of " + std::to_string(bytes) + " bytes");
}

// ---- strided view copy (Slice, Transpose) -------------------------------------------------------

// out[i] (contiguous over view.dims) = in[base + StridedOffset(view, i)], in words of type W.
template <typename W>
__global__ void ViewCopyKernel(const W* in, W* out, int64_t base, Strided view, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    out[i] = in[base + StridedOffset(view, i)];
  }
}

constexpr int kTile = 32;
constexpr int kTileRows = 8;

// in [batch][rows][cols] -> out [batch][cols][rows], 32x32 tiles through shared memory.
template <typename W>
__global__ void Transpose2DKernel(const W* in, W* out, int64_t rows, int64_t cols) {
  __shared__ W tile[kTile][kTile + 1];
  const int64_t b = blockIdx.z;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * kTile,
                c0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const W* src = in + b * rows * cols;
  W* dst = out + b * rows * cols;
#pragma unroll
  for (int j = 0; j < kTile; j += kTileRows) {
    const int64_t r = r0 + threadIdx.y + j, c = c0 + threadIdx.x;
    if (r < rows && c < cols) tile[threadIdx.y + j][threadIdx.x] = src[r * cols + c];
  }
  __syncthreads();
#pragma unroll
  for (int j = 0; j < kTile; j += kTileRows) {
    const int64_t c = c0 + threadIdx.y + j, r = r0 + threadIdx.x;
    if (r < rows && c < cols) dst[c * rows + r] = tile[threadIdx.x][threadIdx.y + j];
  }
}

// The same transpose when one side is short (NCHW -> NHWC with C = 3, say): a thread per element
// of the long side walks the short one, so no thread idles in a mostly empty tile.
template <typename W>
__global__ void TransposeShortKernel(const W* in, W* out, int64_t batch, int64_t rows, int64_t cols,
                                     bool short_rows) {
  const int64_t lng = short_rows ? cols : rows, shrt = short_rows ? rows : cols;
  const int64_t n = batch * lng;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n;
       t += stride) {
    const int64_t b = t / lng, l = t - b * lng;
    const W* src = in + b * rows * cols;
    W* dst = out + b * rows * cols;
    if (short_rows) {  // l is a column: read down the rows, write one contiguous out row piece
      for (int64_t r = 0; r < shrt; ++r) dst[l * rows + r] = src[r * cols + l];
    } else {  // l is a row: read it contiguously, write one element into each out row
      for (int64_t c = 0; c < shrt; ++c) dst[c * rows + l] = src[l * cols + c];
    }
  }
}

constexpr int64_t kShortSide = 8;  // at most this long, the short-side kernel beats 32x32 tiles

// A view in elements: dims (outermost first) and strides into the input, plus a base offset.
struct View {
  std::vector<int64_t> dims, strides;
  int64_t base = 0;
};

// Drops size-1 axes and merges an axis into its inner neighbour where the walk continues.
View Reduce(const View& v) {
  View r;
  r.base = v.base;
  std::vector<int64_t> d, s;  // innermost first
  for (int i = static_cast<int>(v.dims.size()) - 1; i >= 0; --i) {
    if (v.dims[i] == 1) continue;
    if (!d.empty() && v.strides[i] == s.back() * d.back()) {
      d.back() *= v.dims[i];
      continue;
    }
    d.push_back(v.dims[i]);
    s.push_back(v.strides[i]);
  }
  r.dims.assign(d.rbegin(), d.rend());
  r.strides.assign(s.rbegin(), s.rend());
  return r;
}

// The widest word (bytes, up to 16) in which the view can be copied: the innermost axis must be
// contiguous and everything (sizes, strides, base, pointers) a multiple of the word.
int WidestWord(const View& v, int es, const void* in, const void* out) {
  if (v.dims.empty() || v.strides.back() != 1) return es;
  int best = es;
  for (int w = es * 2; w <= 16; w *= 2) {
    const int64_t k = w / es;
    bool ok = v.dims.back() % k == 0 && v.base % k == 0 && Aligned(in, w) && Aligned(out, w);
    for (size_t i = 0; ok && i + 1 < v.dims.size(); ++i) ok = v.strides[i] % k == 0;
    if (!ok) break;
    best = w;
  }
  return best;
}

View Widen(const View& v, int k) {  // k elements per word
  if (k == 1) return v;
  View r = v;
  r.base /= k;
  r.dims.back() /= k;
  for (size_t i = 0; i + 1 < r.dims.size(); ++i) r.strides[i] /= k;
  return r;
}

Status CopyView(const char* kernel, const View& view_in, int es, const void* in, void* out,
                cudaStream_t s) {
  const View reduced = Reduce(view_in);
  int64_t n = 1;
  for (int64_t d : reduced.dims) n *= d;
  if (n == 0) return Status::Ok();
  const int w = WidestWord(reduced, es, in, out);
  const View v = Widen(reduced, w / es);
  n /= (w / es);
  if (v.dims.size() > static_cast<size_t>(kMaxRank)) {
    return Bad(kernel, "view of rank " + std::to_string(v.dims.size()) + " after merging axes");
  }
  const int rank = static_cast<int>(v.dims.size());
  // A (batched) 2-D transpose: out [B][C][R] reading in [B][R][C].
  const bool t2 = (rank == 2 && v.strides[0] == 1 && v.strides[1] == v.dims[0]) ||
                  (rank == 3 && v.strides[1] == 1 && v.strides[2] == v.dims[1] &&
                   v.strides[0] == v.dims[1] * v.dims[2]);
  if (t2) {
    const int64_t batch = rank == 3 ? v.dims[0] : 1;
    const int64_t cols = v.dims[rank - 2], rows = v.dims[rank - 1];
    const int64_t gy = (rows + kTile - 1) / kTile, gx = (cols + kTile - 1) / kTile;
    if (std::min(rows, cols) <= kShortSide) {
      return ByWordSize(w,
                        [&](auto word) -> Status {
                          using W = decltype(word);
                          const W* pin = static_cast<const W*>(in) + v.base;
                          TransposeShortKernel<W>
                              <<<Blocks(batch * std::max(rows, cols)), kThreads, 0, s>>>(
                                  pin, static_cast<W*>(out), batch, rows, cols, rows <= cols);
                          VRSEG_CUDA_RETURN_IF_ERROR(cudaGetLastError());
                          return Status::Ok();
                        })
          .WithContext(std::string("engine kernel ") + kernel + " (short-side transpose)");
    }
    if (batch <= 65535 && gy <= 65535 && gx <= (int64_t{1} << 31) - 1) {
      return ByWordSize(w,
                        [&](auto word) -> Status {
                          using W = decltype(word);
                          const W* pin = static_cast<const W*>(in) + v.base;
                          const dim3 grid(static_cast<unsigned>(gx), static_cast<unsigned>(gy),
                                          static_cast<unsigned>(batch));
                          Transpose2DKernel<W><<<grid, dim3(kTile, kTileRows), 0, s>>>(
                              pin, static_cast<W*>(out), rows, cols);
                          VRSEG_CUDA_RETURN_IF_ERROR(cudaGetLastError());
                          return Status::Ok();
                        })
          .WithContext(std::string("engine kernel ") + kernel + " (tiled transpose)");
    }
  }
  Strided sv;
  sv.rank = rank;
  for (int i = 0; i < rank; ++i) {
    sv.dims[i] = v.dims[i];
    sv.strides[i] = v.strides[i];
  }
  return ByWordSize(w,
                    [&](auto word) -> Status {
                      using W = decltype(word);
                      ViewCopyKernel<W><<<Blocks(n), kThreads, 0, s>>>(
                          static_cast<const W*>(in), static_cast<W*>(out), v.base, sv, n);
                      VRSEG_CUDA_RETURN_IF_ERROR(cudaGetLastError());
                      return Status::Ok();
                    })
      .WithContext(std::string("engine kernel ") + kernel);
}

Status CheckMove(const char* kernel, const TensorArg& x, const TensorArg& out) {
  VRSEG_RETURN_IF_ERROR(CheckTensor(kernel, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(kernel, "out", out));
  return CheckSameDT(kernel, x, out);
}

// ---- Concat -------------------------------------------------------------------------------------

constexpr int kConcatMax = 8;  // inputs per launch

struct ConcatBatch {
  const void* src[kConcatMax];
  int64_t width[kConcatMax];   // words per row of each input
  int64_t prefix[kConcatMax];  // first word of each input within this batch's columns
  int64_t offset;              // first out column of this batch
  int64_t cols;                // words per row in this batch
  int count;
};

template <typename W>
__global__ void ConcatKernel(ConcatBatch cb, W* out, int64_t rows, int64_t out_cols) {
  const int64_t n = rows * cb.cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t row = i / cb.cols, col = i - row * cb.cols;
    int j = 0;
#pragma unroll
    for (int k = 1; k < kConcatMax; ++k) {
      if (k < cb.count && col >= cb.prefix[k]) j = k;
    }
    const int64_t c = col - cb.prefix[j];
    out[row * out_cols + cb.offset + col] = static_cast<const W*>(cb.src[j])[row * cb.width[j] + c];
  }
}

// ---- Pad ----------------------------------------------------------------------------------------

struct PadK {
  int rank;
  int64_t out_dims[kMaxRank];
  int64_t in_dims[kMaxRank];
  int64_t in_strides[kMaxRank];
  int64_t begin[kMaxRank];
  PadMode mode;
};

template <typename W, typename Idx>
__global__ void PadKernel(const W* in, W* out, PadK p, W value, Idx n) {
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    Idx rest = i;
    int64_t off = 0;
    bool inside = true;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d < p.rank) {
        const Idx od = static_cast<Idx>(p.out_dims[d]);
        const Idx q = rest / od;
        int64_t c = static_cast<int64_t>(rest - q * od) - p.begin[d];
        rest = q;
        const int64_t len = p.in_dims[d];
        if (c < 0 || c >= len) {
          if (p.mode == PadMode::kConstant) {
            inside = false;
          } else if (p.mode == PadMode::kEdge) {
            c = c < 0 ? 0 : len - 1;
          } else if (len == 1) {
            c = 0;
          } else {  // reflect (without repeating the edge), folded until inside
            const int64_t period = 2 * (len - 1);
            c %= period;
            if (c < 0) c += period;
            if (c >= len) c = period - c;
          }
        }
        off += c * p.in_strides[d];
      }
    }
    out[i] = inside ? in[off] : value;
  }
}

// ---- GatherConst --------------------------------------------------------------------------------

// x [outer][dim][inner] -> out [outer][count][inner] (inner in words).
template <typename W>
__global__ void GatherKernel(const W* in, W* out, const int64_t* idx, int64_t dim, int64_t count,
                             int64_t inner, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    const int64_t r = i / inner, c = i - r * inner;
    const int64_t o = r / count, k = r - o * count;
    int64_t j = idx[k];
    if (j < 0) j += dim;
    j = j < 0 ? 0 : (j >= dim ? dim - 1 : j);  // memory-safe; the builder checked the constants
    out[i] = in[(o * dim + j) * inner + c];
  }
}

}  // namespace

Status Concat(const std::vector<TensorArg>& xs, int axis, const TensorArg& out,
              cudaStream_t stream) {
  constexpr const char* K = "Concat";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  if (xs.empty()) return Bad(K, "no inputs");
  VRSEG_RETURN_IF_ERROR(CheckAxis(K, axis, out.dims.size()));
  int64_t axis_sum = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string name = "input " + std::to_string(i);
    VRSEG_RETURN_IF_ERROR(CheckTensor(K, name.c_str(), xs[i]));
    VRSEG_RETURN_IF_ERROR(CheckSameDT(K, xs[i], out));
    bool same = xs[i].dims.size() == out.dims.size();
    for (size_t d = 0; same && d < out.dims.size(); ++d) {
      same = static_cast<int>(d) == axis || xs[i].dims[d] == out.dims[d];
    }
    if (!same) {
      return Bad(K, name + " " + DimsStr(xs[i].dims) + " does not fit out " + DimsStr(out.dims) +
                        " on axis " + std::to_string(axis));
    }
    axis_sum += xs[i].dims[axis];
  }
  if (axis_sum != out.dims[axis]) {
    return Bad(K, "inputs' axis-" + std::to_string(axis) + " sizes add up to " +
                      std::to_string(axis_sum) + ", out " + DimsStr(out.dims) + " has " +
                      std::to_string(out.dims[axis]));
  }
  if (out.elements() == 0) return Status::Ok();
  const int es = DTSize(out.dt);
  const int64_t rows = Product(out.dims, 0, axis);
  const int64_t inner = Product(out.dims, axis + 1, out.dims.size());
  // Widest word that divides every row segment and aligns every pointer.
  int w = es;
  for (int cand = es * 2; cand <= 16; cand *= 2) {
    bool ok = (out.dims[axis] * inner * es) % cand == 0 && Aligned(out.data, cand);
    for (const TensorArg& x : xs)
      ok = ok && (x.dims[axis] * inner * es) % cand == 0 && Aligned(x.data, cand);
    if (!ok) break;
    w = cand;
  }
  const int64_t out_cols = out.dims[axis] * inner * es / w;
  int64_t offset = 0;
  for (size_t first = 0; first < xs.size(); first += kConcatMax) {
    ConcatBatch cb{};
    cb.offset = offset;
    cb.count = 0;
    cb.cols = 0;
    for (size_t i = first; i < xs.size() && cb.count < kConcatMax; ++i) {
      const int64_t width = xs[i].dims[axis] * inner * es / w;
      cb.src[cb.count] = xs[i].data;
      cb.width[cb.count] = width;
      cb.prefix[cb.count] = cb.cols;
      cb.cols += width;
      ++cb.count;
    }
    // Inputs of zero width would capture columns at their prefix; give them an impossible one.
    for (int k = 0; k < cb.count; ++k) {
      if (cb.width[k] == 0) cb.prefix[k] = cb.cols + 1;
    }
    for (int k = cb.count; k < kConcatMax; ++k) cb.prefix[k] = cb.cols + 1;
    offset += cb.cols;
    if (cb.cols == 0 || rows == 0) continue;
    VRSEG_RETURN_IF_ERROR(ByWordSize(w, [&](auto word) -> Status {
      using W = decltype(word);
      ConcatKernel<W><<<Blocks(rows * cb.cols), kThreads, 0, stream>>>(
          cb, static_cast<W*>(out.data), rows, out_cols);
      VRSEG_ENGINE_LAUNCH_CHECK("Concat");
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Status Slice(const TensorArg& x, const std::vector<int64_t>& starts,
             const std::vector<int64_t>& steps, const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "Slice";
  VRSEG_RETURN_IF_ERROR(CheckMove(K, x, out));
  const size_t rank = x.dims.size();
  if (out.dims.size() != rank || starts.size() != rank || steps.size() != rank) {
    return Bad(K, "x " + DimsStr(x.dims) + ", out " + DimsStr(out.dims) + ", starts " +
                      DimsStr(starts) + ", steps " + DimsStr(steps) + ": ranks differ");
  }
  if (out.elements() == 0) return Status::Ok();
  View v;
  v.dims = out.dims;
  v.strides.resize(rank);
  int64_t in_stride = 1;
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
    const int64_t last = starts[d] + (out.dims[d] - 1) * steps[d];
    if (steps[d] == 0 || starts[d] < 0 || starts[d] >= x.dims[d] || last < 0 || last >= x.dims[d]) {
      return Bad(K, "axis " + std::to_string(d) + ": start " + std::to_string(starts[d]) +
                        ", step " + std::to_string(steps[d]) + " and " +
                        std::to_string(out.dims[d]) + " elements leave x " + DimsStr(x.dims));
    }
    v.strides[d] = in_stride * steps[d];
    v.base += starts[d] * in_stride;
    in_stride *= x.dims[d];
  }
  return CopyView(K, v, DTSize(x.dt), x.data, out.data, stream);
}

Status Transpose(const TensorArg& x, const std::vector<int>& perm, const TensorArg& out,
                 cudaStream_t stream) {
  constexpr const char* K = "Transpose";
  VRSEG_RETURN_IF_ERROR(CheckMove(K, x, out));
  const size_t rank = x.dims.size();
  std::vector<bool> seen(rank, false);
  bool ok = perm.size() == rank && out.dims.size() == rank;
  for (size_t i = 0; ok && i < rank; ++i) {
    ok = perm[i] >= 0 && perm[i] < static_cast<int>(rank) && !seen[perm[i]] &&
         out.dims[i] == x.dims[perm[i]];
    if (ok) seen[perm[i]] = true;
  }
  if (!ok) {
    std::vector<int64_t> p(perm.begin(), perm.end());
    return Bad(K, "perm " + DimsStr(p) + " does not map x " + DimsStr(x.dims) + " to out " +
                      DimsStr(out.dims));
  }
  if (out.elements() == 0) return Status::Ok();
  std::vector<int64_t> in_strides(rank);
  RowMajor(x.dims, in_strides.data());
  View v;
  v.dims = out.dims;
  v.strides.resize(rank);
  for (size_t i = 0; i < rank; ++i) v.strides[i] = in_strides[perm[i]];
  return CopyView(K, v, DTSize(x.dt), x.data, out.data, stream);
}

Status Pad(const TensorArg& x, const std::vector<int64_t>& pads_begin, PadMode mode, float value,
           const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "Pad";
  VRSEG_RETURN_IF_ERROR(CheckMove(K, x, out));
  const size_t rank = x.dims.size();
  if (out.dims.size() != rank || pads_begin.size() != rank) {
    return Bad(K, "x " + DimsStr(x.dims) + ", out " + DimsStr(out.dims) + ", pads_begin " +
                      DimsStr(pads_begin) + ": ranks differ");
  }
  if (out.elements() == 0) return Status::Ok();
  if (x.elements() == 0 && mode != PadMode::kConstant) {
    return Bad(K, "x " + DimsStr(x.dims) + " is empty: only constant padding can fill out");
  }
  PadK p{};
  p.rank = static_cast<int>(rank);
  p.mode = mode;
  RowMajor(x.dims, p.in_strides);
  for (size_t d = 0; d < rank; ++d) {
    p.out_dims[d] = out.dims[d];
    p.in_dims[d] = x.dims[d];
    p.begin[d] = pads_begin[d];
    const int64_t end = out.dims[d] - x.dims[d] - pads_begin[d];
    if (mode == PadMode::kReflect && (pads_begin[d] >= x.dims[d] || end >= x.dims[d]) &&
        x.dims[d] > 1) {
      return Bad(K, "axis " + std::to_string(d) + ": reflect pads " +
                        std::to_string(pads_begin[d]) + "," + std::to_string(end) +
                        " must be smaller than the dim " + std::to_string(x.dims[d]));
    }
  }
  // The fill value's bytes in the dtype.
  const int es = DTSize(x.dt);
  uint8_t fill[8] = {};
  switch (x.dt) {
    case DT::kF32: std::memcpy(fill, &value, 4); break;
    case DT::kF16: {
      const __half hv = __float2half_rn(value);
      std::memcpy(fill, &hv, 2);
      break;
    }
    case DT::kI64: {
      const int64_t iv = static_cast<int64_t>(value);
      std::memcpy(fill, &iv, 8);
      break;
    }
    case DT::kBool: fill[0] = value != 0.f ? 1 : 0; break;
  }
  // Where the innermost axis is not padded, move k elements as one word (the fill repeated k
  // times), as wide as its length and the pointers allow.
  int k = 1;
  const size_t last = rank - 1;
  if (rank > 0 && pads_begin[last] == 0 && out.dims[last] == x.dims[last]) {
    while (k * 2 * es <= 16 && x.dims[last] % (k * 2) == 0 && Aligned(x.data, k * 2 * es) &&
           Aligned(out.data, k * 2 * es)) {
      k *= 2;
    }
  }
  if (k > 1) {
    p.out_dims[last] /= k;
    p.in_dims[last] /= k;
    std::vector<int64_t> in_dims(p.in_dims, p.in_dims + rank);
    RowMajor(in_dims, p.in_strides);
  }
  uint8_t word[16];
  for (int j = 0; j < k; ++j) std::memcpy(word + j * es, fill, es);
  const int64_t n = out.elements() / k;
  const void* in = x.data;
  return ByWordSize(k * es, [&](auto zero) -> Status {
    using W = decltype(zero);
    W v;
    std::memcpy(&v, word, sizeof(W));
    if (n < (int64_t{1} << 31)) {
      PadKernel<W, uint32_t><<<Blocks(n), kThreads, 0, stream>>>(
          static_cast<const W*>(in), static_cast<W*>(out.data), p, v, static_cast<uint32_t>(n));
    } else {
      PadKernel<W, int64_t><<<Blocks(n), kThreads, 0, stream>>>(static_cast<const W*>(in),
                                                                static_cast<W*>(out.data), p, v, n);
    }
    VRSEG_ENGINE_LAUNCH_CHECK("Pad");
    return Status::Ok();
  });
}

Status GatherConst(const TensorArg& x, int axis, const int64_t* indices_device, int64_t count,
                   const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "GatherConst";
  VRSEG_RETURN_IF_ERROR(CheckMove(K, x, out));
  VRSEG_RETURN_IF_ERROR(CheckAxis(K, axis, x.dims.size()));
  if (count < 0) return Bad(K, "negative index count");
  const int64_t outer = Product(x.dims, 0, axis);
  const int64_t inner = Product(x.dims, axis + 1, x.dims.size());
  const int64_t dim = x.dims[axis];
  if (out.elements() != outer * count * inner) {
    return Bad(K, "out " + DimsStr(out.dims) + " does not hold " + std::to_string(count) +
                      " indices along axis " + std::to_string(axis) + " of x " + DimsStr(x.dims));
  }
  if (out.elements() == 0) return Status::Ok();
  if (indices_device == nullptr) return Bad(K, "indices are null");
  if (dim == 0)
    return Bad(K, "axis " + std::to_string(axis) + " of x " + DimsStr(x.dims) + " is empty");
  const int es = DTSize(x.dt);
  int w = es;
  for (int cand = es * 2; cand <= 16; cand *= 2) {
    if ((inner * es) % cand != 0 || !Aligned(x.data, cand) || !Aligned(out.data, cand)) break;
    w = cand;
  }
  const int64_t inner_w = inner * es / w;
  const int64_t n = outer * count * inner_w;
  return ByWordSize(w, [&](auto word) -> Status {
    using W = decltype(word);
    GatherKernel<W><<<Blocks(n), kThreads, 0, stream>>>(static_cast<const W*>(x.data),
                                                        static_cast<W*>(out.data), indices_device,
                                                        dim, count, inner_w, n);
    VRSEG_ENGINE_LAUNCH_CHECK("GatherConst");
    return Status::Ok();
  });
}

}  // namespace vrseg::engine::gpu
