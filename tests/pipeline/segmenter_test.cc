// Segmenter against the pipeline-free single-frame path (imgproc Preprocess → Backend::Run(1) →
// Postprocess, one frame at a time, with a separate backend), on real photos and the selfie model
// converted from its TF.js files for this test; files in and out through FFmpeg.
#include "vrseg/segmenter.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
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

}  // namespace
}  // namespace vrseg
