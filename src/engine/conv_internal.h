// engine/conv_internal.h (private to the conv/gemm tactic files: conv.cc, conv_cudnn.cc,
// conv_cublaslt.cc, gemm.cc, conv_depthwise.cu, conv_direct.cu, epilogue.cu) — what the tactic
// families share: library status checks, layer descriptions for messages, the launchers of our
// own kernels, the cuDNN and cuBLASLt factories that conv.cc dispatches to.
//
// Pointers handed to runners must be 16-byte aligned (cuBLASLt is asked for algorithms that need
// no more). A residual may alias y only when it is added before the activation (every tactic copes
// with that); a residual added after the activation must not alias y.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/conv.h"

namespace vrseg::engine::gpu::internal {

// ---- checks and messages ------------------------------------------------------------------------

// OK for CUDNN_STATUS_SUCCESS; otherwise kInternal (kOutOfMemory for allocation failures,
// kUnsupported for NOT_SUPPORTED) naming `what` (the layer), the call and cuDNN's error string.
Status CudnnCheck(cudnnStatus_t s, const char* call, const std::string& what);
// The same for cuBLAS / cuBLASLt statuses (cublasGetStatusString).
Status CublasCheck(cublasStatus_t s, const char* call, const std::string& what);

#define VRSEG_CUDNN_RETURN_IF_ERROR(call, what)                          \
  do {                                                                   \
    ::vrseg::Status vrseg_cudnn_status_ =                                \
        ::vrseg::engine::gpu::internal::CudnnCheck((call), #call, what); \
    if (!vrseg_cudnn_status_.ok()) return vrseg_cudnn_status_;           \
  } while (0)
#define VRSEG_CUBLAS_RETURN_IF_ERROR(call, what)                          \
  do {                                                                    \
    ::vrseg::Status vrseg_cublas_status_ =                                \
        ::vrseg::engine::gpu::internal::CublasCheck((call), #call, what); \
    if (!vrseg_cublas_status_.ok()) return vrseg_cublas_status_;          \
  } while (0)

// "conv 3x3/s2 g1 [2,64,64,32]->[2,32,32,64] f16 relu+res" — for messages.
std::string DescribeConv(const ConvDesc& d, int64_t batch);
// "gemm 1024x64x32 x2 f16 ..." — for messages.
std::string DescribeGemm(const GemmDesc& d);
// Output spatial size of a conv (regular or transposed), independent of the batch.
int64_t ConvOutH(const ConvShape& s);
int64_t ConvOutW(const ConvShape& s);
// Checks the shape's fields (positive sizes, divisibility by groups, output size > 0).
Status ValidateConv(const ConvDesc& d, int64_t batch);
// Bytes per element of kF32 / kF16 (the only float types convs and GEMMs take).
inline int FloatSize(DT t) { return t == DT::kF16 ? 2 : 4; }
// fp32 values to the bytes of `dt` (fp16 rounds to nearest even).
std::vector<uint8_t> ToBytes(const std::vector<float>& v, DT dt);

// ---- our kernels (conv_direct.cu, conv_depthwise.cu, epilogue.cu) ------------------------------

// One convolution with its whole epilogue, for our own kernels. `x`, `w`, `residual` and `y` are
// of `dt`; bias is fp32 [K] or null. Weights: direct kernel: [K][R][S][C/g] (transposed:
// [C][R][S][K/g]); depthwise kernel: [R][S][C].
struct ConvKernelArgs {
  ConvShape shape;  // n is the batch
  DT dt = DT::kF32;
  const void* x = nullptr;
  const void* w = nullptr;
  const float* bias = nullptr;
  const void* residual = nullptr;
  bool residual_after_act = false;
  Act act = Act::kNone;
  float alpha = 0, beta = 0;
  void* y = nullptr;
  // depthwise: 1 two channels a thread, 2 one 16-byte vector of channels a thread;
  // direct: 1 generic, 2 weights in shared memory and 8 output channels a thread.
  int variant = 1;
};
// Direct v2 takes regular one-group convolutions with K % 8 == 0, at most 8192 weights, and
// tensors below 2^30 elements.
bool DirectSmemFits(const ConvDesc& d, int64_t batch);
// Depthwise v2 needs C to fill whole 16-byte vectors (8 fp16 or 4 fp32 channels).
bool DepthwiseVectorFits(const ConvDesc& d);
Status LaunchDirectConv(const ConvKernelArgs& a, cudaStream_t stream);
Status LaunchDepthwiseConv(const ConvKernelArgs& a, cudaStream_t stream);

// In place on y ([rows, channels], row-major, of `dt`):
//   v = y (+ bias[c]) (+ residual_before) ; v = act(v) ; (+ residual_after) ; y = v
// bias is of bias_dt (kF32 or kF16) or null; residuals are of `dt`, like y, or null, and do not
// alias y (y already holds the product when this runs).
struct EpilogueArgs {
  void* y = nullptr;
  DT dt = DT::kF32;
  int64_t rows = 0, channels = 0;
  const void* bias = nullptr;
  DT bias_dt = DT::kF32;
  const void* residual_before = nullptr;
  const void* residual_after = nullptr;
  Act act = Act::kNone;
  float alpha = 0, beta = 0;
};
Status LaunchEpilogue(const EpilogueArgs& a, cudaStream_t stream);

// ---- cuDNN (conv_cudnn.cc) ----------------------------------------------------------------------

// Transposed convolutions run as cudnnConvolutionBackwardData; their ConvTactic::sub is
// kCudnnBwdDataBase + the cudnnConvolutionBwdDataAlgo_t, so names and plans tell them apart.
constexpr int32_t kCudnnBwdDataBase = 100;
// Largest workspace a cuDNN candidate may ask for; bigger ones are not offered.
constexpr size_t kMaxCudnnWorkspace = size_t{256} << 20;

bool CudnnHandles(const ConvDesc& d);  // symmetric padding (cuDNN's descriptor has one per axis)
bool CudnnFusedHandles(const ConvDesc& d);  // act relu/none, residual none or before, bias present
std::vector<ConvTactic> CudnnCandidates(GpuContext& ctx, const ConvDesc& d, int64_t batch);
Result<std::unique_ptr<ConvRunner>> CreateCudnnRunner(GpuContext& ctx, const ConvDesc& d,
                                                      const ConvTactic& t, int64_t batch);
const char* CudnnFwdAlgoName(int algo);
const char* CudnnBwdDataAlgoName(int algo);

// ---- cuBLASLt (gemm.cc, conv_cublaslt.cc) -------------------------------------------------------

// How many heuristic results are offered as tactics.
constexpr int kLtCandidates = 4;
// The workspace cuBLASLt may use.
constexpr size_t kLtMaxWorkspace = size_t{32} << 20;

// A matmul plan: descriptors for GemmDesc `d`, the chosen heuristic result, and what remains for
// our epilogue pass. Not copyable.
class LtMatmul {
 public:
  // Builds descriptors; `what` names the layer in messages.
  static Result<std::unique_ptr<LtMatmul>> Create(GpuContext& ctx, const GemmDesc& d,
                                                  std::string what);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  // Up to `count` heuristic results (best first); empty when cuBLASLt has none.
  Result<std::vector<cublasLtMatmulHeuristicResult_t>> Heuristics(int count);
  // Picks heuristic rank `rank` (or the last one offered when fewer come back at this shape).
  Status Select(int rank);
  size_t workspace_bytes() const { return workspace_; }
  // out = epilogue(A·B): the cuBLASLt call plus at most one epilogue pass.
  Status Run(const void* a, const void* b, const void* bias, const void* residual, void* out,
             void* workspace, cudaStream_t stream);

 private:
  LtMatmul() = default;
  GpuContext* ctx_ = nullptr;
  GemmDesc d_;
  std::string what_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t la_ = nullptr, lb_ = nullptr, lcd_ = nullptr;
  cublasLtMatmulPreference_t pref_ = nullptr;
  bool lt_bias_ = false;      // bias added by cuBLASLt's epilogue
  bool lt_relu_ = false;      // relu applied by cuBLASLt
  bool lt_residual_ = false;  // residual added through C (beta = 1)
  bool our_pass_ = false;     // the activation or the after-act residual is left to our kernel
  bool selected_ = false;
  cublasLtMatmulAlgo_t algo_{};
  size_t workspace_ = 0;
};

std::vector<ConvTactic> CublasLtConvCandidates(GpuContext& ctx, const ConvDesc& d, int64_t batch);
bool CublasLtHandles(const ConvDesc& d);  // 1x1, stride 1, pad 0, dilation 1, groups 1, regular
Result<std::unique_ptr<ConvRunner>> CreateCublasLtRunner(GpuContext& ctx, const ConvDesc& d,
                                                         const ConvTactic& t, int64_t batch);

}  // namespace vrseg::engine::gpu::internal
