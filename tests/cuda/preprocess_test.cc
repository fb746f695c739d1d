// PreprocessBatch against vrseg::Preprocess / PreprocessF16 (the imgproc reference), on random
// and real images, every input format, odd sizes and pitches, both layouts and dtypes, stretch and
// letterbox, in batches written into permuted slots.
#include "vrseg/cuda/preprocess.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda/gpu_test_util.h"
#include "cuda/parity_util.h"

namespace vrseg::cuda {
namespace {

using testing::FloatsClose;

struct Case {
  PixelFormat format;
  int w, h;
  int extra_pitch;
};

// A device tensor of N slots, poisoned with 0xFF bytes (NaN in float32 and float16).
Tensor DeviceTensor(int n, const PreprocessOptions& o, DType dtype) {
  Tensor t;
  t.dtype = dtype;
  t.memory = MemoryKind::kDevice;
  t.shape = o.layout == TensorLayout::kNCHW
                ? std::vector<int64_t>{n, 3, o.out_height, o.out_width}
                : std::vector<int64_t>{n, o.out_height, o.out_width, 3};
  t.storage = testing::DeviceAlloc(t.bytes());
  t.data = t.storage.get();
  cudaMemset(t.data, 0xFF, t.bytes());
  return t;
}

std::vector<float> SlotToHost(const Tensor& t, int slot) {
  const int64_t n = t.slot_bytes() / DTypeSize(t.dtype);
  std::vector<float> out(n);
  if (t.dtype == DType::kFloat32) {
    cudaMemcpy(out.data(), t.slot(slot), t.slot_bytes(), cudaMemcpyDeviceToHost);
  } else {
    std::vector<uint16_t> h(n);
    cudaMemcpy(h.data(), t.slot(slot), t.slot_bytes(), cudaMemcpyDeviceToHost);
    for (int64_t i = 0; i < n; ++i) out[i] = HalfToFloat(h[i]);
  }
  return out;
}

std::vector<float> Reference(const Frame& host, const PreprocessOptions& o, DType dtype) {
  const int64_t n = int64_t{3} * o.out_width * o.out_height;
  std::vector<float> out(n);
  if (dtype == DType::kFloat32) {
    EXPECT_TRUE(Preprocess(host, o, out.data()).ok());
  } else {
    std::vector<uint16_t> h(n);
    EXPECT_TRUE(PreprocessF16(host, o, h.data()).ok());
    for (int64_t i = 0; i < n; ++i) out[i] = HalfToFloat(h[i]);
  }
  return out;
}

// Runs one batch of `cases` and checks each slot against the reference.
void CheckBatch(const std::vector<Frame>& hosts, const std::vector<int>& extra_pitch,
                const PreprocessOptions& o, DType dtype, std::mt19937& rng) {
  const int n = static_cast<int>(hosts.size());
  std::vector<int> slots(n);
  for (int i = 0; i < n; ++i) slots[i] = i;
  std::shuffle(slots.begin(), slots.end(), rng);
  std::vector<PreprocessInput> inputs(n);
  for (int i = 0; i < n; ++i) {
    inputs[i].frame = testing::ToDevice(hosts[i], extra_pitch[i]);
    ASSERT_FALSE(inputs[i].frame.empty());
    inputs[i].slot = slots[i];
  }
  Tensor t = DeviceTensor(n + 1, o, dtype);  // one slot more: must stay untouched
  Status s = PreprocessBatch(inputs, o, t, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_CUDA(cudaDeviceSynchronize());
  // float32: the kernel does the reference's float operations (no FMA contraction), so only the
  // last-bit differences of expf-free arithmetic remain: allow 1e-5 absolute. float16: one ulp.
  const double max_abs = dtype == DType::kFloat32 ? 1e-5 : 4e-3;
  for (int i = 0; i < n; ++i) {
    std::vector<float> got = SlotToHost(t, slots[i]);
    std::vector<float> ref = Reference(hosts[i], o, dtype);
    EXPECT_TRUE(FloatsClose(got, ref, 1e-3, max_abs))
        << PixelFormatName(hosts[i].format) << " " << hosts[i].width << "x" << hosts[i].height
        << " pitch+" << extra_pitch[i] << " -> " << o.out_width << "x" << o.out_height
        << (o.layout == TensorLayout::kNCHW ? " NCHW " : " NHWC ") << DTypeName(dtype)
        << (o.mode == ResizeMode::kLetterbox ? " letterbox" : " stretch")
        << (o.half_pixel ? " half-pixel" : "") << (o.bgr ? " bgr" : "");
  }
  std::vector<uint8_t> spare(t.slot_bytes());
  cudaMemcpy(spare.data(), t.slot(n), spare.size(), cudaMemcpyDeviceToHost);
  for (uint8_t b : spare) ASSERT_EQ(b, 0xFF) << "a slot nobody asked for was written";
}

TEST(PreprocessBatchTest, MatchesReferenceOnRandomFramesOfEveryFormat) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(1234);
  const PixelFormat formats[] = {PixelFormat::kRGB24, PixelFormat::kBGR24, PixelFormat::kRGBA,
                                 PixelFormat::kBGRA,  PixelFormat::kNV12,  PixelFormat::kI420,
                                 PixelFormat::kGray8};
  const int sizes[][2] = {{37, 29}, {1, 1}, {2, 3}, {641, 359}, {300, 1000}, {1280, 720}};
  int iter = 0;
  for (const auto& sz : sizes) {
    for (int layout = 0; layout < 2; ++layout) {
      for (int dt = 0; dt < 2; ++dt) {
        PreprocessOptions o;
        o.out_width = (iter % 3 == 0) ? 256 : 143;
        o.out_height = (iter % 3 == 0) ? 256 : 77;
        o.layout = layout ? TensorLayout::kNCHW : TensorLayout::kNHWC;
        o.bgr = iter % 2;
        o.half_pixel = (iter / 2) % 2;
        o.mode = (iter / 4) % 2 ? ResizeMode::kLetterbox : ResizeMode::kStretch;
        o.mean = {0.485f, 0.456f, 0.406f};
        o.std = {0.229f, 0.224f, 0.225f};
        std::vector<Frame> hosts;
        std::vector<int> extra;
        for (PixelFormat f : formats) {
          hosts.push_back(testing::RandomHostFrame(f, sz[0], sz[1], rng, iter % 5));
          hosts.back().index = iter;
          // colour: limited BT.601/709 by height (unspecified), full range BT.2020 on some
          if (iter % 3 == 2) hosts.back().color = ColorInfo{2, 9, 14, 9};
          extra.push_back((iter * 7 + static_cast<int>(f)) % 13);
        }
        CheckBatch(hosts, extra, o, dt ? DType::kFloat16 : DType::kFloat32, rng);
        ++iter;
      }
    }
  }
}

// ToRgb24Device is bit-exact with imgproc's ToRgb24 for every format, odd sizes and pitches, and
// both YUV ranges / matrices.
TEST(ToRgb24DeviceTest, MatchesReferenceOnEveryFormat) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(77);
  const PixelFormat formats[] = {PixelFormat::kRGB24, PixelFormat::kBGR24, PixelFormat::kRGBA,
                                 PixelFormat::kBGRA,  PixelFormat::kNV12,  PixelFormat::kI420,
                                 PixelFormat::kGray8};
  const int sizes[][2] = {{1, 1}, {37, 29}, {641, 359}, {1280, 720}};
  int iter = 0;
  for (const auto& sz : sizes) {
    for (PixelFormat f : formats) {
      Frame host = testing::RandomHostFrame(f, sz[0], sz[1], rng, iter % 5);
      if (iter % 2) host.color = ColorInfo{2, 9, 14, 9};  // full range BT.2020
      Frame want;
      ASSERT_TRUE(ToRgb24(host, &want).ok());
      Frame dev = testing::ToDevice(host, iter % 7);
      Frame out = testing::DeviceFrame(PixelFormat::kRGB24, sz[0], sz[1], iter % 3);
      ASSERT_TRUE(ToRgb24Device(dev, &out, nullptr).ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_TRUE(testing::BytesClose(testing::ToHost(out), want, 0))
          << PixelFormatName(f) << " " << sz[0] << "x" << sz[1];
      ++iter;
    }
  }
  Frame host = testing::RandomHostFrame(PixelFormat::kNV12, 8, 8, rng);
  Frame out = testing::DeviceFrame(PixelFormat::kRGB24, 8, 8);
  EXPECT_EQ(ToRgb24Device(host, &out, nullptr).code(), StatusCode::kInvalidArgument);
  Frame small = testing::DeviceFrame(PixelFormat::kRGB24, 4, 8);
  EXPECT_EQ(ToRgb24Device(testing::ToDevice(host), &small, nullptr).code(),
            StatusCode::kInvalidArgument);
}

TEST(PreprocessBatchTest, MatchesReferenceOnRealImagesAndLargeBatches) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(99);
  Frame rgb = testing::LoadRaw("grace_hopper_301x353.rgb", PixelFormat::kRGB24, 301, 353);
  Frame nv12 = testing::LoadRaw("astronaut_302x302.nv12", PixelFormat::kNV12, 302, 302);
  ASSERT_FALSE(rgb.empty());
  ASSERT_FALSE(nv12.empty());
  nv12.color = ColorInfo{1, 6, 6, 6};  // what FFmpeg wrote: limited-range BT.601
  PreprocessOptions o;
  o.out_width = 256;
  o.out_height = 144;
  // 37 entries: three launches of up to kMaxPreprocessPerLaunch.
  std::vector<Frame> hosts;
  std::vector<int> extra;
  for (int i = 0; i < 37; ++i) {
    hosts.push_back(i % 2 ? rgb : nv12);
    extra.push_back(i % 4);
  }
  CheckBatch(hosts, extra, o, DType::kFloat32, rng);
  o.mode = ResizeMode::kLetterbox;
  o.layout = TensorLayout::kNCHW;
  CheckBatch(hosts, extra, o, DType::kFloat16, rng);
}

TEST(PreprocessBatchTest, CropsAndStereoViewsMatchTheReferenceOnViews) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(5);
  Frame host = testing::RandomHostFrame(PixelFormat::kNV12, 644, 364, rng, 3);
  Frame dev = testing::ToDevice(host, 5);
  PreprocessOptions o;
  o.out_width = 160;
  o.out_height = 96;
  for (StereoLayout layout : {StereoLayout::kSideBySide, StereoLayout::kTopBottom}) {
    auto inputs = StereoInputs(dev, layout, 0);
    ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
    Tensor t = DeviceTensor(2, o, DType::kFloat32);
    ASSERT_TRUE(PreprocessBatch(*inputs, o, t, nullptr).ok());
    Frame hl, hr;
    ASSERT_TRUE(SplitStereo(host, layout, &hl, &hr).ok());
    EXPECT_TRUE(FloatsClose(SlotToHost(t, 0), Reference(hl, o, DType::kFloat32), 1e-3, 1e-5));
    EXPECT_TRUE(FloatsClose(SlotToHost(t, 1), Reference(hr, o, DType::kFloat32), 1e-3, 1e-5));
  }
  // An explicit crop with an odd origin: chroma keeps the frame's siting. Reference: the same
  // crop as a host view, chroma compared through an I420-free path (RGB24 frame).
  Frame rgb = testing::RandomHostFrame(PixelFormat::kRGB24, 101, 77, rng, 1);
  PreprocessInput in;
  in.frame = testing::ToDevice(rgb, 2);
  in.crop_x = 13;
  in.crop_y = 7;
  in.crop_width = 61;
  in.crop_height = 43;
  Frame view = Frame::Wrap(PixelFormat::kRGB24, 61, 43, rgb.data[0] + 7 * rgb.pitch[0] + 13 * 3,
                           rgb.pitch[0]);
  Tensor t = DeviceTensor(1, o, DType::kFloat32);
  ASSERT_TRUE(PreprocessBatch({in}, o, t, nullptr).ok());
  EXPECT_TRUE(FloatsClose(SlotToHost(t, 0), Reference(view, o, DType::kFloat32), 1e-3, 1e-5));
}

