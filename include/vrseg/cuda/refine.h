// vrseg/cuda/refine.h — edge-aware mask refinement on the GPU: the fast guided filter.
//
// GpuGuidedFilter::Refine is vrseg::GuidedFilterRefine (imgproc.h) on device frames: block means
// at 1/s resolution, box means (separable, sums in double), the linear coefficients a and b, their
// box means, and the bilinear upsampling applied at full resolution — six small launches on
// `stream`. The CPU reference accumulates box sums in double and the rest in float; this does
// the same, and matches it within ±1 (the tests allow the reference's stated ±2).
//
// Temporal smoothing is fused into PostprocessBatch (postprocess.h).
//
// Ownership: the filter owns its low-resolution scratch (kept per frame size); destroy it only
// after its work has completed. Thread safety: one thread at a time per filter.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>

#include "vrseg/cuda/memory.h"
#include "vrseg/frame.h"
#include "vrseg/imgproc.h"
#include "vrseg/status.h"

namespace vrseg::cuda {

class GpuGuidedFilter {
 public:
  // kInvalidArgument for radius < 1, subsample < 1 or eps <= 0 (as the reference).
  static Result<std::unique_ptr<GpuGuidedFilter>> Create(GuidedFilterOptions options);
  ~GpuGuidedFilter();
  GpuGuidedFilter(const GpuGuidedFilter&) = delete;
  GpuGuidedFilter& operator=(const GpuGuidedFilter&) = delete;

  // rgb: RGB24 device frame (the guide); mask: Gray8 device frame; out: Gray8 device frame (may
  // be `mask`); all the same size. kInvalidArgument naming the frame otherwise; kOutOfMemory when
  // scratch cannot be had.
  Status Refine(const Frame& rgb, const Frame& mask, Frame* out, cudaStream_t stream);

  struct Impl;  // private

 private:
  explicit GpuGuidedFilter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vrseg::cuda
