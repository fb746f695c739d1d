// GpuFramePath: option and input checks (everywhere), and on a GPU whole frame sequences pushed
// back to back with several frames in flight against the CPU references (imgproc Preprocess →
// stand-in model → Postprocess → Compositor / RgbToNv12), pool bounds, backpressure and ordering.
//
// The stand-in "model" copies channel 0 of each NHWC float32 input slot into the output slot (a
// strided cudaMemcpy2DAsync on the compute stream, exact), so the mask is the preprocessed red
// channel: every frame's mask depends on that frame's pixels, and a frame mixed up with another
// (a slot, event or stream-order bug) shows as a wrong mask.
#include "vrseg/cuda/frame_path.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <random>
#include <vector>

#include "cuda/gpu_test_util.h"
#include "cuda/parity_util.h"

namespace vrseg::cuda {
namespace {

using testing::BytesClose;

Frame Alloc(PixelFormat f, int w, int h) { return std::move(Frame::Allocate(f, w, h)).value(); }

// The reference of an RGBA composite: the RGB24 composite with alpha 255.
Frame OpaqueRgba(const Frame& rgb) {
  Frame opaque = Alloc(PixelFormat::kGray8, rgb.width, rgb.height);
  for (int y = 0; y < rgb.height; ++y) {
    std::memset(opaque.data[0] + y * opaque.pitch[0], 255, rgb.width);
  }
  Frame out = Alloc(PixelFormat::kRGBA, rgb.width, rgb.height);
  EXPECT_TRUE(MakeRgba(rgb, opaque, &out).ok());
  return out;
}

FramePathOptions BasicOptions(int model_w = 57, int model_h = 41) {
  FramePathOptions o;
  o.preprocess.out_width = model_w;
  o.preprocess.out_height = model_h;
  o.preprocess.layout = TensorLayout::kNHWC;
  o.postprocess.post.kind = OutputKind::kSigmoidProbability;
  o.postprocess.post.model_width = model_w;
  o.postprocess.post.model_height = model_h;
  o.postprocess.post.channels = 1;
  return o;
}

// A fake device tensor for checks that make no CUDA call.
Tensor FakeDeviceTensor(const FramePathOptions& o, int batch) {
  Tensor t;
  t.data = reinterpret_cast<void*>(uintptr_t{0x1000});
  t.dtype = DType::kFloat32;
  t.memory = MemoryKind::kDevice;
  t.shape = {batch, o.preprocess.out_height, o.preprocess.out_width, 3};
  return t;
}

// ---- everywhere (no CUDA call is made) ------------------------------------------------------

TEST(FramePathOptionsTest, CreateRejectsBadOptionsNamingTheField) {
  struct Case {
    const char* field;
    StatusCode code;
    void (*edit)(FramePathOptions&);
  };
  const Case cases[] = {
      {"slots", StatusCode::kInvalidArgument, [](FramePathOptions& o) { o.slots = 0; }},
      {"slots", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.slots = kMaxFramePathSlots + 1; }},
      {"out_width", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.preprocess.out_width = 0; }},
      {"std[1]", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.preprocess.std[1] = 0.f; }},
      {"model_width", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.postprocess.post.model_height = -3; }},
      {"slot_dtype", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.postprocess.slot_dtype = DType::kUInt8; }},
      {"temporal", StatusCode::kUnsupported,
       [](FramePathOptions& o) { o.postprocess.temporal = true; }},
      {"download_mask", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.download_mask = false; }},
      {"composite_format", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) {
         o.composite = true;
         o.composite_format = PixelFormat::kGray8;
       }},
      {"composite_alpha", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) {
         o.composite = true;
         o.composite_alpha = true;
         o.composite_format = PixelFormat::kRGB24;
       }},
      {"pinned_max_bytes", StatusCode::kInvalidArgument,
       [](FramePathOptions& o) { o.pinned_max_bytes = 0; }},
  };
  for (const Case& c : cases) {
    FramePathOptions o = BasicOptions();
    c.edit(o);
    auto r = GpuFramePath::Create(o);
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_EQ(r.status().code(), c.code) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.field), std::string::npos) << r.status().ToString();
  }
}

