// Preprocess and UpsampleMask against TF.js itself: testdata/fixtures/ holds the input tensors
// TF.js 4.22.0 (cpu backend) fed to selfie and meet after tf.image.resizeBilinear, and the selfie
// mask it made with a half-pixel resize and a 0.5 threshold (see testdata/fixtures/README.md).
// tests/imgproc/data/ holds raw copies of the photos decoded by the same ffmpeg command
// (`ffmpeg -i <photo> -frames:v 1 -f rawvideo -pix_fmt rgb24|gray`), so no image decoder is
// needed here.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "imgproc_test_util.h"
#include "vrseg/imgproc.h"

namespace vrseg {
namespace {

using testing::ImgprocDataDir;
using testing::ReadF32;
using testing::ReadFile;

std::string Fixture(const std::string& name) {
  return std::string(VRSEG_TESTDATA_DIR) + "/fixtures/" + name;
}

void ExpectMatchesTfjs(const std::string& raw, PixelFormat format, const std::string& fixture,
                       int out_w, int out_h) {
  std::vector<uint8_t> pixels = ReadFile(ImgprocDataDir() + "/" + raw);
  const int bpp = BytesPerPixel(format);
  ASSERT_EQ(pixels.size(), size_t(512) * 512 * bpp) << raw;
  Frame in = Frame::Wrap(format, 512, 512, pixels.data(), 512 * bpp);
  const std::vector<float> want = ReadF32(Fixture(fixture));
  ASSERT_EQ(want.size(), size_t(out_w) * out_h * 3) << fixture;
  PreprocessOptions o;  // the models' convention: RGB in [0,1], TF.js resize, NHWC
  o.out_width = out_w;
  o.out_height = out_h;
  std::vector<float> got(want.size());
  ASSERT_TRUE(Preprocess(in, o, got.data()).ok());
  double max_diff = 0;
  for (size_t i = 0; i < got.size(); ++i)
    max_diff = std::max(max_diff, double(std::abs(got[i] - want[i])));
  EXPECT_LE(max_diff, 1e-5) << fixture;
  // The same through the float16 path: within half an ulp of binary16 (2^-11 relative) plus that.
  std::vector<uint16_t> half(want.size());
  ASSERT_TRUE(PreprocessF16(in, o, half.data()).ok());
  for (size_t i = 0; i < half.size(); ++i) {
    ASSERT_LE(std::abs(HalfToFloat(half[i]) - want[i]), std::abs(want[i]) * 4.9e-4f + 1e-5f) << i;
  }
}

TEST(TfjsFixtures, SelfieInputAstronautRgb) {
  ExpectMatchesTfjs("astronaut_512x512.rgb24", PixelFormat::kRGB24, "selfie_astronaut_input.f32",
                    256, 256);
}
TEST(TfjsFixtures, MeetInputAstronautRgb) {
  ExpectMatchesTfjs("astronaut_512x512.rgb24", PixelFormat::kRGB24, "meet_astronaut_input.f32", 256,
                    144);
}
// camera.png is grey: TF.js was fed the grey value replicated to R, G, B.
TEST(TfjsFixtures, SelfieInputCameraGray) {
  ExpectMatchesTfjs("camera_512x512.gray", PixelFormat::kGray8, "selfie_camera_input.f32", 256,
                    256);
}
TEST(TfjsFixtures, MeetInputCameraGray) {
  ExpectMatchesTfjs("camera_512x512.gray", PixelFormat::kGray8, "meet_camera_input.f32", 256, 144);
}

// TF.js: resizeBilinear(prob, [512, 512], halfPixelCenters=true) >= 0.5 → 255. UpsampleMask with
// a threshold is the same operation; pixels may differ only where the interpolated value is within
// float error of 0.5 (checked with a double-precision interpolation).
TEST(TfjsFixtures, SelfieMaskAstronaut) {
  const std::vector<float> p = ReadF32(Fixture("selfie_astronaut_prob.f32"));
  ASSERT_EQ(p.size(), size_t(256) * 256);
  std::vector<uint8_t> want = ReadFile(ImgprocDataDir() + "/selfie_astronaut_mask_512x512.gray");
  ASSERT_EQ(want.size(), size_t(512) * 512);
  std::vector<float> pcopy = p;
  Frame prob = Frame::Wrap(PixelFormat::kGrayF32, 256, 256,
                           reinterpret_cast<uint8_t*>(pcopy.data()), 256 * 4);
  auto mask = Frame::Allocate(PixelFormat::kGray8, 512, 512);
  ASSERT_TRUE(mask.ok());
  PostprocessOptions o;
  o.model_width = 256;
  o.model_height = 256;
  o.threshold = true;
  o.threshold_value = 0.5f;
  ASSERT_TRUE(UpsampleMask(prob, o, &*mask).ok());
  int differ = 0, person = 0;
  for (int y = 0; y < 512; ++y) {
    for (int x = 0; x < 512; ++x) {
      const uint8_t got = testing::At(*mask, x, y);
      person += want[size_t(y) * 512 + x] == 255;
      if (got == want[size_t(y) * 512 + x]) continue;
      ++differ;
      int x0, x1, y0, y1;
      double wx, wy;
      testing::RefAxis(x, 256, 512, true, &x0, &x1, &wx);
      testing::RefAxis(y, 256, 512, true, &y0, &y1, &wy);
      auto at = [&](int xx, int yy) { return double(p[size_t(yy) * 256 + xx]); };
      const double v = at(x0, y0) * (1 - wx) * (1 - wy) + at(x1, y0) * wx * (1 - wy) +
                       at(x0, y1) * (1 - wx) * wy + at(x1, y1) * wx * wy;
      EXPECT_LT(std::abs(v - 0.5), 1e-5) << "pixel " << x << "," << y << " value " << v;
    }
  }
  EXPECT_GT(person, 512 * 512 / 10);  // the fixture really holds a person
  EXPECT_LE(differ, 5);
}

}  // namespace
}  // namespace vrseg
