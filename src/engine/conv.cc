// Convolution tactics: names, candidates, host-side weight preparation and runner dispatch; the
// helpers the tactic families share (library status checks, descriptions, our kernels' runners).
#ifdef VRSEG_HAVE_CUDA

#include "engine/conv.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/conv_internal.h"
#include "vrseg/cuda/check.h"

namespace vrseg::engine::gpu {
namespace internal {

Status CudnnCheck(cudnnStatus_t s, const char* call, const std::string& what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::Ok();
  std::string msg = what + ": " + call + " failed: " + cudnnGetErrorString(s);
  if (s == CUDNN_STATUS_ALLOC_FAILED) return Status::OutOfMemory(std::move(msg));
  if (s == CUDNN_STATUS_NOT_SUPPORTED) return Status::Unsupported(std::move(msg));
  if (s == CUDNN_STATUS_BAD_PARAM) return Status::InvalidArgument(std::move(msg));
  return Status::Internal(std::move(msg));
}

Status CublasCheck(cublasStatus_t s, const char* call, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  std::string msg = what + ": " + call + " failed: " + cublasGetStatusString(s);
  if (s == CUBLAS_STATUS_ALLOC_FAILED) return Status::OutOfMemory(std::move(msg));
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) return Status::Unsupported(std::move(msg));
  if (s == CUBLAS_STATUS_INVALID_VALUE) return Status::InvalidArgument(std::move(msg));
  return Status::Internal(std::move(msg));
}

int64_t ConvOutH(const ConvShape& s) {
  if (s.transposed) {
    return (s.h - 1) * s.stride_h - s.pad_top - s.pad_bottom + s.dil_h * (s.r - 1) + 1 +
           s.out_pad_h;
  }
  int64_t span = s.h + s.pad_top + s.pad_bottom - s.dil_h * (s.r - 1) - 1;
  return span < 0 ? 0 : span / s.stride_h + 1;
}

int64_t ConvOutW(const ConvShape& s) {
  if (s.transposed) {
    return (s.w - 1) * s.stride_w - s.pad_left - s.pad_right + s.dil_w * (s.s - 1) + 1 +
           s.out_pad_w;
  }
  int64_t span = s.w + s.pad_left + s.pad_right - s.dil_w * (s.s - 1) - 1;
  return span < 0 ? 0 : span / s.stride_w + 1;
}

std::string DescribeConv(const ConvDesc& d, int64_t batch) {
  const ConvShape& s = d.shape;
  std::string out = s.transposed ? "conv_transpose " : "conv ";
  out += std::to_string(s.r) + "x" + std::to_string(s.s) + "/s" + std::to_string(s.stride_h) + "x" +
         std::to_string(s.stride_w);
  if (s.dil_h != 1 || s.dil_w != 1) {
    out += " dil" + std::to_string(s.dil_h) + "x" + std::to_string(s.dil_w);
  }
  out += " g" + std::to_string(s.groups) + " pads[" + std::to_string(s.pad_top) + "," +
         std::to_string(s.pad_left) + "," + std::to_string(s.pad_bottom) + "," +
         std::to_string(s.pad_right) + "]";
  if (s.transposed && (s.out_pad_h != 0 || s.out_pad_w != 0)) {
    out += " outpad[" + std::to_string(s.out_pad_h) + "," + std::to_string(s.out_pad_w) + "]";
  }
  out += " [" + std::to_string(batch) + "," + std::to_string(s.h) + "," + std::to_string(s.w) +
         "," + std::to_string(s.c) + "]->[" + std::to_string(batch) + "," +
         std::to_string(ConvOutH(s)) + "," + std::to_string(ConvOutW(s)) + "," +
         std::to_string(s.k) + "]";
  out += d.dt == DT::kF16 ? " f16" : " f32";
  if (d.has_bias) out += " bias";
  if (d.act != Act::kNone) out += std::string(" ") + ActName(d.act);
  if (d.has_residual) out += d.residual_after_act ? " +res(after act)" : " +res(before act)";
  return out;
}

std::string DescribeGemm(const GemmDesc& d) {
  std::string out =
      "gemm m" + std::to_string(d.m) + " n" + std::to_string(d.n) + " k" + std::to_string(d.k);
  if (d.batch_count != 1) out += " x" + std::to_string(d.batch_count);
  if (d.trans_a) out += " A^T";
  if (d.trans_b) out += " B^T";
  if (d.batch_count != 1 && d.b_broadcast) out += " B shared";
  out += d.dt == DT::kF16 ? " f16" : " f32";
  if (d.has_bias) out += " bias";
  if (d.act != Act::kNone) out += std::string(" ") + ActName(d.act);
  if (d.has_residual) out += d.residual_after_act ? " +res(after act)" : " +res(before act)";
  return out;
}

Status ValidateConv(const ConvDesc& d, int64_t batch) {
  const ConvShape& s = d.shape;
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument(DescribeConv(d, batch) + ": " + why);
  };
  if (d.dt != DT::kF32 && d.dt != DT::kF16) return bad("activations must be fp32 or fp16");
  if (batch < 1) return bad("batch must be at least 1");
  if (s.h < 1 || s.w < 1 || s.c < 1 || s.k < 1 || s.r < 1 || s.s < 1) {
    return bad("sizes must be positive");
  }
  if (s.groups < 1 || s.c % s.groups != 0 || s.k % s.groups != 0) {
    return bad("groups must divide the input and output channels");
  }
  if (s.stride_h < 1 || s.stride_w < 1 || s.dil_h < 1 || s.dil_w < 1) {
    return bad("strides and dilations must be positive");
  }
  if (s.pad_top < 0 || s.pad_left < 0 || s.pad_bottom < 0 || s.pad_right < 0) {
    return bad("pads must not be negative");
  }
  if (s.transposed) {
    if (s.out_pad_h < 0 || s.out_pad_w < 0 ||
        (s.out_pad_h >= s.stride_h && s.out_pad_h >= s.dil_h) ||
        (s.out_pad_w >= s.stride_w && s.out_pad_w >= s.dil_w)) {
      return bad("output_padding must be smaller than the stride or the dilation");
    }
  }
  if (ConvOutH(s) < 1 || ConvOutW(s) < 1) return bad("empty output");
  return Status::Ok();
}

