// vrseg/segmenter.h — the library API: cut people out of frames and files.
//
//   auto seg = Segmenter::Create(options);                 // loads the model (Result)
//   std::future<Result<Frame>> f = (*seg)->Submit(frame);   // one frame → its mask
//   (*seg)->Run({"in.mp4"}, {{"mask.mkv", {}}});           // files → files
//
// A Segmenter wraps one Pipeline (see pipeline.h) around `buffer_sets` backends loaded from the
// same model, with vrseg's own pre- and postprocessing (imgproc.h) as its stages:
//   preprocess  — resize/convert/normalise each frame straight into its batch slot of the model
//                 input (a Preprocessor per worker, tables cached per input size);
//   postprocess — model output slot → probability at model size (a scratch per worker) →
//                 full-resolution Gray8 mask (bilinear, soft or thresholded) → guided-filter
//                 refinement when `refine` is on, then the alpha or composite frame when asked
//                 for (unless `temporal` is on: then in the sink);
//   sink        — with `temporal` on: the mask smoothed against the previous mask of the same
//                 stream (frames arrive here in order per stream), then alpha/composite from
//                 that final mask; then Submit: the frame's future/callback; Run: the output's
//                 VideoWriter.
// Results come back in submission order per stream (Frame::stream_id), with the input's index,
// timestamps and colour description.
//
// Submit mode and Run mode: the first Submit starts a long-lived pipeline that serves every later
// Submit until Close() (or the destructor). Run() builds a pipeline of its own for the files and
// tears it down before returning. The backends loaded by Create are used by the first pipeline;
// later pipelines load fresh ones.
//
// Devices (SegmenterOptions::device): the above is the CPU path. On the cuda path (the default
// where a GPU is present and the options allow it) the Segmenter drives one GpuSegmenter per GPU
// instead (gpu_segmenter.h): Run decodes with NVDEC where it can (else on the CPU, uploading),
// keeps frames on the GPU through pre- and postprocessing and compositing, and hands only the
// output frames to one encoder thread per output; input i goes to GPU i % GPUs. Submit hands the
// frame to the GPU of stream_id % GPUs; SubmitOptions' priority and deadline are not used there.
// Stereo (SegmenterOptions::stereo) works on both paths.
//
// Thread safety: Submit, RequestStop and Stats may be called from any thread, concurrently.
// Run and Close must not run concurrently with another Run or Close.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "vrseg/backend.h"
#include "vrseg/batcher.h"
#include "vrseg/frame.h"
#include "vrseg/gpu_segmenter.h"
#include "vrseg/imgproc.h"
#include "vrseg/io.h"
#include "vrseg/pipeline.h"
#include "vrseg/status.h"

