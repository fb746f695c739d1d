#include "vrseg/segmenter.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "vrseg/clock.h"
#include "vrseg/host_staged_backend.h"
#include "vrseg/log.h"
#include "vrseg/model_registry.h"
#include "vrseg/profiler.h"

namespace vrseg {

namespace {

// backend.devices → GPU ids: "" = {device_id}, "all", or "0,1,...".
Result<std::vector<int>> ParseDevices(const std::string& spec, int device_id, int count) {
  std::vector<int> ids;
  if (spec.empty()) {
    ids.push_back(device_id);
  } else if (spec == "all") {
    for (int i = 0; i < count; ++i) ids.push_back(i);
  } else {
    size_t pos = 0;
    while (pos <= spec.size()) {
      const size_t comma = std::min(spec.find(',', pos), spec.size());
      const std::string item = spec.substr(pos, comma - pos);
      char* end = nullptr;
      const long v = std::strtol(item.c_str(), &end, 10);
      if (item.empty() || *end != '\0' || v < 0 || v > 63) {
        return Status::InvalidArgument("backend.devices: '" + spec +
                                       "' is not all or a list of GPU numbers such as 0,1");
      }
      if (std::find(ids.begin(), ids.end(), static_cast<int>(v)) != ids.end()) {
        return Status::InvalidArgument("backend.devices: GPU " + item + " is listed twice");
      }
      ids.push_back(static_cast<int>(v));
      pos = comma + 1;
    }
  }
  for (int id : ids) {
    if (id >= count) {
      return Status::Unavailable("backend.devices: GPU " + std::to_string(id) +
                                 " does not exist; this machine has " + std::to_string(count));
    }
  }
  return ids;
}

}  // namespace

Status ValidateSegmenterOptions(const SegmenterOptions& o) {
  VRSEG_RETURN_IF_ERROR(ValidatePipelineOptions(o.pipeline));
  if (o.backend.empty()) return Status::InvalidArgument("backend: empty name");
  if (!(o.threshold_value >= 0.f && o.threshold_value <= 1.f)) {
    return Status::InvalidArgument("postprocess.threshold_value: " +
                                   std::to_string(o.threshold_value) + " outside [0, 1]");
  }
  if (o.decode_threads < 0 || o.decode_threads > 64) {
    return Status::InvalidArgument("input.decode_threads: " + std::to_string(o.decode_threads) +
                                   " outside 0..64");
  }
  if (!(o.temporal_options.factor > 0.f && o.temporal_options.factor <= 1.f)) {
    return Status::InvalidArgument("postprocess.temporal.factor: " +
                                   std::to_string(o.temporal_options.factor) + " outside (0, 1]");
  }
  if (!(o.temporal_options.hysteresis >= 0.f && o.temporal_options.hysteresis < 1.f)) {
    return Status::InvalidArgument(
        "postprocess.temporal.hysteresis: " + std::to_string(o.temporal_options.hysteresis) +
        " outside [0, 1)");
  }
  if (o.refine_options.radius < 1) {
    return Status::InvalidArgument(
        "postprocess.refine.radius: " + std::to_string(o.refine_options.radius) + " is below 1");
  }
  if (!(o.refine_options.eps > 0.f && o.refine_options.eps < 1e30f)) {
    return Status::InvalidArgument(
        "postprocess.refine.eps: " + std::to_string(o.refine_options.eps) + " is not positive");
  }
  if (o.refine_options.subsample < 1) {
    return Status::InvalidArgument("postprocess.refine.subsample: " +
                                   std::to_string(o.refine_options.subsample) + " is below 1");
  }
  if (o.device != "auto" && o.device != "cpu" && o.device != "cuda") {
    return Status::InvalidArgument("backend.device: " + o.device + " is not auto, cpu or cuda");
  }
  if (!o.devices.empty()) VRSEG_RETURN_IF_ERROR(ParseDevices(o.devices, 0, 64).status());
  if (o.backend_options.threads < 0) {
    return Status::InvalidArgument("backend.threads: " + std::to_string(o.backend_options.threads) +
                                   " is negative");
  }
  return Status::Ok();
}

namespace {

// Per-pipeline state of the pre/postprocess hooks: one scratch set per worker.
struct HookState {
  ModelInfo info;
  PreprocessOptions pre_options;
  PostprocessOptions post_options;
  std::vector<Preprocessor> pre;                  // [preprocess worker]
  std::vector<Frame> prob;                        // [postprocess worker] model-size scratch
  std::vector<std::map<int, Compositor>> comps;   // [postprocess worker][stream]
  std::vector<OutputContent> content_by_stream;   // Run: per input; else default_content
  OutputContent default_content = OutputContent::kMask;
  CompositeOptions composite;
  bool refine = false;
  GuidedFilterOptions refine_options;
  // Temporal smoothing runs on the sink thread (results in order per stream); these two are
  // touched only there.
  bool temporal = false;
  std::optional<TemporalSmoother> smoother;  // one state per stream_id inside
  std::map<int, Compositor> sink_comps;      // [stream], for content made in the sink

