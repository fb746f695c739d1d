#include "vrseg/bench.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "vrseg/backend.h"
#include "vrseg/clock.h"
#include "vrseg/host_staged_backend.h"
#include "vrseg/imgproc.h"
#include "vrseg/io.h"
#include "vrseg/model_registry.h"

namespace vrseg {

Status ValidateBenchOptions(const BenchOptions& o) {
  VRSEG_RETURN_IF_ERROR(ValidateSegmenterOptions(o.segmenter));
  if (o.input.empty()) {
    if (o.width < 2 || o.height < 2 || o.width > 16384 || o.height > 16384) {
      return Status::InvalidArgument("bench.size: " + std::to_string(o.width) + "x" +
                                     std::to_string(o.height) + " outside 2x2..16384x16384");
    }
    if (o.format == PixelFormat::kUnknown || o.format == PixelFormat::kGrayF32) {
      return Status::InvalidArgument("bench.format: " + std::string(PixelFormatName(o.format)) +
                                     " is not an input format");
    }
  }
  if (o.streams < 1 || o.streams > 1024) {
    return Status::InvalidArgument("bench.streams: " + std::to_string(o.streams) +
                                   " outside 1..1024");
  }
  if (o.frames < 1) {
    return Status::InvalidArgument("bench.frames: " + std::to_string(o.frames) + " < 1");
  }
  if (o.max_outstanding < -1) {
    return Status::InvalidArgument("bench.max_outstanding: " + std::to_string(o.max_outstanding) +
                                   " (use -1 for no limit, 0 for automatic)");
  }
  if (o.warmup_frames < 0) {
    return Status::InvalidArgument("bench.warmup_frames: " + std::to_string(o.warmup_frames) +
                                   " is negative");
  }
  if (o.priority < 0 || o.priority >= o.segmenter.pipeline.batcher.priority_levels) {
    return Status::InvalidArgument("bench.priority: " + std::to_string(o.priority) +
                                   " outside the batcher's priority levels");
  }
  return Status::Ok();
}

namespace {
// Parses a whole decimal integer in [lo, hi]; false otherwise.
bool ParseInt(std::string_view t, int lo, int hi, int* out) {
  if (t.empty()) return false;
  int v = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}
}  // namespace

Result<std::pair<int, int>> ParseFrameSize(std::string_view text) {
  const size_t x = text.find('x');
  int w = 0, h = 0;
  if (x == std::string_view::npos || !ParseInt(text.substr(0, x), 1, 16384, &w) ||
      !ParseInt(text.substr(x + 1), 1, 16384, &h)) {
    return Status::InvalidArgument("--size: '" + std::string(text) +
                                   "' is not WIDTHxHEIGHT with each in 1..16384");
  }
  return std::make_pair(w, h);
}

Result<std::vector<int>> ParseBatchList(std::string_view text) {
  std::vector<int> v;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string_view item =
        text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    int b = 0;
    if (!ParseInt(item, 1, 1024, &b)) {
      return Status::InvalidArgument("'" + std::string(text) +
                                     "' is not a comma-separated list of batch sizes 1..1024");
    }
    v.push_back(b);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return v;
}

Result<PixelFormat> ParseInputFormat(std::string_view text) {
  for (PixelFormat f : {PixelFormat::kRGB24, PixelFormat::kBGR24, PixelFormat::kRGBA,
                        PixelFormat::kBGRA, PixelFormat::kNV12, PixelFormat::kI420,
                        PixelFormat::kGray8}) {
    if (text == PixelFormatName(f)) return f;
  }
  return Status::InvalidArgument("--format: unknown pixel format '" + std::string(text) +
                                 "' (known: rgb24, bgr24, rgba, bgra, nv12, i420, gray8)");
}

RssSample ReadRss() {
  RssSample s;
  s.rss_bytes = s.peak_bytes = -1;
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char buf[8192];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return s;
  buf[n] = '\0';
  auto field = [&](const char* key) -> int64_t {
    const char* p = std::strstr(buf, key);
    if (!p) return -1;
    return std::strtoll(p + std::strlen(key), nullptr, 10) * 1024;  // kB
  };
  s.rss_bytes = field("VmRSS:");
  s.peak_bytes = field("VmHWM:");
  return s;
}

namespace {

// A few distinct deterministic frames (gradients and a moving pattern).
Result<std::vector<Frame>> SyntheticFrames(int w, int h, PixelFormat format, int count) {
  std::vector<Frame> v;
  for (int k = 0; k < count; ++k) {
    VRSEG_ASSIGN_OR_RETURN(Frame f, Frame::Allocate(format, w, h));
    for (int p = 0; p < PlaneCount(format); ++p) {
      const int rows = PlaneRows(format, h, p);
      const int64_t row_bytes = PlaneRowBytes(format, w, p);
      for (int y = 0; y < rows; ++y) {
        uint8_t* row = f.data[p] + y * f.pitch[p];
        for (int64_t x = 0; x < row_bytes; ++x) {
          row[x] = static_cast<uint8_t>((x * 7 + y * 3 + k * 41 + ((x ^ y) & 31) + p * 60) & 255);
        }
      }
    }
    f.color.range = 1;
    f.color.matrix = 1;
    v.push_back(std::move(f));
  }
  return v;
}

std::string ModelPathFor(const SegmenterOptions& o, Status* error) {
  if (o.backend == "noop" && o.model.empty()) return "";
  auto p = ResolveModelPath(o.model);
  if (!p.ok()) {
    *error = p.status();
    return "";
  }
  return *p;
}

// Times the inference stage alone: `infer_workers` backends, each on its own thread (as in the
// pipeline), running Backend::Run at max_batch on slots filled from `frame`.
Status TimeModelOnly(const BenchOptions& o, const Frame& frame, BenchReport* report) {
  Status err;
  const std::string path = ModelPathFor(o.segmenter, &err);
  VRSEG_RETURN_IF_ERROR(err);
  BackendOptions bo = o.segmenter.backend_options;
  const int b = o.segmenter.pipeline.batcher.max_batch;
  const int workers = o.segmenter.pipeline.infer_workers;
  bo.max_batch = b;
  std::vector<std::unique_ptr<Backend>> backends;
  for (int w = 0; w < workers; ++w) {
    VRSEG_ASSIGN_OR_RETURN(auto backend, CreateBackend(o.segmenter.backend, path, bo));
    if (backend->device() == DeviceKind::kCuda && workers == 1) {
      // A GPU backend alone: device time of Run on one stream (CUDA events), inputs left as
      // allocated — the model's cost does not depend on the pixel values.
      VRSEG_ASSIGN_OR_RETURN(std::vector<double> ms, TimeDeviceRuns(*backend, b, 10, 20, 5));
      std::sort(ms.begin(), ms.end());
      report->model_batch_ms = ms[ms.size() / 2];
      report->model_fps = b * 1e3 / report->model_batch_ms;
      return Status::Ok();
    }
    VRSEG_ASSIGN_OR_RETURN(backend, HostStaged(std::move(backend)));
    VRSEG_ASSIGN_OR_RETURN(Preprocessor pre, Preprocessor::Create(PreprocessOptionsFor(
                                                  backend->model_info(), o.segmenter.resize)));
    const Tensor in = backend->input(0);
    for (int i = 0; i < b; ++i) VRSEG_RETURN_IF_ERROR(pre.RunToTensor(frame, in, i));
    for (int i = 0; i < 3; ++i) VRSEG_RETURN_IF_ERROR(backend->Run(b));  // warm-up
    backends.push_back(std::move(backend));
  }
  // Each worker runs until the shared frame count is reached, at least 5 batches each, stopping
  // early after 3 s (enough for a stable mean).
  const int64_t target_runs = std::max<int64_t>(5, o.frames / b / workers);
  std::vector<int64_t> runs(workers, 0);
  std::vector<Status> status(workers);
  const int64_t t0 = NowNs();
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      while (runs[w] < target_runs) {
        status[w] = backends[w]->Run(b);
        if (!status[w].ok()) return;
        ++runs[w];
        if (runs[w] >= 5 && NowNs() - t0 > 3'000'000'000LL) return;
      }
    });
  }
  for (auto& t : threads) t.join();
  const double s = static_cast<double>(NowNs() - t0) / 1e9;
  int64_t total_runs = 0;
  for (int w = 0; w < workers; ++w) {
    VRSEG_RETURN_IF_ERROR(status[w]);
    total_runs += runs[w];
  }
  report->model_batch_ms = s * 1e3 * workers / total_runs;
  report->model_fps = s > 0 ? b * total_runs / s : 0;
  return Status::Ok();
}

