// Helpers for the io tests: a scratch folder, the ffmpeg/ffprobe CLIs as references, raw frame
// comparison. Media are made by the tests themselves from the photos in testdata/.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/io.h"

namespace vrseg::testing {

inline const std::string kFfmpeg = VRSEG_FFMPEG;
inline const std::string kFfprobe = VRSEG_FFPROBE;
inline const std::string kTestData = VRSEG_TESTDATA_DIR;

#define VRSEG_REQUIRE_FFMPEG()                                                            \
  do {                                                                                    \
    if (::vrseg::testing::kFfmpeg.empty() || ::vrseg::testing::kFfprobe.empty())          \
      GTEST_SKIP() << "the ffmpeg/ffprobe CLIs were not found at configure time; the io " \
                      "tests need them to make media and to check results";               \
  } while (0)

// One scratch folder per test binary run, removed at exit.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vrseg_io_XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    std::filesystem::path p = made ? made : tmpl;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(ScratchDir(), ec);
    });
    return p;
  }();
  return dir;
}
inline std::string Scratch(const std::string& name) { return (ScratchDir() / name).string(); }

// Runs a shell command; returns its exit status. Its stdout (and stderr, unless `quiet_stderr`)
// goes to `output`. A failing command is a test failure.
inline int Run(const std::string& cmd, std::string* output = nullptr, bool quiet_stderr = false) {
  const std::string full = cmd + (quiet_stderr ? " 2>/dev/null" : " 2>&1");
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (output) *output = out;
  if (rc != 0) ADD_FAILURE() << "command failed (" << rc << "): " << cmd << "\n" << out;
  return rc;
}

// `ffmpeg -y -loglevel error ARGS`.
inline void Ffmpeg(const std::string& args) {
  Run(kFfmpeg + " -nostdin -y -hide_banner -loglevel error " + args);
}

// ffprobe's answer, trimmed.
inline std::string Ffprobe(const std::string& args) {
  std::string out;
  Run(kFfprobe + " -v error " + args, &out, /*quiet_stderr=*/true);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

inline std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == ',') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

inline void WriteBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// FFmpeg's own decoding of `input`, as raw frames of `pix_fmt` (an ffmpeg -pix_fmt name), one
// vector per frame. `pre` goes before -i (e.g. "-c:v libvpx-vp9"), `vf` is an optional filter.
inline std::vector<std::vector<uint8_t>> FfmpegDecode(const std::string& input,
                                                      const std::string& pix_fmt,
                                                      size_t frame_bytes,
                                                      const std::string& pre = "",
                                                      const std::string& vf = "") {
  static int counter = 0;
  const std::string raw = Scratch("ref_" + std::to_string(counter++) + ".raw");
  Ffmpeg(pre + " -i '" + input + "' -map 0:v:0 " + (vf.empty() ? "" : "-vf " + vf + " ") +
         "-f rawvideo -pix_fmt " + pix_fmt + " -fps_mode passthrough '" + raw + "'");
  const std::vector<uint8_t> all = ReadBytes(raw);
  std::vector<std::vector<uint8_t>> frames;
  for (size_t off = 0; off + frame_bytes <= all.size(); off += frame_bytes) {
    frames.emplace_back(all.begin() + off, all.begin() + off + frame_bytes);
  }
  EXPECT_EQ(all.size() % frame_bytes, 0u) << input << ": raw size not a whole number of frames";
  return frames;
}

// The frame's pixels packed without padding (planes one after the other).
inline std::vector<uint8_t> Packed(const Frame& f) {
  std::vector<uint8_t> out;
  for (int p = 0; p < PlaneCount(f.format); ++p) {
    const int64_t row = PlaneRowBytes(f.format, f.width, p);
    for (int y = 0; y < PlaneRows(f.format, f.height, p); ++y) {
      out.insert(out.end(), f.data[p] + y * f.pitch[p], f.data[p] + y * f.pitch[p] + row);
    }
  }
  return out;
}

