// vrseg/bench.h — throughput and latency measurement (`vrseg bench`).
//
// RunBench pushes `warmup_frames` and then `frames` frames through a Segmenter (or, with
// `stages == BenchStages::kNone`, through a bare Pipeline whose stages do no work, to measure the
// pipeline's own cost) as fast as the pipeline accepts them (a closed loop: intake blocks when
// the pipeline is full), and reports:
//   * end-to-end throughput (frames delivered / wall time of the measured phase), with at most
//     `max_outstanding` frames in flight;
//   * model-only throughput: the inference stage alone — pipeline.infer_workers separate backend
//     instances, each Run at max_batch on its own thread, slots filled from the same frames,
//     timed before the pipeline runs;
//   * latency percentiles (push → result, from the pipeline's histogram);
//   * per-stage busy time per frame and the mean batch size;
//   * resident memory (RSS and peak) at the given frame checkpoints.
// RunSweep repeats RunBench for each batch size and picks the largest throughput whose p99
// latency fits the budget.
//
// Input: synthetic frames (a few distinct generated frames of width x height in `format`,
// submitted round-robin: no decoding cost) or a file (decoded on the fly, looped as needed).
//
// Thread safety: the functions may be called from any thread; one run at a time per process is
// advisable (they measure the machine).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vrseg/backend.h"
#include "vrseg/frame.h"
#include "vrseg/pipeline.h"
#include "vrseg/segmenter.h"
#include "vrseg/status.h"

