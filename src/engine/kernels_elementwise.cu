// Elementwise kernels of the engine (see kernels.h): Binary with broadcasting, Unary, ChannelAffine
// and Cast, plus DTSize and TensorArg::elements.
//
// Binary first reduces both operands to a canonical broadcast: out axes of size 1 are dropped and
// neighbouring axes that both inputs walk the same way are merged. What is left picks the path:
//   same shape            -> one flat loop, 16-byte packs (float4 / 8 halves)
//   one side a scalar     -> flat loop, the scalar read once per thread
//   one side [B,1,C] over [B,R,C] (per channel, optionally per image: bias, SE scale) -> packs
//   one side [R,1] over [R,C] (one value per pixel over its channels) -> packs
//   anything else         -> per-element index decomposition with both strides (rank <= 6).
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "engine/kernels.h"
#include "engine/kernels_common.cuh"

namespace vrseg::engine::gpu {

int DTSize(DT t) {
  switch (t) {
    case DT::kF32: return 4;
    case DT::kF16: return 2;
    case DT::kI64: return 8;
    case DT::kBool: return 1;
  }
  return 0;
}

int64_t TensorArg::elements() const {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

namespace {

using namespace detail;

// ---- Binary -------------------------------------------------------------------------------------

struct BinParams {
  BinOp op;
  Act act;
  float alpha, beta;
  bool swap;  // the "full" operand of a one-sided path is b (compute other op full)
};

__device__ __forceinline__ float BinF(BinOp op, float a, float b) {
  switch (op) {
    case BinOp::kAdd: return a + b;
    case BinOp::kSub: return a - b;
    case BinOp::kMul: return a * b;
    case BinOp::kDiv: return a / b;
    case BinOp::kPow: return powf(a, b);
    case BinOp::kMax: return fmaxf(a, b);
    case BinOp::kMin: return fminf(a, b);
  }
  return a;
}

// The one-sided paths see (full, other); swap restores (a, b) order for the operation.
__device__ __forceinline__ float BinOrdered(const BinParams& p, float full, float other) {
  return p.swap ? BinF(p.op, other, full) : BinF(p.op, full, other);
}

template <typename T, int V>
__global__ void BinSameKernel(const T* a, const T* b, T* o, int64_t nv, BinParams p) {
  using P = Pack<T, V>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv;
       i += stride) {
    const P x = reinterpret_cast<const P*>(a)[i];
    const P y = reinterpret_cast<const P*>(b)[i];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      r.v[k] = FromF<T>(ActF(p.act, BinF(p.op, ToF(x.v[k]), ToF(y.v[k])), p.alpha, p.beta));
    }
    reinterpret_cast<P*>(o)[i] = r;
  }
}

template <typename T, int V>
__global__ void BinScalarKernel(const T* full, const T* scalar, T* o, int64_t nv, BinParams p) {
  using P = Pack<T, V>;
  const float s = ToF(scalar[0]);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv;
       i += stride) {
    const P x = reinterpret_cast<const P*>(full)[i];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      r.v[k] = FromF<T>(ActF(p.act, BinOrdered(p, ToF(x.v[k]), s), p.alpha, p.beta));
    }
    reinterpret_cast<P*>(o)[i] = r;
  }
}

// full [B, R, C] (as packs: C/V per row), ch [B, C]; cv = C/V, rcv = R*C/V.
template <typename T, int V, typename Idx>
__global__ void BinChannelKernel(const T* full, const T* ch, T* o, Idx nv, Idx cv, Idx rcv,
                                 BinParams p) {
  using P = Pack<T, V>;
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += stride) {
    const Idx c = (i / rcv) * cv + i % cv;
    const P x = reinterpret_cast<const P*>(full)[i];
    const P y = reinterpret_cast<const P*>(ch)[c];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      r.v[k] = FromF<T>(ActF(p.act, BinOrdered(p, ToF(x.v[k]), ToF(y.v[k])), p.alpha, p.beta));
    }
    reinterpret_cast<P*>(o)[i] = r;
  }
}