// Counts completions; samples RSS at checkpoints of the measured phase.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  int64_t done = 0;
  int64_t base = 0;  // `done` when the measured phase began
  bool measuring = false;
  std::vector<int64_t> checkpoints;  // ascending
  size_t next_checkpoint = 0;
  std::vector<RssSample> rss;

  void OnDone() {
    std::lock_guard<std::mutex> lock(mu);
    ++done;
    if (measuring && next_checkpoint < checkpoints.size() &&
        done - base >= checkpoints[next_checkpoint]) {
      RssSample s = ReadRss();
      s.frame = done - base;
      rss.push_back(s);
      ++next_checkpoint;
    }
    cv.notify_all();
  }
  // Waits until at most `limit` of the `submitted` frames are unfinished.
  void WaitOutstanding(int64_t submitted, int64_t limit) {
    if (limit <= 0) return;
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return submitted - done < limit; });
  }
  void WaitFor(int64_t n) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done >= n; });
  }
};

using SubmitFn = std::function<Status(Frame frame)>;

// Feeds `count` frames (synthetic round-robin, or decoded from the file) to `submit`.
class Feeder {
 public:
  static Result<Feeder> Create(const BenchOptions& o) {
    Feeder f;
    f.options_ = o;
    f.per_stream_.assign(o.streams, 0);
    if (o.input.empty()) {
      VRSEG_ASSIGN_OR_RETURN(f.frames_, SyntheticFrames(o.width, o.height, o.format, 4));
    } else {
      VRSEG_RETURN_IF_ERROR(f.Reopen());
    }
    return f;
  }
  // A representative frame (for model-only timing).
  Result<Frame> Sample() {
    if (!frames_.empty()) return frames_[0];
    Frame f;
    VRSEG_RETURN_IF_ERROR(NextFromFile(&f));
    VRSEG_ASSIGN_OR_RETURN(Frame c, f.Clone());
    return c;
  }
  // Before each frame, `gate(frames submitted so far)` may wait (closed loop).
  Status Feed(int64_t count, const SubmitFn& submit, const std::function<void(int64_t)>& gate) {
    for (int64_t i = 0; i < count; ++i) {
      gate(next_);
      Frame f;
      if (!frames_.empty()) {
        f = frames_[next_ % frames_.size()];
      } else {
        VRSEG_RETURN_IF_ERROR(NextFromFile(&f));
      }
      const int stream = static_cast<int>(next_ % options_.streams);
      ++next_;
      f.stream_id = stream;
      f.index = per_stream_[stream]++;
      f.pts = f.index;
      VRSEG_RETURN_IF_ERROR(submit(std::move(f)));
    }
    return Status::Ok();
  }
  std::string Describe() const {
    if (!options_.input.empty()) return options_.input;
    return "synthetic " + std::to_string(options_.width) + "x" + std::to_string(options_.height) +
           " " + std::string(PixelFormatName(options_.format));
  }