  OutputContent ContentOf(int stream) const {
    if (stream >= 0 && stream < static_cast<int>(content_by_stream.size())) {
      return content_by_stream[stream];
    }
    return default_content;
  }
};

// Makes r->output (alpha or composite, from the final r->mask) when the stream asks for it.
Status MakeContent(HookState& st, std::map<int, Compositor>& comps, FrameResult* r) {
  const Frame& in = r->input;
  switch (st.ContentOf(r->stream_id)) {
    case OutputContent::kMask:
      break;
    case OutputContent::kAlpha:
      VRSEG_RETURN_IF_ERROR(EnsureFrame(&r->output, PixelFormat::kRGBA, in.width, in.height));
      VRSEG_RETURN_IF_ERROR(MakeRgba(in, r->mask, &r->output));
      r->output.CopyMetadataFrom(in);
      break;
    case OutputContent::kComposite: {
      auto it = comps.try_emplace(r->stream_id, st.composite).first;
      VRSEG_RETURN_IF_ERROR(EnsureFrame(&r->output, PixelFormat::kRGB24, in.width, in.height));
      VRSEG_RETURN_IF_ERROR(it->second.Compose(in, r->mask, &r->output));
      r->output.CopyMetadataFrom(in);
      break;
    }
  }
  return Status::Ok();
}

Status Postprocess(HookState& st, const Tensor& output, int slot, int worker, FrameResult* r) {
  const Frame& in = r->input;
  PostprocessOptions post = st.post_options;
  post.roi = LetterboxFor(in.width, in.height, st.pre_options);
  const float* src = static_cast<const float*>(output.slot(slot));
  VRSEG_RETURN_IF_ERROR(ProbabilityFromOutput(src, post, &st.prob[worker]));
  VRSEG_RETURN_IF_ERROR(EnsureFrame(&r->mask, PixelFormat::kGray8, in.width, in.height));
  VRSEG_RETURN_IF_ERROR(UpsampleMask(st.prob[worker], post, &r->mask));
  if (st.refine) {
    if (in.format != PixelFormat::kRGB24) {  // Submit refuses these; Run decodes to RGB24
      return Status::InvalidArgument(std::string("postprocess.refine.enabled: the guide must be "
                                                 "RGB24, the frame is ") +
                                     std::string(PixelFormatName(in.format)));
    }
    VRSEG_RETURN_IF_ERROR(GuidedFilterRefine(in, r->mask, st.refine_options, &r->mask));
  }
  r->mask.CopyMetadataFrom(in);
  if (st.temporal) return Status::Ok();  // smoothing and content follow in the sink
  return MakeContent(st, st.comps[worker], r);
}

// Copies the pixels of one Gray8 frame into another of the same size.
void CopyGray8(const Frame& src, Frame* dst) {
  for (int y = 0; y < src.height; ++y) {
    std::memcpy(dst->data[0] + static_cast<size_t>(y) * dst->pitch[0],
                src.data[0] + static_cast<size_t>(y) * src.pitch[0], src.width);
  }
}

// The sink-side step with temporal smoothing on: r->mask := smoothed mask (in order per stream),
// then the content from it. Results with an error status are left alone (not smoothed).
Status SinkPostprocess(HookState& st, FrameResult* r) {
  if (!st.temporal || !r->status.ok()) return Status::Ok();
  Frame smoothed;  // the smoother's own pixels: copied into the result, never handed out
  VRSEG_RETURN_IF_ERROR(st.smoother->Apply(r->mask, &smoothed).WithContext("postprocess.temporal"));
  CopyGray8(smoothed, &r->mask);
  return MakeContent(st, st.sink_comps, r);
}

const Frame& ContentFrame(const FrameResult& r, OutputContent c) {
  return c == OutputContent::kMask ? r.mask : r.output;
}

// Why the all-GPU path cannot take these options; "" when it can.
std::string GpuPathRefusal(const SegmenterOptions& o) {
  if (o.backend != "ort" && o.backend != "gpu" && o.backend != "ort-cuda") {
    return "backend.name " + o.backend + " runs on the CPU path only";
  }
  if (o.temporal) return "postprocess.temporal.enabled is done on the CPU path only";
  if (o.refine) return "postprocess.refine.enabled is done on the CPU path only";
  return "";
}

// What the GPU path downloads for a content.
struct GpuContent {
  bool mask = false, composite = false, alpha = false;
};

GpuContent GpuContentFor(const std::vector<OutputContent>& contents) {
  GpuContent c;
  for (OutputContent oc : contents) {
    if (oc == OutputContent::kMask) c.mask = true;
    if (oc == OutputContent::kComposite) c.composite = true;
    if (oc == OutputContent::kAlpha) c.alpha = true;
  }
  return c;
}

GpuSegmenterOptions GpuOptionsFor(const SegmenterOptions& o, const std::string& model_path,
                                  int device, const GpuContent& c) {
  GpuSegmenterOptions g;
  g.backend = o.backend == "ort" ? "gpu" : o.backend;
  g.model_path = model_path;
  g.backend_options = o.backend_options;
  g.backend_options.device_id = device;
  g.max_batch = std::max(o.pipeline.batcher.max_batch, o.stereo ? 2 : 1);
  g.max_wait_us = static_cast<int>(std::min<int64_t>(o.pipeline.batcher.max_delay_us, 1'000'000));
  g.max_queue = std::max(o.pipeline.batcher.max_queue, g.max_batch);
  g.resize = o.resize;
  g.threshold = o.threshold;
  g.threshold_value = o.threshold_value;
  g.want_mask = c.mask || (!c.composite && !c.alpha);
  g.want_composite = c.composite || c.alpha;
  g.composite_alpha = c.alpha;
  g.composite = o.composite;
  g.composite_format = c.alpha ? PixelFormat::kRGBA : PixelFormat::kRGB24;
  return g;
}

const Frame& GpuContentFrame(const GpuResult& r, OutputContent c) {
  return c == OutputContent::kMask ? r.mask : r.composite;
}

}  // namespace

Result<std::unique_ptr<Segmenter>> Segmenter::Create(const SegmenterOptions& options) {
  VRSEG_RETURN_IF_ERROR(ValidateSegmenterOptions(options));
  std::unique_ptr<Segmenter> s(new Segmenter());
  s->options_ = options;
  if (!(options.backend == "noop" && options.model.empty())) {
    VRSEG_ASSIGN_OR_RETURN(s->model_path_, ResolveModelPath(options.model));
  }
  bool gpu = false;
  const int gpu_count = GpuDeviceCount();
  if (options.device != "cpu") {
    const std::string refusal = GpuPathRefusal(options);
    if (options.device == "cuda") {
      if (!refusal.empty()) {
        return Status::Unsupported("backend.device: cuda: " + refusal + " (use --device cpu)");
      }
      if (gpu_count == 0) {
        return Status::Unavailable(std::string("backend.device: cuda: ") +
#ifdef VRSEG_HAVE_CUDA
                                   "no CUDA device or driver on this machine"
#else
                                   "vrseg was built without CUDA"
#endif
        );
      }
      gpu = true;
    } else if (gpu_count > 0) {
      if (refusal.empty()) {
        gpu = true;
      } else {
        LogInfo("backend.device auto: the CPU path, since " + refusal);
      }
    }
  }
  if (gpu) {
    VRSEG_ASSIGN_OR_RETURN(std::vector<int> ids,
                           ParseDevices(options.devices, options.backend_options.device_id,
                                        gpu_count));
    const GpuContent c = GpuContentFor({options.content});
    Status made;
    for (int id : ids) {
      auto g = GpuSegmenter::Create(GpuOptionsFor(options, s->model_path_, id, c));
      if (!g.ok()) {
        made = g.status();
        break;
      }
      s->gpus_.push_back(std::move(*g));
    }
    if (made.ok()) {
      s->model_info_ = s->gpus_.front()->model_info();
      s->device_ = "cuda path, " + s->gpus_.front()->device_description();
      if (ids.size() > 1) s->device_ += " (x" + std::to_string(ids.size()) + " GPUs)";
      return s;
    }
    // --device cuda fails with the reason; auto says it and takes the CPU path.
    if (options.device == "cuda") return made;
    LogWarning("backend.device auto: the GPU path could not start (" + made.ToString() +
               "); using the CPU path");
    s->gpus_.clear();
  }
  VRSEG_ASSIGN_OR_RETURN(s->spare_backends_, s->TakeBackends());
  const Backend& b = *s->spare_backends_.front();
  s->model_info_ = b.model_info();
  s->device_ = b.device_description();
  if (b.outputs().front().dtype != DType::kFloat32) {
    return Status::Unsupported("model " + s->model_path_ + ": output '" + b.outputs().front().name +
                               "' is " + DTypeName(b.outputs().front().dtype) +
                               "; the postprocessing reads float32");
  }
  return s;
}

Segmenter::~Segmenter() { (void)Close(); }

Result<std::vector<std::unique_ptr<Backend>>> Segmenter::TakeBackends() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spare_backends_.empty()) return std::move(spare_backends_);
  }
  BackendOptions bo = options_.backend_options;
  bo.max_batch = options_.pipeline.batcher.max_batch;
  std::vector<std::unique_ptr<Backend>> v;
  for (int i = 0; i < options_.pipeline.buffer_sets; ++i) {
    VRSEG_ASSIGN_OR_RETURN(auto b, CreateBackend(options_.backend, model_path_, bo));
    // The CPU pipeline fills and reads host tensors: a GPU backend is run through pinned staging
    // buffers (the all-GPU path keeps frames on the device instead).
    VRSEG_ASSIGN_OR_RETURN(b, HostStaged(std::move(b)));
    v.push_back(std::move(b));
  }
  return v;
}

