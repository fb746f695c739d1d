// GpuFramePath: upload / compute / download streams ordered by events, N in-flight slots.
//
// Per slot, in stream order (U = upload stream, C = compute, D = download):
//   U: [wait processed(prev use)] H2D frame → record uploaded
//   C: wait uploaded (or the caller's ready event) → PreprocessBatch → record preprocessed
//   C: (caller's model)
//   C: [wait downloaded(prev use)] PostprocessBatch → Compose → record processed
//   D: wait processed → D2H mask / composite → record downloaded
// Wait() is the only host synchronisation (cudaEventSynchronize on `downloaded`); a slot is reused
// only after its frame was collected, so all of its previous work is complete by then. The waits
// on the previous use's events are kept anyway: they cost nothing and keep the order explicit.
#include "vrseg/cuda/frame_path.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/composite.h"
#include "vrseg/cuda/preprocess.h"

namespace vrseg::cuda {
namespace {

constexpr int64_t kPlaneAlign = 256;

int64_t AlignUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

// Tight planes (pitch = row bytes), each starting at a multiple of kPlaneAlign.
struct PlaneLayout {
  int planes = 0;
  std::array<int64_t, 4> offset{};
  std::array<int64_t, 4> row{};
  std::array<int, 4> rows{};
  int64_t total = 0;
};

PlaneLayout LayoutOf(PixelFormat f, int w, int h) {
  PlaneLayout l;
  l.planes = PlaneCount(f);
  int64_t at = 0;
  for (int p = 0; p < l.planes; ++p) {
    at = AlignUp(at, kPlaneAlign);
    l.offset[p] = at;
    l.row[p] = PlaneRowBytes(f, w, p);
    l.rows[p] = PlaneRows(f, h, p);
    at += l.row[p] * l.rows[p];
  }
  l.total = at;
  return l;
}

// A frame view over `base` laid out as `l`.
Frame ViewOf(PixelFormat f, int w, int h, const PlaneLayout& l, uint8_t* base, MemoryKind mem) {
  Frame v;
  v.format = f;
  v.width = w;
  v.height = h;
  v.memory = mem;
  for (int p = 0; p < l.planes; ++p) {
    v.data[p] = base + l.offset[p];
    v.pitch[p] = l.row[p];
  }
  return v;
}

bool SupportedInput(PixelFormat f) {
  switch (f) {
    case PixelFormat::kGray8:
    case PixelFormat::kRGB24:
    case PixelFormat::kBGR24:
    case PixelFormat::kRGBA:
    case PixelFormat::kBGRA:
    case PixelFormat::kNV12:
    case PixelFormat::kI420:
      return true;
    default:
      return false;
  }
}

std::string FrameName(const Frame& f) {
  return "frame " + std::to_string(f.index) + " (stream " + std::to_string(f.stream_id) + ")";
}

}  // namespace

struct GpuFramePath::Impl {
  struct Slot {
    enum class State { kFree, kSubmitted, kFinished };
    State state = State::kFree;
    bool used = false;  // has run a frame before (its events are recorded)
    // A Submit / Finish of this slot failed after enqueueing work: the next one first waits for
    // that stream (error path only), so that staging and result buffers are not rewritten under a
    // copy still in flight.
    bool upload_abandoned = false, download_abandoned = false;
    int64_t sequence = -1;
    Frame input;         // the caller's frame: metadata always, pixels kept for pinned/device input
    Frame device_frame;  // what preprocessing read (view of dev_frame, or the caller's frame)
    bool uploaded = false;
    PinnedBuffer staging;
    DeviceBuffer dev_frame, dev_mask, dev_comp;
    DeviceBuffer dev_rgb;  // the frame as RGB24, for compositing frames of other formats
    // results_on_device: this frame's own result buffers, handed out by Wait.
    std::shared_ptr<void> out_mask, out_comp;
    PinnedBuffer host_mask, host_comp;
    PlaneLayout mask_layout, comp_layout;
    // Ordering events (timing enabled only with options.timeline).
    cudaEvent_t uploaded_ev = nullptr, preprocessed = nullptr, processed = nullptr,
                downloaded = nullptr;
    // Timeline-only begin events.
    cudaEvent_t upload_begin = nullptr, preprocess_begin = nullptr, postprocess_begin = nullptr,
                download_begin = nullptr;
  };

