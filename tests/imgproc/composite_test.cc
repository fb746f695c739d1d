// Compositing, box blur, RGBA and NV12 helpers against naive references (direct window sums,
// double-precision interpolation), plus BT.709 standard colours and an NV12 round trip.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "imgproc_test_util.h"
#include "vrseg/imgproc.h"

namespace vrseg {
namespace {

using testing::At;
using testing::RandomFrame;

// Direct (2r+1)-window box pass with replicated borders and the header's integer rounding.
std::vector<int> NaiveBoxPass(const std::vector<int>& in, int W, int H, int ch, int r, bool horiz) {
  std::vector<int> out(in.size());
  const int d = 2 * r + 1;
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      for (int c = 0; c < ch; ++c) {
        int sum = 0;
        for (int k = -r; k <= r; ++k) {
          const int xx = horiz ? std::clamp(x + k, 0, W - 1) : x;
          const int yy = horiz ? y : std::clamp(y + k, 0, H - 1);
          sum += in[(size_t(yy) * W + xx) * ch + c];
        }
        out[(size_t(y) * W + x) * ch + c] = (sum + r) / d;
      }
    }
  }
  return out;
}

std::vector<int> NaiveBlur3(const Frame& f, int r) {
  const int ch = BytesPerPixel(f.format);
  std::vector<int> v(size_t(f.width) * f.height * ch);
  for (int y = 0; y < f.height; ++y) {
    for (int x = 0; x < f.width * ch; ++x)
      v[size_t(y) * f.width * ch + x] = f.data[0][y * f.pitch[0] + x];
  }
  for (int pass = 0; pass < 3; ++pass) {
    v = NaiveBoxPass(v, f.width, f.height, ch, r, true);
    v = NaiveBoxPass(v, f.width, f.height, ch, r, false);
  }
  return v;
}

TEST(BoxBlur3, MatchesNaiveWindowSumsExactly) {
  struct C {
    PixelFormat f;
    int w, h, r;
  };
  const C cases[] = {{PixelFormat::kRGB24, 23, 17, 1}, {PixelFormat::kRGB24, 23, 17, 4},
                     {PixelFormat::kGray8, 9, 31, 20},  // radius larger than the frame
                     {PixelFormat::kBGRA, 16, 5, 2},   {PixelFormat::kRGB24, 1, 1, 3},
                     {PixelFormat::kGray8, 40, 3, 7}};
  uint32_t seed = 1;
  for (const C& c : cases) {
    Frame in = RandomFrame(c.f, c.w, c.h, 3, seed++);
    Frame out = RandomFrame(c.f, c.w, c.h, 1, seed++);
    Frame scratch;
    ASSERT_TRUE(BoxBlur3(in, c.r, &out, &scratch).ok());
    const auto want = NaiveBlur3(in, c.r);
    const int ch = BytesPerPixel(c.f);
    for (int y = 0; y < c.h; ++y) {
      for (int i = 0; i < c.w * ch; ++i) {
        ASSERT_EQ(out.data[0][y * out.pitch[0] + i], want[size_t(y) * c.w * ch + i])
            << PixelFormatName(c.f) << " r " << c.r << " at " << i << "," << y;
      }
    }
    // In place (out aliases in) gives the same.
    ASSERT_TRUE(BoxBlur3(in, c.r, &in, &scratch).ok());
    for (int y = 0; y < c.h; ++y) {
      ASSERT_EQ(std::memcmp(in.data[0] + y * in.pitch[0], out.data[0] + y * out.pitch[0], c.w * ch),
                0);
    }
  }
}

