// VideoReader against FFmpeg's own decoding (the ffmpeg CLI's rawvideo output, ffprobe).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "io_test_util.h"
#include "vrseg/io.h"

namespace vrseg {
namespace {

using namespace vrseg::testing;  // NOLINT(build/namespaces)

constexpr int kW = 320;
constexpr int kH = 240;

// A 24000/1001 H.264 clip tagged BT.709 limited range, with an AAC track.
const std::string& H264Clip() {
  static const std::string path =
      MakeClip("h264_2398.mp4", "24000/1001", 24,
               "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -color_range tv -colorspace bt709 "
               "-color_primaries bt709 -color_trc bt709 -map 0:v -map 1:a -c:a aac -shortest",
               "320x240", "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=1");
  return path;
}

TEST(VideoReaderTest, H264InfoIsExact) {
  VRSEG_REQUIRE_FFMPEG();
  auto r = VideoReader::Open(H264Clip());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const VideoInfo& info = (*r)->info();
  EXPECT_EQ(info.width, kW);
  EXPECT_EQ(info.height, kH);
  EXPECT_EQ(info.frame_rate, (Rational{24000, 1001}));
  const auto tb = Lines(ProbeStream(H264Clip(), "time_base"));
  ASSERT_EQ(tb.size(), 1u);
  EXPECT_EQ(tb[0], "time_base=" + std::to_string(info.time_base.num) + "/" +
                       std::to_string(info.time_base.den));
  EXPECT_EQ(info.frame_count, 24);
  EXPECT_EQ(info.codec, "h264");
  EXPECT_TRUE(info.has_audio);
  EXPECT_FALSE(info.is_image);
  EXPECT_FALSE(info.is_sequence);
  EXPECT_EQ(info.color.range, 1);      // tv
  EXPECT_EQ(info.color.matrix, 1);     // bt709
  EXPECT_EQ(info.color.primaries, 1);  // bt709
  EXPECT_EQ(info.color.transfer, 1);   // bt709
  EXPECT_NEAR(info.duration_s, 24 * 1001 / 24000.0, 0.05);
}

TEST(VideoReaderTest, H264FramesMatchFfmpegRgbAndTimestamps) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  const auto frames = ReadAll(H264Clip(), PixelFormat::kRGB24, &info, nullptr, /*threads=*/2);
  const auto ref = FfmpegDecode(H264Clip(), "rgb24", kW * kH * 3);
  const auto pts = ProbePts(H264Clip());
  ASSERT_EQ(frames.size(), 24u);
  ASSERT_EQ(ref.size(), frames.size());
  ASSERT_EQ(pts.size(), frames.size());
  // The same frames with the BT.601 matrix: our output must be far closer to the BT.709 truth.
  const auto wrong =
      FfmpegDecode(H264Clip(), "rgb24", kW * kH * 3, "", "scale=in_color_matrix=bt601:in_range=tv");
  ASSERT_EQ(wrong.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const Frame& f = frames[i];
    EXPECT_EQ(f.index, static_cast<int64_t>(i));
    EXPECT_EQ(f.pts, pts[i]) << "frame " << i;
    EXPECT_GT(f.duration, 0);
    EXPECT_EQ(f.time_base, info.time_base);
    EXPECT_EQ(f.color, info.color);
    EXPECT_EQ(f.format, PixelFormat::kRGB24);
    const Diff d = Compare(Packed(f), ref[i]);
    EXPECT_LE(d.max_abs, 2) << "frame " << i;
    EXPECT_GT(d.psnr, 50) << "frame " << i;
    const Diff bad = Compare(Packed(f), wrong[i]);
    EXPECT_GT(bad.max_abs, 8) << "frame " << i << ": the BT.601 decode should differ";
  }
  // pts advance by one frame (1001/24000 s) in the stream's time base.
  for (size_t i = 1; i < frames.size(); ++i) {
    EXPECT_EQ((frames[i].pts - frames[i - 1].pts) * 24000 * info.time_base.num,
              1001LL * info.time_base.den);
  }
}

struct FormatCase {
  PixelFormat format;
  const char* ffmpeg_name;
  int max_abs;
  const char* vf;  // YUV outputs keep the source's (full) range, as the native decode has it
};

class ReaderFormatTest : public ::testing::TestWithParam<FormatCase> {};

// Every output format against FFmpeg's conversion of the same full-range BT.601 clip.
TEST_P(ReaderFormatTest, MatchesFfmpeg) {
  VRSEG_REQUIRE_FFMPEG();
  static const std::string clip =
      MakeClip("h264_pc601_25.mkv", "25", 6,
               "-c:v libx264 -preset ultrafast -pix_fmt yuv420p -color_range pc "
               "-colorspace smpte170m -color_primaries smpte170m -color_trc smpte170m");
  const FormatCase& c = GetParam();
  VideoInfo info;
  const auto frames = ReadAll(clip, c.format, &info);
  EXPECT_EQ(info.color.range, 2);
  EXPECT_EQ(info.color.matrix, 6);
  const auto ref = FfmpegDecode(clip, c.ffmpeg_name, PackedSize(c.format, kW, kH), "", c.vf);
  ASSERT_EQ(frames.size(), 6u);
  ASSERT_EQ(ref.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].format, c.format);
    const Diff d = Compare(Packed(frames[i]), ref[i]);
    EXPECT_LE(d.max_abs, c.max_abs) << PixelFormatName(c.format) << " frame " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, ReaderFormatTest,
    ::testing::Values(FormatCase{PixelFormat::kRGB24, "rgb24", 2, ""},
                      FormatCase{PixelFormat::kBGR24, "bgr24", 2, ""},
                      FormatCase{PixelFormat::kRGBA, "rgba", 2, ""},
                      FormatCase{PixelFormat::kBGRA, "bgra", 2, ""},
                      FormatCase{PixelFormat::kI420, "yuvj420p", 0, ""},
                      FormatCase{PixelFormat::kNV12, "nv12", 0, "scale=out_range=pc"},
                      FormatCase{PixelFormat::kGray8, "gray", 1, ""}),
    [](const auto& info) { return std::string(PixelFormatName(info.param.format)); });