// full [R, C] (as packs: C/V per row), row [R]: one value per row (a per-pixel map over channels).
template <typename T, int V, typename Idx>
__global__ void BinRowKernel(const T* full, const T* row, T* o, Idx nv, Idx cv, BinParams p) {
  using P = Pack<T, V>;
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += stride) {
    const float y = ToF(row[i / cv]);
    const P x = reinterpret_cast<const P*>(full)[i];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k)
      r.v[k] = FromF<T>(ActF(p.act, BinOrdered(p, ToF(x.v[k]), y), p.alpha, p.beta));
    reinterpret_cast<P*>(o)[i] = r;
  }
}

struct Bcast {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t sa[kMaxRank] = {};
  int64_t sb[kMaxRank] = {};
};

template <typename T, typename Idx>
__global__ void BinGeneralKernel(const T* a, const T* b, T* o, Idx n, Bcast bc, BinParams p) {
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    Idx rest = i, oa = 0, ob = 0;
#pragma unroll
    for (int d = kMaxRank - 1; d >= 0; --d) {
      if (d < bc.rank) {
        const Idx dim = static_cast<Idx>(bc.dims[d]);
        const Idx q = rest / dim;
        const Idx coord = rest - q * dim;
        oa += coord * static_cast<Idx>(bc.sa[d]);
        ob += coord * static_cast<Idx>(bc.sb[d]);
        rest = q;
      }
    }
    o[i] = FromF<T>(ActF(p.act, BinF(p.op, ToF(a[oa]), ToF(b[ob])), p.alpha, p.beta));
  }
}

template <typename T>
Status LaunchSame(const T* a, const T* b, T* o, int64_t n, const BinParams& p, cudaStream_t s) {
  constexpr int V = kVec<T>;
  int64_t done = 0;
  if (Aligned(a, 16) && Aligned(b, 16) && Aligned(o, 16) && n >= V) {
    const int64_t nv = n / V;
    BinSameKernel<T, V><<<Blocks(nv), kThreads, 0, s>>>(a, b, o, nv, p);
    VRSEG_ENGINE_LAUNCH_CHECK("Binary(same shape, packed)");
    done = nv * V;
  }
  if (done < n) {
    BinSameKernel<T, 1>
        <<<Blocks(n - done), kThreads, 0, s>>>(a + done, b + done, o + done, n - done, p);
    VRSEG_ENGINE_LAUNCH_CHECK("Binary(same shape)");
  }
  return Status::Ok();
}

template <typename T>
Status LaunchScalar(const T* full, const T* scalar, T* o, int64_t n, const BinParams& p,
                    cudaStream_t s) {
  constexpr int V = kVec<T>;
  int64_t done = 0;
  if (Aligned(full, 16) && Aligned(o, 16) && n >= V) {
    const int64_t nv = n / V;
    BinScalarKernel<T, V><<<Blocks(nv), kThreads, 0, s>>>(full, scalar, o, nv, p);
    VRSEG_ENGINE_LAUNCH_CHECK("Binary(scalar, packed)");
    done = nv * V;
  }
  if (done < n) {
    BinScalarKernel<T, 1>
        <<<Blocks(n - done), kThreads, 0, s>>>(full + done, scalar, o + done, n - done, p);
    VRSEG_ENGINE_LAUNCH_CHECK("Binary(scalar)");
  }
  return Status::Ok();
}

