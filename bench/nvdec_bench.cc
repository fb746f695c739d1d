// nvdec_bench: decode-only throughput of VideoReader, the floor for issue 7's offline target
// ("file→file frames/s ≥ 90% of NVDEC-only decode of the same file, in the same run").
//
//   nvdec_bench FILE [--streams N] [--loops L] [--hwaccel cuda|auto|cpu] [--device D]
//               [--threads T] [--hold K] [--json]
//
// N threads each open FILE with their own VideoReader and read it L times as fast as they can,
// dropping each frame at once (or keeping the last K alive with --hold, as a pipeline holding
// frames in flight would). hwaccel cuda (default) gives NV12 device frames from NVDEC, whose
// pixels are complete when Read() returns; cpu decodes with FFmpeg's software decoder into NV12
// host frames (T decoder threads per stream, 0: FFmpeg's choice), for comparison. Open() is
// timed apart (it decodes the first frame already on the NVDEC path).
//
// Prints frames/s per stream (frames / time in Read(), Open() excluded), their sum (the aggregate
// decode rate while the streams run together), and the overall rate (all frames / wall time from
// the common start to the last stream's end, Open() included: with short files the decoder's
// set-up, about 0.1 s per Open on an H200, weighs in); --json prints one JSON object instead.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/io.h"
#include "vrseg/status.h"

using namespace vrseg;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string file;
  int streams = 1;
  int loops = 1;
  std::string hwaccel = "cuda";
  int device = 0;
  int threads = 0;
  int hold = 0;
  bool json = false;
};

struct StreamResult {
  int64_t frames = 0;
  double open_s = 0;    // total time in Open()
  double decode_s = 0;  // total time reading frames (Read() calls)
  double end_s = 0;     // from the common start to this stream's last frame
  std::string error;
  bool device_frames = false;
  int width = 0, height = 0;
  std::string codec;
};

void Usage() {
  std::fprintf(stderr,
               "usage: nvdec_bench FILE [--streams N] [--loops L] [--hwaccel cuda|auto|cpu] "
               "[--device D] [--threads T] [--hold K] [--json]\n");
}

bool ParseInt(const char* s, int lo, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (!end || *end != '\0' || v < lo || v > 1 << 20) return false;
  *out = static_cast<int>(v);
  return true;
}

