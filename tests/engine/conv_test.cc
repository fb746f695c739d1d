// Convolution tactics against the CPU reference (RefConvNHWC, double accumulation): every tactic
// CandidateConvTactics offers, for a table of shapes and every epilogue, in fp32 (max error
// ≤ 1e-4 of max |y|) and fp16 (≤ 1e-2 of max |y|, the reference fed the same fp16-rounded inputs).
// Weight preparation and tactic names are checked on the CPU too, so they run in CI.
#ifdef VRSEG_HAVE_CUDA

#include "engine/conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/ref.h"
#include "gpu_util.h"

namespace vrseg::engine::gpu {
namespace {

using engine::testing::DeviceAlloc;
using engine::testing::FromHalf;
using engine::testing::ToHalf;

// ---- CPU-side: names and weight layouts ---------------------------------------------------------

TEST(ConvTacticTest, Names) {
  EXPECT_EQ((ConvTactic{ConvAlgo::kCudnn, 1}).Name(), "cudnn:IMPLICIT_PRECOMP_GEMM");
  EXPECT_EQ((ConvTactic{ConvAlgo::kCudnnFused, 0}).Name(), "cudnn_fused:IMPLICIT_GEMM");
  EXPECT_EQ((ConvTactic{ConvAlgo::kCudnn, 101}).Name(), "cudnn:bwd_data_ALGO_1");
  EXPECT_EQ((ConvTactic{ConvAlgo::kCublasLt, 2}).Name(), "cublaslt:#2");
  EXPECT_EQ((ConvTactic{ConvAlgo::kDepthwise, 1}).Name(), "depthwise:v1");
  EXPECT_EQ((ConvTactic{ConvAlgo::kDepthwise, 2}).Name(), "depthwise:v2");
  EXPECT_EQ((ConvTactic{ConvAlgo::kDirect, 1}).Name(), "direct:v1");
  EXPECT_EQ((ConvTactic{ConvAlgo::kDirect, 2}).Name(), "direct:v2");
  EXPECT_STREQ(ConvAlgoName(ConvAlgo::kCublasLt), "cublaslt");
  EXPECT_EQ((GemmTactic{3}).Name(), "cublaslt:#3");
}

std::vector<float> AsFloats(const std::vector<uint8_t>& b) {
  std::vector<float> f(b.size() / 4);
  std::memcpy(f.data(), b.data(), f.size() * 4);
  return f;
}

TEST(ConvPrepareTest, RegularWeightsBecomeKRSC) {
  ConvDesc d;
  d.shape.c = 4;
  d.shape.k = 6;
  d.shape.groups = 2;
  d.shape.r = 2;
  d.shape.s = 3;
  // ONNX [K=6][C/g=2][R=2][S=3], value = k*1000 + c*100 + r*10 + s.
  std::vector<float> w;
  for (int k = 0; k < 6; ++k)
    for (int c = 0; c < 2; ++c)
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 3; ++s) w.push_back(k * 1000 + c * 100 + r * 10 + s);
  auto out = AsFloats(PrepareConvWeights(d, {ConvAlgo::kCudnn, 1}, w.data()));
  ASSERT_EQ(out.size(), w.size());
  // [K][R][S][C/g]
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 100);  // k0 r0 s0 c1
  EXPECT_EQ(out[2], 1);    // k0 r0 s1 c0
  EXPECT_EQ(out[((5 * 2 + 1) * 3 + 2) * 2 + 1], 5000 + 100 + 10 + 2);
  auto direct = AsFloats(PrepareConvWeights(d, {ConvAlgo::kDirect, 1}, w.data()));
  EXPECT_EQ(direct, out);
}

TEST(ConvPrepareTest, DepthwiseWeightsBecomeRSC) {
  ConvDesc d;
  d.shape.c = d.shape.k = d.shape.groups = 3;
  d.shape.r = d.shape.s = 2;
  std::vector<float> w;  // ONNX [C=3][1][R=2][S=2]
  for (int c = 0; c < 3; ++c)
    for (int r = 0; r < 2; ++r)
      for (int s = 0; s < 2; ++s) w.push_back(c * 100 + r * 10 + s);
  auto out = AsFloats(PrepareConvWeights(d, {ConvAlgo::kDepthwise, 1}, w.data()));
  ASSERT_EQ(out.size(), 12u);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 100);
  EXPECT_EQ(out[2], 200);
  EXPECT_EQ(out[(1 * 2 + 0) * 3 + 2], 210);  // r1 s0 c2
}