Result<std::unique_ptr<Pipeline>> Segmenter::MakePipeline(
    std::vector<OutputContent> content_by_stream, std::function<Status(FrameResult&)> sink,
    Profiler* profiler, std::vector<std::string> stream_names) {
  VRSEG_ASSIGN_OR_RETURN(auto backends, TakeBackends());
  auto st = std::make_shared<HookState>();
  st->info = backends.front()->model_info();
  st->pre_options = PreprocessOptionsFor(st->info, options_.resize);
  st->post_options = PostprocessOptionsFor(st->info);
  st->post_options.threshold = options_.threshold;
  st->post_options.threshold_value = options_.threshold_value;
  for (int i = 0; i < options_.pipeline.preprocess_workers; ++i) {
    VRSEG_ASSIGN_OR_RETURN(Preprocessor p, Preprocessor::Create(st->pre_options));
    st->pre.push_back(std::move(p));
  }
  st->prob.resize(options_.pipeline.postprocess_workers);
  st->comps.resize(options_.pipeline.postprocess_workers);
  st->content_by_stream = std::move(content_by_stream);
  st->default_content = options_.content;
  st->composite = options_.composite;
  st->refine = options_.refine;
  st->refine_options = options_.refine_options;
  st->temporal = options_.temporal;
  if (st->temporal) st->smoother.emplace(options_.temporal_options);

  PipelineHooks hooks;
  hooks.preprocess = [st](const Frame& in, const Tensor& input, int slot, int worker) {
    return st->pre[worker].RunToTensor(in, input, slot);
  };
  hooks.postprocess = [st](const Tensor& output, int slot, int worker, FrameResult* r) {
    return Postprocess(*st, output, slot, worker, r);
  };
  if (st->temporal) {
    hooks.sink = [st, sink = std::move(sink)](FrameResult& r) -> Status {
      VRSEG_RETURN_IF_ERROR(SinkPostprocess(*st, &r));
      return sink ? sink(r) : Status::Ok();
    };
  } else {
    hooks.sink = std::move(sink);
  }
  if (!stream_names.empty()) {
    hooks.stream_name = [names = std::move(stream_names)](int id) {
      return id >= 0 && id < static_cast<int>(names.size()) ? names[id] : std::string();
    };
  }
  return Pipeline::Create(options_.pipeline, std::move(backends), std::move(hooks), nullptr,
                          profiler);
}

