// VideoWriter: every container round-trips through FFmpeg's own decoder (ffmpeg CLI rawvideo)
// and ffprobe (frame counts, frame rate, timestamps, colour tags, audio packets).
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <nlohmann/json.hpp>
#include <tuple>

#include "io_test_util.h"
#include "vrseg/io.h"

namespace vrseg {
namespace {

using namespace vrseg::testing;  // NOLINT(build/namespaces)

constexpr int kW = 320;
constexpr int kH = 240;
constexpr int kFrames = 10;

struct RateCase {
  const char* rate;  // ffmpeg -framerate value
  Rational rational;
  const char* tags;        // colour tags of the source clip
  ColorInfo color;         // what those tags are
  const char* range_name;  // ffprobe's names for them
  const char* matrix_name;
};

const RateCase kRates[] = {
    {"24000/1001",
     {24000, 1001},
     "-color_range tv -colorspace bt709 -color_primaries bt709 -color_trc bt709",
     {1, 1, 1, 1},
     "tv",
     "bt709"},
    {"30000/1001",
     {30000, 1001},
     "-color_range tv -colorspace smpte170m -color_primaries smpte170m -color_trc smpte170m",
     {1, 6, 6, 6},
     "tv",
     "smpte170m"},
    {"25",
     {25, 1},
     "-color_range pc -colorspace bt709 -color_primaries bt709 -color_trc bt709",
     {2, 1, 1, 1},
     "pc",
     "bt709"},
};

// A source clip per rate (H.264 in MP4), made once.
const std::string& Source(const RateCase& r) {
  static std::map<std::string, std::string> clips;
  auto it = clips.find(r.rate);
  if (it != clips.end()) return it->second;
  std::string name = std::string("src_") + r.rate + ".mp4";
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  // The 30000/1001 source has B-frames (reordered timestamps, an MP4 edit list).
  const std::string x264 = r.rational.num == 30000 ? "-c:v libx264 -preset fast -bf 3 "
                                                   : "-c:v libx264 -preset ultrafast ";
  return clips[r.rate] = MakeClip(name, r.rate, kFrames, x264 + "-pix_fmt yuv420p " + r.tags);
}

PixelFormat FormatFor(OutputContent c) {
  switch (c) {
    case OutputContent::kMask:
      return PixelFormat::kGray8;
    case OutputContent::kAlpha:
      return PixelFormat::kRGBA;
    case OutputContent::kComposite:
      return PixelFormat::kRGB24;
  }
  return PixelFormat::kUnknown;
}

// Gives RGBA frames a varying alpha (a diagonal ramp that moves with the frame index), so that
// alpha is checked, not just carried as 255.
void PaintAlpha(Frame* f) {
  for (int y = 0; y < f->height; ++y) {
    uint8_t* row = f->data[0] + y * f->pitch[0];
    for (int x = 0; x < f->width; ++x) {
      row[x * 4 + 3] = static_cast<uint8_t>((x + y + 5 * f->index) & 255);
    }
  }
}

struct ContainerCase {
  const char* ext;  // output name suffix
  OutputContent content;
  bool lossless;
  double min_psnr;      // for lossy ones, per frame, every channel
  const char* ref_fmt;  // ffmpeg -pix_fmt for the reference decode
  const char* decoder;  // arguments before -i (libvpx-vp9 keeps VP9 alpha)
  bool rgb_coded;       // stored as RGB/gray (matrix tag gbr, full range)
  bool has_tags;        // container stores colour tags (PNG does not)
};

const ContainerCase kContainers[] = {
    {".mkv", OutputContent::kMask, true, 0, "gray", "", false, true},
    {".mkv", OutputContent::kAlpha, true, 0, "rgba", "", true, true},
    {".mkv", OutputContent::kComposite, true, 0, "rgb24", "", true, true},
    {".mp4", OutputContent::kMask, false, 40, "gray", "", false, true},
    {".mp4", OutputContent::kComposite, false, 35, "rgb24", "", false, true},
    {".mov", OutputContent::kAlpha, false, 40, "rgba", "", false, true},
    {".mov", OutputContent::kMask, false, 45, "gray", "", false, true},
    {".webm", OutputContent::kAlpha, false, 30, "rgba", "-c:v libvpx-vp9", false, true},
    {".webm", OutputContent::kComposite, false, 30, "rgb24", "", false, true},
    {"_%04d.png", OutputContent::kMask, true, 0, "gray", "", true, false},
    {"_%04d.png", OutputContent::kAlpha, true, 0, "rgba", "", true, false},
};

const char* ContentName(OutputContent c) {
  return c == OutputContent::kMask ? "mask" : c == OutputContent::kAlpha ? "alpha" : "composite";
}

class RoundTripTest : public ::testing::TestWithParam<std::tuple<ContainerCase, RateCase>> {};

TEST_P(RoundTripTest, KeepsCountRateTimestampsColourAndPixels) {
  VRSEG_REQUIRE_FFMPEG();
  const ContainerCase& c = std::get<0>(GetParam());
  const RateCase& r = std::get<1>(GetParam());
  const std::string& src = Source(r);
  VideoInfo info;
  std::vector<Frame> frames = ReadAll(src, FormatFor(c.content), &info);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  ASSERT_EQ(info.frame_rate, r.rational);
  ASSERT_EQ(info.color, r.color);
  if (c.content == OutputContent::kAlpha) {
    for (Frame& f : frames) PaintAlpha(&f);
  }
  std::string name = std::string("rt_") + ContentName(c.content) + "_" + r.rate + c.ext;
  for (char& ch : name) {
    if (ch == '/') ch = '_';
  }
  const std::string out = Scratch(name);
  WriterOptions wo;
  wo.content = c.content;
  wo.copy_audio = false;
  {
    auto w = VideoWriter::Open(out, info, wo);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (const Frame& f : frames) ASSERT_TRUE((*w)->Write(f).ok()) << f.index;
    ASSERT_TRUE((*w)->Close().ok());
    EXPECT_EQ((*w)->frames_written(), kFrames);
  }
  // FFmpeg's decode of what we wrote.
  const size_t bytes = PackedSize(FormatFor(c.content), kW, kH);
  const auto decoded = FfmpegDecode(out, c.ref_fmt, bytes, c.decoder);
  ASSERT_EQ(decoded.size(), frames.size()) << out;
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto ours = Packed(frames[i]);
    if (c.lossless) {
      EXPECT_EQ(Compare(ours, decoded[i]).max_abs, 0) << out << " frame " << i;
    } else {
      EXPECT_GT(Compare(ours, decoded[i]).psnr, c.min_psnr) << out << " frame " << i;
      if (c.content == OutputContent::kAlpha) {
        EXPECT_GT(Compare(ours, decoded[i], 4, 3).psnr, c.min_psnr) << out << " alpha " << i;
      }
    }
  }
  if (std::string(c.ext).find('%') != std::string::npos) {
    // A PNG sequence: one file per frame, numbered from 1 as FFmpeg does.
    for (int i = 1; i <= kFrames + 1; ++i) {
      char n[16];
      std::snprintf(n, sizeof(n), "%04d", i);
      std::string p = out;
      p.replace(p.find("%04d"), 4, n);
      EXPECT_EQ(std::filesystem::exists(p), i <= kFrames) << p;
    }
    return;
  }
  // Frame count, rate and timestamps as ffprobe sees them.
  EXPECT_EQ(Ffprobe("-count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
                    "-of csv=p=0 '" +
                    out + "'"),
            std::to_string(kFrames));
  EXPECT_EQ(ProbeStream(out, "avg_frame_rate"), "avg_frame_rate=" + std::to_string(r.rational.num) +
                                                    "/" + std::to_string(r.rational.den));
  const auto times =
      Lines(Ffprobe("-select_streams v:0 -show_entries frame=pts_time -of "
                    "csv=p=0 '" +
                    out + "'"));
  ASSERT_EQ(times.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    const double want =
        frames[i].pts * static_cast<double>(info.time_base.num) / info.time_base.den;
    EXPECT_NEAR(std::stod(times[i]), want, 0.0006) << out << " frame " << i;
  }
  if (c.has_tags) {
    const std::string tags =
        ProbeStream(out, "color_range,color_space,color_primaries,color_transfer");
    // Masks are full range, except in ProRes, which is always limited range.
    const bool prores = std::string(c.ext) == ".mov";
    const bool full = !prores && (c.rgb_coded || c.content == OutputContent::kMask);
    const char* range = full ? "pc" : prores ? "tv" : r.range_name;
    EXPECT_NE(tags.find(std::string("color_range=") + range), std::string::npos) << out << "\n"
                                                                                 << tags;
    EXPECT_NE(tags.find(std::string("color_space=") + (c.rgb_coded ? "gbr" : r.matrix_name)),
              std::string::npos)
        << out << "\n"
        << tags;
    EXPECT_NE(tags.find(std::string("color_primaries=") + r.matrix_name), std::string::npos)
        << out << "\n"
        << tags;
    EXPECT_NE(tags.find(std::string("color_transfer=") + r.matrix_name), std::string::npos)
        << out << "\n"
        << tags;
  }
}

// Every container and content once, the three rates spread over them; plus all three rates for
// the two outputs the CLI uses most (FFV1 masks, H.264 composites). 15 cases keep the binary fast.
std::vector<std::tuple<ContainerCase, RateCase>> RoundTripCases() {
  std::vector<std::tuple<ContainerCase, RateCase>> out;
  int k = 0;
  for (const ContainerCase& c : kContainers) {
    const bool all_rates = (std::string(c.ext) == ".mkv" && c.content == OutputContent::kMask) ||
                           (std::string(c.ext) == ".mp4" && c.content == OutputContent::kComposite);
    if (all_rates) {
      for (const RateCase& r : kRates) out.emplace_back(c, r);
    } else {
      out.emplace_back(c, kRates[k++ % 3]);
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Containers, RoundTripTest, ::testing::ValuesIn(RoundTripCases()),
                         [](const auto& info) {
                           const ContainerCase& c = std::get<0>(info.param);
                           const RateCase& r = std::get<1>(info.param);
                           std::string n =
                               std::string(c.ext) + "_" + ContentName(c.content) + "_" + r.rate;
                           std::string out;
                           for (char ch : n)
                             out += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return out;
                         });

// A single still in, a single PNG out; a second frame is refused.
TEST(VideoWriterTest, SinglePngFromStill) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  const auto frames = ReadAll(kTestData + "/astronaut.png", PixelFormat::kRGBA, &info);
  ASSERT_EQ(frames.size(), 1u);
  const std::string out = Scratch("still_alpha.png");
  WriterOptions wo;
  wo.content = OutputContent::kAlpha;
  auto w = VideoWriter::Open(out, info, wo);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  ASSERT_TRUE((*w)->Write(frames[0]).ok());
  const Status second = (*w)->Write(frames[0]);
  EXPECT_EQ(second.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(second.message().find(out), std::string::npos);
  ASSERT_TRUE((*w)->Close().ok());
  ASSERT_TRUE((*w)->Close().ok());  // idempotent
  const auto decoded = FfmpegDecode(out, "rgba", 512 * 512 * 4);
  ASSERT_EQ(decoded.size(), 1u);
  EXPECT_EQ(Compare(Packed(frames[0]), decoded[0]).max_abs, 0);
}

// An RGB still (PNG) as H.264: converted and tagged as limited-range BT.601 (512 rows), and
// close to the photo by FFmpeg's own decoding.
TEST(VideoWriterTest, RgbStillToH264IsTaggedLimited601) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  const auto frames = ReadAll(kTestData + "/astronaut.png", PixelFormat::kRGB24, &info);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(info.color.matrix, 0);  // rgb
  EXPECT_EQ(info.color.range, 2);
  const std::string out = Scratch("still.mp4");
  WriterOptions wo;
  wo.content = OutputContent::kComposite;
  {
    auto w = VideoWriter::Open(out, info, wo);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    ASSERT_TRUE((*w)->Write(frames[0]).ok());
  }
  const std::string tags = ProbeStream(out, "color_range,color_space");
  EXPECT_NE(tags.find("color_range=tv"), std::string::npos) << tags;
  EXPECT_NE(tags.find("color_space=smpte170m"), std::string::npos) << tags;
  const auto decoded = FfmpegDecode(out, "rgb24", 512 * 512 * 3);
  ASSERT_EQ(decoded.size(), 1u);
  // 4:2:0 costs this colourful photo about 34 dB; the ffmpeg CLI's own PNG -> H.264 (crf 18)
  // -> RGB gives 33.9 dB.
  const double psnr = Compare(Packed(frames[0]), decoded[0]).psnr;
  EXPECT_GT(psnr, 32);
  // The same file read as BT.709 is clearly worse: the pixels really are BT.601.
  const auto as709 =
      FfmpegDecode(out, "rgb24", 512 * 512 * 3, "", "scale=in_color_matrix=bt709:in_range=tv");
  ASSERT_EQ(as709.size(), 1u);
  EXPECT_GT(psnr, Compare(Packed(frames[0]), as709[0]).psnr + 1.0);
}

// VP9 alpha read back by VideoReader (which picks libvpx for it) matches FFmpeg's libvpx decode,
// alpha included.
TEST(VideoWriterTest, WebmAlphaReadsBackWithAlpha) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  auto frames = ReadAll(Source(kRates[2]), PixelFormat::kRGBA, &info);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  for (Frame& f : frames) PaintAlpha(&f);
  const std::string out = Scratch("alpha_back.webm");
  WriterOptions wo;
  wo.content = OutputContent::kAlpha;
  {
    auto w = VideoWriter::Open(out, info, wo);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    for (const Frame& f : frames) ASSERT_TRUE((*w)->Write(f).ok());
  }
  Status end;
  const auto back = ReadAll(out, PixelFormat::kRGBA, nullptr, &end);
  EXPECT_TRUE(end.ok()) << end.ToString();
  const auto ref = FfmpegDecode(out, "rgba", kW * kH * 4, "-c:v libvpx-vp9");
  ASSERT_EQ(back.size(), frames.size());
  ASSERT_EQ(ref.size(), frames.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_LE(Compare(Packed(back[i]), ref[i]).max_abs, 2) << "frame " << i;
    EXPECT_GT(Compare(Packed(back[i]), Packed(frames[i]), 4, 3).psnr, 30) << "alpha " << i;
  }
}

// Destroying a writer without Close() still finalises the file.
TEST(VideoWriterTest, DestructorFinalises) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  const auto frames = ReadAll(Source(kRates[0]), PixelFormat::kGray8, &info);
  ASSERT_EQ(frames.size(), static_cast<size_t>(kFrames));
  for (const char* ext : {".mkv", ".mp4", ".mov", ".webm"}) {
    const std::string out = Scratch(std::string("unclosed") + ext);
    {
      auto w = VideoWriter::Open(out, info, WriterOptions{});
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      for (int i = 0; i < 7; ++i) ASSERT_TRUE((*w)->Write(frames[i]).ok());
    }  // no Close()
    EXPECT_EQ(Ffprobe("-count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
                      "-of csv=p=0 '" +
                      out + "'"),
              "7")
        << out;
    Status end;
    EXPECT_EQ(ReadAll(out, PixelFormat::kGray8, nullptr, &end).size(), 7u) << out;
    EXPECT_TRUE(end.ok()) << end.ToString();  // a clean end, not a cut file
  }
}

