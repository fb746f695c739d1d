// NVDEC decoding (ReaderOptions::hwaccel "cuda"/"auto"). The reference is the CPU reader's NV12
// output of the same file (FFmpeg's software decoder, itself checked against the ffmpeg CLI by
// reader_test): NVDEC and FFmpeg's H.264 decoder are both bit-exact decoders, so frame counts,
// timestamps and colour must be identical and pixels equal (within the ±2 the issue allows; the
// largest difference seen is printed).
//
// The tests without a GPU run everywhere (option checks, refusals, the "auto" fallback); the GPU
// ones skip, saying why, where there is no CUDA device or FFmpeg cannot open it. Media are made
// by the tests: H.264 with vrseg's own VideoWriter (libx264), FFV1 likewise; the ffmpeg CLI only
// where a test says so (skipped without it).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "io/io_test_util.h"
#include "vrseg/frame.h"
#include "vrseg/io.h"
#include "vrseg/log.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "vrseg/cuda/check.h"
#endif

namespace vrseg::testing {
namespace {

const std::string kSample = kTestData + "/generated/sample.mp4";

bool HaveFfmpegCli() { return !kFfmpeg.empty() && std::filesystem::exists(kFfmpeg); }

int DeviceCount() {
#ifdef VRSEG_HAVE_CUDA
  return cuda::DeviceCount();
#else
  return 0;
#endif
}

// A frame of a moving pattern with texture, so that the encoder makes real P/B frames.
Frame Pattern(PixelFormat format, int w, int h, int t) {
  auto f = Frame::Allocate(format, w, h);
  EXPECT_TRUE(f.ok()) << f.status().ToString();
  Frame out = std::move(f).value();
  const int bpp = BytesPerPixel(format);
  uint32_t seed = 12345u + static_cast<uint32_t>(t);
  for (int y = 0; y < h; ++y) {
    uint8_t* row = out.data[0] + y * out.pitch[0];
    for (int x = 0; x < w; ++x) {
      seed = seed * 1664525u + 1013904223u;
      const int noise = static_cast<int>(seed >> 28);  // 0..15
      for (int c = 0; c < bpp; ++c) {
        const int v = ((x + 3 * t) * (c + 1) + (y - 2 * t) * (3 - c) / 2 + noise) & 255;
        row[x * bpp + c] = static_cast<uint8_t>(v);
      }
    }
  }
  return out;
}

// Writes `n` pattern frames at 25 frames/s with VideoWriter. Returns "" (and says why in *why)
// when the writer cannot make this container here (e.g. no libx264).
std::string WriteClip(const std::string& name, OutputContent content, int w, int h, int n,
                      std::string* why) {
  const std::string out = Scratch(name);
  VideoInfo info;
  info.path = out;
  info.width = w;
  info.height = h;
  info.frame_rate = {25, 1};
  info.time_base = {1, 25};
  info.frame_count = n;
  info.color.range = 1;
  info.color.matrix = 1;
  info.color.primaries = 1;
  info.color.transfer = 1;
  WriterOptions wo;
  wo.content = content;
  wo.copy_audio = false;
  wo.preset = "ultrafast";
  auto w_or = VideoWriter::Open(out, info, wo);
  if (!w_or.ok()) {
    *why = w_or.status().ToString();
    return "";
  }
  const PixelFormat fmt = content == OutputContent::kMask ? PixelFormat::kGray8
                                                         : PixelFormat::kRGB24;
  for (int i = 0; i < n; ++i) {
    Frame f = Pattern(fmt, w, h, i);
    f.index = i;
    f.pts = i;
    f.duration = 1;
    f.time_base = {1, 25};
    const Status s = (*w_or)->Write(f);
    if (!s.ok()) {
      *why = s.ToString();
      return "";
    }
  }
  const Status s = (*w_or)->Close();
  if (!s.ok()) {
    *why = s.ToString();
    return "";
  }
  return out;
}

// MP4 boxes (ISO BMFF): big-endian sizes, a 4-letter type.
uint64_t Be(const std::vector<uint8_t>& b, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | b[at + i];
  return v;
}
void PutBe(std::vector<uint8_t>* b, size_t at, int bytes, uint64_t v) {
  for (int i = bytes - 1; i >= 0; --i, v >>= 8) (*b)[at + i] = static_cast<uint8_t>(v & 255);
}
struct Box {
  size_t at = 0, size = 0, header = 8;
  std::string type;
};
std::vector<Box> Boxes(const std::vector<uint8_t>& b, size_t from, size_t to) {
  std::vector<Box> out;
  while (from + 8 <= to) {
    Box x;
    x.at = from;
    x.size = Be(b, from, 4);
    x.type.assign(reinterpret_cast<const char*>(&b[from + 4]), 4);
    if (x.size == 1) {
      x.size = Be(b, from + 8, 8);
      x.header = 16;
    } else if (x.size == 0) {
      x.size = to - from;
    }
    if (x.size < x.header || from + x.size > to) break;
    out.push_back(x);
    from += x.size;
  }
  return out;
}
// Adds `delta` to every chunk offset (stco/co64) under the container box `box`.
void ShiftChunkOffsets(std::vector<uint8_t>* b, const Box& box, uint64_t delta) {
  for (const Box& c : Boxes(*b, box.at + box.header, box.at + box.size)) {
    if (c.type == "trak" || c.type == "mdia" || c.type == "minf" || c.type == "stbl") {
      ShiftChunkOffsets(b, c, delta);
    } else if (c.type == "stco" || c.type == "co64") {
      const int width = c.type == "stco" ? 4 : 8;
      const size_t count = Be(*b, c.at + c.header + 4, 4);
      for (size_t i = 0; i < count; ++i) {
        const size_t at = c.at + c.header + 8 + i * width;
        PutBe(b, at, width, Be(*b, at, width) + delta);
      }
    }
  }
}
// An MP4 written with its index (moov) after the data, rewritten with the index first (what
// ffmpeg's -movflags +faststart does), so that a cut file still opens. Empty if the layout is not
// the expected one.
std::vector<uint8_t> MoovFirst(std::vector<uint8_t> b) {
  const std::vector<Box> top = Boxes(b, 0, b.size());
  const Box* moov = nullptr;
  const Box* mdat = nullptr;
  for (const Box& x : top) {
    if (x.type == "moov") moov = &x;
    if (x.type == "mdat" && !mdat) mdat = &x;
  }
  if (!moov || !mdat || moov->at < mdat->at) return {};
  ShiftChunkOffsets(&b, *moov, moov->size);
  std::vector<uint8_t> out(b.begin(), b.begin() + mdat->at);
  out.insert(out.end(), b.begin() + moov->at, b.begin() + moov->at + moov->size);
  out.insert(out.end(), b.begin() + mdat->at, b.begin() + moov->at);
  out.insert(out.end(), b.begin() + moov->at + moov->size, b.end());
  return out;
}

struct ReadResult {
  std::vector<Frame> frames;
  Status end;  // OK for a clean end
  VideoInfo info;
  Status open;  // OK when Open succeeded
};

ReadResult ReadWith(const std::string& path, const ReaderOptions& o) {
  ReadResult r;
  auto reader = VideoReader::Open(path, o);
  if (!reader.ok()) {
    r.open = reader.status();
    return r;
  }
  r.info = (*reader)->info();
  for (;;) {
    Frame f;
    auto more = (*reader)->Read(&f);
    if (!more.ok()) {
      r.end = more.status();
      break;
    }
    if (!*more) break;
    r.frames.push_back(std::move(f));
  }
  return r;
}

ReaderOptions Cpu(PixelFormat format = PixelFormat::kNV12) {
  ReaderOptions o;
  o.format = format;
  return o;
}

ReaderOptions Hw(const std::string& hwaccel) {
  ReaderOptions o;
  o.format = PixelFormat::kNV12;
  o.hwaccel = hwaccel;
  return o;
}

// Sets the log level for one test and restores it.
class ScopedLogLevel {
 public:
  explicit ScopedLogLevel(LogLevel l) : old_(GetLogLevel()) { SetLogLevel(l); }
  ~ScopedLogLevel() { SetLogLevel(old_); }