template <typename T, int V>
Status LaunchChannelV(const T* full, const T* ch, T* o, int64_t n, int64_t r, int64_t c,
                      const BinParams& p, cudaStream_t s) {
  const int64_t nv = n / V, cv = c / V, rcv = r * c / V;
  if (nv < (int64_t{1} << 31)) {
    BinChannelKernel<T, V, uint32_t>
        <<<Blocks(nv), kThreads, 0, s>>>(full, ch, o, static_cast<uint32_t>(nv),
                                         static_cast<uint32_t>(cv), static_cast<uint32_t>(rcv), p);
  } else {
    BinChannelKernel<T, V, int64_t><<<Blocks(nv), kThreads, 0, s>>>(full, ch, o, nv, cv, rcv, p);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("Binary(per channel)");
  return Status::Ok();
}

template <typename T>
Status LaunchChannel(const T* full, const T* ch, T* o, int64_t n, int64_t r, int64_t c,
                     const BinParams& p, cudaStream_t s) {
  constexpr int V = kVec<T>;
  if (c % V == 0 && Aligned(full, 16) && Aligned(ch, 16) && Aligned(o, 16)) {
    return LaunchChannelV<T, V>(full, ch, o, n, r, c, p, s);
  }
  if (c % 2 == 0 && Aligned(full, 2 * sizeof(T)) && Aligned(ch, 2 * sizeof(T)) &&
      Aligned(o, 2 * sizeof(T))) {
    return LaunchChannelV<T, 2>(full, ch, o, n, r, c, p, s);
  }
  return LaunchChannelV<T, 1>(full, ch, o, n, r, c, p, s);
}

template <typename T, int V>
Status LaunchRowV(const T* full, const T* row, T* o, int64_t n, int64_t c, const BinParams& p,
                  cudaStream_t s) {
  const int64_t nv = n / V, cv = c / V;
  if (nv < (int64_t{1} << 31)) {
    BinRowKernel<T, V, uint32_t><<<Blocks(nv), kThreads, 0, s>>>(
        full, row, o, static_cast<uint32_t>(nv), static_cast<uint32_t>(cv), p);
  } else {
    BinRowKernel<T, V, int64_t><<<Blocks(nv), kThreads, 0, s>>>(full, row, o, nv, cv, p);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("Binary(per row)");
  return Status::Ok();
}

template <typename T>
Status LaunchRow(const T* full, const T* row, T* o, int64_t n, int64_t c, const BinParams& p,
                 cudaStream_t s) {
  constexpr int V = kVec<T>;
  if (c % V == 0 && Aligned(full, 16) && Aligned(o, 16))
    return LaunchRowV<T, V>(full, row, o, n, c, p, s);
  return LaunchRowV<T, 1>(full, row, o, n, c, p, s);
}

template <typename T>
Status LaunchGeneral(const T* a, const T* b, T* o, int64_t n, const Bcast& bc, const BinParams& p,
                     cudaStream_t s) {
  if (n < (int64_t{1} << 31)) {
    BinGeneralKernel<T, uint32_t>
        <<<Blocks(n), kThreads, 0, s>>>(a, b, o, static_cast<uint32_t>(n), bc, p);
  } else {
    BinGeneralKernel<T, int64_t><<<Blocks(n), kThreads, 0, s>>>(a, b, o, n, bc, p);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("Binary(broadcast)");
  return Status::Ok();
}

// Per-channel shape of `full` against `ch` in a merged broadcast: returns true and B, R, C when
// dims are [B,R,C] (or [R,C]) with full row-major and ch walking [B,C] (strides [C,0,1]/[0,1]).
bool IsPerChannel(const Bcast& bc, const int64_t* sf, const int64_t* sc, int64_t* r, int64_t* c) {
  if (bc.rank == 2) {
    if (sf[1] == 1 && sf[0] == bc.dims[1] && sc[1] == 1 && sc[0] == 0) {
      *r = bc.dims[0];
      *c = bc.dims[1];
      return true;
    }
  } else if (bc.rank == 3) {
    const int64_t C = bc.dims[2], R = bc.dims[1];
    if (sf[2] == 1 && sf[1] == C && sf[0] == R * C && sc[2] == 1 && sc[1] == 0 && sc[0] == C) {
      *r = R;
      *c = C;
      return true;
    }
  }
  return false;
}

template <typename T>
Status BinaryT(const TensorArg& a, const TensorArg& b, const TensorArg& out, const Bcast& bc,
               BinParams p, cudaStream_t s) {
  const T* pa = static_cast<const T*>(a.data);
  const T* pb = static_cast<const T*>(b.data);
  T* po = static_cast<T*>(out.data);
  const int64_t n = out.elements();
  if (bc.rank == 0) return LaunchSame<T>(pa, pb, po, n, p, s);  // every dim 1
  if (bc.rank == 1) {
    const int64_t ta = bc.sa[0], tb = bc.sb[0];
    if (ta == 1 && tb == 1) return LaunchSame<T>(pa, pb, po, n, p, s);
    if (ta == 1 && tb == 0) return LaunchScalar<T>(pa, pb, po, n, p, s);
    if (ta == 0 && tb == 1) {
      p.swap = true;
      return LaunchScalar<T>(pb, pa, po, n, p, s);
    }
  }
  int64_t r = 0, c = 0;
  if (IsPerChannel(bc, bc.sa, bc.sb, &r, &c)) return LaunchChannel<T>(pa, pb, po, n, r, c, p, s);
  if (IsPerChannel(bc, bc.sb, bc.sa, &r, &c)) {
    p.swap = true;
    return LaunchChannel<T>(pb, pa, po, n, r, c, p, s);
  }
  // [R, C] against [R] (one value per row, broadcast over the innermost axis).
  if (bc.rank == 2 && bc.sa[0] == bc.dims[1] && bc.sa[1] == 1 && bc.sb[0] == 1 && bc.sb[1] == 0) {
    return LaunchRow<T>(pa, pb, po, n, bc.dims[1], p, s);
  }
  if (bc.rank == 2 && bc.sb[0] == bc.dims[1] && bc.sb[1] == 1 && bc.sa[0] == 1 && bc.sa[1] == 0) {
    p.swap = true;
    return LaunchRow<T>(pb, pa, po, n, bc.dims[1], p, s);
  }
  return LaunchGeneral<T>(pa, pb, po, n, bc, p, s);
}

// ---- Unary, ChannelAffine -----------------------------------------------------------------------

__device__ __forceinline__ float UnaryF(UnaryOp op, float x) {
  switch (op) {
    case UnaryOp::kAct: return x;
    case UnaryOp::kSqrt: return sqrtf(x);
    case UnaryOp::kExp: return expf(x);
    case UnaryOp::kLog: return logf(x);
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kAbs: return fabsf(x);
    case UnaryOp::kReciprocal: return 1.f / x;
    case UnaryOp::kFloor: return floorf(x);
    case UnaryOp::kCeil: return ceilf(x);
    case UnaryOp::kErf: return erff(x);
  }
  return x;
}

struct UnParams {
  UnaryOp op;
  Act act;
  float alpha, beta;
};

template <typename T, int V>
__global__ void UnaryKernel(const T* x, T* o, int64_t nv, UnParams p) {
  using P = Pack<T, V>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv;
       i += stride) {
    const P v = reinterpret_cast<const P*>(x)[i];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      r.v[k] = FromF<T>(ActF(p.act, UnaryF(p.op, ToF(v.v[k])), p.alpha, p.beta));
    }
    reinterpret_cast<P*>(o)[i] = r;
  }
}

template <typename T>
Status UnaryT(const TensorArg& x, const TensorArg& out, const UnParams& p, cudaStream_t s) {
  const T* px = static_cast<const T*>(x.data);
  T* po = static_cast<T*>(out.data);
  const int64_t n = x.elements();
  constexpr int V = kVec<T>;
  int64_t done = 0;
  if (Aligned(px, 16) && Aligned(po, 16) && n >= V) {
    const int64_t nv = n / V;
    UnaryKernel<T, V><<<Blocks(nv), kThreads, 0, s>>>(px, po, nv, p);
    VRSEG_ENGINE_LAUNCH_CHECK("Unary(packed)");
    done = nv * V;
  }
  if (done < n) {
    UnaryKernel<T, 1><<<Blocks(n - done), kThreads, 0, s>>>(px + done, po + done, n - done, p);
    VRSEG_ENGINE_LAUNCH_CHECK("Unary");
  }
  return Status::Ok();
}

// x [R, C] (as packs of V along C): out = act(x * scale[c] + shift[c]).
template <typename T, int V, typename Idx>
__global__ void AffineKernel(const T* x, const float* scale, const float* shift, T* o, Idx nv,
                             Idx cv, Act act, float alpha, float beta) {
  using P = Pack<T, V>;
  const Idx stride = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += stride) {
    const Idx c0 = (i % cv) * V;
    const P v = reinterpret_cast<const P*>(x)[i];
    P r;
#pragma unroll
    for (int k = 0; k < V; ++k) {
      r.v[k] = FromF<T>(
          ActF(act, ToF(v.v[k]) * __ldg(scale + c0 + k) + __ldg(shift + c0 + k), alpha, beta));
    }
    reinterpret_cast<P*>(o)[i] = r;
  }
}

