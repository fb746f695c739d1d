// The all-GPU path (--device cuda, GpuSegmenter) against the CPU path on the
// same inputs: masks agree (IoU >= 0.99 per frame), frame counts and timestamps
// are identical, bad input still leaves finalised outputs. Also the stereo
// split (both paths) and the option checks, which need no GPU.
//
// Inputs are made here with vrseg's own writer (the GPU machine has no ffmpeg
// program): an H.264 clip (decoded by NVDEC on the GPU path) and an FFV1 clip
// (no NVDEC decoder: decoded on the CPU and uploaded). Models come from the
// registry (VRSEG_MODEL_DIR), photos from testdata/ (VRSEG_SOURCE_DIR, else the
// source tree this was built from).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "vrseg/gpu_segmenter.h"
#include "vrseg/io.h"
#include "vrseg/model_registry.h"
#include "vrseg/profiler.h"
#include "vrseg/segmenter.h"

namespace vrseg {
namespace {

namespace fs = std::filesystem;

#define REQUIRE_GPU()                                                       \
  do {                                                                      \
    if (GpuDeviceCount() == 0)                                              \
      GTEST_SKIP() << "no CUDA device here; the GPU path is tested on the " \
                      "device machine";                                     \
  } while (0)

std::string Photo(const std::string& name) {
  const char* src = std::getenv("VRSEG_SOURCE_DIR");
  const std::string root = src ? std::string(src) + "/testdata" : std::string(VRSEG_TESTDATA_DIR);
  return root + "/" + name;
}

Frame ReadImage(const std::string& path) {
  ReaderOptions ro;
  ro.format = PixelFormat::kRGB24;
  auto r = VideoReader::Open(path, ro);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  Frame f;
  if (!r.ok()) return f;
  auto got = (*r)->Read(&f);
  EXPECT_TRUE(got.ok() && *got);
  auto owned = f.Clone();
  return owned.ok() ? *owned : Frame();
}

std::vector<Frame> ReadAll(const std::string& path, PixelFormat format) {
  ReaderOptions ro;
  ro.format = format;
  auto r = VideoReader::Open(path, ro);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::vector<Frame> v;
  if (!r.ok()) return v;
  while (true) {
    Frame f;
    auto more = (*r)->Read(&f);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    v.push_back(*f.Clone());
  }
  return v;
}

// A view of w x h pixels of an RGB24 frame at (x, y).
Frame Crop(const Frame& f, int x, int y, int w, int h) {
  Frame v = f;
  v.width = w;
  v.height = h;
  v.data[0] = f.data[0] + y * f.pitch[0] + 3 * x;
  return v;
}

// Writes `frames` frames of a w x h window moving over a photo, at 25 fps.
void MakeClip(const std::string& path, const std::string& photo, int w, int h, int frames) {
  const Frame img = ReadImage(Photo(photo));
  ASSERT_FALSE(img.empty());
  VideoInfo info;
  info.path = photo;
  info.width = w;
  info.height = h;
  info.frame_rate = {25, 1};
  info.time_base = {1, 25};
  info.color.matrix = 1;
  info.color.primaries = 1;
  info.color.transfer = 1;
  WriterOptions wo;
  wo.content = OutputContent::kComposite;  // RGB24 frames in
  wo.copy_audio = false;
  auto writer = VideoWriter::Open(path, info, wo);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  for (int k = 0; k < frames; ++k) {
    Frame f = Crop(img, (k * 7) % (img.width - w), (k * 3) % (img.height - h), w, h);
    f.index = k;
    f.pts = k;
    f.time_base = {1, 25};
    ASSERT_TRUE((*writer)->Write(f).ok());
  }
  ASSERT_TRUE((*writer)->Close().ok());
}

// Intersection over union of the person pixels (mask >= 128) of two Gray8
// frames; 1 when both are empty; 0 when the sizes differ.
double IoU(const Frame& a, const Frame& b) {
  if (a.width != b.width || a.height != b.height) return 0;
  int64_t inter = 0, uni = 0;
  for (int y = 0; y < a.height; ++y) {
    for (int x = 0; x < a.width; ++x) {
      const bool pa = a.data[0][y * a.pitch[0] + x] >= 128;
      const bool pb = b.data[0][y * b.pitch[0] + x] >= 128;
      inter += pa && pb;
      uni += pa || pb;
    }
  }
  return uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni);
}

// Mean absolute difference of two frames of the same packed format (255 when
// they differ).
double MeanAbsDiff(const Frame& a, const Frame& b) {
  if (a.width != b.width || a.height != b.height || a.format != b.format) return 255;
  const int row = a.width * BytesPerPixel(a.format);
  double sum = 0;
  for (int y = 0; y < a.height; ++y) {
    for (int x = 0; x < row; ++x) {
      sum += std::abs(a.data[0][y * a.pitch[0] + x] - b.data[0][y * b.pitch[0] + x]);
    }
  }
  return sum / (static_cast<double>(row) * a.height);
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vrseg_gpu_path_XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

SegmenterOptions Options(const std::string& device, int max_batch = 4) {
  SegmenterOptions o;
  o.backend = "ort";  // on cuda: the gpu backend
  o.model = "selfie";
  o.device = device;
  o.backend_options.threads = 2;
  o.pipeline.batcher.max_batch = max_batch;
  o.pipeline.batcher.max_delay_us = 2000;
  o.pipeline.batcher.max_queue = 16;
  return o;
}

bool HaveModel() { return ResolveModelPath("selfie").ok(); }

// ---- everywhere
// ------------------------------------------------------------------------------

TEST(GpuSegmenterOptionsTest, RejectsBadOptionsNamingTheField) {
  struct Case {
    const char* field;
    void (*edit)(GpuSegmenterOptions&);
  };
  const Case cases[] = {
      {"backend.name", [](GpuSegmenterOptions& o) { o.backend = "ort"; }},
      {"batcher.max_batch", [](GpuSegmenterOptions& o) { o.max_batch = 0; }},
      {"batcher.max_batch", [](GpuSegmenterOptions& o) { o.max_batch = 257; }},
      {"batcher.max_delay_us", [](GpuSegmenterOptions& o) { o.max_wait_us = -1; }},
      {"batcher.max_queue", [](GpuSegmenterOptions& o) { o.max_queue = 3; }},
      {"postprocess.threshold_value", [](GpuSegmenterOptions& o) { o.threshold_value = 2.f; }},
      {"output.content", [](GpuSegmenterOptions& o) { o.want_mask = false; }},
      {"composite_format",
       [](GpuSegmenterOptions& o) {
         o.want_composite = true;
         o.composite_format = PixelFormat::kGray8;
       }},
      {"composite_format",
       [](GpuSegmenterOptions& o) {
         o.want_composite = true;
         o.composite_alpha = true;
       }},
  };
  for (const Case& c : cases) {
    GpuSegmenterOptions o;
    o.max_batch = 4;
    c.edit(o);
    Status s = ValidateGpuSegmenterOptions(o);
    ASSERT_FALSE(s.ok()) << c.field;
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.ToString();
    EXPECT_FALSE(GpuSegmenter::Create(o).ok()) << c.field;
  }
  GpuSegmenterOptions good;
  EXPECT_TRUE(ValidateGpuSegmenterOptions(good).ok());
}

TEST(SegmenterDeviceTest, BadDeviceOptionsNameTheKey) {
  SegmenterOptions o = Options("gpu");
  auto r = Segmenter::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("backend.device"), std::string::npos)
      << r.status().ToString();
  for (const char* devices : {"x", "0,,1", "0,0", "-1", "64"}) {
    o = Options("cpu");
    o.devices = devices;
    r = Segmenter::Create(o);
    ASSERT_FALSE(r.ok()) << devices;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << devices;
    EXPECT_NE(r.status().message().find("backend.devices"), std::string::npos)
        << r.status().ToString();
  }
  // What the GPU path does not do is refused on --device cuda, naming the key.
  o = Options("cuda");
  o.temporal = true;
  r = Segmenter::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("postprocess.temporal"), std::string::npos)
      << r.status().ToString();
  o = Options("cuda");
  o.backend = "noop";
  EXPECT_EQ(Segmenter::Create(o).status().code(), StatusCode::kUnsupported);
}