TEST(ConvPrepareTest, TransposedWeightsBecomeCRSK) {
  ConvDesc d;
  d.shape.transposed = true;
  d.shape.c = 2;
  d.shape.k = 4;
  d.shape.groups = 2;
  d.shape.r = d.shape.s = 2;
  std::vector<float> w;  // ONNX [C=2][K/g=2][R=2][S=2]
  for (int c = 0; c < 2; ++c)
    for (int k = 0; k < 2; ++k)
      for (int r = 0; r < 2; ++r)
        for (int s = 0; s < 2; ++s) w.push_back(c * 1000 + k * 100 + r * 10 + s);
  auto out = AsFloats(PrepareConvWeights(d, {ConvAlgo::kCudnn, 100}, w.data()));
  ASSERT_EQ(out.size(), 16u);
  EXPECT_EQ(out[1], 100);                               // c0 r0 s0 k1
  EXPECT_EQ(out[((1 * 2 + 1) * 2 + 0) * 2 + 1], 1110);  // c1 r1 s0 k1
}

TEST(ConvPrepareTest, BiasTypeFollowsTactic) {
  ConvDesc d;
  d.shape.c = d.shape.k = 2;
  d.dt = DT::kF16;
  d.has_bias = true;
  const float b[2] = {1.5f, -2.f};
  EXPECT_EQ(PrepareConvBias(d, {ConvAlgo::kCudnn, 1}, b).size(), 8u);  // fp32, our epilogue
  EXPECT_EQ(PrepareConvBias(d, {ConvAlgo::kDirect, 1}, b).size(), 8u);
  EXPECT_EQ(PrepareConvBias(d, {ConvAlgo::kCudnnFused, 1}, b).size(), 4u);  // fp16, like y
  EXPECT_EQ(PrepareConvBias(d, {ConvAlgo::kCublasLt, 0}, b).size(), 4u);
  d.has_bias = false;
  EXPECT_TRUE(PrepareConvBias(d, {ConvAlgo::kCudnn, 1}, b).empty());
  // fp16 weights are rounded to nearest.
  d.shape.r = d.shape.s = 1;
  const float w[4] = {1.f, 0.5f, -3.f, 65504.f};
  auto h = PrepareConvWeights(d, {ConvAlgo::kDirect, 1}, w);
  ASSERT_EQ(h.size(), 8u);
  std::vector<uint16_t> bits(4);
  std::memcpy(bits.data(), h.data(), 8);
  EXPECT_EQ(FromHalf(bits), (std::vector<float>{1.f, 0.5f, -3.f, 65504.f}));
}

// ---- GPU: every tactic against the reference ----------------------------------------------------

struct ShapeCase {
  const char* name;
  ConvShape s;
};

ConvShape Shape(int64_t h, int64_t w, int64_t c, int64_t k, int64_t r, int64_t stride, int64_t pad,
                int64_t groups = 1, int64_t dil = 1) {
  ConvShape s;
  s.n = 2;
  s.h = h;
  s.w = w;
  s.c = c;
  s.k = k;
  s.r = s.s = r;
  s.stride_h = s.stride_w = stride;
  s.pad_top = s.pad_left = s.pad_bottom = s.pad_right = pad;
  s.groups = groups;
  s.dil_h = s.dil_w = dil;
  return s;
}

ConvShape Transposed(int64_t h, int64_t w, int64_t c, int64_t k, int64_t r, int64_t stride,
                     int64_t pad, int64_t out_pad, int64_t groups = 1) {
  ConvShape s = Shape(h, w, c, k, r, stride, pad, groups);
  s.transposed = true;
  s.out_pad_h = s.out_pad_w = out_pad;
  return s;
}