  FramePathOptions options;
  cudaStream_t up = nullptr, compute = nullptr, down = nullptr;
  cudaEvent_t epoch = nullptr;
  std::unique_ptr<PinnedHostPool> pinned;
  std::unique_ptr<DevicePool> device;
  std::unique_ptr<GpuCompositor> compositor;
  std::vector<Slot> slots;
  int64_t next_submit = 0, next_finish = 0, next_collect = 0;
  FramePathStats stats;

  Slot& SlotFor(int64_t seq) { return slots[static_cast<size_t>(seq % options.slots)]; }

  ~Impl() {
    for (cudaStream_t s : {up, compute, down}) {
      if (s) cudaStreamSynchronize(s);
    }
    // Buffers go back to their pools (device frees are stream-ordered: the streams must live).
    for (Slot& s : slots) {
      s.staging.Reset();
      s.host_mask.Reset();
      s.host_comp.Reset();
      s.dev_frame.Reset();
      s.dev_mask.Reset();
      s.dev_comp.Reset();
      s.dev_rgb.Reset();
      for (cudaEvent_t e :
           {s.uploaded_ev, s.preprocessed, s.processed, s.downloaded, s.upload_begin,
            s.preprocess_begin, s.postprocess_begin, s.download_begin}) {
        if (e) cudaEventDestroy(e);
      }
    }
    compositor.reset();
    device.reset();
    for (cudaStream_t s : {up, compute, down}) {
      if (s) {
        cudaStreamSynchronize(s);
        cudaStreamDestroy(s);
      }
    }
    if (epoch) cudaEventDestroy(epoch);
    cudaGetLastError();
  }

  Status Record(cudaEvent_t ev, cudaStream_t s) {
    if (!ev) return Status::Ok();
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(ev, s));
    return Status::Ok();
  }
};

GpuFramePath::GpuFramePath(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuFramePath::~GpuFramePath() = default;

cudaStream_t GpuFramePath::compute_stream() const { return impl_->compute; }
const FramePathOptions& GpuFramePath::options() const { return impl_->options; }
int GpuFramePath::in_flight() const {
  return static_cast<int>(impl_->next_submit - impl_->next_collect);
}

FramePathStats GpuFramePath::stats() const {
  FramePathStats s = impl_->stats;
  s.pinned = impl_->pinned->stats();
  s.device = impl_->device->stats();
  return s;
}

Result<std::unique_ptr<GpuFramePath>> GpuFramePath::Create(FramePathOptions options) {
  const std::string where = "GpuFramePath::Create: ";
  if (options.slots < 1 || options.slots > kMaxFramePathSlots) {
    return Status::InvalidArgument(where + "FramePathOptions.slots is " +
                                   std::to_string(options.slots) + ", must be in [1, " +
                                   std::to_string(kMaxFramePathSlots) + "]");
  }
  const PreprocessOptions& pre = options.preprocess;
  if (pre.out_width <= 0 || pre.out_height <= 0) {
    return Status::InvalidArgument(where + "FramePathOptions.preprocess.out_width/out_height (" +
                                   std::to_string(pre.out_width) + "x" +
                                   std::to_string(pre.out_height) + ") must be positive");
  }
  for (int c = 0; c < 3; ++c) {
    if (!(pre.std[c] != 0.f)) {
      return Status::InvalidArgument(where + "FramePathOptions.preprocess.std[" +
                                     std::to_string(c) + "] is zero");
    }
  }
  const PostprocessGpuOptions& post = options.postprocess;
  if (post.post.model_width <= 0 || post.post.model_height <= 0) {
    return Status::InvalidArgument(where + "FramePathOptions.postprocess.post.model_width/" +
                                   "model_height must be positive");
  }
  if (post.slot_dtype != DType::kFloat32 && post.slot_dtype != DType::kFloat16) {
    return Status::InvalidArgument(where + "FramePathOptions.postprocess.slot_dtype must be " +
                                   "float32 or float16, not " + DTypeName(post.slot_dtype));
  }
  if (post.temporal) {
    return Status::Unsupported(where + "FramePathOptions.postprocess.temporal: temporal " +
                               "smoothing is not supported by the frame path yet");
  }
  if (!options.download_mask && !options.composite) {
    return Status::InvalidArgument(where + "FramePathOptions: neither download_mask nor " +
                                   "composite is set (the path would produce nothing)");
  }
  if (options.composite && options.composite_format != PixelFormat::kRGB24 &&
      options.composite_format != PixelFormat::kRGBA &&
      options.composite_format != PixelFormat::kNV12) {
    return Status::InvalidArgument(where + "FramePathOptions.composite_format must be RGB24, " +
                                   "RGBA or NV12, not " +
                                   std::string(PixelFormatName(options.composite_format)));
  }
  if (options.composite && options.composite_alpha &&
      options.composite_format != PixelFormat::kRGBA) {
    return Status::InvalidArgument(where + "FramePathOptions.composite_alpha needs " +
                                   "composite_format RGBA, not " +
                                   std::string(PixelFormatName(options.composite_format)));
  }
  if (options.pinned_max_bytes == 0) {
    return Status::InvalidArgument(where + "FramePathOptions.pinned_max_bytes is 0");
  }
  if (DeviceCount() == 0) {
    return Status::Unavailable(where + "no CUDA device (" + DeviceDescription(0) + ")");
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Impl& m = *impl;
  VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m.up, cudaStreamNonBlocking));
  VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m.compute, cudaStreamNonBlocking));
  VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m.down, cudaStreamNonBlocking));
  const unsigned flags = options.timeline ? cudaEventDefault : cudaEventDisableTiming;
  m.slots.resize(static_cast<size_t>(options.slots));
  for (Impl::Slot& s : m.slots) {
    for (cudaEvent_t* e : {&s.uploaded_ev, &s.preprocessed, &s.processed, &s.downloaded}) {
      VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(e, flags));
    }
    if (options.timeline) {
      for (cudaEvent_t* e :
           {&s.upload_begin, &s.preprocess_begin, &s.postprocess_begin, &s.download_begin}) {
        VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreate(e));
      }
    }
  }
  if (options.timeline) {
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventCreate(&m.epoch));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(m.epoch, m.compute));
  }
  PinnedPoolOptions po;
  po.max_bytes = options.pinned_max_bytes;
  VRSEG_ASSIGN_OR_RETURN(m.pinned, PinnedHostPool::Create(po));
  DevicePoolOptions dopt;
  dopt.max_bytes = options.device_max_bytes;
  VRSEG_ASSIGN_OR_RETURN(m.device, DevicePool::Create(dopt));
  if (options.composite && !options.composite_alpha) {
    auto c = GpuCompositor::Create(options.composite_options);
    if (!c.ok()) return c.status().WithContext("GpuFramePath::Create (compositor)");
    m.compositor = std::move(c).value();
  }
  return std::unique_ptr<GpuFramePath>(new GpuFramePath(std::move(impl)));
}

