// Test doubles for the pipeline tests: a backend that runs a known function on its batch slots,
// frames whose pixels encode (stream, index), and the reference the masks are checked against.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vrseg/backend.h"
#include "vrseg/frame.h"
#include "vrseg/pipeline.h"

namespace vrseg::testing {

inline constexpr int kW = 4;  // synthetic frames are kW x kH Gray8
inline constexpr int kH = 3;

// The byte every pixel of frame (stream, index) carries, and the mask byte a correct pipeline
// returns for it (the fake model computes 255 - v, see FakeBackend::Run).
inline uint8_t PixelFor(int stream, int64_t index) {
  return static_cast<uint8_t>((stream * 37 + index * 11 + 5) % 251);
}
inline uint8_t ExpectedMask(int stream, int64_t index) {
  return static_cast<uint8_t>(255 - PixelFor(stream, index));
}

inline Frame MakeFrame(int stream, int64_t index) {
  Frame f = *Frame::Allocate(PixelFormat::kGray8, kW, kH);
  for (int y = 0; y < kH; ++y) std::memset(f.data[0] + y * f.pitch[0], PixelFor(stream, index), kW);
  f.stream_id = stream;
  f.index = index;
  f.pts = index * 1001;
  f.duration = 1001;
  f.time_base = {1, 30000};
  return f;
}

// A backend over [max_batch, 1 + kH*kW] float tensors: slot value 0 carries a tag the test writes
// (stream id), the rest the pixels. Run(n) writes out = 255 - in for the pixels and copies the tag.
// It records the tags of every batch, can fail on a given call, and can block on a gate.
class FakeBackend final : public Backend {
 public:
  explicit FakeBackend(int max_batch) : max_batch_(max_batch) {
    const int64_t per = 1 + kW * kH;
    in_buf_.assign(max_batch * per, 0.f);
    out_buf_.assign(max_batch * per, 0.f);
    descs_in_ = {TensorDesc{"in", DType::kFloat32, {-1, per}}};
    descs_out_ = {TensorDesc{"out", DType::kFloat32, {-1, per}}};
  }
  std::string_view name() const override { return "fake"; }
  DeviceKind device() const override { return DeviceKind::kCpu; }
  std::string device_description() const override { return "fake"; }
  const ModelInfo& model_info() const override { return info_; }
  const std::vector<TensorDesc>& inputs() const override { return descs_in_; }
  const std::vector<TensorDesc>& outputs() const override { return descs_out_; }
  int max_batch() const override { return max_batch_; }
  Tensor input(int) override {
    return Tensor{in_buf_.data(), DType::kFloat32, {max_batch_, 1 + kW * kH}, MemoryKind::kHost, {}};
  }
  Tensor output(int) override {
    return Tensor{out_buf_.data(), DType::kFloat32, {max_batch_, 1 + kW * kH}, MemoryKind::kHost, {}};
  }
  Status Run(int batch, void*) override {
    const int call = calls_.fetch_add(1);
    {
      std::unique_lock<std::mutex> lock(gate_mu_);
      ++entered_;
      gate_cv_.notify_all();
      gate_cv_.wait(lock, [&] { return gate_open_; });
    }
    if (fail_on_call_ >= 0 && call == fail_on_call_) {
      return Status::Internal("fake backend: injected failure on call " + std::to_string(call));
    }
    if (batch < 1 || batch > max_batch_) return Status::InvalidArgument("fake: bad batch");
    const int64_t per = 1 + kW * kH;
    std::vector<int> tags;
    for (int b = 0; b < batch; ++b) {
      out_buf_[b * per] = in_buf_[b * per];
      tags.push_back(static_cast<int>(in_buf_[b * per]));
      for (int64_t i = 1; i < per; ++i) out_buf_[b * per + i] = 255.f - in_buf_[b * per + i];
    }
    std::lock_guard<std::mutex> lock(log_mu_);
    batches_.push_back(std::move(tags));
    return Status::Ok();
  }

