// GEMM tactics (cuBLASLt) against a double-precision loop: every tactic CandidateGemmTactics
// offers, for transposes, batches (shared and per-entry B), alpha, scaled bias, every activation
// and the residual before/after it; fp32 max error ≤ 1e-4 of max |out|, fp16 ≤ 1e-2 (the loop fed
// the same fp16-rounded operands).
#ifdef VRSEG_HAVE_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/conv.h"
#include "gpu_util.h"

namespace vrseg::engine::gpu {
namespace {

using engine::testing::DeviceAlloc;
using engine::testing::FromHalf;
using engine::testing::ToHalf;

TEST(GemmPrepareTest, BiasIsScaledAndTyped) {
  GemmDesc d;
  d.n = 3;
  d.k = 2;
  d.has_bias = true;
  d.bias_scale = 0.5f;
  const float bias[3] = {2.f, -4.f, 1.f};
  auto b32 = PrepareGemmBias(d, bias);
  ASSERT_EQ(b32.size(), 12u);
  std::vector<float> f(3);
  std::memcpy(f.data(), b32.data(), 12);
  EXPECT_EQ(f, (std::vector<float>{1.f, -2.f, 0.5f}));
  d.dt = DT::kF16;
  auto b16 = PrepareGemmBias(d, bias);
  ASSERT_EQ(b16.size(), 6u);
  std::vector<uint16_t> h(3);
  std::memcpy(h.data(), b16.data(), 6);
  EXPECT_EQ(FromHalf(h), (std::vector<float>{1.f, -2.f, 0.5f}));
  const float bmat[6] = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(PrepareGemmB(d, bmat).size(), 12u);
  d.has_bias = false;
  EXPECT_TRUE(PrepareGemmBias(d, bias).empty());
}

struct GemmCase {
  std::string name;
  GemmDesc d;
};

GemmDesc G(int64_t m, int64_t n, int64_t k, int64_t batch = 1, bool ta = false, bool tb = false,
           bool shared_b = true) {
  GemmDesc d;
  d.m = m;
  d.n = n;
  d.k = k;
  d.batch_count = batch;
  d.trans_a = ta;
  d.trans_b = tb;
  d.b_broadcast = shared_b;
  return d;
}

std::vector<GemmCase> Cases() {
  std::vector<GemmCase> shapes = {
      {"m64_n48_k32", G(64, 48, 32)},
      {"m1_n1000_k512", G(1, 1000, 512)},  // classifier head
      {"m37_n24_k40_transB", G(37, 24, 40, 1, false, true)},
      {"m32_n16_k24_transA", G(32, 16, 24, 1, true, false)},
      {"m20_n28_k36_transAB", G(20, 28, 36, 1, true, true)},
      {"m16_n8_k8_x3_sharedB", G(16, 8, 8, 3)},
      {"m16_n24_k32_x3_sharedB_transA", G(16, 24, 32, 3, true, false)},
      {"m24_n16_k8_x2_ownB", G(24, 16, 8, 2, false, false, false)},
      {"m8_n32_k16_x4_ownB_transB", G(8, 32, 16, 4, false, true, false)},
  };
  struct E {
    const char* name;
    bool bias;
    Act act;
    float a, b;
    bool res, after;
    float alpha, bias_scale;
  };
  const E epis[] = {
      {"plain", false, Act::kNone, 0, 0, false, false, 1, 1},
      {"bias", true, Act::kNone, 0, 0, false, false, 1, 1},
      {"alpha_scaledbias", true, Act::kNone, 0, 0, false, false, 0.5f, 2.f},
      {"bias_relu", true, Act::kRelu, 0, 0, false, false, 1, 1},
      {"relu_nobias", false, Act::kRelu, 0, 0, false, false, 1, 1},
      {"bias_sigmoid", true, Act::kSigmoid, 0, 0, false, false, 1, 1},
      {"bias_hardsigmoid", true, Act::kHardSigmoid, 0.2f, 0.5f, false, false, 1, 1},
      {"bias_tanh", true, Act::kTanh, 0, 0, false, false, 1, 1},
      {"bias_res_before_relu", true, Act::kRelu, 0, 0, true, false, 1, 1},
      {"bias_res_after_relu", true, Act::kRelu, 0, 0, true, true, 1, 1},
      {"res_before_leaky", false, Act::kLeakyRelu, 0.1f, 0, true, false, 1, 1},
  };
  std::vector<GemmCase> out;
  for (DT dt : {DT::kF32, DT::kF16}) {
    for (const GemmCase& s : shapes) {
      for (const E& e : epis) {
        GemmDesc d = s.d;
        d.dt = dt;
        d.has_bias = e.bias;
        d.act = e.act;
        d.act_alpha = e.a;
        d.act_beta = e.b;
        d.has_residual = e.res;
        d.residual_after_act = e.after;
        d.alpha = e.alpha;
        d.bias_scale = e.bias_scale;
        out.push_back({s.name + "_" + e.name + (dt == DT::kF16 ? "_f16" : "_f32"), d});
      }
    }
  }
  return out;
}

GpuContext* Context() {
  static std::unique_ptr<GpuContext> ctx = [] {
    auto r = GpuContext::Create(0);
    return r.ok() ? std::move(r).value() : nullptr;
  }();
  return ctx.get();
}

std::vector<float> Uniform(size_t n, std::mt19937& rng, float scale = 1.f) {
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

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

double Act(engine::Act a, double x, double alpha, double beta) {
  switch (a) {
    case engine::Act::kNone:
      return x;
    case engine::Act::kRelu:
      return x > 0 ? x : 0;
    case engine::Act::kClip:
      return std::min(std::max(x, alpha), beta);
    case engine::Act::kHardSwish:
      return x * std::max(0.0, std::min(1.0, x / 6 + 0.5));
    case engine::Act::kHardSigmoid:
      return std::max(0.0, std::min(1.0, alpha * x + beta));
    case engine::Act::kSigmoid:
      return 1 / (1 + std::exp(-x));
    case engine::Act::kTanh:
      return std::tanh(x);
    case engine::Act::kLeakyRelu:
      return x >= 0 ? x : alpha * x;
  }
  return x;
}

class GemmTacticParity : public ::testing::TestWithParam<GemmCase> {};

TEST_P(GemmTacticParity, EveryTacticMatchesDoubleLoop) {
  VRSEG_REQUIRE_GPU();
  GpuContext* ctx = Context();
  ASSERT_NE(ctx, nullptr) << "GpuContext::Create(0) failed";
  const GemmDesc& d = GetParam().d;
  const std::string name = GetParam().name;
  const int64_t bc = d.batch_count;
  const size_t na = static_cast<size_t>(bc * d.m * d.k);
  const size_t nb = static_cast<size_t>((d.b_broadcast ? 1 : bc) * d.k * d.n);
  const size_t no = static_cast<size_t>(bc * d.m * d.n);
  std::mt19937 rng(static_cast<uint32_t>(std::hash<std::string>{}(name)));
  std::vector<float> a = Uniform(na, rng);
  std::vector<float> b = Uniform(nb, rng, 1.f / std::sqrt(static_cast<float>(d.k)));
  std::vector<float> bias = Uniform(static_cast<size_t>(d.n), rng, 0.5f);
  std::vector<float> res = Uniform(no, rng);
  if (d.dt == DT::kF16) {
    a = FromHalf(ToHalf(a));
    b = FromHalf(ToHalf(b));
    res = FromHalf(ToHalf(res));
    std::vector<float> scaled = bias;
    for (float& x : scaled) x *= d.bias_scale;
    scaled = FromHalf(ToHalf(scaled));  // what PrepareGemmBias hands the GPU
    for (size_t i = 0; i < bias.size(); ++i) bias[i] = scaled[i] / d.bias_scale;
  }
  // out[bi,i,j] = act(alpha * sum_p A[bi](i,p) B[bi|0](p,j) + bias_scale*bias[j] (+res)) (+res)
  std::vector<float> ref(no);
  for (int64_t bi = 0; bi < bc; ++bi) {
    const float* ab = a.data() + bi * d.m * d.k;
    const float* bb = b.data() + (d.b_broadcast ? 0 : bi * d.k * d.n);
    for (int64_t i = 0; i < d.m; ++i) {
      for (int64_t j = 0; j < d.n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < d.k; ++p) {
          const double av = d.trans_a ? ab[p * d.m + i] : ab[i * d.k + p];
          const double bv = d.trans_b ? bb[j * d.k + p] : bb[p * d.n + j];
          acc += av * bv;
        }
        double v = d.alpha * acc;
        if (d.has_bias) v += static_cast<double>(d.bias_scale) * bias[j];
        const size_t o = static_cast<size_t>((bi * d.m + i) * d.n + j);
        if (d.has_residual && !d.residual_after_act) v += res[o];
        v = Act(d.act, v, d.act_alpha, d.act_beta);
        if (d.has_residual && d.residual_after_act) v += res[o];
        ref[o] = static_cast<float>(v);
      }
    }
  }

  const std::vector<GemmTactic> tactics = CandidateGemmTactics(*ctx, d);
  ASSERT_FALSE(tactics.empty()) << name << ": cuBLASLt offers no algorithm";
  RecordProperty("tactics", static_cast<int>(tactics.size()));  // in --gtest_output=xml reports
  auto da = Upload(a, d.dt);
  auto dbm = d.b_broadcast ? UploadBytes(PrepareGemmB(d, b.data())) : Upload(b, d.dt);
  std::vector<float> unscaled = bias;
  auto dbias = UploadBytes(PrepareGemmBias(d, unscaled.data()));
  auto dres = Upload(res, d.dt);
  const size_t out_bytes = no * (d.dt == DT::kF16 ? 2 : 4);
  auto dout = DeviceAlloc(out_bytes);
  ASSERT_TRUE(da && dbm && dbias && dres && dout);
  cudaStream_t stream = nullptr;
  ASSERT_CUDA(cudaStreamCreate(&stream));
  const double tol = d.dt == DT::kF16 ? 1e-2 : 1e-4;
  for (const GemmTactic& t : tactics) {
    SCOPED_TRACE(name + " tactic " + t.Name());
    auto runner = GemmRunner::Create(*ctx, d, t);
    ASSERT_TRUE(runner.ok()) << runner.status().ToString();
    auto ws = DeviceAlloc((*runner)->workspace_bytes());
    ASSERT_TRUE(ws);
    ASSERT_CUDA(cudaMemset(dout.get(), 0xFF, out_bytes));  // NaN: unwritten outputs fail
    Status st = (*runner)->Run(da.get(), dbm.get(), d.has_bias ? dbias.get() : nullptr,
                               d.has_residual ? dres.get() : nullptr, dout.get(), ws.get(), stream);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_CUDA(cudaStreamSynchronize(stream));
    std::vector<float> out = Download(dout.get(), no, d.dt);
    ASSERT_EQ(out.size(), no);
    double max_ref = 1e-6, max_diff = 0;
    bool finite = true;
    for (size_t i = 0; i < no; ++i) {
      finite = finite && std::isfinite(out[i]);
      max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref[i])));
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(out[i]) - ref[i]));
    }
    EXPECT_TRUE(finite) << "NaN or Inf in the output";
    EXPECT_LE(max_diff / max_ref, tol) << "max |out - ref| / max |ref| = " << max_diff / max_ref;
  }
  cudaStreamDestroy(stream);
}

INSTANTIATE_TEST_SUITE_P(All, GemmTacticParity, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<GemmCase>& i) { return i.param.name; });

TEST(GemmRunnerTest, RefusesBadShapes) {
  VRSEG_REQUIRE_GPU();
  GpuContext* ctx = Context();
  ASSERT_NE(ctx, nullptr);
  GemmDesc d = G(0, 4, 4);
  auto r = GemmRunner::Create(*ctx, d, {0});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("gemm m0"), std::string::npos) << r.status().ToString();
  EXPECT_TRUE(CandidateGemmTactics(*ctx, d).empty());
}

}  // namespace
}  // namespace vrseg::engine::gpu

#endif  // VRSEG_HAVE_CUDA