 private:
  Status Reopen() {
    ReaderOptions ro;
    ro.format = options_.format == PixelFormat::kUnknown ? PixelFormat::kRGB24 : options_.format;
    ro.threads = options_.segmenter.decode_threads;
    VRSEG_ASSIGN_OR_RETURN(reader_, VideoReader::Open(options_.input, ro));
    return Status::Ok();
  }
  Status NextFromFile(Frame* f) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      VRSEG_ASSIGN_OR_RETURN(bool more, reader_->Read(f));
      if (more) return Status::Ok();
      VRSEG_RETURN_IF_ERROR(Reopen());  // loop the file
    }
    return Status::DataLoss(options_.input + ": no frame to read");
  }

  BenchOptions options_;
  std::vector<Frame> frames_;
  std::unique_ptr<VideoReader> reader_;
  std::vector<int64_t> per_stream_;
  int64_t next_ = 0;
};

}  // namespace

Result<BenchReport> RunBench(const BenchOptions& options) {
  VRSEG_RETURN_IF_ERROR(ValidateBenchOptions(options));
  BenchReport report;
  VRSEG_ASSIGN_OR_RETURN(Feeder feeder, Feeder::Create(options));
  report.input = feeder.Describe();
  report.backend = options.segmenter.backend;
  report.max_batch = options.segmenter.pipeline.batcher.max_batch;
  if (options.model_only) {
    VRSEG_ASSIGN_OR_RETURN(Frame sample, feeder.Sample());
    VRSEG_RETURN_IF_ERROR(TimeModelOnly(options, sample, &report));
  }

  Completion done;
  done.checkpoints = options.rss_checkpoints;
  std::sort(done.checkpoints.begin(), done.checkpoints.end());
  SubmitFn submit;
  std::function<void()> reset_stats;
  std::function<Status()> finish;
  std::function<PipelineStats()> stats;
  std::unique_ptr<Segmenter> seg;
  std::unique_ptr<Pipeline> bare;
  const int priority = options.priority;

  if (options.stages == BenchStages::kFull) {
    VRSEG_ASSIGN_OR_RETURN(seg, Segmenter::Create(options.segmenter));
    report.device = seg->Stats().device;
    report.model = seg->model_info().name;
    Segmenter* s = seg.get();
    submit = [s, &done, priority](Frame f) {
      SubmitOptions so;
      so.priority = priority;
      return s->Submit(std::move(f), so, [&done](Result<Frame>) { done.OnDone(); });
    };
    reset_stats = [s] { s->ResetStats(); };
    finish = [s] { return s->Close(); };
    stats = [s] { return s->Stats().pipeline; };
  } else {
    Status err;
    const std::string path = ModelPathFor(options.segmenter, &err);
    VRSEG_RETURN_IF_ERROR(err);
    BackendOptions bo = options.segmenter.backend_options;
    bo.max_batch = options.segmenter.pipeline.batcher.max_batch;
    std::vector<std::unique_ptr<Backend>> backends;
    for (int i = 0; i < options.segmenter.pipeline.buffer_sets; ++i) {
      VRSEG_ASSIGN_OR_RETURN(auto b, CreateBackend(options.segmenter.backend, path, bo));
      VRSEG_ASSIGN_OR_RETURN(b, HostStaged(std::move(b)));
      backends.push_back(std::move(b));
    }
    report.device = backends[0]->device_description();
    report.model = backends[0]->model_info().name;
    PipelineHooks hooks;
    hooks.preprocess = [](const Frame&, const Tensor&, int, int) { return Status::Ok(); };
    hooks.postprocess = [](const Tensor&, int, int, FrameResult*) { return Status::Ok(); };
    VRSEG_ASSIGN_OR_RETURN(bare, Pipeline::Create(options.segmenter.pipeline, std::move(backends),
                                                  std::move(hooks)));
    Pipeline* p = bare.get();
    submit = [p, &done, priority](Frame f) {
      PushOptions po;
      po.priority = priority;
      po.on_done = [&done](FrameResult&) { done.OnDone(); };
      return p->Push(std::move(f), std::move(po));
    };
    reset_stats = [p] { p->ResetStats(); };
    finish = [p] { return p->Finish(); };
    stats = [p] { return p->Stats(); };
  }

  // Warm-up, then the measured phase.
  const auto& po = options.segmenter.pipeline;
  const int64_t limit = options.max_outstanding == 0
                            ? static_cast<int64_t>(po.batcher.max_batch) * (po.buffer_sets + 1)
                            : options.max_outstanding;
  auto gate = [&done, limit](int64_t submitted) { done.WaitOutstanding(submitted, limit); };
  Status st = feeder.Feed(options.warmup_frames, submit, gate);
  if (st.ok()) {
    done.WaitFor(options.warmup_frames);
    reset_stats();
    {
      std::lock_guard<std::mutex> lock(done.mu);
      done.base = done.done;
      done.measuring = true;
    }
    st = feeder.Feed(options.frames, submit, gate);
  }
  if (st.ok()) done.WaitFor(options.warmup_frames + options.frames);
  Status fin = finish();
  if (!st.ok()) return st;
  if (!fin.ok()) return fin;

  const PipelineStats ps = stats();
  report.frames = ps.frames_out;
  report.wall_s = ps.elapsed_s;
  report.e2e_fps = ps.fps;
  report.us_per_frame = ps.fps > 0 ? 1e6 / ps.fps : 0;
  report.e2e_vs_model = report.model_fps > 0 ? report.e2e_fps / report.model_fps : 0;
  report.mean_batch = ps.mean_batch;
  for (const auto& stage : ps.stages) {
    if (stage.name == "infer" && stage.mean_us > 0) {
      report.infer_capacity_fps = stage.workers * 1e6 / stage.mean_us;
      report.e2e_vs_infer = report.e2e_fps / report.infer_capacity_fps;
    }
  }
  report.latency = ps.latency;
  report.stages = ps.stages;
  report.frames_failed = ps.frames_failed;
  report.frames_dropped = ps.frames_dropped;
  {
    std::lock_guard<std::mutex> lock(done.mu);
    report.rss = done.rss;
  }
  RssSample end = ReadRss();
  end.frame = report.frames;
  report.rss.push_back(end);
  return report;
}

