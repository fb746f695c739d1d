// Bad inputs: missing, unreadable, empty, not media, truncated and corrupt files. Each error must
// carry the right code, name the file and (for damage) the frame index reached; frames before the
// damage must still come out, matching FFmpeg's own decoding.
#include <gtest/gtest.h>

#include "io_test_util.h"
#include "vrseg/io.h"

namespace vrseg {
namespace {

using namespace vrseg::testing;  // NOLINT(build/namespaces)

constexpr int kW = 320;
constexpr int kH = 240;

void ExpectOpenFails(const std::string& path, StatusCode code, const std::string& also = "") {
  auto r = VideoReader::Open(path);
  ASSERT_FALSE(r.ok()) << path;
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(path), std::string::npos) << r.status().message();
  if (!also.empty()) {
    EXPECT_NE(r.status().message().find(also), std::string::npos) << r.status().message();
  }
}

// Reads until the end or an error. Returns the frames and sets *end (OK for a clean end).
std::vector<Frame> ReadUntilEnd(const std::string& path, Status* end) {
  return ReadAll(path, PixelFormat::kRGB24, nullptr, end);
}

std::string Truncate(const std::string& from, const std::string& name, double fraction) {
  const auto bytes = ReadBytes(from);
  const std::string out = Scratch(name);
  WriteBytes(out, bytes.data(), static_cast<size_t>(bytes.size() * fraction));
  return out;
}

TEST(BadInputTest, MissingFileIsNotFound) {
  ExpectOpenFails(Scratch("does_not_exist.mp4"), StatusCode::kNotFound);
  ExpectOpenFails(Scratch("no_dir/clip.mkv"), StatusCode::kNotFound);
}

TEST(BadInputTest, MissingSequenceIsNotFound) {
  std::filesystem::create_directories(Scratch("empty_seq"));
  ExpectOpenFails(Scratch("empty_seq/%04d.png"), StatusCode::kNotFound);
}

TEST(BadInputTest, UnreadableIsIoError) {
  // A folder cannot be read as a file. (Permission bits do not stop root, which CI may be.)
  std::filesystem::create_directories(Scratch("a_folder.mp4"));
  ExpectOpenFails(Scratch("a_folder.mp4"), StatusCode::kIoError);
}

TEST(BadInputTest, ZeroBytesIsDataLoss) {
  for (const char* name : {"zero.mp4", "zero.png", "zero.jpg"}) {
    const std::string p = Scratch(name);
    WriteBytes(p, nullptr, 0);
    ExpectOpenFails(p, StatusCode::kDataLoss, "frame 0");
  }
}

TEST(BadInputTest, NotMediaIsDataLoss) {
  const std::string text = "This is not a video.\nJust some words in a text file.\n";
  for (const char* name : {"text.mp4", "text.txt", "text.png", "text"}) {
    const std::string p = Scratch(name);
    WriteBytes(p, reinterpret_cast<const uint8_t*>(text.data()), text.size());
    ExpectOpenFails(p, StatusCode::kDataLoss, "frame 0");
  }
  std::vector<uint8_t> noise(4096);
  uint32_t x = 12345;
  for (auto& b : noise) b = static_cast<uint8_t>((x = x * 1664525u + 1013904223u) >> 24);
  const std::string p = Scratch("noise.mkv");
  WriteBytes(p, noise.data(), noise.size());
  ExpectOpenFails(p, StatusCode::kDataLoss, "frame 0");
}

TEST(BadInputTest, AudioOnlyIsUnsupported) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string p = Scratch("only_audio.m4a");
  Ffmpeg("-f lavfi -i sine=duration=0.2 -c:a aac '" + p + "'");
  ExpectOpenFails(p, StatusCode::kUnsupported);
}

// A stream that starts before its first key frame (a cut made without re-encoding) is not damage:
// the decoder's complaints before the first frame are expected; every frame from the key frame on
// comes out and the end is clean.
TEST(BadInputTest, StartBeforeKeyFrameIsNotDamage) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string ts =
      MakeClip("gop.ts", "25", 30, "-c:v libx264 -preset ultrafast -g 10 -bf 0 -f mpegts");
  // Cut the transport stream in its 188-byte packets, a little after the start, so that the first
  // key frame is lost.
  const auto bytes = ReadBytes(ts);
  const size_t skip = 188 * 30;
  ASSERT_GT(bytes.size(), skip);
  const std::string cut = Scratch("gop_cut.ts");
  WriteBytes(cut, bytes.data() + skip, bytes.size() - skip);
  Status end;
  const auto got = ReadUntilEnd(cut, &end);
  EXPECT_TRUE(end.ok()) << end.ToString();
  const std::string probed = Ffprobe(
      "-count_frames -select_streams v:0 -show_entries "
      "stream=nb_read_frames -of csv=p=0 '" +
      cut + "'");
  EXPECT_GE(got.size(), 19u);
  EXPECT_LE(got.size(), std::stoul(probed));
}

// A truncated still: no frame, kDataLoss at frame 0 (at Open or at the first Read).
void ExpectTruncatedStill(const std::string& path) {
  Status end;
  const auto frames = ReadUntilEnd(path, &end);
  EXPECT_TRUE(frames.empty()) << path;
  EXPECT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_NE(end.message().find(path), std::string::npos) << end.message();
  EXPECT_NE(end.message().find("frame 0"), std::string::npos) << end.message();
}

TEST(BadInputTest, TruncatedJpegIsDataLoss) {
  ExpectTruncatedStill(Truncate(kTestData + "/grace_hopper.jpg", "half.jpg", 0.5));
  ExpectTruncatedStill(Truncate(kTestData + "/grace_hopper.jpg", "most.jpg", 0.97));
}

