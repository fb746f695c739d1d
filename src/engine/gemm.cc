// Matrix products through cuBLASLt (MatMul, Gemm, and 1x1 convolutions via conv_cublaslt.cc).
//
// Row-major operands are handed to column-major cuBLASLt by computing the transpose:
// out^T = B^T · A^T, where a row-major [R,C] matrix is a column-major [C,R] one with the same
// bytes. So cuBLASLt's "A" is our B and its "B" is our A; m = N, n = M. Bias (length N) is
// cuBLASLt's per-row bias of out^T. A residual added before the activation goes in as C with
// beta = 1; relu and bias are cuBLASLt epilogues; anything else (other activations, a residual
// after the activation) is one pass of our epilogue kernel. Exact fp32 (CUBLAS_COMPUTE_32F, no
// TF32); fp16 operands accumulate in fp32.
#ifdef VRSEG_HAVE_CUDA

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/conv.h"
#include "engine/conv_internal.h"

namespace vrseg::engine::gpu {
namespace internal {
namespace {

template <typename T>
Status SetLayout(cublasLtMatrixLayout_t l, cublasLtMatrixLayoutAttribute_t attr, T value,
                 const std::string& what) {
  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutSetAttribute(l, attr, &value, sizeof(value)),
                               what);
  return Status::Ok();
}

template <typename T>
Status SetDesc(cublasLtMatmulDesc_t op, cublasLtMatmulDescAttributes_t attr, T value,
               const std::string& what) {
  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(op, attr, &value, sizeof(value)),
                               what);
  return Status::Ok();
}

// Where heuristics must assume the bias lives: any 16-byte aligned address (the pointer is not
// read until cublasLtMatmul, which gets the real one).
const void* const kFakeBias = reinterpret_cast<const void*>(uintptr_t{16});

}  // namespace

Result<std::unique_ptr<LtMatmul>> LtMatmul::Create(GpuContext& ctx, const GemmDesc& d,
                                                   std::string what) {
  if (d.m < 1 || d.n < 1 || d.k < 1 || d.batch_count < 1) {
    return Status::InvalidArgument(what + ": sizes and batch count must be positive");
  }
  if (d.dt != DT::kF32 && d.dt != DT::kF16) {
    return Status::InvalidArgument(what + ": operands must be fp32 or fp16");
  }
  std::unique_ptr<LtMatmul> p(new LtMatmul());
  p->ctx_ = &ctx;
  p->d_ = d;
  p->what_ = std::move(what);
  const std::string& w = p->what_;
  const cudaDataType_t t = d.dt == DT::kF16 ? CUDA_R_16F : CUDA_R_32F;

  // A shared B with a plain A: the batch folds into the rows of one product.
  const bool fold = d.batch_count > 1 && d.b_broadcast && !d.trans_a;
  const int64_t rows = fold ? d.batch_count * d.m : d.m;
  const int32_t lt_batch = fold ? 1 : static_cast<int32_t>(d.batch_count);

  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescCreate(&p->op_, CUBLAS_COMPUTE_32F, CUDA_R_32F),
                               w);
  const int32_t op_a = d.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A is our B
  const int32_t op_b = d.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's B is our A
  VRSEG_RETURN_IF_ERROR(SetDesc(p->op_, CUBLASLT_MATMUL_DESC_TRANSA, op_a, w));
  VRSEG_RETURN_IF_ERROR(SetDesc(p->op_, CUBLASLT_MATMUL_DESC_TRANSB, op_b, w));

  // Our B: [K,N] row-major = column-major [N,K] (ld N); transposed: [N,K] = column-major [K,N].
  if (d.trans_b) {
    VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->la_, t, d.k, d.n, d.k), w);
  } else {
    VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->la_, t, d.n, d.k, d.n), w);
  }
  // Our A: [M,K] row-major = column-major [K,M] (ld K); transposed: [K,M] = column-major [M,K].
  if (d.trans_a) {
    VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->lb_, t, rows, d.k, rows), w);
  } else {
    VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->lb_, t, d.k, rows, d.k), w);
  }
  // out (and the residual as C): [M,N] row-major = column-major [N,M] (ld N).
  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(&p->lcd_, t, d.n, rows, d.n), w);
  if (lt_batch > 1) {
    for (auto l : {p->la_, p->lb_, p->lcd_}) {
      VRSEG_RETURN_IF_ERROR(SetLayout(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, lt_batch, w));
    }
    VRSEG_RETURN_IF_ERROR(SetLayout(p->la_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                    int64_t{d.b_broadcast ? 0 : d.k * d.n}, w));
    VRSEG_RETURN_IF_ERROR(
        SetLayout(p->lb_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, int64_t{d.m * d.k}, w));
    VRSEG_RETURN_IF_ERROR(
        SetLayout(p->lcd_, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, int64_t{d.m * d.n}, w));
  }

  p->lt_bias_ = d.has_bias;
  p->lt_relu_ = d.act == Act::kRelu;
  p->lt_residual_ = d.has_residual && !d.residual_after_act;
  p->our_pass_ =
      (d.act != Act::kNone && d.act != Act::kRelu) || (d.has_residual && d.residual_after_act);
  uint32_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (p->lt_bias_ && p->lt_relu_) {
    epi = CUBLASLT_EPILOGUE_RELU_BIAS;
  } else if (p->lt_bias_) {
    epi = CUBLASLT_EPILOGUE_BIAS;
  } else if (p->lt_relu_) {
    epi = CUBLASLT_EPILOGUE_RELU;
  }
  VRSEG_RETURN_IF_ERROR(SetDesc(p->op_, CUBLASLT_MATMUL_DESC_EPILOGUE, epi, w));
  if (p->lt_bias_) {
    VRSEG_RETURN_IF_ERROR(SetDesc(p->op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, kFakeBias, w));
    if (lt_batch > 1) {
      // One bias for every batch entry.
      VRSEG_RETURN_IF_ERROR(SetDesc(p->op_, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, int64_t{0}, w));
    }
  }

  VRSEG_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&p->pref_), w);
  const uint64_t max_ws = kLtMaxWorkspace;
  VRSEG_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulPreferenceSetAttribute(p->pref_, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &max_ws, sizeof(max_ws)),
      w);
  const uint32_t align = 16;
  for (auto attr :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES}) {
    VRSEG_CUBLAS_RETURN_IF_ERROR(
        cublasLtMatmulPreferenceSetAttribute(p->pref_, attr, &align, sizeof(align)), w);
  }
  return p;
}