namespace vrseg {

class Profiler;

// Every field maps one to one to a configuration key (the section in brackets).
struct SegmenterOptions {
  // [backend] Registered backend name: "ort" (ONNX Runtime, CPU), "noop" (runs nothing: measures
  // the pipeline's own overhead), others where built. Default "ort".
  std::string backend = "ort";
  // [model] A known model name ("selfie", "landscape"/"meet", see model_registry.h) or a path to
  // an .onnx file with vrseg metadata. Default "selfie".
  std::string model = "selfie";
  // [backend] threads, device, precision. Its max_batch is ignored: the backends are sized for
  // pipeline.batcher.max_batch.
  BackendOptions backend_options;
  // [pipeline] workers, queues, buffer sets and [batcher] policy.
  PipelineOptions pipeline;
  // [preprocess] How a frame is fitted into the model input. Default kStretch.
  ResizeMode resize = ResizeMode::kStretch;
  // [postprocess] true: hard 0/255 masks at threshold_value; false (default): soft masks.
  bool threshold = false;
  // [postprocess] Probability at or above which a pixel is person when threshold is set, in
  // [0, 1]. Default 0.5.
  float threshold_value = 0.5f;
  // [output] What Submit results hold: kMask (Gray8, default), kAlpha (RGBA: the input with the
  // mask as alpha; needs RGB24 input) or kComposite (RGB24 over `composite`; needs RGB24 input).
  // Run takes the content per output from RunOutput::writer.content instead.
  OutputContent content = OutputContent::kMask;
  // [output] The background of composites.
  CompositeOptions composite;
  // [postprocess.temporal] enabled: smooth each stream's masks over time (SmoothTemporal against
  // that stream's previous final mask, in frame order per stream) against flicker. Default false.
  // Runs on the sink thread, so with it on, alpha and composite frames are also made there.
  bool temporal = false;
  // [postprocess.temporal] factor (default 0.6), hysteresis (default 0).
  TemporalOptions temporal_options;
  // [postprocess.refine] enabled: refine each full-resolution mask with the fast guided filter
  // (GuidedFilterRefine), guided by the frame itself. Needs RGB24 input: Submit refuses other
  // formats with kInvalidArgument naming postprocess.refine.enabled (Run decodes to RGB24).
  // Default false.
  bool refine = false;
  // [postprocess.refine] radius (8), eps (1e-4), subsample (4), guidance (luma).
  GuidedFilterOptions refine_options;
  // [input] Decoder threads per input in Run; 0: FFmpeg's choice. Default 0.
  int decode_threads = 0;
  // [input] stereo: each frame holds two views (side by side or top-bottom). They are split,
  // segmented as two frames of their own streams (one batch of two, temporal state per eye) and
  // merged back, so every output has the input's size. Unset: mono.
  std::optional<StereoLayout> stereo;
  // [backend] device: "cpu" (the CPU pipeline; GPU backends run through pinned staging), "cuda"
  // (the all-GPU path, see gpu_segmenter.h: frames decoded by NVDEC where it can, pre- and
  // postprocessing and compositing on the GPU) or "auto" (default): cuda where vrseg has CUDA, a
  // GPU is present and the options are ones the GPU path does (backend ort, gpu or ort-cuda; no
  // postprocess.temporal, no postprocess.refine), else cpu, saying why in the log. On cuda the
  // backend ort (ONNX Runtime on the CPU) is replaced by gpu.
  std::string device = "auto";
  // [backend] devices: the GPUs of the cuda path: "" (backend.device_id alone), "all", or a list
  // "0,1". Inputs (and Submit's streams) are spread over them, one GpuSegmenter each.
  std::string devices;
};

// Checks ranges (pipeline, batcher, threshold, temporal, refine). Errors name the key.
Status ValidateSegmenterOptions(const SegmenterOptions& options);

struct SubmitOptions {
  int priority = kPriorityThroughput;  // kPriorityRealtime for VR / live frames
  // Absolute deadline on the steady clock (vrseg::NowNs()); 0: none. What happens to a late frame
  // is pipeline.batcher.late_policy (kDrop: the result is kDeadlineExceeded).
  int64_t deadline_ns = 0;
};

struct RunOutput {
  std::string path;      // output file or pattern (see OutputContainerFor)
  WriterOptions writer;  // content (mask / alpha / composite), quality, audio copy
};

struct ProgressInfo {
  int64_t frames_done = 0;   // written, all inputs together
  int64_t frames_total = -1; // from the containers; -1 when any is unknown
  double elapsed_s = 0;
  double fps = 0;            // frames_done / elapsed_s
  double eta_s = -1;         // (frames_total - frames_done) / fps; -1 when unknown
};

struct RunOptions {
  // Called from the sink thread about every `progress_interval_ms` and once at the end. Keep it
  // short (it holds the sink). May be empty.
  std::function<void(const ProgressInfo&)> progress;
  int progress_interval_ms = 500;
  // Receives per-stage spans and queue depths when not null (not owned; outlives Run).
  Profiler* profiler = nullptr;
};

struct SegmenterStats {
  std::string backend;          // "ort"
  std::string device;           // Backend::device_description()
  std::string model;            // ModelInfo::name
  // Of the running pipeline (Run's, else Submit's), or of the last one that ran; its `latency`
  // is the submit → result latency of the frames delivered OK (p50/p99 for a summary line).
  PipelineStats pipeline;
  int64_t frames_written = 0;   // by Run, over all its outputs
};

class Segmenter {
 public:
  // Validates `options` and loads the model into options.pipeline.buffer_sets backends.
  // Errors: kInvalidArgument (options, naming the key), kNotFound / kInvalidModel (model),
  // kUnsupported (a model whose output is not float32).
  static Result<std::unique_ptr<Segmenter>> Create(const SegmenterOptions& options);
  ~Segmenter();  // Close()
  Segmenter(const Segmenter&) = delete;
  Segmenter& operator=(const Segmenter&) = delete;