TEST(FramePathOptionsTest, CreateWithoutDeviceIsUnavailable) {
  if (DeviceCount() > 0)
    GTEST_SKIP()
        << "this machine has a CUDA device; the no-device answer is tested where there is none";
  auto r = GpuFramePath::Create(BasicOptions());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(FramePathOptionsTest, CheckSubmitRejectsBadInputNamingFrameAndField) {
  std::mt19937 rng(1);
  const FramePathOptions o = BasicOptions();
  const Tensor t = FakeDeviceTensor(o, 4);
  Frame good = testing::RandomHostFrame(PixelFormat::kNV12, 31, 17, rng, 3);
  good.index = 7;
  ASSERT_TRUE(GpuFramePath::CheckSubmit(o, good, t, 3, {}).ok());

  auto expect = [&](const Frame& f, const Tensor& tensor, int64_t slot, const SubmitOptions& so,
                    StatusCode code, const char* needle) {
    Status s = GpuFramePath::CheckSubmit(o, f, tensor, slot, so);
    EXPECT_EQ(s.code(), code) << needle << ": " << s.ToString();
    EXPECT_NE(s.message().find(needle), std::string::npos) << s.ToString();
    EXPECT_NE(s.message().find("frame 7"), std::string::npos) << s.ToString();
  };
  Frame empty;
  empty.index = 7;
  expect(empty, t, 0, {}, StatusCode::kInvalidArgument, "empty");
  Frame f32 = good;
  f32.format = PixelFormat::kGrayF32;
  expect(f32, t, 0, {}, StatusCode::kUnsupported, "grayf32");
  Frame narrow = good;
  narrow.pitch[1] = 30;  // NV12 chroma row of a 31-wide frame is 32 bytes
  expect(narrow, t, 0, {}, StatusCode::kInvalidArgument, "pitch[1]");
  Frame no_chroma = good;
  no_chroma.data[1] = nullptr;
  expect(no_chroma, t, 0, {}, StatusCode::kInvalidArgument, "plane 1");
  Frame zero = good;
  zero.width = 0;
  expect(zero, t, 0, {}, StatusCode::kInvalidArgument, "size");
  SubmitOptions ready;
  ready.ready = reinterpret_cast<cudaEvent_t>(uintptr_t{0x10});
  expect(good, t, 0, ready, StatusCode::kInvalidArgument, "ready");
  Tensor host = t;
  host.memory = MemoryKind::kHost;
  expect(good, host, 0, {}, StatusCode::kInvalidArgument, "not device memory");
  Tensor wrong_dtype = t;
  wrong_dtype.dtype = DType::kInt32;
  expect(good, wrong_dtype, 0, {}, StatusCode::kInvalidArgument, "dtype");
  Tensor nchw = t;
  nchw.shape = {4, 3, 41, 57};
  expect(good, nchw, 0, {}, StatusCode::kInvalidArgument, "shape");
  Tensor three_d = t;
  three_d.shape = {41, 57, 3};
  expect(good, three_d, 0, {}, StatusCode::kInvalidArgument, "shape");
  expect(good, t, 4, {}, StatusCode::kInvalidArgument, "slot 4");
  expect(good, t, -1, {}, StatusCode::kInvalidArgument, "slot -1");
  // Compositing takes frames of every format (converted to RGB24 on the device).
  FramePathOptions oc = o;
  oc.composite = true;
  EXPECT_TRUE(GpuFramePath::CheckSubmit(oc, good, t, 0, {}).ok());
  Frame rgb = testing::RandomHostFrame(PixelFormat::kRGB24, 5, 3, rng);
  EXPECT_TRUE(GpuFramePath::CheckSubmit(oc, rgb, t, 0, {}).ok());
}

// ---- on a GPU ----------------------------------------------------------------------------------

struct DeviceTensors {
  std::shared_ptr<void> in_mem, out_mem;
  Tensor in;
  float* out = nullptr;
  int batch = 0, hw = 0;
};

DeviceTensors MakeTensors(const FramePathOptions& o, int batch) {
  DeviceTensors d;
  d.batch = batch;
  d.hw = o.preprocess.out_width * o.preprocess.out_height;
  d.in_mem = testing::DeviceAlloc(size_t{4} * 3 * d.hw * batch);
  d.out_mem = testing::DeviceAlloc(size_t{4} * d.hw * batch);
  d.in.data = d.in_mem.get();
  d.in.dtype = DType::kFloat32;
  d.in.memory = MemoryKind::kDevice;
  d.in.shape = {batch, o.preprocess.out_height, o.preprocess.out_width, 3};
  d.out = static_cast<float*>(d.out_mem.get());
  return d;
}

// The stand-in model on the path's compute stream: output slot = channel 0 of the input slot.
Status RunStandInModel(const DeviceTensors& d, int slot, cudaStream_t s) {
  const auto* in = static_cast<const uint8_t*>(d.in.data) + size_t{12} * d.hw * slot;
  return CudaCheck(cudaMemcpy2DAsync(d.out + size_t{1} * d.hw * slot, 4, in, 12, 4,
                                     static_cast<size_t>(d.hw), cudaMemcpyDeviceToDevice, s),
                   "stand-in model copy", __FILE__, __LINE__);
}

// CPU reference mask for `frame`: Preprocess → channel 0 → Postprocess (ROI from the letterbox).
Frame ReferenceMask(const Frame& frame, const FramePathOptions& o) {
  const int hw = o.preprocess.out_width * o.preprocess.out_height;
  std::vector<float> input(size_t{3} * hw), slot(hw);
  Status s = Preprocess(frame, o.preprocess, input.data());
  EXPECT_TRUE(s.ok()) << s.ToString();
  for (int i = 0; i < hw; ++i) slot[i] = input[3 * i];
  PostprocessOptions post = o.postprocess.post;
  if (o.preprocess.mode == ResizeMode::kLetterbox)
    post.roi = LetterboxFor(frame.width, frame.height, o.preprocess);
  Frame mask = Alloc(PixelFormat::kGray8, frame.width, frame.height);
  s = Postprocess(slot.data(), post, &mask);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return mask;
}

// A copy of host frame `h` in pinned memory with pitches row + extra.
Frame ToPinned(const Frame& h, int extra) {
  Frame p = h;
  p.memory = MemoryKind::kPinnedHost;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int i = 0; i < PlaneCount(h.format); ++i) {
    p.pitch[i] = PlaneRowBytes(h.format, h.width, i) + extra;
    off[i] = total;
    total += p.pitch[i] * PlaneRows(h.format, h.height, i);
  }
  void* mem = nullptr;
  if (cudaHostAlloc(&mem, static_cast<size_t>(total), cudaHostAllocDefault) != cudaSuccess)
    return Frame{};
  p.storage = std::shared_ptr<void>(mem, [](void* q) { cudaFreeHost(q); });
  for (int i = 0; i < PlaneCount(h.format); ++i) {
    p.data[i] = static_cast<uint8_t*>(mem) + off[i];
    for (int y = 0; y < PlaneRows(h.format, h.height, i); ++y) {
      std::memcpy(p.data[i] + y * p.pitch[i], h.data[i] + y * h.pitch[i],
                  static_cast<size_t>(PlaneRowBytes(h.format, h.width, i)));
    }
  }
  return p;
}

