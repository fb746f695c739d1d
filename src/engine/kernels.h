// engine/kernels.h (private to src/engine) — the engine's own CUDA kernels (everything but
// convolutions and GEMMs, which are in conv.h).
//
// All kernels take *physical* dims (row-major, innermost last; NHWC activations arrive as
// [N,H,W,C]), run on the caller's stream, allocate nothing, never synchronise, and are safe to
// capture in a CUDA graph. Float tensors are fp32 or fp16 (DT::kF16) with fp32 arithmetic inside;
// input and output dtypes of one call are the same unless stated. Errors (bad arguments, launch
// failure) return a Status naming the kernel. Each has a CPU reference in ref.h and a parity test
// in tests/engine/kernels_test.cu.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "engine/ir.h"
#include "engine/ref.h"
#include "vrseg/status.h"

namespace vrseg::engine::gpu {

enum class DT : uint8_t { kF32 = 0, kF16, kI64, kBool };
int DTSize(DT t);

struct TensorArg {
  void* data = nullptr;
  DT dt = DT::kF32;
  std::vector<int64_t> dims;  // physical
  int64_t elements() const;
};

// out = act(a op b) with numpy broadcasting on physical dims (ranks right-aligned, up to 6).
// Same-shape and "b is per-innermost-channel" cases take fast paths.
Status Binary(BinOp op, const TensorArg& a, const TensorArg& b, const TensorArg& out, Act act,
              float alpha, float beta, cudaStream_t stream);
// out = act(x); also used for standalone Relu/Clip/Sigmoid/...; Act::kNone copies.
enum class UnaryOp : uint8_t { kAct, kSqrt, kExp, kLog, kNeg, kAbs, kReciprocal, kFloor, kCeil, kErf };
Status Unary(UnaryOp op, Act act, float alpha, float beta, const TensorArg& x, const TensorArg& out,
             cudaStream_t stream);
// out = x * scale[c] + shift[c] over the innermost axis (BatchNormalization not folded into a
// conv, after the builder turned it into scale/shift), then the activation. scale/shift fp32.
Status ChannelAffine(const TensorArg& x, const float* scale, const float* shift, const TensorArg& out,
                     Act act, float alpha, float beta, cudaStream_t stream);
// fp32 <-> fp16 conversion (also for graph inputs/outputs when the plan's precision differs).
Status Cast(const TensorArg& x, const TensorArg& out, cudaStream_t stream);

// Pooling over NHWC [N,H,W,C]. kAvg honours count_include_pad; ceil_mode is folded into the
// output size the caller passes.
enum class PoolKind : uint8_t { kMax, kAvg };
struct PoolArgs {
  PoolKind kind = PoolKind::kMax;
  int64_t kh = 1, kw = 1, stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0;          // bottom/right padding is implied by out dims
  int64_t dil_h = 1, dil_w = 1;
  bool count_include_pad = false;
  // Optional (H3 addition): the ONNX bottom/right pads. Only kAvg with count_include_pad reads
  // them (padded positions count up to H + pad_bottom, as ONNX Runtime does with ceil_mode);
  // -1 derives them from the out dims, which is exact without ceil_mode.
  int64_t pad_bottom = -1, pad_right = -1;
};
Status Pool2D(const PoolArgs& p, const TensorArg& x, const TensorArg& out, cudaStream_t stream);
// Mean over H and W of NHWC [N,H,W,C] into [N,1,1,C] (GlobalAveragePool, ReduceMean over 2,3).
Status GlobalAvgPool(const TensorArg& x, const TensorArg& out, cudaStream_t stream);
// A squeeze-excite gate in one kernel: out[n,j] = act2(b2[j] + sum_k w2[j,k] * act1(b1[k] +
// sum_c w1[k,c] * mean_hw(x[n,:,:,c]))). x NHWC [N,H,W,C], out [N,1,1,C2] (= [N,C2,1,1]); the
// weights are fp32 device arrays ([C1][C], [C1], [C2][C1], [C2]); everything between x and out is
// fp32 (closer to the reference than three layers storing fp16 between them). The reference: the
// SqueezeExcite op (ref_ops.cc).
struct SqueezeExciteArgs {
  const float* w1 = nullptr;
  const float* b1 = nullptr;
  const float* w2 = nullptr;
  const float* b2 = nullptr;
  int c1 = 0;
  Act act1 = Act::kNone, act2 = Act::kNone;
  float act1_alpha = 0, act1_beta = 0, act2_alpha = 0, act2_beta = 0;
};
Status SqueezeExcite(const SqueezeExciteArgs& a, const TensorArg& x, const TensorArg& out,
                     cudaStream_t stream);
// The kernel holds the means, the hidden values and all weights in shared memory: at most
// kSqueezeExciteMaxSharedBytes (ir.h; the optimiser fuses only blocks that fit).

// Resize of NHWC [N,H,W,C] to [N,OH,OW,C]. Coordinate transform as ONNX's
// coordinate_transformation_mode; nearest_mode as ONNX (round_prefer_floor, floor, ...).
enum class ResizeMode : uint8_t { kNearest, kLinear };
enum class CoordMode : uint8_t { kHalfPixel, kPytorchHalfPixel, kAlignCorners, kAsymmetric, kTfHalfPixelForNN };
enum class NearestMode : uint8_t { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
struct ResizeArgs {
  ResizeMode mode = ResizeMode::kLinear;
  CoordMode coord = CoordMode::kHalfPixel;
  NearestMode nearest = NearestMode::kRoundPreferFloor;
  float scale_h = 0, scale_w = 0;   // ONNX scales when given (0: derived as out/in)
};
Status Resize2D(const ResizeArgs& r, const TensorArg& x, const TensorArg& out, cudaStream_t stream);

// Data movement on physical dims (any rank up to 6, any DT).
Status Concat(const std::vector<TensorArg>& xs, int axis, const TensorArg& out, cudaStream_t stream);
Status Slice(const TensorArg& x, const std::vector<int64_t>& starts, const std::vector<int64_t>& steps,
             const TensorArg& out, cudaStream_t stream);   // per-axis start and step (step may be < 0)
Status Transpose(const TensorArg& x, const std::vector<int>& perm, const TensorArg& out,
                 cudaStream_t stream);                     // out dims[i] = x dims[perm[i]]
enum class PadMode : uint8_t { kConstant, kReflect, kEdge };
Status Pad(const TensorArg& x, const std::vector<int64_t>& pads_begin, PadMode mode, float value,
           const TensorArg& out, cudaStream_t stream);     // out dims give the end padding
// Softmax / LogSoftmax over one physical axis (fp32 accumulation; max-subtracted).
Status Softmax(const TensorArg& x, int axis, bool log, const TensorArg& out, cudaStream_t stream);
// ArgMax over one axis into int64 (keepdims handled by the caller's dims); first maximum wins
// unless select_last_index.
Status ArgMax(const TensorArg& x, int axis, bool select_last_index, const TensorArg& out,
              cudaStream_t stream);
// Mean over the listed physical axes (out dims keep 1 where reduced).
Status ReduceMean(const TensorArg& x, const std::vector<int>& axes, const TensorArg& out,
                  cudaStream_t stream);
// Gather along `axis` with constant int64 indices that the builder uploaded to the device (the
// only case the engine builds); negative indices wrap.
Status GatherConst(const TensorArg& x, int axis, const int64_t* indices_device, int64_t count,
                   const TensorArg& out, cudaStream_t stream);

}  // namespace vrseg::engine::gpu
