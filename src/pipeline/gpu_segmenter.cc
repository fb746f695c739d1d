#include "vrseg/gpu_segmenter.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "vrseg/clock.h"
#include "vrseg/profiler.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/frame_path.h"
#include "vrseg/cuda/memory.h"
#endif

namespace vrseg {

Status ValidateGpuSegmenterOptions(const GpuSegmenterOptions& o) {
  if (o.backend != "gpu" && o.backend != "ort-cuda") {
    return Status::InvalidArgument("backend.name: " + o.backend +
                                   " does not run on the GPU path (gpu or ort-cuda)");
  }
  if (o.max_batch < 1 || o.max_batch > 256) {
    return Status::InvalidArgument("batcher.max_batch: " + std::to_string(o.max_batch) +
                                   " outside 1..256");
  }
  if (o.max_wait_us < 0 || o.max_wait_us > 1'000'000) {
    return Status::InvalidArgument("batcher.max_delay_us: " + std::to_string(o.max_wait_us) +
                                   " outside 0..1000000");
  }
  if (o.max_queue != 0 && (o.max_queue < o.max_batch || o.max_queue > 65536)) {
    return Status::InvalidArgument("batcher.max_queue: " + std::to_string(o.max_queue) +
                                   " outside max_batch..65536");
  }
  if (o.max_batches_in_flight < 1 || o.max_batches_in_flight > 8) {
    return Status::InvalidArgument(
        "max_batches_in_flight: " + std::to_string(o.max_batches_in_flight) + " outside 1..8");
  }
  if (o.slots < 0) {
    return Status::InvalidArgument("slots: " + std::to_string(o.slots) + " is negative");
  }
  if (!(o.threshold_value >= 0.f && o.threshold_value <= 1.f)) {
    return Status::InvalidArgument(
        "postprocess.threshold_value: " + std::to_string(o.threshold_value) + " outside [0, 1]");
  }
  if (!o.want_mask && !o.want_composite) {
    return Status::InvalidArgument("output.content: neither a mask nor a composite asked for");
  }
  if (o.want_composite && o.composite_format != PixelFormat::kRGB24 &&
      o.composite_format != PixelFormat::kRGBA && o.composite_format != PixelFormat::kNV12) {
    return Status::InvalidArgument(
        "composite_format: " + std::string(PixelFormatName(o.composite_format)) +
        " (RGB24, RGBA or NV12)");
  }
  if (o.want_composite && o.composite_alpha && o.composite_format != PixelFormat::kRGBA) {
    return Status::InvalidArgument("composite_format: the alpha output is RGBA, not " +
                                   std::string(PixelFormatName(o.composite_format)));
  }
  return Status::Ok();
}

#ifdef VRSEG_HAVE_CUDA

int GpuDeviceCount() { return cuda::DeviceCount(); }

namespace {

std::string FrameName(const Frame& f) {
  return "stream " + std::to_string(f.stream_id) + ", frame " + std::to_string(f.index);
}

struct Group {
  std::vector<Frame> frames;
  GpuCallback done;
  int64_t submit_ns = 0;
  std::vector<GpuResult> results;
  Status status;
  int remaining = 0;  // frames not yet collected
};

struct InFlight {
  std::shared_ptr<Group> group;
  int index = 0;          // frame within the group
  int64_t sequence = -1;  // the path's sequence; -1: not submitted (failed before Submit)
};

}  // namespace

struct GpuSegmenter::Impl {
  GpuSegmenterOptions options;
  int device = 0;
  std::unique_ptr<Backend> model;
  Tensor input, output;
  cuda::FramePathOptions path_options;
  std::unique_ptr<cuda::GpuFramePath> path;  // used by the driver thread only
  // Pinned staging of pageable host frames, filled by the submitting threads (so that the copies
  // of many producers run in parallel instead of on the driver thread).
  std::unique_ptr<cuda::PinnedHostPool> staging;