TEST(SegmenterDeviceTest, CudaWithoutGpuIsUnavailableAndAutoFallsBackToCpu) {
  if (GpuDeviceCount() > 0) GTEST_SKIP() << "this machine has a GPU; tested where there is none";
  if (!HaveModel()) GTEST_SKIP() << "selfie model not installed (scripts/setup.sh)";
  auto r = Segmenter::Create(Options("cuda"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("backend.device"), std::string::npos)
      << r.status().ToString();
  auto a = Segmenter::Create(Options("auto"));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ((*a)->Stats().backend, "ort");
}

// Stereo on the CPU path: a side-by-side frame gives the two halves' masks,
// each as if segmented alone, merged back; a top-bottom video keeps its frame
// count and timestamps.
TEST(SegmenterStereoTest, CpuSideBySideIsEachEyeAlone) {
  if (!HaveModel()) GTEST_SKIP() << "selfie model not installed (scripts/setup.sh)";
  const Frame a = ReadImage(Photo("astronaut.png"));
  const Frame b = ReadImage(Photo("grace_hopper.jpg"));
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(b.empty());
  const Frame left = Crop(a, 0, 0, 200, 180), right = Crop(b, 10, 0, 200, 180);
  Frame sbs;
  ASSERT_TRUE(MergeStereo(left, right, StereoLayout::kSideBySide, &sbs).ok());
  sbs.index = 5;
  sbs.pts = 50;

  auto mono = Segmenter::Create(Options("cpu", 1));
  ASSERT_TRUE(mono.ok()) << mono.status().ToString();
  auto lm = (*mono)->Submit(*left.Clone()).get();
  auto rm = (*mono)->Submit(*right.Clone()).get();
  ASSERT_TRUE(lm.ok() && rm.ok());
  Frame want;
  ASSERT_TRUE(MergeStereo(*lm, *rm, StereoLayout::kSideBySide, &want).ok());

  SegmenterOptions so = Options("cpu", 2);
  so.stereo = StereoLayout::kSideBySide;
  auto stereo = Segmenter::Create(so);
  ASSERT_TRUE(stereo.ok()) << stereo.status().ToString();
  auto got = (*stereo)->Submit(sbs).get();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->width, sbs.width);
  EXPECT_EQ(got->height, sbs.height);
  EXPECT_EQ(got->index, 5);
  EXPECT_EQ(got->pts, 50);
  EXPECT_EQ(got->stream_id, 0);
  EXPECT_LE(MeanAbsDiff(*got, want), 0.05);
  EXPECT_GE(IoU(*got, want), 0.999);

  // A top-bottom clip through Run: one output frame per input frame, same
  // timestamps.
  TempDir dir;
  const std::string clip = dir.File("tb.mkv");
  MakeClip(clip, "astronaut.png", 160, 240, 6);
  so.stereo = StereoLayout::kTopBottom;
  auto tb = Segmenter::Create(so);
  ASSERT_TRUE(tb.ok());
  ASSERT_TRUE((*tb)->Run({clip}, {{dir.File("tb_mask.mkv"), {}}}).ok());
  const auto src = ReadAll(clip, PixelFormat::kRGB24);
  const auto masks = ReadAll(dir.File("tb_mask.mkv"), PixelFormat::kGray8);
  ASSERT_EQ(masks.size(), src.size());
  for (size_t k = 0; k < src.size(); ++k) {
    EXPECT_EQ(masks[k].pts, src[k].pts);
    EXPECT_EQ(masks[k].height, 240);
  }
}

