// GpuCompositor, MakeRgbaDevice and BoxBlur3Device against Compositor::Compose (+ RgbToNv12),
// MakeRgba and BoxBlur3.
#include "vrseg/cuda/composite.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/gpu_test_util.h"
#include "cuda/parity_util.h"

namespace vrseg::cuda {
namespace {

using testing::BytesClose;

Frame Alloc(PixelFormat f, int w, int h) { return std::move(Frame::Allocate(f, w, h)).value(); }

TEST(GpuCompositorTest, MatchesComposeForEveryBackgroundAndOutput) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(3);
  Frame photo = testing::LoadRaw("grace_hopper_301x353.rgb", PixelFormat::kRGB24, 301, 353);
  ASSERT_FALSE(photo.empty());
  const int sizes[][2] = {{1920, 1080}, {643, 361}, {5, 3}, {1, 1}};
  for (int bgk = 0; bgk < 4; ++bgk) {
    CompositeOptions o;
    o.color = {12, 200, 77};
    if (bgk == 1) {
      o.background = BackgroundKind::kImage;
      o.image = photo;
    } else if (bgk >= 2) {
      o.background = BackgroundKind::kBlur;
      o.blur_radius = bgk == 2 ? 0 : 3;  // 0: from the diagonal (55 at 1080p)
    }
    auto gpu = GpuCompositor::Create(o);
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    Compositor cpu(o);
    for (const auto& sz : sizes) {
      const int W = sz[0], H = sz[1];
      // Real picture content for the frame when it fits, random elsewhere.
      Frame rgb = testing::RandomHostFrame(PixelFormat::kRGB24, W, H, rng, 1);
      if (W <= photo.width && H <= photo.height) {
        for (int y = 0; y < H; ++y) std::memcpy(rgb.data[0] + y * rgb.pitch[0], photo.data[0] + y * photo.pitch[0], 3 * W);
      }
      Frame mask = testing::RandomHostFrame(PixelFormat::kGray8, W, H, rng, 2);
      // Some fully opaque / transparent runs, as real masks have.
      for (int y = 0; y < H; ++y) {
        for (int x = 0; x < W / 3; ++x) mask.data[0][y * mask.pitch[0] + x] = (y % 2) ? 255 : 0;
      }
      Frame ref = Alloc(PixelFormat::kRGB24, W, H);
      ASSERT_TRUE(cpu.Compose(rgb, mask, &ref).ok());
      Frame drgb = testing::ToDevice(rgb, 7), dmask = testing::ToDevice(mask, 3);
      for (PixelFormat of : {PixelFormat::kRGB24, PixelFormat::kRGBA, PixelFormat::kNV12}) {
        Frame dout = testing::DeviceFrame(of, W, H, 4);
        Status s = (*gpu)->Compose(drgb, dmask, &dout, nullptr);
        ASSERT_TRUE(s.ok()) << s.ToString();
        Frame got = testing::ToHost(dout);
        Frame want;
        if (of == PixelFormat::kRGB24) {
          want = ref;
        } else if (of == PixelFormat::kRGBA) {
          want = Alloc(PixelFormat::kRGBA, W, H);
          Frame opaque = Alloc(PixelFormat::kGray8, W, H);
          for (int y = 0; y < H; ++y) std::memset(opaque.data[0] + y * opaque.pitch[0], 255, W);
          ASSERT_TRUE(MakeRgba(ref, opaque, &want).ok());
        } else {
          want = Alloc(PixelFormat::kNV12, W, H);
          ASSERT_TRUE(RgbToNv12(ref, &want).ok());
        }
        int64_t differing = 0;
        EXPECT_TRUE(BytesClose(got, want, 1, &differing))
            << "background " << bgk << " " << W << "x" << H << " -> " << PixelFormatName(of);
        EXPECT_EQ(differing, 0) << "the integer formulas should be bit-exact";
      }
    }
  }
}

TEST(GpuCompositorTest, MakeRgbaAndBoxBlurMatchTheirReferences) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(8);
  const int W = 333, H = 187;
  Frame rgb = testing::RandomHostFrame(PixelFormat::kRGB24, W, H, rng, 5);
  Frame mask = testing::RandomHostFrame(PixelFormat::kGray8, W, H, rng, 1);
  Frame want = Alloc(PixelFormat::kRGBA, W, H);
  ASSERT_TRUE(MakeRgba(rgb, mask, &want).ok());
  Frame dout = testing::DeviceFrame(PixelFormat::kRGBA, W, H, 8);
  ASSERT_TRUE(MakeRgbaDevice(testing::ToDevice(rgb, 1), testing::ToDevice(mask), &dout, nullptr).ok());
  EXPECT_TRUE(BytesClose(testing::ToHost(dout), want, 0));