// FFV1 with frames encoded side by side by several encoders (WriterOptions::encoders): the
// packets are muxed in frame order into one stream that reads back losslessly, with every frame's
// timestamp, and that FFmpeg's own decoder takes without complaint; the same with one encoder.
TEST(VideoWriterTest, ParallelFfv1EncodersWriteOneLosslessStream) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  info.width = 640;
  info.height = 480;
  info.frame_rate = {30000, 1001};
  info.time_base = {1001, 30000};
  info.color.range = 2;
  std::vector<Frame> masks, rgbs;
  std::mt19937 rng(3);
  for (int i = 0; i < 23; ++i) {
    auto m = Frame::Allocate(PixelFormat::kGray8, 640, 480);
    auto c = Frame::Allocate(PixelFormat::kRGB24, 640, 480);
    ASSERT_TRUE(m.ok() && c.ok());
    for (int y = 0; y < 480; ++y) {
      for (int x = 0; x < 640; ++x) {
        m->data[0][y * m->pitch[0] + x] = static_cast<uint8_t>(((x + 7 * i) / 9 + y / 5) % 3 * 127);
        for (int ch = 0; ch < 3; ++ch) {
          c->data[0][y * c->pitch[0] + 3 * x + ch] = static_cast<uint8_t>(rng() % 256);
        }
      }
    }
    m->pts = c->pts = i;
    m->time_base = c->time_base = info.time_base;
    masks.push_back(*m);
    rgbs.push_back(*c);
  }
  for (int encoders : {1, 3}) {
    for (OutputContent content : {OutputContent::kMask, OutputContent::kComposite}) {
      const bool mask = content == OutputContent::kMask;
      const std::string out = Scratch("parallel_" + std::to_string(encoders) +
                                      (mask ? "_mask.mkv" : "_rgb.mkv"));
      WriterOptions wo;
      wo.content = content;
      wo.encoders = encoders;
      auto w = VideoWriter::Open(out, info, wo);
      ASSERT_TRUE(w.ok()) << w.status().ToString();
      const auto& frames = mask ? masks : rgbs;
      for (const Frame& f : frames) ASSERT_TRUE((*w)->Write(f).ok());
      ASSERT_TRUE((*w)->Close().ok());
      EXPECT_EQ((*w)->frames_written(), 23);
      Status end;
      const auto back =
          ReadAll(out, mask ? PixelFormat::kGray8 : PixelFormat::kRGB24, nullptr, &end);
      EXPECT_TRUE(end.ok()) << end.ToString();
      ASSERT_EQ(back.size(), frames.size()) << out;
      for (size_t i = 0; i < frames.size(); ++i) {
        EXPECT_NEAR(back[i].pts * back[i].time_base.ToDouble(),
                    frames[i].pts * frames[i].time_base.ToDouble(), 1e-3)
            << out << " frame " << i;
        bool same = true;
        const int row = 640 * BytesPerPixel(frames[i].format);
        for (int y = 0; y < 480 && same; ++y) {
          same = std::memcmp(back[i].data[0] + y * back[i].pitch[0],
                             frames[i].data[0] + y * frames[i].pitch[0], row) == 0;
        }
        EXPECT_TRUE(same) << out << " frame " << i << " is not the frame written";
      }
      // FFmpeg's decoder reads it start to end without an error.
      std::string log;
      testing::Run(kFfmpeg + " -nostdin -v error -i '" + out + "' -f null -", &log);
      EXPECT_EQ(log, "") << out;
    }
  }
}