  void set_fail_on_call(int call) { fail_on_call_ = call; }
  void CloseGate() {
    std::lock_guard<std::mutex> lock(gate_mu_);
    gate_open_ = false;
  }
  void OpenGate() {
    {
      std::lock_guard<std::mutex> lock(gate_mu_);
      gate_open_ = true;
    }
    gate_cv_.notify_all();
  }
  // Waits until Run was entered `n` times in total.
  void WaitEntered(int n) {
    std::unique_lock<std::mutex> lock(gate_mu_);
    gate_cv_.wait(lock, [&] { return entered_ >= n; });
  }
  std::vector<std::vector<int>> batches() const {
    std::lock_guard<std::mutex> lock(log_mu_);
    return batches_;
  }

 private:
  int max_batch_;
  std::vector<float> in_buf_, out_buf_;
  std::vector<TensorDesc> descs_in_, descs_out_;
  ModelInfo info_;
  std::atomic<int> calls_{0};
  int fail_on_call_ = -1;
  std::mutex gate_mu_;
  std::condition_variable gate_cv_;
  bool gate_open_ = true;
  int entered_ = 0;
  mutable std::mutex log_mu_;
  std::vector<std::vector<int>> batches_;
};

// Hooks matching FakeBackend: preprocess writes the stream tag and the pixels into the slot;
// postprocess turns the output slot into a Gray8 mask (reusing the record's mask when it can).
inline PipelineHooks FakeHooks() {
  PipelineHooks h;
  h.preprocess = [](const Frame& in, const Tensor& t, int slot, int) -> Status {
    if (in.format != PixelFormat::kGray8 || in.width != kW || in.height != kH) {
      return Status::InvalidArgument("fake preprocess: unexpected frame");
    }
    float* dst = static_cast<float*>(t.slot(slot));
    dst[0] = static_cast<float>(in.stream_id);
    for (int y = 0; y < kH; ++y) {
      for (int x = 0; x < kW; ++x) dst[1 + y * kW + x] = in.data[0][y * in.pitch[0] + x];
    }
    return Status::Ok();
  };
  h.postprocess = [](const Tensor& t, int slot, int, FrameResult* r) -> Status {
    const float* src = static_cast<const float*>(t.slot(slot));
    if (static_cast<int>(src[0]) != r->stream_id) {
      return Status::Internal("fake postprocess: slot holds stream " +
                              std::to_string(static_cast<int>(src[0])));
    }
    VRSEG_RETURN_IF_ERROR(EnsureFrame(&r->mask, PixelFormat::kGray8, kW, kH));
    r->mask.CopyMetadataFrom(r->input);
    for (int y = 0; y < kH; ++y) {
      for (int x = 0; x < kW; ++x) {
        r->mask.data[0][y * r->mask.pitch[0] + x] = static_cast<uint8_t>(src[1 + y * kW + x]);
      }
    }
    return Status::Ok();
  };
  return h;
}

inline std::vector<std::unique_ptr<Backend>> FakeBackends(int n, int max_batch,
                                                          std::vector<FakeBackend*>* raw = nullptr) {
  std::vector<std::unique_ptr<Backend>> v;
  for (int i = 0; i < n; ++i) {
    auto b = std::make_unique<FakeBackend>(max_batch);
    if (raw) raw->push_back(b.get());
    v.push_back(std::move(b));
  }
  return v;
}

// True when every pixel of `mask` is `value`.
inline bool MaskIs(const Frame& mask, uint8_t value) {
  if (mask.empty() || mask.format != PixelFormat::kGray8) return false;
  for (int y = 0; y < mask.height; ++y) {
    for (int x = 0; x < mask.width; ++x) {
      if (mask.data[0][y * mask.pitch[0] + x] != value) return false;
    }
  }
  return true;
}

}  // namespace vrseg::testing
