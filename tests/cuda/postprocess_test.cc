// PostprocessBatch against ProbabilityFromOutput + UpsampleMask (+ SmoothTemporal, MergeStereo).
#include "vrseg/cuda/postprocess.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/gpu_test_util.h"
#include "cuda/parity_util.h"

namespace vrseg::cuda {
namespace {

using testing::BytesClose;

struct Slot {
  std::vector<float> host;        // what the reference reads (fp16-rounded for fp16 slots)
  std::shared_ptr<void> device;
};

Slot MakeSlot(const PostprocessOptions& o, DType dtype, std::mt19937& rng) {
  const int64_t n = int64_t{o.model_width} * o.model_height * o.channels;
  std::uniform_real_distribution<float> logit(-6.f, 6.f), prob(-0.1f, 1.1f);
  const bool p = o.kind == OutputKind::kSigmoidProbability || o.kind == OutputKind::kAlphaMatte;
  Slot s;
  s.host.resize(n);
  for (auto& v : s.host) v = p ? prob(rng) : logit(rng);
  if (dtype == DType::kFloat16) {
    std::vector<uint16_t> h(n);
    for (int64_t i = 0; i < n; ++i) {
      h[i] = FloatToHalf(s.host[i]);
      s.host[i] = HalfToFloat(h[i]);
    }
    s.device = testing::DeviceAlloc(n * 2);
    cudaMemcpy(s.device.get(), h.data(), n * 2, cudaMemcpyHostToDevice);
  } else {
    s.device = testing::DeviceAlloc(n * 4);
    cudaMemcpy(s.device.get(), s.host.data(), n * 4, cudaMemcpyHostToDevice);
  }
  return s;
}

Frame HostGray(int w, int h) { return std::move(Frame::Allocate(PixelFormat::kGray8, w, h)).value(); }

TEST(PostprocessBatchTest, MatchesReferenceForEveryKindLayoutAndDtype) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(42);
  struct K {
    OutputKind kind;
    int channels, person;
  };
  const K kinds[] = {{OutputKind::kSigmoidProbability, 1, 0}, {OutputKind::kSigmoidLogit, 1, 0},
                     {OutputKind::kTwoClassLogits, 2, 1},     {OutputKind::kTwoClassLogits, 2, 0},
                     {OutputKind::kClassLogits, 5, 3},        {OutputKind::kAlphaMatte, 1, 0}};
  const int masks[][2] = {{1920, 1080}, {641, 359}, {33, 17}, {100, 300}};
  int iter = 0;
  for (const K& k : kinds) {
    for (int layout = 0; layout < 2; ++layout) {
      for (int dt = 0; dt < 2; ++dt, ++iter) {
        PostprocessGpuOptions g;
        g.post.kind = k.kind;
        g.post.channels = k.channels;
        g.post.person_channel = k.person;
        g.post.layout = layout ? TensorLayout::kNCHW : TensorLayout::kNHWC;
        g.post.model_width = iter % 2 ? 256 : 143;
        g.post.model_height = iter % 2 ? 144 : 77;
        if (iter % 3 == 1) g.post.roi = {5, 9, g.post.model_width - 11, g.post.model_height - 20};
        g.post.threshold = iter % 4 == 3;
        g.post.threshold_value = 0.4f;
        g.slot_dtype = dt ? DType::kFloat16 : DType::kFloat32;
        std::vector<Slot> slots;
        std::vector<PostprocessJob> jobs;
        for (const auto& m : masks) {
          slots.push_back(MakeSlot(g.post, g.slot_dtype, rng));
          PostprocessJob j;
          j.slot = slots.back().device.get();
          j.mask = testing::DeviceFrame(PixelFormat::kGray8, m[0], m[1], (iter + m[0]) % 7);
          jobs.push_back(j);
        }
        ASSERT_TRUE(PostprocessBatch(jobs, g, nullptr).ok());
        ASSERT_CUDA(cudaDeviceSynchronize());
        for (size_t i = 0; i < jobs.size(); ++i) {
          Frame ref = HostGray(jobs[i].mask.width, jobs[i].mask.height);
          ASSERT_TRUE(Postprocess(slots[i].host.data(), g.post, &ref).ok());
          Frame got = testing::ToHost(jobs[i].mask);
          int64_t differing = 0;
          const std::string what = "kind " + std::to_string(static_cast<int>(k.kind)) + " " +
                                   (layout ? "NCHW " : "NHWC ") + DTypeName(g.slot_dtype) + " " +
                                   std::to_string(ref.width) + "x" + std::to_string(ref.height) +
                                   (g.post.threshold ? " threshold" : " soft");
          if (g.post.threshold) {
            // A flip needs a probability within float rounding of the threshold: allow a handful.
            BytesClose(got, ref, 255, &differing);
            EXPECT_LE(differing, 3) << what;
          } else {
            EXPECT_TRUE(BytesClose(got, ref, 1, &differing)) << what;
            EXPECT_LE(differing, ref.width * ref.height / 1000 + 2) << what;
          }
        }
      }
    }
  }
}

TEST(PostprocessBatchTest, TemporalSmoothingMatchesSmoothTemporal) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(7);
  PostprocessGpuOptions g;
  g.post.kind = OutputKind::kSigmoidLogit;
  g.post.model_width = 256;
  g.post.model_height = 256;
  g.temporal = true;
  g.temporal_options.factor = 0.6f;
  g.temporal_options.hysteresis = 0.03f;
  const int W = 643, H = 481;
  Frame prev_host = testing::RandomHostFrame(PixelFormat::kGray8, W, H, rng);
  // Separate output, then in place (previous == mask), then no previous (first frame).
  for (int mode = 0; mode < 3; ++mode) {
    Slot s = MakeSlot(g.post, DType::kFloat32, rng);
    PostprocessJob j;
    j.slot = s.device.get();
    Frame prev_dev = testing::ToDevice(prev_host, 3);
    j.mask = mode == 1 ? prev_dev : testing::DeviceFrame(PixelFormat::kGray8, W, H, 1);
    if (mode != 2) j.previous = prev_dev;
    ASSERT_TRUE(PostprocessBatch({j}, g, nullptr).ok());
    Frame cur = HostGray(W, H), ref;
    ASSERT_TRUE(Postprocess(s.host.data(), g.post, &cur).ok());
    ASSERT_TRUE(SmoothTemporal(cur, mode == 2 ? Frame{} : prev_host, g.temporal_options, &ref).ok());
    int64_t differing = 0;
    EXPECT_TRUE(BytesClose(testing::ToHost(j.mask), ref, 1, &differing)) << "mode " << mode;
    EXPECT_LE(differing, W * H / 1000 + 2) << "mode " << mode;
  }
}

