// The "noop" backend: runs nothing and reports every pixel as person (probability 1). It keeps
// the real model's input and output shapes (read from the model's metadata when a model is
// given), so the pipeline around it does all its usual work: it measures the pipeline's own
// overhead.
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "backend/registry_internal.h"
#include "vrseg/backend.h"
#include "vrseg/model_registry.h"

namespace vrseg {
namespace {

class NoopBackend final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> Create(const std::string& path,
                                                 const BackendOptions& options) {
    if (options.max_batch < 1) return Status::InvalidArgument("backend.max_batch must be at least 1");
    std::unique_ptr<NoopBackend> b(new NoopBackend());
    if (options.model_info_override) {
      b->info_ = *options.model_info_override;
    } else if (!path.empty()) {
      VRSEG_ASSIGN_OR_RETURN(b->info_, ReadModelInfo(path));
    } else {
      b->info_.name = "noop";
      b->info_.input_width = b->info_.input_height = 256;
    }
    const ModelInfo& mi = b->info_;
    b->max_batch_ = options.max_batch;
    const bool nhwc_in = mi.input_layout == TensorLayout::kNHWC;
    const bool nhwc_out = mi.output_layout == TensorLayout::kNHWC;
    b->in_desc_ = {{mi.input_name.empty() ? "input" : mi.input_name, DType::kFloat32,
                    nhwc_in ? std::vector<int64_t>{-1, mi.input_height, mi.input_width, 3}
                            : std::vector<int64_t>{-1, 3, mi.input_height, mi.input_width}}};
    const int64_t c = mi.output_channels;
    b->out_desc_ = {{mi.output_name.empty() ? "output" : mi.output_name, DType::kFloat32,
                     nhwc_out ? std::vector<int64_t>{-1, mi.input_height, mi.input_width, c}
                              : std::vector<int64_t>{-1, c, mi.input_height, mi.input_width}}};
    b->in_ = b->Alloc(b->in_desc_[0]);
    b->out_ = b->Alloc(b->out_desc_[0]);
    if (!b->in_.data || !b->out_.data) return Status::OutOfMemory("noop: buffers");
    // "Person everywhere", whatever the output encodes.
    float* o = b->out_.as<float>();
    const int64_t n = b->out_.elements();
    const int64_t plane = static_cast<int64_t>(mi.input_height) * mi.input_width;
    for (int64_t i = 0; i < n; ++i) {
      float v = 1.f;
      if (mi.output_kind == OutputKind::kTwoClassLogits || mi.output_kind == OutputKind::kClassLogits) {
        const int64_t ch = nhwc_out ? i % c : (i / plane) % c;
        v = ch == mi.person_channel ? 10.f : -10.f;
      } else if (mi.output_kind == OutputKind::kSigmoidLogit) {
        v = 10.f;
      }
      o[i] = v;
    }
    return std::unique_ptr<Backend>(std::move(b));
  }

  std::string_view name() const override { return "noop"; }
  DeviceKind device() const override { return DeviceKind::kCpu; }
  std::string device_description() const override { return "CPU (noop: runs nothing)"; }
  const ModelInfo& model_info() const override { return info_; }
  const std::vector<TensorDesc>& inputs() const override { return in_desc_; }
  const std::vector<TensorDesc>& outputs() const override { return out_desc_; }
  int max_batch() const override { return max_batch_; }
  Tensor input(int) override { return in_; }
  Tensor output(int) override { return out_; }
  Status Run(int batch, void*) override {
    if (batch < 1 || batch > max_batch_) {
      return Status::InvalidArgument("noop: batch " + std::to_string(batch) + " outside [1," +
                                     std::to_string(max_batch_) + "]");
    }
    return Status::Ok();
  }

 private:
  NoopBackend() = default;
  Tensor Alloc(const TensorDesc& d) {
    Tensor t;
    t.dtype = d.dtype;
    t.shape = d.shape;
    t.shape[0] = max_batch_;
    const size_t bytes = static_cast<size_t>((t.bytes() + 63) / 64 * 64);
    void* mem = std::aligned_alloc(64, bytes);
    if (!mem) return t;
    std::memset(mem, 0, bytes);
    t.storage = std::shared_ptr<void>(mem, [](void* p) { std::free(p); });
    t.data = mem;
    return t;
  }

  ModelInfo info_;
  int max_batch_ = 1;
  std::vector<TensorDesc> in_desc_, out_desc_;
  Tensor in_, out_;
};

}  // namespace

namespace internal {
BackendFactory NoopBackendFactory() { return &NoopBackend::Create; }
}  // namespace internal

}  // namespace vrseg