// ---- on a GPU
// --------------------------------------------------------------------------------

class GpuPathTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (GpuDeviceCount() == 0 || !HaveModel()) return;
    dir_ = new TempDir();
    MakeClip(dir_->File("h264.mp4"), "astronaut.png", 320, 240, 24);
    MakeClip(dir_->File("ffv1.mkv"), "grace_hopper.jpg", 200, 160, 11);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    REQUIRE_GPU();
    if (!HaveModel()) GTEST_SKIP() << "selfie model not installed";
  }
  static TempDir* dir_;
};
TempDir* GpuPathTest::dir_ = nullptr;

// Both files through one Run (frames of both share batches), on the GPU path in fp16 (the
// default) and fp32, and on the CPU path (ONNX Runtime, fp32): identical frame counts and
// timestamps. Masks against the CPU path on the same decoded pixels (the GPU path reads the H.264
// clip as NV12 from NVDEC, so its reference is the CPU path on the software decoder's NV12 frames,
// which H.264 makes bit-identical; the FFV1 clip is decoded on the CPU in both): in fp32 IoU >=
// 0.99 on every frame. In fp16 the engine's rounding moves uncertain pixels (probability near
// 0.5) across the threshold: IoU >= 0.95 and a mean difference <= 2 levels on every frame.
TEST_F(GpuPathTest, RunMatchesCpuPathFrameForFrame) {
  const std::vector<std::string> in = {dir_->File("h264.mp4"), dir_->File("ffv1.mkv")};
  const char* tags[] = {"cpu", "gpu_fp16", "gpu_fp32"};
  std::vector<std::vector<Frame>> masks[3];
  for (int path = 0; path < 3; ++path) {
    SegmenterOptions o = Options(path == 0 ? "cpu" : "cuda");
    if (path == 2) o.backend_options.precision = "fp32";
    auto seg = Segmenter::Create(o);
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    const std::string tag = tags[path];
    std::vector<RunOutput> out = {{dir_->File(tag + "_a.mkv"), {}},
                                  {dir_->File(tag + "_b.mkv"), {}}};
    Status s = (*seg)->Run(in, out);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ((*seg)->Stats().frames_written, 35);
    if (path > 0) {
      EXPECT_EQ((*seg)->Stats().backend, "gpu");
      EXPECT_NE((*seg)->Stats().device.find("cuda"), std::string::npos);
    }
    for (const RunOutput& ro : out) masks[path].push_back(ReadAll(ro.path, PixelFormat::kGray8));
  }
  auto cpu = Segmenter::Create(Options("cpu", 1));
  ASSERT_TRUE(cpu.ok());
  for (int i = 0; i < 2; ++i) {
    const auto src = ReadAll(in[i], i == 0 ? PixelFormat::kNV12 : PixelFormat::kRGB24);
    std::vector<Frame> ref;
    for (const Frame& f : src) {
      auto m = (*cpu)->Submit(f).get();
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      ref.push_back(*m);
    }
    for (int path = 0; path < 3; ++path) ASSERT_EQ(masks[path][i].size(), src.size()) << in[i];
    for (int path = 1; path < 3; ++path) {
      const bool fp16 = path == 1;
      double worst = 1, worst_diff = 0;
      for (size_t k = 0; k < src.size(); ++k) {
        const Frame& g = masks[path][i][k];
        EXPECT_EQ(g.pts, masks[0][i][k].pts) << in[i] << " frame " << k;
        EXPECT_NEAR(g.pts * g.time_base.ToDouble(), src[k].pts * src[k].time_base.ToDouble(), 1e-3)
            << in[i] << " frame " << k;
        const double iou = IoU(g, ref[k]);
        const double diff = MeanAbsDiff(g, ref[k]);
        worst = std::min(worst, iou);
        worst_diff = std::max(worst_diff, diff);
        EXPECT_GE(iou, fp16 ? 0.95 : 0.99) << tags[path] << " " << in[i] << " frame " << k;
        EXPECT_LE(diff, 2.0) << tags[path] << " " << in[i] << " frame " << k;
      }
      std::printf("  %s: %s vs cpu, %zu frames: worst IoU %.4f, worst mean |diff| %.3f\n",
                  in[i].c_str(), tags[path], src.size(), worst, worst_diff);
    }
  }
}

