// imgproc benchmarks: the per-frame cost of the CPU path at video sizes.
//   build-*/bench/imgproc_bench [--benchmark_filter=...]
// Frames are filled with seeded random bytes (costs do not depend on content, except the clamps).

#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "vrseg/imgproc.h"

namespace vrseg {
namespace {

Frame Filled(PixelFormat f, int w, int h, uint32_t seed) {
  Frame fr = *Frame::Allocate(f, w, h);
  std::mt19937 rng(seed);
  for (int p = 0; p < PlaneCount(f); ++p) {
    const int64_t n = fr.pitch[p] * PlaneRows(f, h, p);
    for (int64_t i = 0; i < n; ++i) fr.data[p][i] = static_cast<uint8_t>(rng());
  }
  return fr;
}

// Preprocess: args = input width, height, format, output layout (0 NHWC, 1 NCHW), float16 (0/1).
void BM_Preprocess(benchmark::State& state) {
  const int w = static_cast<int>(state.range(0)), h = static_cast<int>(state.range(1));
  const auto fmt = static_cast<PixelFormat>(state.range(2));
  Frame in = Filled(fmt, w, h, 1);
  PreprocessOptions o;
  o.out_width = 256;
  o.out_height = 256;
  o.layout = state.range(3) ? TensorLayout::kNCHW : TensorLayout::kNHWC;
  auto pre = Preprocessor::Create(o);
  std::vector<float> out(256 * 256 * 3);
  std::vector<uint16_t> out16(256 * 256 * 3);
  const bool f16 = state.range(4) != 0;
  for (auto _ : state) {
    Status s = f16 ? pre->RunF16(in, out16.data()) : pre->Run(in, out.data());
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(out.data());
    benchmark::DoNotOptimize(out16.data());
  }
  state.SetLabel(std::string(PixelFormatName(fmt)) + " " + std::to_string(w) + "x" +
                 std::to_string(h) + " -> 256x256 " + (state.range(3) ? "NCHW" : "NHWC") +
                 (f16 ? " f16" : " f32"));
}
BENCHMARK(BM_Preprocess)
    ->Args({1280, 720, static_cast<int>(PixelFormat::kRGB24), 0, 0})
    ->Args({1280, 720, static_cast<int>(PixelFormat::kRGB24), 1, 0})
    ->Args({1280, 720, static_cast<int>(PixelFormat::kRGB24), 1, 1})
    ->Args({1920, 1080, static_cast<int>(PixelFormat::kNV12), 0, 0})
    ->Args({1920, 1080, static_cast<int>(PixelFormat::kNV12), 1, 1})
    ->Args({1920, 1080, static_cast<int>(PixelFormat::kI420), 0, 0})
    ->Args({1920, 1080, static_cast<int>(PixelFormat::kBGRA), 0, 0})
    ->Unit(benchmark::kMicrosecond);

// Postprocess from a 256x256 sigmoid (or 256x144 two-class) slot to a full-size mask.
// args = width, height, two-class (0/1), threshold (0/1).
void BM_Postprocess(benchmark::State& state) {
  const int w = static_cast<int>(state.range(0)), h = static_cast<int>(state.range(1));
  const bool two = state.range(2) != 0;
  PostprocessOptions o;
  o.model_width = 256;
  o.model_height = two ? 144 : 256;
  o.kind = two ? OutputKind::kTwoClassLogits : OutputKind::kSigmoidProbability;
  o.channels = two ? 2 : 1;
  o.person_channel = two ? 1 : 0;
  o.threshold = state.range(3) != 0;
  std::vector<float> slot(static_cast<size_t>(o.model_width) * o.model_height * o.channels);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> d(two ? -5.f : 0.f, two ? 5.f : 1.f);
  for (auto& v : slot) v = d(rng);
  Frame prob;
  Frame mask = *Frame::Allocate(PixelFormat::kGray8, w, h);
  for (auto _ : state) {
    Status s = ProbabilityFromOutput(slot.data(), o, &prob);
    benchmark::DoNotOptimize(s);
    s = UpsampleMask(prob, o, &mask);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(mask.data[0]);
  }
  state.SetLabel(std::string(two ? "two-class 256x144" : "sigmoid 256x256") + " -> " +
                 std::to_string(w) + "x" + std::to_string(h) + (o.threshold ? " hard" : " soft"));
}
BENCHMARK(BM_Postprocess)
    ->Args({1280, 720, 0, 0})
    ->Args({1920, 1080, 0, 0})
    ->Args({1920, 1080, 0, 1})
    ->Args({1920, 1080, 1, 0})
    ->Unit(benchmark::kMicrosecond);

// Compose: args = width, height, background kind.
void BM_Compose(benchmark::State& state) {
  const int w = static_cast<int>(state.range(0)), h = static_cast<int>(state.range(1));
  CompositeOptions o;
  o.background = static_cast<BackgroundKind>(state.range(2));
  if (o.background == BackgroundKind::kImage) o.image = Filled(PixelFormat::kRGB24, 1024, 768, 4);
  Compositor comp(o);
  Frame rgb = Filled(PixelFormat::kRGB24, w, h, 5);
  Frame mask = Filled(PixelFormat::kGray8, w, h, 6);
  Frame out = *Frame::Allocate(PixelFormat::kRGB24, w, h);
  for (auto _ : state) {
    Status s = comp.Compose(rgb, mask, &out);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(out.data[0]);
  }
  const char* names[] = {"colour", "image", "blur (default radius)"};
  state.SetLabel(std::string(names[state.range(2)]) + " " + std::to_string(w) + "x" +
                 std::to_string(h));
}
BENCHMARK(BM_Compose)
    ->Args({1280, 720, 0})
    ->Args({1920, 1080, 0})
    ->Args({1920, 1080, 1})
    ->Args({1280, 720, 2})
    ->Args({1920, 1080, 2})
    ->Unit(benchmark::kMicrosecond);

void BM_GuidedFilter(benchmark::State& state) {
  const int w = static_cast<int>(state.range(0)), h = static_cast<int>(state.range(1));
  Frame rgb = Filled(PixelFormat::kRGB24, w, h, 7);
  Frame mask = Filled(PixelFormat::kGray8, w, h, 8);
  Frame out = *Frame::Allocate(PixelFormat::kGray8, w, h);
  GuidedFilterOptions o;  // r 8, eps 1e-4, s 4, luma
  for (auto _ : state) {
    Status s = GuidedFilterRefine(rgb, mask, o, &out);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel("r 8 s 4 " + std::to_string(w) + "x" + std::to_string(h));
}
BENCHMARK(BM_GuidedFilter)->Args({1280, 720})->Args({1920, 1080})->Unit(benchmark::kMicrosecond);

void BM_SmoothTemporal(benchmark::State& state) {
  const int w = static_cast<int>(state.range(0)), h = static_cast<int>(state.range(1));
  Frame cur = Filled(PixelFormat::kGray8, w, h, 9), prev = Filled(PixelFormat::kGray8, w, h, 10);
  Frame out = *Frame::Allocate(PixelFormat::kGray8, w, h);
  TemporalOptions o{0.6f, 0.02f};
  for (auto _ : state) {
    Status s = SmoothTemporal(cur, prev, o, &out);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel("gray8 " + std::to_string(w) + "x" + std::to_string(h));
}
BENCHMARK(BM_SmoothTemporal)->Args({1920, 1080})->Unit(benchmark::kMicrosecond);

void BM_RgbToNv12(benchmark::State& state) {
  Frame rgb = Filled(PixelFormat::kRGB24, 1920, 1080, 11);
  Frame nv = *Frame::Allocate(PixelFormat::kNV12, 1920, 1080);
  for (auto _ : state) {
    Status s = RgbToNv12(rgb, &nv);
    benchmark::DoNotOptimize(s);
  }
  state.SetLabel("1920x1080");
}
BENCHMARK(BM_RgbToNv12)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace vrseg

BENCHMARK_MAIN();