Result<SweepReport> RunSweep(const BenchOptions& options, const std::vector<int>& batch_sizes,
                             double latency_budget_ms) {
  if (batch_sizes.empty()) return Status::InvalidArgument("bench.sweep: no batch sizes");
  if (!(latency_budget_ms >= 0)) {
    return Status::InvalidArgument("bench.latency_budget_ms: must be >= 0");
  }
  SweepReport sweep;
  sweep.latency_budget_ms = latency_budget_ms;
  for (int b : batch_sizes) {
    if (b < 1 || b > 1024) {
      return Status::InvalidArgument("bench.sweep: batch size " + std::to_string(b) +
                                     " outside 1..1024");
    }
    BenchOptions o = options;
    o.model_only = false;
    auto& bo = o.segmenter.pipeline.batcher;
    bo.max_batch = b;
    bo.preferred_batch_sizes.clear();
    bo.max_queue = std::max(bo.max_queue, 2 * b);
    VRSEG_ASSIGN_OR_RETURN(BenchReport r, RunBench(o));
    SweepPoint p;
    p.batch = b;
    p.e2e_fps = r.e2e_fps;
    p.mean_batch = r.mean_batch;
    p.latency = r.latency;
    p.fits_budget = latency_budget_ms <= 0 || r.latency.p99_us <= latency_budget_ms * 1000.0;
    sweep.points.push_back(p);
  }
  const SweepPoint* best = nullptr;
  for (const auto& p : sweep.points) {
    if (p.fits_budget && (!best || p.e2e_fps > best->e2e_fps)) best = &p;
  }
  char buf[256];
  if (best) {
    sweep.best_batch = best->batch;
    std::snprintf(buf, sizeof(buf),
                  "batch %d gives the highest throughput (%.1f fps) with p99 %.2f ms%s",
                  best->batch, best->e2e_fps, best->latency.p99_us / 1e3,
                  latency_budget_ms > 0 ? " within the budget" : " (no latency budget)");
  } else {
    std::snprintf(buf, sizeof(buf), "no batch size keeps p99 within %.2f ms", latency_budget_ms);
  }
  sweep.explanation = buf;
  return sweep;
}

