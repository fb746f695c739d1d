// vrseg/cuda/frame_path.h — the GPU-resident frame path: upload → preprocess → (caller's model)
// → postprocess → optional composite → download, overlapped across frames.
//
// A GpuFramePath owns three CUDA streams (upload, compute, download), a PinnedHostPool, a
// DevicePool, an optional GpuCompositor and a fixed number of in-flight slots (2 = double
// buffering, 3 = triple buffering, ...). One frame goes through it in three calls:
//
//   seq = Submit(frame, input_tensor, tensor_slot)   // upload (H2D stream), event, the compute
//                                                    // stream waits on it, PreprocessBatch into
//                                                    // input_tensor slot `tensor_slot`
//   ... the caller enqueues its model on compute_stream(), reading the input tensor and writing
//       its output tensor ...
//   Finish(seq, output_slot)                         // PostprocessBatch from that output slot →
//                                                    // GpuCompositor (if configured) → event →
//                                                    // download (D2H stream) into pinned memory
//   result = Wait()                                  // blocks until the oldest finished frame's
//                                                    // download is complete; hands back host
//                                                    // frames in pinned buffers from the pool
//
// Streams are ordered by events only; the host never waits on the device except in Wait() (and
// in the destructor). While frame k is being preprocessed or postprocessed on the compute stream,
// frame k+1 can be uploading and frame k-1 downloading: each direction has its own stream (and the
// GPU's own copy engine).
//
// Input frames: host frames (MemoryKind::kHost: copied into a pinned staging buffer of the slot,
// then uploaded; kPinnedHost: uploaded straight from the caller's memory, which must stay
// unchanged until the frame's result is collected — the slot holds a reference to its storage) in
// NV12, I420, RGB24, BGR24, RGBA, BGRA or Gray8 of any size and row pitch; or device frames
// (MemoryKind::kDevice: no upload; the compute stream first waits on SubmitOptions::ready if
// given, and the slot holds a reference to the frame until its result is collected).
//
// Backpressure: at most `slots` frames are between Submit and the Wait that collects them;
// Submit with every slot busy returns kUnavailable without doing anything (collect a result with
// Wait, then submit again). Nothing is allocated per frame once the path has seen a frame size:
// device buffers are kept per slot (grown when a larger frame comes), staging buffers likewise,
// and the pinned result buffers return to the pool when the caller drops the result frames.
//
// Ownership: Create returns the sole owner. Result frames own their pinned buffers (Frame::storage)
// and may outlive the path. The caller keeps its input/output tensors alive until the frames that
// use them are collected.
// Thread safety: one thread at a time per GpuFramePath (Submit/Finish/Wait/Ready from one thread,
// or from several under the caller's lock). Distinct paths are independent.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "vrseg/cuda/memory.h"
#include "vrseg/cuda/postprocess.h"
#include "vrseg/frame.h"
#include "vrseg/imgproc.h"
#include "vrseg/status.h"
#include "vrseg/tensor.h"