  // A copy of a pageable host frame in a pinned buffer of `staging` (tight pitches), or the frame
  // itself when the pool is out of room (the path then stages it on the driver thread).
  Frame Stage(const Frame& f) {
    size_t bytes = 0;
    for (int p = 0; p < PlaneCount(f.format); ++p) {
      bytes += static_cast<size_t>(PlaneRowBytes(f.format, f.width, p)) *
               static_cast<size_t>(PlaneRows(f.format, f.height, p));
    }
    auto buf = staging->Acquire(bytes, "gpu segmenter staging");
    if (!buf.ok()) return f;
    auto owner = std::make_shared<cuda::PinnedBuffer>(std::move(buf).value());
    Frame out = f;
    uint8_t* dst = owner->data();
    for (int p = 0; p < PlaneCount(f.format); ++p) {
      const int64_t row = PlaneRowBytes(f.format, f.width, p);
      const int rows = PlaneRows(f.format, f.height, p);
      out.data[p] = dst;
      out.pitch[p] = row;
      for (int y = 0; y < rows; ++y) {
        std::memcpy(dst + y * row, f.data[p] + y * f.pitch[p], static_cast<size_t>(row));
      }
      dst += row * rows;
    }
    out.memory = MemoryKind::kPinnedHost;
    out.storage = std::move(owner);
    return out;
  }
  int slots = 0;
  int max_queue = 0;
  ModelInfo info;           // kept after Close frees the model
  std::string description;  // the backend's device description

  mutable std::mutex mu;
  std::condition_variable work_cv;           // driver: a group was queued, or closing
  std::condition_variable space_cv;          // Submit: room in the queue
  std::condition_variable idle_cv;           // Flush: a group was delivered
  std::deque<std::shared_ptr<Group>> queue;  // guarded by mu
  int queued_frames = 0;                     // guarded by mu
  int64_t groups_submitted = 0;              // guarded by mu
  int64_t groups_delivered = 0;              // guarded by mu
  bool closing = false;                      // guarded by mu
  bool closed = false;                       // guarded by mu
  Status fatal;                              // guarded by mu: a CUDA error fails all later work

  // Statistics, guarded by stats_mu.
  mutable std::mutex stats_mu;
  LatencyHistogram latency;
  int64_t frames_in = 0, frames_out = 0, frames_failed = 0, batches = 0, batch_frames = 0;
  int64_t first_submit_ns = 0, last_done_ns = 0;

  std::atomic<Profiler*> profiler{nullptr};
  std::atomic<StageId> profile_stage{kNoStage};
  std::deque<InFlight> inflight;     // driver thread only; in the path's order
  std::deque<int> inflight_batches;  // driver thread only: frames not yet collected, per batch
  std::thread driver;

  void Loop();
  void RunBatch(std::vector<std::shared_ptr<Group>>& batch);
  void CollectOne();
  void Deliver(const std::shared_ptr<Group>& g);
  void FailFrame(const InFlight& x, const Status& s) {
    if (x.group->status.ok()) x.group->status = s;
    if (--x.group->remaining == 0) Deliver(x.group);
  }
  Status Fatal() {
    std::lock_guard<std::mutex> lock(mu);
    return fatal;
  }
  void SetFatal(const Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (fatal.ok()) fatal = s;
  }
};

void GpuSegmenter::Impl::Deliver(const std::shared_ptr<Group>& g) {
  const int64_t now = NowNs();
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    const int64_t n = static_cast<int64_t>(g->frames.size());
    if (g->status.ok()) {
      frames_out += n;
      for (int64_t i = 0; i < n; ++i) latency.Add(now - g->submit_ns);
    } else {
      frames_failed += n;
    }
    last_done_ns = now;
  }
  g->frames.clear();  // lets go of device surfaces and host pixels before the
                      // callback
  if (g->status.ok()) {
    for (GpuResult& r : g->results) {
      r.submit_ns = g->submit_ns;
      r.done_ns = now;
    }
    g->done(Result<std::vector<GpuResult>>(std::move(g->results)));
  } else {
    g->done(Result<std::vector<GpuResult>>(g->status));
  }
  g->done = nullptr;
  std::lock_guard<std::mutex> lock(mu);
  ++groups_delivered;
  idle_cv.notify_all();
}