namespace vrseg {

enum class BenchStages : int {
  kFull = 0,  // the Segmenter's real preprocessing and postprocessing
  kNone,      // stages that do nothing (a bare Pipeline over the backend): the pipeline's own cost
};

struct BenchOptions {
  // Backend, model, pipeline and batcher settings (Segmenter semantics).
  SegmenterOptions segmenter;
  // A video/image file to decode; empty: synthetic frames.
  std::string input;
  // Synthetic frame size and format.
  int width = 1280;
  int height = 720;
  PixelFormat format = PixelFormat::kRGB24;
  // Synthetic input streams (frames are spread over them round-robin).
  int streams = 1;
  int64_t warmup_frames = 50;
  int64_t frames = 500;
  // Priority of every frame (kPriorityRealtime or kPriorityThroughput).
  int priority = kPriorityThroughput;
  BenchStages stages = BenchStages::kFull;
  // Frames submitted but not yet finished that the feeder allows (a closed loop). 0 (default):
  // max_batch * (buffer_sets + 1), enough to fill every batch and keep the buffer sets busy, so
  // that latency is batching + processing; -1: no limit beyond the pipeline's own (latency then
  // includes queueing in the full intake queue).
  int max_outstanding = 0;
  // Also time Backend::Run alone (model-only throughput). Default true.
  bool model_only = true;
  // Frame counts (of the measured phase) at which RSS is sampled; the end is always sampled.
  std::vector<int64_t> rss_checkpoints = {1000, 20000};
};

// Checks ranges. Errors name the option ("bench.frames: ...").
Status ValidateBenchOptions(const BenchOptions& options);

struct RssSample {
  int64_t frame = 0;       // frames delivered when sampled
  int64_t rss_bytes = 0;   // resident set size
  int64_t peak_bytes = 0;  // peak resident set size so far (VmHWM)
};

struct BenchReport {
  std::string backend;
  std::string device;
  std::string model;
  std::string input;      // "synthetic 1280x720 rgb24" or the file
  int max_batch = 0;
  int64_t frames = 0;     // measured (after warm-up)
  double wall_s = 0;      // of the measured phase
  double e2e_fps = 0;     // frames / wall_s
  double us_per_frame = 0;  // 1e6 / e2e_fps (with the noop backend: the pipeline's cost)
  double model_fps = 0;     // model-only (0 when not measured)
  double model_batch_ms = 0;  // one Backend::Run of max_batch frames (mean, per worker)
  double e2e_vs_model = 0;    // e2e_fps / model_fps (0 when not measured)
  // The inference stage's capacity inside the same run: infer workers / (its busy time per
  // frame), i.e. the rate if it never waited; and e2e_fps / that (1.0: inference-bound).
  double infer_capacity_fps = 0;
  double e2e_vs_infer = 0;
  double mean_batch = 0;
  LatencySummary latency;
  std::vector<StageStats> stages;  // of the measured phase
  int64_t frames_failed = 0;
  int64_t frames_dropped = 0;
  std::vector<RssSample> rss;
};

struct SweepPoint {
  int batch = 0;
  double e2e_fps = 0;
  double mean_batch = 0;
  LatencySummary latency;
  bool fits_budget = false;
};

struct SweepReport {
  double latency_budget_ms = 0;  // 0: no budget (every point fits)
  std::vector<SweepPoint> points;
  int best_batch = 0;            // 0 when no point fits the budget
  std::string explanation;       // one sentence: why this batch size
};

// Errors: bad options, the backend/model failing to load, or the pipeline's error.
Result<BenchReport> RunBench(const BenchOptions& options);
// `batch_sizes` each 1..1024; `latency_budget_ms` >= 0 (0: none).
Result<SweepReport> RunSweep(const BenchOptions& options, const std::vector<int>& batch_sizes,
                             double latency_budget_ms);

// `vrseg bench --batch LIST`: Backend::Run alone at each batch size, without the pipeline or any
// pre/postprocessing (the figures compared with PyTorch and other runtimes in
// docs/benchmarks.md). One backend is made for the largest batch; its inputs are zeroed (the cost
// does not depend on the values). GPU backends are timed on the device (CUDA events around
// back-to-back Run calls on one stream, no host synchronisation between them), CPU backends by
// the wall clock. Each point is the median of `samples` samples of about `sample_ms` each
// (3 to 1000 runs a sample), after a first run and 3 warm-up runs.
// A model file without vrseg metadata (an ONNX export from elsewhere, e.g.
// bench/export_torchvision.py's) is timed as an NCHW image model, its first input and output
// taken as the image and the result.
struct ModelTimingOptions {
  std::string backend = "ort";
  std::string model = "selfie";    // a known name, an .onnx file or (backend gpu) a .plan
  BackendOptions backend_options;  // max_batch is set to the largest of `batches`
  std::vector<int> batches = {1};  // each 1..1024
  int samples = 7;                 // 1..100
  double sample_ms = 300;          // > 0
};

struct ModelTimingPoint {
  int batch = 0;
  double ms_per_batch = 0;  // median over the samples
  double min_ms = 0, max_ms = 0;
  double frames_per_s = 0;  // batch * 1000 / ms_per_batch
  int runs_per_sample = 0;
};

struct ModelTimingReport {
  std::string backend, device, precision, model;
  bool device_timed = false;     // CUDA events (true) or the wall clock
  bool without_metadata = false;  // timed as a generic NCHW image model
  double create_s = 0;           // making the backend (a GPU plan's build or load included)
  double first_run_ms = 0;       // the first Run at the first batch (lazy set-up, graph capture)
  std::vector<ModelTimingPoint> points;
};

// Errors: bad options, the backend or model failing to load or run (named).
Result<ModelTimingReport> TimeModel(const ModelTimingOptions& options);
std::string FormatModelTimingReport(const ModelTimingReport& report);
// One JSON object per point, one per line: {"kind": "model", "backend", "device", "precision",
// "model", "batch", "ms_per_batch", "frames_per_s", "min_ms", "max_ms", "runs_per_sample",
// "device_timed", "create_s", "first_run_ms"}.
std::string ModelTimingJson(const ModelTimingReport& report);

// Human-readable tables.
std::string FormatBenchReport(const BenchReport& report);
std::string FormatSweepReport(const SweepReport& report);
// JSON objects (keys as the struct fields).
std::string BenchReportJson(const BenchReport& report);
std::string SweepReportJson(const SweepReport& report);

// Command-line value parsers (errors name the flag, or for batch lists the bad text: the caller
// adds the flag):
//   "1280x720" → {1280, 720} (each 1..16384);
//   "1,2,4,8" → {1, 2, 4, 8} (each 1..1024, no empty entries);
//   "rgb24" | "bgr24" | "rgba" | "bgra" | "nv12" | "i420" | "gray8" → the PixelFormat.
Result<std::pair<int, int>> ParseFrameSize(std::string_view text);
Result<std::vector<int>> ParseBatchList(std::string_view text);
Result<PixelFormat> ParseInputFormat(std::string_view text);

// Resident set size and peak of this process (from /proc/self/status), -1 when unreadable.
RssSample ReadRss();

}  // namespace vrseg