std::vector<ShapeCase> Shapes() {
  std::vector<ShapeCase> v = {
      {"k3_pad1", Shape(13, 11, 16, 24, 3, 1, 1)},
      {"k3_stride2", Shape(17, 15, 16, 32, 3, 2, 1)},
      {"k1", Shape(9, 10, 32, 48, 1, 1, 0)},
      {"k1_c8_k16", Shape(5, 7, 8, 16, 1, 1, 0)},
      {"k1_stride2", Shape(9, 11, 16, 24, 1, 2, 0)},
      {"k7_stride2_pad3_c3", Shape(23, 21, 3, 16, 7, 2, 3)},
      {"k3_c3", Shape(15, 13, 3, 8, 3, 1, 1)},
      {"dw3_s1", Shape(14, 13, 24, 24, 3, 1, 1, 24)},
      {"dw3_s2", Shape(15, 16, 24, 24, 3, 2, 1, 24)},
      {"dw5_s1", Shape(12, 11, 17, 17, 5, 1, 2, 17)},
      {"dw5_s2", Shape(13, 15, 32, 32, 5, 2, 2, 32)},
      {"grouped4", Shape(11, 9, 16, 32, 3, 1, 1, 4)},
      {"dilated2", Shape(15, 14, 8, 16, 3, 1, 2, 1, 2)},
      {"dilated4", Shape(19, 17, 8, 12, 3, 1, 4, 1, 4)},
      {"dw3_dilated2", Shape(12, 12, 16, 16, 3, 1, 2, 16, 2)},
      {"dw7_s1", Shape(11, 12, 16, 16, 7, 1, 3, 16)},
      {"odd_hw", Shape(7, 5, 12, 20, 3, 1, 1)},
      {"convT_k2_s2", Transposed(6, 5, 16, 8, 2, 2, 0, 0)},
      {"convT_k4_s2_p1", Transposed(7, 6, 16, 8, 4, 2, 1, 0)},
      {"convT_k3_s2_p1_outpad1", Transposed(5, 7, 12, 10, 3, 2, 1, 1)},
      {"convT_k4_s2_p1_g2", Transposed(6, 6, 8, 8, 4, 2, 1, 0, 2)},
  };
  ConvShape asym = Shape(16, 15, 8, 16, 3, 2, 0);  // TF "SAME": nothing on top/left, 1 below/right
  asym.pad_bottom = asym.pad_right = 1;
  v.push_back({"asym_pads_s2", asym});
  ConvShape asym2 = Shape(10, 9, 12, 12, 3, 1, 1, 12);
  asym2.pad_top = 2;
  asym2.pad_right = 0;
  v.push_back({"dw_asym_pads", asym2});
  return v;
}

struct EpiCase {
  const char* name;
  Act act;
  float alpha, beta;
  bool residual, after;
};

std::vector<EpiCase> Epilogues() {
  return {
      {"none", Act::kNone, 0, 0, false, false},
      {"relu", Act::kRelu, 0, 0, false, false},
      {"clip0_6", Act::kClip, 0, 6, false, false},
      {"hardswish", Act::kHardSwish, 0, 0, false, false},
      {"sigmoid", Act::kSigmoid, 0, 0, false, false},
      {"leaky0_1", Act::kLeakyRelu, 0.1f, 0, false, false},
      {"res_before_none", Act::kNone, 0, 0, true, false},
      {"res_before_relu", Act::kRelu, 0, 0, true, false},
      {"res_after_relu", Act::kRelu, 0, 0, true, true},
      {"res_before_hardswish", Act::kHardSwish, 0, 0, true, false},
      {"res_after_clip0_6", Act::kClip, 0, 6, true, true},
  };
}