// WriterOptions::encoder names another encoder: one FFmpeg lacks is kUnsupported naming it;
// prefer_nvenc falls back to libx264 where NVENC cannot open (no GPU here, none on an H100/H200).
TEST(VideoWriterTest, OtherEncodersAndTheNvencFallback) {
  VRSEG_REQUIRE_FFMPEG();
  VideoInfo info;
  const auto frames = ReadAll(Source(kRates[0]), PixelFormat::kGray8, &info);
  ASSERT_FALSE(frames.empty());
  WriterOptions bad;
  bad.encoder = "no_such_encoder";
  auto w = VideoWriter::Open(Scratch("other.mp4"), info, bad);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(w.status().message().find("no_such_encoder"), std::string::npos)
      << w.status().ToString();
  WriterOptions prefer;
  prefer.prefer_nvenc = true;
  const std::string out = Scratch("prefer_nvenc.mp4");
  auto p = VideoWriter::Open(out, info, prefer);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE((*p)->Write(frames[i]).ok());
  ASSERT_TRUE((*p)->Close().ok());
  const std::string codec =
      Ffprobe("-select_streams v:0 -show_entries stream=codec_name -of csv=p=0 '" + out + "'");
  EXPECT_EQ(codec, "h264");
  EXPECT_EQ(ReadAll(out, PixelFormat::kGray8).size(), 5u);
}