Status Segmenter::EnsureSubmitPipeline() {
  std::lock_guard<std::mutex> create_lock(create_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return Status::Cancelled("segmenter: stop requested");
    if (submit_pipeline_) return Status::Ok();
  }
  VRSEG_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> p, MakePipeline({}, nullptr, nullptr));
  std::lock_guard<std::mutex> lock(mu_);
  submit_pipeline_ = std::move(p);
  if (stop_requested_) submit_pipeline_->RequestStop();
  return Status::Ok();
}

namespace {

// The two eyes of one stereo frame on their way back: the merged frame goes out once both came.
struct EyePair {
  std::mutex mu;
  Result<Frame> eye[2] = {Result<Frame>(Status::Cancelled("stereo: eye not delivered")),
                          Result<Frame>(Status::Cancelled("stereo: eye not delivered"))};
  int arrived = 0;
  StereoLayout layout = StereoLayout::kSideBySide;
  int stream_id = 0;
  std::function<void(Result<Frame>)> done;

  void Set(int e, Result<Frame> r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      eye[e] = std::move(r);
      if (++arrived < 2) return;
    }
    if (!eye[0].ok()) return done(eye[0].status());
    if (!eye[1].ok()) return done(eye[1].status());
    Frame merged;
    Status st = MergeStereo(*eye[0], *eye[1], layout, &merged);
    if (!st.ok()) return done(st.WithContext("stereo: merging the eyes"));
    merged.stream_id = stream_id;
    done(std::move(merged));
  }
};

}  // namespace

Status Segmenter::SubmitGpu(Frame frame, std::function<void(Result<Frame>)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return Status::Cancelled("segmenter: stop requested");
  }
  const int n = static_cast<int>(gpus_.size());
  GpuSegmenter& g = *gpus_[static_cast<size_t>(std::max(0, frame.stream_id) % n)];
  const OutputContent content = options_.content;
  std::vector<Frame> group;
  std::optional<StereoLayout> stereo = options_.stereo;
  if (stereo) {
    Frame l, r;
    VRSEG_RETURN_IF_ERROR(SplitStereo(frame, *stereo, &l, &r).WithContext(
        "stream " + std::to_string(frame.stream_id) + ", frame " + std::to_string(frame.index)));
    group = {std::move(l), std::move(r)};
  } else {
    group = {std::move(frame)};
  }
  const int stream_id = group.front().stream_id;
  return g.Submit(std::move(group), [done = std::move(done), content, stereo,
                                     stream_id](Result<std::vector<GpuResult>> r) {
    if (!r.ok()) return done(r.status());
    if (!stereo) return done(GpuContentFrame((*r)[0], content));
    Frame merged;
    Status st = MergeStereo(GpuContentFrame((*r)[0], content), GpuContentFrame((*r)[1], content),
                            *stereo, &merged);
    if (!st.ok()) return done(st.WithContext("stereo: merging the eyes"));
    merged.stream_id = stream_id;
    done(std::move(merged));
  });
}

Status Segmenter::Submit(Frame frame, SubmitOptions options,
                         std::function<void(Result<Frame>)> done) {
  if (!gpus_.empty()) return SubmitGpu(std::move(frame), std::move(done));
  if (options_.stereo) {
    Frame l, r;
    VRSEG_RETURN_IF_ERROR(SplitStereo(frame, *options_.stereo, &l, &r).WithContext(
        "stream " + std::to_string(frame.stream_id) + ", frame " + std::to_string(frame.index)));
    // Each eye is a stream of its own (2s, 2s+1), so temporal state is kept per eye.
    l.stream_id = 2 * frame.stream_id;
    r.stream_id = 2 * frame.stream_id + 1;
    auto pair = std::make_shared<EyePair>();
    pair->layout = *options_.stereo;
    pair->stream_id = frame.stream_id;
    pair->done = std::move(done);
    VRSEG_RETURN_IF_ERROR(SubmitOne(std::move(l), options,
                                    [pair](Result<Frame> res) { pair->Set(0, std::move(res)); }));
    Status second = SubmitOne(std::move(r), options,
                              [pair](Result<Frame> res) { pair->Set(1, std::move(res)); });
    if (!second.ok()) pair->Set(1, second);  // the left eye's result still arrives
    return Status::Ok();
  }
  return SubmitOne(std::move(frame), options, std::move(done));
}

Status Segmenter::SubmitOne(Frame frame, SubmitOptions options,
                            std::function<void(Result<Frame>)> done) {
  if (options_.refine && frame.format != PixelFormat::kRGB24) {
    return Status::InvalidArgument(
        "postprocess.refine.enabled: refinement is guided by the frame and needs RGB24 input; "
        "stream " +
        std::to_string(frame.stream_id) + ", frame " + std::to_string(frame.index) + " is " +
        std::string(PixelFormatName(frame.format)));
  }
  VRSEG_RETURN_IF_ERROR(EnsureSubmitPipeline());
  std::shared_ptr<Pipeline> p;  // keeps it alive against a concurrent Close
  {
    std::lock_guard<std::mutex> lock(mu_);
    p = submit_pipeline_;
  }
  if (!p) return Status::Cancelled("segmenter: closed");
  PushOptions po;
  po.priority = options.priority;
  po.deadline_ns = options.deadline_ns;
  const OutputContent content = options_.content;
  po.on_done = [done = std::move(done), content](FrameResult& r) {
    if (r.status.ok()) {
      done(Result<Frame>(ContentFrame(r, content)));
    } else {
      done(Result<Frame>(r.status));
    }
  };
  return p->Push(std::move(frame), std::move(po));
}