void GpuSegmenter::Impl::CollectOne() {
  InFlight x = std::move(inflight.front());
  inflight.pop_front();
  if (--inflight_batches.front() == 0) inflight_batches.pop_front();
  Result<cuda::FrameResult> r = path->Wait();
  if (!r.ok()) {
    SetFatal(r.status());
    FailFrame(x, r.status().WithContext(FrameName(x.group->frames[x.index])));
    return;
  }
  GpuResult& out = x.group->results[x.index];
  out.mask = std::move(r->mask);
  out.composite = std::move(r->composite);
  if (--x.group->remaining == 0) Deliver(x.group);
}

void GpuSegmenter::Impl::RunBatch(std::vector<std::shared_ptr<Group>>& batch) {
  int n = 0;
  for (auto& g : batch) n += static_cast<int>(g->frames.size());
  {
    std::lock_guard<std::mutex> lock(stats_mu);
    ++batches;
    batch_frames += n;
  }
  Status fatal_now = Fatal();
  if (!fatal_now.ok()) {
    for (auto& g : batch) {
      g->status = fatal_now;
      g->remaining = 0;
      Deliver(g);
    }
    return;
  }
  // Room for the whole batch: collect the oldest frames until it fits.
  while (!inflight.empty() && path->in_flight() + n > slots) CollectOne();

  // Upload and preprocess every frame into its batch slot.
  std::vector<InFlight> submitted;
  int slot = 0;
  Status batch_status;
  for (auto& g : batch) {
    for (int i = 0; i < static_cast<int>(g->frames.size()); ++i) {
      InFlight x{g, i, -1};
      if (batch_status.ok()) {
        Result<int64_t> seq = path->Submit(g->frames[i], input, slot);
        if (seq.ok()) {
          x.sequence = *seq;
        } else {
          batch_status = seq.status().WithContext(FrameName(g->frames[i]));
        }
      }
      submitted.push_back(std::move(x));
      ++slot;
    }
  }
  if (batch_status.ok()) {
    Status run = model->Run(n, path->compute_stream());
    if (!run.ok()) batch_status = run.WithContext("infer: batch of " + std::to_string(n));
  }
  // Finish every frame that was submitted (whatever happened, so the path stays
  // in step), in order; frames whose batch failed are collected and then fail
  // with the batch's error.
  slot = 0;
  for (InFlight& x : submitted) {
    const int this_slot = slot++;
    if (x.sequence < 0) continue;
    Status fin;
    for (int attempt = 0; attempt < 2000; ++attempt) {
      fin = path->Finish(x.sequence, output.slot(this_slot));
      if (fin.code() != StatusCode::kOutOfMemory) break;
      // The pinned pool is full of results still held downstream: collect
      // finished frames, else give the consumers a moment to let go of theirs.
      if (!inflight.empty()) {
        CollectOne();
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    if (!fin.ok()) {
      // The frame stays unfinished in the path: the path cannot go on.
      SetFatal(fin.WithContext(FrameName(x.group->frames[x.index])));
      batch_status = Fatal();
      break;
    }
  }
  int queued = 0;
  for (InFlight& x : submitted) {
    if (!batch_status.ok() && x.group->status.ok()) x.group->status = batch_status;
    if (x.sequence >= 0 && Fatal().ok()) {
      inflight.push_back(std::move(x));
      ++queued;
    } else {
      FailFrame(x, x.group->status.ok() ? Fatal() : x.group->status);
    }
  }
  if (queued > 0) inflight_batches.push_back(queued);
}

void GpuSegmenter::Impl::Loop() {
  (void)cudaSetDevice(device);
  const size_t max_batches = static_cast<size_t>(options.max_batches_in_flight);
  Profiler* named = nullptr;  // the profiler this thread's track was named in
  // The profiler and stage as of now (SetProfiler may come while this thread waits; it stores
  // the stage first, so a profiler seen here comes with its stage).
  StageId stage = kNoStage;
  auto current = [&]() -> Profiler* {
    Profiler* p = profiler.load();
    stage = profile_stage.load();
    if (stage == kNoStage) return nullptr;
    if (p && p != named) {
      p->SetThreadName("gpu/" + std::to_string(device));
      named = p;
    }
    return p;
  };
  for (;;) {
    // Spans: blocked while waiting for results on the GPU, busy while enqueuing a batch.
    auto collect = [&] {
      Profiler* p = current();
      ScopedTimer t(p, stage, Activity::kBlocked);
      CollectOne();
    };
    // Hand back what is done; then, while the GPU already has enough batches queued, wait for the
    // oldest instead of queuing more: frames arriving meanwhile wait here and go as one larger
    // batch. (Queuing every small batch at once fills the path, and every frame then waits
    // behind all of them: latency = frames in flight / throughput.)
    while (!inflight.empty() && path->Ready()) CollectOne();
    while (inflight_batches.size() >= max_batches) collect();
    std::vector<std::shared_ptr<Group>> batch;
    {
      std::unique_lock<std::mutex> lock(mu);
      if (queue.empty() && !inflight.empty()) {
        lock.unlock();
        collect();  // nothing new: wait for the oldest frame on the GPU
        continue;
      }
      if (queue.empty()) {
        work_cv.wait(lock, [&] { return closing || !queue.empty(); });
        if (queue.empty()) break;  // closing, nothing left
      }
      if (!queue.empty() && options.max_wait_us > 0 && queued_frames < options.max_batch &&
          !closing) {
        const auto until = std::chrono::steady_clock::time_point(
            std::chrono::nanoseconds(queue.front()->submit_ns + options.max_wait_us * 1000LL));
        work_cv.wait_until(lock, until,
                           [&] { return closing || queued_frames >= options.max_batch; });
      }
      int n = 0;
      while (!queue.empty() &&
             n + static_cast<int>(queue.front()->frames.size()) <= options.max_batch) {
        n += static_cast<int>(queue.front()->frames.size());
        batch.push_back(std::move(queue.front()));
        queue.pop_front();
      }
      queued_frames -= n;
      if (n > 0) space_cv.notify_all();
    }
    if (!batch.empty()) {
      int n = 0;
      for (auto& g : batch) n += static_cast<int>(g->frames.size());
      Profiler* p = current();
      ScopedTimer t(p, stage, Activity::kBusy, n);
      RunBatch(batch);
    }
  }
}

GpuSegmenter::GpuSegmenter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<GpuSegmenter>> GpuSegmenter::Create(const GpuSegmenterOptions& options) {
  VRSEG_RETURN_IF_ERROR(ValidateGpuSegmenterOptions(options));
  const int count = cuda::DeviceCount();
  const int dev = options.backend_options.device_id;
  if (count == 0) {
    return Status::Unavailable("device cuda: no CUDA device (" + cuda::DeviceDescription(0) + ")");
  }
  if (dev < 0 || dev >= count) {
    return Status::Unavailable("backend.device_id: " + std::to_string(dev) + ": this machine has " +
                               std::to_string(count) + " CUDA device(s)");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->device = dev;
  VRSEG_CUDA_RETURN_IF_ERROR(cudaSetDevice(dev));
  BackendOptions bo = options.backend_options;
  bo.max_batch = options.max_batch;
  VRSEG_ASSIGN_OR_RETURN(impl->model, CreateBackend(options.backend, options.model_path, bo));
  if (impl->model->device() != DeviceKind::kCuda) {
    return Status::InvalidArgument("backend.name: " + options.backend + " is not a GPU backend");
  }
  impl->info = impl->model->model_info();
  impl->description = impl->model->device_description();
  impl->input = impl->model->input(0);
  impl->output = impl->model->output(0);
  const ModelInfo& info = impl->model->model_info();
  cuda::FramePathOptions& po = impl->path_options;
  po.preprocess = PreprocessOptionsFor(info, options.resize);
  po.postprocess.post = PostprocessOptionsFor(info);
  po.postprocess.post.threshold = options.threshold;
  po.postprocess.post.threshold_value = options.threshold_value;
  po.postprocess.slot_dtype = impl->output.dtype;
  po.download_mask = options.want_mask;
  po.composite = options.want_composite;
  po.composite_alpha = options.composite_alpha;
  po.results_on_device = options.results_on_device;
  po.composite_options = options.composite;
  po.composite_format = options.composite_format;
  po.pinned_max_bytes = options.pinned_max_bytes ? options.pinned_max_bytes : size_t{1} << 30;
  impl->slots =
      options.slots > 0 ? options.slots : options.max_batches_in_flight * options.max_batch;
  impl->slots = std::clamp(impl->slots, options.max_batch, cuda::kMaxFramePathSlots);
  if (impl->slots < options.max_batch) {
    return Status::InvalidArgument("batcher.max_batch: " + std::to_string(options.max_batch) +
                                   " is more than the GPU path's " +
                                   std::to_string(cuda::kMaxFramePathSlots) + " frames in flight");
  }
  po.slots = impl->slots;
  impl->max_queue = options.max_queue > 0 ? options.max_queue : 4 * options.max_batch;
  VRSEG_ASSIGN_OR_RETURN(impl->path, cuda::GpuFramePath::Create(po));
  // Run the model once at every batch size the driver may use, so that whatever the backend does
  // the first time it meets a batch size (CUDA graph capture, library workspace) happens here and
  // not in the middle of a live stream: unwarmed, each new size stalled the GPU for tens of
  // milliseconds and the queue that built up behind it brought the next new size.
  {
    cudaStream_t st = impl->path->compute_stream();
    VRSEG_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(impl->input.data, 0, static_cast<size_t>(impl->input.bytes()), st));
    for (int b = 1; b <= options.max_batch; ++b) {
      VRSEG_RETURN_IF_ERROR(
          impl->model->Run(b, st).WithContext("warm-up at batch " + std::to_string(b)));
    }
    VRSEG_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(st));
  }
  cuda::PinnedPoolOptions staging;
  staging.max_bytes = po.pinned_max_bytes;
  VRSEG_ASSIGN_OR_RETURN(impl->staging, cuda::PinnedHostPool::Create(staging));
  Impl* p = impl.get();
  impl->driver = std::thread([p] { p->Loop(); });
  return std::unique_ptr<GpuSegmenter>(new GpuSegmenter(std::move(impl)));
}

GpuSegmenter::~GpuSegmenter() { Close(); }

Status GpuSegmenter::Submit(std::vector<Frame> frames, GpuCallback done) {
  Impl& m = *impl_;
  const int n = static_cast<int>(frames.size());
  if (n == 0) return Status::InvalidArgument("submit: empty group");
  if (n > m.options.max_batch) {
    return Status::InvalidArgument("submit: a group of " + std::to_string(n) +
                                   " frames is larger than batcher.max_batch " +
                                   std::to_string(m.options.max_batch));
  }
  if (!done) return Status::InvalidArgument("submit: no callback");
  for (const Frame& f : frames) {
    if (f.memory == MemoryKind::kDevice && f.device != m.device) {
      return Status::InvalidArgument(FrameName(f) + ": a device frame of GPU " +
                                     std::to_string(f.device) + " given to the segmenter of GPU " +
                                     std::to_string(m.device));
    }
    VRSEG_RETURN_IF_ERROR(cuda::GpuFramePath::CheckSubmit(m.path_options, f, m.input, 0, {})
                              .WithContext(FrameName(f)));
  }
  for (Frame& f : frames) {
    if (f.memory == MemoryKind::kHost) f = m.Stage(f);
  }
  auto g = std::make_shared<Group>();
  g->frames = std::move(frames);
  g->done = std::move(done);
  g->results.resize(n);
  g->remaining = n;
  std::unique_lock<std::mutex> lock(m.mu);
  m.space_cv.wait(lock, [&] { return m.closing || m.queued_frames + n <= m.max_queue; });
  if (m.closing) return Status::Cancelled("submit: the GPU segmenter is closed");
  g->submit_ns = NowNs();
  {
    std::lock_guard<std::mutex> s(m.stats_mu);
    if (m.frames_in == 0 && m.frames_out == 0) m.first_submit_ns = g->submit_ns;
    m.frames_in += n;
  }
  m.queue.push_back(std::move(g));
  m.queued_frames += n;
  ++m.groups_submitted;
  m.work_cv.notify_one();
  return Status::Ok();
}

void GpuSegmenter::Flush() {
  Impl& m = *impl_;
  std::unique_lock<std::mutex> lock(m.mu);
  const int64_t target = m.groups_submitted;
  m.idle_cv.wait(lock, [&] { return m.groups_delivered >= target || m.closed; });
}

void GpuSegmenter::Close() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> lock(m.mu);
    if (m.closing) return;
    m.closing = true;
    m.work_cv.notify_all();
    m.space_cv.notify_all();
  }
  if (m.driver.joinable()) m.driver.join();
  m.path.reset();  // waits for the GPU
  m.model.reset();
  std::lock_guard<std::mutex> lock(m.mu);
  m.closed = true;
  m.idle_cv.notify_all();
}