// Audio packets as ffprobe lists them: size and MD5 of the data, and the duration in seconds.
struct AudioPacket {
  std::string size, hash;
  double duration_s = 0, pts_s = 0;
};
std::vector<AudioPacket> AudioPackets(const std::string& path) {
  std::vector<AudioPacket> out;
  const std::string text = Ffprobe(
      "-select_streams a:0 -show_data_hash MD5 -show_entries "
      "packet=pts_time,duration_time,size,data_hash -of json '" +
      path + "'");
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.contains("packets")) {
    ADD_FAILURE() << "ffprobe said: " << text;
    return out;
  }
  for (const auto& p : json["packets"]) {
    out.push_back({p.value("size", ""), p.value("data_hash", ""),
                   std::stod(p.value("duration_time", "0")), std::stod(p.value("pts_time", "0"))});
  }
  return out;
}

double FirstVideoTime(const std::string& path) {
  const auto t =
      Lines(Ffprobe("-select_streams v:0 -show_entries frame=pts_time -read_intervals "
                    "%+#1 -of csv=p=0 '" +
                    path + "'"));
  return t.empty() ? 0.0 : std::stod(t[0]);
}

// The output's audio packets are the input's, byte for byte, at the same times relative to the
// video (a muxer may shift a whole file, e.g. Matroska cannot store AAC priming's negative
// times), up to `until_s` (the end of the last video frame, in input time).
void ExpectSameAudio(const std::string& in, const std::string& out, double until_s,
                     double tolerance_s) {
  auto a = AudioPackets(in);
  const auto b = AudioPackets(out);
  const double shift = FirstVideoTime(out) - FirstVideoTime(in);
  std::vector<AudioPacket> want;
  for (const auto& p : a) {
    if (p.pts_s < until_s - 1e-6) want.push_back(p);
  }
  ASSERT_FALSE(want.empty());
  ASSERT_EQ(b.size(), want.size()) << in << " -> " << out << " (input has " << a.size() << ")";
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(b[i].size, want[i].size) << i;
    EXPECT_EQ(b[i].hash, want[i].hash) << i;
    if (b[i].duration_s > 0) {
      EXPECT_NEAR(b[i].duration_s, want[i].duration_s, 0.0011) << i;
    }
    EXPECT_NEAR(b[i].pts_s - shift, want[i].pts_s, tolerance_s) << i;
  }
  EXPECT_EQ(ProbeStream(in, "codec_name,sample_rate,channels", "a:0"),
            ProbeStream(out, "codec_name,sample_rate,channels", "a:0"));
}