Status GpuFramePath::CheckSubmit(const FramePathOptions& options, const Frame& frame,
                                 const Tensor& input, int64_t tensor_slot,
                                 const SubmitOptions& submit) {
  const std::string where = "GpuFramePath::Submit: " + FrameName(frame) + ": ";
  if (frame.empty()) return Status::InvalidArgument(where + "empty frame (no pixels)");
  if (!SupportedInput(frame.format)) {
    return Status::Unsupported(where + "pixel format " +
                               std::string(PixelFormatName(frame.format)) +
                               " (the path takes NV12, I420, RGB24, BGR24, RGBA, BGRA, Gray8)");
  }
  if (frame.width <= 0 || frame.height <= 0) {
    return Status::InvalidArgument(where + "size " + std::to_string(frame.width) + "x" +
                                   std::to_string(frame.height));
  }
  for (int p = 0; p < PlaneCount(frame.format); ++p) {
    if (!frame.data[p]) {
      return Status::InvalidArgument(where + "plane " + std::to_string(p) + " is null");
    }
    if (frame.pitch[p] < PlaneRowBytes(frame.format, frame.width, p)) {
      return Status::InvalidArgument(
          where + "pitch[" + std::to_string(p) + "] " + std::to_string(frame.pitch[p]) +
          " < row of " + std::to_string(PlaneRowBytes(frame.format, frame.width, p)) + " bytes");
    }
  }
  if (frame.memory != MemoryKind::kDevice && submit.ready) {
    return Status::InvalidArgument(where + "SubmitOptions.ready is for device frames only");
  }
  const PreprocessOptions& pre = options.preprocess;
  if (input.memory != MemoryKind::kDevice || !input.data) {
    return Status::InvalidArgument(where + "the input tensor is not device memory");
  }
  if (input.dtype != DType::kFloat32 && input.dtype != DType::kFloat16) {
    return Status::InvalidArgument(where + "input tensor dtype " + DTypeName(input.dtype) +
                                   " (float32 or float16 expected)");
  }
  const bool nhwc = pre.layout == TensorLayout::kNHWC;
  const std::vector<int64_t> want =
      nhwc ? std::vector<int64_t>{-1, pre.out_height, pre.out_width, 3}
           : std::vector<int64_t>{-1, 3, pre.out_height, pre.out_width};
  bool shape_ok = input.shape.size() == 4 && input.shape[0] > 0;
  for (size_t i = 1; shape_ok && i < 4; ++i) shape_ok = input.shape[i] == want[i];
  if (!shape_ok) {
    return Status::InvalidArgument(where + "input tensor shape " + ShapeToString(input.shape) +
                                   " does not match " + ShapeToString(want));
  }
  if (tensor_slot < 0 || tensor_slot >= input.shape[0]) {
    return Status::InvalidArgument(where + "tensor slot " + std::to_string(tensor_slot) +
                                   " outside [0, " + std::to_string(input.shape[0]) + ")");
  }
  return Status::Ok();
}