LtMatmul::~LtMatmul() {
  if (pref_ != nullptr) cublasLtMatmulPreferenceDestroy(pref_);
  if (lcd_ != nullptr) cublasLtMatrixLayoutDestroy(lcd_);
  if (lb_ != nullptr) cublasLtMatrixLayoutDestroy(lb_);
  if (la_ != nullptr) cublasLtMatrixLayoutDestroy(la_);
  if (op_ != nullptr) cublasLtMatmulDescDestroy(op_);
}

Result<std::vector<cublasLtMatmulHeuristicResult_t>> LtMatmul::Heuristics(int count) {
  std::vector<cublasLtMatmulHeuristicResult_t> res(static_cast<size_t>(std::max(count, 1)));
  int returned = 0;
  cublasStatus_t s =
      cublasLtMatmulAlgoGetHeuristic(ctx_->lt(), op_, la_, lb_, lcd_, lcd_, pref_,
                                     static_cast<int>(res.size()), res.data(), &returned);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) return std::vector<cublasLtMatmulHeuristicResult_t>{};
  VRSEG_CUBLAS_RETURN_IF_ERROR(s, what_);
  std::vector<cublasLtMatmulHeuristicResult_t> out;
  for (int i = 0; i < returned; ++i) {
    if (res[i].state == CUBLAS_STATUS_SUCCESS && res[i].workspaceSize <= kLtMaxWorkspace) {
      out.push_back(res[i]);
    }
  }
  return out;
}

Status LtMatmul::Select(int rank) {
  VRSEG_ASSIGN_OR_RETURN(auto h, Heuristics(kLtCandidates));
  if (h.empty()) return Status::Unsupported(what_ + ": cuBLASLt offers no algorithm");
  const size_t i = std::min(static_cast<size_t>(std::max(rank, 0)), h.size() - 1);
  algo_ = h[i].algo;
  workspace_ = h[i].workspaceSize;
  selected_ = true;
  return Status::Ok();
}