struct AudioCase {
  const char* name;
  const char* audio_args;  // encoder for the input's audio
  const char* input_ext;
  const char* output_ext;
  OutputContent content;
  double audio_s;  // input audio length; video is 24 frames at 24000/1001 (1.001 s)
  // Timing tolerance. Opus in Matroska: FFmpeg 5.1 moves Opus packets by the codec delay
  // (312 samples, 6.5 ms) when it remuxes them, exactly as `ffmpeg -i in.mkv -c copy out.mkv`
  // does; AAC keeps Matroska's 1 ms precision.
  double tolerance_s = 0.0011;
};

class AudioCopyTest : public ::testing::TestWithParam<AudioCase> {};

TEST_P(AudioCopyTest, CopiesPacketsUpToTheLastVideoFrame) {
  VRSEG_REQUIRE_FFMPEG();
  const AudioCase& c = GetParam();
  const std::string in = MakeClip(
      std::string("audio_in_") + c.name + c.input_ext, "24000/1001", 24,
      std::string("-c:v libx264 -preset ultrafast -map 0:v -map 1:a ") + c.audio_args, "320x240",
      "-f lavfi -i sine=frequency=440:sample_rate=48000:duration=" + std::to_string(c.audio_s));
  VideoInfo info;
  const auto frames = ReadAll(in, FormatFor(c.content), &info);
  ASSERT_EQ(frames.size(), 24u);
  ASSERT_TRUE(info.has_audio);
  const std::string out = Scratch(std::string("audio_out_") + c.name + c.output_ext);
  WriterOptions wo;
  wo.content = c.content;
  auto w = VideoWriter::Open(out, info, wo);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (const Frame& f : frames) ASSERT_TRUE((*w)->Write(f).ok());
  ASSERT_TRUE((*w)->Close().ok());
  const Frame& last = frames.back();
  const double end_s =
      (last.pts + last.duration) * static_cast<double>(info.time_base.num) / info.time_base.den;
  ExpectSameAudio(in, out, end_s, c.tolerance_s);
}

