// cuDNN convolution tactics (legacy v7/v8 API, still in cuDNN 9): cudnnConvolutionForward plus our
// epilogue pass, cudnnConvolutionBiasActivationForward (relu/identity, residual as z), and
// cudnnConvolutionBackwardData for ConvTranspose. NHWC tensors, KRSC filters, fp32 accumulation.
// fp32 uses CUDNN_FMA_MATH (no TF32, so results match the fp32 reference); fp16 tensor cores.
#ifdef VRSEG_HAVE_CUDA

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "engine/conv.h"
#include "engine/conv_internal.h"

namespace vrseg::engine::gpu::internal {
namespace {

// The descriptors of one layer at one batch; destroyed together.
struct CudnnDescs {
  cudnnTensorDescriptor_t x = nullptr;     // input (dy for transposed)
  cudnnTensorDescriptor_t y = nullptr;     // output (dx for transposed); also z
  cudnnTensorDescriptor_t bias = nullptr;  // fused only
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnActivationDescriptor_t act = nullptr;  // fused only
  CudnnDescs() = default;
  CudnnDescs(const CudnnDescs&) = delete;
  CudnnDescs& operator=(const CudnnDescs&) = delete;
  ~CudnnDescs() {
    if (x != nullptr) cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) cudnnDestroyTensorDescriptor(y);
    if (bias != nullptr) cudnnDestroyTensorDescriptor(bias);
    if (w != nullptr) cudnnDestroyFilterDescriptor(w);
    if (conv != nullptr) cudnnDestroyConvolutionDescriptor(conv);
    if (act != nullptr) cudnnDestroyActivationDescriptor(act);
  }
};

bool FitsInt(int64_t v) { return v >= 0 && v <= INT_MAX; }

Status MakeDescs(const ConvDesc& d, int64_t batch, bool fused, const std::string& what,
                 CudnnDescs* out) {
  const ConvShape& s = d.shape;
  const int64_t oh = ConvOutH(s), ow = ConvOutW(s);
  for (int64_t v :
       {batch, s.h, s.w, s.c, s.k, s.r, s.s, oh, ow, s.pad_top, s.pad_left, s.stride_h, s.stride_w,
        s.dil_h, s.dil_w, s.groups, batch * s.h * s.w * s.c, batch * oh * ow * s.k}) {
    if (!FitsInt(v)) return Status::Unsupported(what + ": sizes exceed cuDNN's int range");
  }
  auto I = [](int64_t v) { return static_cast<int>(v); };
  const cudnnDataType_t dt = d.dt == DT::kF16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&out->x), what);
  VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&out->y), what);
  VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreateFilterDescriptor(&out->w), what);
  VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreateConvolutionDescriptor(&out->conv), what);
  VRSEG_CUDNN_RETURN_IF_ERROR(
      cudnnSetTensor4dDescriptor(out->x, CUDNN_TENSOR_NHWC, dt, I(batch), I(s.c), I(s.h), I(s.w)),
      what);
  VRSEG_CUDNN_RETURN_IF_ERROR(
      cudnnSetTensor4dDescriptor(out->y, CUDNN_TENSOR_NHWC, dt, I(batch), I(s.k), I(oh), I(ow)),
      what);
  if (s.transposed) {
    // The forward conv whose data gradient this is maps y (K channels) to x (C channels): its
    // filter is [C][K/g][R][S], stored KRSC as [C][R][S][K/g].
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(out->w, dt, CUDNN_TENSOR_NHWC, I(s.c),
                                                           I(s.k / s.groups), I(s.r), I(s.s)),
                                what);
  } else {
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnSetFilter4dDescriptor(out->w, dt, CUDNN_TENSOR_NHWC, I(s.k),
                                                           I(s.c / s.groups), I(s.r), I(s.s)),
                                what);
  }
  VRSEG_CUDNN_RETURN_IF_ERROR(
      cudnnSetConvolution2dDescriptor(out->conv, I(s.pad_top), I(s.pad_left), I(s.stride_h),
                                      I(s.stride_w), I(s.dil_h), I(s.dil_w),
                                      CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
      what);
  VRSEG_CUDNN_RETURN_IF_ERROR(cudnnSetConvolutionGroupCount(out->conv, I(s.groups)), what);
  VRSEG_CUDNN_RETURN_IF_ERROR(
      cudnnSetConvolutionMathType(out->conv,
                                  d.dt == DT::kF16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
      what);
  // cuDNN's own idea of the shapes must agree with ours.
  int n = 0, c = 0, h = 0, w = 0;
  if (s.transposed) {
    VRSEG_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolution2dForwardOutputDim(out->conv, out->y, out->w, &n, &c, &h, &w), what);
    if (n != batch || c != s.c || h != s.h || w != s.w) {
      return Status::Unsupported(what +
                                 ": cuDNN's forward conv of the output does not give the "
                                 "input shape back");
    }
  } else {
    VRSEG_CUDNN_RETURN_IF_ERROR(
        cudnnGetConvolution2dForwardOutputDim(out->conv, out->x, out->w, &n, &c, &h, &w), what);
    if (n != batch || c != s.k || h != oh || w != ow) {
      return Status::Unsupported(what + ": cuDNN computes another output shape");
    }
  }
  if (fused) {
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreateTensorDescriptor(&out->bias), what);
    // Bias in the output's type (fp16 for fp16 data with fp32 compute), one per output channel.
    VRSEG_CUDNN_RETURN_IF_ERROR(
        cudnnSetTensor4dDescriptor(out->bias, CUDNN_TENSOR_NCHW, dt, 1, I(s.k), 1, 1), what);
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnCreateActivationDescriptor(&out->act), what);
    VRSEG_CUDNN_RETURN_IF_ERROR(
        cudnnSetActivationDescriptor(
            out->act, d.act == Act::kRelu ? CUDNN_ACTIVATION_RELU : CUDNN_ACTIVATION_IDENTITY,
            CUDNN_NOT_PROPAGATE_NAN, 0.0),
        what);
  }
  return Status::Ok();
}