template <typename T, int V>
Status LaunchAffineV(const T* x, const float* scale, const float* shift, T* o, int64_t n, int64_t c,
                     Act act, float alpha, float beta, cudaStream_t s) {
  const int64_t nv = n / V, cv = c / V;
  if (nv < (int64_t{1} << 31)) {
    AffineKernel<T, V, uint32_t><<<Blocks(nv), kThreads, 0, s>>>(
        x, scale, shift, o, static_cast<uint32_t>(nv), static_cast<uint32_t>(cv), act, alpha, beta);
  } else {
    AffineKernel<T, V, int64_t>
        <<<Blocks(nv), kThreads, 0, s>>>(x, scale, shift, o, nv, cv, act, alpha, beta);
  }
  VRSEG_ENGINE_LAUNCH_CHECK("ChannelAffine");
  return Status::Ok();
}

template <typename T>
Status AffineT(const TensorArg& x, const float* scale, const float* shift, const TensorArg& out,
               Act act, float alpha, float beta, cudaStream_t s) {
  const T* px = static_cast<const T*>(x.data);
  T* po = static_cast<T*>(out.data);
  const int64_t n = x.elements();
  const int64_t c = x.dims.back();
  if (c % 4 == 0 && Aligned(px, 4 * sizeof(T)) && Aligned(po, 4 * sizeof(T))) {
    return LaunchAffineV<T, 4>(px, scale, shift, po, n, c, act, alpha, beta, s);
  }
  return LaunchAffineV<T, 1>(px, scale, shift, po, n, c, act, alpha, beta, s);
}

