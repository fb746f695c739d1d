// vrseg/imgproc.h — CPU pre- and postprocessing: the reference the CUDA kernels must match.
//
// Preprocess turns a frame into one batch slot of the model's input in a single pass (resize,
// colour conversion, normalisation, layout). Postprocess turns one batch slot of the model's
// output into a full-resolution mask. Compositor puts the person over a new background.
//
// All functions are pure over their arguments and thread-safe; a Compositor keeps scratch
// buffers and is used by one thread at a time.
#pragma once

#include <array>
#include <cstdint>

#include "vrseg/frame.h"
#include "vrseg/model_info.h"
#include "vrseg/status.h"

namespace vrseg {

enum class ResizeMode : int {
  kStretch = 0,  // fill the model input, ignoring aspect ratio (what the models were fed)
  kLetterbox,    // keep the aspect ratio, pad with zeros (after normalisation of black)
};

struct PreprocessOptions {
  int out_width = 0;
  int out_height = 0;
  TensorLayout layout = TensorLayout::kNHWC;
  bool bgr = false;                            // channel order of the output
  std::array<float, 3> mean{0.f, 0.f, 0.f};    // value = (pixel/255 - mean) / std
  std::array<float, 3> std{1.f, 1.f, 1.f};
  // false: TF.js resizeBilinear (align_corners=false, half_pixel_centers=false):
  //        src = dst * in/out. true: src = (dst + 0.5) * in/out - 0.5.
  bool half_pixel = false;
  ResizeMode mode = ResizeMode::kStretch;
};

PreprocessOptions PreprocessOptionsFor(const ModelInfo& info, ResizeMode mode = ResizeMode::kStretch);

// Where the image lies inside the model input (the whole input unless letterboxed).
struct LetterboxRect {
  int x = 0, y = 0, width = 0, height = 0;
};
LetterboxRect LetterboxFor(int in_width, int in_height, const PreprocessOptions& options);

// Writes one batch slot: out_height*out_width*3 float32 values in options.layout.
// Accepts RGB24, BGR24, RGBA, BGRA, NV12, I420 and Gray8 host frames of any size and pitch
// (NV12/I420 with BT.601/BT.709 matrices and limited/full range from frame.color).
Status Preprocess(const Frame& in, const PreprocessOptions& options, float* out);

struct PostprocessOptions {
  OutputKind kind = OutputKind::kSigmoidProbability;
  TensorLayout layout = TensorLayout::kNHWC;
  int model_width = 0;
  int model_height = 0;
  int channels = 1;
  int person_channel = 0;
  LetterboxRect roi;           // the part of the output that covers the image (0 size: all)
  bool threshold = false;      // true: hard mask (0/255) at `threshold_value`
  float threshold_value = 0.5f;
};

PostprocessOptions PostprocessOptionsFor(const ModelInfo& info);

// Person probability in [0,1] at model resolution (GrayF32 frame of model_width x model_height,
// allocated by the caller or here if empty) from one output slot.
Status ProbabilityFromOutput(const float* slot, const PostprocessOptions& options, Frame* prob);

// Bilinear upsampling (half-pixel centres) of `prob` (GrayF32, restricted to options.roi) to the
// size of `mask` (Gray8, allocated by the caller): soft (round(p*255)) or thresholded.
Status UpsampleMask(const Frame& prob, const PostprocessOptions& options, Frame* mask);

// Both steps: one output slot → full-resolution Gray8 mask (mask must be allocated).
Status Postprocess(const float* slot, const PostprocessOptions& options, Frame* mask);

enum class BackgroundKind : int { kColor = 0, kImage, kBlur };

struct CompositeOptions {
  BackgroundKind background = BackgroundKind::kColor;
  std::array<uint8_t, 3> color{0, 255, 0};  // RGB, for kColor (green screen by default)
  Frame image;                              // RGB24, any size, scaled to cover, for kImage
  int blur_radius = 0;                      // for kBlur; 0: about 1/40 of the frame's diagonal
};

class Compositor {
 public:
  explicit Compositor(CompositeOptions options);
  // out = mask*rgb + (1-mask)*background, RGB24 (allocated by the caller, same size as rgb).
  // rgb: RGB24; mask: Gray8, same size.
  Status Compose(const Frame& rgb, const Frame& mask, Frame* out);

 private:
  CompositeOptions options_;
  Frame scaled_image_;  // the background image scaled to the frame size (made once per size)
  Frame blurred_;       // scratch for kBlur
  Frame scratch_;
};

// RGBA with the mask as alpha (out allocated by the caller, same size).
Status MakeRgba(const Frame& rgb, const Frame& mask, Frame* out);

}  // namespace vrseg