Result<int64_t> GpuFramePath::Submit(const Frame& frame, const Tensor& input, int64_t tensor_slot,
                                     const SubmitOptions& submit) {
  Impl& m = *impl_;
  VRSEG_RETURN_IF_ERROR(CheckSubmit(m.options, frame, input, tensor_slot, submit));
  const int64_t seq = m.next_submit;
  Impl::Slot& s = m.SlotFor(seq);
  if (s.state != Impl::Slot::State::kFree) {
    m.stats.backpressure += 1;
    return Status::Unavailable("GpuFramePath::Submit: " + FrameName(frame) + ": all " +
                               std::to_string(m.options.slots) +
                               " slots are in flight; collect a result with Wait() first");
  }
  const std::string where = "GpuFramePath::Submit: " + FrameName(frame);
  if (s.upload_abandoned) {
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(m.up));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(m.compute));
    s.upload_abandoned = false;
  }
  s.uploaded = false;
  if (frame.memory == MemoryKind::kDevice) {
    s.device_frame = frame;
    if (submit.ready) VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(m.compute, submit.ready, 0));
  } else {
    const PlaneLayout l = LayoutOf(frame.format, frame.width, frame.height);
    const size_t total = static_cast<size_t>(l.total);
    if (s.dev_frame.empty() || s.dev_frame.capacity() < total) {
      s.dev_frame.Reset();
      auto b = m.device->Allocate(total, m.up, "frame path slot frame");
      if (!b.ok()) return b.status().WithContext(where);
      s.dev_frame = std::move(b).value();
    }
    uint8_t* dev = s.dev_frame.as<uint8_t>();
    // The slot's previous frame was read by preprocessing and compositing, both before `processed`.
    if (s.used) VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(m.up, s.processed, 0));
    s.upload_abandoned = true;  // until this Submit succeeds
    VRSEG_RETURN_IF_ERROR(m.Record(s.upload_begin, m.up));
    if (frame.memory == MemoryKind::kHost) {
      // Pageable memory: stage into the slot's pinned buffer (reused; its last upload completed
      // before this slot's previous frame was collected).
      if (s.staging.empty() || s.staging.capacity() < total) {
        s.staging.Reset();
        auto b = m.pinned->Acquire(total, "frame path staging");
        if (!b.ok()) return b.status().WithContext(where);
        s.staging = std::move(b).value();
      }
      for (int p = 0; p < l.planes; ++p) {
        uint8_t* dst = s.staging.data() + l.offset[p];
        const uint8_t* src = frame.data[p];
        if (frame.pitch[p] == l.row[p]) {
          std::memcpy(dst, src, static_cast<size_t>(l.row[p] * l.rows[p]));
        } else {
          for (int y = 0; y < l.rows[p]; ++y) {
            std::memcpy(dst + y * l.row[p], src + y * frame.pitch[p],
                        static_cast<size_t>(l.row[p]));
          }
        }
      }
      VRSEG_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(dev, s.staging.data(), total, cudaMemcpyHostToDevice, m.up));
      m.stats.staged += 1;
    } else {
      // Pinned memory: straight from the caller's planes (kept alive by the slot).
      for (int p = 0; p < l.planes; ++p) {
        VRSEG_CUDA_RETURN_IF_ERROR(
            cudaMemcpy2DAsync(dev + l.offset[p], static_cast<size_t>(l.row[p]), frame.data[p],
                              static_cast<size_t>(frame.pitch[p]), static_cast<size_t>(l.row[p]),
                              static_cast<size_t>(l.rows[p]), cudaMemcpyHostToDevice, m.up));
      }
    }
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.uploaded_ev, m.up));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(m.compute, s.uploaded_ev, 0));
    s.uploaded = true;
    s.device_frame = ViewOf(frame.format, frame.width, frame.height, l, dev, MemoryKind::kDevice);
    s.device_frame.device = frame.device;
    s.device_frame.CopyMetadataFrom(frame);
    m.stats.uploads += 1;
  }
  VRSEG_RETURN_IF_ERROR(m.Record(s.preprocess_begin, m.compute));
  std::vector<PreprocessInput> entries(1);
  entries[0].frame = s.device_frame;
  entries[0].slot = static_cast<int>(tensor_slot);
  Status st = PreprocessBatch(entries, m.options.preprocess, input, m.compute);
  if (!st.ok()) return st.WithContext(where);
  VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.preprocessed, m.compute));

  s.input = frame;
  if (frame.memory == MemoryKind::kHost) {  // copied: keep the metadata only
    s.input.data = {};
    s.input.storage.reset();
  }
  s.sequence = seq;
  s.state = Impl::Slot::State::kSubmitted;
  s.used = true;
  s.upload_abandoned = false;
  m.next_submit += 1;
  m.stats.submitted += 1;
  return seq;
}