inline size_t PackedSize(PixelFormat f, int w, int h) {
  size_t n = 0;
  for (int p = 0; p < PlaneCount(f); ++p) n += PlaneRowBytes(f, w, p) * PlaneRows(f, h, p);
  return n;
}

struct Diff {
  int max_abs = 0;
  double psnr = 0;  // dB; 99 when identical
};
// Compares every `stride`-th byte starting at `offset` (e.g. stride 4, offset 3: the alpha of
// RGBA).
inline Diff Compare(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int stride = 1,
                    int offset = 0) {
  Diff d;
  if (a.size() != b.size() || a.empty()) {
    ADD_FAILURE() << "size mismatch: " << a.size() << " vs " << b.size();
    return d;
  }
  double se = 0;
  size_t n = 0;
  for (size_t i = offset; i < a.size(); i += stride) {
    const int e = std::abs(static_cast<int>(a[i]) - static_cast<int>(b[i]));
    d.max_abs = std::max(d.max_abs, e);
    se += static_cast<double>(e) * e;
    ++n;
  }
  const double mse = se / static_cast<double>(n);
  d.psnr = mse == 0 ? 99.0 : 10.0 * std::log10(255.0 * 255.0 / mse);
  return d;
}

// Reads every frame of `path` with our reader.
inline std::vector<Frame> ReadAll(const std::string& path, PixelFormat format,
                                  VideoInfo* info = nullptr, Status* end = nullptr,
                                  int threads = 0) {
  ReaderOptions o;
  o.format = format;
  o.threads = threads;
  auto r = VideoReader::Open(path, o);
  std::vector<Frame> frames;
  if (!r.ok()) {
    if (end) {
      *end = r.status();
    } else {
      ADD_FAILURE() << r.status().ToString();
    }
    return frames;
  }
  if (info) *info = (*r)->info();
  for (;;) {
    Frame f;
    auto more = (*r)->Read(&f);
    if (!more.ok()) {
      if (end) {
        *end = more.status();
      } else {
        ADD_FAILURE() << more.status().ToString();
      }
      break;
    }
    if (!*more) break;
    frames.push_back(std::move(f));  // each frame keeps its own pooled buffer
  }
  return frames;
}

// Frame pts as ffprobe reports them for the first video stream.
inline std::vector<int64_t> ProbePts(const std::string& path) {
  std::vector<int64_t> out;
  for (const auto& l :
       Lines(Ffprobe("-select_streams v:0 -show_entries frame=pts -of csv=p=0 '" + path + "'"))) {
    out.push_back(std::stoll(l));
  }
  return out;
}

inline std::string ProbeStream(const std::string& path, const std::string& entries,
                               const std::string& stream = "v:0") {
  return Ffprobe("-select_streams " + stream + " -show_entries stream=" + entries +
                 " -of default=nw=1 '" + path + "'");
}

// Makes a test clip from a photo: `frames` frames of `size` panning across it at `rate`, with
// the given encoder arguments (colour tags included). Returns the path.
inline std::string MakeClip(const std::string& name, const std::string& rate, int frames,
                            const std::string& codec_args, const std::string& size = "320x240",
                            const std::string& extra_inputs = "",
                            const std::string& photo = "astronaut.png") {
  const std::string out = Scratch(name);
  const auto x = size.find('x');
  const std::string w = size.substr(0, x), h = size.substr(x + 1);
  Ffmpeg("-loop 1 -framerate " + rate + " -i '" + kTestData + "/" + photo + "' " + extra_inputs +
         " -vf \"crop=" + w + ":" + h + ":'mod(n*7,512-" + w + ")':'mod(n*3,512-" + h +
         ")',format=yuv420p\" -frames:v " + std::to_string(frames) + " " + codec_args + " '" + out +
         "'");
  return out;
}

}  // namespace vrseg::testing
