// vrseg/cuda/preprocess.h — fused preprocessing on the GPU: frame → batch slot of the model input.
//
// One kernel does, for every entry of a batch: colour conversion (RGB24, BGR24, RGBA, BGRA, NV12,
// I420, Gray8 in, any size and pitch), bilinear resize (stretch or letterbox, TF.js or half-pixel
// convention), per-channel (pixel/255 - mean)/std, and the store into NHWC or NCHW, float32 or
// float16, straight into batch slot i of the model's input tensor. A batch of up to
// kMaxPreprocessPerLaunch entries is one launch; larger batches are split into as few launches as
// that allows.
//
// It matches the CPU reference vrseg::Preprocess (imgproc.h) with the same PreprocessOptions: the
// tests compare the two (relative error <= 1e-3 on float32, fp16 rounding on float16).
//
// Thread safety: the function is thread-safe; work is enqueued on `stream` and nothing waits.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/imgproc.h"
#include "vrseg/status.h"
#include "vrseg/tensor.h"

namespace vrseg::cuda {

inline constexpr int kMaxPreprocessPerLaunch = 16;

// One batch entry: a device frame (memory == kDevice), optionally restricted to a rectangle of it
// (the left eye of a side-by-side stereo frame, say). A zero-size crop means the whole frame.
// For NV12/I420 a crop keeps the frame's own chroma siting (chroma of pixel (x,y) is at (x/2,y/2)
// in frame coordinates), so odd crop origins are allowed.
struct PreprocessInput {
  Frame frame;
  int crop_x = 0, crop_y = 0, crop_width = 0, crop_height = 0;
  int slot = 0;  // batch slot of `out` written by this entry
};

// Writes every input's slot of `out` (device tensor, float32 or float16, shape
// [N,out_height,out_width,3] for NHWC or [N,3,out_height,out_width] for NCHW per options.layout;
// slot < N). Letterbox geometry follows vrseg::LetterboxFor on the crop's size.
// kInvalidArgument (naming the entry and the field) for host frames, unsupported formats, bad
// crops or a tensor that does not match; CUDA errors name the launch.
Status PreprocessBatch(const std::vector<PreprocessInput>& inputs, const PreprocessOptions& options,
                       const Tensor& out, cudaStream_t stream);

// The two views of a stereo frame (vrseg::SplitStereo: views share the frame's pixels) as two
// entries for slots `first_slot` (left/top) and `first_slot + 1`. The masks go back into one frame
// by postprocessing each slot into the matching view of a full-size mask (see postprocess.h):
// no copy, the same bytes vrseg::MergeStereo would write. Errors are SplitStereo's.
// out (an RGB24 device frame of in's size, allocated by the caller) = ToRgb24(in) of imgproc.h,
// bit-exact: in is a device frame of any format PreprocessBatch reads. kInvalidArgument for frames
// that are not on the device, of other sizes, or with short pitches; kUnsupported for other
// formats or YUV matrices.
Status ToRgb24Device(const Frame& in, Frame* out, cudaStream_t stream);

Result<std::vector<PreprocessInput>> StereoInputs(const Frame& frame, StereoLayout layout,
                                                  int first_slot);

}  // namespace vrseg::cuda