namespace vrseg::cuda {

inline constexpr int kMaxFramePathSlots = 256;

struct FramePathOptions {
  // Frames in flight (between Submit and the Wait that collects them), 1..kMaxFramePathSlots.
  // Default 3 (triple buffering). 1 makes the path serial.
  int slots = 3;
  // Preprocessing into the model input (as for PreprocessBatch).
  PreprocessOptions preprocess;
  // Postprocessing of the model output (as for PostprocessBatch). The mask has the input frame's
  // size. `temporal` is not supported yet (kUnsupported).
  PostprocessGpuOptions postprocess;
  // Download the Gray8 mask (default true).
  bool download_mask = true;
  // Composite the person over `composite_options`' background and download the result in
  // `composite_format` (RGB24, RGBA or NV12). Frames of other formats than RGB24 are converted to
  // RGB24 on the device first (ToRgb24Device, into a buffer of the slot). At least one of
  // download_mask and composite must be set.
  bool composite = false;
  // With composite: instead of a background, the frame itself with the mask as alpha
  // (MakeRgbaDevice; composite_format must be RGBA; composite_options are not used).
  bool composite_alpha = false;
  CompositeOptions composite_options;
  PixelFormat composite_format = PixelFormat::kRGB24;
  // Leave the results on the GPU: FrameResult's mask and composite are device frames
  // (MemoryKind::kDevice, this path's device), each in a buffer of its own that may outlive the
  // path and is freed (stream-ordered, on the legacy default stream) when the last copy of the
  // Frame goes: finish the GPU work that reads it before dropping it. Nothing is downloaded, so
  // Wait returns as soon as the frame's processing is done. download_mask then means "make the
  // mask a result".
  bool results_on_device = false;
  // Bound of the pinned host pool (staging + result buffers held, in use or cached). Results the
  // caller keeps count against it: when it is reached, Finish returns kOutOfMemory.
  size_t pinned_max_bytes = size_t{256} << 20;
  // Bound of the device pool (0: none).
  size_t device_max_bytes = 0;
  // Record timing events for every stage and report them in FrameResult::timeline (costs a few
  // event records per frame; off by default).
  bool timeline = false;
};

// Per-frame options.
struct SubmitOptions {
  // Device frames only: an event the compute stream waits on before reading the frame (the event
  // that marks the producer's write). Null: the caller guarantees the frame is ready.
  cudaEvent_t ready = nullptr;
};

// Stage times of one frame, in milliseconds since the path was created (GPU clock, from events).
// A stage that did not run (no upload for device frames, no download of a part) has begin = end =
// -1. Filled only with FramePathOptions::timeline.
struct FrameTimeline {
  float upload_begin = -1, upload_end = -1;
  float preprocess_begin = -1, preprocess_end = -1;
  float postprocess_begin = -1, postprocess_end = -1;  // postprocess + composite
  float download_begin = -1, download_end = -1;
};

struct FrameResult {
  int64_t sequence = 0;  // Submit's return value
  // Host frames in pinned memory (MemoryKind::kPinnedHost, tight pitches) carrying the input
  // frame's metadata (stream id, index, pts, ...). Empty when not asked for. Each owns a pinned
  // buffer of the path's pool, returned to the pool when the last copy of the Frame is dropped.
  Frame mask;
  Frame composite;
  FrameTimeline timeline;
};

struct FramePathStats {
  int64_t submitted = 0;
  int64_t finished = 0;
  int64_t collected = 0;
  int64_t uploads = 0;       // frames uploaded (host input)
  int64_t staged = 0;        // of which copied into a pinned staging buffer first (kHost)
  int64_t backpressure = 0;  // Submit calls refused because every slot was busy
  PinnedPoolStats pinned;
  DevicePoolStats device;
};

class GpuFramePath {
 public:
  // Checks the options (before any CUDA call: kInvalidArgument / kUnsupported naming the field),
  // then creates the streams, pools and compositor on the current device. kUnavailable when there
  // is no CUDA device.
  static Result<std::unique_ptr<GpuFramePath>> Create(FramePathOptions options);
  // Waits for all work of the path, then frees its buffers and streams.
  ~GpuFramePath();
  GpuFramePath(const GpuFramePath&) = delete;
  GpuFramePath& operator=(const GpuFramePath&) = delete;

  // The stream the caller's model must run on between Submit and Finish.
  cudaStream_t compute_stream() const;
  const FramePathOptions& options() const;

  // Checks what Submit checks before any CUDA call (no device needed): kInvalidArgument naming
  // the frame index and field for an empty frame, a pitch smaller than a row, a tensor that is not
  // on the device or does not match options.preprocess (dtype float32/float16, shape), a slot out
  // of range, a `ready` event with a host frame; kUnsupported for a pixel format the path cannot
  // take.
  static Status CheckSubmit(const FramePathOptions& options, const Frame& frame,
                            const Tensor& input, int64_t tensor_slot, const SubmitOptions& submit);

  // Starts one frame: upload (unless on the device) and preprocessing into slot `tensor_slot` of
  // `input` (a device tensor, [N,H,W,3] or [N,3,H,W] per options.preprocess). Returns the frame's
  // sequence number (0, 1, 2, ...). kUnavailable when every slot is busy (nothing done: Wait for a
  // result first). CheckSubmit's errors; CUDA errors name the call. A host frame (kHost) has been
  // copied when Submit returns and may be reused at once.
  Result<int64_t> Submit(const Frame& frame, const Tensor& input, int64_t tensor_slot,
                         const SubmitOptions& submit = {});

  // Completes frame `sequence` once the caller's model has been enqueued on compute_stream():
  // postprocessing from `output_slot` (device memory, model_height*model_width*channels values of
  // options.postprocess.slot_dtype, read on the compute stream), compositing, and the download.
  // Frames are finished in submission order: kInvalidArgument for any other sequence or a null
  // slot; kOutOfMemory when the pinned pool cannot give the result buffers (the frame stays
  // unfinished; drop held results and call again).
  Status Finish(int64_t sequence, const void* output_slot);

  // True when the oldest finished frame's results are on the host (Wait would not block). False
  // when nothing is finished. Does not wait.
  bool Ready() const;

  // Blocks until the oldest finished frame's download is complete and hands it back; frees its
  // slot. kInvalidArgument when no frame is finished (nothing to wait for); CUDA errors (of any
  // stage of that frame) name the call.
  Result<FrameResult> Wait();

  // Frames submitted and not yet collected (0..slots).
  int in_flight() const;
  FramePathStats stats() const;

  struct Impl;  // private

 private:
  explicit GpuFramePath(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vrseg::cuda