GpuContext* Context() {
  static std::unique_ptr<GpuContext> ctx = [] {
    auto r = GpuContext::Create(0);
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return ctx.get();
}

std::vector<float> Uniform(size_t n, float lo, float hi, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> RoundHalf(const std::vector<float>& v) { return FromHalf(ToHalf(v)); }

// Host floats to device bytes of `dt`.
std::shared_ptr<void> Upload(const std::vector<float>& v, DT dt) {
  auto p = DeviceAlloc(v.size() * (dt == DT::kF16 ? 2 : 4));
  if (p == nullptr) return nullptr;
  cudaError_t e = dt == DT::kF16
                      ? cudaMemcpy(p.get(), ToHalf(v).data(), v.size() * 2, cudaMemcpyHostToDevice)
                      : cudaMemcpy(p.get(), v.data(), v.size() * 4, cudaMemcpyHostToDevice);
  return e == cudaSuccess ? p : nullptr;
}
std::shared_ptr<void> UploadBytes(const std::vector<uint8_t>& b) {
  auto p = DeviceAlloc(b.size());
  if (p == nullptr) return nullptr;
  if (!b.empty() &&
      cudaMemcpy(p.get(), b.data(), b.size(), cudaMemcpyHostToDevice) != cudaSuccess) {
    return nullptr;
  }
  return p;
}
std::vector<float> Download(const void* p, size_t n, DT dt) {
  if (dt == DT::kF16) {
    std::vector<uint16_t> h(n);
    if (cudaMemcpy(h.data(), p, n * 2, cudaMemcpyDeviceToHost) != cudaSuccess) return {};
    return FromHalf(h);
  }
  std::vector<float> f(n);
  if (cudaMemcpy(f.data(), p, n * 4, cudaMemcpyDeviceToHost) != cudaSuccess) return {};
  return f;
}

// max |y - ref| / max |ref|, or +inf when y holds a NaN or has the wrong size.
double MaxRelError(const std::vector<float>& y, const std::vector<float>& ref) {
  if (y.size() != ref.size()) return INFINITY;
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < y.size(); ++i) {
    if (!std::isfinite(y[i])) return INFINITY;
    max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[i])));
    max_diff = std::max(max_diff, std::fabs(static_cast<double>(y[i]) - ref[i]));
  }
  return max_diff / std::max(max_ref, 1e-6);
}

// ONNX-layout weights to the reference's layout: [K][R][S][C/g]; transposed [C][R][S][K/g].
std::vector<float> RefWeights(const ConvShape& s, const std::vector<float>& onnx) {
  std::vector<float> out(onnx.size());
  if (s.transposed) {
    const int64_t kg = s.k / s.groups;
    for (int64_t c = 0; c < s.c; ++c)
      for (int64_t k = 0; k < kg; ++k)
        for (int64_t r = 0; r < s.r; ++r)
          for (int64_t q = 0; q < s.s; ++q)
            out[((c * s.r + r) * s.s + q) * kg + k] = onnx[((c * kg + k) * s.r + r) * s.s + q];
  } else {
    const int64_t cg = s.c / s.groups;
    for (int64_t k = 0; k < s.k; ++k)
      for (int64_t c = 0; c < cg; ++c)
        for (int64_t r = 0; r < s.r; ++r)
          for (int64_t q = 0; q < s.s; ++q)
            out[((k * s.r + r) * s.s + q) * cg + c] = onnx[((k * cg + c) * s.r + r) * s.s + q];
  }
  return out;
}

struct ConvCase {
  ShapeCase shape;
  EpiCase epi;
  DT dt;
};

std::string CaseName(const ::testing::TestParamInfo<ConvCase>& info) {
  return std::string(info.param.shape.name) + "_" + info.param.epi.name +
         (info.param.dt == DT::kF16 ? "_f16" : "_f32");
}

class ConvTacticParity : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvTacticParity, EveryTacticMatchesReference) {
  VRSEG_REQUIRE_GPU();
  GpuContext* ctx = Context();
  ASSERT_NE(ctx, nullptr) << "GpuContext::Create(0) failed";
  const ConvCase& cc = GetParam();
  const ConvShape& s = cc.shape.s;
  const int64_t batch = s.n;
  ConvDesc d;
  d.shape = s;
  d.dt = cc.dt;
  d.has_bias = true;
  d.act = cc.epi.act;
  d.alpha = cc.epi.alpha;
  d.beta = cc.epi.beta;
  d.has_residual = cc.epi.residual;
  d.residual_after_act = cc.epi.after;