INSTANTIATE_TEST_SUITE_P(
    Audio, AudioCopyTest,
    ::testing::Values(
        AudioCase{"aac_mkv", "-c:a aac", ".mp4", ".mkv", OutputContent::kMask, 1.0},
        AudioCase{"aac_mp4", "-c:a aac", ".mp4", ".mp4", OutputContent::kComposite, 1.0},
        AudioCase{"aac_mov", "-c:a aac", ".mp4", ".mov", OutputContent::kAlpha, 1.0},
        AudioCase{"opus_webm", "-c:a libopus", ".mkv", ".webm", OutputContent::kAlpha, 1.0, 0.0075},
        // Audio twice as long as the video: only what lies under the video is copied.
        AudioCase{"long_aac_mkv", "-c:a aac", ".mkv", ".mkv", OutputContent::kMask, 2.0}),
    [](const auto& info) { return std::string(info.param.name); });

// AAC cannot go into WebM: the output has no audio (and a log line says so).
TEST(VideoWriterTest, AudioThatDoesNotFitIsLeftOut) {
  VRSEG_REQUIRE_FFMPEG();
  const std::string in = MakeClip("audio_aac_for_webm.mp4", "25", 5,
                                  "-c:v libx264 -preset ultrafast -map 0:v -map 1:a -c:a aac",
                                  "320x240", "-f lavfi -i sine=duration=1");
  VideoInfo info;
  const auto frames = ReadAll(in, PixelFormat::kGray8, &info);
  ASSERT_TRUE(info.has_audio);
  const std::string out = Scratch("no_audio.webm");
  auto w = VideoWriter::Open(out, info, WriterOptions{});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  for (const Frame& f : frames) ASSERT_TRUE((*w)->Write(f).ok());
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_EQ(Ffprobe("-select_streams a -show_entries stream=index -of csv=p=0 '" + out + "'"), "");
  EXPECT_EQ(Ffprobe("-count_frames -select_streams v:0 -show_entries stream=nb_read_frames "
                    "-of csv=p=0 '" +
                    out + "'"),
            "5");
}

