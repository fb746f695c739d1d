// GpuGuidedFilter against vrseg::GuidedFilterRefine.
#include "vrseg/cuda/refine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "cuda/gpu_test_util.h"
#include "cuda/parity_util.h"

namespace vrseg::cuda {
namespace {

using testing::BytesClose;

// A soft ellipse with noise: a plausible coarse person mask.
Frame EllipseMask(int W, int H, std::mt19937& rng) {
  Frame m = std::move(Frame::Allocate(PixelFormat::kGray8, W, H)).value();
  std::uniform_int_distribution<int> noise(-20, 20);
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const double dx = (x - W / 2.0) / (W / 3.0), dy = (y - H / 2.0) / (H / 2.5);
      const double v = 255.0 / (1.0 + std::exp(12.0 * (std::sqrt(dx * dx + dy * dy) - 1.0)));
      m.data[0][y * m.pitch[0] + x] = static_cast<uint8_t>(std::clamp(v + noise(rng), 0.0, 255.0));
    }
  }
  return m;
}

TEST(GpuGuidedFilterTest, MatchesGuidedFilterRefine) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(21);
  Frame photo = testing::LoadRaw("grace_hopper_301x353.rgb", PixelFormat::kRGB24, 301, 353);
  ASSERT_FALSE(photo.empty());
  struct C {
    int radius, subsample;
    GuidanceKind g;
    bool real;
    int w, h;
  };
  const C cases[] = {{8, 4, GuidanceKind::kLuma, true, 301, 353},
                     {3, 1, GuidanceKind::kMean, true, 301, 353},
                     {8, 3, GuidanceKind::kLuma, false, 1283, 719},
                     {16, 4, GuidanceKind::kMean, false, 1920, 1080},
                     {1, 5, GuidanceKind::kLuma, false, 7, 3}};
  for (const C& c : cases) {
    GuidedFilterOptions o;
    o.radius = c.radius;
    o.subsample = c.subsample;
    o.guidance = c.g;
    o.eps = 1e-3f;
    Frame rgb = c.real ? photo : testing::RandomHostFrame(PixelFormat::kRGB24, c.w, c.h, rng, 3);
    Frame mask = EllipseMask(c.w, c.h, rng);
    Frame ref = std::move(Frame::Allocate(PixelFormat::kGray8, c.w, c.h)).value();
    ASSERT_TRUE(GuidedFilterRefine(rgb, mask, o, &ref).ok());
    auto f = GpuGuidedFilter::Create(o);
    ASSERT_TRUE(f.ok());
    Frame drgb = testing::ToDevice(rgb, 5), dmask = testing::ToDevice(mask, 2);
    Frame dout = testing::DeviceFrame(PixelFormat::kGray8, c.w, c.h, 3);
    ASSERT_TRUE((*f)->Refine(drgb, dmask, &dout, nullptr).ok());
    int64_t differing = 0;
    EXPECT_TRUE(BytesClose(testing::ToHost(dout), ref, 2, &differing))
        << "r=" << c.radius << " s=" << c.subsample << " " << c.w << "x" << c.h;
    EXPECT_LE(differing, int64_t{c.w} * c.h / 100 + 2) << "r=" << c.radius << " s=" << c.subsample;
    // In place, and a second call on the same filter (scratch reused).
    ASSERT_TRUE((*f)->Refine(drgb, dmask, &dmask, nullptr).ok());
    EXPECT_TRUE(BytesClose(testing::ToHost(dmask), ref, 2)) << "in place";
  }
}

TEST(GpuGuidedFilterTest, RejectsBadArguments) {
  GuidedFilterOptions o;
  o.radius = 0;
  EXPECT_EQ(GpuGuidedFilter::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.subsample = 0;
  EXPECT_EQ(GpuGuidedFilter::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = {};
  o.eps = 0.f;
  EXPECT_EQ(GpuGuidedFilter::Create(o).status().code(), StatusCode::kInvalidArgument);
  auto f = GpuGuidedFilter::Create({});
  ASSERT_TRUE(f.ok());
  alignas(16) static uint8_t fake[1024];
  Frame rgb = Frame::Wrap(PixelFormat::kRGB24, 8, 8, fake, 24);
  rgb.memory = MemoryKind::kDevice;
  Frame mask = Frame::Wrap(PixelFormat::kGray8, 8, 8, fake, 8);
  mask.memory = MemoryKind::kDevice;
  Frame small = Frame::Wrap(PixelFormat::kGray8, 8, 7, fake, 8);
  small.memory = MemoryKind::kDevice;
  Frame host = mask;
  host.memory = MemoryKind::kHost;
  EXPECT_EQ((*f)->Refine(rgb, small, &mask, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*f)->Refine(rgb, host, &mask, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*f)->Refine(mask, mask, &mask, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*f)->Refine(rgb, mask, nullptr, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrseg::cuda