// --profile on the GPU path: the decoders, the GPU driver and the encoders are stages of the
// profile, in flow order, each with the frames it handled.
TEST_F(GpuPathTest, RunRecordsDecodeGpuAndEncodeStages) {
  auto seg = Segmenter::Create(Options("cuda"));
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  ProfilerOptions po;
  po.enabled = true;
  Profiler profiler(po);
  RunOptions ro;
  ro.profiler = &profiler;
  Status s = (*seg)->Run({dir_->File("h264.mp4")}, {{dir_->File("profiled.mkv"), {}}}, ro);
  ASSERT_TRUE(s.ok()) << s.ToString();
  const ProfileReport r = profiler.Report();
  ASSERT_EQ(r.stages.size(), 3u);
  EXPECT_EQ(r.stages[0].name, "decode");
  EXPECT_EQ(r.stages[1].name, "gpu");
  EXPECT_EQ(r.stages[2].name, "encode");
  EXPECT_EQ(r.stages[0].items, 24);
  EXPECT_EQ(r.stages[1].items, 24);
  EXPECT_EQ(r.stages[2].items, 24);
  for (const StageReport& st : r.stages) EXPECT_GT(st.busy_ns, 0) << st.name;
}

TEST_F(GpuPathTest, SubmitMaskCompositeAndAlphaMatchCpu) {
  const char* photos[] = {"astronaut.png", "camera.png", "grace_hopper.jpg"};
  for (OutputContent content :
       {OutputContent::kMask, OutputContent::kComposite, OutputContent::kAlpha}) {
    SegmenterOptions go = Options("cuda"), co = Options("cpu");
    go.content = co.content = content;
    go.composite.color = co.composite.color = {20, 180, 60};
    auto gpu = Segmenter::Create(go);
    auto cpu = Segmenter::Create(co);
    ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
    ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
    for (int s = 0; s < 3; ++s) {
      Frame f = ReadImage(Photo(photos[s]));
      f.stream_id = s;
      f.index = 3;
      f.pts = 30 + s;
      auto g = (*gpu)->Submit(f).get();
      auto c = (*cpu)->Submit(f).get();
      ASSERT_TRUE(g.ok()) << g.status().ToString();
      ASSERT_TRUE(c.ok()) << c.status().ToString();
      EXPECT_EQ(g->format, c->format);
      EXPECT_EQ(g->stream_id, s);
      EXPECT_EQ(g->index, 3);
      EXPECT_EQ(g->pts, 30 + s);
      EXPECT_LE(MeanAbsDiff(*g, *c), 2.0) << photos[s] << " content " << static_cast<int>(content);
      if (content == OutputContent::kMask) {
        EXPECT_GE(IoU(*g, *c), 0.99) << photos[s];
      }
    }
  }
}

TEST_F(GpuPathTest, StereoPairIsOneBatchAndMatchesCpu) {
  const Frame a = ReadImage(Photo("astronaut.png"));
  ASSERT_FALSE(a.empty());
  Frame sbs;
  ASSERT_TRUE(MergeStereo(Crop(a, 0, 0, 256, 300), Crop(a, 200, 100, 256, 300),
                          StereoLayout::kSideBySide, &sbs)
                  .ok());
  SegmenterOptions go = Options("cuda", 2), co = Options("cpu", 2);
  go.stereo = co.stereo = StereoLayout::kSideBySide;
  go.pipeline.batcher.max_delay_us = co.pipeline.batcher.max_delay_us = 0;
  auto gpu = Segmenter::Create(go);
  auto cpu = Segmenter::Create(co);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  ASSERT_TRUE(cpu.ok());
  for (int k = 0; k < 5; ++k) {
    sbs.index = k;
    auto g = (*gpu)->Submit(sbs).get();
    auto c = (*cpu)->Submit(sbs).get();
    ASSERT_TRUE(g.ok()) << g.status().ToString();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(g->width, 512);
    EXPECT_GE(IoU(*g, *c), 0.99);
  }
  const SegmenterStats st = (*gpu)->Stats();
  EXPECT_EQ(st.pipeline.frames_out, 10);  // eyes
  EXPECT_EQ(st.pipeline.batches, 5);      // one batch per pair
}

TEST_F(GpuPathTest, GpuSegmenterGroupsCallbacksAndErrors) {
  GpuSegmenterOptions o;
  auto model = ResolveModelPath("selfie");
  ASSERT_TRUE(model.ok());
  o.model_path = *model;
  o.max_batch = 2;
  auto seg = GpuSegmenter::Create(o);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  const Frame a = ReadImage(Photo("camera.png"));
  // Too many frames for one batch; a device frame of a GPU that is not this
  // one.
  EXPECT_EQ((*seg)->Submit({a, a, a}, [](auto) {}).code(), StatusCode::kInvalidArgument);
  Frame other = a;
  other.memory = MemoryKind::kDevice;
  other.device = 7;
  Status s = (*seg)->Submit({other}, [](auto) {});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("GPU 7"), std::string::npos) << s.ToString();
  Frame empty;
  EXPECT_EQ((*seg)->Submit({empty}, [](auto) {}).code(), StatusCode::kInvalidArgument);
  // Results come back in submission order across streams.
  std::vector<std::pair<int, int64_t>> order;
  std::mutex mu;
  for (int k = 0; k < 30; ++k) {
    Frame f = a;
    f.stream_id = k % 3;
    f.index = k / 3;
    ASSERT_TRUE((*seg)
                    ->Submit({f},
                             [&](Result<std::vector<GpuResult>> r) {
                               ASSERT_TRUE(r.ok()) << r.status().ToString();
                               std::lock_guard<std::mutex> lock(mu);
                               order.emplace_back((*r)[0].mask.stream_id, (*r)[0].mask.index);
                               EXPECT_GE((*r)[0].done_ns, (*r)[0].submit_ns);
                             })
                    .ok());
  }
  (*seg)->Flush();
  ASSERT_EQ(order.size(), 30u);
  for (int k = 0; k < 30; ++k) {
    EXPECT_EQ(order[k].first, k % 3);
    EXPECT_EQ(order[k].second, k / 3);
  }
  const GpuSegmenterStats st = (*seg)->Stats();
  EXPECT_EQ(st.frames_out, 30);
  EXPECT_GE(st.mean_batch, 1.0);
  EXPECT_GT(st.latency.p99_us, 0);
  (*seg)->Close();
  EXPECT_EQ((*seg)->Submit({a}, [](auto) {}).code(), StatusCode::kCancelled);
}

TEST_F(GpuPathTest, TruncatedInputKeepsAFinalisedOutput) {
  const std::string cut = dir_->File("cut.mkv");
  {
    std::ifstream f(dir_->File("ffv1.mkv"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::ofstream o(cut, std::ios::binary);
    o.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  auto seg = Segmenter::Create(Options("cuda", 2));
  ASSERT_TRUE(seg.ok());
  const std::string out = dir_->File("cut_mask.mkv");
  Status s = (*seg)->Run({cut}, {{out, {}}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("cut.mkv"), std::string::npos) << s.ToString();
  // Every frame decoded cleanly before the damage was segmented and written, and the output is
  // finalised (readable to its end).
  int64_t clean = 0;
  {
    auto r = VideoReader::Open(cut);
    ASSERT_TRUE(r.ok());
    Frame f;
    for (auto more = (*r)->Read(&f); more.ok() && *more; more = (*r)->Read(&f)) ++clean;
  }
  const int64_t written = (*seg)->Stats().frames_written;
  EXPECT_GE(written, 1);
  EXPECT_LT(written, 11);
  EXPECT_EQ(written, clean);
  EXPECT_EQ(static_cast<int64_t>(ReadAll(out, PixelFormat::kGray8).size()), written);
}

}  // namespace
}  // namespace vrseg
