// The engine end to end on the GPU: builder + runtime + "gpu" backend + cache, against ONNX Runtime
// on the CPU ("ort" backend) and the CPU reference executor. Skips without a device.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "engine/ir.h"
#include "engine/plan.h"
#include "engine/ref.h"
#include "frontend_model.h"
#include "gpu_util.h"
#include "vrseg/backend.h"
#include "vrseg/engine.h"
#include "vrseg/host_staged_backend.h"

#ifdef VRSEG_HAVE_CUDA
#include "engine/runtime.h"

namespace vrseg::internal {
BackendFactory GpuBackendFactory();  // src/backend/gpu_backend.cc
}  // namespace vrseg::internal

namespace vrseg::engine {
namespace {

namespace fs = std::filesystem;
using testing::FromHalf;
using testing::ModelBuilder;
using testing::ToHalf;

std::string ModelPath(const std::string& name) {
  return std::string(VRSEG_SOURCE_DIR_FOR_TESTS) + "/models/" + name + ".onnx";
}

// A fresh directory per test, removed at the end.
class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("vrseg_engine_gpu_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void EnsureGpuBackend() { RegisterBackend("gpu", internal::GpuBackendFactory()); }

std::vector<float> RandomInput(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Runs a CPU backend on the first `batch` slots of `in` (fp32, max_batch slots).
std::vector<float> RunCpu(Backend& b, const std::vector<float>& in, int batch) {
  Tensor t = b.input(0);
  std::memcpy(t.data, in.data(), static_cast<size_t>(t.slot_bytes() * batch));
  EXPECT_TRUE(b.Run(batch).ok());
  Tensor o = b.output(0);
  const float* p = o.as<float>();
  return std::vector<float>(p, p + o.slot_bytes() / 4 * batch);
}

// Runs a GPU backend (fp32 or fp16 I/O) on the first `batch` slots of `in`; returns fp32.
std::vector<float> RunGpu(Backend& b, const std::vector<float>& in, int batch, cudaStream_t s) {
  Tensor t = b.input(0);
  EXPECT_EQ(t.memory, MemoryKind::kDevice);
  const int64_t per = t.slot_bytes() / DTypeSize(t.dtype);
  const std::vector<float> slice(in.begin(), in.begin() + per * batch);
  if (t.dtype == DType::kFloat16) {
    const std::vector<uint16_t> h = ToHalf(slice);
    EXPECT_EQ(cudaMemcpy(t.data, h.data(), h.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  } else {
    EXPECT_EQ(cudaMemcpy(t.data, slice.data(), slice.size() * 4, cudaMemcpyHostToDevice),
              cudaSuccess);
  }
  const Status st = b.Run(batch, s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  Tensor o = b.output(0);
  const int64_t n = o.slot_bytes() / DTypeSize(o.dtype) * batch;
  if (o.dtype == DType::kFloat16) {
    std::vector<uint16_t> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), o.data, n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
    return FromHalf(h);
  }
  std::vector<float> out(n);
  EXPECT_EQ(cudaMemcpy(out.data(), o.data, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  return out;
}

// max |a - b| / max(1, max |b|): relative to the output's scale.
double MaxRelError(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double scale = 1, err = 0;
  for (float x : b) scale = std::max(scale, static_cast<double>(std::fabs(x)));
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    err = std::max(err, static_cast<double>(std::fabs(a[i] - b[i])));
  }
  return err / scale;
}

// Person probability per pixel, as the model's metadata says to read its output.
std::vector<float> PersonProbability(const ModelInfo& mi, const std::vector<float>& out) {
  const int c = std::max(1, mi.output_channels);
  const size_t pixels = out.size() / c;
  std::vector<float> p(pixels);
  const bool nhwc = mi.output_layout == TensorLayout::kNHWC;
  const size_t plane = static_cast<size_t>(mi.input_width) * mi.input_height;
  auto at = [&](size_t px, int ch) {
    if (nhwc || c == 1) return out[px * c + ch];
    const size_t n = px / plane, i = px % plane;
    return out[(n * c + ch) * plane + i];
  };
  for (size_t i = 0; i < pixels; ++i) {
    switch (mi.output_kind) {
      case OutputKind::kSigmoidLogit:
        p[i] = 1.f / (1.f + std::exp(-at(i, 0)));
        break;
      case OutputKind::kTwoClassLogits:
      case OutputKind::kClassLogits: {
        float mx = -INFINITY, sum = 0;
        for (int k = 0; k < c; ++k) mx = std::max(mx, at(i, k));
        for (int k = 0; k < c; ++k) sum += std::exp(at(i, k) - mx);
        p[i] = std::exp(at(i, mi.person_channel) - mx) / sum;
        break;
      }
      default:
        p[i] = at(i, 0);
        break;
    }
  }
  return p;
}

double MaskIoU(const std::vector<float>& a, const std::vector<float>& b) {
  size_t inter = 0, uni = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool x = a[i] > 0.5f, y = b[i] > 0.5f;
    inter += x && y;
    uni += x || y;
  }
  return uni == 0 ? 1.0 : static_cast<double>(inter) / uni;
}

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking); }
  ~Stream() {
    if (s) cudaStreamDestroy(s);
  }
};

// ---- whole models against ONNX Runtime ----------------------------------------------------------

class EngineModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(EngineModelTest, Fp32MatchesOrtAndFp16MatchesFp32) {
  VRSEG_REQUIRE_GPU();
  const std::string model = ModelPath(GetParam());
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing (scripts/setup.sh fetches it)";
  EnsureGpuBackend();
  TempDir dir;
  EngineBuildOptions bo;
  bo.min_batch = 1;
  bo.opt_batch = 2;
  bo.max_batch = 4;
  bo.precision = "fp32";
  EngineBuildReport rep;
  const std::string p32 = dir.File("m32.plan"), p16 = dir.File("m16.plan");
  Status st = BuildEngine(model, p32, bo, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_GT(rep.layers.size(), 5u);
  EXPECT_GT(rep.arena_bytes, 0u);
  EXPECT_LE(rep.arena_bytes, rep.naive_bytes);
  bo.precision = "fp16";
  st = BuildEngine(model, p16, bo, &rep);
  ASSERT_TRUE(st.ok()) << st.ToString();
  if (std::getenv("VRSEG_ENGINE_TEST_VERBOSE")) {
    std::printf("%s fp16 build report (%s, %.2f s): arena %llu naive %llu weights %llu\n",
                GetParam().c_str(), rep.gpu.c_str(), rep.build_seconds,
                static_cast<unsigned long long>(rep.arena_bytes),
                static_cast<unsigned long long>(rep.naive_bytes),
                static_cast<unsigned long long>(rep.weight_bytes));
    for (const auto& l : rep.optimizer) std::printf("  opt %s\n", l.c_str());
    for (const auto& l : rep.layers) std::printf("  %s\n", l.c_str());
    auto prof = ProfileEnginePlan(p16, 1, 20);
    if (prof.ok()) {
      double sum = 0;
      for (const auto& p : *prof) sum += p.ms;
      std::printf("  sum of layer times at batch 1: %.4f ms over %zu layers\n", sum, prof->size());
    }
  }

  BackendOptions opts;
  opts.max_batch = 4;
  auto ort = CreateBackend("ort", model, opts);
  ASSERT_TRUE(ort.ok()) << ort.status().ToString();
  auto g32 = CreateBackend("gpu", p32, opts);
  ASSERT_TRUE(g32.ok()) << g32.status().ToString();
  auto g16 = CreateBackend("gpu", p16, opts);
  ASSERT_TRUE(g16.ok()) << g16.status().ToString();
  EXPECT_EQ((*g16)->precision(), "fp16");
  EXPECT_EQ((*g16)->input(0).dtype, DType::kFloat16);
  EXPECT_NE((*g32)->device_description().find("vrseg engine, fp32"), std::string::npos)
      << (*g32)->device_description();
  const ModelInfo& mi = (*g32)->model_info();
  if (std::getenv("VRSEG_ENGINE_TEST_VERBOSE")) {
    for (int b : {1, 4}) {
      auto t = TimeDeviceRuns(**g16, b, 10, 100, 5);
      if (t.ok()) {
        std::vector<double> v = *t;
        std::sort(v.begin(), v.end());
        std::printf(
            "%s fp16 batch %d: %.4f ms per run (median of %zu samples, CUDA graph replay)\n",
            GetParam().c_str(), b, v[v.size() / 2], v.size());
      }
    }
  }

  const Tensor in = (*ort)->input(0);
  const std::vector<float> input = RandomInput(static_cast<size_t>(in.elements()), 1234);
  Stream s;
  for (int batch : {1, 3}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const std::vector<float> ref = RunCpu(**ort, input, batch);
    const std::vector<float> o32 = RunGpu(**g32, input, batch, s.s);
    EXPECT_LE(MaxRelError(o32, ref), 1e-3);
    const std::vector<float> o16 = RunGpu(**g16, input, batch, s.s);
    const std::vector<float> p32v = PersonProbability(mi, o32), p16v = PersonProbability(mi, o16);
    double maxdiff = 0;
    for (size_t i = 0; i < p32v.size(); ++i) {
      maxdiff = std::max(maxdiff, static_cast<double>(std::fabs(p32v[i] - p16v[i])));
    }
    EXPECT_LE(maxdiff, 1e-2);
    EXPECT_GE(MaskIoU(p32v, p16v), 0.99);
    // Replaying the captured graph (second call at this batch) gives the same bits.
    const std::vector<float> again = RunGpu(**g32, input, batch, s.s);
    EXPECT_EQ(0, std::memcmp(again.data(), o32.data(), o32.size() * 4));
  }
}

INSTANTIATE_TEST_SUITE_P(EngineGpuModels, EngineModelTest,
                         ::testing::Values("selfie", "landscape"));

TEST(EngineGpu, PlanRoundTripGivesIdenticalOutputs) {
  VRSEG_REQUIRE_GPU();
  const std::string model = ModelPath("selfie");
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing";
  EnsureGpuBackend();
  TempDir dir;
  EngineBuildOptions bo;
  bo.precision = "fp16";
  bo.max_batch = bo.opt_batch = 2;
  ASSERT_TRUE(BuildEngine(model, dir.File("a.plan"), bo).ok());
  auto plan = ReadPlanFile(dir.File("a.plan"));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_TRUE(WritePlanFile(*plan, dir.File("b.plan")).ok());
  BackendOptions opts;
  opts.max_batch = 2;
  auto a = CreateBackend("gpu", dir.File("a.plan"), opts);
  auto b = CreateBackend("gpu", dir.File("b.plan"), opts);
  ASSERT_TRUE(a.ok() && b.ok());
  const std::vector<float> input = RandomInput(static_cast<size_t>((*a)->input(0).elements()), 7);
  Stream s;
  const auto oa = RunGpu(**a, input, 2, s.s);
  const auto ob = RunGpu(**b, input, 2, s.s);
  ASSERT_EQ(oa.size(), ob.size());
  EXPECT_EQ(0, std::memcmp(oa.data(), ob.data(), oa.size() * 4));
}

TEST(EngineGpu, GraphReplayEqualsEagerAcrossBatchSizes) {
  VRSEG_REQUIRE_GPU();
  const std::string model = ModelPath("landscape");
  if (!fs::exists(model)) GTEST_SKIP() << model << " missing";
  TempDir dir;
  EngineBuildOptions bo;
  bo.precision = "fp32";
  bo.min_batch = 1;
  bo.opt_batch = 2;
  bo.max_batch = 3;
  ASSERT_TRUE(BuildEngine(model, dir.File("l.plan"), bo).ok());
  auto ctx = gpu::GpuContext::Create(0);
  ASSERT_TRUE(ctx.ok());
  std::shared_ptr<gpu::GpuContext> shared(std::move(*ctx));
  auto p1 = ReadPlanFile(dir.File("l.plan"));
  auto p2 = ReadPlanFile(dir.File("l.plan"));
  ASSERT_TRUE(p1.ok() && p2.ok());
  RuntimeOptions eager_opt;
  eager_opt.use_graphs = false;
  auto graph = Runtime::Create(std::move(*p1), shared);
  auto eager = Runtime::Create(std::move(*p2), shared, eager_opt);
  ASSERT_TRUE(graph.ok() && eager.ok());
  Stream s;
  for (int batch : {3, 1, 2, 3, 1}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    const int64_t in_bytes = (*graph)->input_bytes(0, batch);
    const std::vector<float> input = RandomInput(static_cast<size_t>(in_bytes / 4), 100 + batch);
    for (Runtime* rt : {graph->get(), eager->get()}) {
      ASSERT_EQ(cudaMemcpy(rt->input_data(0), input.data(), in_bytes, cudaMemcpyHostToDevice),
                cudaSuccess);
      // Twice: the first call of a batch size runs eagerly and captures, the second replays.
      ASSERT_TRUE(rt->Run(batch, s.s).ok());
      ASSERT_TRUE(rt->Run(batch, s.s).ok());
    }
    ASSERT_EQ(cudaStreamSynchronize(s.s), cudaSuccess);
    const int64_t out_bytes = (*graph)->output_bytes(0, batch);
    std::vector<uint8_t> a(out_bytes), b(out_bytes);
    ASSERT_EQ(cudaMemcpy(a.data(), (*graph)->output_data(0), out_bytes, cudaMemcpyDeviceToHost),
              cudaSuccess);
    ASSERT_EQ(cudaMemcpy(b.data(), (*eager)->output_data(0), out_bytes, cudaMemcpyDeviceToHost),
              cudaSuccess);
    EXPECT_EQ(a, b);
  }
  // The null stream works too (an internal stream ordered with the legacy default stream).
  EXPECT_TRUE((*graph)->Run(2, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  // Out of range.
  EXPECT_EQ((*graph)->Run(4, s.s).code(), StatusCode::kInvalidArgument);
  auto prof = (*graph)->Profile(2, 3, s.s);
  ASSERT_TRUE(prof.ok()) << prof.status().ToString();
  EXPECT_EQ(prof->size(), (*graph)->plan().layers.size());
}

// Figures for the report (not a timed test): plan load time and batch-64 throughput, fp16.
TEST(EngineGpu, VerboseFigures) {
  VRSEG_REQUIRE_GPU();
  if (!std::getenv("VRSEG_ENGINE_TEST_VERBOSE")) GTEST_SKIP() << "set VRSEG_ENGINE_TEST_VERBOSE=1";
  EnsureGpuBackend();
  for (const char* name : {"selfie", "landscape"}) {
    const std::string model = ModelPath(name);
    if (!fs::exists(model)) continue;
    TempDir dir;
    EngineBuildOptions bo;
    bo.precision = "fp16";
    bo.min_batch = 1;
    bo.opt_batch = bo.max_batch = 64;
    EngineBuildReport rep;
    ASSERT_TRUE(BuildEngine(model, dir.File("m.plan"), bo, &rep).ok());
    BackendOptions opts;
    opts.max_batch = 64;
    const auto t0 = std::chrono::steady_clock::now();
    auto be = CreateBackend("gpu", dir.File("m.plan"), opts);
    const double load_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(be.ok()) << be.status().ToString();
    auto t = TimeDeviceRuns(**be, 64, 5, 20, 5);
    ASSERT_TRUE(t.ok());
    std::vector<double> v = *t;
    std::sort(v.begin(), v.end());
    std::printf(
        "%s fp16 plan 1:64:64: build %.2f s, load %.1f ms, batch 64 %.4f ms = %.0f frames/s, arena "
        "%.1f MiB\n",
        name, rep.build_seconds, load_ms, v[v.size() / 2], 64 / (v[v.size() / 2] / 1000),
        rep.arena_bytes / 1048576.0);
  }
}

// Models from elsewhere (bench/export_torchvision.py's exports, ...) against ONNX Runtime on the
// CPU, when VRSEG_ENGINE_EXTRA_MODELS names a folder of .onnx files (not part of CI: the files are
// not committed). fp32 must match (max relative error 1e-3); fp16 must match fp32 (class
// probabilities within 1e-2, argmax label IoU >= 0.99).
TEST(EngineGpu, ExtraModelsMatchOrt) {
  VRSEG_REQUIRE_GPU();
  const char* dir_env = std::getenv("VRSEG_ENGINE_EXTRA_MODELS");
  if (!dir_env) GTEST_SKIP() << "set VRSEG_ENGINE_EXTRA_MODELS=DIR of ONNX files";
  EnsureGpuBackend();
  std::vector<std::string> models;
  for (const auto& e : fs::directory_iterator(dir_env)) {
    const std::string p = e.path().string();
    if (e.path().extension() == ".onnx" && p.find("_fp16") == std::string::npos)
      models.push_back(p);
  }
  std::sort(models.begin(), models.end());
  ASSERT_FALSE(models.empty()) << "no .onnx files in " << dir_env;
  for (const std::string& model : models) {
    SCOPED_TRACE(model);
    TempDir dir;
    EngineBuildOptions bo;
    bo.min_batch = 1;
    bo.opt_batch = bo.max_batch = 2;
    EngineBuildReport rep;
    bo.precision = "fp32";
    Status st = BuildEngine(model, dir.File("m32.plan"), bo, &rep);
    ASSERT_TRUE(st.ok()) << st.ToString();
    const double build32 = rep.build_seconds;
    bo.precision = "fp16";
    st = BuildEngine(model, dir.File("m16.plan"), bo, &rep);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ModelInfo mi;  // first input and output
    BackendOptions opts;
    opts.max_batch = 2;
    opts.model_info_override = &mi;
    auto ort = CreateBackend("ort", model, opts);
    ASSERT_TRUE(ort.ok()) << ort.status().ToString();
    auto g32 = CreateBackend("gpu", dir.File("m32.plan"), opts);
    ASSERT_TRUE(g32.ok()) << g32.status().ToString();
    auto g16 = CreateBackend("gpu", dir.File("m16.plan"), opts);
    ASSERT_TRUE(g16.ok()) << g16.status().ToString();
    // Random pixels normalised as torchvision's ImageNet transforms do (the exports' batch norms
    // were calibrated on such images; raw [0, 1] values drive deeplabv3's logits past 1000).
    std::vector<float> input = RandomInput(static_cast<size_t>((*ort)->input(0).elements()), 42);
    if (const auto& is = (*ort)->input(0).shape; is.size() == 4 && is[1] == 3) {
      const float mean[3] = {0.485f, 0.456f, 0.406f}, sd[3] = {0.229f, 0.224f, 0.225f};
      const size_t plane = static_cast<size_t>(is[2] * is[3]);
      for (size_t i = 0; i < input.size(); ++i) {
        const size_t c = (i / plane) % 3;
        input[i] = (input[i] - mean[c]) / sd[c];
      }
    }
    Stream s;
    const auto ref = RunCpu(**ort, input, 2);
    const auto o32 = RunGpu(**g32, input, 2, s.s);
    const auto o16 = RunGpu(**g16, input, 2, s.s);
    const double e32 = MaxRelError(o32, ref), e16 = MaxRelError(o16, ref);
    EXPECT_LE(e32, 1e-3);
    // fp16 against fp32: class probabilities (softmax over dim 1 of the [N, C, ...] logits) and
    // the argmax label map, compared as the union-weighted IoU over classes.
    const std::vector<int64_t> shape = (*g32)->output(0).shape;
    ASSERT_GE(shape.size(), 2u);
    const int64_t classes = shape[1];
    int64_t inner = 1;
    for (size_t d = 2; d < shape.size(); ++d) inner *= shape[d];
    const int64_t positions = static_cast<int64_t>(o32.size()) / classes;
    double prob_diff = 0;
    int64_t agree = 0;
    for (int64_t pos = 0; pos < positions; ++pos) {
      const int64_t n = pos / inner, i = pos % inner;
      auto at = [&](const std::vector<float>& v, int64_t c) {
        return static_cast<double>(v[(n * classes + c) * inner + i]);
      };
      double m32 = -INFINITY, m16 = -INFINITY;
      int64_t a32 = 0, a16 = 0;
      for (int64_t c = 0; c < classes; ++c) {
        if (at(o32, c) > m32) m32 = at(o32, c), a32 = c;
        if (at(o16, c) > m16) m16 = at(o16, c), a16 = c;
      }
      double z32 = 0, z16 = 0;
      for (int64_t c = 0; c < classes; ++c) {
        z32 += std::exp(at(o32, c) - m32);
        z16 += std::exp(at(o16, c) - m16);
      }
      for (int64_t c = 0; c < classes; ++c) {
        prob_diff = std::max(prob_diff, std::fabs(std::exp(at(o32, c) - m32) / z32 -
                                                  std::exp(at(o16, c) - m16) / z16));
      }
      agree += a32 == a16;
    }
    const double label_iou = static_cast<double>(agree) / (2.0 * positions - agree);
    EXPECT_LE(prob_diff, 1e-2);
    EXPECT_GE(label_iou, 0.99);
    double ms1 = 0;
    if (auto t = TimeDeviceRuns(**g16, 1, 5, 20, 3); t.ok()) {
      std::vector<double> v = *t;
      std::sort(v.begin(), v.end());
      ms1 = v[v.size() / 2];
    }
    std::printf(
        "%s: %zu layers, build fp32 %.1f s fp16 %.1f s, max rel err fp32 %.2e fp16 %.2e, fp16 vs "
        "fp32: max prob diff %.2e, argmax IoU %.4f; fp16 batch 1 %.3f ms, arena %.1f MiB "
        "(naive %.1f)\n",
        fs::path(model).filename().c_str(), rep.layers.size(), build32, rep.build_seconds, e32, e16,
        prob_diff, label_iou, ms1, rep.arena_bytes / 1048576.0, rep.naive_bytes / 1048576.0);
  }
}

// ---- small graphs against the CPU reference
// ------------------------------------------------------

// conv → relu → maxpool → (resize ×2 nearest ‖ conv 1x1) concat → transpose-free softmax over C,
// plus a GAP → flatten → gemm head: most layer kinds in one graph.
std::string SmallModel() {
  ModelBuilder m(13);
  m.Input("x", {-1, 3, 16, 16});
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto rnd = [&](size_t n) {
    std::vector<float> v(n);
    for (float& f : v) f = u(rng);
    return v;
  };
  m.InitF("w1", {8, 3, 3, 3}, rnd(8 * 27));
  m.InitF("b1", {8}, rnd(8));
  auto* c1 = m.Node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  ModelBuilder::AttrIs(c1, "pads", {1, 1, 1, 1});
  m.Node("Relu", {"c1"}, {"r1"}, "relu1");
  auto* mp = m.Node("MaxPool", {"r1"}, {"p1"}, "pool1");
  ModelBuilder::AttrIs(mp, "kernel_shape", {2, 2});
  ModelBuilder::AttrIs(mp, "strides", {2, 2});
  m.InitF("scales", {4}, {1, 1, 2, 2});
  m.InitF("roi", {0}, {});
  auto* rs = m.Node("Resize", {"p1", "roi", "scales"}, {"up"}, "resize1");
  ModelBuilder::AttrS(rs, "mode", "nearest");
  m.InitF("w2", {4, 8, 1, 1}, rnd(32));
  m.Node("Conv", {"r1", "w2"}, {"c2"}, "conv2");
  auto* cat = m.Node("Concat", {"up", "c2"}, {"cat"}, "concat1");
  ModelBuilder::AttrI(cat, "axis", 1);
  m.InitF("bias_c", {12, 1, 1}, rnd(12));
  m.Node("Add", {"cat", "bias_c"}, {"catb"}, "add_const");
  auto* sm = m.Node("Softmax", {"catb"}, {"y"}, "softmax1");
  ModelBuilder::AttrI(sm, "axis", 1);
  m.Node("GlobalAveragePool", {"r1"}, {"gap"}, "gap1");
  m.Node("Flatten", {"gap"}, {"flat"}, "flatten1");
  m.InitF("wg", {8, 5}, rnd(40));
  m.InitF("bg", {5}, rnd(5));
  m.Node("Gemm", {"flat", "wg", "bg"}, {"z"}, "gemm1");
  m.Output("y");
  m.Output("z");
  return m.Bytes();
}

TEST(EngineGpu, SmallGraphMatchesReference) {
  VRSEG_REQUIRE_GPU();
  TempDir dir;
  const std::string path = dir.File("small.onnx");
  {
    std::ofstream f(path, std::ios::binary);
    f << SmallModel();
  }
  FrontendOptions fo;
  fo.import.min_batch = 1;
  fo.import.max_batch = 3;
  auto g = LoadAndOptimize(path, fo);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto ctx = gpu::GpuContext::Create(0);
  ASSERT_TRUE(ctx.ok());
  std::shared_ptr<gpu::GpuContext> shared(std::move(*ctx));
  BuilderOptions bo;
  bo.precision = PlanDType::kF32;
  bo.min_batch = 1;
  bo.opt_batch = 2;
  bo.max_batch = 3;
  auto plan = BuildPlan(*g, bo, shared, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_LE(plan->arena_bytes, plan->naive_bytes);
  auto rt = Runtime::Create(*plan, shared);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  Stream s;
  for (int batch : {1, 3}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    HostTensor x;
    x.dims = {batch, 3, 16, 16};
    x.f = RandomInput(static_cast<size_t>(batch * 3 * 16 * 16), 9);
    for (float& v : x.f) v = v * 2 - 1;
    auto ref = RunReference(*g, {{"x", x}});
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    ASSERT_EQ(cudaMemcpy((*rt)->input_data(0), x.f.data(), x.f.size() * 4, cudaMemcpyHostToDevice),
              cudaSuccess);
    ASSERT_TRUE((*rt)->Run(batch, s.s).ok());
    ASSERT_EQ(cudaStreamSynchronize(s.s), cudaSuccess);
    const Plan& p = (*rt)->plan();
    for (size_t o = 0; o < p.outputs.size(); ++o) {
      const HostTensor& want = ref->at(p.outputs[o].name);
      std::vector<float> got(want.f.size());
      ASSERT_EQ(static_cast<int64_t>(got.size() * 4),
                (*rt)->output_bytes(static_cast<int>(o), batch));
      ASSERT_EQ(cudaMemcpy(got.data(), (*rt)->output_data(static_cast<int>(o)), got.size() * 4,
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
      EXPECT_LE(MaxRelError(got, want.f), 1e-4) << p.outputs[o].name;
    }
  }
}

// BatchNormalization alone, LeakyRelu, reflect Pad, Split, an identity and a real Transpose,
// MatMul with a constant and with an activation B (batched), ReduceMean, Softmax, ArgMax (int64),
// strided Slice, Flatten.
std::string SmallModel2() {
  ModelBuilder m(13);
  m.Input("x", {-1, 4, 6, 8});
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto rnd = [&](size_t n, float lo = 0) {
    std::vector<float> v(n);
    for (float& f : v) f = lo + u(rng);
    return v;
  };
  m.InitF("bn_s", {4}, rnd(4, 1.5f));
  m.InitF("bn_b", {4}, rnd(4));
  m.InitF("bn_m", {4}, rnd(4));
  m.InitF("bn_v", {4}, rnd(4, 2.f));
  m.Node("BatchNormalization", {"x", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"}, "bn1");
  auto* lr = m.Node("LeakyRelu", {"bn"}, {"lr"}, "leaky1");
  ModelBuilder::AttrF(lr, "alpha", 0.1f);
  m.InitI("pads", {8}, {0, 0, 1, 2, 0, 0, 1, 0});
  auto* pd = m.Node("Pad", {"lr", "pads"}, {"pd"}, "pad1");
  ModelBuilder::AttrS(pd, "mode", "reflect");
  m.InitI("split", {2}, {1, 3});
  auto* sp = m.Node("Split", {"pd", "split"}, {"s1", "s2"}, "split1");
  ModelBuilder::AttrI(sp, "axis", 1);
  auto* t = m.Node("Transpose", {"s2"}, {"t"}, "to_nhwc");
  ModelBuilder::AttrIs(t, "perm", {0, 2, 3, 1});
  m.InitF("wm", {3, 5}, rnd(15));
  m.Node("MatMul", {"t", "wm"}, {"mm"}, "matmul_const");
  auto* rm = m.Node("ReduceMean", {"mm"}, {"rm"}, "mean1");
  ModelBuilder::AttrIs(rm, "axes", {2});
  ModelBuilder::AttrI(rm, "keepdims", 0);
  auto* sm = m.Node("Softmax", {"rm"}, {"y1"}, "softmax1");
  ModelBuilder::AttrI(sm, "axis", -1);
  auto* am = m.Node("ArgMax", {"pd"}, {"y2"}, "argmax1");
  ModelBuilder::AttrI(am, "axis", 1);
  ModelBuilder::AttrI(am, "keepdims", 0);
  m.InitI("st", {1}, {1});
  m.InitI("en", {1}, {7});
  m.InitI("ax", {1}, {2});
  m.InitI("stp", {1}, {2});
  m.Node("Slice", {"s1", "st", "en", "ax", "stp"}, {"sl"}, "slice1");
  auto* fl = m.Node("Flatten", {"sl"}, {"y3"}, "flatten1");
  ModelBuilder::AttrI(fl, "axis", 1);
  auto* tb = m.Node("Transpose", {"t"}, {"tb"}, "transpose_real");
  ModelBuilder::AttrIs(tb, "perm", {0, 1, 3, 2});
  m.Node("MatMul", {"t", "tb"}, {"mm2"}, "matmul_batched");
  auto* rm2 = m.Node("ReduceMean", {"mm2"}, {"y4"}, "mean2");
  ModelBuilder::AttrIs(rm2, "axes", {3});
  ModelBuilder::AttrI(rm2, "keepdims", 0);
  m.Output("y1");
  m.Output("y2", onnx::TensorProto::INT64);
  m.Output("y3");
  m.Output("y4");
  return m.Bytes();
}

// Builds `model` (fp32, batch 1:2:3) and compares every output with the CPU reference at batch 1
// and 3.
void CheckAgainstReference(const std::string& model_bytes) {
  TempDir dir;
  const std::string path = dir.File("m.onnx");
  {
    std::ofstream f(path, std::ios::binary);
    f << model_bytes;
  }
  FrontendOptions fo;
  fo.import.min_batch = 1;
  fo.import.max_batch = 3;
  auto g = LoadAndOptimize(path, fo);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  auto ctx = gpu::GpuContext::Create(0);
  ASSERT_TRUE(ctx.ok());
  std::shared_ptr<gpu::GpuContext> shared(std::move(*ctx));
  BuilderOptions bo;
  bo.precision = PlanDType::kF32;
  bo.min_batch = 1;
  bo.opt_batch = 2;
  bo.max_batch = 3;
  auto plan = BuildPlan(*g, bo, shared, nullptr);
  ASSERT_TRUE(plan.ok()) << plan.status().ToString() << "\n" << g->Dump();
  EXPECT_LE(plan->arena_bytes, plan->naive_bytes);
  auto rt = Runtime::Create(*plan, shared);
  ASSERT_TRUE(rt.ok()) << rt.status().ToString();
  const Value& xin = g->values[g->inputs[0]];
  Stream s;
  for (int batch : {1, 3}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    HostTensor x;
    x.dims = Concrete(xin.shape, batch);
    x.f = RandomInput(static_cast<size_t>(Elements(xin.shape, batch)), 9 + batch);
    for (float& v : x.f) v = v * 2 - 1;
    auto ref = RunReference(*g, {{xin.name, x}});
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    ASSERT_EQ(cudaMemcpy((*rt)->input_data(0), x.f.data(), x.f.size() * 4, cudaMemcpyHostToDevice),
              cudaSuccess);
    ASSERT_TRUE((*rt)->Run(batch, s.s).ok());
    ASSERT_EQ(cudaStreamSynchronize(s.s), cudaSuccess);
    const Plan& p = (*rt)->plan();
    for (size_t o = 0; o < p.outputs.size(); ++o) {
      const HostTensor& want = ref->at(p.outputs[o].name);
      const int64_t bytes = (*rt)->output_bytes(static_cast<int>(o), batch);
      if (p.outputs[o].dtype == PlanDType::kI64) {
        std::vector<int64_t> got(want.i.size());
        ASSERT_EQ(static_cast<int64_t>(got.size() * 8), bytes) << p.outputs[o].name;
        ASSERT_EQ(cudaMemcpy(got.data(), (*rt)->output_data(static_cast<int>(o)), bytes,
                             cudaMemcpyDeviceToHost),
                  cudaSuccess);
        EXPECT_EQ(got, want.i) << p.outputs[o].name;
        continue;
      }
      std::vector<float> got(want.f.size());
      ASSERT_EQ(static_cast<int64_t>(got.size() * 4), bytes) << p.outputs[o].name;
      ASSERT_EQ(cudaMemcpy(got.data(), (*rt)->output_data(static_cast<int>(o)), bytes,
                           cudaMemcpyDeviceToHost),
                cudaSuccess);
      EXPECT_LE(MaxRelError(got, want.f), 1e-4) << p.outputs[o].name;
    }
  }
}

TEST(EngineGpu, SecondSmallGraphMatchesReference) {
  VRSEG_REQUIRE_GPU();
  CheckAgainstReference(SmallModel2());
}

// ---- the cache
// -----------------------------------------------------------------------------------

std::string TinyConvModel(float scale) {
  ModelBuilder m(13);
  m.Input("x", {-1, 4, 8, 8});
  std::vector<float> w(8 * 4 * 9);
  for (size_t i = 0; i < w.size(); ++i) w[i] = scale * static_cast<float>((i % 7) - 3) / 10.f;
  m.InitF("w", {8, 4, 3, 3}, w);
  auto* c = m.Node("Conv", {"x", "w"}, {"c"}, "conv");
  ModelBuilder::AttrIs(c, "pads", {1, 1, 1, 1});
  m.Node("Relu", {"c"}, {"y"}, "relu");
  m.Output("y");
  return m.Bytes();
}

TEST(EngineCache, HitMismatchAndCorruptRebuild) {
  VRSEG_REQUIRE_GPU();
  TempDir dir;
  const std::string model = dir.File("tiny.onnx");
  {
    std::ofstream f(model, std::ios::binary);
    f << TinyConvModel(1.f);
  }
  const std::string cache = dir.File("cache");
  EngineBuildOptions bo;
  bo.precision = "fp32";
  bo.opt_batch = bo.max_batch = 2;  // what the backend asks for with max_batch 2
  EngineCacheOutcome outcome{};
  auto p = CachedEnginePlan(model, bo, cache, &outcome);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(outcome, EngineCacheOutcome::kBuilt);
  const auto mtime = fs::last_write_time(*p);

  auto p2 = CachedEnginePlan(model, bo, cache, &outcome);
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(*p2, *p);
  EXPECT_EQ(outcome, EngineCacheOutcome::kHit);
  EXPECT_EQ(fs::last_write_time(*p), mtime);

  // Another option set is another file.
  EngineBuildOptions b16 = bo;
  b16.precision = "fp16";
  auto p3 = CachedEnginePlan(model, b16, cache, &outcome);
  ASSERT_TRUE(p3.ok());
  EXPECT_NE(*p3, *p);
  EXPECT_EQ(outcome, EngineCacheOutcome::kBuilt);

  // A plan whose key names another cuDNN is rebuilt.
  auto plan = ReadPlanFile(*p);
  ASSERT_TRUE(plan.ok());
  plan->key.cudnn_version += 1;
  ASSERT_TRUE(WritePlanFile(*plan, *p).ok());
  ASSERT_TRUE(CachedEnginePlan(model, bo, cache, &outcome).ok());
  EXPECT_EQ(outcome, EngineCacheOutcome::kRebuiltMismatch);
  auto rebuilt = ReadPlanFile(*p);
  ASSERT_TRUE(rebuilt.ok());
  auto here = MachinePlanKey(0);
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(rebuilt->key.cudnn_version, here->cudnn_version);

  // A truncated plan is rebuilt.
  fs::resize_file(*p, fs::file_size(*p) / 2);
  ASSERT_TRUE(CachedEnginePlan(model, bo, cache, &outcome).ok());
  EXPECT_EQ(outcome, EngineCacheOutcome::kRebuiltCorrupt);
  EXPECT_TRUE(ReadPlanFile(*p).ok());

  // A changed model is another file (the hash is in the name) and a fresh build.
  {
    std::ofstream f(model, std::ios::binary | std::ios::trunc);
    f << TinyConvModel(2.f);
  }
  auto p4 = CachedEnginePlan(model, bo, cache, &outcome);
  ASSERT_TRUE(p4.ok());
  EXPECT_NE(*p4, *p);
  EXPECT_EQ(outcome, EngineCacheOutcome::kBuilt);

  // The backend takes the ONNX file through the cache (and hits it).
  EnsureGpuBackend();
  BackendOptions opts;
  opts.max_batch = 2;
  opts.precision = "fp32";
  opts.engine_cache_dir = cache;
  ModelInfo mi;
  mi.input_name = "x";
  mi.output_name = "y";
  opts.model_info_override = &mi;
  auto be = CreateBackend("gpu", model, opts);
  ASSERT_TRUE(be.ok()) << be.status().ToString();
  EXPECT_NE((*be)->device_description().find(*p4), std::string::npos)
      << (*be)->device_description();
  opts.engine_cache = false;
  auto be2 = CreateBackend("gpu", model, opts);
  ASSERT_TRUE(be2.ok()) << be2.status().ToString();
}

TEST(EngineBuild, UnsupportedOperatorIsNamed) {
  // Refused by the importer before any GPU work: runs without a device too.
  TempDir dir;
  ModelBuilder m(13);
  m.Input("x", {-1, 4});
  m.Node("Relu", {"x"}, {"r"}, "relu");
  m.Node("Einsum", {"r"}, {"y"}, "my_einsum");
  m.Output("y");
  const std::string model = dir.File("bad.onnx");
  {
    std::ofstream f(model, std::ios::binary);
    f << m.Bytes();
  }
  const Status st = BuildEngine(model, dir.File("bad.plan"), EngineBuildOptions{});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.ToString();
  EXPECT_NE(st.message().find("Einsum"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("my_einsum"), std::string::npos) << st.message();
  EXPECT_FALSE(fs::exists(dir.File("bad.plan")));
}

TEST(EngineBuild, BadOptionsAndMissingFiles) {
  EngineBuildOptions bo;
  bo.min_batch = 2;
  bo.opt_batch = 1;
  EXPECT_EQ(BuildEngine("x.onnx", "x.plan", bo).code(), StatusCode::kInvalidArgument);
  bo = EngineBuildOptions{};
  bo.precision = "int4";
  EXPECT_EQ(BuildEngine("x.onnx", "x.plan", bo).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BuildEngine("/nonexistent/m.onnx", "x.plan", EngineBuildOptions{}).code(),
            StatusCode::kNotFound);
}

}  // namespace
}  // namespace vrseg::engine

#endif  // VRSEG_HAVE_CUDA

// Everywhere (CPU-only builds too): the cache directory rules.
namespace vrseg {
namespace {

class EnvGuard {
 public:
  explicit EnvGuard(const char* name) : name_(name) {
    if (const char* v = std::getenv(name)) old_ = v, had_ = true;
  }
  ~EnvGuard() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(EngineCacheDir, FollowsEnvironment) {
  EnvGuard a("VRSEG_CACHE_DIR"), b("XDG_CACHE_HOME"), c("HOME");
  setenv("VRSEG_CACHE_DIR", "/tmp/vc", 1);
  EXPECT_EQ(DefaultEngineCacheDir(), "/tmp/vc");
  unsetenv("VRSEG_CACHE_DIR");
  setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
  EXPECT_EQ(DefaultEngineCacheDir(), "/tmp/xdg/vrseg/engines");
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(DefaultEngineCacheDir(), "/home/someone/.cache/vrseg/engines");
}

}  // namespace
}  // namespace vrseg