TEST(BoxBlur3, BadInputs) {
  Frame in = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 1);
  Frame out = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 2);
  Frame small = RandomFrame(PixelFormat::kRGB24, 7, 8, 0, 2);
  Frame gray = RandomFrame(PixelFormat::kGray8, 8, 8, 0, 2);
  Frame nv12 = RandomFrame(PixelFormat::kNV12, 8, 8, 0, 2);
  Frame scratch;
  EXPECT_EQ(BoxBlur3(in, 0, &out, &scratch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3(in, 4096, &out, &scratch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3(in, 2, &small, &scratch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3(in, 2, &gray, &scratch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3(nv12, 2, &nv12, &scratch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3(in, 2, nullptr, &scratch).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3(in, 2, &out, nullptr).code(), StatusCode::kInvalidArgument);
}

// Naive blend of the header: round((m fg + (255-m) bg) / 255), in double.
int NaiveBlend(int m, int fg, int bg) {
  return int(std::floor((m * fg + (255 - m) * bg) / 255.0 + 0.5));
}

TEST(Compositor, ColourBackgroundExact) {
  Frame rgb = RandomFrame(PixelFormat::kRGB24, 31, 19, 5, 1);
  Frame mask = RandomFrame(PixelFormat::kGray8, 31, 19, 3, 2);
  for (int x = 0; x < 31; ++x) {  // make sure 0 and 255 occur
    mask.data[0][x] = 0;
    mask.data[0][mask.pitch[0] + x] = 255;
  }
  Frame out = RandomFrame(PixelFormat::kRGB24, 31, 19, 1, 3);
  CompositeOptions o;
  o.color = {10, 200, 77};
  Compositor comp(o);
  ASSERT_TRUE(comp.Compose(rgb, mask, &out).ok());
  for (int y = 0; y < 19; ++y) {
    for (int x = 0; x < 31; ++x) {
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(At(out, x, y, c), NaiveBlend(At(mask, x, y), At(rgb, x, y, c), o.color[c]))
            << x << "," << y << "," << c;
      }
    }
  }
  // In place.
  ASSERT_TRUE(comp.Compose(rgb, mask, &rgb).ok());
  for (int y = 0; y < 19; ++y) {
    ASSERT_EQ(std::memcmp(rgb.data[0] + y * rgb.pitch[0], out.data[0] + y * out.pitch[0], 93), 0);
  }
}

TEST(Compositor, ImageBackgroundScaledToCover) {
  CompositeOptions o;
  o.background = BackgroundKind::kImage;
  o.image = RandomFrame(PixelFormat::kRGB24, 20, 9, 2, 7);
  Compositor comp(o);
  for (auto [W, H] : {std::pair{33, 11}, std::pair{12, 30}, std::pair{33, 11}}) {
    Frame rgb = RandomFrame(PixelFormat::kRGB24, W, H, 0, uint32_t(W + H));
    Frame mask = RandomFrame(PixelFormat::kGray8, W, H, 0, uint32_t(W * H));
    Frame out = RandomFrame(PixelFormat::kRGB24, W, H, 0, 9);
    ASSERT_TRUE(comp.Compose(rgb, mask, &out).ok());
    const Frame& img = o.image;
    const double s = std::max(double(W) / img.width, double(H) / img.height);
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        const double sx =
            std::clamp((img.width - W / s) / 2 + (x + 0.5) / s - 0.5, 0.0, img.width - 1.0);
        const double sy =
            std::clamp((img.height - H / s) / 2 + (y + 0.5) / s - 0.5, 0.0, img.height - 1.0);
        const int x0 = int(sx), y0 = int(sy);
        const int x1 = std::min(x0 + 1, img.width - 1), y1 = std::min(y0 + 1, img.height - 1);
        const double wx = sx - x0, wy = sy - y0;
        for (int c = 0; c < 3; ++c) {
          const double v = At(img, x0, y0, c) * (1 - wx) * (1 - wy) +
                           At(img, x1, y0, c) * wx * (1 - wy) + At(img, x0, y1, c) * (1 - wx) * wy +
                           At(img, x1, y1, c) * wx * wy;
          const int bg = int(std::floor(v + 0.5));
          // The background byte may differ by one (float vs double at .5); the blend then by one.
          const int want = NaiveBlend(At(mask, x, y), At(rgb, x, y, c), bg);
          ASSERT_LE(std::abs(At(out, x, y, c) - want), 1)
              << W << "x" << H << " at " << x << "," << y;
        }
      }
    }
  }
}

TEST(Compositor, BlurBackgroundIsBlurredFrame) {
  const int W = 40, H = 27;
  Frame rgb = RandomFrame(PixelFormat::kRGB24, W, H, 2, 11);
  Frame mask = RandomFrame(PixelFormat::kGray8, W, H, 1, 12);
  Frame out = RandomFrame(PixelFormat::kRGB24, W, H, 0, 13);
  for (int radius : {3, 0}) {
    CompositeOptions o;
    o.background = BackgroundKind::kBlur;
    o.blur_radius = radius;
    Compositor comp(o);
    ASSERT_TRUE(comp.Compose(rgb, mask, &out).ok());
    // Default radius: round(diagonal / 40) = round(48.26 / 40) = 1.
    const auto bg = NaiveBlur3(rgb, radius == 0 ? 1 : radius);
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        for (int c = 0; c < 3; ++c) {
          ASSERT_EQ(At(out, x, y, c),
                    NaiveBlend(At(mask, x, y), At(rgb, x, y, c), bg[(size_t(y) * W + x) * 3 + c]))
              << "radius " << radius << " at " << x << "," << y;
        }
      }
    }
  }
}

