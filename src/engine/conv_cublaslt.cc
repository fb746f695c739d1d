// 1x1 convolutions (stride 1, no padding, one group) as cuBLASLt GEMMs: the NHWC input is a
// row-major [N*H*W, C] matrix and the weights [K][C] its transposed right operand, so
// y [N*H*W, K] = x · W^T, with bias, relu and a before-activation residual in cuBLASLt's epilogue
// (gemm.cc) and anything else in one pass of ours.
#ifdef VRSEG_HAVE_CUDA

#include <string>
#include <vector>

#include "engine/conv.h"
#include "engine/conv_internal.h"

namespace vrseg::engine::gpu::internal {
namespace {

GemmDesc ConvAsGemm(const ConvDesc& d, int64_t batch) {
  GemmDesc g;
  g.m = batch * d.shape.h * d.shape.w;
  g.n = d.shape.k;
  g.k = d.shape.c;
  g.trans_b = true;
  g.dt = d.dt;
  g.has_bias = d.has_bias;
  g.act = d.act;
  g.act_alpha = d.alpha;
  g.act_beta = d.beta;
  g.has_residual = d.has_residual;
  g.residual_after_act = d.residual_after_act;
  return g;
}

class CublasLtConvRunner final : public ConvRunner {
 public:
  explicit CublasLtConvRunner(std::unique_ptr<LtMatmul> mm) : mm_(std::move(mm)) {}
  size_t workspace_bytes() const override { return mm_->workspace_bytes(); }
  Status Run(const void* x, const void* w, const void* bias, const void* residual, void* y,
             void* workspace, cudaStream_t stream) override {
    return mm_->Run(x, w, bias, residual, y, workspace, stream);
  }

 private:
  std::unique_ptr<LtMatmul> mm_;
};

}  // namespace

bool CublasLtHandles(const ConvDesc& d) {
  const ConvShape& s = d.shape;
  return !s.transposed && s.r == 1 && s.s == 1 && s.stride_h == 1 && s.stride_w == 1 &&
         s.pad_top == 0 && s.pad_left == 0 && s.pad_bottom == 0 && s.pad_right == 0 &&
         s.groups == 1;
}

std::vector<ConvTactic> CublasLtConvCandidates(GpuContext& ctx, const ConvDesc& d, int64_t batch) {
  std::vector<ConvTactic> out;
  if (!CublasLtHandles(d)) return out;
  auto mm = LtMatmul::Create(ctx, ConvAsGemm(d, batch), DescribeConv(d, batch));
  if (!mm.ok()) return out;
  auto h = (*mm)->Heuristics(kLtCandidates);
  if (!h.ok()) return out;
  for (size_t i = 0; i < h->size(); ++i)
    out.push_back({ConvAlgo::kCublasLt, static_cast<int32_t>(i)});
  return out;
}

Result<std::unique_ptr<ConvRunner>> CreateCublasLtRunner(GpuContext& ctx, const ConvDesc& d,
                                                         const ConvTactic& t, int64_t batch) {
  std::string what = DescribeConv(d, batch) + " (" + t.Name() + ")";
  if (!CublasLtHandles(d)) {
    return Status::InvalidArgument(what +
                                   ": cuBLASLt takes only 1x1 convolutions with stride 1, "
                                   "no padding and one group");
  }
  VRSEG_ASSIGN_OR_RETURN(auto mm, LtMatmul::Create(ctx, ConvAsGemm(d, batch), std::move(what)));
  VRSEG_RETURN_IF_ERROR(mm->Select(t.sub));
  return std::unique_ptr<ConvRunner>(new CublasLtConvRunner(std::move(mm)));
}

}  // namespace vrseg::engine::gpu::internal

#endif  // VRSEG_HAVE_CUDA
