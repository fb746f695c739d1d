// Temporal smoothing and the fast guided filter against double-precision naive implementations
// of the formulas in vrseg/imgproc.h (direct window sums, no running sums), plus properties that
// hold for any correct guided filter (constants preserved, edges sharpened).

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "imgproc_test_util.h"
#include "vrseg/imgproc.h"

namespace vrseg {
namespace {

using testing::At;
using testing::FAt;
using testing::RandomFloatFrame;
using testing::RandomFrame;

// ---- temporal --------------------------------------------------------------------------------

TEST(SmoothTemporal, FloatAndByteMatchNaive) {
  for (float h : {0.f, 0.05f}) {
    TemporalOptions o{0.3f, h};
    Frame cur = RandomFloatFrame(21, 13, 3, 0.f, 1.f, 1);
    Frame prev = RandomFloatFrame(21, 13, 0, 0.f, 1.f, 2);
    Frame out;
    ASSERT_TRUE(SmoothTemporal(cur, prev, o, &out).ok());
    for (int y = 0; y < 13; ++y) {
      for (int x = 0; x < 21; ++x) {
        const double c = FAt(cur, x, y), p = FAt(prev, x, y);
        const double e = 0.3 * c + 0.7 * p;
        const double want = std::abs(e - p) <= h ? p : e;
        if (std::abs(std::abs(e - p) - h) > 1e-6) {  // away from the band edge
          ASSERT_NEAR(FAt(out, x, y), want, 1e-6) << x << "," << y;
        }
      }
    }
    Frame cb = RandomFrame(PixelFormat::kGray8, 21, 13, 1, 3);
    Frame pb = RandomFrame(PixelFormat::kGray8, 21, 13, 2, 4);
    Frame ob;
    ASSERT_TRUE(SmoothTemporal(cb, pb, o, &ob).ok());
    for (int y = 0; y < 13; ++y) {
      for (int x = 0; x < 21; ++x) {
        const double c = At(cb, x, y), p = At(pb, x, y);
        const double e = 0.3 * c + 0.7 * p;
        if (std::abs(std::abs(e - p) - h * 255) < 1e-3) continue;  // on the band edge
        const double want = std::floor((std::abs(e - p) <= h * 255 ? p : e) + 0.5);
        ASSERT_LE(std::abs(At(ob, x, y) - want), 1) << x << "," << y;
        if (h > 0 && std::abs(e - p) <= h * 255) {
          ASSERT_EQ(At(ob, x, y), At(pb, x, y));
        }
      }
    }
  }
}

TEST(SmoothTemporal, FirstFrameAndAliasing) {
  TemporalOptions o{0.5f, 0.f};
  Frame cur = RandomFrame(PixelFormat::kGray8, 9, 4, 0, 1);
  Frame out;
  ASSERT_TRUE(SmoothTemporal(cur, Frame{}, o, &out).ok());
  for (int y = 0; y < 4; ++y) {
    for (int x = 0; x < 9; ++x) ASSERT_EQ(At(out, x, y), At(cur, x, y));
  }
  // out aliasing previous.
  auto prev = cur.Clone();
  ASSERT_TRUE(prev.ok());
  Frame next = RandomFrame(PixelFormat::kGray8, 9, 4, 0, 2);
  Frame alias = *prev;
  ASSERT_TRUE(SmoothTemporal(next, *prev, o, &alias).ok());
  EXPECT_EQ(alias.data[0], prev->data[0]);
  for (int x = 0; x < 9; ++x) {
    const double e = 0.5 * At(next, x, 0) + 0.5 * At(cur, x, 0);
    EXPECT_LE(std::abs(At(alias, x, 0) - std::floor(e + 0.5)), 1);
  }
}

TEST(TemporalSmoother, KeepsOneHistoryPerStream) {
  TemporalSmoother sm({0.25f, 0.f});
  std::vector<double> ema[2];
  for (int t = 0; t < 6; ++t) {
    for (int stream = 0; stream < 2; ++stream) {
      Frame cur = RandomFloatFrame(7, 5, 0, 0.f, 1.f, uint32_t(10 * t + stream));
      cur.stream_id = stream;
      cur.index = t;
      Frame out;
      ASSERT_TRUE(sm.Apply(cur, &out).ok());
      EXPECT_EQ(out.stream_id, stream);
      EXPECT_EQ(out.index, t);
      auto& e = ema[stream];
      if (e.empty()) e.assign(35, 0.0);
      for (int i = 0; i < 35; ++i) {
        const double c = FAt(cur, i % 7, i / 7);
        e[i] = t == 0 ? c : 0.25 * c + 0.75 * e[i];
        ASSERT_NEAR(FAt(out, i % 7, i / 7), e[i], 1e-5) << "t " << t << " stream " << stream;
      }
    }
  }
  // A size change restarts the stream.
  Frame other = RandomFloatFrame(3, 3, 0, 0.f, 1.f, 99);
  Frame out;
  ASSERT_TRUE(sm.Apply(other, &out).ok());
  EXPECT_EQ(FAt(out, 1, 1), FAt(other, 1, 1));
}

TEST(SmoothTemporal, BadInputs) {
  Frame a = RandomFrame(PixelFormat::kGray8, 8, 8, 0, 1);
  Frame b = RandomFrame(PixelFormat::kGray8, 8, 7, 0, 2);
  Frame f = RandomFloatFrame(8, 8, 0, 0, 1, 3);
  Frame rgb = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 4);
  Frame out;
  EXPECT_EQ(SmoothTemporal(a, b, {}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(a, f, {}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(rgb, Frame{}, {}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(a, a, {0.f, 0.f}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(a, a, {1.5f, 0.f}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(a, a, {0.5f, 1.f}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(a, a, {0.5f, NAN}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(a, a, {}, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SmoothTemporal(Frame{}, a, {}, &out).code(), StatusCode::kInvalidArgument);
}

// ---- guided filter ---------------------------------------------------------------------------

using Grid = std::vector<double>;

Grid NaiveBox(const Grid& g, int w, int h, int r) {
  Grid out(g.size());
  for (int j = 0; j < h; ++j) {
    for (int i = 0; i < w; ++i) {
      double s = 0;
      int n = 0;
      for (int y = std::max(0, j - r); y <= std::min(h - 1, j + r); ++y) {
        for (int x = std::max(0, i - r); x <= std::min(w - 1, i + r); ++x, ++n)
          s += g[size_t(y) * w + x];
      }
      out[size_t(j) * w + i] = s / n;
    }
  }
  return out;
}

// The header's algorithm, in double, written out step by step.
std::vector<int> NaiveGuided(const Frame& rgb, const Frame& mask, const GuidedFilterOptions& o) {
  const int W = rgb.width, H = rgb.height, s = o.subsample;
  auto guide = [&](int x, int y) {
    const double r = At(rgb, x, y, 0), g = At(rgb, x, y, 1), b = At(rgb, x, y, 2);
    return o.guidance == GuidanceKind::kLuma ? (0.299 * r + 0.587 * g + 0.114 * b) / 255
                                             : (r + g + b) / (3 * 255.0);
  };
  const int w = (W + s - 1) / s, h = (H + s - 1) / s;
  Grid Is(size_t(w) * h), ps(size_t(w) * h);
  for (int j = 0; j < h; ++j) {
    for (int i = 0; i < w; ++i) {
      double si = 0, sp = 0;
      int n = 0;
      for (int y = j * s; y < std::min(j * s + s, H); ++y) {
        for (int x = i * s; x < std::min(i * s + s, W); ++x, ++n) {
          si += guide(x, y);
          sp += At(mask, x, y) / 255.0;
        }
      }
      Is[size_t(j) * w + i] = si / n;
      ps[size_t(j) * w + i] = sp / n;
    }
  }
  const int rl = std::max(1, o.radius / s);
  Grid II(Is.size()), Ip(Is.size());
  for (size_t k = 0; k < Is.size(); ++k) II[k] = Is[k] * Is[k], Ip[k] = Is[k] * ps[k];
  const Grid mI = NaiveBox(Is, w, h, rl), mp = NaiveBox(ps, w, h, rl), mII = NaiveBox(II, w, h, rl),
             mIp = NaiveBox(Ip, w, h, rl);
  Grid a(Is.size()), b(Is.size());
  for (size_t k = 0; k < a.size(); ++k) {
    a[k] = (mIp[k] - mI[k] * mp[k]) / (mII[k] - mI[k] * mI[k] + o.eps);
    b[k] = mp[k] - a[k] * mI[k];
  }
  const Grid ma = NaiveBox(a, w, h, rl), mb = NaiveBox(b, w, h, rl);
  std::vector<int> out(size_t(W) * H);
  auto axis = [s](int d, int n, int* i0, int* i1, double* t) {
    const double v = std::clamp((d + 0.5) / s - 0.5, 0.0, n - 1.0);
    *i0 = int(std::floor(v));
    *i1 = std::min(*i0 + 1, n - 1);
    *t = v - *i0;
  };
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      int x0, x1, y0, y1;
      double tx, ty;
      axis(x, w, &x0, &x1, &tx);
      axis(y, h, &y0, &y1, &ty);
      auto bil = [&](const Grid& g) {
        return g[size_t(y0) * w + x0] * (1 - tx) * (1 - ty) +
               g[size_t(y0) * w + x1] * tx * (1 - ty) + g[size_t(y1) * w + x0] * (1 - tx) * ty +
               g[size_t(y1) * w + x1] * tx * ty;
      };
      const double q = bil(ma) * guide(x, y) + bil(mb);
      out[size_t(y) * W + x] = int(std::floor(std::clamp(q, 0.0, 1.0) * 255 + 0.5));
    }
  }
  return out;
}

// A photo-like guide: gentle gradients, a bright disc (the "person") and mild noise; the mask is
// a blurry disc slightly off the true edge, as a low-resolution model gives.
void SceneFrames(int W, int H, uint32_t seed, Frame* rgb, Frame* mask) {
  *rgb = RandomFrame(PixelFormat::kRGB24, W, H, 3, seed);
  *mask = RandomFrame(PixelFormat::kGray8, W, H, 1, seed + 1);
  const double cx = W * 0.45, cy = H * 0.5, rad = std::min(W, H) * 0.3;
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const double d = std::hypot(x - cx, y - cy);
      const bool in = d < rad;
      uint8_t* p = rgb->data[0] + y * rgb->pitch[0] + 3 * x;
      const int noise = p[0] % 7 - 3;
      p[0] = uint8_t(std::clamp((in ? 200 : 40) + x / 4 + noise, 0, 255));
      p[1] = uint8_t(std::clamp((in ? 170 : 60) + y / 3 + noise, 0, 255));
      p[2] = uint8_t(std::clamp((in ? 150 : 90) + noise, 0, 255));
      const double soft = 1.0 / (1.0 + std::exp((d - rad - 2.0) / 3.0));
      mask->data[0][y * mask->pitch[0] + x] = uint8_t(std::floor(soft * 255 + 0.5));
    }
  }
}

TEST(GuidedFilter, MatchesNaiveDoubleImplementation) {
  struct C {
    int W, H;
    GuidedFilterOptions o;
  };
  const C cases[] = {{61, 47, {8, 1e-4f, 4, GuidanceKind::kLuma}},
                     {61, 47, {8, 1e-2f, 4, GuidanceKind::kMean}},
                     {33, 29, {3, 1e-3f, 1, GuidanceKind::kLuma}},  // plain guided filter
                     {50, 20, {2, 1e-3f, 3, GuidanceKind::kLuma}},  // rl clamps to 1
                     {7, 5, {16, 1e-3f, 8, GuidanceKind::kMean}}};  // one low-res cell
  uint32_t seed = 1;
  for (const C& c : cases) {
    Frame rgb, mask;
    SceneFrames(c.W, c.H, seed++, &rgb, &mask);
    for (bool random : {false, true}) {
      if (random) {
        rgb = RandomFrame(PixelFormat::kRGB24, c.W, c.H, 2, seed++);
        mask = RandomFrame(PixelFormat::kGray8, c.W, c.H, 2, seed++);
      }
      Frame out = RandomFrame(PixelFormat::kGray8, c.W, c.H, 5, seed++);
      ASSERT_TRUE(GuidedFilterRefine(rgb, mask, c.o, &out).ok());
      const auto want = NaiveGuided(rgb, mask, c.o);
      int max_diff = 0;
      for (int y = 0; y < c.H; ++y) {
        for (int x = 0; x < c.W; ++x) {
          max_diff = std::max(max_diff, std::abs(At(out, x, y) - want[size_t(y) * c.W + x]));
        }
      }
      // float (implementation) vs double (reference): at most one code value.
      EXPECT_LE(max_diff, 1) << c.W << "x" << c.H << " r " << c.o.radius << " s " << c.o.subsample
                             << (random ? " random" : " scene");
    }
  }
}

TEST(GuidedFilter, PreservesConstantsAndSharpensEdges) {
  Frame rgb, mask;
  SceneFrames(96, 64, 5, &rgb, &mask);
  auto out = Frame::Allocate(PixelFormat::kGray8, 96, 64);
  ASSERT_TRUE(out.ok());
  GuidedFilterOptions o;
  // A constant mask stays constant whatever the guide (a = 0, b = the constant).
  Frame flat = RandomFrame(PixelFormat::kGray8, 96, 64, 0, 6);
  for (int y = 0; y < 64; ++y) std::fill_n(flat.data[0] + y * flat.pitch[0], 96, 173);
  ASSERT_TRUE(GuidedFilterRefine(rgb, flat, o, &*out).ok());
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 96; ++x) ASSERT_NEAR(At(*out, x, y), 173, 1) << x << "," << y;
  }
  // The guide as its own mask comes back (a = var/(var+eps) ~ 1, b ~ 0) with s = 1.
  Frame noisy = RandomFrame(PixelFormat::kRGB24, 40, 30, 0, 8);
  Frame self = RandomFrame(PixelFormat::kGray8, 40, 30, 0, 9);
  for (int y = 0; y < 30; ++y) {
    for (int x = 0; x < 40; ++x) {
      const int v = At(noisy, x, y, 0);
      for (int c = 0; c < 3; ++c) noisy.data[0][y * noisy.pitch[0] + 3 * x + c] = uint8_t(v);
      self.data[0][y * self.pitch[0] + x] = uint8_t(v);
    }
  }
  auto back = Frame::Allocate(PixelFormat::kGray8, 40, 30);
  ASSERT_TRUE(back.ok());
  ASSERT_TRUE(GuidedFilterRefine(noisy, self, {4, 1e-6f, 1, GuidanceKind::kMean}, &*back).ok());
  for (int y = 0; y < 30; ++y) {
    for (int x = 0; x < 40; ++x) ASSERT_NEAR(At(*back, x, y), At(self, x, y), 1) << x << "," << y;
  }
  // A step edge in the guide at x = 32 and a 16-pixel ramp in the mask centred on it: the output
  // jumps at the guide's edge, much more than the ramp's 16 codes per pixel.
  Frame step = RandomFrame(PixelFormat::kRGB24, 64, 24, 0, 10);
  Frame ramp = RandomFrame(PixelFormat::kGray8, 64, 24, 0, 11);
  for (int y = 0; y < 24; ++y) {
    for (int x = 0; x < 64; ++x) {
      for (int c = 0; c < 3; ++c) step.data[0][y * step.pitch[0] + 3 * x + c] = x < 32 ? 40 : 210;
      ramp.data[0][y * ramp.pitch[0] + x] = uint8_t(std::clamp((x - 24) * 16, 0, 255));
    }
  }
  auto sharp = Frame::Allocate(PixelFormat::kGray8, 64, 24);
  ASSERT_TRUE(sharp.ok());
  for (int s : {1, 2}) {
    ASSERT_TRUE(GuidedFilterRefine(step, ramp, {8, 1e-4f, s, GuidanceKind::kLuma}, &*sharp).ok());
    const int jump = At(*sharp, 32, 12) - At(*sharp, 31, 12);
    EXPECT_GT(jump, 4 * 16) << "s " << s;
  }
  // In place (out aliases mask) gives the same as out of place.
  ASSERT_TRUE(GuidedFilterRefine(rgb, mask, o, &*out).ok());
  auto copy = mask.Clone();
  ASSERT_TRUE(copy.ok());
  ASSERT_TRUE(GuidedFilterRefine(rgb, *copy, o, &*copy).ok());
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 96; ++x) ASSERT_EQ(At(*copy, x, y), At(*out, x, y));
  }
}

TEST(GuidedFilter, BadInputs) {
  Frame rgb = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 1);
  Frame mask = RandomFrame(PixelFormat::kGray8, 8, 8, 0, 2);
  Frame out = RandomFrame(PixelFormat::kGray8, 8, 8, 0, 3);
  Frame small = RandomFrame(PixelFormat::kGray8, 8, 6, 0, 3);
  GuidedFilterOptions o;
  EXPECT_TRUE(GuidedFilterRefine(rgb, mask, o, &out).ok());
  EXPECT_EQ(GuidedFilterRefine(rgb, small, o, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GuidedFilterRefine(rgb, mask, o, &small).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GuidedFilterRefine(mask, mask, o, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GuidedFilterRefine(rgb, rgb, o, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GuidedFilterRefine(rgb, mask, o, nullptr).code(), StatusCode::kInvalidArgument);
  for (GuidedFilterOptions bad : {GuidedFilterOptions{0, 1e-3f, 4, GuidanceKind::kLuma},
                                  GuidedFilterOptions{4, 0.f, 4, GuidanceKind::kLuma},
                                  GuidedFilterOptions{4, NAN, 4, GuidanceKind::kLuma},
                                  GuidedFilterOptions{4, 1e-3f, 0, GuidanceKind::kLuma}}) {
    EXPECT_EQ(GuidedFilterRefine(rgb, mask, bad, &out).code(), StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace vrseg