  const int64_t oh = s.OutH(), ow = s.OutW();
  const size_t nx = static_cast<size_t>(batch * s.h * s.w * s.c);
  const size_t ny = static_cast<size_t>(batch * oh * ow * s.k);
  const size_t nw = static_cast<size_t>(s.k * (s.c / s.groups) * s.r * s.s);
  const float fan = static_cast<float>((s.transposed ? s.c : s.c / s.groups) * s.r * s.s);
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(CaseName({cc, 0}))));
  std::vector<float> x = Uniform(nx, -1, 1, rng);
  std::vector<float> w = Uniform(nw, -0.5f / std::sqrt(fan), 0.5f / std::sqrt(fan), rng);
  std::vector<float> b = Uniform(static_cast<size_t>(s.k), -0.5f, 0.5f, rng);
  std::vector<float> res = Uniform(ny, -1, 1, rng);
  if (cc.dt == DT::kF16) {  // the reference sees what the GPU sees
    x = RoundHalf(x);
    w = RoundHalf(w);
    b = RoundHalf(b);
    res = RoundHalf(res);
  }
  Epilogue epi;
  epi.act = d.act;
  epi.alpha = d.alpha;
  epi.beta = d.beta;
  epi.residual = d.has_residual ? 0 : -1;
  epi.residual_after_act = d.residual_after_act;
  std::vector<float> ref(ny);
  const std::vector<float> wref = RefWeights(s, w);
  RefConvNHWC(s, x.data(), wref.data(), b.data(), d.has_residual ? res.data() : nullptr, ref.data(),
              epi);

  const std::vector<ConvTactic> tactics = CandidateConvTactics(*ctx, d, batch);
  ASSERT_FALSE(tactics.empty());
  EXPECT_EQ(tactics.back().algo, ConvAlgo::kDirect) << "the direct kernel is always offered";
  const bool depthwise = !s.transposed && s.groups == s.c && s.c == s.k;
  const int vec = cc.dt == DT::kF16 ? 8 : 4;
  EXPECT_EQ(std::count_if(tactics.begin(), tactics.end(),
                          [](const ConvTactic& t) { return t.algo == ConvAlgo::kDepthwise; }),
            depthwise ? (s.c % vec == 0 ? 2 : 1) : 0)
      << "depthwise v1 always, v2 when C fills 16-byte vectors";
  const bool symmetric = s.pad_top == s.pad_bottom && s.pad_left == s.pad_right;
  if (symmetric) {
    EXPECT_GT(std::count_if(tactics.begin(), tactics.end(),
                            [](const ConvTactic& t) { return t.algo == ConvAlgo::kCudnn; }),
              0)
        << "cuDNN offers nothing for " << cc.shape.name;
  }

  auto dx = Upload(x, cc.dt);
  auto dres = Upload(res, cc.dt);
  auto dy = DeviceAlloc(ny * (cc.dt == DT::kF16 ? 2 : 4));
  ASSERT_TRUE(dx && dres && dy);
  cudaStream_t stream = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&stream));
  const double tol = cc.dt == DT::kF16 ? 1e-2 : 1e-4;
  std::string offered;
  for (const ConvTactic& t : tactics) offered += t.Name() + " ";
  RecordProperty("tactics", offered);  // in --gtest_output=xml reports
  for (const ConvTactic& t : tactics) {
    // Twice when the residual comes before the activation: once apart, once in y itself.
    for (int alias = 0; alias < ((d.has_residual && !d.residual_after_act) ? 2 : 1); ++alias) {
      SCOPED_TRACE(std::string(cc.shape.name) + " epilogue " + cc.epi.name +
                   (cc.dt == DT::kF16 ? " fp16" : " fp32") + " tactic " + t.Name() +
                   (alias ? " (residual aliases y)" : "") + "; offered: " + offered);
      auto dw = UploadBytes(PrepareConvWeights(d, t, w.data()));
      auto db = UploadBytes(PrepareConvBias(d, t, b.data()));
      ASSERT_TRUE(dw && db);
      auto runner = ConvRunner::Create(*ctx, d, t, batch);
      ASSERT_TRUE(runner.ok()) << runner.status().ToString();
      auto ws = DeviceAlloc((*runner)->workspace_bytes());
      ASSERT_TRUE(ws);
      const void* rp = nullptr;
      if (d.has_residual) {
        if (alias) {
          ASSERT_CUDA(cudaMemcpy(dy.get(), dres.get(), ny * (cc.dt == DT::kF16 ? 2 : 4),
                                 cudaMemcpyDeviceToDevice));
          rp = dy.get();
        } else {
          rp = dres.get();
        }
      }
      if (!alias) {  // NaN everywhere, so an output left unwritten fails
        ASSERT_CUDA(cudaMemset(dy.get(), 0xFF, ny * (cc.dt == DT::kF16 ? 2 : 4)));
      }
      Status st = (*runner)->Run(dx.get(), dw.get(), db.get(), rp, dy.get(), ws.get(), stream);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_CUDA(cudaStreamSynchronize(stream));
      const double err = MaxRelError(Download(dy.get(), ny, cc.dt), ref);
      EXPECT_LE(err, tol) << "max |y - ref| / max |ref| = " << err;
    }
  }
  cudaStreamDestroy(stream);
}