// On a limited-range clip, I420 is the decoder's own output, untouched.
TEST(VideoReaderTest, I420OfYuv420pIsTheNativeDecode) {
  VRSEG_REQUIRE_FFMPEG();
  const auto frames = ReadAll(H264Clip(), PixelFormat::kI420);
  const auto ref = FfmpegDecode(H264Clip(), "yuv420p", kW * kH * 3 / 2);
  ASSERT_EQ(frames.size(), ref.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(Compare(Packed(frames[i]), ref[i]).max_abs, 0) << "frame " << i;
  }
}

// Matroska stores no frame count; mkvmerge's statistics tag gives one where present.
TEST(VideoReaderTest, MatroskaFrameCountFromStatisticsTag) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string plain = MakeClip("plain.mkv", "25", 5, "-c:v ffv1");
  const std::string tagged =
      MakeClip("tagged.mkv", "25", 5, "-c:v ffv1 -metadata:s:v:0 NUMBER_OF_FRAMES-eng=5");
  VideoInfo a, b;
  EXPECT_EQ(ReadAll(plain, PixelFormat::kRGB24, &a).size(), 5u);
  EXPECT_EQ(ReadAll(tagged, PixelFormat::kRGB24, &b).size(), 5u);
  EXPECT_EQ(a.frame_count, -1);
  EXPECT_EQ(b.frame_count, 5);
}

TEST(VideoReaderTest, StillPngIsExact) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string png = kTestData + "/astronaut.png";
  VideoInfo info;
  const auto frames = ReadAll(png, PixelFormat::kRGB24, &info);
  EXPECT_TRUE(info.is_image);
  EXPECT_EQ(info.frame_count, 1);
  EXPECT_EQ(info.codec, "png");
  ASSERT_EQ(frames.size(), 1u);
  const auto ref = FfmpegDecode(png, "rgb24", 512 * 512 * 3);
  ASSERT_EQ(ref.size(), 1u);
  EXPECT_EQ(Compare(Packed(frames[0]), ref[0]).max_abs, 0);
}

TEST(VideoReaderTest, GrayPngToGray8IsExact) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string png = kTestData + "/camera.png";
  const auto frames = ReadAll(png, PixelFormat::kGray8);
  ASSERT_EQ(frames.size(), 1u);
  const auto ref = FfmpegDecode(png, "gray", 512 * 512);
  ASSERT_EQ(ref.size(), 1u);
  EXPECT_EQ(Compare(Packed(frames[0]), ref[0]).max_abs, 0);
}