TEST(Compositor, BadInputs) {
  Frame rgb = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 1);
  Frame mask = RandomFrame(PixelFormat::kGray8, 8, 8, 0, 2);
  Frame out = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 3);
  Frame small_mask = RandomFrame(PixelFormat::kGray8, 8, 7, 0, 2);
  Compositor comp{CompositeOptions{}};
  EXPECT_TRUE(comp.Compose(rgb, mask, &out).ok());
  EXPECT_EQ(comp.Compose(rgb, small_mask, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comp.Compose(mask, mask, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comp.Compose(rgb, rgb, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comp.Compose(rgb, mask, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(comp.Compose(rgb, mask, &mask).code(), StatusCode::kInvalidArgument);
  CompositeOptions no_image;
  no_image.background = BackgroundKind::kImage;  // no image given
  Compositor comp2(no_image);
  Status s = comp2.Compose(rgb, mask, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("background image"), std::string::npos) << s.message();
  CompositeOptions huge;
  huge.background = BackgroundKind::kBlur;
  huge.blur_radius = 1 << 20;
  Compositor comp3(huge);
  EXPECT_EQ(comp3.Compose(rgb, mask, &out).code(), StatusCode::kInvalidArgument);
}

TEST(MakeRgba, CopiesColourAndAlpha) {
  Frame rgb = RandomFrame(PixelFormat::kRGB24, 13, 7, 3, 1);
  Frame mask = RandomFrame(PixelFormat::kGray8, 13, 7, 1, 2);
  Frame out = RandomFrame(PixelFormat::kRGBA, 13, 7, 2, 3);
  ASSERT_TRUE(MakeRgba(rgb, mask, &out).ok());
  for (int y = 0; y < 7; ++y) {
    for (int x = 0; x < 13; ++x) {
      for (int c = 0; c < 3; ++c) ASSERT_EQ(At(out, x, y, c), At(rgb, x, y, c));
      ASSERT_EQ(At(out, x, y, 3), At(mask, x, y));
    }
  }
  Frame bgra = RandomFrame(PixelFormat::kBGRA, 13, 7, 0, 3);
  EXPECT_EQ(MakeRgba(rgb, mask, &bgra).code(), StatusCode::kInvalidArgument);
  Frame small = RandomFrame(PixelFormat::kRGBA, 12, 7, 0, 3);
  EXPECT_EQ(MakeRgba(rgb, mask, &small).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeRgba(rgb, mask, nullptr).code(), StatusCode::kInvalidArgument);
}

TEST(RgbToNv12, MatchesNaiveReferenceAndStandardColours) {
  for (auto [W, H] : {std::pair{17, 9}, std::pair{16, 10}, std::pair{1, 1}}) {
    Frame rgb = RandomFrame(PixelFormat::kRGB24, W, H, 3, uint32_t(W * 100 + H));
    Frame nv12 = RandomFrame(PixelFormat::kNV12, W, H, 5, 4);
    ASSERT_TRUE(RgbToNv12(rgb, &nv12).ok());
    EXPECT_EQ(nv12.color.matrix, 1);
    EXPECT_EQ(nv12.color.range, 1);
    auto luma = [](double r, double g, double b) { return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) {
        const double Y =
            16 + 219 * luma(At(rgb, x, y, 0), At(rgb, x, y, 1), At(rgb, x, y, 2)) / 255;
        ASSERT_LE(std::abs(nv12.data[0][y * nv12.pitch[0] + x] - std::floor(Y + 0.5)), 1);
      }
    }
    for (int j = 0; j < (H + 1) / 2; ++j) {
      for (int i = 0; i < (W + 1) / 2; ++i) {
        double s[3] = {0, 0, 0};
        int n = 0;
        for (int y = 2 * j; y < std::min(2 * j + 2, H); ++y) {
          for (int x = 2 * i; x < std::min(2 * i + 2, W); ++x, ++n) {
            for (int c = 0; c < 3; ++c) s[c] += At(rgb, x, y, c);
          }
        }
        for (double& v : s) v /= n;
        const double yl = luma(s[0], s[1], s[2]);
        const double U = std::clamp(128 + 224 * (s[2] - yl) / (1.8556 * 255), 0.0, 255.0);
        const double V = std::clamp(128 + 224 * (s[0] - yl) / (1.5748 * 255), 0.0, 255.0);
        const uint8_t* uv = nv12.data[1] + j * nv12.pitch[1] + 2 * i;
        ASSERT_LE(std::abs(uv[0] - std::floor(U + 0.5)), 1);
        ASSERT_LE(std::abs(uv[1] - std::floor(V + 0.5)), 1);
      }
    }
  }
  // BT.709 limited: white, black, red, green, blue (ITU-R BT.709 / SMPTE tables).
  struct K {
    uint8_t r, g, b, y, u, v;
  };
  for (const K& k :
       {K{255, 255, 255, 235, 128, 128}, K{0, 0, 0, 16, 128, 128}, K{255, 0, 0, 63, 102, 240},
        K{0, 255, 0, 173, 42, 26}, K{0, 0, 255, 32, 240, 118}}) {
    auto rgb = Frame::Allocate(PixelFormat::kRGB24, 2, 2);
    auto nv = Frame::Allocate(PixelFormat::kNV12, 2, 2);
    ASSERT_TRUE(rgb.ok() && nv.ok());
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 2; ++x) {
        uint8_t* p = rgb->data[0] + y * rgb->pitch[0] + 3 * x;
        p[0] = k.r, p[1] = k.g, p[2] = k.b;
      }
    }
    ASSERT_TRUE(RgbToNv12(*rgb, &*nv).ok());
    EXPECT_EQ(nv->data[0][0], k.y) << int(k.r) << "," << int(k.g) << "," << int(k.b);
    EXPECT_EQ(nv->data[1][0], k.u) << int(k.r) << "," << int(k.g) << "," << int(k.b);
    EXPECT_EQ(nv->data[1][1], k.v) << int(k.r) << "," << int(k.g) << "," << int(k.b);
  }
  Frame rgb = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 1);
  Frame i420 = RandomFrame(PixelFormat::kI420, 8, 8, 0, 1);
  EXPECT_EQ(RgbToNv12(rgb, &i420).code(), StatusCode::kInvalidArgument);
  Frame small = RandomFrame(PixelFormat::kNV12, 6, 8, 0, 1);
  EXPECT_EQ(RgbToNv12(rgb, &small).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(RgbToNv12(i420, &small).code(), StatusCode::kInvalidArgument);
}

// RGB → NV12 → Preprocess (identity size, BT.709 limited from the frame's colour) gives back the
// colours of an image that is constant over each 2x2 block, within 8-bit quantisation.
TEST(RgbToNv12, RoundTripThroughPreprocess) {
  const int W = 24, H = 14;
  const Frame src = RandomFrame(PixelFormat::kRGB24, W, H, 0, 21);
  Frame rgb = RandomFrame(PixelFormat::kRGB24, W, H, 0, 22);
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      for (int c = 0; c < 3; ++c) {
        // Constant over 2x2 blocks, inside the gamut where limited-range code values do not clip.
        const int v = 20 + At(src, x & ~1, y & ~1, c) * 200 / 255;
        rgb.data[0][y * rgb.pitch[0] + 3 * x + c] = static_cast<uint8_t>(v);
      }
    }
  }
  auto nv = Frame::Allocate(PixelFormat::kNV12, W, H);
  ASSERT_TRUE(nv.ok());
  ASSERT_TRUE(RgbToNv12(rgb, &*nv).ok());
  PreprocessOptions o;
  o.out_width = W;
  o.out_height = H;
  std::vector<float> back(size_t(W) * H * 3);
  ASSERT_TRUE(Preprocess(*nv, o, back.data()).ok());
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      for (int c = 0; c < 3; ++c) {
        // Y, U, V each rounded (±0.5 code) → at most about 2.5 in R, G or B.
        ASSERT_NEAR(back[(size_t(y) * W + x) * 3 + c] * 255, At(rgb, x, y, c), 2.6)
            << x << "," << y << "," << c;
      }
    }
  }
}

}  // namespace
}  // namespace vrseg
