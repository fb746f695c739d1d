// Converter op tests: small hand-made TF.js graphs, converted and run under ONNX Runtime at batch 1
// and batch 2, against naive NHWC implementations of TF's semantics written here from TF's
// definitions (SAME padding: out = ceil(in/s), pad_total = max((out-1)*s + (k-1)*d + 1 - in, 0),
// extra cell at the end; AvgPool averages valid cells only; ResizeBilinear's three coordinate
// conventions; Conv2DBackpropInput as the adjoint of Conv2D).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <ostream>

#include "model/convert_internal.h"
#include "model_test_util.h"

namespace vrseg {
namespace {

using testing::AttrBool;
using testing::AttrInts;
using testing::AttrStr;
using testing::RandomVector;
using testing::RunOrt;
using testing::TempDir;
using testing::TfjsWriter;

// An NHWC tensor for the references.
struct T4 {
  int n = 0, h = 0, w = 0, c = 0;
  std::vector<float> v;
  T4() = default;
  T4(int n_, int h_, int w_, int c_)
      : n(n_), h(h_), w(w_), c(c_), v(size_t(n_) * h_ * w_ * c_, 0.f) {}
  float& at(int b, int y, int x, int k) { return v[((size_t(b) * h + y) * w + x) * c + k]; }
  float at(int b, int y, int x, int k) const { return v[((size_t(b) * h + y) * w + x) * c + k]; }
};

struct Pad {
  int out, before;
};
Pad TfPad(int in, int k, int s, int d, bool same) {
  const int eff = (k - 1) * d + 1;
  if (!same) return {(in - eff) / s + 1, 0};
  const int out = (in + s - 1) / s;
  const int total = std::max((out - 1) * s + eff - in, 0);
  return {out, total / 2};
}

// filter [kh][kw][ci][co] (row-major); groups = C / ci.
T4 RefConv(const T4& x, const std::vector<float>& f, int kh, int kw, int ci, int co, int sh, int sw,
           int dh, int dw, bool same) {
  const Pad ph = TfPad(x.h, kh, sh, dh, same), pw = TfPad(x.w, kw, sw, dw, same);
  T4 y(x.n, ph.out, pw.out, co);
  const int groups = x.c / ci, co_per_group = co / groups;
  for (int b = 0; b < x.n; ++b)
    for (int oy = 0; oy < y.h; ++oy)
      for (int ox = 0; ox < y.w; ++ox)
        for (int o = 0; o < co; ++o) {
          const int g = o / co_per_group;
          double acc = 0;
          for (int u = 0; u < kh; ++u)
            for (int v = 0; v < kw; ++v) {
              const int iy = oy * sh + u * dh - ph.before, ix = ox * sw + v * dw - pw.before;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              for (int i = 0; i < ci; ++i) {
                acc += double(x.at(b, iy, ix, g * ci + i)) *
                       f[((size_t(u) * kw + v) * ci + i) * co + o];
              }
            }
          y.at(b, oy, ox, o) = float(acc);
        }
  return y;
}

// filter [kh][kw][C][M]; output channel c*M+m.
T4 RefDepthwise(const T4& x, const std::vector<float>& f, int kh, int kw, int m, int sh, int sw,
                int dh, int dw, bool same) {
  const Pad ph = TfPad(x.h, kh, sh, dh, same), pw = TfPad(x.w, kw, sw, dw, same);
  T4 y(x.n, ph.out, pw.out, x.c * m);
  for (int b = 0; b < x.n; ++b)
    for (int oy = 0; oy < y.h; ++oy)
      for (int ox = 0; ox < y.w; ++ox)
        for (int c = 0; c < x.c; ++c)
          for (int q = 0; q < m; ++q) {
            double acc = 0;
            for (int u = 0; u < kh; ++u)
              for (int v = 0; v < kw; ++v) {
                const int iy = oy * sh + u * dh - ph.before, ix = ox * sw + v * dw - pw.before;
                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                acc += double(x.at(b, iy, ix, c)) * f[((size_t(u) * kw + v) * x.c + c) * m + q];
              }
            y.at(b, oy, ox, c * m + q) = float(acc);
          }
  return y;
}

// Gradient of Conv2D w.r.t. its input: filter [kh][kw][co][ci], x has ci channels, out [oh, ow,
// co]. (noinline: inlined, GCC 12 reports a false -Wfree-nonheap-object on the accumulator.)
[[gnu::noinline]] T4 RefConvBackpropInput(const T4& x, const std::vector<float>& f, int kh, int kw,
                                          int co, int oh, int ow, int s, bool same) {
  const int ci = x.c;
  const Pad ph = TfPad(oh, kh, s, 1, same), pw = TfPad(ow, kw, s, 1, same);
  EXPECT_EQ(ph.out, x.h);
  EXPECT_EQ(pw.out, x.w);
  T4 y(x.n, oh, ow, co);
  std::vector<double> acc(y.v.size(), 0.0);
  for (int b = 0; b < x.n; ++b)
    for (int iy = 0; iy < x.h; ++iy)
      for (int ix = 0; ix < x.w; ++ix)
        for (int u = 0; u < kh; ++u)
          for (int v = 0; v < kw; ++v) {
            const int oy = iy * s + u - ph.before, ox = ix * s + v - pw.before;
            if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
            for (int o = 0; o < co; ++o)
              for (int i = 0; i < ci; ++i) {
                acc[((size_t(b) * oh + oy) * ow + ox) * co + o] +=
                    double(x.at(b, iy, ix, i)) * f[((size_t(u) * kw + v) * co + o) * ci + i];
              }
          }
  for (size_t i = 0; i < acc.size(); ++i) y.v[i] = float(acc[i]);
  return y;
}

T4 RefPool(const T4& x, int kh, int kw, int sh, int sw, bool same, bool avg) {
  const Pad ph = TfPad(x.h, kh, sh, 1, same), pw = TfPad(x.w, kw, sw, 1, same);
  T4 y(x.n, ph.out, pw.out, x.c);
  for (int b = 0; b < x.n; ++b)
    for (int oy = 0; oy < y.h; ++oy)
      for (int ox = 0; ox < y.w; ++ox)
        for (int c = 0; c < x.c; ++c) {
          double acc = avg ? 0.0 : -INFINITY;
          int count = 0;
          for (int u = 0; u < kh; ++u)
            for (int v = 0; v < kw; ++v) {
              const int iy = oy * sh + u - ph.before, ix = ox * sw + v - pw.before;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              const double val = x.at(b, iy, ix, c);
              acc = avg ? acc + val : std::max(acc, val);
              ++count;
            }
          y.at(b, oy, ox, c) = float(avg ? acc / count : acc);
        }
  return y;
}

// tf.image.resize_bilinear as TF defines it (legacy, align_corners, half_pixel_centers).
T4 RefResize(const T4& x, int oh, int ow, bool align, bool half) {
  T4 y(x.n, oh, ow, x.c);
  auto scale = [&](int in, int out) {
    return align && out > 1 ? double(in - 1) / (out - 1) : double(in) / out;
  };
  const double sy = scale(x.h, oh), sx = scale(x.w, ow);
  for (int b = 0; b < x.n; ++b)
    for (int oy = 0; oy < oh; ++oy)
      for (int ox = 0; ox < ow; ++ox) {
        const double fy = half ? (oy + 0.5) * sy - 0.5 : oy * sy;
        const double fx = half ? (ox + 0.5) * sx - 0.5 : ox * sx;
        const int y0 = std::max(int(std::floor(fy)), 0), y1 = std::min(int(std::ceil(fy)), x.h - 1);
        const int x0 = std::max(int(std::floor(fx)), 0), x1 = std::min(int(std::ceil(fx)), x.w - 1);
        const double ly = fy - std::floor(fy), lx = fx - std::floor(fx);
        for (int c = 0; c < x.c; ++c) {
          const double top = x.at(b, y0, x0, c) + (x.at(b, y0, x1, c) - x.at(b, y0, x0, c)) * lx;
          const double bot = x.at(b, y1, x0, c) + (x.at(b, y1, x1, c) - x.at(b, y1, x0, c)) * lx;
          y.at(b, oy, ox, c) = float(top + (bot - top) * ly);
        }
      }
  return y;
}

// Converts the graph (input "x" [1,H,W,C], output "y") and runs it at batch 1 and 2 on seeded
// random input; `ref` maps the batched input to the expected output. `tol` bounds the absolute
// difference for |values| <= 1 and the relative one above.
void CheckGraph(const TfjsWriter& w, int h, int wd, int c, const std::function<T4(const T4&)>& ref,
                float tol = 1e-5f, float lo = -1.f, float hi = 1.f) {
  TempDir dir;
  const std::string json = w.Write(dir);
  const std::string onnx = dir.File("model.onnx");
  Result<ConvertReport> r = model::ConvertTfjsToOnnxImpl(json, onnx, {}, /*any_io=*/true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  for (int batch : {1, 2}) {
    T4 x(batch, h, wd, c);
    x.v = RandomVector(x.v.size(), 1234 + batch, lo, hi);
    const T4 want = ref(x);
    auto got = RunOrt(onnx, "x", "y", x.v, {batch, h, wd, c});
    ASSERT_TRUE(got.error.empty()) << got.error;
    ASSERT_EQ(got.shape, (std::vector<int64_t>{want.n, want.h, want.w, want.c}))
        << "batch " << batch;
    float worst = 0.f;  // |got - want| / max(1, |want|)
    for (size_t i = 0; i < want.v.size(); ++i) {
      const float d = std::fabs(got.data[i] - want.v[i]) / std::max(1.f, std::fabs(want.v[i]));
      if (!(d <= worst)) worst = d;
    }
    EXPECT_LE(worst, tol) << "batch " << batch;
  }
}

nlohmann::json ConvAttrs(int sh, int sw, const std::string& pad, int dh = 1, int dw = 1) {
  return {{"strides", AttrInts({1, sh, sw, 1})},
          {"dilations", AttrInts({1, dh, dw, 1})},
          {"padding", AttrStr(pad)},
          {"data_format", AttrStr("NHWC")},
          {"explicit_paddings", AttrInts({})}};
}

struct ConvCase {
  int h, w, c, kh, kw, co, s, d;
  const char* pad;
};

void PrintTo(const ConvCase& k, std::ostream* os) {
  *os << k.h << "x" << k.w << "x" << k.c << " k" << k.kh << "x" << k.kw << " co" << k.co << " s"
      << k.s << " d" << k.d << " " << k.pad;
}
class Conv2DTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2DTest, MatchesNaiveTf) {
  const ConvCase k = GetParam();
  TfjsWriter w;
  w.Placeholder("x", {1, k.h, k.w, k.c});
  const auto f = RandomVector(size_t(k.kh) * k.kw * k.c * k.co, 7);
  w.Const("f", {k.kh, k.kw, k.c, k.co}, f);
  w.Op("y", "Conv2D", {"x", "f"}, ConvAttrs(k.s, k.s, k.pad, k.d, k.d));
  w.Output("y");
  const bool same = std::string(k.pad) == "SAME";
  CheckGraph(w, k.h, k.w, k.c, [&](const T4& x) {
    return RefConv(x, f, k.kh, k.kw, k.c, k.co, k.s, k.s, k.d, k.d, same);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Conv2DTest,
    ::testing::Values(ConvCase{8, 8, 3, 3, 3, 4, 2, 1, "SAME"},    // even input, stride 2: pads 0/1
                      ConvCase{7, 9, 3, 3, 3, 4, 2, 1, "SAME"},    // odd input, stride 2: pads 1/1
                      ConvCase{6, 6, 2, 4, 4, 3, 1, 1, "SAME"},    // even kernel: pads 1/2
                      ConvCase{9, 7, 3, 3, 2, 5, 3, 1, "SAME"},    // stride 3, rectangular kernel
                      ConvCase{9, 9, 2, 3, 3, 2, 1, 2, "SAME"},    // dilation 2
                      ConvCase{9, 8, 3, 3, 3, 4, 2, 1, "VALID"},   // VALID, stride 2
                      ConvCase{5, 5, 4, 1, 1, 6, 1, 1, "VALID"}),  // 1x1
    [](const auto& i) { return "case" + std::to_string(i.index); });

TEST(ConvertOps, GroupedConv2D) {
  // TF runs Conv2D with filter in-channels < input channels as a grouped convolution.
  TfjsWriter w;
  w.Placeholder("x", {1, 6, 6, 4});
  const auto f = RandomVector(3 * 3 * 2 * 4, 8);
  w.Const("f", {3, 3, 2, 4}, f);
  w.Op("y", "Conv2D", {"x", "f"}, ConvAttrs(1, 1, "SAME"));
  w.Output("y");
  CheckGraph(w, 6, 6, 4, [&](const T4& x) { return RefConv(x, f, 3, 3, 2, 4, 1, 1, 1, 1, true); });
}

TEST(ConvertOps, ExplicitPadding) {
  TfjsWriter w;
  w.Placeholder("x", {1, 5, 6, 2});
  const auto f = RandomVector(3 * 3 * 2 * 3, 9);
  w.Const("f", {3, 3, 2, 3}, f);
  auto attrs = ConvAttrs(1, 1, "EXPLICIT");
  attrs["explicit_paddings"] =
      AttrInts({0, 0, 2, 0, 1, 1, 0, 0});  // top 2, bottom 0, left 1, right 1
  w.Op("y", "Conv2D", {"x", "f"}, attrs);
  w.Output("y");
  CheckGraph(w, 5, 6, 2, [&](const T4& x) {
    // Reference: zero-pad explicitly, then VALID.
    T4 p(x.n, x.h + 2, x.w + 2, x.c);
    for (int b = 0; b < x.n; ++b)
      for (int y = 0; y < x.h; ++y)
        for (int xx = 0; xx < x.w; ++xx)
          for (int c = 0; c < x.c; ++c) p.at(b, y + 2, xx + 1, c) = x.at(b, y, xx, c);
    return RefConv(p, f, 3, 3, 2, 3, 1, 1, 1, 1, false);
  });
}

TEST(ConvertOps, DepthwiseSameStride2WithMultiplier) {
  for (auto [h, wd] : {std::pair{8, 8}, std::pair{7, 10}}) {
    TfjsWriter w;
    w.Placeholder("x", {1, h, wd, 3});
    const auto f = RandomVector(3 * 3 * 3 * 2, 10);
    w.Const("f", {3, 3, 3, 2}, f);
    w.Op("y", "DepthwiseConv2dNative", {"x", "f"}, ConvAttrs(2, 2, "SAME"));
    w.Output("y");
    CheckGraph(w, h, wd, 3,
               [&](const T4& x) { return RefDepthwise(x, f, 3, 3, 2, 2, 2, 1, 1, true); });
  }
}

TEST(ConvertOps, DepthwiseValidDilated) {
  TfjsWriter w;
  w.Placeholder("x", {1, 9, 9, 4});
  const auto f = RandomVector(3 * 3 * 4 * 1, 11);
  w.Const("f", {3, 3, 4, 1}, f);
  w.Op("y", "DepthwiseConv2dNative", {"x", "f"}, ConvAttrs(1, 1, "VALID", 2, 2));
  w.Output("y");
  CheckGraph(w, 9, 9, 4,
             [&](const T4& x) { return RefDepthwise(x, f, 3, 3, 1, 1, 1, 2, 2, false); });
}

struct DeconvCase {
  int h, w, ci, co, k, s, oh, ow;
  const char* pad;
};
void PrintTo(const DeconvCase& k, std::ostream* os) {
  *os << k.h << "x" << k.w << "x" << k.ci << " -> " << k.oh << "x" << k.ow << "x" << k.co << " k"
      << k.k << " s" << k.s << " " << k.pad;
}
class ConvTransposeTest : public ::testing::TestWithParam<DeconvCase> {};

TEST_P(ConvTransposeTest, MatchesNaiveTf) {
  const DeconvCase k = GetParam();
  TfjsWriter w;
  w.Placeholder("x", {1, k.h, k.w, k.ci});
  w.ConstInt("sizes", {4}, {1, k.oh, k.ow, k.co});
  const auto f = RandomVector(size_t(k.k) * k.k * k.co * k.ci, 12);
  w.Const("f", {k.k, k.k, k.co, k.ci}, f);
  w.Op("y", "Conv2DBackpropInput", {"sizes", "f", "x"}, ConvAttrs(k.s, k.s, k.pad));
  w.Output("y");
  const bool same = std::string(k.pad) == "SAME";
  CheckGraph(w, k.h, k.w, k.ci, [&](const T4& x) {
    return RefConvBackpropInput(x, f, k.k, k.k, k.co, k.oh, k.ow, k.s, same);
  });
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConvTransposeTest,
    ::testing::Values(DeconvCase{4, 4, 3, 2, 2, 2, 8, 8,
                                 "SAME"},  // selfie/meet's final layer shape
                      DeconvCase{4, 5, 3, 2, 3, 2, 8, 10, "SAME"},  // odd kernel: asymmetric crop
                      DeconvCase{4, 5, 3, 2, 3, 2, 7, 9, "SAME"},   // odd output size
                      DeconvCase{3, 3, 2, 2, 3, 2, 7, 7, "VALID"},
                      DeconvCase{3, 3, 2, 2, 3, 2, 8, 8, "VALID"}),  // VALID with an extra row/col
    [](const auto& i) { return "case" + std::to_string(i.index); });

struct PoolCase {
  int h, w, k, s;
  const char* pad;
  const char* op;
};
void PrintTo(const PoolCase& k, std::ostream* os) {
  *os << k.op << " " << k.h << "x" << k.w << " k" << k.k << " s" << k.s << " " << k.pad;
}
class PoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolTest, MatchesNaiveTf) {
  const PoolCase k = GetParam();
  TfjsWriter w;
  w.Placeholder("x", {1, k.h, k.w, 3});
  w.Op("y", k.op, {"x"},
       {{"ksize", AttrInts({1, k.k, k.k, 1})},
        {"strides", AttrInts({1, k.s, k.s, 1})},
        {"padding", AttrStr(k.pad)},
        {"data_format", AttrStr("NHWC")}});
  w.Output("y");
  CheckGraph(w, k.h, k.w, 3, [&](const T4& x) {
    return RefPool(x, k.k, k.k, k.s, k.s, std::string(k.pad) == "SAME",
                   std::string(k.op) == "AvgPool");
  });
}

INSTANTIATE_TEST_SUITE_P(Cases, PoolTest,
                         ::testing::Values(PoolCase{16, 16, 16, 16, "VALID", "AvgPool"},  // global
                                           PoolCase{7, 9, 3, 2, "SAME",
                                                    "AvgPool"},  // pads excluded
                                           PoolCase{8, 8, 2, 2, "VALID", "AvgPool"},
                                           PoolCase{7, 9, 3, 2, "SAME", "MaxPool"},
                                           PoolCase{9, 8, 3, 3, "VALID", "MaxPool"}),
                         [](const auto& i) { return "case" + std::to_string(i.index); });

struct ResizeCase {
  int h, w, oh, ow;
  bool align, half;
};
void PrintTo(const ResizeCase& k, std::ostream* os) {
  *os << k.h << "x" << k.w << " -> " << k.oh << "x" << k.ow << (k.align ? " align_corners" : "")
      << (k.half ? " half_pixel_centers" : "");
}
class ResizeTest : public ::testing::TestWithParam<ResizeCase> {};

TEST_P(ResizeTest, MatchesTfResizeBilinear) {
  const ResizeCase k = GetParam();
  TfjsWriter w;
  w.Placeholder("x", {1, k.h, k.w, 2});
  w.ConstInt("size", {2}, {k.oh, k.ow});
  w.Op("y", "ResizeBilinear", {"x", "size"},
       {{"align_corners", AttrBool(k.align)}, {"half_pixel_centers", AttrBool(k.half)}});
  w.Output("y");
  CheckGraph(w, k.h, k.w, 2,
             [&](const T4& x) { return RefResize(x, k.oh, k.ow, k.align, k.half); });
}

INSTANTIATE_TEST_SUITE_P(Cases, ResizeTest,
                         ::testing::Values(ResizeCase{4, 5, 8, 10, false, true},    // 2x half pixel
                                           ResizeCase{8, 12, 4, 3, false, true},    // 1/2, 1/4
                                           ResizeCase{3, 3, 12, 24, false, false},  // 4x, 8x legacy
                                           ResizeCase{3, 3, 7, 7, false, true},     // 7/3: sizes
                                           ResizeCase{5, 7, 12, 9, false, true},    // odd ratios
                                           ResizeCase{9, 13, 4, 5, false, true},    // downscale
                                           ResizeCase{5, 7, 12, 9, false, false},   // legacy
                                           ResizeCase{5, 7, 12, 9, true, false},    // align corners
                                           ResizeCase{9, 13, 4, 6, true, false}),
                         [](const auto& i) { return "case" + std::to_string(i.index); });

TEST(ConvertOps, ElementwiseWithBroadcastConstants) {
  // Constants of every broadcast rank against an NCHW-internal image tensor.
  const int h = 3, wd = 4, c = 5;
  const auto k_scalar = std::vector<float>{0.75f};
  const auto k_c = RandomVector(c, 20);
  const auto k_1hw1 = RandomVector(h * wd, 21);
  const auto k_full = RandomVector(h * wd * c, 22, 0.5f, 2.f);
  TfjsWriter w;
  w.Placeholder("x", {1, h, wd, c});
  w.Const("s", {}, k_scalar);
  w.Const("vc", {c}, k_c);
  w.Const("m", {1, h, wd, 1}, k_1hw1);
  w.Const("full", {1, h, wd, c}, k_full);
  w.Op("conv_in", "Relu", {"x"});  // any op, so the chain starts from a converted value
  w.Op("a", "Mul", {"s", "conv_in"});
  w.Op("b", "AddV2", {"a", "vc"});
  w.Op("cc", "Sub", {"b", "m"});
  w.Op("d", "RealDiv", {"cc", "full"});
  w.Op("e", "Maximum", {"d", "s"});
  w.Op("f", "Minimum", {"e", "vc"});
  w.Op("g", "BiasAdd", {"f", "vc"}, {{"data_format", AttrStr("NHWC")}});
  w.Op("y", "AddN", {"g", "d", "x"}, {{"N", {{"i", "3"}}}});
  w.Output("y");
  CheckGraph(w, h, wd, c, [&](const T4& x) {
    T4 y = x;
    for (int b = 0; b < x.n; ++b)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < wd; ++j)
          for (int q = 0; q < c; ++q) {
            const float xv = x.at(b, i, j, q);
            const float a = k_scalar[0] * std::max(xv, 0.f);
            const float bb = a + k_c[q];
            const float cc = bb - k_1hw1[i * wd + j];
            const float d = cc / k_full[(i * wd + j) * c + q];
            const float e = std::max(d, k_scalar[0]);
            const float f = std::min(e, k_c[q]);
            const float g = f + k_c[q];
            y.at(b, i, j, q) = g + d + xv;
          }
    return y;
  });
}

TEST(ConvertOps, Activations) {
  TfjsWriter w;
  w.Placeholder("x", {1, 4, 4, 3});
  w.Const("k", {}, {4.f});
  w.Op("big", "Mul", {"x", "k"});
  w.Op("r6", "Relu6", {"big"});
  w.Op("sg", "Sigmoid", {"big"});
  w.Op("th", "Tanh", {"big"});
  w.Op("id", "Identity", {"th"});
  w.Op("y", "AddN", {"r6", "sg", "id"}, {{"N", {{"i", "3"}}}});
  w.Output("y");
  CheckGraph(
      w, 4, 4, 3,
      [&](const T4& x) {
        T4 y = x;
        for (size_t i = 0; i < x.v.size(); ++i) {
          const double v = 4.0 * x.v[i];
          y.v[i] =
              float(std::min(std::max(v, 0.0), 6.0) + 1.0 / (1.0 + std::exp(-v)) + std::tanh(v));
        }
        return y;
      },
      1e-5f, -2.f, 2.f);
}

TEST(ConvertOps, TensordotDenseWithBatchOneReshapes) {
  // meet's squeeze-excitation: AvgPool -> Reshape [1,C] -> MatMul -> Reshape [1,1,1,C'] -> BiasAdd,
  // with TF's batch of 1 hard-coded in both Reshape constants.
  const int h = 4, wd = 6, c = 5, co = 3;
  const auto kern = RandomVector(c * co, 30);
  const auto bias = RandomVector(co, 31);
  TfjsWriter w;
  w.Placeholder("x", {1, h, wd, c});
  w.Op("pool", "AvgPool", {"x"},
       {{"ksize", AttrInts({1, h, wd, 1})},
        {"strides", AttrInts({1, h, wd, 1})},
        {"padding", AttrStr("VALID")},
        {"data_format", AttrStr("NHWC")}});
  w.ConstInt("rs", {2}, {1, c});
  w.Op("flat", "Reshape", {"pool", "rs"});
  w.Const("kernel", {c, co}, kern);
  w.Op("mm", "MatMul", {"flat", "kernel"},
       {{"transpose_a", AttrBool(false)}, {"transpose_b", AttrBool(false)}});
  w.ConstInt("rs2", {4}, {1, 1, 1, co});
  w.Op("back", "Reshape", {"mm", "rs2"});
  w.Const("bias", {co}, bias);
  w.Op("y", "BiasAdd", {"back", "bias"}, {{"data_format", AttrStr("NHWC")}});
  w.Output("y");
  CheckGraph(w, h, wd, c, [&](const T4& x) {
    T4 y(x.n, 1, 1, co);
    for (int b = 0; b < x.n; ++b) {
      std::vector<double> mean(c, 0.0);
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < wd; ++j)
          for (int q = 0; q < c; ++q) mean[q] += x.at(b, i, j, q) / double(h * wd);
      for (int o = 0; o < co; ++o) {
        double acc = bias[o];
        for (int q = 0; q < c; ++q) acc += mean[q] * kern[q * co + o];
        y.at(b, 0, 0, o) = float(acc);
      }
    }
    return y;
  });
}

TEST(ConvertOps, MatMulTransposedWeightAndSpatialReshape) {
  // Reshape [1,H,W,C] -> [H*W, C] (the batch hides in the rows), MatMul with transpose_b, back.
  const int h = 3, wd = 2, c = 4, co = 2;
  const auto kern_t = RandomVector(co * c, 32);  // [co, c], used transposed
  TfjsWriter w;
  w.Placeholder("x", {1, h, wd, c});
  w.Op("r", "Relu", {"x"});
  w.ConstInt("rs", {2}, {h * wd, c});
  w.Op("flat", "Reshape", {"r", "rs"});
  w.Const("kt", {co, c}, kern_t);
  w.Op("mm", "MatMul", {"flat", "kt"},
       {{"transpose_a", AttrBool(false)}, {"transpose_b", AttrBool(true)}});
  w.ConstInt("rs2", {4}, {1, h, wd, co});
  w.Op("y", "Reshape", {"mm", "rs2"});
  w.Output("y");
  CheckGraph(w, h, wd, c, [&](const T4& x) {
    T4 y(x.n, h, wd, co);
    for (int b = 0; b < x.n; ++b)
      for (int i = 0; i < h; ++i)
        for (int j = 0; j < wd; ++j)
          for (int o = 0; o < co; ++o) {
            double acc = 0;
            for (int q = 0; q < c; ++q)
              acc += std::max(x.at(b, i, j, q), 0.f) * double(kern_t[o * c + q]);
            y.at(b, i, j, o) = float(acc);
          }
    return y;
  });
}

TEST(ConvertOps, ConcatOnChannelsAndSpatialAxes) {
  for (int axis : {-1, 3, 1, 2}) {
    TfjsWriter w;
    w.Placeholder("x", {1, 3, 3, 2});
    w.Op("a", "Relu", {"x"});
    w.Const("k", {}, {-1.f});
    w.Op("b", "Mul", {"x", "k"});
    w.ConstInt("axis", {}, {axis});
    w.Op("y", "ConcatV2", {"a", "b", "axis"}, {{"N", {{"i", "2"}}}});
    w.Output("y");
    const int ax = axis < 0 ? axis + 4 : axis;
    CheckGraph(w, 3, 3, 2, [&](const T4& x) {
      T4 y(x.n, ax == 1 ? 6 : 3, ax == 2 ? 6 : 3, ax == 3 ? 4 : 2);
      for (int b = 0; b < x.n; ++b)
        for (int i = 0; i < 3; ++i)
          for (int j = 0; j < 3; ++j)
            for (int q = 0; q < 2; ++q) {
              const float v = x.at(b, i, j, q);
              y.at(b, i, j, q) = std::max(v, 0.f);
              y.at(b, i + (ax == 1 ? 3 : 0), j + (ax == 2 ? 3 : 0), q + (ax == 3 ? 2 : 0)) = -v;
            }
      return y;
    });
  }
}

TEST(ConvertOps, QuantisedWeightsAreDequantised) {
  // The same conv with float16, uint8 and uint16 filters; the reference uses the dequantised
  // values computed here from the bytes the writer stored.
  for (auto q :
       {TfjsWriter::Quant::kFloat16, TfjsWriter::Quant::kUint8, TfjsWriter::Quant::kUint16}) {
    std::vector<float> f = RandomVector(3 * 3 * 2 * 2, 40);
    TfjsWriter w;
    w.Placeholder("x", {1, 5, 5, 2});
    w.Const("f", {3, 3, 2, 2}, f, q);
    w.Op("y", "Conv2D", {"x", "f"}, ConvAttrs(1, 1, "SAME"));
    w.Output("y");
    std::vector<float> deq(f.size());
    const std::string& raw = w.data();
    if (q == TfjsWriter::Quant::kFloat16) {
      // Decoded here by scaling the half's fields (independent of the reader's bit manipulation).
      for (size_t i = 0; i < f.size(); ++i) {
        const uint16_t hbits = uint8_t(raw[2 * i]) | (uint8_t(raw[2 * i + 1]) << 8);
        const int e = (hbits >> 10) & 31, m = hbits & 1023;
        const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1.0 + m / 1024.0, e - 15);
        deq[i] = float((hbits & 0x8000) ? -mag : mag);
      }
    } else {
      const float lo = *std::min_element(f.begin(), f.end()),
                  hi = *std::max_element(f.begin(), f.end());
      const bool u8 = q == TfjsWriter::Quant::kUint8;
      const float scale = (hi - lo) / (u8 ? 255 : 65535);
      for (size_t i = 0; i < f.size(); ++i) {
        const unsigned qv =
            u8 ? uint8_t(raw[i]) : unsigned(uint8_t(raw[2 * i]) | (uint8_t(raw[2 * i + 1]) << 8));
        deq[i] = float(double(qv) * scale + lo);
      }
    }
    float err = 0.f;
    for (size_t i = 0; i < f.size(); ++i) err = std::max(err, std::fabs(deq[i] - f[i]));
    EXPECT_LT(err, q == TfjsWriter::Quant::kUint8 ? 5e-3f : 1e-3f);  // the quantisation itself
    CheckGraph(w, 5, 5, 2,
               [&](const T4& x) { return RefConv(x, deq, 3, 3, 2, 2, 1, 1, 1, 1, true); });
  }
}