Status LtMatmul::Run(const void* a, const void* b, const void* bias, const void* residual,
                     void* out, void* workspace, cudaStream_t stream) {
  if (!selected_) return Status::Internal(what_ + ": cuBLASLt algorithm not selected");
  if (a == nullptr || b == nullptr || out == nullptr || (d_.has_bias && bias == nullptr) ||
      (d_.has_residual && residual == nullptr) || (workspace_ > 0 && workspace == nullptr)) {
    return Status::InvalidArgument(what_ +
                                   ": missing operand, bias, residual, output or workspace "
                                   "pointer");
  }
  if (d_.has_residual && d_.residual_after_act && residual == out) {
    return Status::InvalidArgument(what_ +
                                   ": a residual added after the activation must not alias "
                                   "the output");
  }
  if (lt_bias_) VRSEG_RETURN_IF_ERROR(SetDesc(op_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias, what_));
  const float alpha = d_.alpha;
  const float beta = lt_residual_ ? 1.f : 0.f;
  const void* c = lt_residual_ ? residual : out;
  VRSEG_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmul(ctx_->lt(), op_, &alpha, b, la_, a, lb_, &beta, c, lcd_, out, lcd_, &algo_,
                     workspace, workspace_, stream),
      what_);
  if (!our_pass_) return Status::Ok();
  EpilogueArgs e;
  e.y = out;
  e.dt = d_.dt;
  e.rows = d_.batch_count * d_.m;
  e.channels = d_.n;
  e.residual_after = d_.has_residual && d_.residual_after_act ? residual : nullptr;
  e.act = lt_relu_ ? Act::kNone : d_.act;
  e.alpha = d_.act_alpha;
  e.beta = d_.act_beta;
  Status st = LaunchEpilogue(e, stream);
  return st.ok() ? st : st.WithContext(what_);
}

namespace {

class LtGemmRunner final : public GemmRunner {
 public:
  explicit LtGemmRunner(std::unique_ptr<LtMatmul> mm) : mm_(std::move(mm)) {}
  size_t workspace_bytes() const override { return mm_->workspace_bytes(); }
  Status Run(const void* a, const void* b, const void* bias, const void* residual, void* out,
             void* workspace, cudaStream_t stream) override {
    return mm_->Run(a, b, bias, residual, out, workspace, stream);
  }

 private:
  std::unique_ptr<LtMatmul> mm_;
};

}  // namespace
}  // namespace internal

std::string GemmTactic::Name() const { return "cublaslt:#" + std::to_string(sub); }

std::vector<GemmTactic> CandidateGemmTactics(GpuContext& ctx, const GemmDesc& d) {
  std::vector<GemmTactic> out;
  auto mm = internal::LtMatmul::Create(ctx, d, internal::DescribeGemm(d));
  if (!mm.ok()) return out;
  auto h = (*mm)->Heuristics(internal::kLtCandidates);
  if (!h.ok()) return out;
  for (size_t i = 0; i < h->size(); ++i) out.push_back({static_cast<int32_t>(i)});
  return out;
}

std::vector<uint8_t> PrepareGemmB(const GemmDesc& d, const float* b) {
  std::vector<float> v(b, b + d.k * d.n);  // same layout as given ([K,N], or [N,K] if trans_b)
  return internal::ToBytes(v, d.dt);
}

std::vector<uint8_t> PrepareGemmBias(const GemmDesc& d, const float* bias) {
  if (!d.has_bias || bias == nullptr) return {};
  // cuBLASLt reads the bias in the output's type, unscaled: bias_scale (Gemm's beta) is applied
  // here, once.
  std::vector<float> v(bias, bias + d.n);
  for (float& x : v) x *= d.bias_scale;
  return internal::ToBytes(v, d.dt);
}

Result<std::unique_ptr<GemmRunner>> GemmRunner::Create(GpuContext& ctx, const GemmDesc& d,
                                                       const GemmTactic& t) {
  VRSEG_ASSIGN_OR_RETURN(auto mm, internal::LtMatmul::Create(
                                      ctx, d, internal::DescribeGemm(d) + " (" + t.Name() + ")"));
  VRSEG_RETURN_IF_ERROR(mm->Select(t.sub));
  return std::unique_ptr<GemmRunner>(new internal::LtGemmRunner(std::move(mm)));
}

}  // namespace vrseg::engine::gpu

#endif  // VRSEG_HAVE_CUDA