std::vector<uint8_t> ToBytes(const std::vector<float>& v, DT dt) {
  std::vector<uint8_t> out;
  if (dt == DT::kF16) {
    out.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      __half h = __float2half_rn(v[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  } else {
    out.resize(v.size() * 4);
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  }
  return out;
}

namespace {

bool IsDepthwise(const ConvDesc& d) {
  const ConvShape& s = d.shape;
  return !s.transposed && s.groups == s.c && s.c == s.k;
}

// Our own kernels: the whole epilogue is applied inside the convolution kernel.
class OwnKernelRunner final : public ConvRunner {
 public:
  OwnKernelRunner(const ConvDesc& d, ConvAlgo algo, int variant, int64_t batch)
      : d_(d), algo_(algo), variant_(variant), batch_(batch) {}
  size_t workspace_bytes() const override { return 0; }
  Status Run(const void* x, const void* w, const void* bias, const void* residual, void* y,
             void* /*workspace*/, cudaStream_t stream) override {
    if (x == nullptr || w == nullptr || y == nullptr || (d_.has_bias && bias == nullptr) ||
        (d_.has_residual && residual == nullptr)) {
      return Status::InvalidArgument(DescribeConv(d_, batch_) + " (" + ConvAlgoName(algo_) +
                                     "): missing input, weight, bias, residual or output pointer");
    }
    ConvKernelArgs a;
    a.shape = d_.shape;
    a.shape.n = batch_;
    a.dt = d_.dt;
    a.x = x;
    a.w = w;
    a.bias = d_.has_bias ? static_cast<const float*>(bias) : nullptr;
    a.residual = d_.has_residual ? residual : nullptr;
    a.residual_after_act = d_.residual_after_act;
    a.act = d_.act;
    a.alpha = d_.alpha;
    a.beta = d_.beta;
    a.y = y;
    a.variant = variant_;
    Status st = algo_ == ConvAlgo::kDepthwise ? LaunchDepthwiseConv(a, stream)
                                              : LaunchDirectConv(a, stream);
    if (!st.ok()) return st.WithContext(DescribeConv(d_, batch_));
    return Status::Ok();
  }

 private:
  ConvDesc d_;
  ConvAlgo algo_;
  int variant_;
  int64_t batch_;
};

}  // namespace
}  // namespace internal

using namespace internal;  // NOLINT(google-build-using-namespace): this file implements them

const char* ConvAlgoName(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::kCudnn:
      return "cudnn";
    case ConvAlgo::kCudnnFused:
      return "cudnn_fused";
    case ConvAlgo::kCublasLt:
      return "cublaslt";
    case ConvAlgo::kDepthwise:
      return "depthwise";
    case ConvAlgo::kDirect:
      return "direct";
  }
  return "?";
}

std::string ConvTactic::Name() const {
  std::string out = std::string(ConvAlgoName(algo)) + ":";
  switch (algo) {
    case ConvAlgo::kCudnn:
    case ConvAlgo::kCudnnFused:
      if (sub >= kCudnnBwdDataBase)
        return out + "bwd_data_" + CudnnBwdDataAlgoName(sub - kCudnnBwdDataBase);
      return out + CudnnFwdAlgoName(sub);
    case ConvAlgo::kCublasLt:
      return out + "#" + std::to_string(sub);
    case ConvAlgo::kDepthwise:
    case ConvAlgo::kDirect:
      return out + "v" + std::to_string(sub);
  }
  return out + std::to_string(sub);
}