TEST(ConvertOps, SharedConstantsAndFanOut) {
  // One filter used by two convs and one value read by three consumers.
  TfjsWriter w;
  w.Placeholder("x", {1, 6, 6, 2});
  const auto f = RandomVector(3 * 3 * 2 * 2, 50);
  w.Const("f", {3, 3, 2, 2}, f);
  w.Op("c1", "Conv2D", {"x", "f"}, ConvAttrs(1, 1, "SAME"));
  w.Op("c2", "Conv2D", {"c1", "f"}, ConvAttrs(1, 1, "SAME"));
  w.Op("y", "AddN", {"c1", "c2", "x"}, {{"N", {{"i", "3"}}}});
  w.Output("y");
  CheckGraph(w, 6, 6, 2, [&](const T4& x) {
    const T4 c1 = RefConv(x, f, 3, 3, 2, 2, 1, 1, 1, 1, true);
    const T4 c2 = RefConv(c1, f, 3, 3, 2, 2, 1, 1, 1, 1, true);
    T4 y = x;
    for (size_t i = 0; i < y.v.size(); ++i) y.v[i] = c1.v[i] + c2.v[i] + x.v[i];
    return y;
  });
}

// Counts the ONNX nodes of `op` and how many of them have a third (bias) input.
std::pair<int, int> CountOps(const std::string& onnx_path, const std::string& op) {
  onnx::ModelProto m;
  std::ifstream f(onnx_path, std::ios::binary);
  EXPECT_TRUE(m.ParseFromIstream(&f));
  int n = 0, with_bias = 0;
  for (const auto& node : m.graph().node()) {
    if (node.op_type() != op) continue;
    ++n;
    with_bias += node.input_size() == 3;
  }
  return {n, with_bias};
}