void RunStream(const Options& o, Clock::time_point start, StreamResult* r) {
  ReaderOptions ro;
  ro.format = PixelFormat::kNV12;
  ro.hwaccel = o.hwaccel == "cpu" ? "" : o.hwaccel;
  ro.device = o.device;
  ro.threads = o.threads;
  if (o.hold > ro.device_frames) ro.device_frames = o.hold;
  for (int loop = 0; loop < o.loops; ++loop) {
    const auto t0 = Clock::now();
    auto reader = VideoReader::Open(o.file, ro);
    const auto t1 = Clock::now();
    r->open_s += std::chrono::duration<double>(t1 - t0).count();
    if (!reader.ok()) {
      r->error = reader.status().ToString();
      return;
    }
    r->width = (*reader)->info().width;
    r->height = (*reader)->info().height;
    r->codec = (*reader)->info().codec;
    std::deque<Frame> held;
    for (;;) {
      Frame f;
      auto more = (*reader)->Read(&f);
      if (!more.ok()) {
        r->error = more.status().ToString();
        break;
      }
      if (!*more) break;
      ++r->frames;
      r->device_frames = f.memory == MemoryKind::kDevice;
      if (o.hold > 0) {
        held.push_back(std::move(f));
        if (static_cast<int>(held.size()) > o.hold) held.pop_front();
      }
    }
    const auto t2 = Clock::now();
    r->decode_s += std::chrono::duration<double>(t2 - t1).count();
    r->end_s = std::chrono::duration<double>(t2 - start).count();
    if (!r->error.empty()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--json") {
      o.json = true;
    } else if (a == "--streams" && has_value) {
      if (!ParseInt(argv[++i], 1, &o.streams)) return Usage(), 2;
    } else if (a == "--loops" && has_value) {
      if (!ParseInt(argv[++i], 1, &o.loops)) return Usage(), 2;
    } else if (a == "--device" && has_value) {
      if (!ParseInt(argv[++i], 0, &o.device)) return Usage(), 2;
    } else if (a == "--threads" && has_value) {
      if (!ParseInt(argv[++i], 0, &o.threads)) return Usage(), 2;
    } else if (a == "--hold" && has_value) {
      if (!ParseInt(argv[++i], 0, &o.hold)) return Usage(), 2;
    } else if (a == "--hwaccel" && has_value) {
      o.hwaccel = argv[++i];
      if (o.hwaccel != "cuda" && o.hwaccel != "auto" && o.hwaccel != "cpu") return Usage(), 2;
    } else if (!a.empty() && a[0] != '-' && o.file.empty()) {
      o.file = a;
    } else {
      Usage();
      return 2;
    }
  }
  if (o.file.empty()) {
    Usage();
    return 2;
  }

  std::vector<StreamResult> results(o.streams);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int s = 0; s < o.streams; ++s) {
    threads.emplace_back(RunStream, std::cref(o), start, &results[s]);
  }
  for (auto& t : threads) t.join();
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();

  int64_t total_frames = 0;
  double decode_fps_sum = 0;
  bool failed = false;
  for (const auto& r : results) {
    total_frames += r.frames;
    if (r.decode_s > 0) decode_fps_sum += r.frames / r.decode_s;
    if (!r.error.empty()) failed = true;
  }
  const double total_fps = wall > 0 ? total_frames / wall : 0;
  const StreamResult& first = results[0];
  if (o.json) {
    std::printf("{\"file\": \"%s\", \"codec\": \"%s\", \"width\": %d, \"height\": %d, "
                "\"hwaccel\": \"%s\", \"device_frames\": %s, \"streams\": %d, \"loops\": %d, "
                "\"hold\": %d, \"total_frames\": %lld, \"wall_s\": %.4f, \"total_fps\": %.1f, "
                "\"decode_fps_sum\": %.1f, \"per_stream\": [",
                o.file.c_str(), first.codec.c_str(), first.width, first.height,
                o.hwaccel.c_str(), first.device_frames ? "true" : "false", o.streams, o.loops,
                o.hold, static_cast<long long>(total_frames), wall, total_fps, decode_fps_sum);
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::string err;
      for (char c : r.error) {
        if (c == '"' || c == '\\') err += '\\';
        err += (c == '\n') ? ' ' : c;
      }
      std::printf("%s{\"frames\": %lld, \"decode_fps\": %.1f, \"open_s\": %.4f, "
                  "\"end_s\": %.4f, \"error\": \"%s\"}",
                  i ? ", " : "", static_cast<long long>(r.frames),
                  r.decode_s > 0 ? r.frames / r.decode_s : 0.0, r.open_s, r.end_s,
                  err.c_str());
    }
    std::printf("]}\n");
  } else {
    std::printf("%s: %s %dx%d, hwaccel %s (%s frames), %d stream(s) x %d loop(s)%s\n",
                o.file.c_str(), first.codec.c_str(), first.width, first.height,
                o.hwaccel.c_str(), first.device_frames ? "device" : "host", o.streams, o.loops,
                o.hold ? (", holding " + std::to_string(o.hold) + " frames").c_str() : "");
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::printf("  stream %2zu: %7lld frames  %8.1f frames/s  (open %.1f ms)%s%s\n", i,
                  static_cast<long long>(r.frames), r.decode_s > 0 ? r.frames / r.decode_s : 0.0,
                  1e3 * r.open_s / o.loops, r.error.empty() ? "" : "  ERROR: ", r.error.c_str());
    }
    std::printf("  decoding : %7lld frames  %8.1f frames/s  (sum over streams, Open excluded)\n",
                static_cast<long long>(total_frames), decode_fps_sum);
    std::printf("  overall  : %7lld frames  %8.1f frames/s  (wall %.3f s, Open included)\n",
                static_cast<long long>(total_frames), total_fps, wall);
  }
  return failed ? 1 : 0;
}