// ---- formatting ----

namespace {

std::string Fmt(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string Fmt(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  return buf;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += Fmt("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (!(v == v) || v > 1e300 || v < -1e300) return "null";
  return Fmt("%.6g", v);
}

std::string LatencyJson(const LatencySummary& l) {
  return "{\"count\": " + std::to_string(l.count) + ", \"mean_us\": " + JsonNumber(l.mean_us) +
         ", \"min_us\": " + JsonNumber(l.min_us) + ", \"p50_us\": " + JsonNumber(l.p50_us) +
         ", \"p90_us\": " + JsonNumber(l.p90_us) + ", \"p99_us\": " + JsonNumber(l.p99_us) +
         ", \"max_us\": " + JsonNumber(l.max_us) + "}";
}

double Mb(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

std::string FormatBenchReport(const BenchReport& r) {
  std::string s;
  s += Fmt("backend %s (%s), model %s\n", r.backend.c_str(), r.device.c_str(), r.model.c_str());
  s += Fmt("input %s, max batch %d (mean %.2f)\n", r.input.c_str(), r.max_batch, r.mean_batch);
  s += Fmt("measured %lld frames in %.3f s", static_cast<long long>(r.frames), r.wall_s);
  if (r.frames_failed || r.frames_dropped) {
    s += Fmt(" (%lld failed, %lld dropped late)", static_cast<long long>(r.frames_failed),
             static_cast<long long>(r.frames_dropped));
  }
  s += "\n\n";
  s += Fmt("  %-22s %12s %14s\n", "throughput", "fps", "us/frame");
  s += Fmt("  %-22s %12.1f %14.1f\n", "end-to-end", r.e2e_fps, r.us_per_frame);
  if (r.model_fps > 0) {
    s += Fmt("  %-22s %12.1f %14.1f   (one batch of %d: %.2f ms)\n", "model only", r.model_fps,
             1e6 / r.model_fps, r.max_batch, r.model_batch_ms);
    s += Fmt("  %-22s %11.1f%%\n", "end-to-end / model", 100.0 * r.e2e_vs_model);
  }
  if (r.infer_capacity_fps > 0) {
    s += Fmt("  %-22s %12.1f %14.1f   (inference stage in this run, if never waiting)\n",
             "infer capacity", r.infer_capacity_fps, 1e6 / r.infer_capacity_fps);
    s += Fmt("  %-22s %11.1f%%\n", "end-to-end / infer", 100.0 * r.e2e_vs_infer);
  }
  s += "\n";
  s += Fmt("  latency (push -> result), ms: mean %.3f  p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n",
           r.latency.mean_us / 1e3, r.latency.p50_us / 1e3, r.latency.p90_us / 1e3,
           r.latency.p99_us / 1e3, r.latency.max_us / 1e3);
  s += "\n";
  s += Fmt("  %-12s %8s %10s %12s %12s %10s\n", "stage", "workers", "frames", "busy ms",
           "us/frame", "queue max");
  for (const auto& st : r.stages) {
    s += Fmt("  %-12s %8d %10lld %12.1f %12.2f %6d/%-4d\n", st.name.c_str(), st.workers,
             static_cast<long long>(st.items), st.busy_ms, st.mean_us, st.queue_high_water,
             st.queue_capacity);
  }
  s += "\n  memory:";
  for (const auto& m : r.rss) {
    s += Fmt("  frame %lld: RSS %.1f MB (peak %.1f MB)", static_cast<long long>(m.frame),
             Mb(m.rss_bytes), Mb(m.peak_bytes));
  }
  s += "\n";
  return s;
}

std::string FormatSweepReport(const SweepReport& r) {
  std::string s = Fmt("  %6s %12s %10s %12s %12s %8s\n", "batch", "fps", "mean b", "p50 ms",
                      "p99 ms", "fits");
  for (const auto& p : r.points) {
    s += Fmt("  %6d %12.1f %10.2f %12.3f %12.3f %8s\n", p.batch, p.e2e_fps, p.mean_batch,
             p.latency.p50_us / 1e3, p.latency.p99_us / 1e3, p.fits_budget ? "yes" : "no");
  }
  s += "  best: " + (r.best_batch ? std::to_string(r.best_batch) : std::string("none")) + " — " +
       r.explanation + "\n";
  return s;
}

std::string BenchReportJson(const BenchReport& r) {
  std::string s = "{";
  s += "\"backend\": " + JsonString(r.backend) + ", \"device\": " + JsonString(r.device) +
       ", \"model\": " + JsonString(r.model) + ", \"input\": " + JsonString(r.input) +
       ", \"max_batch\": " + std::to_string(r.max_batch) +
       ", \"frames\": " + std::to_string(r.frames) + ", \"wall_s\": " + JsonNumber(r.wall_s) +
       ", \"e2e_fps\": " + JsonNumber(r.e2e_fps) +
       ", \"us_per_frame\": " + JsonNumber(r.us_per_frame) +
       ", \"model_fps\": " + JsonNumber(r.model_fps) +
       ", \"model_batch_ms\": " + JsonNumber(r.model_batch_ms) +
       ", \"e2e_vs_model\": " + JsonNumber(r.e2e_vs_model) +
       ", \"infer_capacity_fps\": " + JsonNumber(r.infer_capacity_fps) +
       ", \"e2e_vs_infer\": " + JsonNumber(r.e2e_vs_infer) +
       ", \"mean_batch\": " + JsonNumber(r.mean_batch) +
       ", \"frames_failed\": " + std::to_string(r.frames_failed) +
       ", \"frames_dropped\": " + std::to_string(r.frames_dropped) +
       ", \"latency\": " + LatencyJson(r.latency) + ", \"stages\": [";
  for (size_t i = 0; i < r.stages.size(); ++i) {
    const auto& st = r.stages[i];
    if (i) s += ", ";
    s += "{\"name\": " + JsonString(st.name) + ", \"workers\": " + std::to_string(st.workers) +
         ", \"items\": " + std::to_string(st.items) + ", \"busy_ms\": " + JsonNumber(st.busy_ms) +
         ", \"mean_us\": " + JsonNumber(st.mean_us) +
         ", \"queue_capacity\": " + std::to_string(st.queue_capacity) +
         ", \"queue_high_water\": " + std::to_string(st.queue_high_water) + "}";
  }
  s += "], \"rss\": [";
  for (size_t i = 0; i < r.rss.size(); ++i) {
    if (i) s += ", ";
    s += "{\"frame\": " + std::to_string(r.rss[i].frame) +
         ", \"rss_bytes\": " + std::to_string(r.rss[i].rss_bytes) +
         ", \"peak_bytes\": " + std::to_string(r.rss[i].peak_bytes) + "}";
  }
  s += "]}";
  return s;
}

std::string SweepReportJson(const SweepReport& r) {
  std::string s = "{\"latency_budget_ms\": " + JsonNumber(r.latency_budget_ms) +
                   ", \"best_batch\": " + std::to_string(r.best_batch) +
                   ", \"explanation\": " + JsonString(r.explanation) + ", \"points\": [";
  for (size_t i = 0; i < r.points.size(); ++i) {
    const auto& p = r.points[i];
    if (i) s += ", ";
    s += "{\"batch\": " + std::to_string(p.batch) + ", \"e2e_fps\": " + JsonNumber(p.e2e_fps) +
         ", \"mean_batch\": " + JsonNumber(p.mean_batch) +
         ", \"latency\": " + LatencyJson(p.latency) +
         ", \"fits_budget\": " + (p.fits_budget ? "true" : "false") + "}";
  }
  s += "]}";
  return s;
}

namespace {

// Runs `runs` back-to-back Run(batch) calls on a CPU backend; wall milliseconds per run.
Result<double> WallRuns(Backend& b, int batch, int runs) {
  const int64_t t0 = NowNs();
  for (int i = 0; i < runs; ++i) VRSEG_RETURN_IF_ERROR(b.Run(batch));
  return static_cast<double>(NowNs() - t0) / 1e6 / runs;
}

// Samples of `runs` runs each: milliseconds per run of every sample.
Result<std::vector<double>> Samples(Backend& b, bool device, int batch, int runs, int samples) {
  if (device) return TimeDeviceRuns(b, batch, 0, runs, samples);
  std::vector<double> ms;
  for (int r = 0; r < samples; ++r) {
    VRSEG_ASSIGN_OR_RETURN(double m, WallRuns(b, batch, runs));
    ms.push_back(m);
  }
  return ms;
}

}  // namespace

Result<ModelTimingReport> TimeModel(const ModelTimingOptions& o) {
  if (o.batches.empty()) return Status::InvalidArgument("bench.batch: no batch sizes");
  for (int b : o.batches) {
    if (b < 1 || b > 1024) {
      return Status::InvalidArgument("bench.batch: " + std::to_string(b) + " outside 1..1024");
    }
  }
  if (o.samples < 1 || o.samples > 100) {
    return Status::InvalidArgument("bench.samples: " + std::to_string(o.samples) +
                                   " outside 1..100");
  }
  if (!(o.sample_ms > 0)) return Status::InvalidArgument("bench.sample_ms must be positive");
  VRSEG_ASSIGN_OR_RETURN(const std::string path, ResolveModelPath(o.model));
  BackendOptions bo = o.backend_options;
  bo.max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  ModelTimingReport r;
  r.backend = o.backend;
  r.model = path;
  int64_t t0 = NowNs();
  auto made = CreateBackend(o.backend, path, bo);
  if (!made.ok() && made.status().code() == StatusCode::kInvalidModel &&
      !bo.model_info_override) {
    // No vrseg metadata (or unreadable: then the second attempt reports the same error).
    static const ModelInfo kGeneric = [] {
      ModelInfo info;
      info.name = "export";
      info.input_layout = TensorLayout::kNCHW;
      info.output_layout = TensorLayout::kNCHW;
      info.output_kind = OutputKind::kClassLogits;
      return info;
    }();
    bo.model_info_override = &kGeneric;
    t0 = NowNs();
    auto second = CreateBackend(o.backend, path, bo);
    if (!second.ok()) return made.status();  // the first error names the real problem
    made = std::move(second);
    r.without_metadata = true;
  }
  if (!made.ok()) return made.status();
  r.create_s = static_cast<double>(NowNs() - t0) / 1e9;
  Backend& b = **made;
  r.device = b.device_description();
  r.precision = b.precision();
  r.device_timed = b.device() == DeviceKind::kCuda;
  if (!r.device_timed) {
    for (size_t i = 0; i < b.inputs().size(); ++i) {
      const Tensor t = b.input(static_cast<int>(i));
      std::memset(t.data, 0, static_cast<size_t>(t.bytes()));
    }
  }
  bool first = true;
  for (int batch : o.batches) {
    // One run (the first of all: lazy set-up, graph capture, timed on the host), then 3 warm-up
    // runs that also estimate a run's time.
    const int64_t f0 = NowNs();
    VRSEG_ASSIGN_OR_RETURN(std::vector<double> once, Samples(b, r.device_timed, batch, 1, 1));
    if (first) r.first_run_ms = static_cast<double>(NowNs() - f0) / 1e6;
    first = false;
    VRSEG_ASSIGN_OR_RETURN(std::vector<double> est, Samples(b, r.device_timed, batch, 3, 1));
    const int runs =
        std::clamp(static_cast<int>(o.sample_ms / std::max(est[0], 1e-3)), 3, 1000);
    VRSEG_ASSIGN_OR_RETURN(std::vector<double> ms,
                           Samples(b, r.device_timed, batch, runs, o.samples));
    std::sort(ms.begin(), ms.end());
    ModelTimingPoint p;
    p.batch = batch;
    p.ms_per_batch = ms[ms.size() / 2];
    p.min_ms = ms.front();
    p.max_ms = ms.back();
    p.frames_per_s = p.ms_per_batch > 0 ? batch * 1e3 / p.ms_per_batch : 0;
    p.runs_per_sample = runs;
    r.points.push_back(p);
  }
  return r;
}

std::string FormatModelTimingReport(const ModelTimingReport& r) {
  std::string s = Fmt("backend %s (%s, %s), model %s%s\n", r.backend.c_str(), r.device.c_str(),
                      r.precision.c_str(), r.model.c_str(),
                      r.without_metadata ? " (no vrseg metadata: timed as an NCHW image model)"
                                         : "");
  s += Fmt("model only, %s; backend made in %.2f s, first run %.2f ms\n\n",
           r.device_timed ? "device time (CUDA events)" : "wall time", r.create_s,
           r.first_run_ms);
  s += Fmt("  %6s %12s %12s %12s %12s %8s\n", "batch", "ms/batch", "min ms", "max ms",
           "frames/s", "runs");
  for (const auto& p : r.points) {
    s += Fmt("  %6d %12.4f %12.4f %12.4f %12.1f %8d\n", p.batch, p.ms_per_batch, p.min_ms,
             p.max_ms, p.frames_per_s, p.runs_per_sample);
  }
  return s;
}

std::string ModelTimingJson(const ModelTimingReport& r) {
  std::string s;
  for (const auto& p : r.points) {
    s += "{\"kind\": \"model\", \"backend\": " + JsonString(r.backend) +
         ", \"device\": " + JsonString(r.device) + ", \"precision\": " + JsonString(r.precision) +
         ", \"model\": " + JsonString(r.model) + ", \"batch\": " + std::to_string(p.batch) +
         ", \"ms_per_batch\": " + JsonNumber(p.ms_per_batch) +
         ", \"frames_per_s\": " + JsonNumber(p.frames_per_s) +
         ", \"min_ms\": " + JsonNumber(p.min_ms) + ", \"max_ms\": " + JsonNumber(p.max_ms) +
         ", \"runs_per_sample\": " + std::to_string(p.runs_per_sample) +
         ", \"device_timed\": " + (r.device_timed ? "true" : "false") +
         ", \"without_metadata\": " + (r.without_metadata ? "true" : "false") +
         ", \"create_s\": " + JsonNumber(r.create_s) +
         ", \"first_run_ms\": " + JsonNumber(r.first_run_ms) + "}\n";
  }
  return s;
}

}  // namespace vrseg