TEST(OutputContainerForTest, MapsExtensions) {
  EXPECT_EQ(*OutputContainerFor("a/b.mkv"), OutputContainer::kMkvFfv1);
  EXPECT_EQ(*OutputContainerFor("b.MP4"), OutputContainer::kMp4H264);
  EXPECT_EQ(*OutputContainerFor("b.mov"), OutputContainer::kMovProRes4444);
  EXPECT_EQ(*OutputContainerFor("b.webm"), OutputContainer::kWebmVp9Alpha);
  EXPECT_EQ(*OutputContainerFor("dir/mask_%04d.png"), OutputContainer::kPngSequence);
  EXPECT_EQ(*OutputContainerFor("dir/%d.png"), OutputContainer::kPngSequence);
  EXPECT_EQ(*OutputContainerFor("still.png"), OutputContainer::kPngImage);
}

TEST(OutputContainerForTest, RejectsUnknown) {
  for (const char* bad : {"out.avi", "out", "dir.mkv/out", "out_%04d.mkv", "out.", ".png.txt"}) {
    auto r = OutputContainerFor(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(".mkv"), std::string::npos) << "lists the known ones";
  }
}

class WriterErrorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    info_.path = "";
    info_.width = 64;
    info_.height = 48;
    info_.frame_rate = {25, 1};
    info_.time_base = {1, 25};
  }
  VideoInfo info_;
};