TEST(PostprocessBatchTest, StereoMasksLandInTheirViewsLikeMergeStereo) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(11);
  PostprocessGpuOptions g;
  g.post.kind = OutputKind::kTwoClassLogits;
  g.post.channels = 2;
  g.post.person_channel = 1;
  g.post.model_width = 256;
  g.post.model_height = 144;
  for (StereoLayout layout : {StereoLayout::kSideBySide, StereoLayout::kTopBottom}) {
    const int W = 1283, H = 721;  // odd: the second view is one column/row larger
    Frame full = testing::DeviceFrame(PixelFormat::kGray8, W, H, 9);
    Frame lv, rv;
    ASSERT_TRUE(SplitStereo(full, layout, &lv, &rv).ok());
    Slot a = MakeSlot(g.post, DType::kFloat32, rng), b = MakeSlot(g.post, DType::kFloat32, rng);
    PostprocessJob ja{a.device.get(), lv, {}}, jb{b.device.get(), rv, {}};
    ASSERT_TRUE(PostprocessBatch({ja, jb}, g, nullptr).ok());
    Frame ml = HostGray(lv.width, lv.height), mr = HostGray(rv.width, rv.height), merged;
    ASSERT_TRUE(Postprocess(a.host.data(), g.post, &ml).ok());
    ASSERT_TRUE(Postprocess(b.host.data(), g.post, &mr).ok());
    ASSERT_TRUE(MergeStereo(ml, mr, layout, &merged).ok());
    EXPECT_TRUE(BytesClose(testing::ToHost(full), merged, 1));
  }
}

TEST(PostprocessBatchTest, RejectsBadArguments) {
  alignas(16) static uint8_t fake[1024];
  PostprocessGpuOptions g;
  g.post.model_width = 4;
  g.post.model_height = 4;
  PostprocessJob j;
  j.slot = fake;
  j.mask = Frame::Wrap(PixelFormat::kGray8, 8, 8, fake, 8);
  j.mask.memory = MemoryKind::kDevice;
  j.mask.index = 31;
  auto code = [&](const PostprocessJob& jj, const PostprocessGpuOptions& gg) {
    return PostprocessBatch({jj}, gg, nullptr).code();
  };
  PostprocessJob host = j;
  host.mask.memory = MemoryKind::kHost;
  Status s = PostprocessBatch({host}, g, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("frame 31"), std::string::npos) << s.message();
  PostprocessJob rgb = j;
  rgb.mask.format = PixelFormat::kRGB24;
  EXPECT_EQ(code(rgb, g), StatusCode::kInvalidArgument);
  PostprocessJob null_slot = j;
  null_slot.slot = nullptr;
  EXPECT_EQ(code(null_slot, g), StatusCode::kInvalidArgument);
  PostprocessGpuOptions bad = g;
  bad.post.channels = 2;  // sigmoid needs 1
  EXPECT_EQ(code(j, bad), StatusCode::kInvalidArgument);
  bad = g;
  bad.post.kind = OutputKind::kClassLogits;
  bad.post.channels = 3;
  bad.post.person_channel = 3;
  EXPECT_EQ(code(j, bad), StatusCode::kInvalidArgument);
  bad = g;
  bad.post.roi = {2, 2, 4, 4};
  EXPECT_EQ(code(j, bad), StatusCode::kInvalidArgument);
  bad = g;
  bad.slot_dtype = DType::kInt32;
  EXPECT_EQ(code(j, bad), StatusCode::kInvalidArgument);
  bad = g;
  bad.temporal = true;
  bad.temporal_options.factor = 0.f;
  EXPECT_EQ(code(j, bad), StatusCode::kInvalidArgument);
  bad = g;
  bad.temporal = true;
  PostprocessJob small_prev = j;
  small_prev.previous = Frame::Wrap(PixelFormat::kGray8, 4, 8, fake, 8);
  small_prev.previous.memory = MemoryKind::kDevice;
  EXPECT_EQ(code(small_prev, bad), StatusCode::kInvalidArgument);
  bad = g;
  bad.post.model_width = 0;
  EXPECT_EQ(code(j, bad), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrseg::cuda