TEST(ConvertOps, BiasAddsFoldIntoConvsOnlyWhenSafe) {
  // a: conv + [C] bias (folded); b: [1,1,1,C] bias on the left of the Add (folded);
  // c: conv read twice, so its Add stays an Add; d: ConvTranspose + bias (folded).
  const int h = 4, wd = 4, c = 3;
  const auto f = RandomVector(3 * 3 * c * c, 60);
  const auto b1 = RandomVector(c, 61), b2 = RandomVector(c, 62), b3 = RandomVector(c, 63);
  const auto ft = RandomVector(2 * 2 * c * c, 64);
  const auto b4 = RandomVector(c, 65);
  TfjsWriter w;
  w.Placeholder("x", {1, h, wd, c});
  w.Const("f", {3, 3, c, c}, f);
  w.Const("b1", {c}, b1);
  w.Const("b2", {1, 1, 1, c}, b2);
  w.Const("b3", {c}, b3);
  w.Op("conv_a", "Conv2D", {"x", "f"}, ConvAttrs(1, 1, "SAME"));
  w.Op("a", "BiasAdd", {"conv_a", "b1"});
  w.Op("conv_b", "Conv2D", {"a", "f"}, ConvAttrs(1, 1, "SAME"));
  w.Op("b", "AddV2", {"b2", "conv_b"});
  w.Op("conv_c", "Conv2D", {"b", "f"}, ConvAttrs(1, 1, "SAME"));
  w.Op("c_plus", "Add", {"conv_c", "b3"});
  w.Op("c", "Mul", {"c_plus", "conv_c"});  // conv_c read twice
  w.ConstInt("sizes", {4}, {1, 2 * h, 2 * wd, c});
  w.Const("ft", {2, 2, c, c}, ft);
  w.Const("b4", {c}, b4);
  w.Op("up", "Conv2DBackpropInput", {"sizes", "ft", "c"}, ConvAttrs(2, 2, "SAME"));
  w.Op("y", "Add", {"up", "b4"});
  w.Output("y");
  auto add = [](T4 t, const std::vector<float>& b) {
    for (size_t i = 0; i < t.v.size(); ++i) t.v[i] += b[i % b.size()];
    return t;
  };
  CheckGraph(
      w, h, wd, c,
      [&](const T4& x) {
        const T4 a = add(RefConv(x, f, 3, 3, c, c, 1, 1, 1, 1, true), b1);
        const T4 b = add(RefConv(a, f, 3, 3, c, c, 1, 1, 1, 1, true), b2);
        const T4 cc = RefConv(b, f, 3, 3, c, c, 1, 1, 1, 1, true);
        T4 prod = add(cc, b3);
        for (size_t i = 0; i < prod.v.size(); ++i) prod.v[i] *= cc.v[i];
        return add(RefConvBackpropInput(prod, ft, 2, 2, c, 2 * h, 2 * wd, 2, true), b4);
      },
      1e-4f);  // four layers and a product: float32 cancellation reaches ~2e-5 relative
  TempDir dir;
  ASSERT_TRUE(model::ConvertTfjsToOnnxImpl(w.Write(dir), dir.File("m.onnx"), {}, true).ok());
  EXPECT_EQ(CountOps(dir.File("m.onnx"), "Conv"), (std::pair<int, int>{3, 2}));
  EXPECT_EQ(CountOps(dir.File("m.onnx"), "ConvTranspose"), (std::pair<int, int>{1, 1}));
  EXPECT_EQ(CountOps(dir.File("m.onnx"), "Add").first, 1);  // c_plus only
}

}  // namespace
}  // namespace vrseg
