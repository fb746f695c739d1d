// vrseg/cuda/composite.h — compositing at full resolution on the GPU.
//
// GpuCompositor puts the person (frame × mask) over a colour, an image (scaled to cover, made once
// per frame size) or a blurred copy of the frame (three box passes), and writes RGB24, RGBA
// (alpha 255) or NV12 (BT.709 limited, for encoders) in one kernel after the background is ready.
// MakeRgbaDevice writes the frame with the mask as alpha (for overlays); BoxBlur3Device is the
// blur alone.
//
// References (imgproc.h): Compositor::Compose (+ RgbToNv12 for NV12 output), MakeRgba, BoxBlur3.
// All integer arithmetic is the reference's; the outputs are bit-exact (the tests say ≤ 1 LSB).
//
// Ownership: a GpuCompositor owns its device scratch (scaled image, blur buffers), allocated on
// first use for a frame size and kept; destroy it only after its work has completed.
// Thread safety: one thread at a time per GpuCompositor; the free functions are thread-safe. All
// work is enqueued on `stream`; nothing waits except Create (which uploads a host image).
#pragma once

#include <cuda_runtime_api.h>

#include <memory>

#include "vrseg/cuda/memory.h"
#include "vrseg/frame.h"
#include "vrseg/imgproc.h"
#include "vrseg/status.h"

namespace vrseg::cuda {

class GpuCompositor {
 public:
  // options.image (kImage) may be a host or device RGB24 frame; a host image is uploaded here (a
  // synchronous copy). kInvalidArgument for an unusable image or a negative blur radius.
  static Result<std::unique_ptr<GpuCompositor>> Create(CompositeOptions options);
  ~GpuCompositor();
  GpuCompositor(const GpuCompositor&) = delete;
  GpuCompositor& operator=(const GpuCompositor&) = delete;

  // rgb: RGB24 device frame; mask: Gray8 device frame, same size; out: RGB24, RGBA or NV12 device
  // frame of the same size (RGBA 4-byte aligned rows). kInvalidArgument naming the frame and the
  // field otherwise; kOutOfMemory when scratch cannot be had.
  Status Compose(const Frame& rgb, const Frame& mask, Frame* out, cudaStream_t stream);

  struct Impl;  // private

 private:
  explicit GpuCompositor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// out (RGBA device frame) = rgb (RGB24) with mask (Gray8) as alpha; all the same size.
Status MakeRgbaDevice(const Frame& rgb, const Frame& mask, Frame* out, cudaStream_t stream);

// BoxBlur3 of a packed 8-bit device frame (Gray8, RGB24, BGR24, RGBA, BGRA) into `out` (same size
// and format, may alias src) using `scratch` (same size and format, distinct from both).
// kInvalidArgument for mismatched frames or a radius outside [1, 32767].
Status BoxBlur3Device(const Frame& src, int radius, Frame* out, Frame* scratch, cudaStream_t stream);

}  // namespace vrseg::cuda
