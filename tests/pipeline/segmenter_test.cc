// Segmenter against the pipeline-free single-frame path (imgproc Preprocess → Backend::Run(1) →
// Postprocess, one frame at a time, with a separate backend), on real photos and the selfie model
// converted from its TF.js files for this test; files in and out through FFmpeg.
#include "vrseg/segmenter.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "vrseg/clock.h"
#include "vrseg/convert.h"

namespace vrseg {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vrseg_pipeline_XXXXXX";
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

int Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

std::string Testdata(const std::string& name) { return std::string(VRSEG_TESTDATA_DIR) + "/" + name; }

class SegmenterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    model_ = dir_->File("selfie.onnx");
    auto r = ConvertTfjsToOnnx(std::string(VRSEG_MODEL_DIR) + "/tfjs/selfie.json", model_,
                               {"selfie", "Apache-2.0", "", true});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    // Two short lossless clips of different sizes, 25 and 30000/1001 fps.
    ASSERT_EQ(Sh("ffmpeg -y -loop 1 -i " + Testdata("astronaut.png") +
                 " -vf scale=200:150,format=rgb24,rotate=0.05*t -r 25 -frames:v 10 -c:v ffv1 " +
                 dir_->File("a.mkv")),
              0);
    ASSERT_EQ(Sh("ffmpeg -y -loop 1 -i " + Testdata("grace_hopper.jpg") +
                 " -vf scale=128:150,format=rgb24,hflip -r 30000/1001 -frames:v 7 -c:v ffv1 " +
                 dir_->File("b.mkv")),
              0);
    ASSERT_EQ(Sh("ffmpeg -y -f lavfi -i testsrc=size=64x48:rate=25 -frames:v 120 -c:v ffv1 " +
                 dir_->File("long.mkv")),
              0);
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static SegmenterOptions Options(int max_batch) {
    SegmenterOptions o;
    o.backend = "ort";
    o.device = "cpu";  // the CPU pipeline, even on a machine with a GPU (see gpu_path_test.cc)
    o.model = model_;
    o.backend_options.threads = 1;
    o.pipeline.batcher.max_batch = max_batch;
    o.pipeline.batcher.max_delay_us = 5000;
    o.pipeline.batcher.max_queue = 16;
    o.pipeline.preprocess_workers = 2;
    o.pipeline.postprocess_workers = 2;
    return o;
  }

  // The single-frame reference.
  static Result<Frame> Reference(Backend& b, const Frame& rgb) {
    const PreprocessOptions pre = PreprocessOptionsFor(b.model_info());
    VRSEG_RETURN_IF_ERROR(Preprocess(rgb, pre, static_cast<float*>(b.input(0).slot(0))));
    VRSEG_RETURN_IF_ERROR(b.Run(1));
    VRSEG_ASSIGN_OR_RETURN(Frame mask, Frame::Allocate(PixelFormat::kGray8, rgb.width, rgb.height));
    VRSEG_RETURN_IF_ERROR(Postprocess(static_cast<const float*>(b.output(0).slot(0)),
                                      PostprocessOptionsFor(b.model_info()), &mask));
    return mask;
  }
  static std::unique_ptr<Backend> RefBackend() {
    BackendOptions bo;
    bo.threads = 1;
    bo.max_batch = 1;
    auto b = CreateBackend("ort", model_, bo);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(*b) : nullptr;
  }
  static std::vector<Frame> ReadAll(const std::string& path, PixelFormat format) {
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
  // Largest absolute byte difference of two Gray8 frames (256 when the sizes differ).
  static int MaxDiff(const Frame& a, const Frame& b) {
    if (a.width != b.width || a.height != b.height) return 256;
    int m = 0;
    for (int y = 0; y < a.height; ++y) {
      for (int x = 0; x < a.width; ++x) {
        m = std::max(m, std::abs(a.data[0][y * a.pitch[0] + x] - b.data[0][y * b.pitch[0] + x]));
      }
    }
    return m;
  }

  static TempDir* dir_;
  static std::string model_;
};
TempDir* SegmenterTest::dir_ = nullptr;
std::string SegmenterTest::model_;

// Frames of 3 streams submitted together (batched across streams) give the masks of the
// single-frame path (batch-size rounding in ONNX Runtime: at most 1 level apart).
TEST_F(SegmenterTest, SubmitMatchesSingleFramePath) {
  auto seg = Segmenter::Create(Options(4));
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  const char* photos[] = {"astronaut.png", "camera.png", "grace_hopper.jpg"};
  std::vector<Frame> inputs;
  std::vector<std::future<Result<Frame>>> futures;
  for (int round = 0; round < 3; ++round) {
    for (int s = 0; s < 3; ++s) {
      std::vector<Frame> img = ReadAll(Testdata(photos[s]), PixelFormat::kRGB24);
      ASSERT_EQ(img.size(), 1u);
      Frame f = img[0];
      f.stream_id = s;
      f.index = round;
      f.pts = round * 100 + s;
      inputs.push_back(f);
      futures.push_back((*seg)->Submit(f));
    }
  }
  auto ref = RefBackend();
  ASSERT_TRUE(ref);
  for (size_t i = 0; i < futures.size(); ++i) {
    Result<Frame> got = futures[i].get();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->format, PixelFormat::kGray8);
    EXPECT_EQ(got->stream_id, inputs[i].stream_id);
    EXPECT_EQ(got->index, inputs[i].index);
    EXPECT_EQ(got->pts, inputs[i].pts);
    auto want = Reference(*ref, inputs[i]);
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    EXPECT_LE(MaxDiff(*got, *want), 1) << "frame " << i;
  }
  ASSERT_TRUE((*seg)->Close().ok());
  SegmenterStats st = (*seg)->Stats();
  EXPECT_EQ(st.pipeline.frames_out, 9);
  EXPECT_EQ(st.backend, "ort");
  EXPECT_EQ(st.model, "selfie");
  EXPECT_GT(st.pipeline.latency.p99_us, 0);
}

// Two files share one pipeline; each output has its input's frame count, timestamps and the
// reference masks.
TEST_F(SegmenterTest, RunTwoFilesIntoMaskVideos) {
  auto seg = Segmenter::Create(Options(4));
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  std::vector<ProgressInfo> progress;
  RunOptions ro;
  ro.progress = [&](const ProgressInfo& p) { progress.push_back(p); };
  ro.progress_interval_ms = 0;
  const std::vector<std::string> in = {dir_->File("a.mkv"), dir_->File("b.mkv")};
  const std::vector<RunOutput> out = {{dir_->File("a_mask.mkv"), {}}, {dir_->File("b_mask.mkv"), {}}};
  Status s = (*seg)->Run(in, out, ro);
  ASSERT_TRUE(s.ok()) << s.ToString();
  auto ref = RefBackend();
  ASSERT_TRUE(ref);
  for (int i = 0; i < 2; ++i) {
    std::vector<Frame> src = ReadAll(in[i], PixelFormat::kRGB24);
    std::vector<Frame> masks = ReadAll(out[i].path, PixelFormat::kGray8);
    ASSERT_EQ(masks.size(), src.size()) << out[i].path;
    ASSERT_EQ(src.size(), i == 0 ? 10u : 7u);
    for (size_t k = 0; k < src.size(); ++k) {
      EXPECT_EQ(masks[k].pts, src[k].pts) << k;
      auto want = Reference(*ref, src[k]);
      ASSERT_TRUE(want.ok());
      EXPECT_LE(MaxDiff(masks[k], *want), 1) << out[i].path << " frame " << k;
    }
  }
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().frames_done, 17);
  int64_t total = 0;
  for (const auto& path : in) {
    auto r = VideoReader::Open(path);
    ASSERT_TRUE(r.ok());
    const int64_t fc = (*r)->info().frame_count;
    total = (total < 0 || fc < 0) ? -1 : total + fc;
  }
  EXPECT_EQ(progress.back().frames_total, total);  // -1 where a container does not say
  EXPECT_EQ((*seg)->Stats().frames_written, 17);
}

TEST_F(SegmenterTest, RunStopRequestFinalisesOutputs) {
  auto seg = Segmenter::Create(Options(2));
  ASSERT_TRUE(seg.ok());
  Segmenter* sp = seg->get();
  RunOptions ro;
  ro.progress_interval_ms = 0;
  ro.progress = [&](const ProgressInfo& p) {
    if (p.frames_done == 3) sp->RequestStop();
  };
  const std::string out = dir_->File("stopped.mkv");
  Status s = sp->Run({dir_->File("long.mkv")}, {{out, {}}}, ro);
  EXPECT_EQ(s.code(), StatusCode::kCancelled) << s.ToString();
  const int64_t written = sp->Stats().frames_written;
  EXPECT_GE(written, 3);
  EXPECT_LT(written, 120);  // intake stopped long before the end
  std::vector<Frame> masks = ReadAll(out, PixelFormat::kGray8);  // finalised: readable
  EXPECT_EQ(static_cast<int64_t>(masks.size()), written);
  EXPECT_EQ(sp->Submit(masks[0]).get().status().code(), StatusCode::kCancelled);
}