// ---- Cast ---------------------------------------------------------------------------------------

template <typename T>
__device__ __forceinline__ float AnyToF(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return v ? 1.f : 0.f;
  } else {
    return static_cast<float>(v);
  }
}

template <typename Out, typename In>
__device__ __forceinline__ Out Convert(In v) {
  if constexpr (std::is_same_v<Out, uint8_t>) {  // bool
    if constexpr (std::is_same_v<In, int64_t>) {
      return v != 0 ? 1 : 0;
    } else {
      return AnyToF(v) != 0.f ? 1 : 0;
    }
  } else if constexpr (std::is_same_v<Out, int64_t>) {
    if constexpr (std::is_same_v<In, uint8_t>) {
      return v ? 1 : 0;
    } else {
      return static_cast<int64_t>(AnyToF(v));  // truncation toward zero
    }
  } else if constexpr (std::is_same_v<Out, __half>) {
    return __float2half_rn(AnyToF(v));
  } else {
    return AnyToF(v);
  }
}

template <typename In, typename Out, int V>
__global__ void CastKernel(const In* x, Out* o, int64_t nv) {
  using PI = Pack<In, V>;
  using PO = Pack<Out, V>;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < nv;
       i += stride) {
    const PI v = reinterpret_cast<const PI*>(x)[i];
    PO r;
#pragma unroll
    for (int k = 0; k < V; ++k) r.v[k] = Convert<Out>(v.v[k]);
    reinterpret_cast<PO*>(o)[i] = r;
  }
}