 private:
  LogLevel old_;
};

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (const std::string& line : Lines(text)) {
    if (line.find(needle) != std::string::npos) ++n;
  }
  return n;
}

// ---- Without a GPU -------------------------------------------------------------------------

TEST(NvdecTest, UnknownHwaccelIsInvalidArgument) {
  auto r = VideoReader::Open(kSample, Hw("nvdec"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find(kSample), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("nvdec"), std::string::npos) << r.status().ToString();
}

// FFV1 has no NVDEC decoder: "cuda" refuses it at Open, naming the file and the codec.
TEST(NvdecTest, CudaRefusesCodecWithoutNvdecAtOpen) {
  std::string why;
  const std::string ffv1 = WriteClip("nvdec_ffv1.mkv", OutputContent::kMask, 64, 48, 5, &why);
  ASSERT_FALSE(ffv1.empty()) << why;
  auto r = VideoReader::Open(ffv1, Hw("cuda"));
  ASSERT_FALSE(r.ok());
#ifdef VRSEG_HAVE_CUDA
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("ffv1"), std::string::npos) << r.status().ToString();
#else
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
#endif
  EXPECT_NE(r.status().message().find(ffv1), std::string::npos) << r.status().ToString();
}

// "auto" on a codec NVDEC lacks: the CPU path, the same frames as hwaccel "", one log line.
TEST(NvdecTest, AutoFallsBackToCpuWithOneLogLine) {
  std::string why;
  const std::string ffv1 = WriteClip("nvdec_auto.mkv", OutputContent::kMask, 64, 48, 6, &why);
  ASSERT_FALSE(ffv1.empty()) << why;
  const ReadResult cpu = ReadWith(ffv1, Cpu(PixelFormat::kGray8));
  ASSERT_TRUE(cpu.open.ok()) << cpu.open.ToString();
  ASSERT_TRUE(cpu.end.ok()) << cpu.end.ToString();
  ASSERT_EQ(cpu.frames.size(), 6u);

  ScopedLogLevel level(LogLevel::kInfo);
  ReaderOptions o = Hw("auto");
  o.format = PixelFormat::kGray8;
  ::testing::internal::CaptureStderr();
  const ReadResult got = ReadWith(ffv1, o);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(got.open.ok()) << got.open.ToString();
  ASSERT_TRUE(got.end.ok()) << got.end.ToString();
  ASSERT_EQ(got.frames.size(), cpu.frames.size());
  for (size_t i = 0; i < got.frames.size(); ++i) {
    EXPECT_EQ(got.frames[i].memory, MemoryKind::kHost);
    EXPECT_EQ(got.frames[i].format, PixelFormat::kGray8);
    EXPECT_EQ(got.frames[i].pts, cpu.frames[i].pts);
    EXPECT_EQ(Packed(got.frames[i]), Packed(cpu.frames[i])) << "frame " << i;
  }
  EXPECT_EQ(CountLines(log, ffv1), 1u) << log;
  EXPECT_EQ(CountLines(log, "decoding on the CPU"), 1u) << log;
}

// Without a device, "cuda" fails at Open with kUnavailable naming the file.
TEST(NvdecTest, CudaWithoutDeviceIsUnavailable) {
  if (DeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present: covered by NvdecGpuTest";
  auto r = VideoReader::Open(kSample, Hw("cuda"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find(kSample), std::string::npos) << r.status().ToString();
  // "auto" reads the same file on the CPU.
  ScopedLogLevel level(LogLevel::kInfo);
  ::testing::internal::CaptureStderr();
  const ReadResult got = ReadWith(kSample, Hw("auto"));
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(got.open.ok()) << got.open.ToString();
  EXPECT_TRUE(got.end.ok()) << got.end.ToString();
  EXPECT_EQ(got.frames.size(), 120u);
  ASSERT_FALSE(got.frames.empty());
  EXPECT_EQ(got.frames[0].memory, MemoryKind::kHost);
  EXPECT_EQ(CountLines(log, "decoding on the CPU"), 1u) << log;
}

// 10-bit sources would come out as P010, which is refused for now (at Open, before any device
// is needed); "auto" decodes them on the CPU.
TEST(NvdecTest, TenBitSourceIsRefused) {
  if (!HaveFfmpegCli()) GTEST_SKIP() << "needs the ffmpeg CLI to make a 10-bit clip";
  const std::string ten = Scratch("nvdec_10bit.mkv");
  std::string out;
  const int rc = ::vrseg::testing::Run(kFfmpeg +
                         " -nostdin -y -hide_banner -loglevel error -f lavfi -i "
                         "testsrc=size=192x108:rate=25 -frames:v 5 -c:v libx265 -x265-params "
                         "log-level=error -pix_fmt yuv420p10le '" +
                         ten + "'",
                     &out, /*quiet_stderr=*/false);
  if (rc != 0) GTEST_SKIP() << "this ffmpeg cannot make 10-bit HEVC: " << out;
  auto r = VideoReader::Open(ten, Hw("cuda"));
  ASSERT_FALSE(r.ok());
#ifdef VRSEG_HAVE_CUDA
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().ToString();
  EXPECT_NE(r.status().message().find("P010"), std::string::npos) << r.status().ToString();
#endif
  EXPECT_NE(r.status().message().find(ten), std::string::npos) << r.status().ToString();
  ScopedLogLevel level(LogLevel::kWarning);  // the fallback line is info: not shown here
  const ReadResult got = ReadWith(ten, Hw("auto"));
  ASSERT_TRUE(got.open.ok()) << got.open.ToString();
  EXPECT_TRUE(got.end.ok()) << got.end.ToString();
  ASSERT_EQ(got.frames.size(), 5u);
  EXPECT_EQ(got.frames[0].memory, MemoryKind::kHost);
}

// The reference for NvdecGpuTest.TruncatedFileDeliversCleanFramesThenDataLoss: the sample with its
// index moved first decodes to the same frames, and cut in half it gives clean frames, then
// kDataLoss.
TEST(NvdecTest, CutSampleReferenceOnCpu) {
  const std::vector<uint8_t> fast = MoovFirst(ReadBytes(kSample));
  ASSERT_GT(fast.size(), 1000u) << kSample << " does not have its index after its data";
  const std::string whole = Scratch("nvdec_cpu_moov_first.mp4");
  WriteBytes(whole, fast.data(), fast.size());
  const ReadResult orig = ReadWith(kSample, Cpu());
  const ReadResult moved = ReadWith(whole, Cpu());
  ASSERT_TRUE(moved.open.ok()) << moved.open.ToString();
  ASSERT_TRUE(moved.end.ok()) << moved.end.ToString();
  ASSERT_EQ(moved.frames.size(), orig.frames.size());
  for (size_t i = 0; i < moved.frames.size(); ++i) {
    EXPECT_EQ(moved.frames[i].pts, orig.frames[i].pts) << "frame " << i;
    EXPECT_EQ(Packed(moved.frames[i]), Packed(orig.frames[i])) << "frame " << i;
  }
  const std::string cut = Scratch("nvdec_cpu_cut.mp4");
  WriteBytes(cut, fast.data(), fast.size() / 2);
  const ReadResult got = ReadWith(cut, Cpu());
  ASSERT_TRUE(got.open.ok()) << got.open.ToString();
  EXPECT_EQ(got.end.code(), StatusCode::kDataLoss) << got.end.ToString();
  EXPECT_GT(got.frames.size(), 10u);
  EXPECT_LT(got.frames.size(), 120u);
}

// ---- With a GPU ----------------------------------------------------------------------------
#ifdef VRSEG_HAVE_CUDA

// Skips when there is no device, or when FFmpeg cannot open it for NVDEC (say why).
#define VRSEG_REQUIRE_NVDEC()                                                                 \
  do {                                                                                        \
    if (::vrseg::cuda::DeviceCount() == 0) {                                                  \
      GTEST_SKIP() << "no CUDA device on this machine (" << ::vrseg::cuda::DeviceDescription(0) \
                   << "); NVDEC tests run on the GPU machine";                                \
    }                                                                                         \
    auto probe_ = VideoReader::Open(kSample, Hw("cuda"));                                     \
    if (!probe_.ok() && probe_.status().code() == StatusCode::kUnavailable) {                 \
      GTEST_SKIP() << "NVDEC cannot be used here: " << probe_.status().ToString();            \
    }                                                                                         \
  } while (0)

// NV12 planes of a frame, packed without padding, on the host (downloaded for device frames).
std::vector<uint8_t> HostNv12(const Frame& f) {
  std::vector<uint8_t> out;
  if (f.format != PixelFormat::kNV12) {
    ADD_FAILURE() << "not NV12: " << DescribeFrame(f);
    return out;
  }
  if (f.memory != MemoryKind::kDevice) return Packed(f);
  for (int p = 0; p < 2; ++p) {
    const int64_t row = PlaneRowBytes(f.format, f.width, p);
    const int rows = PlaneRows(f.format, f.height, p);
    std::vector<uint8_t> plane(static_cast<size_t>(row * rows));
    const cudaError_t err = cudaMemcpy2D(plane.data(), row, f.data[p], f.pitch[p], row, rows,
                                         cudaMemcpyDeviceToHost);
    if (err != cudaSuccess) {
      ADD_FAILURE() << "cudaMemcpy2D of plane " << p << ": " << cudaGetErrorString(err);
      return {};
    }
    out.insert(out.end(), plane.begin(), plane.end());
  }
  return out;
}

// The NVDEC frames of `path` against the CPU reader's: same count, timing and colour, device
// NV12 frames, pixels within ±2. Returns the largest pixel difference.
int ExpectMatchesCpu(const std::string& path, size_t expected_frames) {
  const ReadResult cpu = ReadWith(path, Cpu());
  EXPECT_TRUE(cpu.open.ok()) << cpu.open.ToString();
  EXPECT_TRUE(cpu.end.ok()) << cpu.end.ToString();
  EXPECT_EQ(cpu.frames.size(), expected_frames);
  const ReadResult hw = ReadWith(path, Hw("cuda"));
  EXPECT_TRUE(hw.open.ok()) << hw.open.ToString();
  EXPECT_TRUE(hw.end.ok()) << hw.end.ToString();
  EXPECT_EQ(hw.frames.size(), cpu.frames.size());
  EXPECT_EQ(hw.info.width, cpu.info.width);
  EXPECT_EQ(hw.info.height, cpu.info.height);
  EXPECT_EQ(hw.info.frame_rate, cpu.info.frame_rate);
  EXPECT_EQ(hw.info.time_base, cpu.info.time_base);
  EXPECT_EQ(hw.info.frame_count, cpu.info.frame_count);
  EXPECT_EQ(hw.info.color, cpu.info.color);
  int max_diff = 0;
  const size_t n = std::min(hw.frames.size(), cpu.frames.size());
  for (size_t i = 0; i < n; ++i) {
    const Frame& h = hw.frames[i];
    const Frame& c = cpu.frames[i];
    EXPECT_EQ(h.memory, MemoryKind::kDevice) << "frame " << i;
    EXPECT_EQ(h.device, 0) << "frame " << i;
    EXPECT_EQ(h.format, PixelFormat::kNV12) << "frame " << i;
    EXPECT_EQ(h.width, c.width) << "frame " << i;
    EXPECT_EQ(h.height, c.height) << "frame " << i;
    EXPECT_GE(h.pitch[0], h.width) << "frame " << i;
    EXPECT_GE(h.pitch[1], h.width) << "frame " << i;
    EXPECT_TRUE(h.storage != nullptr) << "frame " << i;
    EXPECT_EQ(h.index, c.index) << "frame " << i;
    EXPECT_EQ(h.pts, c.pts) << "frame " << i;
    EXPECT_EQ(h.duration, c.duration) << "frame " << i;
    EXPECT_EQ(h.time_base, c.time_base) << "frame " << i;
    EXPECT_EQ(h.color, c.color) << "frame " << i;
    const Diff d = Compare(HostNv12(h), HostNv12(c));
    max_diff = std::max(max_diff, d.max_abs);
    EXPECT_LE(d.max_abs, 2) << path << " frame " << i << " (PSNR " << d.psnr << " dB)";
  }
  std::printf("[ nvdec    ] %s: %zu frames, largest |NVDEC - CPU| = %d\n", path.c_str(), n,
              max_diff);
  return max_diff;
}

TEST(NvdecGpuTest, SampleMatchesCpuReader) {
  VRSEG_REQUIRE_NVDEC();
  const int max_diff = ExpectMatchesCpu(kSample, 120);
  ::testing::Test::RecordProperty("max_abs_diff", max_diff);
}

// 1080p: coded as 1920x1088 and cropped, the usual case for H.264 at that size.
TEST(NvdecGpuTest, H264At1080pMatchesCpuReader) {
  VRSEG_REQUIRE_NVDEC();
  std::string why;
  const std::string clip =
      WriteClip("nvdec_1080p.mp4", OutputContent::kComposite, 1920, 1080, 30, &why);
  if (clip.empty()) GTEST_SKIP() << "cannot write H.264 here: " << why;
  const int max_diff = ExpectMatchesCpu(clip, 30);
  ::testing::Test::RecordProperty("max_abs_diff", max_diff);
}

// Frames stay valid and unchanged while held (up to device_frames at once) and after the reader
// is gone.
TEST(NvdecGpuTest, HeldFramesStayIntactAndOutliveTheReader) {
  VRSEG_REQUIRE_NVDEC();
  const ReadResult cpu = ReadWith(kSample, Cpu());
  ASSERT_TRUE(cpu.end.ok()) << cpu.end.ToString();
  ASSERT_EQ(cpu.frames.size(), 120u);
  ReaderOptions o = Hw("cuda");
  auto reader = VideoReader::Open(kSample, o);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  std::vector<Frame> ring;  // the last device_frames frames
  size_t read = 0;
  for (;;) {
    Frame f;
    auto more = (*reader)->Read(&f);
    ASSERT_TRUE(more.ok()) << more.status().ToString() << " after " << read << " frames";
    if (!*more) break;
    ++read;
    if (ring.size() == static_cast<size_t>(o.device_frames)) {
      const Frame& oldest = ring.front();
      EXPECT_EQ(Compare(HostNv12(oldest), HostNv12(cpu.frames[oldest.index])).max_abs, 0)
          << "held frame " << oldest.index << " changed while held";
      ring.erase(ring.begin());
    }
    ring.push_back(std::move(f));
  }
  EXPECT_EQ(read, 120u);
  reader->reset();  // the reader goes; its last frames stay
  for (const Frame& f : ring) {
    EXPECT_EQ(Compare(HostNv12(f), HostNv12(cpu.frames[f.index])).max_abs, 0)
        << "frame " << f.index << " after the reader was destroyed";
  }
}

// Holding more frames than device_frames: the frames past it are device copies (the surface
// goes back to the decoder), so decoding goes on, with the same pixels.
TEST(NvdecGpuTest, HoldingMoreThanDeviceFramesCopies) {
  VRSEG_REQUIRE_NVDEC();
  const ReadResult cpu = ReadWith(kSample, Cpu());
  ASSERT_EQ(cpu.frames.size(), 120u);
  for (int device_frames : {0, 1, 8}) {
    ReaderOptions o = Hw("cuda");
    o.device_frames = device_frames;
    const ReadResult got = ReadWith(kSample, o);  // holds every frame
    ASSERT_TRUE(got.open.ok()) << got.open.ToString();
    EXPECT_TRUE(got.end.ok()) << got.end.ToString();
    ASSERT_EQ(got.frames.size(), 120u) << "device_frames " << device_frames;
    for (size_t i = 0; i < got.frames.size(); ++i) {
      EXPECT_EQ(got.frames[i].memory, MemoryKind::kDevice);
      EXPECT_EQ(Compare(HostNv12(got.frames[i]), HostNv12(cpu.frames[i])).max_abs, 0)
          << "device_frames " << device_frames << ", frame " << i;
    }
  }
  ReaderOptions bad = Hw("cuda");
  bad.device_frames = 17;
  auto r = VideoReader::Open(kSample, bad);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
}

// A file cut before its index fails at Open with kDataLoss (not as an NVDEC refusal).
TEST(NvdecGpuTest, MoovAtEndCutFailsAtOpenWithDataLoss) {
  VRSEG_REQUIRE_NVDEC();
  const auto bytes = ReadBytes(kSample);
  const std::string cut = Scratch("nvdec_cut_moov.mp4");
  WriteBytes(cut, bytes.data(), bytes.size() / 2);
  auto r = VideoReader::Open(cut, Hw("cuda"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss) << r.status().ToString();
  EXPECT_NE(r.status().message().find("frame 0"), std::string::npos) << r.status().ToString();
}

// A file cut in the middle of its data: the clean frames (the CPU reader's, ±1 for the frame at
// the cut), identical pixels, then kDataLoss naming the file and the first missing frame.
TEST(NvdecGpuTest, TruncatedFileDeliversCleanFramesThenDataLoss) {
  VRSEG_REQUIRE_NVDEC();
  const std::vector<uint8_t> fast = MoovFirst(ReadBytes(kSample));
  ASSERT_GT(fast.size(), 1000u) << kSample << " does not have its index after its data";
  // The rewritten file is whole: every frame, the CPU reader's pixels.
  const std::string whole = Scratch("nvdec_moov_first.mp4");
  WriteBytes(whole, fast.data(), fast.size());
  const ReadResult all = ReadWith(whole, Cpu());
  ASSERT_TRUE(all.end.ok()) << all.end.ToString();
  ASSERT_EQ(all.frames.size(), 120u);
  const std::string cut = Scratch("nvdec_cut.mp4");
  WriteBytes(cut, fast.data(), fast.size() / 2);
  const ReadResult cpu = ReadWith(cut, Cpu());
  ASSERT_TRUE(cpu.open.ok()) << cpu.open.ToString();
  ASSERT_EQ(cpu.end.code(), StatusCode::kDataLoss) << cpu.end.ToString();
  const ReadResult hw = ReadWith(cut, Hw("cuda"));
  ASSERT_TRUE(hw.open.ok()) << hw.open.ToString();
  ASSERT_EQ(hw.end.code(), StatusCode::kDataLoss) << hw.end.ToString();
  EXPECT_NE(hw.end.message().find(cut), std::string::npos) << hw.end.ToString();
  EXPECT_NE(hw.end.message().find("frame " + std::to_string(hw.frames.size())),
            std::string::npos)
      << hw.end.ToString() << " (" << hw.frames.size() << " frames delivered)";
  EXPECT_GT(hw.frames.size(), 10u);
  EXPECT_LT(hw.frames.size(), 120u);
  EXPECT_LE(hw.frames.size(), cpu.frames.size() + 1);
  EXPECT_GE(hw.frames.size() + 1, cpu.frames.size());
  const size_t n = std::min(hw.frames.size(), cpu.frames.size());
  for (size_t i = 0; i < n; ++i) {
    EXPECT_EQ(hw.frames[i].pts, cpu.frames[i].pts) << "frame " << i;
    EXPECT_LE(Compare(HostNv12(hw.frames[i]), HostNv12(cpu.frames[i])).max_abs, 2)
        << "frame " << i;
  }
  std::printf("[ nvdec    ] cut file: NVDEC %zu frames, CPU %zu frames; %s\n", hw.frames.size(),
              cpu.frames.size(), hw.end.ToString().c_str());
}

// "auto" takes NVDEC where it can: device frames, no fallback line.
TEST(NvdecGpuTest, AutoPicksNvdecForH264) {
  VRSEG_REQUIRE_NVDEC();
  ScopedLogLevel level(LogLevel::kInfo);
  ::testing::internal::CaptureStderr();
  const ReadResult got = ReadWith(kSample, Hw("auto"));
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(got.open.ok()) << got.open.ToString();
  EXPECT_TRUE(got.end.ok()) << got.end.ToString();
  ASSERT_EQ(got.frames.size(), 120u);
  EXPECT_EQ(got.frames[0].memory, MemoryKind::kDevice);
  EXPECT_EQ(CountLines(log, "decoding on the CPU"), 0u) << log;
}

// A device index that does not exist is kUnavailable at Open, naming the file.
TEST(NvdecGpuTest, MissingDeviceIsUnavailable) {
  VRSEG_REQUIRE_NVDEC();
  ReaderOptions o = Hw("cuda");
  o.device = cuda::DeviceCount();
  auto r = VideoReader::Open(kSample, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find(kSample), std::string::npos) << r.status().ToString();
}

#endif  // VRSEG_HAVE_CUDA

}  // namespace
}  // namespace vrseg::testing
