// engine/kernels_common.cuh (private to src/engine) — what the engine's own kernels share:
// fp32/fp16 loads and stores with fp32 math, 16-byte packs for vectorised access, the device twin
// of ApplyAct (ir.h), argument checks that name the kernel, launch sizing and small by-value shape
// descriptors (rank <= kMaxRank) for the strided paths.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/ir.h"
#include "engine/kernels.h"
#include "vrseg/cuda/check.h"
#include "vrseg/status.h"

namespace vrseg::engine::gpu::detail {

inline constexpr int kMaxRank = 6;
inline constexpr int kThreads = 256;
// Grid-stride loops cover what does not fit; this many blocks keep every SM of an H100/H200 busy.
inline constexpr int64_t kMaxBlocks = int64_t{1} << 20;

// ---- element access (fp32 arithmetic for both float types) --------------------------------------

__device__ __forceinline__ float ToF(float v) { return v; }
__device__ __forceinline__ float ToF(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T FromF(float v);
template <>
__device__ __forceinline__ float FromF<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half FromF<__half>(float v) {
  return __float2half_rn(v);
}

// V elements in one aligned access (16 bytes for V = 16 / sizeof(T)).
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};
template <typename T>
inline constexpr int kVec = static_cast<int>(16 / sizeof(T));

// ---- activations: the device twin of ApplyAct in ir.cc (keep the two in sync) -------------------
// (the parity test KernelsTest.ActivationsMatchApplyAct checks every Act against ApplyAct)

__device__ __forceinline__ float ActF(Act a, float x, float alpha, float beta) {
  switch (a) {
    case Act::kNone: return x;
    case Act::kRelu: return x > 0.f ? x : 0.f;
    case Act::kClip: return fminf(fmaxf(x, alpha), beta);
    // x * (1/6) instead of ApplyAct's x / 6: within an ulp, without a full-precision division.
    case Act::kHardSwish: return x * fmaxf(0.f, fminf(1.f, x * (1.f / 6.f) + 0.5f));
    case Act::kHardSigmoid: return fmaxf(0.f, fminf(1.f, alpha * x + beta));
    case Act::kSigmoid: return 1.f / (1.f + expf(-x));
    case Act::kTanh: return tanhf(x);
    case Act::kLeakyRelu: return x >= 0.f ? x : alpha * x;
  }
  return x;
}

// ---- host helpers -------------------------------------------------------------------------------

inline std::string DimsStr(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(d[i]);
  }
  return s + "]";
}

inline const char* DTName(DT t) {
  switch (t) {
    case DT::kF32: return "f32";
    case DT::kF16: return "f16";
    case DT::kI64: return "i64";
    case DT::kBool: return "bool";
  }
  return "?";
}

inline bool IsFloat(DT t) { return t == DT::kF32 || t == DT::kF16; }

inline Status Bad(const char* kernel, const std::string& what) {
  return Status::InvalidArgument(std::string("engine kernel ") + kernel + ": " + what);
}

// Dims non-negative, rank within `max_rank`, data present when there are elements.
inline Status CheckTensor(const char* kernel, const char* name, const TensorArg& t,
                          int max_rank = kMaxRank) {
  if (static_cast<int>(t.dims.size()) > max_rank) {
    return Bad(kernel, std::string(name) + " has rank " + std::to_string(t.dims.size()) +
                           " (at most " + std::to_string(max_rank) + ")");
  }
  for (int64_t d : t.dims) {
    if (d < 0) return Bad(kernel, std::string(name) + " has a negative dim: " + DimsStr(t.dims));
  }
  if (t.data == nullptr && t.elements() > 0) {
    return Bad(kernel, std::string(name) + " " + DimsStr(t.dims) + " has no data pointer");
  }
  return Status::Ok();
}

inline Status CheckFloat(const char* kernel, const char* name, const TensorArg& t) {
  if (!IsFloat(t.dt)) {
    return Bad(kernel, std::string(name) + " must be f32 or f16, not " + DTName(t.dt));
  }
  return Status::Ok();
}

inline Status CheckSameDT(const char* kernel, const TensorArg& x, const TensorArg& out) {
  if (x.dt != out.dt) {
    return Bad(kernel,
               std::string("input is ") + DTName(x.dt) + " but output is " + DTName(out.dt));
  }
  return Status::Ok();
}

inline Status CheckAxis(const char* kernel, int axis, size_t rank) {
  if (axis < 0 || axis >= static_cast<int>(rank)) {
    return Bad(kernel,
               "axis " + std::to_string(axis) + " out of range for rank " + std::to_string(rank));
  }
  return Status::Ok();
}

inline unsigned Blocks(int64_t work, int threads = kThreads) {
  int64_t b = (work + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > kMaxBlocks) b = kMaxBlocks;
  return static_cast<unsigned>(b);
}

inline bool Aligned(const void* p, size_t bytes) {
  return reinterpret_cast<uintptr_t>(p) % bytes == 0;
}

inline int64_t Product(const std::vector<int64_t>& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

// Dims (outermost first) and per-axis strides of up to kMaxRank axes, passed by value.
struct Strided {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
};

// Row-major strides of dims.
inline void RowMajor(const std::vector<int64_t>& dims, int64_t* strides) {
  int64_t s = 1;
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    strides[i] = s;
    s *= dims[i];
  }
}

// The offset, under `s.strides`, of linear index `i` of a row-major walk over `s.dims`.
__device__ __forceinline__ int64_t StridedOffset(const Strided& s, int64_t i) {
  int64_t off = 0;
#pragma unroll
  for (int d = kMaxRank - 1; d >= 0; --d) {
    if (d < s.rank) {
      const int64_t q = i / s.dims[d];
      off += (i - q * s.dims[d]) * s.strides[d];
      i = q;
    }
  }
  return off;
}

// Maps an element size to an unsigned type of that size (data movement is dtype-agnostic).
template <int kBytes>
struct Word;
template <>
struct Word<1> {
  using T = uint8_t;
};
template <>
struct Word<2> {
  using T = uint16_t;
};
template <>
struct Word<4> {
  using T = uint32_t;
};
template <>
struct Word<8> {
  using T = uint64_t;
};

}  // namespace vrseg::engine::gpu::detail

#define VRSEG_ENGINE_LAUNCH_CHECK(name) VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("engine kernel " name)