struct Pushed {
  Frame host;  // the reference's input
  int64_t sequence;
};

TEST(GpuFramePathTest, SequenceOfMixedFramesMatchesCpuReferenceWithFramesInFlight) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(11);
  FramePathOptions o = BasicOptions(57, 41);
  o.preprocess.mean = {0.f, 0.f, 0.f};
  o.slots = 3;
  auto path_r = GpuFramePath::Create(o);
  ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
  GpuFramePath& path = **path_r;
  DeviceTensors dt = MakeTensors(o, 4);
  ASSERT_TRUE(dt.in_mem && dt.out_mem);
  cudaStream_t producer;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking));
  cudaEvent_t ready;
  ASSERT_CUDA(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));

  const PixelFormat formats[] = {PixelFormat::kNV12, PixelFormat::kI420,  PixelFormat::kRGB24,
                                 PixelFormat::kRGBA, PixelFormat::kBGR24, PixelFormat::kGray8,
                                 PixelFormat::kBGRA};
  const int sizes[][2] = {{97, 61}, {64, 64},   {33, 17}, {160, 90},
                          {3, 5},   {255, 129}, {1, 1},   {58, 42}};
  const int kFrames = 28;
  std::deque<Pushed> pending_finish, pending_collect;
  std::vector<Frame> keep_device;  // device inputs must live until collected
  int max_in_flight = 0, checked = 0;
  auto collect_one = [&] {
    auto r = path.Wait();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_FALSE(pending_collect.empty());
    Pushed p = pending_collect.front();
    pending_collect.pop_front();
    EXPECT_EQ(r->sequence, p.sequence);
    EXPECT_EQ(r->mask.index, p.host.index) << "result handed back out of order";
    EXPECT_EQ(r->mask.memory, MemoryKind::kPinnedHost);
    Frame want = ReferenceMask(p.host, o);
    int64_t differing = 0;
    EXPECT_TRUE(BytesClose(r->mask, want, 1, &differing))
        << "frame " << p.host.index << " " << PixelFormatName(p.host.format) << " " << p.host.width
        << "x" << p.host.height;
    ++checked;
  };
  auto finish_pending = [&] {
    while (!pending_finish.empty()) {
      Pushed p = pending_finish.front();
      pending_finish.pop_front();
      ASSERT_TRUE(
          RunStandInModel(dt, static_cast<int>(p.sequence % 4), path.compute_stream()).ok());
      Status s = path.Finish(p.sequence, dt.out + size_t{1} * dt.hw * (p.sequence % 4));
      ASSERT_TRUE(s.ok()) << s.ToString();
      pending_collect.push_back(p);
    }
  };
  for (int k = 0; k < kFrames; ++k) {
    const PixelFormat f = formats[k % 7];
    const int w = sizes[k % 8][0], h = sizes[k % 8][1];
    Frame host = testing::RandomHostFrame(f, w, h, rng, k % 5);
    host.index = k;
    host.stream_id = 2;
    host.pts = 1000 + k;
    Frame submit_frame = host;
    SubmitOptions so;
    if (k % 3 == 1) {
      submit_frame = ToPinned(host, (k % 4) * 3);
      ASSERT_FALSE(submit_frame.empty());
    } else if (k % 3 == 2) {
      // A device frame written on another stream; the path waits on its event.
      Frame d = testing::DeviceFrame(f, w, h, k % 7);
      ASSERT_FALSE(d.empty());
      for (int p = 0; p < PlaneCount(f); ++p) {
        ASSERT_CUDA(cudaMemcpy2DAsync(d.data[p], d.pitch[p], host.data[p], host.pitch[p],
                                      PlaneRowBytes(f, w, p), PlaneRows(f, h, p),
                                      cudaMemcpyHostToDevice, producer));
      }
      ASSERT_CUDA(cudaEventRecord(ready, producer));
      d.CopyMetadataFrom(host);
      submit_frame = d;
      so.ready = ready;
      keep_device.push_back(d);
    }
    if (path.in_flight() == o.slots) {
      finish_pending();
      collect_one();
    }
    auto seq = path.Submit(submit_frame, dt.in, k % 4, so);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    EXPECT_EQ(*seq, k);
    pending_finish.push_back({host, *seq});
    max_in_flight = std::max(max_in_flight, path.in_flight());
    if (k % 2 == 1) finish_pending();  // sometimes two submits before their finishes
  }
  finish_pending();
  while (!pending_collect.empty()) collect_one();
  EXPECT_EQ(checked, kFrames);
  EXPECT_EQ(max_in_flight, o.slots);
  EXPECT_EQ(path.in_flight(), 0);
  const FramePathStats st = path.stats();
  EXPECT_EQ(st.submitted, kFrames);
  EXPECT_EQ(st.collected, kFrames);
  EXPECT_EQ(st.uploads, kFrames - kFrames / 3);
  cudaEventDestroy(ready);
  cudaStreamDestroy(producer);
}