Status GpuFramePath::Finish(int64_t sequence, const void* output_slot) {
  Impl& m = *impl_;
  const std::string where = "GpuFramePath::Finish: frame sequence " + std::to_string(sequence);
  if (sequence != m.next_finish || m.next_finish >= m.next_submit) {
    if (m.next_finish >= m.next_submit) {
      return Status::InvalidArgument(where + ": no submitted frame is waiting to be finished");
    }
    return Status::InvalidArgument(where + ": frames finish in submission order; the next is " +
                                   std::to_string(m.next_finish));
  }
  if (!output_slot) return Status::InvalidArgument(where + ": null output slot");
  Impl::Slot& s = m.SlotFor(sequence);
  if (s.download_abandoned) {
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(m.down));
    s.download_abandoned = false;
  }
  const Frame& in = s.input;
  const int w = in.width, h = in.height;
  // Host result buffers first (the only step that can fail for want of room; nothing enqueued).
  PinnedBuffer host_mask, host_comp;
  s.mask_layout = LayoutOf(PixelFormat::kGray8, w, h);
  if (m.options.composite) s.comp_layout = LayoutOf(m.options.composite_format, w, h);
  const bool on_device = m.options.results_on_device;
  std::shared_ptr<void> out_mask, out_comp;
  if (on_device) {
    // Buffers of the frame's own, freed (stream-ordered, on the legacy stream) when the last copy
    // of the result frame goes: they may outlive the path.
    auto alloc = [&](int64_t bytes, std::shared_ptr<void>* out) -> Status {
      auto p = CudaAsyncAllocator()->Allocate(static_cast<size_t>(bytes), m.compute);
      if (!p.ok()) return p.status().WithContext(where);
      *out = std::shared_ptr<void>(*p, [](void* q) { CudaAsyncAllocator()->Free(q, nullptr); });
      return Status::Ok();
    };
    if (m.options.download_mask) VRSEG_RETURN_IF_ERROR(alloc(s.mask_layout.total, &out_mask));
    if (m.options.composite) VRSEG_RETURN_IF_ERROR(alloc(s.comp_layout.total, &out_comp));
  }
  if (m.options.download_mask && !on_device) {
    auto b = m.pinned->Acquire(static_cast<size_t>(s.mask_layout.total), "frame path mask");
    if (!b.ok()) return b.status().WithContext(where);
    host_mask = std::move(b).value();
  }
  if (m.options.composite && !on_device) {
    auto b = m.pinned->Acquire(static_cast<size_t>(s.comp_layout.total), "frame path composite");
    if (!b.ok()) return b.status().WithContext(where);
    host_comp = std::move(b).value();
  }
  // Device buffers of the slot (kept; grown for larger frames).
  auto ensure = [&](DeviceBuffer& buf, int64_t bytes, const char* tag) -> Status {
    if (!buf.empty() && buf.capacity() >= static_cast<size_t>(bytes)) return Status::Ok();
    buf.Reset();
    auto b = m.device->Allocate(static_cast<size_t>(bytes), m.compute, tag);
    if (!b.ok()) return b.status().WithContext(where);
    buf = std::move(b).value();
    return Status::Ok();
  };
  VRSEG_RETURN_IF_ERROR(ensure(s.dev_mask, s.mask_layout.total, "frame path mask"));
  // Compositing reads RGB24: frames of other formats are converted first (ToRgb24Device).
  const bool convert = m.options.composite && s.device_frame.format != PixelFormat::kRGB24;
  const int64_t rgb_pitch = (3LL * w + 3) / 4 * 4;
  if (m.options.composite) {
    VRSEG_RETURN_IF_ERROR(ensure(s.dev_comp, s.comp_layout.total, "frame path composite"));
  }
  if (convert) VRSEG_RETURN_IF_ERROR(ensure(s.dev_rgb, rgb_pitch * h, "frame path rgb"));
  // The previous download from these buffers (an earlier frame of this slot) is complete.
  VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(m.compute, s.downloaded, 0));
  VRSEG_RETURN_IF_ERROR(m.Record(s.postprocess_begin, m.compute));
  Frame mask = ViewOf(PixelFormat::kGray8, w, h, s.mask_layout,
                      out_mask ? static_cast<uint8_t*>(out_mask.get()) : s.dev_mask.as<uint8_t>(),
                      MemoryKind::kDevice);
  PostprocessGpuOptions post = m.options.postprocess;
  if (m.options.preprocess.mode == ResizeMode::kLetterbox) {
    post.post.roi = LetterboxFor(w, h, m.options.preprocess);
  }
  std::vector<PostprocessJob> jobs(1);
  jobs[0].slot = output_slot;
  jobs[0].mask = mask;
  Status st = PostprocessBatch(jobs, post, m.compute);
  if (!st.ok()) return st.WithContext(where);
  Frame comp;
  if (m.options.composite) {
    comp = ViewOf(m.options.composite_format, w, h, s.comp_layout,
                  out_comp ? static_cast<uint8_t*>(out_comp.get()) : s.dev_comp.as<uint8_t>(),
                  MemoryKind::kDevice);
    Frame rgb = s.device_frame;
    if (convert) {
      rgb = Frame::Wrap(PixelFormat::kRGB24, w, h, s.dev_rgb.as<uint8_t>(), rgb_pitch);
      rgb.memory = MemoryKind::kDevice;
      rgb.device = s.device_frame.device;
      st = ToRgb24Device(s.device_frame, &rgb, m.compute);
      if (!st.ok()) return st.WithContext(where);
    }
    st = m.options.composite_alpha ? MakeRgbaDevice(rgb, mask, &comp, m.compute)
                                   : m.compositor->Compose(rgb, mask, &comp, m.compute);
    if (!st.ok()) return st.WithContext(where);
  }
  VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.processed, m.compute));
  if (on_device) {
    // Nothing to download: the frame is done when its processing is.
    s.out_mask = std::move(out_mask);
    s.out_comp = std::move(out_comp);
    VRSEG_RETURN_IF_ERROR(m.Record(s.download_begin, m.compute));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.downloaded, m.compute));
  } else {
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamWaitEvent(m.down, s.processed, 0));
    // The slot owns the result buffers from here on, so that they outlive any copy into them.
    s.host_mask = std::move(host_mask);
    s.host_comp = std::move(host_comp);
    s.download_abandoned = true;  // until this Finish succeeds
    VRSEG_RETURN_IF_ERROR(m.Record(s.download_begin, m.down));
    if (m.options.download_mask) {
      VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.host_mask.data(), s.dev_mask.data(),
                                                 static_cast<size_t>(s.mask_layout.total),
                                                 cudaMemcpyDeviceToHost, m.down));
    }
    if (m.options.composite) {
      VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(s.host_comp.data(), s.dev_comp.data(),
                                                 static_cast<size_t>(s.comp_layout.total),
                                                 cudaMemcpyDeviceToHost, m.down));
    }
    VRSEG_CUDA_RETURN_IF_ERROR(cudaEventRecord(s.downloaded, m.down));
    s.download_abandoned = false;
  }
  s.state = Impl::Slot::State::kFinished;
  m.next_finish += 1;
  m.stats.finished += 1;
  return Status::Ok();
}