TEST(BadInputTest, TruncatedPngIsDataLoss) {
  ExpectTruncatedStill(Truncate(kTestData + "/astronaut.png", "half.png", 0.5));
  ExpectTruncatedStill(Truncate(kTestData + "/camera.png", "most.png", 0.9));
}

struct CutCase {
  const char* name;
  const char* args;  // encoder and muxer arguments of the whole clip
  bool open_fails;   // the index is at the end of the file, so half a file has none
};

class CutInHalfTest : public ::testing::TestWithParam<CutCase> {};

// Policy: every frame before the cut is delivered (as FFmpeg decodes them), then kDataLoss names
// the file and the index of the first missing frame; a clean end never hides a cut.
TEST_P(CutInHalfTest, DeliversCleanFramesThenDataLoss) {
  VRSEG_REQUIRE_FFMPEG();
  const CutCase& c = GetParam();
  const std::string whole = MakeClip(std::string("whole_") + c.name, "25", 40, c.args);
  Status end;
  const auto all = ReadUntilEnd(whole, &end);
  ASSERT_TRUE(end.ok()) << end.ToString();
  ASSERT_EQ(all.size(), 40u);
  const std::string half = Truncate(whole, std::string("half_") + c.name, 0.5);
  if (c.open_fails) {
    ExpectOpenFails(half, StatusCode::kDataLoss, "frame 0");
    return;
  }
  const auto got = ReadUntilEnd(half, &end);
  ASSERT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_NE(end.message().find(half), std::string::npos) << end.message();
  EXPECT_NE(end.message().find("frame " + std::to_string(got.size())), std::string::npos)
      << end.message() << " (" << got.size() << " frames delivered)";
  EXPECT_GT(got.size(), 5u);
  EXPECT_LT(got.size(), 40u);
  // FFmpeg itself decodes this many frames from the cut file; we deliver the same clean ones
  // (at most the one damaged frame fewer).
  const std::string probed = Ffprobe(
      "-count_frames -select_streams v:0 -show_entries "
      "stream=nb_read_frames -of csv=p=0 '" +
      half + "'");
  const size_t ffmpeg_frames = std::stoul(probed);
  EXPECT_GE(got.size() + 1, ffmpeg_frames);
  EXPECT_LE(got.size(), ffmpeg_frames);
  const auto ref = FfmpegDecode(whole, "rgb24", kW * kH * 3);
  ASSERT_EQ(ref.size(), 40u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].index, static_cast<int64_t>(i));
    EXPECT_LE(Compare(Packed(got[i]), ref[i]).max_abs, 2) << "frame " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Containers, CutInHalfTest,
    ::testing::Values(CutCase{"moov_at_end.mp4", "-c:v libx264 -preset ultrafast", true},
                      CutCase{"faststart.mp4",
                              "-c:v libx264 -preset ultrafast -movflags +faststart", false},
                      CutCase{"h264.mkv", "-c:v libx264 -preset ultrafast", false},
                      CutCase{"ffv1.mkv", "-c:v ffv1 -level 3 -slicecrc 1", false},
                      CutCase{"vp9.webm", "-c:v libvpx-vp9 -deadline realtime -cpu-used 8", false},
                      CutCase{"prores.mov", "-c:v prores_ks -movflags +faststart", false}),
    [](const auto& info) {
      std::string out;
      for (const char* p = info.param.name; *p; ++p) out += std::isalnum(*p) ? *p : '_';
      return out;
    });

// Bytes overwritten in the middle of an FFV1 file (slice CRCs on): frames before the damage come
// out, then kDataLoss.
TEST(BadInputTest, CorruptMiddleIsDataLoss) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string whole = MakeClip("corrupt_src.mkv", "25", 20, "-c:v ffv1 -level 3 -slicecrc 1");
  auto bytes = ReadBytes(whole);
  const size_t mid = bytes.size() / 2;
  for (size_t i = mid; i < mid + 2000 && i < bytes.size(); ++i) bytes[i] ^= 0x5A;
  const std::string bad = Scratch("corrupt_mid.mkv");
  WriteBytes(bad, bytes.data(), bytes.size());
  Status end;
  const auto got = ReadUntilEnd(bad, &end);
  EXPECT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_NE(end.message().find(bad), std::string::npos) << end.message();
  EXPECT_NE(end.message().find("frame " + std::to_string(got.size())), std::string::npos)
      << end.message();
  EXPECT_GT(got.size(), 3u);
  EXPECT_LT(got.size(), 20u);
}

// An image sequence with a broken member: the images before it, then kDataLoss at its index.
TEST(BadInputTest, SequenceWithTruncatedImage) {
  VRSEG_REQUIRE_FFMPEG();
  std::filesystem::create_directories(Scratch("badseq"));
  MakeClip("badseq/%03d.png", "25", 6, "-pix_fmt rgb24");
  const std::string fourth = Scratch("badseq/004.png");
  const auto bytes = ReadBytes(fourth);
  WriteBytes(fourth, bytes.data(), bytes.size() / 2);
  Status end;
  const auto got = ReadUntilEnd(Scratch("badseq/%03d.png"), &end);
  EXPECT_EQ(got.size(), 3u);
  EXPECT_EQ(end.code(), StatusCode::kDataLoss) << end.ToString();
  EXPECT_NE(end.message().find("frame 3"), std::string::npos) << end.message();
}

}  // namespace
}  // namespace vrseg
