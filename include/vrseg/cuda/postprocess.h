// vrseg/cuda/postprocess.h — fused postprocessing on the GPU: output slot → full-resolution mask.
//
// One kernel does, for every entry of a batch: person probability from the model output
// (sigmoid probability/alpha passed through, sigmoid of a logit, 2-class softmax, or one class of
// an N-class softmax; float32 or float16 slots, NHWC or NCHW) → bilinear upsampling with
// half-pixel centres from the letterbox ROI to the mask size → soft (round(p*255)) or thresholded
// Gray8 → optionally temporal smoothing against the previous mask of the same stream. Up to
// kMaxPostprocessPerLaunch entries are one launch. Edge-aware refinement (the fast guided filter)
// is a separate step: see refine.h.
//
// References (imgproc.h): ProbabilityFromOutput + UpsampleMask, then SmoothTemporal (Gray8). Soft
// masks match within 1 LSB (expf vs std::exp), thresholded ones except where the probability is
// within float rounding of the threshold.
//
// Thread safety: thread-safe; work is enqueued on `stream` and nothing waits.
#pragma once

#include <cuda_runtime_api.h>

#include <vector>

#include "vrseg/frame.h"
#include "vrseg/imgproc.h"
#include "vrseg/status.h"
#include "vrseg/tensor.h"

namespace vrseg::cuda {

inline constexpr int kMaxPostprocessPerLaunch = 16;

struct PostprocessJob {
  // One output slot on the device: model_height*model_width*channels values of slot_dtype in
  // options.post.layout. Not owned.
  const void* slot = nullptr;
  // Gray8 device frame (any size and pitch; a view of a bigger frame is fine), written.
  Frame mask;
  // Optional Gray8 device frame of the mask's size: the stream's previous smoothed mask. Used
  // only when options.temporal; empty means "first frame" (out = current). May be `mask` itself
  // (in place: each pixel reads its previous value before writing).
  Frame previous;
};

struct PostprocessGpuOptions {
  PostprocessOptions post;               // as for the CPU reference
  DType slot_dtype = DType::kFloat32;    // float32 or float16 model outputs
  bool temporal = false;                 // apply SmoothTemporal (Gray8 form) after the mask
  TemporalOptions temporal_options;
};

// kInvalidArgument (naming the entry and field) for bad options (same rules as the reference),
// host frames, masks that are not Gray8, a previous of another size, or a null slot.
Status PostprocessBatch(const std::vector<PostprocessJob>& jobs,
                        const PostprocessGpuOptions& options, cudaStream_t stream);

}  // namespace vrseg::cuda