template <typename In, typename Out>
Status CastT(const void* x, void* out, int64_t n, cudaStream_t s) {
  const In* px = static_cast<const In*>(x);
  Out* po = static_cast<Out*>(out);
  constexpr int V = 4;
  int64_t done = 0;
  if (Aligned(px, V * sizeof(In)) && Aligned(po, V * sizeof(Out)) && n >= V) {
    const int64_t nv = n / V;
    CastKernel<In, Out, V><<<Blocks(nv), kThreads, 0, s>>>(px, po, nv);
    VRSEG_ENGINE_LAUNCH_CHECK("Cast(packed)");
    done = nv * V;
  }
  if (done < n) {
    CastKernel<In, Out, 1><<<Blocks(n - done), kThreads, 0, s>>>(px + done, po + done, n - done);
    VRSEG_ENGINE_LAUNCH_CHECK("Cast");
  }
  return Status::Ok();
}

template <typename In>
Status CastFrom(DT to, const void* x, void* out, int64_t n, cudaStream_t s) {
  switch (to) {
    case DT::kF32: return CastT<In, float>(x, out, n, s);
    case DT::kF16: return CastT<In, __half>(x, out, n, s);
    case DT::kI64: return CastT<In, int64_t>(x, out, n, s);
    case DT::kBool: return CastT<In, uint8_t>(x, out, n, s);
  }
  return Bad("Cast", "unknown output dtype");
}

}  // namespace

Status Binary(BinOp op, const TensorArg& a, const TensorArg& b, const TensorArg& out, Act act,
              float alpha, float beta, cudaStream_t stream) {
  constexpr const char* K = "Binary";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "a", a));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "b", b));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "out", out));
  if (a.dt != out.dt || b.dt != out.dt) {
    return Bad(K, std::string("dtypes differ: a ") + DTName(a.dt) + ", b " + DTName(b.dt) +
                      ", out " + DTName(out.dt));
  }
  const int ra = static_cast<int>(a.dims.size()), rb = static_cast<int>(b.dims.size());
  const int ro = static_cast<int>(out.dims.size());
  const std::string shapes =
      "a " + DimsStr(a.dims) + ", b " + DimsStr(b.dims) + ", out " + DimsStr(out.dims);
  if (ro != std::max(ra, rb)) return Bad(K, "out rank is not the larger input rank: " + shapes);
  // Per out axis: its size and each input's stride (0 where broadcast).
  int64_t stride_a = 1, stride_b = 1;
  std::vector<int64_t> dims(ro), st_a(ro), st_b(ro);
  for (int i = ro - 1; i >= 0; --i) {
    const int ia = i - (ro - ra), ib = i - (ro - rb);
    const int64_t da = ia >= 0 ? a.dims[ia] : 1, db = ib >= 0 ? b.dims[ib] : 1;
    const int64_t d = out.dims[i];
    const int64_t bd = da == 1 ? db : da;
    if ((da != db && da != 1 && db != 1) || bd != d) {
      return Bad(K, "dims do not broadcast: " + shapes);
    }
    dims[i] = d;
    st_a[i] = (da == 1) ? 0 : stride_a;
    st_b[i] = (db == 1) ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  const int64_t n = out.elements();
  if (n == 0) return Status::Ok();
  // Canonical form: drop size-1 axes, merge an axis into its inner neighbour where both inputs
  // continue the same walk.
  Bcast bc;
  std::vector<int64_t> md, ma, mb;  // innermost first while building
  for (int i = ro - 1; i >= 0; --i) {
    if (dims[i] == 1) continue;
    if (!md.empty() && st_a[i] == ma.back() * md.back() && st_b[i] == mb.back() * md.back()) {
      md.back() *= dims[i];
      continue;
    }
    md.push_back(dims[i]);
    ma.push_back(st_a[i]);
    mb.push_back(st_b[i]);
  }
  bc.rank = static_cast<int>(md.size());
  for (int j = 0; j < bc.rank; ++j) {  // back to outermost first
    bc.dims[j] = md[bc.rank - 1 - j];
    bc.sa[j] = ma[bc.rank - 1 - j];
    bc.sb[j] = mb[bc.rank - 1 - j];
  }
  BinParams p{op, act, alpha, beta, false};
  if (out.dt == DT::kF32) return BinaryT<float>(a, b, out, bc, p, stream);
  return BinaryT<__half>(a, b, out, bc, p, stream);
}