// Large frames make the copies long (a 4K RGBA upload is 33 MB, ~0.6 ms) next to kernels of a
// few microseconds, so a missing event wait (compute not waiting for the upload, the download not
// waiting for postprocessing) would read stale pixels or a stale mask and show as a wrong frame.
// Consecutive frames differ everywhere (fresh random content), and the same slots are reused.
TEST(GpuFramePathTest, LargeFramesKeepStreamOrder) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(21);
  FramePathOptions o = BasicOptions(64, 36);
  o.slots = 2;
  auto path_r = GpuFramePath::Create(o);
  ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
  GpuFramePath& path = **path_r;
  DeviceTensors dt = MakeTensors(o, 2);
  std::deque<Frame> sent;
  auto collect = [&] {
    auto r = path.Wait();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const Frame host = sent.front();
    sent.pop_front();
    ASSERT_EQ(r->mask.index, host.index);
    EXPECT_TRUE(BytesClose(r->mask, ReferenceMask(host, o), 1)) << "frame " << host.index;
  };
  for (int k = 0; k < 6; ++k) {
    Frame host = testing::RandomHostFrame(PixelFormat::kRGBA, 3840, 2160, rng, k % 2 ? 12 : 0);
    host.index = k;
    Frame submit_frame = k % 2 ? ToPinned(host, 8) : host;
    ASSERT_FALSE(submit_frame.empty());
    if (path.in_flight() == o.slots) collect();
    auto seq = path.Submit(submit_frame, dt.in, k % 2);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    ASSERT_TRUE(RunStandInModel(dt, k % 2, path.compute_stream()).ok());
    ASSERT_TRUE(path.Finish(*seq, dt.out + size_t{1} * dt.hw * (k % 2)).ok());
    sent.push_back(host);
  }
  while (!sent.empty()) collect();
}