TEST_F(WriterErrorTest, AlphaIntoMp4IsUnsupported) {
  WriterOptions wo;
  wo.content = OutputContent::kAlpha;
  auto w = VideoWriter::Open(Scratch("alpha.mp4"), info_, wo);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kUnsupported);
}

TEST_F(WriterErrorTest, OddSizeH264IsUnsupported) {
  info_.width = 65;
  WriterOptions wo;
  wo.content = OutputContent::kComposite;
  auto w = VideoWriter::Open(Scratch("odd.mp4"), info_, wo);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kUnsupported);
  // FFV1 takes odd sizes.
  auto ok = VideoWriter::Open(Scratch("odd.mkv"), info_, wo);
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

TEST_F(WriterErrorTest, MissingFolderAndFolderAsFile) {
  auto w = VideoWriter::Open(Scratch("no/such/dir/out.mkv"), info_, WriterOptions{});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kNotFound);
  EXPECT_NE(w.status().message().find("no/such/dir/out.mkv"), std::string::npos);
  std::filesystem::create_directories(Scratch("adir.mkv"));
  auto d = VideoWriter::Open(Scratch("adir.mkv"), info_, WriterOptions{});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kIoError);
}

TEST_F(WriterErrorTest, WrongFramesAreRefused) {
  const std::string out = Scratch("refuse.mkv");
  auto w = VideoWriter::Open(out, info_, WriterOptions{});
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  auto rgb = Frame::Allocate(PixelFormat::kRGB24, 64, 48);
  ASSERT_TRUE(rgb.ok());
  Status s = (*w)->Write(*rgb);  // a mask output takes gray8
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find(out), std::string::npos);
  auto small = Frame::Allocate(PixelFormat::kGray8, 32, 48);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*w)->Write(*small).code(), StatusCode::kInvalidArgument);
  auto gray = Frame::Allocate(PixelFormat::kGray8, 64, 48);
  ASSERT_TRUE(gray.ok());
  gray->time_base = {1, 25};
  gray->pts = 3;
  EXPECT_TRUE((*w)->Write(*gray).ok());
  gray->pts = 3;  // not increasing
  EXPECT_EQ((*w)->Write(*gray).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->frames_written(), 1);
  EXPECT_TRUE((*w)->Close().ok());
  EXPECT_EQ((*w)->Write(*gray).code(), StatusCode::kInvalidArgument);  // after Close
}

}  // namespace
}  // namespace vrseg