Status WorkspaceSize(GpuContext& ctx, const CudnnDescs& ds, bool transposed, int algo,
                     const std::string& what, size_t* bytes) {
  if (transposed) {
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionBackwardDataWorkspaceSize(
                                    ctx.cudnn(), ds.w, ds.x, ds.conv, ds.y,
                                    static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes),
                                what);
  } else {
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnGetConvolutionForwardWorkspaceSize(
                                    ctx.cudnn(), ds.x, ds.w, ds.conv, ds.y,
                                    static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes),
                                what);
  }
  return Status::Ok();
}

// fp32 keeps exact FMA arithmetic: results computed with TF32 conversions are not offered.
bool MathOk(const ConvDesc& d, cudnnMathType_t m) {
  if (d.dt == DT::kF16) return true;
  return m == CUDNN_DEFAULT_MATH || m == CUDNN_FMA_MATH;
}

class CudnnRunner final : public ConvRunner {
 public:
  CudnnRunner(GpuContext& ctx, const ConvDesc& d, int64_t batch, bool fused, int algo,
              std::string what)
      : ctx_(ctx), d_(d), batch_(batch), fused_(fused), algo_(algo), what_(std::move(what)) {}

  Status Init() {
    VRSEG_RETURN_IF_ERROR(MakeDescs(d_, batch_, fused_, what_, &ds_));
    return WorkspaceSize(ctx_, ds_, d_.shape.transposed, algo_, what_, &workspace_);
  }

  size_t workspace_bytes() const override { return workspace_; }

