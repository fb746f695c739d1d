// vrseg/pipeline.h — the asynchronous multi-stage pipeline around a Backend.
//
//   Push ──► [batcher] ──► preprocess ×P ──► infer ×I ──► postprocess ×Q ──► [reorder] ──► sink
//  (callers:  (intake      (fill batch      (Backend::   (read output     (in order     (hook +
//   decoders, queue of     slots in place)   Run)         slots)           per stream)   callback)
//   Submit)   max_queue)
//
// Callers (decoder threads, Segmenter::Submit) Push frames; the batcher groups waiting frames
// (of any streams) into batches under the BatcherOptions policy; preprocess workers write each
// frame straight into its slot of the backend's input tensor; an infer worker runs the batch;
// postprocess workers read the output slots into masks; one sink thread puts the results back in
// Push order per stream and hands them to the sink hook and the frame's callback.
//
// Buffer ownership (double buffering). The pipeline gets `buffer_sets` backends (usually made by
// CreateBackend from the same model): each one's preallocated input and output tensors form a
// *buffer set*. A set belongs to exactly one batch from dispatch until the last of its output
// slots has been read: batcher (assigns slots) → preprocess workers (each writes only its own
// slot) → one infer worker (Run) → postprocess workers (each reads only its own slot) → free.
// With 2 sets, batch k+1 is preprocessed while batch k runs and is postprocessed; with 1 set the
// stages alternate. No stage copies a tensor, and no buffer is shared between two batches.
//
// Memory is bounded whatever the input length: at most max_in_flight() frames are inside the
// pipeline at once (Push blocks while that many are in flight or the batcher queue is full:
// backpressure). Per-frame records are pooled; masks are reused by the postprocess hook when the
// previous user has let go of them (see FrameResult). Nothing is allocated per frame once warm
// except what the hooks and callbacks allocate.
//
// Shutdown:
//   * Finish(): ends intake; every frame pushed is delivered (the batcher flushes at once), then
//     the threads stop. Returns the first error, or OK.
//   * RequestStop(): ends intake now (blocked and later Push calls fail with kCancelled); frames
//     already accepted still finish and are delivered. Finish() then returns OK.
//   * An error in any stage (a hook or Backend::Run failing) or Abort(): the pipeline stops at
//     once with that error, its message naming the stage, stream and frame ("preprocess: stream 1,
//     frame 17: ..."). Frames not yet delivered are then delivered with that error as their
//     status, in order per stream, by Finish() — no frame is dropped silently, nothing hangs.
//
// Thread safety: Push, RequestStop, Abort and Stats may be called from any thread, concurrently.
// Finish is called once, by the owner (the destructor calls RequestStop and Finish if needed).
// Hooks are called concurrently from several workers: preprocess and postprocess hooks must be
// safe for that (postprocess gets its worker index for per-worker scratch); the sink hook and the
// frame callbacks are called from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vrseg/backend.h"
#include "vrseg/batcher.h"
#include "vrseg/clock.h"
#include "vrseg/frame.h"
#include "vrseg/status.h"
#include "vrseg/tensor.h"