std::vector<ConvCase> AllCases() {
  std::vector<ConvCase> v;
  for (DT dt : {DT::kF32, DT::kF16})
    for (const ShapeCase& s : Shapes())
      for (const EpiCase& e : Epilogues()) v.push_back({s, e, dt});
  return v;
}

INSTANTIATE_TEST_SUITE_P(All, ConvTacticParity, ::testing::ValuesIn(AllCases()), CaseName);

// ---- GPU: runners replay inside a CUDA graph ----------------------------------------------------

// After one warm-up Run (what the builder's timing does), a Run captured into a CUDA graph and
// replayed gives the reference result: no allocation, no synchronisation, nothing host-side left
// behind in the captured work. A 1x1 layer covers cuDNN (plain and fused) and
// cuBLASLt; a depthwise and a transposed layer cover our kernels and backward-data.
TEST(ConvRunnerTest, EveryTacticReplaysInACudaGraph) {
  VRSEG_REQUIRE_GPU();
  GpuContext* ctx = Context();
  ASSERT_NE(ctx, nullptr);
  const ShapeCase shapes[] = {{"k1", Shape(9, 10, 32, 48, 1, 1, 0)},
                              {"dw3_s2", Shape(15, 16, 24, 24, 3, 2, 1, 24)},
                              {"convT_k2_s2", Transposed(6, 5, 16, 8, 2, 2, 0, 0)}};
  for (DT dt : {DT::kF32, DT::kF16}) {
    for (const ShapeCase& sc : shapes) {
      const ConvShape& s = sc.s;
      ConvDesc d;
      d.shape = s;
      d.dt = dt;
      d.has_bias = true;
      d.act = Act::kRelu;
      d.has_residual = true;
      const int64_t batch = s.n;
      const size_t nx = static_cast<size_t>(batch * s.h * s.w * s.c);
      const size_t ny = static_cast<size_t>(batch * s.OutH() * s.OutW() * s.k);
      const size_t nw = static_cast<size_t>(s.k * (s.c / s.groups) * s.r * s.s);
      std::mt19937 rng(7);
      std::vector<float> x = RoundHalf(Uniform(nx, -1, 1, rng));
      std::vector<float> w = RoundHalf(Uniform(nw, -0.2f, 0.2f, rng));
      std::vector<float> b = RoundHalf(Uniform(static_cast<size_t>(s.k), -0.5f, 0.5f, rng));
      std::vector<float> res = RoundHalf(Uniform(ny, -1, 1, rng));
      Epilogue epi;
      epi.act = Act::kRelu;
      epi.residual = 0;
      std::vector<float> ref(ny);
      const std::vector<float> wref = RefWeights(s, w);
      RefConvNHWC(s, x.data(), wref.data(), b.data(), res.data(), ref.data(), epi);
      auto dx = Upload(x, dt);
      auto dres = Upload(res, dt);
      auto dy = DeviceAlloc(ny * (dt == DT::kF16 ? 2 : 4));
      ASSERT_TRUE(dx && dres && dy);
      cudaStream_t stream = nullptr;
      ASSERT_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      for (const ConvTactic& t : CandidateConvTactics(*ctx, d, batch)) {
        SCOPED_TRACE(std::string(sc.name) + (dt == DT::kF16 ? " fp16 " : " fp32 ") + t.Name());
        auto dw = UploadBytes(PrepareConvWeights(d, t, w.data()));
        auto db = UploadBytes(PrepareConvBias(d, t, b.data()));
        auto runner = ConvRunner::Create(*ctx, d, t, batch);
        ASSERT_TRUE(dw && db && runner.ok()) << runner.status().ToString();
        auto ws = DeviceAlloc((*runner)->workspace_bytes());
        ASSERT_TRUE(ws);
        Status warm =
            (*runner)->Run(dx.get(), dw.get(), db.get(), dres.get(), dy.get(), ws.get(), stream);
        ASSERT_TRUE(warm.ok()) << warm.ToString();
        ASSERT_CUDA(cudaStreamSynchronize(stream));
        ASSERT_CUDA(cudaMemset(dy.get(), 0xFF, ny * (dt == DT::kF16 ? 2 : 4)));
        cudaGraph_t graph = nullptr;
        ASSERT_CUDA(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal));
        Status st =
            (*runner)->Run(dx.get(), dw.get(), db.get(), dres.get(), dy.get(), ws.get(), stream);
        const cudaError_t end = cudaStreamEndCapture(stream, &graph);
        ASSERT_TRUE(st.ok()) << st.ToString();
        ASSERT_EQ(end, cudaSuccess) << cudaGetErrorString(end);
        cudaGraphExec_t exec = nullptr;
        ASSERT_CUDA(cudaGraphInstantiate(&exec, graph, 0));
        ASSERT_CUDA(cudaGraphLaunch(exec, stream));
        ASSERT_CUDA(cudaStreamSynchronize(stream));
        cudaGraphExecDestroy(exec);
        cudaGraphDestroy(graph);
        const double err = MaxRelError(Download(dy.get(), ny, dt), ref);
        EXPECT_LE(err, dt == DT::kF16 ? 1e-2 : 1e-4) << "after graph replay";
      }
      cudaStreamDestroy(stream);
    }
  }
}