  Status Run(const void* x, const void* w, const void* bias, const void* residual, void* y,
             void* workspace, cudaStream_t stream) override {
    if (x == nullptr || w == nullptr || y == nullptr || (d_.has_bias && bias == nullptr) ||
        (d_.has_residual && residual == nullptr) || (workspace_ > 0 && workspace == nullptr)) {
      return Status::InvalidArgument(what_ +
                                     ": missing input, weight, bias, residual, output or "
                                     "workspace pointer");
    }
    const bool res_aliases_y = d_.has_residual && residual == y;
    if (res_aliases_y && d_.residual_after_act) {
      return Status::InvalidArgument(what_ +
                                     ": a residual added after the activation must not "
                                     "alias the output");
    }
    VRSEG_CUDNN_RETURN_IF_ERROR(cudnnSetStream(ctx_.cudnn(), stream), what_);
    const float one = 1.f, zero = 0.f;
    // A residual that already sits in y (added before the activation) is accumulated by cuDNN
    // itself (beta = 1); otherwise our epilogue pass adds it.
    const bool res_by_beta = res_aliases_y && !fused_;
    const float* beta = res_by_beta ? &one : &zero;
    if (d_.shape.transposed) {
      VRSEG_CUDNN_RETURN_IF_ERROR(
          cudnnConvolutionBackwardData(ctx_.cudnn(), &one, ds_.w, w, ds_.x, x, ds_.conv,
                                       static_cast<cudnnConvolutionBwdDataAlgo_t>(algo_), workspace,
                                       workspace_, beta, ds_.y, y),
          what_);
    } else if (fused_) {
      const float alpha2 = d_.has_residual ? 1.f : 0.f;
      const void* z = d_.has_residual ? residual : y;
      VRSEG_CUDNN_RETURN_IF_ERROR(
          cudnnConvolutionBiasActivationForward(ctx_.cudnn(), &one, ds_.x, x, ds_.w, w, ds_.conv,
                                                static_cast<cudnnConvolutionFwdAlgo_t>(algo_),
                                                workspace, workspace_, &alpha2, ds_.y, z, ds_.bias,
                                                bias, ds_.act, ds_.y, y),
          what_);
      return Status::Ok();  // CudnnFusedHandles: nothing is left for our pass
    } else {
      VRSEG_CUDNN_RETURN_IF_ERROR(
          cudnnConvolutionForward(ctx_.cudnn(), &one, ds_.x, x, ds_.w, w, ds_.conv,
                                  static_cast<cudnnConvolutionFwdAlgo_t>(algo_), workspace,
                                  workspace_, beta, ds_.y, y),
          what_);
    }
    EpilogueArgs e;
    e.y = y;
    e.dt = d_.dt;
    e.rows = batch_ * ConvOutH(d_.shape) * ConvOutW(d_.shape);
    e.channels = d_.shape.k;
    e.bias = d_.has_bias ? bias : nullptr;
    e.bias_dt = DT::kF32;
    if (d_.has_residual && !res_by_beta) {
      (d_.residual_after_act ? e.residual_after : e.residual_before) = residual;
    }
    e.act = d_.act;
    e.alpha = d_.alpha;
    e.beta = d_.beta;
    if (e.bias == nullptr && e.residual_before == nullptr && e.residual_after == nullptr &&
        e.act == Act::kNone) {
      return Status::Ok();
    }
    Status st = LaunchEpilogue(e, stream);
    return st.ok() ? st : st.WithContext(what_);
  }

 private:
  GpuContext& ctx_;
  ConvDesc d_;
  int64_t batch_;
  bool fused_;
  int algo_;
  std::string what_;
  CudnnDescs ds_;
  size_t workspace_ = 0;
};

}  // namespace

const char* CudnnFwdAlgoName(int algo) {
  switch (algo) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "UNKNOWN";
  }
}

const char* CudnnBwdDataAlgoName(int algo) {
  switch (algo) {
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_0:
      return "ALGO_0";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_1:
      return "ALGO_1";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "UNKNOWN";
  }
}

bool CudnnHandles(const ConvDesc& d) {
  const ConvShape& s = d.shape;
  return s.pad_top == s.pad_bottom && s.pad_left == s.pad_right;
}

bool CudnnFusedHandles(const ConvDesc& d) {
  return !d.shape.transposed && d.has_bias && (d.act == Act::kNone || d.act == Act::kRelu) &&
         !(d.has_residual && d.residual_after_act);
}