TEST(GpuFramePathTest, CompositeSequenceMatchesCompositorWithLetterbox) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(5);
  for (PixelFormat out_format : {PixelFormat::kRGB24, PixelFormat::kNV12, PixelFormat::kRGBA}) {
    FramePathOptions o = BasicOptions(48, 64);
    o.preprocess.mode = ResizeMode::kLetterbox;
    o.slots = 2;
    o.composite = true;
    o.composite_format = out_format;
    o.composite_options.background =
        out_format == PixelFormat::kRGBA ? BackgroundKind::kBlur : BackgroundKind::kColor;
    o.composite_options.blur_radius = 3;
    o.composite_options.color = {10, 200, 30};
    o.timeline = true;
    auto path_r = GpuFramePath::Create(o);
    ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
    GpuFramePath& path = **path_r;
    DeviceTensors dt = MakeTensors(o, 1);
    Compositor cpu(o.composite_options);
    const int sizes[][2] = {{101, 67}, {64, 48}, {37, 91}, {2, 2}, {129, 77}};
    std::deque<Frame> sent;
    auto collect = [&] {
      auto r = path.Wait();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      const Frame host = sent.front();
      sent.pop_front();
      ASSERT_EQ(r->mask.index, host.index);
      Frame want_mask = ReferenceMask(host, o);
      EXPECT_TRUE(BytesClose(r->mask, want_mask, 1)) << "frame " << host.index;
      // Composite reference from the GPU's own mask (the compositor is bit-exact given a mask).
      Frame ref = Alloc(PixelFormat::kRGB24, host.width, host.height);
      ASSERT_TRUE(cpu.Compose(host, r->mask, &ref).ok());
      Frame want = ref;
      if (out_format == PixelFormat::kNV12) {
        want = Alloc(PixelFormat::kNV12, host.width, host.height);
        ASSERT_TRUE(RgbToNv12(ref, &want).ok());
      } else if (out_format == PixelFormat::kRGBA) {
        want = OpaqueRgba(ref);
      }
      int64_t differing = 0;
      EXPECT_TRUE(BytesClose(r->composite, want, 0, &differing))
          << PixelFormatName(out_format) << " frame " << host.index;
      EXPECT_EQ(r->composite.index, host.index);
      // Timeline: each stage after the one it waits for.
      const FrameTimeline& t = r->timeline;
      EXPECT_GE(t.upload_begin, 0.f);
      EXPECT_LE(t.upload_end, t.preprocess_end);
      EXPECT_LE(t.preprocess_end, t.postprocess_begin);
      EXPECT_LE(t.postprocess_end, t.download_begin + 1e-3f);
      EXPECT_LE(t.download_begin, t.download_end);
    };
    for (int k = 0; k < 20; ++k) {
      Frame host = testing::RandomHostFrame(PixelFormat::kRGB24, sizes[k % 5][0], sizes[k % 5][1],
                                            rng, k % 3);
      host.index = k;
      if (path.in_flight() == o.slots) collect();
      auto seq = path.Submit(host, dt.in, 0);
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      ASSERT_TRUE(RunStandInModel(dt, 0, path.compute_stream()).ok());
      ASSERT_TRUE(path.Finish(*seq, dt.out).ok());
      sent.push_back(host);
    }
    while (!sent.empty()) collect();
  }
}

