// Preprocess against a double-precision naive reference (imgproc_test_util.h), known colours from
// the BT.601/BT.709 standards, and binary16 rounding against the compiler's _Float16.

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "imgproc_test_util.h"
#include "vrseg/imgproc.h"
#include "vrseg/tensor.h"

namespace vrseg {
namespace {

using testing::RandomFrame;
using testing::RefPreprocess;
using testing::At;
using testing::RandomFloatFrame;
using testing::RefRgb;

double MaxAbsDiff(const std::vector<float>& got, const std::vector<double>& want) {
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::abs(double(got[i]) - want[i]));
  return m;
}

const PixelFormat kFormats[] = {PixelFormat::kRGB24, PixelFormat::kBGR24, PixelFormat::kRGBA,
                                PixelFormat::kBGRA,  PixelFormat::kNV12,  PixelFormat::kI420,
                                PixelFormat::kGray8};

struct Case {
  int in_w, in_h, out_w, out_h;
  TensorLayout layout;
  bool bgr, half_pixel;
  ResizeMode mode;
};

// Every format × a set of sizes (odd, up- and downscaling, letterbox both ways), odd pitches.
TEST(Preprocess, MatchesNaiveReferenceForEveryFormat) {
  const Case cases[] = {
      {37, 23, 16, 16, TensorLayout::kNHWC, false, false, ResizeMode::kStretch},
      {37, 23, 16, 16, TensorLayout::kNCHW, true, false, ResizeMode::kStretch},
      {13, 9, 31, 17, TensorLayout::kNHWC, false, true, ResizeMode::kStretch},      // upscale
      {64, 21, 25, 25, TensorLayout::kNCHW, false, false, ResizeMode::kLetterbox},  // pad rows
      {15, 40, 24, 14, TensorLayout::kNHWC, true, true, ResizeMode::kLetterbox},    // pad cols
      {1, 1, 5, 3, TensorLayout::kNHWC, false, false, ResizeMode::kStretch},        // 1x1 source
      {33, 19, 33, 19, TensorLayout::kNHWC, false, false, ResizeMode::kStretch},    // identity
  };
  uint32_t seed = 1;
  for (PixelFormat f : kFormats) {
    for (const Case& c : cases) {
      for (int extra : {0, 3}) {
        Frame in = RandomFrame(f, c.in_w, c.in_h, extra, seed++);
        PreprocessOptions o;
        o.out_width = c.out_w;
        o.out_height = c.out_h;
        o.layout = c.layout;
        o.bgr = c.bgr;
        o.half_pixel = c.half_pixel;
        o.mode = c.mode;
        std::vector<float> out(size_t(c.out_w) * c.out_h * 3, -99.f);
        ASSERT_TRUE(Preprocess(in, o, out.data()).ok());
        const auto want = RefPreprocess(in, o);
        // float vs double on values in [0,1]: a few ulps of 255 after division.
        EXPECT_LE(MaxAbsDiff(out, want), 2e-5)
            << PixelFormatName(f) << " " << c.in_w << "x" << c.in_h << " -> " << c.out_w << "x"
            << c.out_h << " extra " << extra;
      }
    }
  }
}

TEST(Preprocess, MeanStdAndColourMetadata) {
  PreprocessOptions o;
  o.out_width = 20;
  o.out_height = 11;
  o.mean = {0.485f, 0.456f, 0.406f};
  o.std = {0.229f, 0.224f, 0.225f};
  o.bgr = true;
  uint32_t seed = 100;
  for (PixelFormat f : {PixelFormat::kNV12, PixelFormat::kI420}) {
    for (int matrix : {0, 1, 5, 6, 9}) {
      for (int range : {0, 1, 2}) {
        for (int h : {17, 721}) {  // unspecified matrix: BT.601 below 720 rows, BT.709 above
          Frame in = RandomFrame(f, 23, h, 1, seed++);
          in.color.matrix = matrix;
          in.color.range = range;
          std::vector<float> out(20 * 11 * 3);
          ASSERT_TRUE(Preprocess(in, o, out.data()).ok());
          // std ~0.22 magnifies float error ~4.5x.
          EXPECT_LE(MaxAbsDiff(out, RefPreprocess(in, o)), 1e-4)
              << PixelFormatName(f) << " matrix " << matrix << " range " << range << " h " << h;
        }
      }
    }
  }
}

// Standard colours: 100% red in each matrix/range must come out as (255, 0, 0) within rounding of
// the 8-bit code values (±1.5 of 255). Values from BT.601/BT.709 tables.
TEST(Preprocess, KnownYuvColours) {
  struct Known {
    int matrix, range;
    uint8_t y, u, v;
    double r, g, b;
  };
  const Known known[] = {
      {6, 1, 81, 90, 240, 255, 0, 0},        // BT.601 limited red
      {1, 1, 63, 102, 240, 255, 0, 0},       // BT.709 limited red
      {6, 1, 235, 128, 128, 255, 255, 255},  // white
      {1, 1, 16, 128, 128, 0, 0, 0},         // black
      {6, 2, 76, 85, 255, 254, 0, 0},        // BT.601 full (JPEG) red
      {1, 1, 173, 42, 26, 0, 255, 0},        // BT.709 limited green
      {6, 1, 145, 54, 34, 0, 255, 0},        // BT.601 limited green
  };
  for (const Known& k : known) {
    for (PixelFormat f : {PixelFormat::kNV12, PixelFormat::kI420}) {
      auto fr = Frame::Allocate(f, 2, 2);
      ASSERT_TRUE(fr.ok());
      std::memset(fr->data[0], k.y, fr->pitch[0] * 2);
      if (f == PixelFormat::kNV12) {
        fr->data[1][0] = k.u;
        fr->data[1][1] = k.v;
      } else {
        fr->data[1][0] = k.u;
        fr->data[2][0] = k.v;
      }
      fr->color.matrix = k.matrix;
      fr->color.range = k.range;
      PreprocessOptions o;
      o.out_width = 2;
      o.out_height = 2;
      float out[12];
      ASSERT_TRUE(Preprocess(*fr, o, out).ok());
      EXPECT_NEAR(out[0] * 255, k.r, 1.5) << "matrix " << k.matrix << " y " << int(k.y);
      EXPECT_NEAR(out[1] * 255, k.g, 1.5) << "matrix " << k.matrix << " y " << int(k.y);
      EXPECT_NEAR(out[2] * 255, k.b, 1.5) << "matrix " << k.matrix << " y " << int(k.y);
    }
  }
}

// ToRgb24 against the naive double-precision formula (RefRgb): within 1 level (float folding and
// rounding), exact for packed and gray frames; metadata kept; bad input refused.
TEST(ToRgb24, MatchesNaiveReferenceForEveryFormat) {
  const PixelFormat formats[] = {PixelFormat::kRGB24, PixelFormat::kBGR24, PixelFormat::kRGBA,
                                 PixelFormat::kBGRA,  PixelFormat::kNV12,  PixelFormat::kI420,
                                 PixelFormat::kGray8};
  uint32_t seed = 5;
  for (PixelFormat f : formats) {
    for (int variant = 0; variant < 2; ++variant) {
      Frame in = RandomFrame(f, 37, 23, variant * 5, seed++);
      if (variant) in.color = ColorInfo{2, 9, 14, 9};
      in.index = 12;
      Frame out;
      ASSERT_TRUE(ToRgb24(in, &out).ok()) << PixelFormatName(f);
      ASSERT_EQ(out.format, PixelFormat::kRGB24);
      EXPECT_EQ(out.index, 12);
      const bool yuv = f == PixelFormat::kNV12 || f == PixelFormat::kI420;
      for (int y = 0; y < in.height; ++y) {
        for (int x = 0; x < in.width; ++x) {
          const auto want = RefRgb(in, x, y);
          for (int c = 0; c < 3; ++c) {
            const double d = std::abs(At(out, x, y, c) - want[c]);
            ASSERT_LE(d, yuv ? 1.0 : 0.0) << PixelFormatName(f) << " at " << x << "," << y;
          }
        }
      }
    }
  }
  Frame out;
  EXPECT_EQ(ToRgb24(Frame{}, &out).code(), StatusCode::kInvalidArgument);
  Frame f32 = RandomFloatFrame(4, 4, 0, 0.f, 1.f, 1);
  EXPECT_EQ(ToRgb24(f32, &out).code(), StatusCode::kUnsupported);
}

// TF.js's resizeBilinear on a tiny known image, worked by hand: 3 columns → 2, src = dst * 1.5.
TEST(Preprocess, TfjsConventionByHand) {
  uint8_t px[3 * 3] = {0, 0, 0, 100, 100, 100, 200, 200, 200};  // one row, grey 0, 100, 200
  Frame in = Frame::Wrap(PixelFormat::kRGB24, 3, 1, px, 9);
  PreprocessOptions o;
  o.out_width = 2;
  o.out_height = 1;
  float out[6];
  ASSERT_TRUE(Preprocess(in, o, out).ok());
  EXPECT_FLOAT_EQ(out[0] * 255, 0.f);    // x = 0
  EXPECT_FLOAT_EQ(out[3] * 255, 150.f);  // x = 1.5: halfway between 100 and 200
  o.half_pixel = true;                   // x = (0.5)*1.5-0.5 = 0.25, (1.5)*1.5-0.5 = 1.75
  ASSERT_TRUE(Preprocess(in, o, out).ok());
  EXPECT_NEAR(out[0] * 255, 25.f, 1e-4);
  EXPECT_NEAR(out[3] * 255, 175.f, 1e-4);
}

TEST(Preprocess, LetterboxRectAndPadding) {
  PreprocessOptions o;
  o.out_width = 256;
  o.out_height = 256;
  o.mode = ResizeMode::kLetterbox;
  EXPECT_EQ(LetterboxFor(1280, 720, o), (LetterboxRect{0, 56, 256, 144}));
  EXPECT_EQ(LetterboxFor(720, 1280, o), (LetterboxRect{56, 0, 144, 256}));
  EXPECT_EQ(LetterboxFor(5000, 1, o), (LetterboxRect{0, 127, 256, 1}));  // never 0 rows
  EXPECT_EQ(LetterboxFor(0, 10, o), LetterboxRect{});
  o.mode = ResizeMode::kStretch;
  EXPECT_EQ(LetterboxFor(1280, 720, o), (LetterboxRect{0, 0, 256, 256}));
  // Padding is normalised black.
  o.mode = ResizeMode::kLetterbox;
  o.out_width = 8;
  o.out_height = 8;
  o.mean = {0.5f, 0.25f, 0.f};
  o.std = {0.5f, 0.5f, 2.f};
  Frame in = RandomFrame(PixelFormat::kRGB24, 16, 4, 0, 7);
  std::vector<float> out(8 * 8 * 3);
  ASSERT_TRUE(Preprocess(in, o, out.data()).ok());
  EXPECT_FLOAT_EQ(out[0], -1.f);
  EXPECT_FLOAT_EQ(out[1], -0.5f);
  EXPECT_FLOAT_EQ(out[2], 0.f);
}

TEST(Preprocess, Float16OutputAndTensorSlots) {
  PreprocessOptions o;
  o.out_width = 19;
  o.out_height = 13;
  o.layout = TensorLayout::kNCHW;
  o.mean = {0.5f, 0.5f, 0.5f};
  o.std = {0.5f, 0.5f, 0.5f};
  Frame in = RandomFrame(PixelFormat::kNV12, 41, 30, 5, 11);
  const auto want = RefPreprocess(in, o);
  std::vector<uint16_t> h(want.size());
  ASSERT_TRUE(PreprocessF16(in, o, h.data()).ok());
  for (size_t i = 0; i < h.size(); ++i) {
    // binary16 has 11 significant bits: half an ulp is 2^-11 relative, plus float error.
    const double got = HalfToFloat(h[i]);
    ASSERT_LE(std::abs(got - want[i]), std::abs(want[i]) * std::ldexp(1.0, -11) + 1e-4) << i;
  }
  // Tensor slots: slot 1 of a batch of 3, float16 and float32, other slots untouched.
  auto pre = Preprocessor::Create(o);
  ASSERT_TRUE(pre.ok());
  const size_t slot = size_t(3) * 13 * 19;
  std::vector<uint16_t> buf16(3 * slot, 0xabcd);
  Tensor t16{buf16.data(), DType::kFloat16, {3, 3, 13, 19}, MemoryKind::kHost, nullptr};
  ASSERT_TRUE(pre->RunToTensor(in, t16, 1).ok());
  EXPECT_EQ(buf16[0], 0xabcd);
  EXPECT_EQ(buf16[2 * slot], 0xabcd);
  for (size_t i = 0; i < slot; ++i) ASSERT_EQ(buf16[slot + i], h[i]);
  std::vector<float> buf32(3 * slot, -7.f);
  Tensor t32{buf32.data(), DType::kFloat32, {-1, 3, 13, 19}, MemoryKind::kHost, nullptr};
  ASSERT_TRUE(pre->RunToTensor(in, t32, 2).ok());
  EXPECT_EQ(buf32[slot], -7.f);
  for (size_t i = 0; i < slot; ++i) ASSERT_NEAR(buf32[2 * slot + i], want[i], 2e-5);
  // Wrong shape, dtype, slot.
  Tensor nhwc{buf32.data(), DType::kFloat32, {3, 13, 19, 3}, MemoryKind::kHost, nullptr};
  EXPECT_EQ(pre->RunToTensor(in, nhwc, 0).code(), StatusCode::kInvalidArgument);
  Tensor u8{buf32.data(), DType::kUInt8, {3, 3, 13, 19}, MemoryKind::kHost, nullptr};
  EXPECT_EQ(pre->RunToTensor(in, u8, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pre->RunToTensor(in, t16, 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(pre->RunToTensor(in, t16, -1).code(), StatusCode::kInvalidArgument);
}

// The table cache must follow input size changes.
TEST(Preprocess, PreprocessorFollowsSizeChanges) {
  PreprocessOptions o;
  o.out_width = 16;
  o.out_height = 9;
  o.mode = ResizeMode::kLetterbox;
  auto pre = Preprocessor::Create(o);
  ASSERT_TRUE(pre.ok());
  std::vector<float> out(16 * 9 * 3);
  for (auto [w, h] : {std::pair{30, 30}, std::pair{64, 20}, std::pair{30, 30}}) {
    Frame in = RandomFrame(PixelFormat::kBGRA, w, h, 4, uint32_t(w * h));
    ASSERT_TRUE(pre->Run(in, out.data()).ok());
    EXPECT_LE(MaxAbsDiff(out, RefPreprocess(in, o)), 2e-5) << w << "x" << h;
  }
}

TEST(Preprocess, BadInputs) {
  PreprocessOptions o;
  o.out_width = 8;
  o.out_height = 8;
  std::vector<float> out(8 * 8 * 3);
  Frame good = RandomFrame(PixelFormat::kRGB24, 10, 10, 0, 3);
  EXPECT_TRUE(Preprocess(good, o, out.data()).ok());
  EXPECT_EQ(Preprocess(good, o, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Preprocess(Frame{}, o, out.data()).code(), StatusCode::kInvalidArgument);
  PreprocessOptions zero = o;
  zero.out_width = 0;
  EXPECT_EQ(Preprocess(good, zero, out.data()).code(), StatusCode::kInvalidArgument);
  PreprocessOptions bad_std = o;
  bad_std.std[1] = 0.f;
  EXPECT_EQ(Preprocess(good, bad_std, out.data()).code(), StatusCode::kInvalidArgument);
  bad_std.std[1] = NAN;
  EXPECT_EQ(Preprocess(good, bad_std, out.data()).code(), StatusCode::kInvalidArgument);
  Frame short_pitch = good;
  short_pitch.pitch[0] = 29;
  Status s = Preprocess(short_pitch, o, out.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("pitch"), std::string::npos) << s.message();
  Frame device = good;
  device.memory = MemoryKind::kDevice;
  EXPECT_EQ(Preprocess(device, o, out.data()).code(), StatusCode::kInvalidArgument);
  Frame f32 = testing::RandomFloatFrame(10, 10, 0, 0, 1, 4);
  EXPECT_EQ(Preprocess(f32, o, out.data()).code(), StatusCode::kUnsupported);
  Frame no_format = good;
  no_format.format = PixelFormat::kUnknown;
  EXPECT_EQ(Preprocess(no_format, o, out.data()).code(), StatusCode::kUnsupported);
  Frame nv12 = RandomFrame(PixelFormat::kNV12, 10, 10, 0, 5);
  nv12.index = 42;
  nv12.color.matrix = 4;  // FCC: not handled
  s = Preprocess(nv12, o, out.data());
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("frame 42"), std::string::npos) << s.message();
  Frame no_chroma = RandomFrame(PixelFormat::kI420, 10, 10, 0, 6);
  no_chroma.data[2] = nullptr;
  EXPECT_EQ(Preprocess(no_chroma, o, out.data()).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(Preprocessor::Create(zero).ok());
}

// binary16 conversion against the compiler's _Float16 (round to nearest even) on a sweep of float
// bit patterns and every half value back.
TEST(Half, MatchesCompilerFloat16) {
  for (uint64_t bits = 0; bits <= 0xffffffffull; bits += 4093) {
    const uint32_t b = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &b, 4);
    _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    const uint16_t got = FloatToHalf(f);
    if (std::isnan(f)) {
      ASSERT_EQ(got & 0x7c00, 0x7c00);
      ASSERT_NE(got & 0x03ff, 0);
    } else {
      ASSERT_EQ(got, want) << std::hex << b;
    }
  }
  // Ties and edges.
  for (float f : {65504.f, 65519.f, 65520.f, 1e-8f, 2.98023224e-8f, 5.96046448e-8f, 6.1e-5f,
                  1.00048828125f, 1.00146484375f, -0.f, INFINITY, -INFINITY}) {
    _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    EXPECT_EQ(FloatToHalf(f), want) << f;
  }
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const uint16_t hb = static_cast<uint16_t>(h);
    _Float16 v;
    std::memcpy(&v, &hb, 2);
    const float want = static_cast<float>(v);
    const float got = HalfToFloat(hb);
    if (std::isnan(want)) {
      ASSERT_TRUE(std::isnan(got));
    } else {
      ASSERT_EQ(got, want) << std::hex << h;
    }
  }
}

TEST(Preprocess, OptionsForModel) {
  ModelInfo info;
  info.input_width = 256;
  info.input_height = 144;
  info.input_layout = TensorLayout::kNCHW;
  info.input_bgr = true;
  info.mean = {0.1f, 0.2f, 0.3f};
  info.resize_half_pixel = true;
  const PreprocessOptions o = PreprocessOptionsFor(info, ResizeMode::kLetterbox);
  EXPECT_EQ(o.out_width, 256);
  EXPECT_EQ(o.out_height, 144);
  EXPECT_EQ(o.layout, TensorLayout::kNCHW);
  EXPECT_TRUE(o.bgr);
  EXPECT_TRUE(o.half_pixel);
  EXPECT_EQ(o.mean[2], 0.3f);
  EXPECT_EQ(o.mode, ResizeMode::kLetterbox);
}

}  // namespace
}  // namespace vrseg