std::vector<ConvTactic> CudnnCandidates(GpuContext& ctx, const ConvDesc& d, int64_t batch) {
  std::vector<ConvTactic> out;
  if (!CudnnHandles(d)) return out;
  const std::string what = DescribeConv(d, batch);
  CudnnDescs ds;
  if (!MakeDescs(d, batch, /*fused=*/false, what, &ds).ok()) return out;
  std::vector<int> algos;
  if (d.shape.transposed) {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int n = 0;
    if (cudnnGetConvolutionBackwardDataAlgorithm_v7(ctx.cudnn(), ds.w, ds.x, ds.conv, ds.y,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n,
                                                    perf) != CUDNN_STATUS_SUCCESS) {
      return out;
    }
    for (int i = 0; i < n; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && MathOk(d, perf[i].mathType)) {
        algos.push_back(static_cast<int>(perf[i].algo));
      }
    }
  } else {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int n = 0;
    if (cudnnGetConvolutionForwardAlgorithm_v7(ctx.cudnn(), ds.x, ds.w, ds.conv, ds.y,
                                               CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n,
                                               perf) != CUDNN_STATUS_SUCCESS) {
      return out;
    }
    for (int i = 0; i < n; ++i) {
      if (perf[i].status == CUDNN_STATUS_SUCCESS && MathOk(d, perf[i].mathType)) {
        algos.push_back(static_cast<int>(perf[i].algo));
      }
    }
  }
  std::vector<int> seen;
  for (int algo : algos) {
    if (std::find(seen.begin(), seen.end(), algo) != seen.end()) continue;
    seen.push_back(algo);
    size_t ws = 0;
    if (!WorkspaceSize(ctx, ds, d.shape.transposed, algo, what, &ws).ok() ||
        ws > kMaxCudnnWorkspace) {
      continue;
    }
    if (d.shape.transposed) {
      out.push_back({ConvAlgo::kCudnn, kCudnnBwdDataBase + algo});
      continue;
    }
    out.push_back({ConvAlgo::kCudnn, algo});
    if (CudnnFusedHandles(d) &&
        (d.act == Act::kRelu || algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM)) {
      out.push_back({ConvAlgo::kCudnnFused, algo});
    }
  }
  return out;
}

Result<std::unique_ptr<ConvRunner>> CreateCudnnRunner(GpuContext& ctx, const ConvDesc& d,
                                                      const ConvTactic& t, int64_t batch) {
  const bool fused = t.algo == ConvAlgo::kCudnnFused;
  std::string what = DescribeConv(d, batch) + " (" + t.Name() + ")";
  if (!CudnnHandles(d)) {
    return Status::Unsupported(what + ": cuDNN needs equal padding on both sides of an axis");
  }
  if (fused && !CudnnFusedHandles(d)) {
    return Status::InvalidArgument(what +
                                   ": cuDNN's fused conv takes only relu or no activation, "
                                   "a bias, and a residual before the activation");
  }
  int algo = t.sub;
  if (d.shape.transposed) {
    if (fused || algo < kCudnnBwdDataBase ||
        algo - kCudnnBwdDataBase >= CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT) {
      return Status::InvalidArgument(what + ": not a backward-data tactic");
    }
    algo -= kCudnnBwdDataBase;
  } else {
    if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT) {
      return Status::InvalidArgument(what + ": not a forward algorithm");
    }
    if (fused && d.act != Act::kRelu && algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM) {
      return Status::InvalidArgument(what +
                                     ": the identity activation needs IMPLICIT_PRECOMP_GEMM");
    }
  }
  auto r = std::make_unique<CudnnRunner>(ctx, d, batch, fused, algo, std::move(what));
  VRSEG_RETURN_IF_ERROR(r->Init());
  return std::unique_ptr<ConvRunner>(std::move(r));
}

}  // namespace vrseg::engine::gpu::internal

#endif  // VRSEG_HAVE_CUDA