std::future<Result<Frame>> Segmenter::Submit(Frame frame, SubmitOptions options) {
  auto promise = std::make_shared<std::promise<Result<Frame>>>();
  std::future<Result<Frame>> f = promise->get_future();
  Status s = Submit(std::move(frame), options,
                    [promise](Result<Frame> r) { promise->set_value(std::move(r)); });
  if (!s.ok()) promise->set_value(Result<Frame>(s));
  return f;
}

namespace {

// Counts the frames written by a Run and calls RunOptions::progress about every
// progress_interval_ms, and once more at the end (Report(true)). Thread-safe.
class Progress {
 public:
  Progress(const RunOptions& options, int64_t total)
      : options_(options), total_(total), start_ns_(NowNs()), last_ns_(start_ns_) {}
  void Add() {
    done_.fetch_add(1);
    Report(false);
  }
  void Report(bool force) {
    if (!options_.progress) return;
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t now = NowNs();
    if (!force && now - last_ns_ < options_.progress_interval_ms * 1'000'000LL) return;
    last_ns_ = now;
    ProgressInfo pi;
    pi.frames_done = done_.load();
    pi.frames_total = total_;
    pi.elapsed_s = static_cast<double>(now - start_ns_) / 1e9;
    pi.fps = pi.elapsed_s > 0 ? pi.frames_done / pi.elapsed_s : 0;
    pi.eta_s = (total_ >= 0 && pi.fps > 0) ? std::max<double>(0, total_ - pi.frames_done) / pi.fps
                                           : -1;
    options_.progress(pi);
  }
  int64_t done() const { return done_.load(); }

 private:
  const RunOptions& options_;
  const int64_t total_;
  const int64_t start_ns_;
  std::mutex mu_;
  int64_t last_ns_;  // guarded by mu_
  std::atomic<int64_t> done_{0};
};

}  // namespace

Status Segmenter::Run(const std::vector<std::string>& inputs,
                      const std::vector<RunOutput>& outputs, const RunOptions& run_options) {
  if (inputs.empty()) return Status::InvalidArgument("run: no inputs");
  if (inputs.size() != outputs.size()) {
    return Status::InvalidArgument("run: " + std::to_string(inputs.size()) + " inputs but " +
                                   std::to_string(outputs.size()) + " outputs");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_requested_) return Status::Cancelled("run: stop requested before start");
  }
  if (!gpus_.empty()) return RunGpu(inputs, outputs, run_options);
  const int n = static_cast<int>(inputs.size());
  std::vector<std::unique_ptr<VideoReader>> readers;
  std::vector<std::unique_ptr<VideoWriter>> writers;
  std::vector<OutputContent> content;
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    ReaderOptions ro;
    ro.format = PixelFormat::kRGB24;
    ro.threads = options_.decode_threads;
    ro.stream_id = i;
    VRSEG_ASSIGN_OR_RETURN(auto r, VideoReader::Open(inputs[i], ro));
    const int64_t fc = r->info().frame_count;
    total = (total < 0 || fc < 0) ? -1 : total + fc;
    readers.push_back(std::move(r));
  }
  for (int i = 0; i < n; ++i) {
    auto w = VideoWriter::Open(outputs[i].path, readers[i]->info(), outputs[i].writer);
    if (!w.ok()) {
      for (auto& ww : writers) (void)ww->Close();
      return w.status();
    }
    writers.push_back(std::move(*w));
    content.push_back(outputs[i].writer.content);
  }

  // The sink: write each result to its output; report progress.
  Progress progress(run_options, total);
  auto write = [&](int i, const Frame& f) -> Status {
    VRSEG_RETURN_IF_ERROR(writers[i]->Write(f));
    progress.Add();
    return Status::Ok();
  };
  // Stereo: input i is pipeline streams 2i (left eye) and 2i+1 (right eye); the sink keeps the
  // first eye of a frame until the other arrives, then writes the two merged.
  const std::optional<StereoLayout> stereo = options_.stereo;
  struct EyeWait {
    Frame eye[2];
    int arrived = 0;
    bool failed = false;
  };
  std::vector<std::map<int64_t, EyeWait>> waiting(n);
  auto sink = [&](FrameResult& r) -> Status {
    if (!stereo) {
      if (!r.status.ok()) return Status::Ok();  // failed frames are not written
      return write(r.stream_id, ContentFrame(r, content[r.stream_id]));
    }
    const int i = r.stream_id / 2;
    const int e = r.stream_id % 2;
    auto it = waiting[i].try_emplace(r.input.index).first;
    EyeWait& w = it->second;
    if (r.status.ok()) {
      w.eye[e] = ContentFrame(r, content[i]);  // shares the pixels; the record makes new ones
    } else {
      w.failed = true;
    }
    if (++w.arrived < 2) return Status::Ok();
    EyeWait both = std::move(w);
    waiting[i].erase(it);
    if (both.failed) return Status::Ok();
    Frame merged;
    VRSEG_RETURN_IF_ERROR(MergeStereo(both.eye[0], both.eye[1], *stereo, &merged)
                              .WithContext("stereo: stream " + std::to_string(i) + ", frame " +
                                           std::to_string(r.input.index)));
    merged.stream_id = i;
    return write(i, merged);
  };
  std::vector<OutputContent> stream_content = content;
  std::vector<std::string> stream_names = inputs;
  if (stereo) {
    stream_content.clear();
    stream_names.clear();
    for (int i = 0; i < n; ++i) {
      for (const char* eye : {" (left eye)", " (right eye)"}) {
        stream_content.push_back(content[i]);
        stream_names.push_back(inputs[i] + eye);
      }
    }
  }
  Profiler* profiler = run_options.profiler;
  // The decoders are the first stage of the profile (registered before the pipeline's).
  const StageId decode_stage = profiler ? profiler->RegisterStage("decode") : kNoStage;
  VRSEG_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline,
                         MakePipeline(stream_content, sink, profiler, stream_names));
  {
    std::lock_guard<std::mutex> lock(mu_);
    run_pipeline_ = pipeline.get();
    if (stop_requested_) pipeline->RequestStop();
  }

  // Sources: one decoder thread per input. A decode error stops intake of every input; the
  // frames decoded before it still finish and are written, then Run returns that error.
  std::mutex decode_mu;
  Status decode_status;
  std::vector<std::thread> sources;
  for (int i = 0; i < n; ++i) {
    sources.emplace_back([&, i] {
      VideoReader& reader = *readers[i];
      if (profiler) profiler->SetThreadName("decode/" + std::to_string(i));
      while (true) {
        Frame f;
        ScopedTimer busy(profiler, decode_stage, Activity::kBusy);
        Result<bool> more = reader.Read(&f);
        busy.Stop();
        if (!more.ok()) {
          {
            std::lock_guard<std::mutex> lock(decode_mu);
            if (decode_status.ok()) {
              decode_status = more.status().WithContext("decode: stream " + std::to_string(i));
            }
          }
          pipeline->RequestStop();
          return;
        }
        if (!*more) return;
        f.stream_id = i;
        ScopedTimer blocked(profiler, decode_stage, Activity::kBlocked);
        if (stereo) {
          Frame l, r;
          Status split = SplitStereo(f, *stereo, &l, &r);
          if (!split.ok()) {
            pipeline->Abort(split.WithContext("stereo: " + inputs[i] + ", frame " +
                                              std::to_string(f.index)));
            return;
          }
          l.stream_id = 2 * i;
          r.stream_id = 2 * i + 1;
          if (!pipeline->Push(std::move(l)).ok()) return;
          if (!pipeline->Push(std::move(r)).ok()) return;
          continue;
        }
        if (!pipeline->Push(std::move(f)).ok()) return;  // stopped or failed
      }
    });
  }
  for (auto& t : sources) t.join();
  Status st = pipeline->Finish();
  Status close_status;
  for (int i = 0; i < n; ++i) {
    Status c = writers[i]->Close();
    if (!c.ok() && close_status.ok()) close_status = c;
  }
  progress.Report(true);
  bool stopped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    run_pipeline_ = nullptr;
    last_stats_ = pipeline->Stats();
    frames_written_ += progress.done();
    stopped = stop_requested_;
  }
  if (!st.ok()) return st;
  if (!decode_status.ok()) return decode_status;
  if (!close_status.ok()) return close_status;
  if (stopped) {
    return Status::Cancelled("run: stopped on request after " + std::to_string(progress.done()) +
                             " frames; outputs finalised");
  }
  return Status::Ok();
}