TEST_F(SegmenterTest, RunCorruptInputStopsWithItsErrorAndKeepsWhatWasWritten) {
  const std::string cut = dir_->File("cut.mkv");
  {
    std::ifstream f(dir_->File("a.mkv"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::ofstream o(cut, std::ios::binary);
    o.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  auto seg = Segmenter::Create(Options(2));
  ASSERT_TRUE(seg.ok());
  const std::string out = dir_->File("cut_mask.mkv");
  Status s = (*seg)->Run({cut}, {{out, {}}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s.ToString();
  EXPECT_NE(s.message().find("decode: stream 0"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("cut.mkv"), std::string::npos) << s.ToString();
  // The frames decoded before the damage were still segmented and written, and the output is
  // finalised (readable).
  const int64_t written = (*seg)->Stats().frames_written;
  EXPECT_GE(written, 1);
  EXPECT_LT(written, 10);
  std::vector<Frame> masks = ReadAll(out, PixelFormat::kGray8);
  EXPECT_EQ(static_cast<int64_t>(masks.size()), written);
}

TEST_F(SegmenterTest, RunRejectsBadArguments) {
  auto seg = Segmenter::Create(Options(2));
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ((*seg)->Run({}, {}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*seg)->Run({dir_->File("a.mkv")}, {}).code(), StatusCode::kInvalidArgument);
  Status missing = (*seg)->Run({dir_->File("nope.mkv")}, {{dir_->File("x.mkv"), {}}});
  EXPECT_EQ(missing.code(), StatusCode::kNotFound);
  EXPECT_NE(missing.message().find("nope.mkv"), std::string::npos);
  Status bad_ext = (*seg)->Run({dir_->File("a.mkv")}, {{dir_->File("x.unknownext"), {}}});
  EXPECT_FALSE(bad_ext.ok());
  EXPECT_NE(bad_ext.message().find("x.unknownext"), std::string::npos) << bad_ext.ToString();
}

TEST_F(SegmenterTest, CreateRejectsBadOptions) {
  SegmenterOptions o = Options(2);
  o.threshold_value = 1.5f;
  auto r = Segmenter::Create(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("postprocess.threshold_value"), std::string::npos);
  o = Options(2);
  o.pipeline.batcher.max_batch = 0;
  EXPECT_NE(Segmenter::Create(o).status().message().find("batcher.max_batch"), std::string::npos);
  o = Options(2);
  o.model = dir_->File("missing.onnx");
  EXPECT_EQ(Segmenter::Create(o).status().code(), StatusCode::kNotFound);
  o = Options(2);
  o.backend = "no-such-backend";
  auto nb = Segmenter::Create(o);
  ASSERT_FALSE(nb.ok());
  EXPECT_NE(nb.status().message().find("no-such-backend"), std::string::npos);
  o = Options(2);
  o.model = Testdata("astronaut.png");  // not a model
  EXPECT_FALSE(Segmenter::Create(o).ok());
}

// The noop backend reports "person everywhere": alpha keeps the input's pixels with alpha 255,
// and a composite is the input itself.
TEST_F(SegmenterTest, AlphaAndCompositeContentWithNoopBackend) {
  std::vector<Frame> img = ReadAll(Testdata("grace_hopper.jpg"), PixelFormat::kRGB24);
  ASSERT_EQ(img.size(), 1u);
  const Frame& in = img[0];
  for (OutputContent content : {OutputContent::kAlpha, OutputContent::kComposite}) {
    SegmenterOptions o = Options(2);
    o.backend = "noop";
    o.model = "";
    o.content = content;
    auto seg = Segmenter::Create(o);
    ASSERT_TRUE(seg.ok()) << seg.status().ToString();
    Result<Frame> r = (*seg)->Submit(in).get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const int bpp = content == OutputContent::kAlpha ? 4 : 3;
    ASSERT_EQ(r->format, bpp == 4 ? PixelFormat::kRGBA : PixelFormat::kRGB24);
    ASSERT_EQ(r->width, in.width);
    bool same = true;
    for (int y = 0; y < in.height && same; ++y) {
      for (int x = 0; x < in.width; ++x) {
        const uint8_t* p = r->data[0] + y * r->pitch[0] + x * bpp;
        const uint8_t* q = in.data[0] + y * in.pitch[0] + x * 3;
        same = same && p[0] == q[0] && p[1] == q[1] && p[2] == q[2] && (bpp == 3 || p[3] == 255);
      }
    }
    EXPECT_TRUE(same) << static_cast<int>(content);
  }
}

TEST_F(SegmenterTest, LateFrameDroppedThroughSubmit) {
  SegmenterOptions o = Options(2);
  o.backend = "noop";
  o.model = "";
  o.pipeline.batcher.late_policy = LatePolicy::kDrop;
  auto seg = Segmenter::Create(o);
  ASSERT_TRUE(seg.ok());
  std::vector<Frame> img = ReadAll(Testdata("camera.png"), PixelFormat::kRGB24);
  SubmitOptions late;
  late.deadline_ns = 1;
  auto a = (*seg)->Submit(img[0], late);
  auto b = (*seg)->Submit(img[0]);
  EXPECT_EQ(a.get().status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(b.get().ok());
  ASSERT_TRUE((*seg)->Close().ok());
  EXPECT_EQ((*seg)->Stats().pipeline.frames_dropped, 1);
}

// ---- temporal smoothing and guided-filter refinement ------------------------------------------
//
// The references: the plain masks of a Segmenter with both off (same options otherwise, batch 1,
// so ONNX Runtime computes every frame alike), then imgproc's GuidedFilterRefine / SmoothTemporal
// / Compositor applied frame by frame in order per stream.

SegmenterOptions PostOptions(const std::string& model) {
  SegmenterOptions o;
  o.backend = "ort";
  o.model = model;
  o.backend_options.threads = 1;
  o.pipeline.batcher.max_batch = 1;
  o.pipeline.batcher.max_queue = 32;
  o.pipeline.preprocess_workers = 2;
  o.pipeline.postprocess_workers = 2;
  return o;
}

// Submits every frame (all at once, in vector order) and returns the results in that order.
std::vector<Frame> SubmitAll(const SegmenterOptions& o, const std::vector<Frame>& frames) {
  std::vector<Frame> out;
  auto seg = Segmenter::Create(o);
  EXPECT_TRUE(seg.ok()) << seg.status().ToString();
  if (!seg.ok()) return out;
  std::vector<std::future<Result<Frame>>> futures;
  for (const Frame& f : frames) futures.push_back((*seg)->Submit(f));
  for (auto& fu : futures) {
    Result<Frame> r = fu.get();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return {};
    out.push_back(*r);
  }
  EXPECT_TRUE((*seg)->Close().ok());
  return out;
}

bool SameBytes(const Frame& a, const Frame& b, int bytes_per_pixel) {
  if (a.format != b.format || a.width != b.width || a.height != b.height) return false;
  for (int y = 0; y < a.height; ++y) {
    if (std::memcmp(a.data[0] + y * a.pitch[0], b.data[0] + y * b.pitch[0],
                    static_cast<size_t>(a.width) * bytes_per_pixel) != 0) {
      return false;
    }
  }
  return true;
}

// A mirrored copy of an RGB24 frame (very different content at the same size).
Frame Mirror(const Frame& f) {
  Frame m = *f.Clone();
  for (int y = 0; y < f.height; ++y) {
    for (int x = 0; x < f.width; ++x) {
      const uint8_t* s = f.data[0] + y * f.pitch[0] + (f.width - 1 - x) * 3;
      std::memcpy(m.data[0] + y * m.pitch[0] + x * 3, s, 3);
    }
  }
  return m;
}

// Two interleaved streams of the same size: each result equals SmoothTemporal applied in order
// over that stream's own plain masks (a state shared between the streams, or frames out of
// order, would give other bytes).
TEST_F(SegmenterTest, TemporalSmoothingPerStreamInOrder) {
  std::vector<Frame> clip = ReadAll(dir_->File("a.mkv"), PixelFormat::kRGB24);
  ASSERT_EQ(clip.size(), 10u);
  std::vector<Frame> frames;  // s0 f0, s1 f0, s0 f1, s1 f1, ...
  for (int k = 0; k < 10; ++k) {
    Frame a = clip[k];
    a.stream_id = 0;
    a.index = k;
    Frame b = Mirror(clip[9 - k]);
    b.stream_id = 1;
    b.index = k;
    frames.push_back(a);
    frames.push_back(b);
  }
  SegmenterOptions o = PostOptions(model_);
  const std::vector<Frame> plain = SubmitAll(o, frames);
  ASSERT_EQ(plain.size(), frames.size());
  o.temporal = true;
  o.temporal_options.factor = 0.5f;
  o.temporal_options.hysteresis = 0.02f;
  const std::vector<Frame> got = SubmitAll(o, frames);
  ASSERT_EQ(got.size(), frames.size());
  Frame prev[2];
  int changed = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    const int s = frames[i].stream_id;
    Frame want;
    ASSERT_TRUE(SmoothTemporal(plain[i], prev[s], o.temporal_options, &want).ok());
    prev[s] = want;
    EXPECT_EQ(got[i].stream_id, s);
    EXPECT_EQ(got[i].index, frames[i].index);
    EXPECT_TRUE(SameBytes(got[i], want, 1)) << "stream " << s << " frame " << frames[i].index;
    if (!SameBytes(got[i], plain[i], 1)) ++changed;
  }
  EXPECT_GT(changed, 0);  // the smoothing did change masks
  // Smoothing over the streams in arrival order (one state) is not what came out.
  Frame mixed_prev, mixed;
  ASSERT_TRUE(SmoothTemporal(plain[0], mixed_prev, o.temporal_options, &mixed_prev).ok());
  ASSERT_TRUE(SmoothTemporal(plain[1], mixed_prev, o.temporal_options, &mixed).ok());
  EXPECT_FALSE(SameBytes(got[1], mixed, 1));
}

// Refinement equals GuidedFilterRefine of the plain mask, on photos of different sizes.
TEST_F(SegmenterTest, RefineIsGuidedFilterOfThePlainMask) {
  std::vector<Frame> frames;
  for (const char* photo : {"astronaut.png", "camera.png", "grace_hopper.jpg"}) {
    std::vector<Frame> img = ReadAll(Testdata(photo), PixelFormat::kRGB24);
    ASSERT_EQ(img.size(), 1u);
    img[0].stream_id = static_cast<int>(frames.size());
    frames.push_back(img[0]);
  }
  SegmenterOptions o = PostOptions(model_);
  const std::vector<Frame> plain = SubmitAll(o, frames);
  ASSERT_EQ(plain.size(), frames.size());
  o.refine = true;
  o.refine_options.radius = 6;
  o.refine_options.eps = 1e-3f;
  o.refine_options.subsample = 2;
  o.refine_options.guidance = GuidanceKind::kMean;
  const std::vector<Frame> got = SubmitAll(o, frames);
  ASSERT_EQ(got.size(), frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    auto want = Frame::Allocate(PixelFormat::kGray8, frames[i].width, frames[i].height);
    ASSERT_TRUE(want.ok());
    ASSERT_TRUE(GuidedFilterRefine(frames[i], plain[i], o.refine_options, &*want).ok());
    EXPECT_TRUE(SameBytes(got[i], *want, 1)) << "frame " << i;
    EXPECT_FALSE(SameBytes(got[i], plain[i], 1)) << "frame " << i << ": refinement did nothing";
  }
}

// Both on with composite output: plain → refine → temporal → composite from the final mask.
TEST_F(SegmenterTest, RefineThenTemporalThenComposite) {
  std::vector<Frame> frames = ReadAll(dir_->File("a.mkv"), PixelFormat::kRGB24);
  ASSERT_EQ(frames.size(), 10u);
  SegmenterOptions o = PostOptions(model_);
  const std::vector<Frame> plain = SubmitAll(o, frames);
  ASSERT_EQ(plain.size(), frames.size());
  o.refine = true;
  o.temporal = true;
  o.temporal_options.factor = 0.3f;
  o.content = OutputContent::kComposite;
  o.composite.color = {10, 20, 200};
  const std::vector<Frame> got = SubmitAll(o, frames);
  ASSERT_EQ(got.size(), frames.size());
  Compositor comp(o.composite);
  Frame prev;
  for (size_t i = 0; i < frames.size(); ++i) {
    auto refined = Frame::Allocate(PixelFormat::kGray8, frames[i].width, frames[i].height);
    ASSERT_TRUE(refined.ok());
    ASSERT_TRUE(GuidedFilterRefine(frames[i], plain[i], o.refine_options, &*refined).ok());
    Frame smoothed;
    ASSERT_TRUE(SmoothTemporal(*refined, prev, o.temporal_options, &smoothed).ok());
    prev = smoothed;
    auto want = Frame::Allocate(PixelFormat::kRGB24, frames[i].width, frames[i].height);
    ASSERT_TRUE(want.ok());
    ASSERT_TRUE(comp.Compose(frames[i], smoothed, &*want).ok());
    ASSERT_EQ(got[i].format, PixelFormat::kRGB24);
    EXPECT_TRUE(SameBytes(got[i], *want, 3)) << "frame " << i;
  }
}

// Run writes the smoothed masks (the sink smooths before the writer), one state per input.
TEST_F(SegmenterTest, RunWritesSmoothedMasks) {
  const std::vector<std::string> in = {dir_->File("a.mkv"), dir_->File("b.mkv")};
  SegmenterOptions o = PostOptions(model_);
  auto plain_seg = Segmenter::Create(o);
  ASSERT_TRUE(plain_seg.ok()) << plain_seg.status().ToString();
  const std::vector<RunOutput> plain_out = {{dir_->File("ta_plain.mkv"), {}},
                                            {dir_->File("tb_plain.mkv"), {}}};
  ASSERT_TRUE((*plain_seg)->Run(in, plain_out).ok());
  o.temporal = true;
  o.temporal_options.factor = 0.4f;
  auto seg = Segmenter::Create(o);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  const std::vector<RunOutput> out = {{dir_->File("ta.mkv"), {}}, {dir_->File("tb.mkv"), {}}};
  Status s = (*seg)->Run(in, out);
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (int i = 0; i < 2; ++i) {
    std::vector<Frame> plain = ReadAll(plain_out[i].path, PixelFormat::kGray8);
    std::vector<Frame> got = ReadAll(out[i].path, PixelFormat::kGray8);
    ASSERT_EQ(got.size(), plain.size());
    ASSERT_EQ(got.size(), i == 0 ? 10u : 7u);
    Frame prev;
    for (size_t k = 0; k < got.size(); ++k) {
      Frame want;
      ASSERT_TRUE(SmoothTemporal(plain[k], prev, o.temporal_options, &want).ok());
      prev = want;
      EXPECT_TRUE(SameBytes(got[k], want, 1)) << out[i].path << " frame " << k;
    }
  }
}

TEST_F(SegmenterTest, RefineRefusesNonRgbInputAndBadOptions) {
  SegmenterOptions o = PostOptions(model_);
  o.refine = true;
  auto seg = Segmenter::Create(o);
  ASSERT_TRUE(seg.ok()) << seg.status().ToString();
  std::vector<Frame> gray = ReadAll(Testdata("camera.png"), PixelFormat::kGray8);
  ASSERT_EQ(gray.size(), 1u);
  gray[0].index = 7;
  Result<Frame> r = (*seg)->Submit(gray[0]).get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("postprocess.refine.enabled"), std::string::npos)
      << r.status().ToString();
  EXPECT_NE(r.status().message().find("frame 7"), std::string::npos) << r.status().ToString();
  // The pipeline is still usable with RGB24 frames.
  std::vector<Frame> rgb = ReadAll(Testdata("camera.png"), PixelFormat::kRGB24);
  EXPECT_TRUE((*seg)->Submit(rgb[0]).get().ok());

  struct Bad {
    const char* key;
    void (*set)(SegmenterOptions&);
  };
  const Bad bad[] = {
      {"postprocess.temporal.factor", [](SegmenterOptions& s) { s.temporal_options.factor = 0; }},
      {"postprocess.temporal.factor",
       [](SegmenterOptions& s) { s.temporal_options.factor = 1.5f; }},
      {"postprocess.temporal.hysteresis",
       [](SegmenterOptions& s) { s.temporal_options.hysteresis = 1; }},
      {"postprocess.refine.radius", [](SegmenterOptions& s) { s.refine_options.radius = 0; }},
      {"postprocess.refine.eps", [](SegmenterOptions& s) { s.refine_options.eps = 0; }},
      {"postprocess.refine.subsample", [](SegmenterOptions& s) { s.refine_options.subsample = 0; }},
  };
  for (const Bad& b : bad) {
    SegmenterOptions x = PostOptions(model_);
    b.set(x);
    Status v = ValidateSegmenterOptions(x);
    EXPECT_EQ(v.code(), StatusCode::kInvalidArgument) << b.key;
    EXPECT_NE(v.message().find(b.key), std::string::npos) << v.ToString();
  }
}

}  // namespace
}  // namespace vrseg