std::vector<ConvTactic> CandidateConvTactics(GpuContext& ctx, const ConvDesc& d, int64_t batch) {
  std::vector<ConvTactic> out;
  if (!ValidateConv(d, batch).ok()) return out;
  if (IsDepthwise(d)) {
    out.push_back({ConvAlgo::kDepthwise, 1});
    if (DepthwiseVectorFits(d)) out.push_back({ConvAlgo::kDepthwise, 2});
  }
  if (CublasLtHandles(d)) {
    for (const ConvTactic& t : CublasLtConvCandidates(ctx, d, batch)) out.push_back(t);
  }
  if (CudnnHandles(d)) {
    for (const ConvTactic& t : CudnnCandidates(ctx, d, batch)) out.push_back(t);
  }
  if (DirectSmemFits(d, batch)) out.push_back({ConvAlgo::kDirect, 2});
  out.push_back({ConvAlgo::kDirect, 1});
  return out;
}

std::vector<uint8_t> PrepareConvWeights(const ConvDesc& d, const ConvTactic& t, const float* w) {
  const ConvShape& s = d.shape;
  const int64_t g = std::max<int64_t>(1, s.groups);
  std::vector<float> out;
  if (s.transposed) {
    // ONNX [C][K/g][R][S] -> [C][R][S][K/g] (KRSC of the forward conv whose data gradient this is).
    const int64_t kg = s.k / g;
    out.resize(static_cast<size_t>(s.c * kg * s.r * s.s));
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t kk = 0; kk < kg; ++kk)
        for (int64_t r = 0; r < s.r; ++r)
          for (int64_t q = 0; q < s.s; ++q)
            out[((c * s.r + r) * s.s + q) * kg + kk] = w[((c * kg + kk) * s.r + r) * s.s + q];
  } else if (t.algo == ConvAlgo::kDepthwise) {
    // ONNX [C][1][R][S] -> [R][S][C].
    out.resize(static_cast<size_t>(s.k * s.r * s.s));
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t r = 0; r < s.r; ++r)
        for (int64_t q = 0; q < s.s; ++q) out[(r * s.s + q) * s.k + k] = w[(k * s.r + r) * s.s + q];
  } else {
    // ONNX [K][C/g][R][S] -> [K][R][S][C/g]; for 1x1 (cuBLASLt) this is [K][C] unchanged.
    const int64_t cg = s.c / g;
    out.resize(static_cast<size_t>(s.k * cg * s.r * s.s));
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t c = 0; c < cg; ++c)
        for (int64_t r = 0; r < s.r; ++r)
          for (int64_t q = 0; q < s.s; ++q)
            out[((k * s.r + r) * s.s + q) * cg + c] = w[((k * cg + c) * s.r + r) * s.s + q];
  }
  return ToBytes(out, d.dt);
}

std::vector<uint8_t> PrepareConvBias(const ConvDesc& d, const ConvTactic& t, const float* b) {
  if (!d.has_bias || b == nullptr) return {};
  std::vector<float> v(b, b + d.shape.k);
  // cuDNN's fused call and cuBLASLt's epilogue read the bias in the output's type; our kernels
  // and our epilogue pass read fp32.
  const bool in_output_type = t.algo == ConvAlgo::kCudnnFused || t.algo == ConvAlgo::kCublasLt;
  return ToBytes(v, in_output_type ? d.dt : DT::kF32);
}

Result<std::unique_ptr<ConvRunner>> ConvRunner::Create(GpuContext& ctx, const ConvDesc& d,
                                                       const ConvTactic& t, int64_t batch) {
  VRSEG_RETURN_IF_ERROR(ValidateConv(d, batch));
  switch (t.algo) {
    case ConvAlgo::kCudnn:
    case ConvAlgo::kCudnnFused:
      return CreateCudnnRunner(ctx, d, t, batch);
    case ConvAlgo::kCublasLt:
      return CreateCublasLtRunner(ctx, d, t, batch);
    case ConvAlgo::kDepthwise:
      if (!IsDepthwise(d)) {
        return Status::InvalidArgument(DescribeConv(d, batch) +
                                       ": depthwise tactic needs groups == C == K");
      }
      if (t.sub != 1 && !(t.sub == 2 && DepthwiseVectorFits(d))) {
        return Status::InvalidArgument(DescribeConv(d, batch) + ": no depthwise variant " +
                                       t.Name() + " for this layer");
      }
      return std::unique_ptr<ConvRunner>(new OwnKernelRunner(d, t.algo, t.sub, batch));
    case ConvAlgo::kDirect:
      if (t.sub != 1 && !(t.sub == 2 && DirectSmemFits(d, batch))) {
        return Status::InvalidArgument(DescribeConv(d, batch) + ": no direct variant " + t.Name() +
                                       " for this layer");
      }
      return std::unique_ptr<ConvRunner>(new OwnKernelRunner(d, t.algo, t.sub, batch));
  }
  return Status::InvalidArgument(DescribeConv(d, batch) + ": unknown tactic " + t.Name());
}

}  // namespace vrseg::engine::gpu

#endif  // VRSEG_HAVE_CUDA