TEST(GpuFramePathTest, AlphaCompositeOfEveryFormatIsTheFrameWithItsMask) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(9);
  FramePathOptions o = BasicOptions(48, 64);
  o.slots = 2;
  o.composite = true;
  o.composite_alpha = true;
  o.composite_format = PixelFormat::kRGBA;
  auto path_r = GpuFramePath::Create(o);
  ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
  GpuFramePath& path = **path_r;
  DeviceTensors dt = MakeTensors(o, 1);
  const PixelFormat formats[] = {PixelFormat::kRGB24, PixelFormat::kNV12, PixelFormat::kRGBA,
                                 PixelFormat::kI420, PixelFormat::kBGR24, PixelFormat::kGray8};
  for (int k = 0; k < 6; ++k) {
    // Frames that are not RGB24 are converted on the device first: the reference is
    // MakeRgba(ToRgb24(frame), mask).
    Frame host = testing::RandomHostFrame(formats[k], 78 + 10 * k, 46 + 2 * k, rng, k);
    host.index = k;
    auto seq = path.Submit(host, dt.in, 0);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    ASSERT_TRUE(RunStandInModel(dt, 0, path.compute_stream()).ok());
    ASSERT_TRUE(path.Finish(*seq, dt.out).ok());
    auto r = path.Wait();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(BytesClose(r->mask, ReferenceMask(host, o), 1)) << "frame " << k;
    // The CPU reference of the alpha frame, from the GPU's own mask.
    Frame rgb;
    ASSERT_TRUE(ToRgb24(host, &rgb).ok());
    Frame want = Alloc(PixelFormat::kRGBA, host.width, host.height);
    ASSERT_TRUE(MakeRgba(rgb, r->mask, &want).ok());
    EXPECT_TRUE(BytesClose(r->composite, want, 0))
        << "frame " << k << " " << PixelFormatName(formats[k]);
  }
}

