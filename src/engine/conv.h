// engine/conv.h (private to src/engine) — convolutions and matrix products on the GPU, each with
// several tactics (cuDNN engines, cuDNN's fused conv+bias+activation, cuBLASLt GEMMs for 1x1
// convolutions, our own depthwise kernels) that the builder times on the layer's real shapes.
//
// Contract: activations NHWC ([N,H,W,C]), fp32 or fp16 with fp32 accumulation; weights and bias
// are prepared once on the host into the layout and type the tactic wants (Prepare*), stored in
// the plan and uploaded by the runtime. A runner is made per (layer, tactic, batch size); Run
// enqueues on the caller's stream, allocates nothing, never synchronises, and is CUDA-graph safe.
// Every runner applies the layer's whole Epilogue (bias, residual before/after the activation,
// activation), fused where the library can, otherwise in one extra elementwise pass of ours.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/ir.h"
#include "engine/kernels.h"
#include "engine/ref.h"
#include "vrseg/status.h"

namespace vrseg::engine::gpu {

// Library handles and device facts, one per engine per device. Not thread-safe: one engine (and
// so one context) is used by one thread at a time.
class GpuContext {
 public:
  static Result<std::unique_ptr<GpuContext>> Create(int device);
  ~GpuContext();
  GpuContext(const GpuContext&) = delete;
  GpuContext& operator=(const GpuContext&) = delete;

  int device() const { return device_; }
  const cudaDeviceProp& props() const { return props_; }
  std::string gpu_name() const { return props_.name; }
  int cc() const { return props_.major * 10 + props_.minor; }   // 90 for Hopper
  int cuda_runtime_version() const;   // cudaRuntimeGetVersion
  size_t cudnn_version() const;       // cudnnGetVersion
  int cublas_version() const;         // cublasLtGetVersion
  cudnnHandle_t cudnn() const { return cudnn_; }
  cublasLtHandle_t lt() const { return lt_; }
  cublasHandle_t blas() const { return blas_; }

 private:
  GpuContext() = default;
  int device_ = 0;
  cudaDeviceProp props_{};
  cudnnHandle_t cudnn_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  cublasHandle_t blas_ = nullptr;
};

// ---- convolution --------------------------------------------------------------------------------

struct ConvDesc {
  ConvShape shape;          // n is ignored (the batch is per runner); transposed for ConvTranspose
  DT dt = DT::kF32;         // activations and weights (kF32 or kF16); accumulation is fp32
  bool has_bias = false;
  Act act = Act::kNone;
  float alpha = 0, beta = 0;
  bool has_residual = false;
  bool residual_after_act = false;
};

enum class ConvAlgo : uint8_t {
  kCudnn = 0,       // cudnnConvolutionForward (or BackwardData for transposed) + our epilogue
  kCudnnFused,      // cudnnConvolutionBiasActivationForward (relu/identity; residual as z)
  kCublasLt,        // 1x1, stride 1, no padding, groups 1: a GEMM with bias/relu epilogue
  kDepthwise,       // our kernel: groups == C == K
  kDirect,          // our generic direct kernel (any shape; the fallback of last resort)
};
const char* ConvAlgoName(ConvAlgo a);

// A tactic is plain data so that it can be written into a plan file.
struct ConvTactic {
  ConvAlgo algo = ConvAlgo::kCudnn;
  int32_t sub = 0;      // cuDNN algorithm enum, cuBLASLt heuristic rank, or our kernel variant
  bool operator==(const ConvTactic&) const = default;
  std::string Name() const;   // "cudnn:IMPLICIT_PRECOMP_GEMM", "cublaslt:#2", "depthwise:v1"
};

// The tactics worth timing for this layer at this batch (supported ones only).
std::vector<ConvTactic> CandidateConvTactics(GpuContext& ctx, const ConvDesc& d, int64_t batch);

// Host-side weight and bias preparation for a tactic. `w` is the ONNX weight, fp32, logical layout
// (Conv: [K][C/groups][R][S]; ConvTranspose: [C][K/groups][R][S]); `b` is [K] or null. Returns the
// bytes to upload (bias may come back empty when has_bias is false).
std::vector<uint8_t> PrepareConvWeights(const ConvDesc& d, const ConvTactic& t, const float* w);
std::vector<uint8_t> PrepareConvBias(const ConvDesc& d, const ConvTactic& t, const float* b);

class ConvRunner {
 public:
  virtual ~ConvRunner() = default;
  // Made per batch size; may query the library (heuristics, descriptors) but allocates no device
  // memory: the caller gives a workspace of workspace_bytes().
  static Result<std::unique_ptr<ConvRunner>> Create(GpuContext& ctx, const ConvDesc& d,
                                                    const ConvTactic& t, int64_t batch);
  virtual size_t workspace_bytes() const = 0;
  // x: [batch,H,W,C]; w, bias: prepared and on the device; residual: like y or null; y: [batch,OH,OW,K].
  virtual Status Run(const void* x, const void* w, const void* bias, const void* residual, void* y,
                     void* workspace, cudaStream_t stream) = 0;
};

// ---- matrix products (MatMul, Gemm) -------------------------------------------------------------

// out[b] = act(A[b] · B[b or 0] (+ bias) (+ residual)) for b < batch_count, all row-major:
// A [M,K] (or [K,M] when trans_a), B [K,N] (or [N,K] when trans_b), out [M,N], bias [N].
// alpha scales the product (Gemm's alpha); Gemm's beta·C is passed as bias (C is [N] or [1,N])
// with bias_scale = beta.
struct GemmDesc {
  int64_t m = 0, n = 0, k = 0;
  int64_t batch_count = 1;
  bool trans_a = false, trans_b = false;
  bool b_broadcast = true;        // one B for every batch entry (weights)
  float alpha = 1, bias_scale = 1;
  DT dt = DT::kF32;
  bool has_bias = false;
  Act act = Act::kNone;
  float act_alpha = 0, act_beta = 0;
  bool has_residual = false;      // residual [batch_count,M,N] added before the activation
  bool residual_after_act = false;
};
struct GemmTactic {
  int32_t sub = 0;                // cuBLASLt heuristic rank
  bool operator==(const GemmTactic&) const = default;
  std::string Name() const;
};
std::vector<GemmTactic> CandidateGemmTactics(GpuContext& ctx, const GemmDesc& d);
// Converts a constant B (fp32, [K,N] or [N,K] as trans_b says) and bias to the tactic's bytes.
std::vector<uint8_t> PrepareGemmB(const GemmDesc& d, const float* b);
std::vector<uint8_t> PrepareGemmBias(const GemmDesc& d, const float* bias);

class GemmRunner {
 public:
  virtual ~GemmRunner() = default;
  static Result<std::unique_ptr<GemmRunner>> Create(GpuContext& ctx, const GemmDesc& d,
                                                    const GemmTactic& t);
  virtual size_t workspace_bytes() const = 0;
  virtual Status Run(const void* a, const void* b, const void* bias, const void* residual, void* out,
                     void* workspace, cudaStream_t stream) = 0;
};

}  // namespace vrseg::engine::gpu