bool GpuFramePath::Ready() const {
  const Impl& m = *impl_;
  if (m.next_collect >= m.next_finish) return false;
  const Impl::Slot& s = m.slots[static_cast<size_t>(m.next_collect % m.options.slots)];
  const cudaError_t e = cudaEventQuery(s.downloaded);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  return true;  // done, or failed (Wait reports the error)
}

namespace {

// A host frame over a pinned buffer; the Frame owns the buffer (returned to its pool when the last
// copy of the Frame goes).
Frame HostResult(PinnedBuffer buf, PixelFormat f, const PlaneLayout& l, const Frame& meta) {
  auto owner = std::make_shared<PinnedBuffer>(std::move(buf));
  Frame r = ViewOf(f, meta.width, meta.height, l, owner->data(), MemoryKind::kPinnedHost);
  r.CopyMetadataFrom(meta);
  r.storage = std::shared_ptr<void>(owner, owner.get());
  return r;
}

float Since(cudaEvent_t epoch, cudaEvent_t e) {
  float ms = -1;
  if (!e || cudaEventElapsedTime(&ms, epoch, e) != cudaSuccess) {
    cudaGetLastError();
    return -1;
  }
  return ms;
}

}  // namespace

Result<FrameResult> GpuFramePath::Wait() {
  Impl& m = *impl_;
  if (m.next_collect >= m.next_finish) {
    return Status::InvalidArgument("GpuFramePath::Wait: no finished frame to wait for (" +
                                   std::to_string(m.next_submit - m.next_finish) +
                                   " submitted but not finished)");
  }
  Impl::Slot& s = m.SlotFor(m.next_collect);
  const std::string where = "GpuFramePath::Wait: frame sequence " + std::to_string(s.sequence) +
                            " (" + FrameName(s.input) + ")";
  Status st = CudaCheck(cudaEventSynchronize(s.downloaded), "cudaEventSynchronize(downloaded)",
                        __FILE__, __LINE__);
  if (!st.ok()) return st.WithContext(where);
  FrameResult r;
  r.sequence = s.sequence;
  if (m.options.results_on_device) {
    int dev = 0;
    cudaGetDevice(&dev);
    auto result = [&](std::shared_ptr<void>& buf, PixelFormat f, const PlaneLayout& l) {
      Frame out = ViewOf(f, s.input.width, s.input.height, l, static_cast<uint8_t*>(buf.get()),
                         MemoryKind::kDevice);
      out.CopyMetadataFrom(s.input);
      out.device = dev;
      out.storage = std::move(buf);
      return out;
    };
    if (s.out_mask) {
      r.mask = result(s.out_mask, PixelFormat::kGray8, s.mask_layout);
      r.mask.color = ColorInfo{};
    }
    if (s.out_comp) {
      r.composite = result(s.out_comp, m.options.composite_format, s.comp_layout);
      if (m.options.composite_format == PixelFormat::kNV12) {
        r.composite.color = ColorInfo{1, 1, 1, 1};
      }
    }
  } else if (m.options.download_mask) {
    r.mask = HostResult(std::move(s.host_mask), PixelFormat::kGray8, s.mask_layout, s.input);
    r.mask.color = ColorInfo{};
  }
  if (m.options.composite && !m.options.results_on_device) {
    r.composite =
        HostResult(std::move(s.host_comp), m.options.composite_format, s.comp_layout, s.input);
    if (m.options.composite_format == PixelFormat::kNV12) {
      r.composite.color = ColorInfo{1, 1, 1, 1};  // BT.709 limited, as RgbToNv12 tags it
    }
  }
  if (m.options.timeline) {
    FrameTimeline& t = r.timeline;
    if (s.uploaded) {
      t.upload_begin = Since(m.epoch, s.upload_begin);
      t.upload_end = Since(m.epoch, s.uploaded_ev);
    }
    t.preprocess_begin = Since(m.epoch, s.preprocess_begin);
    t.preprocess_end = Since(m.epoch, s.preprocessed);
    t.postprocess_begin = Since(m.epoch, s.postprocess_begin);
    t.postprocess_end = Since(m.epoch, s.processed);
    t.download_begin = Since(m.epoch, s.download_begin);
    t.download_end = Since(m.epoch, s.downloaded);
  }
  s.input = Frame{};
  s.device_frame = Frame{};
  s.state = Impl::Slot::State::kFree;
  m.next_collect += 1;
  m.stats.collected += 1;
  return r;
}

}  // namespace vrseg::cuda