// results_on_device: the mask and composite stay on the GPU (no download), in buffers that outlive
// the path; their pixels are those of the CPU references.
TEST(GpuFramePathTest, ResultsLeftOnTheDeviceOutliveThePath) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(13);
  FramePathOptions o = BasicOptions(48, 64);
  o.slots = 2;
  o.composite = true;
  o.composite_format = PixelFormat::kRGBA;
  o.composite_options.color = {30, 60, 90};
  o.results_on_device = true;
  std::vector<FrameResult> kept;
  std::vector<Frame> hosts;
  {
    auto path_r = GpuFramePath::Create(o);
    ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
    GpuFramePath& path = **path_r;
    DeviceTensors dt = MakeTensors(o, 1);
    for (int k = 0; k < 4; ++k) {
      Frame host = testing::RandomHostFrame(k % 2 ? PixelFormat::kNV12 : PixelFormat::kRGB24,
                                            90 + 6 * k, 50 + 4 * k, rng, k);
      host.index = k;
      auto seq = path.Submit(host, dt.in, 0);
      ASSERT_TRUE(seq.ok()) << seq.status().ToString();
      ASSERT_TRUE(RunStandInModel(dt, 0, path.compute_stream()).ok());
      ASSERT_TRUE(path.Finish(*seq, dt.out).ok());
      auto r = path.Wait();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->mask.memory, MemoryKind::kDevice);
      EXPECT_EQ(r->composite.memory, MemoryKind::kDevice);
      EXPECT_EQ(r->composite.index, k);
      kept.push_back(*r);
      hosts.push_back(host);
    }
  }
  Compositor cpu(o.composite_options);
  for (size_t k = 0; k < kept.size(); ++k) {
    const Frame mask = testing::ToHost(kept[k].mask);
    EXPECT_TRUE(BytesClose(mask, ReferenceMask(hosts[k], o), 1)) << "frame " << k;
    Frame rgb;
    ASSERT_TRUE(ToRgb24(hosts[k], &rgb).ok());
    Frame comp = Alloc(PixelFormat::kRGB24, rgb.width, rgb.height);
    ASSERT_TRUE(cpu.Compose(rgb, mask, &comp).ok());
    EXPECT_TRUE(BytesClose(testing::ToHost(kept[k].composite), OpaqueRgba(comp), 0))
        << "frame " << k;
  }
}

TEST(GpuFramePathTest, PinnedPoolStaysBoundedOver200Frames) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(2);
  FramePathOptions o = BasicOptions(32, 32);
  o.slots = 3;
  auto path_r = GpuFramePath::Create(o);
  ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
  GpuFramePath& path = **path_r;
  DeviceTensors dt = MakeTensors(o, 1);
  Frame host = testing::RandomHostFrame(PixelFormat::kNV12, 320, 180, rng, 4);
  const Frame want = ReferenceMask(host, o);
  int collected = 0;
  for (int k = 0; k < 200; ++k) {
    if (path.in_flight() == o.slots) {
      auto r = path.Wait();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      if (++collected % 50 == 0) {
        EXPECT_TRUE(BytesClose(r->mask, want, 1));
      }
    }
    auto seq = path.Submit(host, dt.in, 0);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    ASSERT_TRUE(RunStandInModel(dt, 0, path.compute_stream()).ok());
    ASSERT_TRUE(path.Finish(*seq, dt.out).ok());
  }
  while (path.in_flight() > 0) ASSERT_TRUE(path.Wait().ok());
  const FramePathStats st = path.stats();
  // Held: one staging buffer per slot and at most one result buffer per slot (the caller drops
  // each result at once).
  EXPECT_LE(st.pinned.buffers_held, 2 * o.slots);
  EXPECT_EQ(st.pinned.buffers_in_use, o.slots);  // the staging buffers
  EXPECT_EQ(st.pinned.acquires, o.slots + 200);
  EXPECT_GE(st.pinned.reuses, 200 - o.slots);
  EXPECT_EQ(st.staged, 200);
  EXPECT_EQ(st.device.live_buffers, 2 * o.slots);  // frame + mask per slot, allocated once
  EXPECT_EQ(st.device.allocations, 2 * o.slots);

  // Results the caller keeps count against the bound: with room for few, Finish says so, and
  // dropping them makes room again.
  FramePathOptions small = o;
  small.slots = 1;
  small.pinned_max_bytes = 384 << 10;  // staging (one 128 KiB buffer) + four 64 KiB results
  auto p2r = GpuFramePath::Create(small);
  ASSERT_TRUE(p2r.ok());
  GpuFramePath& p2 = **p2r;
  std::vector<FrameResult> kept;
  Status refused;
  for (int k = 0; k < 8 && refused.ok(); ++k) {
    auto seq = p2.Submit(host, dt.in, 0);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    ASSERT_TRUE(RunStandInModel(dt, 0, p2.compute_stream()).ok());
    refused = p2.Finish(*seq, dt.out);
    if (refused.ok()) {
      auto r = p2.Wait();
      ASSERT_TRUE(r.ok());
      kept.push_back(std::move(r).value());
    }
  }
  ASSERT_FALSE(refused.ok()) << "the pool bound was never reached";
  EXPECT_EQ(refused.code(), StatusCode::kOutOfMemory) << refused.ToString();
  kept.clear();
  ASSERT_TRUE(p2.Finish(p2.stats().finished, dt.out).ok());
  auto r = p2.Wait();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(BytesClose(r->mask, want, 1));
}