  for (PixelFormat f : {PixelFormat::kGray8, PixelFormat::kRGB24, PixelFormat::kBGRA}) {
    for (int r : {1, 4, 40, 400}) {  // 400: wider than the frame, borders replicate
      Frame src = testing::RandomHostFrame(f, W, H, rng, 3);
      Frame ref = Alloc(f, W, H), scratch;
      ASSERT_TRUE(BoxBlur3(src, r, &ref, &scratch).ok());
      Frame dsrc = testing::ToDevice(src, 4);
      Frame dscratch = testing::DeviceFrame(f, W, H, 12);
      Frame dout2 = testing::DeviceFrame(f, W, H, 0);
      ASSERT_TRUE(BoxBlur3Device(dsrc, r, &dout2, &dscratch, nullptr).ok());
      EXPECT_TRUE(BytesClose(testing::ToHost(dout2), ref, 0)) << PixelFormatName(f) << " r=" << r;
      ASSERT_TRUE(BoxBlur3Device(dsrc, r, &dsrc, &dscratch, nullptr).ok());  // in place
      EXPECT_TRUE(BytesClose(testing::ToHost(dsrc), ref, 0)) << "in place " << PixelFormatName(f);
    }
  }
}

// Frames too wide (rows over 48 KiB) or too tall (columns over 160 KiB) for the shared-memory
// passes take the plain ones.
TEST(GpuCompositorTest, BoxBlurOfVeryWideAndTallFramesMatches) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(9);
  for (auto [w, h] : {std::pair{12400, 5}, std::pair{7, 5200}}) {
    Frame src = testing::RandomHostFrame(PixelFormat::kRGBA, w, h, rng, 4);
    Frame ref = Alloc(PixelFormat::kRGBA, w, h), scratch;
    ASSERT_TRUE(BoxBlur3(src, 9, &ref, &scratch).ok());
    Frame dsrc = testing::ToDevice(src, 8);
    Frame dscratch = testing::DeviceFrame(PixelFormat::kRGBA, w, h, 0);
    Frame dout = testing::DeviceFrame(PixelFormat::kRGBA, w, h, 4);
    ASSERT_TRUE(BoxBlur3Device(dsrc, 9, &dout, &dscratch, nullptr).ok());
    EXPECT_TRUE(BytesClose(testing::ToHost(dout), ref, 0)) << w << "x" << h;
  }
}

TEST(GpuCompositorTest, RejectsBadArguments) {
  CompositeOptions bad_image;
  bad_image.background = BackgroundKind::kImage;
  EXPECT_EQ(GpuCompositor::Create(bad_image).status().code(), StatusCode::kInvalidArgument);
  CompositeOptions bad_radius;
  bad_radius.blur_radius = -1;
  EXPECT_EQ(GpuCompositor::Create(bad_radius).status().code(), StatusCode::kInvalidArgument);

  alignas(16) static uint8_t fake[4096];
  auto dev = [](PixelFormat f, int w, int h, int64_t pitch) {
    Frame fr = Frame::Wrap(f, w, h, fake, pitch);
    fr.data[1] = fake + 2048;
    fr.pitch[1] = pitch;
    fr.memory = MemoryKind::kDevice;
    return fr;
  };
  Frame rgb = dev(PixelFormat::kRGB24, 8, 8, 24), mask = dev(PixelFormat::kGray8, 8, 8, 8);
  Frame out = dev(PixelFormat::kRGBA, 8, 8, 32);
  Frame rgba_bad_pitch = dev(PixelFormat::kRGBA, 8, 8, 34);
  EXPECT_EQ(MakeRgbaDevice(rgb, mask, &rgba_bad_pitch, nullptr).code(), StatusCode::kInvalidArgument);
  Frame small = dev(PixelFormat::kGray8, 7, 8, 8);
  Status s = MakeRgbaDevice(rgb, small, &out, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("differ in size"), std::string::npos) << s.message();
  Frame host = rgb;
  host.memory = MemoryKind::kHost;
  EXPECT_EQ(MakeRgbaDevice(host, mask, &out, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeRgbaDevice(rgb, mask, nullptr, nullptr).code(), StatusCode::kInvalidArgument);
  Frame scratch = dev(PixelFormat::kRGB24, 8, 8, 24);
  Frame o2 = rgb;
  EXPECT_EQ(BoxBlur3Device(rgb, 0, &o2, &scratch, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(BoxBlur3Device(rgb, 2, &o2, &scratch, nullptr).code(), StatusCode::kInvalidArgument)
      << "scratch aliasing the input";
  EXPECT_EQ(BoxBlur3Device(dev(PixelFormat::kNV12, 8, 8, 8), 2, &o2, &scratch, nullptr).code(),
            StatusCode::kInvalidArgument);
  if (DeviceCount() == 0) return;  // Create below needs a device for its pool only when used
  auto c = GpuCompositor::Create(CompositeOptions{});
  ASSERT_TRUE(c.ok());
  Frame i420 = dev(PixelFormat::kI420, 8, 8, 8);
  EXPECT_EQ((*c)->Compose(rgb, mask, &i420, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrseg::cuda
