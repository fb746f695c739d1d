// vrseg/gpu_segmenter.h — the all-GPU segmenter: frames stay on the device from input to result.
//
//   auto seg = GpuSegmenter::Create(options);       // loads the model on one GPU
//   seg->Submit({frame}, [](Result<std::vector<GpuResult>> r) { ... });  // completion callback
//   seg->Submit({left_eye, right_eye}, on_pair);    // a stereo pair: one batch of two
//   seg->Close();
//
// One GpuSegmenter drives one GPU: a GPU backend ("gpu", vrseg's engine, or
// "ort-cuda"), a cuda::GpuFramePath (upload where the frame is on the host,
// preprocessing straight into the model's input tensor, postprocessing and
// compositing on the device, download of only what was asked for through pinned
// buffers, each direction on its own stream) and one driver thread. Callers
// Submit *groups* of frames (one frame, or the two eyes of a stereo pair); the
// driver takes waiting groups, oldest first, into batches of at most max_batch
// frames (a group is never split across batches), runs the model once per batch
// and hands every group's results to its callback as soon as they are on the
// host. Frames of different streams share batches; the next batch is uploaded
// and preprocessed while the previous one downloads.
//
// Inputs: host frames (copied into pinned staging at Submit; the caller may
// reuse them at once), pinned host frames, or device frames (NV12 from the
// NVDEC reader, RGB24, RGBA, ... on this segmenter's GPU; read in place, kept
// alive until their result is delivered). Frames that are not RGB24 are converted on
// the device where a composite is asked for.
//
// Results: GpuResult::mask (Gray8) and/or ::composite, host frames in pinned
// memory that carry the input's metadata and may be kept (they return to the
// pool when dropped; results held count against pinned_max_bytes). Latency is
// measured from Submit to the callback.
//
// Ordering: callbacks run on the driver thread, one at a time, in submission
// order (so in order per stream). Keep them short; a callback that blocks holds
// up every stream (that is how a slow consumer applies backpressure). Errors: a
// group that fails (bad frame, CUDA error, model error) gets the error naming
// the stream and frame; after a CUDA error every later group fails too.
//
// Thread safety: Submit, Flush and Stats from any thread, concurrently; Close
// once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vrseg/backend.h"
#include "vrseg/frame.h"
#include "vrseg/imgproc.h"
#include "vrseg/pipeline.h"
#include "vrseg/profiler.h"
#include "vrseg/status.h"

namespace vrseg {

struct GpuSegmenterOptions {
  // "gpu" (vrseg's CUDA engine, default) or "ort-cuda".
  std::string backend = "gpu";
  // A model path (an .onnx file with vrseg metadata, or a .plan for "gpu").
  std::string model_path;
  // device_id picks the GPU; precision, engine cache as for the backend.
  // max_batch is ignored (the backend is sized for this struct's max_batch).
  BackendOptions backend_options;
  // Largest batch (1..256). 2 for VR pairs; 8-32 for many streams.
  int max_batch = 8;
  // Once a frame waits and the batch is not full, how long the driver may wait
  // for more frames before it runs what it has, in microseconds (0: run at
  // once; 0..1,000,000).
  int max_wait_us = 0;
  // Frames that may wait for the driver before Submit blocks (max_batch..65536;
  // 0: 4 x max_batch).
  int max_queue = 0;
  // Batches queued on the GPU at once (1..8). 2 (default): one computing while the next waits
  // behind it; frames arriving meanwhile wait on the host and go as one larger batch, so under
  // load the batches grow instead of the GPU's queue (and every frame's latency with it).
  int max_batches_in_flight = 2;
  // Frames in the GPU at once (between upload and download). 0: max_batches_in_flight x
  // max_batch, at most cuda::kMaxFramePathSlots.
  int slots = 0;
  ResizeMode resize = ResizeMode::kStretch;
  bool threshold = false;
  float threshold_value = 0.5f;
  // What results carry: the Gray8 mask, the composite (over `composite`, in
  // composite_format: RGB24, RGBA or NV12), or both.
  bool want_mask = true;
  bool want_composite = false;
  // The composite is the frame with the mask as alpha (RGBA) instead of the
  // person over a background (composite_format must be RGBA).
  bool composite_alpha = false;
  CompositeOptions composite;
  PixelFormat composite_format = PixelFormat::kRGB24;
  // Leave the results on the GPU (device frames of this GPU, no download; see
  // cuda::FramePathOptions::results_on_device), for applications that render or encode from
  // device memory, such as a VR compositor.
  bool results_on_device = false;
  // Bound of the pinned pool (staging and results, in use or cached). 0: 1 GiB.
  size_t pinned_max_bytes = 0;
};

// Checks ranges and combinations (no GPU needed). Errors name the field.
Status ValidateGpuSegmenterOptions(const GpuSegmenterOptions& options);

struct GpuResult {
  Frame mask;             // Gray8, pinned host memory, the input's metadata; empty unless
                          // want_mask
  Frame composite;        // composite_format; empty unless want_composite
  int64_t submit_ns = 0;  // NowNs() at Submit
  int64_t done_ns = 0;    // NowNs() just before the callback
};

// Results of one group, in the group's frame order.
using GpuCallback = std::function<void(Result<std::vector<GpuResult>>)>;

struct GpuSegmenterStats {
  int64_t frames_in = 0;
  int64_t frames_out = 0;     // delivered OK
  int64_t frames_failed = 0;  // delivered with an error
  int64_t batches = 0;
  double mean_batch = 0;
  LatencySummary latency;  // Submit → callback, frames delivered OK
  double elapsed_s = 0;    // first Submit → last delivery
  double fps = 0;
};

class GpuSegmenter {
 public:
  // Loads the model on options.backend_options.device_id and starts the driver
  // thread. kUnavailable when vrseg was built without CUDA or there is no such
  // device; the backend's errors (model missing or unusable);
  // ValidateGpuSegmenterOptions's.
  static Result<std::unique_ptr<GpuSegmenter>> Create(const GpuSegmenterOptions& options);
  ~GpuSegmenter();  // Close()
  GpuSegmenter(const GpuSegmenter&) = delete;
  GpuSegmenter& operator=(const GpuSegmenter&) = delete;

  // Queues a group of 1..max_batch frames; blocks while max_queue frames wait.
  // `done` is called exactly once (from the driver thread) when the call
  // returns OK. Errors, with `done` not called: kInvalidArgument for an empty
  // group, a group larger than max_batch, an empty frame, a device frame of
  // another GPU or a pixel format the path cannot read; kCancelled after Close.
  Status Submit(std::vector<Frame> frames, GpuCallback done);
  // Blocks until every group submitted before the call has been delivered.
  void Flush();
  // Delivers everything submitted, stops the driver, frees the GPU resources.
  // Idempotent.
  void Close();

  GpuSegmenterStats Stats() const;
  void ResetStats();
  // Records the driver thread's spans in `profiler` (not owned; null: stop) as stage `stage`:
  // busy while it uploads, preprocesses and enqueues a batch (items: its frames), blocked while
  // it waits for results on the GPU. Its trace track is named "gpu/<device>".
  void SetProfiler(Profiler* profiler, StageId stage);
  const ModelInfo& model_info() const;
  std::string device_description() const;
  const GpuSegmenterOptions& options() const;

  struct Impl;  // private

 private:
  explicit GpuSegmenter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Number of CUDA devices vrseg can use (0 without CUDA or a driver).
int GpuDeviceCount();

}  // namespace vrseg