namespace {

// Pipeline-shaped statistics of the GPU path, over every GPU: counts add up; the latency
// percentiles are those of the GPU with the highest p99 (mean: weighted by frames).
PipelineStats GpuPipelineStats(const std::vector<std::unique_ptr<GpuSegmenter>>& gpus) {
  PipelineStats p;
  double lat_sum = 0;
  double batch_frames = 0;
  for (const auto& g : gpus) {
    const GpuSegmenterStats s = g->Stats();
    p.frames_in += s.frames_in;
    p.frames_out += s.frames_out;
    p.frames_failed += s.frames_failed;
    p.batches += s.batches;
    batch_frames += s.mean_batch * static_cast<double>(s.batches);
    lat_sum += s.latency.mean_us * static_cast<double>(s.latency.count);
    if (s.latency.p99_us >= p.latency.p99_us) {
      const int64_t count = p.latency.count;
      p.latency = s.latency;
      p.latency.count = count;
    }
    p.latency.count += s.latency.count;
    p.elapsed_s = std::max(p.elapsed_s, s.elapsed_s);
  }
  if (p.latency.count > 0) p.latency.mean_us = lat_sum / static_cast<double>(p.latency.count);
  if (p.batches > 0) p.mean_batch = batch_frames / static_cast<double>(p.batches);
  if (p.elapsed_s > 0) p.fps = static_cast<double>(p.frames_out) / p.elapsed_s;
  return p;
}

// A bounded queue of frames for one output's writer thread.
struct WriteQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Frame> frames;
  bool closed = false;
};

}  // namespace

Status Segmenter::RunGpu(const std::vector<std::string>& inputs,
                         const std::vector<RunOutput>& outputs, const RunOptions& run_options) {
  const int n = static_cast<int>(inputs.size());
  std::vector<OutputContent> content;
  for (const RunOutput& o : outputs) content.push_back(o.writer.content);
  const GpuContent need = GpuContentFor(content);
  if (need.alpha && need.composite) {
    return Status::Unsupported(
        "output.content: the GPU path makes alpha or composite outputs in one run, not both "
        "(run them apart, or use --device cpu)");
  }
  // The GPU segmenters download what Submit's content needs; remake them for this run's outputs
  // when those differ.
  const GpuSegmenterOptions& have = gpus_.front()->options();
  if (have.want_mask != (need.mask || (!need.composite && !need.alpha)) ||
      have.want_composite != (need.composite || need.alpha) ||
      have.composite_alpha != need.alpha) {
    std::vector<int> ids;
    for (const auto& g : gpus_) ids.push_back(g->options().backend_options.device_id);
    gpus_.clear();
    for (int id : ids) {
      VRSEG_ASSIGN_OR_RETURN(auto g,
                             GpuSegmenter::Create(GpuOptionsFor(options_, model_path_, id, need)));
      gpus_.push_back(std::move(g));
    }
  }
  for (auto& g : gpus_) g->ResetStats();
  const int ng = static_cast<int>(gpus_.size());
  // Profile stages in flow order: decoders, the GPU drivers, the encoders.
  Profiler* profiler = run_options.profiler;
  const StageId decode_stage = profiler ? profiler->RegisterStage("decode") : kNoStage;
  const StageId gpu_stage = profiler ? profiler->RegisterStage("gpu") : kNoStage;
  const StageId encode_stage = profiler ? profiler->RegisterStage("encode") : kNoStage;
  for (auto& g : gpus_) g->SetProfiler(profiler, gpu_stage);

  std::vector<std::unique_ptr<VideoReader>> readers;
  std::vector<std::unique_ptr<VideoWriter>> writers;
  int64_t total = 0;
  for (int i = 0; i < n; ++i) {
    ReaderOptions ro;
    ro.format = PixelFormat::kRGB24;
    ro.threads = options_.decode_threads;
    ro.stream_id = i;
    ro.device = gpus_[i % ng]->options().backend_options.device_id;
    // NV12 device frames from NVDEC where it decodes the input, else host RGB24 frames decoded
    // on the CPU and uploaded (said once in the log by the reader).
    ro.hwaccel = "auto";
    VRSEG_ASSIGN_OR_RETURN(auto r, VideoReader::Open(inputs[i], ro));
    const int64_t fc = r->info().frame_count;
    total = (total < 0 || fc < 0) ? -1 : total + fc;
    readers.push_back(std::move(r));
  }
  // The encoders are the slowest stage of this path: the outputs share the cores (FFV1 frames
  // of one output encoded side by side where several encoders fit; see WriterOptions::encoders).
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) {
    WriterOptions wo = outputs[i].writer;
    wo.prefer_nvenc = wo.encoder.empty();  // NVENC where the card has one (H100/H200 do not)
    auto container = OutputContainerFor(outputs[i].path);
    if (container.ok() && *container == OutputContainer::kMkvFfv1 && wo.threads == 0 &&
        wo.encoders == 0) {
      wo.encoders = std::clamp(cores / (4 * n), 1, 4);
      wo.threads = std::max(1, cores / (n * wo.encoders));
    }
    auto w = VideoWriter::Open(outputs[i].path, readers[i]->info(), wo);
    if (!w.ok()) {
      for (auto& ww : writers) (void)ww->Close();
      return w.status();
    }
    writers.push_back(std::move(*w));
  }

  // Errors. A decoder's (a damaged input) stops intake of every input: the frames decoded before
  // it still go through and are written, as on the CPU path. A GPU or encoder error also stops
  // the writing (`failed`).
  std::mutex err_mu;
  Status first_error;  // guarded by err_mu
  std::atomic<bool> failed{false}, intake_stopped{false};
  auto stop_intake = [&](const Status& st) {
    std::lock_guard<std::mutex> lock(err_mu);
    if (first_error.ok()) first_error = st;
    intake_stopped.store(true);
  };
  auto fail = [&](const Status& st) {
    stop_intake(st);
    failed.store(true);
  };
  auto stopping = [&] {
    if (intake_stopped.load()) return true;
    std::lock_guard<std::mutex> lock(mu_);
    return stop_requested_;
  };

  // Busy time of the CPU stages (summed over threads), to name the stage that limits a run.
  std::atomic<int64_t> decode_ns{0}, encode_ns{0};
  // Progress, from the writer threads.
  Progress progress(run_options, total);
  const int64_t start_ns = NowNs();

  // One writer thread per output: encoding runs beside the GPU, one output per core.
  constexpr size_t kQueueDepth = 16;
  std::vector<WriteQueue> queues(n);
  std::vector<std::thread> writer_threads;
  for (int i = 0; i < n; ++i) {
    writer_threads.emplace_back([&, i] {
      WriteQueue& q = queues[i];
      if (profiler) profiler->SetThreadName("encode/" + std::to_string(i));
      for (;;) {
        Frame f;
        {
          std::unique_lock<std::mutex> lock(q.mu);
          q.cv.wait(lock, [&] { return q.closed || !q.frames.empty(); });
          if (q.frames.empty()) return;
          f = std::move(q.frames.front());
          q.frames.pop_front();
          q.cv.notify_all();
        }
        if (failed.load()) continue;  // drain without writing after an error
        const int64_t t0 = NowNs();
        ScopedTimer busy(profiler, encode_stage, Activity::kBusy, 1, f.index);
        Status st = writers[i]->Write(f);
        busy.Stop();
        encode_ns.fetch_add(NowNs() - t0);
        if (!st.ok()) {
          fail(st);
          continue;
        }
        progress.Add();
      }
    });
  }
  auto enqueue = [&](int i, Frame f) {
    WriteQueue& q = queues[i];
    std::unique_lock<std::mutex> lock(q.mu);
    q.cv.wait(lock, [&] { return q.frames.size() < kQueueDepth; });
    q.frames.push_back(std::move(f));
    q.cv.notify_all();
  };

  // One decoder thread per input, submitting to its GPU (input i on GPU i % ng).
  const std::optional<StereoLayout> stereo = options_.stereo;
  std::vector<std::thread> sources;
  for (int i = 0; i < n; ++i) {
    sources.emplace_back([&, i] {
      VideoReader& reader = *readers[i];
      GpuSegmenter& gpu = *gpus_[i % ng];
      const OutputContent c = content[i];
      if (profiler) profiler->SetThreadName("decode/" + std::to_string(i));
      while (!stopping()) {
        Frame f;
        const int64_t t0 = NowNs();
        ScopedTimer busy(profiler, decode_stage, Activity::kBusy);
        Result<bool> more = reader.Read(&f);
        busy.set_items(more.ok() && *more ? 1 : 0);  // the read that finds the end is no frame
        busy.Stop();
        decode_ns.fetch_add(NowNs() - t0);
        if (!more.ok()) {
          stop_intake(more.status().WithContext("decode: stream " + std::to_string(i)));
          return;
        }
        if (!*more) return;
        f.stream_id = i;
        std::vector<Frame> group;
        if (stereo) {
          Frame l, r;
          Status split = SplitStereo(f, *stereo, &l, &r);
          if (!split.ok()) {
            stop_intake(
                split.WithContext("stereo: " + inputs[i] + ", frame " + std::to_string(f.index)));
            return;
          }
          group = {std::move(l), std::move(r)};
        } else {
          group = {std::move(f)};
        }
        ScopedTimer blocked(profiler, decode_stage, Activity::kBlocked);
        Status st = gpu.Submit(std::move(group), [&, i, c](Result<std::vector<GpuResult>> r) {
          if (!r.ok()) {
            fail(r.status().WithContext(inputs[i]));
            return;
          }
          if (failed.load()) return;
          if (!stereo) return enqueue(i, GpuContentFrame((*r)[0], c));
          Frame merged;
          Status ms = MergeStereo(GpuContentFrame((*r)[0], c), GpuContentFrame((*r)[1], c),
                                  *stereo, &merged);
          if (!ms.ok()) return fail(ms.WithContext("stereo: " + inputs[i]));
          merged.stream_id = i;
          enqueue(i, std::move(merged));
        });
        if (!st.ok()) {
          fail(st.WithContext(inputs[i]));
          return;
        }
      }
    });
  }
  for (auto& t : sources) t.join();
  for (auto& g : gpus_) g->Flush();  // every frame submitted reaches its writer's queue
  for (auto& g : gpus_) g->SetProfiler(nullptr, kNoStage);
  for (WriteQueue& q : queues) {
    std::lock_guard<std::mutex> lock(q.mu);
    q.closed = true;
    q.cv.notify_all();
  }
  for (auto& t : writer_threads) t.join();
  Status close_status;
  for (int i = 0; i < n; ++i) {
    Status c = writers[i]->Close();
    if (!c.ok() && close_status.ok()) close_status = c;
  }
  progress.Report(true);
  {
    // Which stage holds the run back: per input/output thread, the share of the wall time it was
    // busy (near 100%: that stage is the limit).
    const double wall = static_cast<double>(NowNs() - start_ns);
    const PipelineStats gs = GpuPipelineStats(gpus_);
    char line[256];
    std::snprintf(line, sizeof line,
                  "gpu path: %lld frames in %.2f s; busy per input: decode %.0f%%, per output: "
                  "encode %.0f%%; GPU batches %lld (mean %.1f frames)",
                  static_cast<long long>(progress.done()), wall / 1e9,
                  100.0 * static_cast<double>(decode_ns.load()) / (wall * n),
                  100.0 * static_cast<double>(encode_ns.load()) / (wall * n),
                  static_cast<long long>(gs.batches), gs.mean_batch);
    LogInfo(line);
  }
  bool stopped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_stats_ = GpuPipelineStats(gpus_);
    frames_written_ += progress.done();
    stopped = stop_requested_;
  }
  if (!first_error.ok()) return first_error;
  if (!close_status.ok()) return close_status;
  if (stopped) {
    return Status::Cancelled("run: stopped on request after " + std::to_string(progress.done()) +
                             " frames; outputs finalised");
  }
  return Status::Ok();
}

void Segmenter::RequestStop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_requested_ = true;
  if (run_pipeline_) run_pipeline_->RequestStop();
  if (submit_pipeline_) submit_pipeline_->RequestStop();
}

Status Segmenter::Close() {
  for (auto& g : gpus_) g->Flush();  // every Submit's callback has run
  std::shared_ptr<Pipeline> p;
  {
    std::lock_guard<std::mutex> lock(mu_);
    p = std::move(submit_pipeline_);
    submit_pipeline_.reset();
  }
  if (!p) return Status::Ok();
  Status s = p->Finish();
  std::lock_guard<std::mutex> lock(mu_);
  last_stats_ = p->Stats();
  return s;
}

void Segmenter::ResetStats() {
  for (auto& g : gpus_) g->ResetStats();
  std::lock_guard<std::mutex> lock(mu_);
  if (submit_pipeline_) submit_pipeline_->ResetStats();
}

SegmenterStats Segmenter::Stats() const {
  SegmenterStats s;
  s.backend = options_.backend;
  s.device = device_;
  s.model = model_info_.name;
  s.backend = gpus_.empty() ? options_.backend : gpus_.front()->options().backend;
  if (!gpus_.empty()) {
    s.pipeline = GpuPipelineStats(gpus_);
    std::lock_guard<std::mutex> lock(mu_);
    s.frames_written = frames_written_;
    return s;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (run_pipeline_) {
    s.pipeline = run_pipeline_->Stats();
  } else if (submit_pipeline_) {
    s.pipeline = submit_pipeline_->Stats();
  } else {
    s.pipeline = last_stats_;
  }
  s.frames_written = frames_written_;
  return s;
}

}  // namespace vrseg