GpuSegmenterStats GpuSegmenter::Stats() const {
  const Impl& m = *impl_;
  GpuSegmenterStats s;
  std::lock_guard<std::mutex> lock(m.stats_mu);
  s.frames_in = m.frames_in;
  s.frames_out = m.frames_out;
  s.frames_failed = m.frames_failed;
  s.batches = m.batches;
  s.mean_batch = m.batches ? static_cast<double>(m.batch_frames) / m.batches : 0;
  s.latency = SummarizeLatency(m.latency);
  if (m.last_done_ns > m.first_submit_ns && m.first_submit_ns > 0) {
    s.elapsed_s = static_cast<double>(m.last_done_ns - m.first_submit_ns) / 1e9;
    s.fps = s.frames_out / s.elapsed_s;
  }
  return s;
}

void GpuSegmenter::SetProfiler(Profiler* profiler, StageId stage) {
  impl_->profile_stage.store(stage);
  impl_->profiler.store(profiler);
}

void GpuSegmenter::ResetStats() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.stats_mu);
  m.latency.Clear();
  m.frames_in = m.frames_out = m.frames_failed = m.batches = m.batch_frames = 0;
  m.first_submit_ns = m.last_done_ns = 0;
}

const ModelInfo& GpuSegmenter::model_info() const { return impl_->info; }
std::string GpuSegmenter::device_description() const { return impl_->description; }
const GpuSegmenterOptions& GpuSegmenter::options() const { return impl_->options; }

