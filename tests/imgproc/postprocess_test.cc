// Postprocess against double-precision naive references: every output kind, both layouts,
// letterbox ROIs, soft and thresholded masks.

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "imgproc_test_util.h"
#include "vrseg/imgproc.h"

namespace vrseg {
namespace {

using testing::FAt;

std::vector<float> RandomSlot(size_t n, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double RefProb(const std::vector<float>& slot, const PostprocessOptions& o, int x, int y) {
  const int W = o.model_width, H = o.model_height, C = o.channels;
  auto at = [&](int c) -> double {
    return o.layout == TensorLayout::kNCHW ? slot[(size_t(c) * H + y) * W + x]
                                           : slot[(size_t(y) * W + x) * C + c];
  };
  switch (o.kind) {
    case OutputKind::kSigmoidProbability:
    case OutputKind::kAlphaMatte:
      return at(o.person_channel);
    case OutputKind::kSigmoidLogit:
      return 1 / (1 + std::exp(-at(o.person_channel)));
    case OutputKind::kTwoClassLogits:
    case OutputKind::kClassLogits: {
      double sum = 0;
      for (int c = 0; c < C; ++c) sum += std::exp(at(c));
      return std::exp(at(o.person_channel)) / sum;
    }
  }
  return 0;
}

TEST(Postprocess, ProbabilityForEveryKindAndLayout) {
  struct K {
    OutputKind kind;
    int channels, person;
    float lo, hi;
  };
  const K kinds[] = {{OutputKind::kSigmoidProbability, 1, 0, 0.f, 1.f},
                     {OutputKind::kAlphaMatte, 1, 0, -0.1f, 1.1f},
                     {OutputKind::kSigmoidLogit, 1, 0, -12.f, 12.f},
                     {OutputKind::kTwoClassLogits, 2, 1, -20.f, 20.f},
                     {OutputKind::kTwoClassLogits, 2, 0, -20.f, 20.f},
                     {OutputKind::kClassLogits, 5, 3, -30.f, 30.f}};
  uint32_t seed = 1;
  for (const K& k : kinds) {
    for (TensorLayout layout : {TensorLayout::kNHWC, TensorLayout::kNCHW}) {
      PostprocessOptions o;
      o.kind = k.kind;
      o.layout = layout;
      o.model_width = 17;
      o.model_height = 11;
      o.channels = k.channels;
      o.person_channel = k.person;
      auto slot = RandomSlot(size_t(17) * 11 * k.channels, k.lo, k.hi, seed++);
      Frame prob;
      ASSERT_TRUE(ProbabilityFromOutput(slot.data(), o, &prob).ok());
      ASSERT_EQ(prob.format, PixelFormat::kGrayF32);
      ASSERT_EQ(prob.width, 17);
      for (int y = 0; y < 11; ++y) {
        for (int x = 0; x < 17; ++x) {
          ASSERT_NEAR(FAt(prob, x, y), RefProb(slot, o, x, y), 2e-6)
              << static_cast<int>(k.kind) << " x " << x << " y " << y;
        }
      }
      // Extreme logits stay finite and in [0, 1].
      if (k.kind != OutputKind::kSigmoidProbability && k.kind != OutputKind::kAlphaMatte) {
        std::vector<float> big(slot.size());
        for (size_t i = 0; i < big.size(); ++i) big[i] = (i % 3 == 0) ? 1e4f : -1e4f;
        ASSERT_TRUE(ProbabilityFromOutput(big.data(), o, &prob).ok());
        for (int y = 0; y < 11; ++y) {
          for (int x = 0; x < 17; ++x) {
            const float p = FAt(prob, x, y);
            ASSERT_TRUE(p >= 0.f && p <= 1.f) << p;
          }
        }
      }
    }
  }
}

// Naive half-pixel bilinear upsampling of prob's ROI, in double.
double RefUpsample(const Frame& prob, LetterboxRect r, int W, int H, int x, int y) {
  if (r.width <= 0) r = {0, 0, prob.width, prob.height};
  int x0, x1, y0, y1;
  double wx, wy;
  testing::RefAxis(x, r.width, W, true, &x0, &x1, &wx);
  testing::RefAxis(y, r.height, H, true, &y0, &y1, &wy);
  auto p = [&](int xx, int yy) { return double(FAt(prob, r.x + xx, r.y + yy)); };
  return p(x0, y0) * (1 - wx) * (1 - wy) + p(x1, y0) * wx * (1 - wy) + p(x0, y1) * (1 - wx) * wy +
         p(x1, y1) * wx * wy;
}

TEST(Postprocess, UpsampleSoftAndThresholdWithRoi) {
  struct C {
    int pw, ph;
    LetterboxRect roi;
    int W, H;
  };
  const C cases[] = {{16, 16, {}, 37, 23},
                     {16, 16, {0, 3, 16, 9}, 64, 36},
                     {9, 13, {2, 0, 5, 13}, 11, 29},
                     {5, 4, {}, 5, 4},  // identity
                     {7, 7, {}, 3, 2},
                     {1, 1, {}, 6, 5}};
  uint32_t seed = 50;
  for (const C& c : cases) {
    Frame prob = testing::RandomFloatFrame(c.pw, c.ph, 3, -0.2f, 1.2f, seed++);
    PostprocessOptions o;
    o.roi = c.roi;
    Frame mask = testing::RandomFrame(PixelFormat::kGray8, c.W, c.H, 5, seed++);
    ASSERT_TRUE(UpsampleMask(prob, o, &mask).ok());
    Frame hard = testing::RandomFrame(PixelFormat::kGray8, c.W, c.H, 1, seed++);
    o.threshold = true;
    o.threshold_value = 0.4f;
    ASSERT_TRUE(UpsampleMask(prob, o, &hard).ok());
    for (int y = 0; y < c.H; ++y) {
      for (int x = 0; x < c.W; ++x) {
        const double v = RefUpsample(prob, c.roi, c.W, c.H, x, y);
        const double want = std::floor(std::clamp(v, 0.0, 1.0) * 255 + 0.5);
        ASSERT_LE(std::abs(testing::At(mask, x, y) - want), 1.0) << x << "," << y;
        // Hard mask: exact except within float error of the threshold.
        if (std::abs(v - 0.4) > 1e-5) {
          ASSERT_EQ(testing::At(hard, x, y), v >= 0.4 ? 255 : 0) << x << "," << y;
        }
      }
    }
  }
}

// NaN probabilities give 0, out-of-range ones 0 and 255 (soft and hard), on rows long enough for
// the vectorised path (16 pixels at a time) and its scalar tail. (A NaN tap poisons its
// neighbours even at weight 0, as IEEE arithmetic says: NaN * 0 is NaN, so rows are kept apart.)
TEST(Postprocess, NanAndOutOfRange) {
  const int W = 37;
  Frame prob = testing::RandomFloatFrame(W, 2, 0, 0.f, 1.f, 77);
  float* r0 = reinterpret_cast<float*>(prob.data[0]);
  float* r1 = reinterpret_cast<float*>(prob.data[0] + prob.pitch[0]);
  for (int x = 0; x < W; ++x) {
    r0[x] = NAN;
    r1[x] = x % 2 ? -5.f : 7.f;
  }
  auto mask = Frame::Allocate(PixelFormat::kGray8, W, 2);
  ASSERT_TRUE(mask.ok());
  for (bool hard : {false, true}) {
    PostprocessOptions o;
    o.threshold = hard;
    o.roi = {0, 0, W, 1};  // the NaN row alone
    auto one = Frame::Allocate(PixelFormat::kGray8, W, 1);
    ASSERT_TRUE(one.ok());
    ASSERT_TRUE(UpsampleMask(prob, o, &*one).ok());
    for (int x = 0; x < W; ++x) EXPECT_EQ(one->data[0][x], 0) << x;
    o.roi = {0, 1, W, 1};  // the out-of-range row alone, identity size: wx = 0, but 7 and -5
    ASSERT_TRUE(UpsampleMask(prob, o, &*one).ok());  // are finite, so each pixel is its own tap
    for (int x = 0; x < W; ++x) EXPECT_EQ(one->data[0][x], x % 2 ? 0 : 255) << x;
  }
}

TEST(Postprocess, EndToEndFromSlot) {
  PostprocessOptions o;
  o.kind = OutputKind::kTwoClassLogits;
  o.layout = TensorLayout::kNHWC;
  o.model_width = 32;
  o.model_height = 18;
  o.channels = 2;
  o.person_channel = 1;
  auto slot = RandomSlot(32 * 18 * 2, -6.f, 6.f, 9);
  auto mask = Frame::Allocate(PixelFormat::kGray8, 101, 57);
  ASSERT_TRUE(mask.ok());
  ASSERT_TRUE(Postprocess(slot.data(), o, &*mask).ok());
  // Reference: naive probability frame, then naive upsampling.
  auto prob = Frame::Allocate(PixelFormat::kGrayF32, 32, 18);
  ASSERT_TRUE(prob.ok());
  for (int y = 0; y < 18; ++y) {
    for (int x = 0; x < 32; ++x) {
      reinterpret_cast<float*>(prob->data[0] + y * prob->pitch[0])[x] =
          static_cast<float>(RefProb(slot, o, x, y));
    }
  }
  for (int y = 0; y < 57; ++y) {
    for (int x = 0; x < 101; ++x) {
      const double v = RefUpsample(*prob, {}, 101, 57, x, y);
      ASSERT_LE(std::abs(testing::At(*mask, x, y) - std::floor(v * 255 + 0.5)), 1.0);
    }
  }
}

TEST(Postprocess, OptionsForModel) {
  ModelInfo info;
  info.input_width = 256;
  info.input_height = 144;
  info.output_kind = OutputKind::kTwoClassLogits;
  info.output_channels = 2;
  info.person_channel = 1;
  info.output_layout = TensorLayout::kNCHW;
  const PostprocessOptions o = PostprocessOptionsFor(info);
  EXPECT_EQ(o.model_width, 256);
  EXPECT_EQ(o.model_height, 144);
  EXPECT_EQ(o.kind, OutputKind::kTwoClassLogits);
  EXPECT_EQ(o.channels, 2);
  EXPECT_EQ(o.person_channel, 1);
  EXPECT_EQ(o.layout, TensorLayout::kNCHW);
}

TEST(Postprocess, BadInputs) {
  PostprocessOptions o;
  o.model_width = 4;
  o.model_height = 4;
  std::vector<float> slot(4 * 4 * 3, 0.f);
  Frame prob;
  EXPECT_TRUE(ProbabilityFromOutput(slot.data(), o, &prob).ok());
  EXPECT_EQ(ProbabilityFromOutput(nullptr, o, &prob).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProbabilityFromOutput(slot.data(), o, nullptr).code(), StatusCode::kInvalidArgument);
  PostprocessOptions bad = o;
  bad.channels = 2;  // sigmoid with two channels
  EXPECT_EQ(ProbabilityFromOutput(slot.data(), bad, &prob).code(), StatusCode::kInvalidArgument);
  bad.kind = OutputKind::kTwoClassLogits;
  bad.person_channel = 2;
  EXPECT_EQ(ProbabilityFromOutput(slot.data(), bad, &prob).code(), StatusCode::kInvalidArgument);
  bad.person_channel = -1;
  EXPECT_EQ(ProbabilityFromOutput(slot.data(), bad, &prob).code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.kind = OutputKind::kClassLogits;  // needs >= 2 channels
  EXPECT_EQ(ProbabilityFromOutput(slot.data(), bad, &prob).code(), StatusCode::kInvalidArgument);
  bad = o;
  bad.model_height = 0;
  EXPECT_EQ(ProbabilityFromOutput(slot.data(), bad, &prob).code(), StatusCode::kInvalidArgument);

  auto mask = Frame::Allocate(PixelFormat::kGray8, 8, 8);
  ASSERT_TRUE(mask.ok());
  EXPECT_TRUE(UpsampleMask(prob, o, &*mask).ok());
  PostprocessOptions roi = o;
  roi.roi = {1, 1, 4, 3};  // past the right edge
  Status s = UpsampleMask(prob, roi, &*mask);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("roi"), std::string::npos) << s.message();
  roi.roi = {-1, 0, 2, 2};
  EXPECT_EQ(UpsampleMask(prob, roi, &*mask).code(), StatusCode::kInvalidArgument);
  auto rgb = Frame::Allocate(PixelFormat::kRGB24, 8, 8);
  ASSERT_TRUE(rgb.ok());
  EXPECT_EQ(UpsampleMask(prob, o, &*rgb).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(UpsampleMask(*mask, o, &*mask).code(), StatusCode::kInvalidArgument);  // not float
  EXPECT_EQ(UpsampleMask(Frame{}, o, &*mask).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(UpsampleMask(prob, o, nullptr).code(), StatusCode::kInvalidArgument);
  Frame empty_mask;
  EXPECT_EQ(Postprocess(slot.data(), o, &empty_mask).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrseg

namespace vrseg {
namespace {

// Letterbox conventions agree end to end: a smooth image letterboxed into the model input, its red
// channel taken as the "probability", upsampled back with roi = LetterboxFor(...) gives the red
// channel of the image again (within the blur of two resamplings of a smooth ramp).
TEST(Postprocess, LetterboxRoundTrip) {
  const int W = 160, H = 90;
  auto rgb = Frame::Allocate(PixelFormat::kRGB24, W, H);
  ASSERT_TRUE(rgb.ok());
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      uint8_t* p = rgb->data[0] + y * rgb->pitch[0] + 3 * x;
      p[0] = static_cast<uint8_t>(x * 255 / (W - 1));  // horizontal ramp
      p[1] = static_cast<uint8_t>(y * 255 / (H - 1));
      p[2] = 0;
    }
  }
  PreprocessOptions pre;
  pre.out_width = 64;
  pre.out_height = 64;
  pre.mode = ResizeMode::kLetterbox;
  pre.layout = TensorLayout::kNCHW;  // channel 0 is then a 64x64 plane: the "model output"
  std::vector<float> input(64 * 64 * 3);
  ASSERT_TRUE(Preprocess(*rgb, pre, input.data()).ok());
  PostprocessOptions post;
  post.model_width = 64;
  post.model_height = 64;
  post.roi = LetterboxFor(W, H, pre);
  EXPECT_EQ(post.roi, (LetterboxRect{0, 14, 64, 36}));
  auto mask = Frame::Allocate(PixelFormat::kGray8, W, H);
  ASSERT_TRUE(mask.ok());
  ASSERT_TRUE(Postprocess(input.data(), post, &*mask).ok());
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      // A ramp of 1.6 codes per pixel, resampled 2.5x down and up: within a few codes.
      ASSERT_NEAR(testing::At(*mask, x, y), testing::At(*rgb, x, y, 0), 4) << x << "," << y;
    }
  }
  // Without the roi the padding rows would be stretched in: the top rows come out wrong.
  post.roi = {};
  ASSERT_TRUE(Postprocess(input.data(), post, &*mask).ok());
  EXPECT_LT(testing::At(*mask, W - 1, 0), 128);
}

}  // namespace
}  // namespace vrseg