// Argument checks happen before any CUDA call: these run everywhere.
TEST(PreprocessBatchTest, RejectsBadArguments) {
  PreprocessOptions o;
  o.out_width = 8;
  o.out_height = 8;
  alignas(16) static uint8_t fake[4096];
  Tensor t;
  t.memory = MemoryKind::kDevice;
  t.data = fake;
  t.shape = {2, 8, 8, 3};
  PreprocessInput in;
  in.frame = Frame::Wrap(PixelFormat::kRGB24, 4, 4, fake, 12);
  in.frame.memory = MemoryKind::kDevice;
  in.frame.index = 77;

  auto code = [&](const std::vector<PreprocessInput>& v, const PreprocessOptions& oo,
                  const Tensor& tt) { return PreprocessBatch(v, oo, tt, nullptr).code(); };
  PreprocessInput host = in;
  host.frame.memory = MemoryKind::kHost;
  Status s = PreprocessBatch({host}, o, t, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("frame 77"), std::string::npos) << s.message();
  PreprocessInput f32 = in;
  f32.frame.format = PixelFormat::kGrayF32;
  EXPECT_EQ(code({f32}, o, t), StatusCode::kUnsupported);
  PreprocessInput bad_pitch = in;
  bad_pitch.frame.pitch[0] = 11;
  EXPECT_EQ(code({bad_pitch}, o, t), StatusCode::kInvalidArgument);
  PreprocessInput crop = in;
  crop.crop_x = 2;
  crop.crop_width = 3;
  EXPECT_EQ(code({crop}, o, t), StatusCode::kInvalidArgument);
  PreprocessInput slot = in;
  slot.slot = 2;
  EXPECT_EQ(code({slot}, o, t), StatusCode::kInvalidArgument);
  Tensor shape = t;
  shape.shape = {2, 3, 8, 8};
  s = PreprocessBatch({in}, o, shape, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[2,3,8,8]"), std::string::npos) << s.message();
  Tensor host_t = t;
  host_t.memory = MemoryKind::kHost;
  EXPECT_EQ(code({in}, o, host_t), StatusCode::kInvalidArgument);
  Tensor i8 = t;
  i8.dtype = DType::kUInt8;
  EXPECT_EQ(code({in}, o, i8), StatusCode::kInvalidArgument);
  PreprocessOptions zero_std = o;
  zero_std.std[1] = 0.f;
  EXPECT_EQ(code({in}, zero_std, t), StatusCode::kInvalidArgument);
  PreprocessOptions no_size = o;
  no_size.out_width = 0;
  EXPECT_EQ(code({in}, no_size, t), StatusCode::kInvalidArgument);
  PreprocessInput yuv = in;
  yuv.frame = Frame::Wrap(PixelFormat::kNV12, 4, 4, fake, 4);
  yuv.frame.data[1] = fake + 64;
  yuv.frame.pitch[1] = 4;
  yuv.frame.memory = MemoryKind::kDevice;
  yuv.frame.color.matrix = 4;  // FCC: not supported by the reference either
  EXPECT_EQ(code({yuv}, o, t), StatusCode::kUnsupported);
  Frame tiny = Frame::Wrap(PixelFormat::kRGB24, 1, 4, fake, 3);
  tiny.memory = MemoryKind::kDevice;
  EXPECT_EQ(StereoInputs(tiny, StereoLayout::kSideBySide, 0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(PreprocessBatch({}, o, t, nullptr).ok());  // nothing to do
}

}  // namespace
}  // namespace vrseg::cuda