Status Unary(UnaryOp op, Act act, float alpha, float beta, const TensorArg& x, const TensorArg& out,
             cudaStream_t stream) {
  constexpr const char* K = "Unary";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(K, x, out));
  if (x.elements() != out.elements()) {
    return Bad(K, "x " + DimsStr(x.dims) + " and out " + DimsStr(out.dims) + " differ in size");
  }
  if (x.elements() == 0) return Status::Ok();
  const UnParams p{op, act, alpha, beta};
  if (x.dt == DT::kF32) return UnaryT<float>(x, out, p, stream);
  return UnaryT<__half>(x, out, p, stream);
}

Status ChannelAffine(const TensorArg& x, const float* scale, const float* shift,
                     const TensorArg& out, Act act, float alpha, float beta, cudaStream_t stream) {
  constexpr const char* K = "ChannelAffine";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  VRSEG_RETURN_IF_ERROR(CheckFloat(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckSameDT(K, x, out));
  if (x.dims.empty()) return Bad(K, "x has rank 0 (no channel axis)");
  if (x.dims != out.dims) {
    return Bad(K, "x " + DimsStr(x.dims) + " and out " + DimsStr(out.dims) + " differ");
  }
  if (x.elements() == 0) return Status::Ok();
  if (scale == nullptr || shift == nullptr) return Bad(K, "scale or shift is null");
  if (x.dt == DT::kF32) return AffineT<float>(x, scale, shift, out, act, alpha, beta, stream);
  return AffineT<__half>(x, scale, shift, out, act, alpha, beta, stream);
}

Status Cast(const TensorArg& x, const TensorArg& out, cudaStream_t stream) {
  constexpr const char* K = "Cast";
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "x", x));
  VRSEG_RETURN_IF_ERROR(CheckTensor(K, "out", out));
  const int64_t n = x.elements();
  if (n != out.elements()) {
    return Bad(K, "x " + DimsStr(x.dims) + " and out " + DimsStr(out.dims) + " differ in size");
  }
  if (n == 0) return Status::Ok();
  if (x.dt == out.dt) {
    if (x.data != out.data) {
      VRSEG_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(out.data, x.data, n * DTSize(x.dt), cudaMemcpyDeviceToDevice, stream));
    }
    return Status::Ok();
  }
  switch (x.dt) {
    case DT::kF32: return CastFrom<float>(out.dt, x.data, out.data, n, stream);
    case DT::kF16: return CastFrom<__half>(out.dt, x.data, out.data, n, stream);
    case DT::kI64: return CastFrom<int64_t>(out.dt, x.data, out.data, n, stream);
    case DT::kBool: return CastFrom<uint8_t>(out.dt, x.data, out.data, n, stream);
  }
  return Bad(K, "unknown input dtype");
}

}  // namespace vrseg::engine::gpu