namespace vrseg {

class Profiler;

struct PipelineOptions {
  // Threads writing batch slots (1..64). Default 1.
  int preprocess_workers = 1;
  // Threads running the backend (1..buffer_sets), each on its own buffer set. On the CPU, N
  // workers with backend threads = 1 often beat one worker with N intra-op threads (measured on
  // 2 cores: selfie 640x480, 2x1 thread ≈ 3x the frames of 1x2 threads). Default 1.
  int infer_workers = 1;
  // Threads reading output slots into masks (1..64). Default 1.
  int postprocess_workers = 1;
  // Backend instances used in rotation (1..8): infer_workers + 1 lets the next batch be
  // preprocessed while every worker runs (see "Buffer ownership"); each costs one copy of the
  // model's buffers. Default 2.
  int buffer_sets = 2;
  // Frames that may wait between postprocess and the sink (1..4096). Default 8.
  int sink_queue = 8;
  // Batching policy; batcher.max_queue is the intake queue (frames waiting to be batched).
  BatcherOptions batcher;
};

// Checks ranges. Errors name the field ("pipeline.buffer_sets: ...").
Status ValidatePipelineOptions(const PipelineOptions& options);

// Latency percentiles in microseconds.
struct LatencySummary {
  int64_t count = 0;
  double mean_us = 0;
  double min_us = 0;
  double p50_us = 0;
  double p90_us = 0;
  double p99_us = 0;
  double max_us = 0;
};

class LatencyHistogram;
// The percentiles of a histogram of nanoseconds (profiler.h), in microseconds.
LatencySummary SummarizeLatency(const LatencyHistogram& histogram);

struct StageStats {
  std::string name;          // "batch", "preprocess", "infer", "postprocess", "sink"
  int workers = 0;
  int64_t items = 0;         // frames handled ("infer": frames too; batches in PipelineStats)
  double busy_ms = 0;        // time spent working, summed over workers
  double mean_us = 0;        // busy time per item
  int queue_capacity = 0;    // the stage's input queue, in frames (sets for "infer")
  int queue_high_water = 0;  // the most it ever held
};

struct PipelineStats {
  int64_t frames_in = 0;       // accepted by Push
  int64_t frames_out = 0;      // delivered with an OK status
  int64_t frames_failed = 0;   // delivered with an error (pipeline error, stop, sink failure)
  int64_t frames_dropped = 0;  // late frames not run (LatePolicy::kDrop): kDeadlineExceeded
  int64_t frames_late = 0;     // late frames run anyway
  int64_t batches = 0;
  double mean_batch = 0;
  std::vector<int64_t> batch_size_counts;  // [b] = number of batches of size b
  LatencySummary latency;      // Push → delivery, of frames delivered OK
  std::vector<StageStats> stages;
  double elapsed_s = 0;        // first Push → last delivery
  double fps = 0;              // frames_out / elapsed_s
};

// One frame's record as it moves through the stages.
struct FrameResult {
  Status status;       // OK, or why there is no mask: kDeadlineExceeded (dropped late), the
                       // pipeline's error, or the sink's error for this frame
  Frame input;         // the frame as pushed (its pixels shared, never copied)
  // Written by the postprocess hook. The pipeline keeps these frames between uses of a record:
  // a hook should reuse their pixels when `storage.use_count() == 1` (no one else holds them)
  // and allocate new ones otherwise (see EnsureFrame).
  Frame mask;
  Frame output;        // a second product of the hook (alpha, composite); may stay empty
  int stream_id = 0;   // = input.stream_id
  int64_t sequence = 0;  // 0-based Push order within the stream: the delivery order
  int priority = kPriorityThroughput;
  int64_t push_ns = 0;   // on the pipeline's clock
  int64_t done_ns = 0;   // when delivered
};

// Makes `frame` a host frame of this format and size that only the caller holds: keeps its
// pixels when they already are, allocates otherwise. Metadata is left as it was.
Status EnsureFrame(Frame* frame, PixelFormat format, int width, int height);

using FrameCallback = std::function<void(FrameResult& result)>;

struct PushOptions {
  int priority = kPriorityThroughput;  // 0 (most urgent) .. batcher.priority_levels-1
  int64_t deadline_ns = 0;             // absolute, on the pipeline's clock; 0: none
  // Called once from the sink thread, after the sink hook, in Push order per stream, with the
  // frame's result (OK or not). May be empty.
  FrameCallback on_done;
};

struct PipelineHooks {
  // Writes batch slot `slot` of the backend input `input` from `in`. Called concurrently from
  // the preprocess workers (distinct slots); `worker` (0..preprocess_workers-1) indexes
  // per-worker scratch. Required.
  std::function<Status(const Frame& in, const Tensor& input, int slot, int worker)> preprocess;
  // Makes result->mask (and optionally result->output) from slot `slot` of the backend output
  // `output`. Called concurrently from the postprocess workers; `worker` (0..postprocess_workers-1)
  // indexes per-worker scratch. Required.
  std::function<Status(const Tensor& output, int slot, int worker, FrameResult* result)>
      postprocess;
  // Consumes each result in Push order per stream (write it, hand it on). Called from one thread
  // at a time; also for results with an error status (a writer skips those). A non-OK return
  // stops the pipeline with that error. May be empty.
  std::function<Status(FrameResult& result)> sink;
  // Names a stream in error messages ("stream 1 (clip.mp4), frame 17"), e.g. its input file.
  // Called only when an error is reported. May be empty.
  std::function<std::string(int stream_id)> stream_name;
};

class Pipeline {
 public:
  // Starts the stage threads. `backends`: exactly options.buffer_sets loaded backends, each with
  // max_batch() >= options.batcher.max_batch and at least one input and one output. `clock`
  // (not owned, outlives the pipeline; nullptr: Clock::Steady()) times latencies and the batcher.
  // `profiler` (not owned, may be null) receives per-stage spans and queue depths.
  // Errors: kInvalidArgument for bad options, a wrong backend count, a missing hook.
  static Result<std::unique_ptr<Pipeline>> Create(const PipelineOptions& options,
                                                  std::vector<std::unique_ptr<Backend>> backends,
                                                  PipelineHooks hooks,
                                                  const Clock* clock = nullptr,
                                                  Profiler* profiler = nullptr);
  ~Pipeline();  // RequestStop() and Finish() if Finish was not called
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Hands `frame` (pixels shared, not copied; the caller must not write them until the frame is
  // delivered) to the pipeline, waiting while max_in_flight() frames are in flight or the batcher
  // queue is full. Errors: kCancelled after RequestStop or Finish; the pipeline's error once it
  // failed; kInvalidArgument for an empty frame or a priority out of range. On error the frame
  // was not taken and `options.on_done` is not called.
  Status Push(Frame frame, PushOptions options = {});

  // Ends intake, waits until every accepted frame was delivered and the threads stopped.
  // Returns the first error of any stage, or OK (also after RequestStop). Idempotent.
  Status Finish();

  // Stops intake now; accepted frames still finish. Thread-safe; returns at once.
  void RequestStop();
  // Stops the pipeline with `error` (e.g. a decoder failed), as if a stage had failed.
  void Abort(Status error);

  bool stop_requested() const;
  // The pipeline's error so far (OK while none).
  Status error() const;
  // Frames that may be inside the pipeline at once.
  int max_in_flight() const;
  const Clock& clock() const;
  // A snapshot; safe during a run.
  PipelineStats Stats() const;
  // Starts the statistics afresh (counters, latency histogram, stage times, elapsed time), e.g.
  // after a warm-up. Frames in flight are counted in the new period when they are delivered.
  void ResetStats();

  struct Impl;

 private:
  explicit Pipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vrseg