TEST(VideoReaderTest, JpegMatchesFfmpeg) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string jpg = kTestData + "/grace_hopper.jpg";
  VideoInfo info;
  const auto frames = ReadAll(jpg, PixelFormat::kRGB24, &info);
  EXPECT_TRUE(info.is_image);
  EXPECT_EQ(info.color.range, 2);  // JPEG is full range
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].width, 512);
  EXPECT_EQ(frames[0].height, 600);
  const auto ref = FfmpegDecode(jpg, "rgb24", 512 * 600 * 3);
  ASSERT_EQ(ref.size(), 1u);
  const Diff d = Compare(Packed(frames[0]), ref[0]);
  EXPECT_LE(d.max_abs, 2);
}

TEST(VideoReaderTest, ImageSequence) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string dir = Scratch("seq");
  std::filesystem::create_directories(dir);
  // ffmpeg numbers from 1; 7 frames.
  MakeClip("seq/%04d.png", "25", 7, "-pix_fmt rgb24");
  const std::string pattern = dir + "/%04d.png";
  VideoInfo info;
  const auto frames = ReadAll(pattern, PixelFormat::kRGB24, &info);
  EXPECT_TRUE(info.is_sequence);
  EXPECT_FALSE(info.is_image);
  EXPECT_EQ(info.frame_count, 7);
  EXPECT_EQ(info.frame_rate, (Rational{25, 1}));
  ASSERT_EQ(frames.size(), 7u);
  for (int i = 0; i < 7; ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "/%04d.png", i + 1);
    const auto ref = FfmpegDecode(dir + name, "rgb24", kW * kH * 3);
    ASSERT_EQ(ref.size(), 1u);
    EXPECT_EQ(Compare(Packed(frames[i]), ref[0]).max_abs, 0) << name;
    EXPECT_EQ(frames[i].index, i);
    if (i > 0) {
      EXPECT_GT(frames[i].pts, frames[i - 1].pts);
    }
  }
}

// Buffers are reused once the caller lets go of them, and never while the caller holds them.
TEST(VideoReaderTest, ReusesBuffersAndNeverOverwritesHeldFrames) {
  VRSEG_REQUIRE_FFMPEG();
  auto r = VideoReader::Open(H264Clip());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto ref = FfmpegDecode(H264Clip(), "rgb24", kW * kH * 3);
  std::vector<Frame> held;
  Frame f;
  std::set<const uint8_t*> buffers;
  for (int i = 0; i < 24; ++i) {
    auto more = (*r)->Read(&f);
    ASSERT_TRUE(more.ok() && *more) << i;
    if (i < 3) {
      held.push_back(f);  // keep the first three
    } else {
      buffers.insert(f.data[0]);
    }
  }
  // After the held ones, reading into the same Frame cycles through at most two buffers.
  EXPECT_LE(buffers.size(), 2u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(held[i].index, i);
    EXPECT_LE(Compare(Packed(held[i]), ref[i]).max_abs, 2) << "held frame " << i << " changed";
    EXPECT_EQ(buffers.count(held[i].data[0]), 0u);
  }
  auto end = (*r)->Read(&f);
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(*end);
  end = (*r)->Read(&f);  // stays at the end
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(*end);
  // Frames outlive their reader.
  r->reset();
  for (int i = 0; i < 3; ++i) {
    EXPECT_LE(Compare(Packed(held[i]), ref[i]).max_abs, 2) << "frame " << i << " after the reader";
  }
}

// Frames handed to another thread and dropped there go back to the pool (no growth, no mix-up).
TEST(VideoReaderTest, FramesReleasedOnAnotherThreadAreReused) {
  VRSEG_REQUIRE_FFMPEG();
  auto r = VideoReader::Open(H264Clip());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto ref = FfmpegDecode(H264Clip(), "rgb24", kW * kH * 3);
  std::set<const uint8_t*> buffers;
  for (int i = 0; i < 24; ++i) {
    Frame f;
    auto more = (*r)->Read(&f);
    ASSERT_TRUE(more.ok() && *more) << i;
    buffers.insert(f.data[0]);
    int max_abs = -1;
    std::thread consumer([&max_abs, &ref, i, g = std::move(f)]() mutable {
      max_abs = Compare(Packed(g), ref[i]).max_abs;
      g = Frame{};  // the last reference dies on this thread
    });
    consumer.join();
    EXPECT_LE(max_abs, 2) << "frame " << i;
  }
  EXPECT_LE(buffers.size(), 2u);
}

TEST(FfmpegVersionsTest, NamesTheLibraries) {
  const std::string v = FfmpegVersions();
  EXPECT_NE(v.find("libavcodec "), std::string::npos) << v;
  EXPECT_NE(v.find("libavformat "), std::string::npos) << v;
}

}  // namespace
}  // namespace vrseg