  // Segments `frame` (any host format imgproc's Preprocess reads; its pixels are shared, not
  // copied: do not write them until the result arrives). Blocks while the pipeline is full. The
  // future holds the mask (or the alpha / composite frame, see SegmenterOptions::content) with
  // the input's metadata, or the error: kCancelled after RequestStop/Close, kDeadlineExceeded for
  // a dropped late frame, kInvalidArgument (naming postprocess.refine.enabled) for a frame that
  // is not RGB24 while `refine` is on, or the pipeline's error (naming the stage, stream and
  // frame). With `temporal` on, each stream's smoothing state lives as long as the Submit
  // pipeline (until Close); dropped or failed frames do not enter it.
  std::future<Result<Frame>> Submit(Frame frame, SubmitOptions options = {});
  // The same with a callback, called exactly once from the pipeline's sink thread, in order per
  // stream (keep it short). Returns an error (and does not call `done`) when the frame was not
  // accepted.
  Status Submit(Frame frame, SubmitOptions options, std::function<void(Result<Frame>)> done);

  // Segments every input into its output: inputs[i] → outputs[i], all inputs sharing one
  // pipeline (their frames batched together). Every output is finalised, whatever happens.
  // Returns OK when every frame was written; kCancelled after RequestStop (the frames read so far
  // are written); else the first error, naming the file, stage and frame. kInvalidArgument when
  // the counts differ or are zero.
  Status Run(const std::vector<std::string>& inputs, const std::vector<RunOutput>& outputs,
             const RunOptions& run_options = {});

  // Stops intake (Run stops reading, Submit fails with kCancelled); frames in flight finish.
  // Thread-safe, returns at once; wire SIGINT/SIGTERM to it.
  void RequestStop();
  // Finishes the Submit pipeline (every pending future gets its result). Idempotent.
  Status Close();

  SegmenterStats Stats() const;
  // Starts the Submit pipeline's statistics afresh (after a warm-up). No effect without one.
  void ResetStats();
  const ModelInfo& model_info() const { return model_info_; }
  const SegmenterOptions& options() const { return options_; }

 private:
  Segmenter() = default;
  Result<std::vector<std::unique_ptr<Backend>>> TakeBackends();
  Result<std::unique_ptr<Pipeline>> MakePipeline(std::vector<OutputContent> content_by_stream,
                                                 std::function<Status(FrameResult&)> sink,
                                                 Profiler* profiler,
                                                 std::vector<std::string> stream_names = {});
  Status EnsureSubmitPipeline();

  SegmenterOptions options_;
  std::string model_path_;
  ModelInfo model_info_;
  std::string device_;
  // The cuda path (device "cuda"): one per GPU; empty on the CPU path.
  std::vector<std::unique_ptr<GpuSegmenter>> gpus_;
  Status RunGpu(const std::vector<std::string>& inputs, const std::vector<RunOutput>& outputs,
                const RunOptions& run_options);
  Status SubmitGpu(Frame frame, std::function<void(Result<Frame>)> done);
  Status SubmitOne(Frame frame, SubmitOptions options, std::function<void(Result<Frame>)> done);
  std::vector<std::unique_ptr<Backend>> spare_backends_;  // guarded by mu_

  std::mutex create_mu_;  // serialises the creation of the Submit pipeline
  mutable std::mutex mu_;
  std::shared_ptr<Pipeline> submit_pipeline_;  // guarded by mu_
  Pipeline* run_pipeline_ = nullptr;           // guarded by mu_; owned by Run
  bool stop_requested_ = false;                // guarded by mu_
  PipelineStats last_stats_;                   // guarded by mu_
  int64_t frames_written_ = 0;                 // guarded by mu_
};

}  // namespace vrseg