// ---- GPU: errors name the layer -----------------------------------------------------------------

TEST(ConvRunnerTest, RefusesWhatATacticCannotDo) {
  VRSEG_REQUIRE_GPU();
  GpuContext* ctx = Context();
  ASSERT_NE(ctx, nullptr);
  ConvDesc d;
  d.shape = Shape(8, 8, 8, 16, 3, 2, 0);
  d.shape.pad_bottom = d.shape.pad_right = 1;
  auto r = ConvRunner::Create(*ctx, d, {ConvAlgo::kCudnn, 1}, 1);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("conv 3x3/s2x2"), std::string::npos) << r.status().ToString();
  auto dw = ConvRunner::Create(*ctx, d, {ConvAlgo::kDepthwise, 1}, 1);
  ASSERT_FALSE(dw.ok());
  EXPECT_EQ(dw.status().code(), StatusCode::kInvalidArgument);
  auto lt = ConvRunner::Create(*ctx, d, {ConvAlgo::kCublasLt, 0}, 1);
  EXPECT_FALSE(lt.ok());
  d.has_bias = true;
  d.act = Act::kSigmoid;
  d.shape.pad_bottom = d.shape.pad_right = 0;
  auto fused = ConvRunner::Create(*ctx, d, {ConvAlgo::kCudnnFused, 1}, 1);
  EXPECT_FALSE(fused.ok());
  d.shape.groups = 3;  // does not divide C = 8
  auto bad = ConvRunner::Create(*ctx, d, {ConvAlgo::kDirect, 1}, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(CandidateConvTactics(*ctx, d, 1).empty());
}

TEST(GpuContextTest, ReportsDeviceAndLibraries) {
  VRSEG_REQUIRE_GPU();
  GpuContext* ctx = Context();
  ASSERT_NE(ctx, nullptr);
  EXPECT_GE(ctx->cc(), 50);
  EXPECT_FALSE(ctx->gpu_name().empty());
  EXPECT_GT(ctx->cuda_runtime_version(), 0);
  EXPECT_GE(ctx->cudnn_version(), 90000u);
  EXPECT_GT(ctx->cublas_version(), 0);
  EXPECT_NE(ctx->cudnn(), nullptr);
  EXPECT_NE(ctx->lt(), nullptr);
  EXPECT_NE(ctx->blas(), nullptr);
}

}  // namespace
}  // namespace vrseg::engine::gpu

#endif  // VRSEG_HAVE_CUDA