TEST(GpuFramePathTest, BackpressureOrderAndResultsOutlivingThePath) {
  VRSEG_REQUIRE_GPU();
  std::mt19937 rng(4);
  FramePathOptions o = BasicOptions(16, 16);
  o.slots = 2;
  auto path_r = GpuFramePath::Create(o);
  ASSERT_TRUE(path_r.ok()) << path_r.status().ToString();
  std::unique_ptr<GpuFramePath> path = std::move(path_r).value();
  DeviceTensors dt = MakeTensors(o, 2);
  Frame a = testing::RandomHostFrame(PixelFormat::kRGB24, 21, 13, rng);
  Frame b = testing::RandomHostFrame(PixelFormat::kRGB24, 21, 13, rng);
  a.index = 0;
  b.index = 1;

  auto w0 = path->Wait();
  EXPECT_EQ(w0.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(path->Ready());
  EXPECT_EQ(path->Finish(0, dt.out).code(), StatusCode::kInvalidArgument);  // nothing submitted
  ASSERT_TRUE(path->Submit(a, dt.in, 0).ok());
  ASSERT_TRUE(path->Submit(b, dt.in, 1).ok());
  auto full = path->Submit(a, dt.in, 0);
  EXPECT_EQ(full.status().code(), StatusCode::kUnavailable) << full.status().ToString();
  EXPECT_EQ(path->stats().backpressure, 1);
  EXPECT_EQ(path->Wait().status().code(), StatusCode::kInvalidArgument);    // none finished yet
  EXPECT_EQ(path->Finish(1, dt.out).code(), StatusCode::kInvalidArgument);  // out of order
  EXPECT_EQ(path->Finish(0, nullptr).code(), StatusCode::kInvalidArgument);
  for (int s = 0; s < 2; ++s) ASSERT_TRUE(RunStandInModel(dt, s, path->compute_stream()).ok());
  ASSERT_TRUE(path->Finish(0, dt.out).ok());
  ASSERT_TRUE(path->Finish(1, dt.out + dt.hw).ok());
  EXPECT_EQ(path->Finish(2, dt.out).code(), StatusCode::kInvalidArgument);
  auto ra = path->Wait();
  ASSERT_TRUE(ra.ok()) << ra.status().ToString();
  EXPECT_TRUE(path->Submit(a, dt.in, 0).ok());  // a slot is free again
  auto rb = path->Wait();
  ASSERT_TRUE(rb.ok());
  path.reset();  // waits for the submitted frame; results stay valid
  EXPECT_TRUE(BytesClose(ra->mask, ReferenceMask(a, o), 1));
  EXPECT_TRUE(BytesClose(rb->mask, ReferenceMask(b, o), 1));
  EXPECT_EQ(rb->mask.index, 1);
}

}  // namespace
}  // namespace vrseg::cuda
