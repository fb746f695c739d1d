// Stereo split (views, no copy) and merge, checked pixel by pixel against the source frame.

#include <gtest/gtest.h>

#include <cstring>

#include "imgproc_test_util.h"
#include "vrseg/imgproc.h"

namespace vrseg {
namespace {

using testing::RandomFrame;

// Byte (x, y, channel byte b) of plane p.
uint8_t PlaneByte(const Frame& f, int p, int64_t xb, int y) {
  return f.data[p][y * f.pitch[p] + xb];
}

TEST(Stereo, SplitIsAViewOfEveryPlane) {
  struct C {
    PixelFormat f;
    int w, h;
    StereoLayout layout;
  };
  const C cases[] = {{PixelFormat::kRGB24, 17, 6, StereoLayout::kSideBySide},  // odd width
                     {PixelFormat::kGray8, 9, 13, StereoLayout::kTopBottom},   // odd height
                     {PixelFormat::kNV12, 20, 10, StereoLayout::kSideBySide},
                     {PixelFormat::kI420, 12, 20, StereoLayout::kTopBottom},
                     {PixelFormat::kBGRA, 8, 2, StereoLayout::kTopBottom}};
  uint32_t seed = 1;
  for (const C& c : cases) {
    Frame f = RandomFrame(c.f, c.w, c.h, 3, seed++);
    f.index = 5;
    f.pts = 1234;
    Frame l, r;
    ASSERT_TRUE(SplitStereo(f, c.layout, &l, &r).ok()) << PixelFormatName(c.f);
    const bool sbs = c.layout == StereoLayout::kSideBySide;
    EXPECT_EQ(l.width, sbs ? c.w / 2 : c.w);
    EXPECT_EQ(r.width, sbs ? c.w - c.w / 2 : c.w);
    EXPECT_EQ(l.height, sbs ? c.h : c.h / 2);
    EXPECT_EQ(r.height, sbs ? c.h : c.h - c.h / 2);
    EXPECT_EQ(r.index, 5);
    EXPECT_EQ(r.pts, 1234);
    EXPECT_EQ(r.storage.get(), f.storage.get());  // shares the pixels
    for (int p = 0; p < PlaneCount(c.f); ++p) {
      // Right view pixel (x, y) of plane p is source pixel (x + dx, y + dy).
      const int dx = sbs ? c.w / 2 : 0, dy = sbs ? 0 : c.h / 2;
      const int sub = p == 0 ? 1 : 2;
      const int64_t bytes_dx =
          p == 0 ? int64_t(dx) * BytesPerPixel(c.f) : (c.f == PixelFormat::kNV12 ? dx : dx / 2);
      for (int y = 0; y < PlaneRows(c.f, r.height, p); ++y) {
        for (int64_t xb = 0; xb < PlaneRowBytes(c.f, r.width, p); ++xb) {
          ASSERT_EQ(PlaneByte(r, p, xb, y), PlaneByte(f, p, xb + bytes_dx, y + dy / sub))
              << PixelFormatName(c.f) << " plane " << p;
        }
      }
      for (int y = 0; y < PlaneRows(c.f, l.height, p); ++y) {
        ASSERT_EQ(std::memcmp(l.data[p] + y * l.pitch[p], f.data[p] + y * f.pitch[p],
                              PlaneRowBytes(c.f, l.width, p)),
                  0);
      }
    }
    // Writing through a view writes the source.
    r.data[0][0] ^= 0xff;
    EXPECT_EQ(r.data[0][0],
              PlaneByte(f, 0, sbs ? int64_t(c.w / 2) * BytesPerPixel(c.f) : 0, sbs ? 0 : c.h / 2));
  }
}

TEST(Stereo, MergeUndoesSplit) {
  for (StereoLayout layout : {StereoLayout::kSideBySide, StereoLayout::kTopBottom}) {
    for (PixelFormat fmt : {PixelFormat::kGray8, PixelFormat::kRGB24, PixelFormat::kGrayF32}) {
      Frame f = fmt == PixelFormat::kGrayF32 ? testing::RandomFloatFrame(15, 11, 2, 0, 1, 3)
                                             : RandomFrame(fmt, 15, 11, 2, 3);
      Frame l, r, merged;
      ASSERT_TRUE(SplitStereo(f, layout, &l, &r).ok());
      ASSERT_TRUE(MergeStereo(l, r, layout, &merged).ok());
      ASSERT_EQ(merged.width, 15);
      ASSERT_EQ(merged.height, 11);
      for (int y = 0; y < 11; ++y) {
        ASSERT_EQ(std::memcmp(merged.data[0] + y * merged.pitch[0], f.data[0] + y * f.pitch[0],
                              PlaneRowBytes(fmt, 15, 0)),
                  0)
            << PixelFormatName(fmt) << " row " << y;
      }
      // Merging into the frame the views came from (in place) leaves it unchanged.
      auto before = f.Clone();
      ASSERT_TRUE(before.ok());
      ASSERT_TRUE(MergeStereo(l, r, layout, &f).ok());
      for (int y = 0; y < 11; ++y) {
        ASSERT_EQ(std::memcmp(before->data[0] + y * before->pitch[0], f.data[0] + y * f.pitch[0],
                              PlaneRowBytes(fmt, 15, 0)),
                  0);
      }
    }
  }
}

TEST(Stereo, BadInputs) {
  Frame l, r, out;
  EXPECT_EQ(SplitStereo(Frame{}, StereoLayout::kSideBySide, &l, &r).code(),
            StatusCode::kInvalidArgument);
  Frame one = RandomFrame(PixelFormat::kRGB24, 1, 8, 0, 1);
  EXPECT_EQ(SplitStereo(one, StereoLayout::kSideBySide, &l, &r).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(SplitStereo(one, StereoLayout::kTopBottom, &l, &r).ok());
  Frame nv12 = RandomFrame(PixelFormat::kNV12, 18, 8, 0, 2);  // splits at 9: odd for chroma
  Status s = SplitStereo(nv12, StereoLayout::kSideBySide, &l, &r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("even"), std::string::npos) << s.message();
  EXPECT_EQ(SplitStereo(nv12, StereoLayout::kTopBottom, &l, nullptr).code(),
            StatusCode::kInvalidArgument);
  Frame a = RandomFrame(PixelFormat::kGray8, 8, 8, 0, 3);
  Frame b = RandomFrame(PixelFormat::kGray8, 8, 7, 0, 4);
  Frame c = RandomFrame(PixelFormat::kRGB24, 8, 8, 0, 5);
  EXPECT_EQ(MergeStereo(a, b, StereoLayout::kSideBySide, &out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(MergeStereo(a, b, StereoLayout::kTopBottom, &out).ok());
  EXPECT_EQ(out.height, 15);
  EXPECT_EQ(MergeStereo(a, c, StereoLayout::kTopBottom, &out).code(), StatusCode::kInvalidArgument);
  Frame p1 = RandomFrame(PixelFormat::kI420, 8, 8, 0, 6);
  EXPECT_EQ(MergeStereo(p1, p1, StereoLayout::kTopBottom, &out).code(), StatusCode::kUnsupported);
  EXPECT_EQ(MergeStereo(a, a, StereoLayout::kTopBottom, nullptr).code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrseg
