#include "vrseg/segmenter.h"

#include <algorithm>
#include <atomic>
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

}  // namespace

Result<std::unique_ptr<Segmenter>> Segmenter::Create(const SegmenterOptions& options) {
  VRSEG_RETURN_IF_ERROR(ValidateSegmenterOptions(options));
  std::unique_ptr<Segmenter> s(new Segmenter());
  s->options_ = options;
  if (!(options.backend == "noop" && options.model.empty())) {
    VRSEG_ASSIGN_OR_RETURN(s->model_path_, ResolveModelPath(options.model));
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

Status Segmenter::Submit(Frame frame, SubmitOptions options,
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
  std::atomic<int64_t> written{0};
  const int64_t start_ns = NowNs();
  int64_t last_progress_ns = start_ns;
  auto report = [&](bool force) {
    if (!run_options.progress) return;
    const int64_t now = NowNs();
    if (!force && now - last_progress_ns < run_options.progress_interval_ms * 1'000'000LL) return;
    last_progress_ns = now;
    ProgressInfo pi;
    pi.frames_done = written.load();
    pi.frames_total = total;
    pi.elapsed_s = static_cast<double>(now - start_ns) / 1e9;
    pi.fps = pi.elapsed_s > 0 ? pi.frames_done / pi.elapsed_s : 0;
    pi.eta_s = (total >= 0 && pi.fps > 0) ? std::max<double>(0, total - pi.frames_done) / pi.fps
                                          : -1;
    run_options.progress(pi);
  };
  auto sink = [&](FrameResult& r) -> Status {
    if (!r.status.ok()) return Status::Ok();  // failed frames are not written
    VRSEG_RETURN_IF_ERROR(writers[r.stream_id]->Write(ContentFrame(r, content[r.stream_id])));
    written.fetch_add(1);
    report(false);
    return Status::Ok();
  };
  Profiler* profiler = run_options.profiler;
  // The decoders are the first stage of the profile (registered before the pipeline's).
  const StageId decode_stage = profiler ? profiler->RegisterStage("decode") : kNoStage;
  VRSEG_ASSIGN_OR_RETURN(std::unique_ptr<Pipeline> pipeline,
                         MakePipeline(content, sink, profiler, inputs));
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
  report(true);
  bool stopped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    run_pipeline_ = nullptr;
    last_stats_ = pipeline->Stats();
    frames_written_ += written.load();
    stopped = stop_requested_;
  }
  if (!st.ok()) return st;
  if (!decode_status.ok()) return decode_status;
  if (!close_status.ok()) return close_status;
  if (stopped) {
    return Status::Cancelled("run: stopped on request after " + std::to_string(written.load()) +
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
  std::lock_guard<std::mutex> lock(mu_);
  if (submit_pipeline_) submit_pipeline_->ResetStats();
}

SegmenterStats Segmenter::Stats() const {
  SegmenterStats s;
  s.backend = options_.backend;
  s.device = device_;
  s.model = model_info_.name;
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