#else  // !VRSEG_HAVE_CUDA

int GpuDeviceCount() { return 0; }

struct GpuSegmenter::Impl {
  GpuSegmenterOptions options;
  ModelInfo info;
};

GpuSegmenter::GpuSegmenter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuSegmenter::~GpuSegmenter() = default;

Result<std::unique_ptr<GpuSegmenter>> GpuSegmenter::Create(const GpuSegmenterOptions& options) {
  VRSEG_RETURN_IF_ERROR(ValidateGpuSegmenterOptions(options));
  return Status::Unavailable("device cuda: vrseg was built without CUDA");
}
Status GpuSegmenter::Submit(std::vector<Frame>, GpuCallback) {
  return Status::Unavailable("device cuda: vrseg was built without CUDA");
}
void GpuSegmenter::Flush() {}
void GpuSegmenter::Close() {}
GpuSegmenterStats GpuSegmenter::Stats() const { return {}; }
void GpuSegmenter::SetProfiler(Profiler*, StageId) {}
void GpuSegmenter::ResetStats() {}
const ModelInfo& GpuSegmenter::model_info() const { return impl_->info; }
std::string GpuSegmenter::device_description() const { return "no CUDA"; }
const GpuSegmenterOptions& GpuSegmenter::options() const { return impl_->options; }

#endif  // VRSEG_HAVE_CUDA

}  // namespace vrseg
