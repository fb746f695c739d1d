// vrseg/imgproc.h — CPU pre- and postprocessing: the reference the CUDA kernels must match.
//
// Preprocess turns a frame into one batch slot of the model's input in a single pass (resize,
// colour conversion, normalisation, layout). Postprocess turns one batch slot of the model's
// output into a full-resolution mask. Compositor puts the person over a new background. The
// refinement helpers (temporal smoothing, fast guided filter) and the stereo helpers are the CPU
// references of the CUDA kernels: every formula below is exact, including rounding and borders,
// so that a kernel can be tested against it with a stated tolerance.
//
// All free functions are pure over their arguments and thread-safe (distinct outputs may be
// written from different threads). Preprocessor, Compositor and TemporalSmoother keep caches or
// state and are used by one thread at a time. No function allocates per call unless it says so;
// all inputs and outputs are host frames (MemoryKind::kHost or kPinnedHost).
//
// Conventions used below:
//   clamp(v, lo, hi) = min(max(v, lo), hi); floor() is the mathematical floor.
//   round_u8(v) = (uint8)floor(clamp(v, 0, 255) + 0.5)   (round half up, float arithmetic)
//   lerp(a, b, t) = a + (b - a) * t                       (float arithmetic, in this order)
//   bilinear(p00, p01, p10, p11, wx, wy) = lerp(lerp(p00, p01, wx), lerp(p10, p11, wx), wy)
//     where p01 is right of p00 and p10 below it.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/model_info.h"
#include "vrseg/status.h"
#include "vrseg/tensor.h"

namespace vrseg {

// ================================================================================================
// Preprocessing
// ================================================================================================

enum class ResizeMode : int {
  kStretch = 0,  // fill the model input, ignoring aspect ratio (what the models were fed)
  kLetterbox,    // keep the aspect ratio, pad with zeros (after normalisation of black)
};

struct PreprocessOptions {
  int out_width = 0;   // model input width (> 0)
  int out_height = 0;  // model input height (> 0)
  TensorLayout layout = TensorLayout::kNHWC;
  bool bgr = false;                          // channel order of the output
  std::array<float, 3> mean{0.f, 0.f, 0.f};  // value = (pixel/255 - mean) / std
  std::array<float, 3> std{1.f, 1.f, 1.f};   //   (mean/std indexed in the output's order)
  // false: TF.js resizeBilinear (align_corners=false, half_pixel_centers=false):
  //        src = dst * in/out. true: src = (dst + 0.5) * in/out - 0.5.
  bool half_pixel = false;
  ResizeMode mode = ResizeMode::kStretch;
};

// Options that feed `info`'s model (size, layout, channel order, mean/std, resize convention).
PreprocessOptions PreprocessOptionsFor(const ModelInfo& info,
                                       ResizeMode mode = ResizeMode::kStretch);

// Where the image lies inside the model input (the whole input unless letterboxed).
struct LetterboxRect {
  int x = 0, y = 0, width = 0, height = 0;
  friend bool operator==(const LetterboxRect&, const LetterboxRect&) = default;
};
// kStretch: {0, 0, out_width, out_height}. kLetterbox: s = min(out_w/in_w, out_h/in_h) (double),
// width = clamp(floor(in_w*s + 0.5), 1, out_w), height likewise, x = (out_w - width)/2,
// y = (out_h - height)/2 (integer division). Returns an empty rect for non-positive sizes.
LetterboxRect LetterboxFor(int in_width, int in_height, const PreprocessOptions& options);

// The exact preprocessing formula (the CUDA kernel's reference):
//
// 1. Source RGB. Packed formats read R, G, B (alpha ignored); Gray8: R = G = B = Y.
//    NV12/I420: chroma is taken from the 2x2 block (U, V at (x/2, y/2), integer division, no
//    chroma interpolation) and converted in float, without rounding to integers:
//      limited range: y' = (Y - 16) / 219,  pb = (U - 128) / 224, pr = (V - 128) / 224
//      full range:    y' = Y / 255,         pb = (U - 128) / 255, pr = (V - 128) / 255
//      R = y' + 2(1-Kr) pr;  B = y' + 2(1-Kb) pb;
//      G = y' - (2 Kb (1-Kb)/Kg) pb - (2 Kr (1-Kr)/Kg) pr   (Kg = 1 - Kr - Kb)
//      (R, G, B) *= 255, then each clamped to [0, 255]
//    BT.601 (frame.color.matrix 5 or 6): Kr = 0.299, Kb = 0.114; BT.709 (1): Kr = 0.2126,
//    Kb = 0.0722; BT.2020 NCL (9): Kr = 0.2627, Kb = 0.0593. Unspecified matrix (0 or 2): BT.601
//    when height < 720, else BT.709. Range 2 is full, anything else limited. Other matrices are
//    kUnsupported. The implementation folds these into float coefficients
//    (YuvCoefficientsFor); a kernel must use the same folded form.
// 2. Resize inside the rect r = LetterboxFor(in): for output column ox in [r.x, r.x + r.width):
//      u = ox - r.x; ratio = in_w / r.width; sx = u * ratio   (half_pixel: (u + 0.5) * ratio - 0.5)
//      sx = clamp(sx, 0, in_w - 1); x0 = floor(sx); x1 = min(x0 + 1, in_w - 1); wx = sx - x0
//    (ratio and sx in double, as TF.js does; wx then rounded to float); rows
//    likewise. Each channel c: v = bilinear(src(x0,y0), src(x1,y0), src(x0,y1), src(x1,y1), wx, wy)
//    in float over the step-1 RGB values (each tap converted separately, before interpolation).
// 3. Normalise: out = v * scale[c] + bias[c] with scale = 1 / (255 * std[c]),
//    bias = -mean[c] / std[c] (both float), c the output channel (after the optional RGB→BGR swap).
//    Letterbox padding (outside r) is that of black: bias[c].
// 4. Layout: NHWC out[(y*W + x)*3 + c], NCHW out[(c*H + y)*W + x]; W, H = out_width, out_height.
//    Float16 outputs are the float32 values rounded to nearest even (FloatToHalf).
//
// Errors: kInvalidArgument for an empty/device frame, a pitch smaller than a row, a null output,
// or non-positive output sizes / zero std; kUnsupported for other pixel formats or matrices.
// Messages name the frame index and the offending field.

// Caches the per-column and per-row index/weight tables for the last input size (rebuilt when the
// input size changes; nothing else is allocated per call). One thread at a time.
class Preprocessor {
 public:
  // kInvalidArgument for non-positive output sizes or a zero std.
  static Result<Preprocessor> Create(const PreprocessOptions& options);

  // Writes one batch slot of out_height*out_width*3 values (float32, or IEEE binary16 bits).
  Status Run(const Frame& in, float* out);
  Status RunF16(const Frame& in, uint16_t* out);
  // Writes batch slot `slot` of `tensor` (host, dtype float32 or float16, shape [N, H, W, 3] or
  // [N, 3, H, W] matching the options; other shapes/dtypes are kInvalidArgument).
  Status RunToTensor(const Frame& in, const Tensor& tensor, int64_t slot);

  const PreprocessOptions& options() const { return options_; }

  struct Tables {  // public for tests and for uploading to the device
    int in_width = 0, in_height = 0;
    LetterboxRect rect;
    std::vector<int> x0, x1, y0, y1;  // per column / row of the rect
    std::vector<float> wx, wy;
  };
  // The tables for an input size (built if needed).
  const Tables& TablesFor(int in_width, int in_height);

 private:
  explicit Preprocessor(const PreprocessOptions& options) : options_(options) {}
  template <typename T>
  Status RunImpl(const Frame& in, T* out);

  PreprocessOptions options_;
  Tables tables_;
};

// One-shot forms (build the tables on each call: a few small allocations).
Status Preprocess(const Frame& in, const PreprocessOptions& options, float* out);

// Converts a host frame of any format Preprocess reads (RGB24, BGR24, RGBA, BGRA, NV12, I420,
// Gray8) to RGB24 of the same size: packed formats are reordered (alpha dropped), gray is
// replicated, YUV goes through step 1 above (the folded coefficients, nearest chroma sample) and
// each channel is rounded as uint8(v + 0.5f). `out` is allocated when empty or of another
// size/format, else written in place; metadata is copied. It is the reference of
// cuda::ToRgb24Device (compositing frames that are not RGB24 on the GPU). Errors: kInvalidArgument
// for an empty or device frame, kUnsupported for other formats or YUV matrices.
Status ToRgb24(const Frame& in, Frame* out);
Status PreprocessF16(const Frame& in, const PreprocessOptions& options, uint16_t* out);

// Folded YUV→RGB coefficients, in float, evaluated in this order:
//   yf = cy * (float(Y) - y_off); uf = float(U - 128); vf = float(V - 128)
//   R = clamp(yf + cr_v * vf, 0, 255); G = clamp((yf + cg_u * uf) + cg_v * vf, 0, 255);
//   B = clamp(yf + cb_u * uf, 0, 255)
// With ys, cs = 219, 224 (limited) or 255, 255 (full), computed in double then rounded to float:
//   y_off = 16 (limited) or 0; cy = 255/ys; cr_v = 255*2(1-Kr)/cs; cb_u = 255*2(1-Kb)/cs;
//   cg_u = -255*2Kb(1-Kb)/(Kg*cs); cg_v = -255*2Kr(1-Kr)/(Kg*cs)   (step 1 above, folded)
struct YuvCoefficients {
  float y_off, cy, cr_v, cg_u, cg_v, cb_u;
};
// For a frame of `height` rows with colour `color` (see step 1). kUnsupported for an unknown
// matrix code.
Result<YuvCoefficients> YuvCoefficientsFor(const ColorInfo& color, int height);

// IEEE binary16 conversion: round to nearest, ties to even; overflow → ±inf, NaN stays NaN.
uint16_t FloatToHalf(float v);
float HalfToFloat(uint16_t h);

// ================================================================================================
// Postprocessing
// ================================================================================================

struct PostprocessOptions {
  OutputKind kind = OutputKind::kSigmoidProbability;
  TensorLayout layout = TensorLayout::kNHWC;
  int model_width = 0;
  int model_height = 0;
  int channels = 1;
  int person_channel = 0;
  LetterboxRect roi;       // the part of the output that covers the image (0 size: all);
                           // for letterboxed input: LetterboxFor(frame size, its PreprocessOptions)
  bool threshold = false;  // true: hard mask (0/255) at `threshold_value`
  float threshold_value = 0.5f;
};

PostprocessOptions PostprocessOptionsFor(const ModelInfo& info);

// Person probability at model resolution (GrayF32 frame of model_width x model_height, allocated
// here if `prob` is empty or of another size/format, else written in place) from one output slot
// (model_height*model_width*channels floats in options.layout). Per pixel, x_c = channel c:
//   kSigmoidProbability, kAlphaMatte: p = x_person (passed through, not clamped)
//   kSigmoidLogit: p = 1 / (1 + exp(-x_person))
//   kTwoClassLogits: p = 1 / (1 + exp(x_other - x_person))   (= softmax over the 2 channels)
//   kClassLogits: p = exp(x_person - m) / sum_c exp(x_c - m), m = max_c x_c
// The whole model area is converted (the ROI applies to UpsampleMask). Errors: kInvalidArgument
// for a null slot or prob, non-positive sizes, channels that do not fit the kind (1 for sigmoid
// and alpha, 2 for two-class, >= 2 for class logits), or person_channel out of range.
Status ProbabilityFromOutput(const float* slot, const PostprocessOptions& options, Frame* prob);

// Bilinear upsampling (half-pixel centres) of `prob` (GrayF32) restricted to options.roi (the
// whole of prob when roi has zero size) to the size of `mask` (Gray8, allocated by the caller):
//   sx = clamp((x + 0.5) * roi.width / W - 0.5, 0, roi.width - 1) (in double; wx as float),
//   x0 = floor(sx), x1 = min(x0 + 1, roi.width - 1), wx = sx - x0; rows likewise; the taps are
//   prob(roi.x + x0, roi.y + y0) etc.; v = bilinear(...) in float.
//   Soft: mask = (uint8)floor(clamp(v, 0, 1) * 255 + 0.5) (NaN → 0).
//   Thresholded: mask = v >= threshold_value ? 255 : 0.
// Allocates its W + H entry sampling tables per call. Errors: kInvalidArgument for wrong formats,
// empty frames, or a roi outside prob.
Status UpsampleMask(const Frame& prob, const PostprocessOptions& options, Frame* mask);

// Both steps: one output slot → full-resolution Gray8 mask (mask must be allocated). Allocates a
// model-size scratch frame per call; use ProbabilityFromOutput + UpsampleMask with a kept `prob`
// to avoid it.
Status Postprocess(const float* slot, const PostprocessOptions& options, Frame* mask);

// ================================================================================================
// Temporal smoothing (reference for the CUDA kernel)
// ================================================================================================

struct TemporalOptions {
  float factor = 0.6f;      // weight of the current mask, in (0, 1]; 1 disables smoothing
  float hysteresis = 0.0f;  // in probability units [0, 1); 0 disables it
};

// Per pixel, in float, with c = current, p = previous:
//   GrayF32: e = p + factor * (c - p);  out = |e - p| <= hysteresis ? p : e
//   Gray8:   the same on c, p as floats in [0,255] with hysteresis*255 as the band, then
//            out = round_u8(chosen value)
// `previous` may be empty (first frame of a stream): out = current. `out` may alias `current` or
// `previous` (same frame); it is allocated here when empty or of another size/format. Errors:
// kInvalidArgument for mismatched sizes/formats, formats other than Gray8/GrayF32, or options
// out of range.
Status SmoothTemporal(const Frame& current, const Frame& previous, const TemporalOptions& options,
                      Frame* out);

// Keeps the previous smoothed mask of each stream (Frame::stream_id) and applies SmoothTemporal.
// A size or format change of a stream restarts it (out = current). One thread at a time.
class TemporalSmoother {
 public:
  explicit TemporalSmoother(TemporalOptions options = {}) : options_(options) {}
  // `out` receives the smoothed mask (its own pixels, owned by the smoother until the next Apply
  // of the same stream; clone it to keep it). Same errors as SmoothTemporal.
  Status Apply(const Frame& current, Frame* out);
  void Reset(int stream_id) { previous_.erase(stream_id); }
  void ResetAll() { previous_.clear(); }

 private:
  TemporalOptions options_;
  std::map<int, Frame> previous_;
  std::map<int, Frame> spare_;
};

// ================================================================================================
// Edge-aware refinement: fast guided filter (He & Sun, 2015) — reference for the CUDA kernel
// ================================================================================================

enum class GuidanceKind : int {
  kLuma = 0,  // I = (0.299 R + 0.587 G + 0.114 B) / 255
  kMean,      // I = (R + G + B) / (3 * 255)
};

struct GuidedFilterOptions {
  int radius = 8;     // r, in full-resolution pixels (>= 1)
  float eps = 1e-4f;  // regularisation, in squared [0,1] units (> 0)
  int subsample = 4;  // s (>= 1); 1 is the plain guided filter
  GuidanceKind guidance = GuidanceKind::kLuma;
};

// Refines a full-resolution mask with the full-resolution frame as guide. rgb: RGB24 (W x H);
// mask: Gray8 (W x H); out: Gray8 W x H (allocated by the caller; may alias mask). Exactly:
//   I(x,y) from rgb by `guidance` (float); p = mask / 255 (float).
//   Low resolution w = ceil(W/s), h = ceil(H/s); Is(i,j) = mean of I over the pixels of the block
//     [i*s, min(i*s+s, W)) x [j*s, min(j*s+s, H)) (in-bounds pixels only); ps likewise.
//   rl = max(1, r / s) (integer division).
//   box(X)(i,j) = mean of X over [i-rl, i+rl] x [j-rl, j+rl] ∩ [0,w) x [0,h), i.e. the sum
//     divided by the number of in-bounds cells (He's N = box(ones) rule, no padding).
//   mI = box(Is), mp = box(ps), vI = box(Is*Is) - mI*mI, cIp = box(Is*ps) - mI*mp
//   a = cIp / (vI + eps), b = mp - a*mI;  ma = box(a), mb = box(b)
//   Upsample ma, mb to W x H bilinearly with half-pixel centres in the block grid:
//     sx = clamp((x + 0.5) / s - 0.5, 0, w - 1), x0 = floor(sx), x1 = min(x0+1, w-1), wx = sx - x0
//     (rows likewise); A = bilinear(ma ...), B = bilinear(mb ...)
//   q = A * I(x,y) + B;  out = (uint8)floor(clamp(q, 0, 1) * 255 + 0.5)   (NaN → 0)
// The implementation accumulates box sums in double and the rest in float; a CUDA kernel in float
// throughout should stay within ±2 of it. Allocates its low-resolution scratch per call.
// Errors: kInvalidArgument for wrong formats or sizes, or options out of range.
Status GuidedFilterRefine(const Frame& rgb, const Frame& mask, const GuidedFilterOptions& options,
                          Frame* out);

// ================================================================================================
// Stereo (VR passthrough): one frame carrying two views
// ================================================================================================

enum class StereoLayout : int {
  kSideBySide = 0,  // left view in the left half, right view in the right half
  kTopBottom,       // left view on top, right view below
};

// Splits `frame` into two views sharing its pixels (no copy; `storage` is shared so the views
// keep the pixels alive). Side by side: left = columns [0, W/2), right = [W/2, W) (W/2 integer
// division, so an odd W gives the right view one column more). Top-bottom: rows likewise.
// Metadata is copied to both views. Errors: kInvalidArgument for an empty frame, a frame too small
// to split (< 2 columns/rows), or for NV12/I420 an odd split offset (W/2 or H/2 must be even so
// that chroma splits with luma). Device frames are split the same way (pointer arithmetic only).
Status SplitStereo(const Frame& frame, StereoLayout layout, Frame* left, Frame* right);

// Copies two views (same packed format: Gray8, GrayF32, RGB24, BGR24, RGBA, BGRA) back into one
// frame: side by side needs equal heights and gives width wl + wr; top-bottom needs equal widths
// and gives height hl + hr. `out` is allocated here when empty or of another size/format, else
// written in place; its metadata is copied from `left`. Errors: kInvalidArgument for mismatched
// formats or sizes or device frames, kUnsupported for planar formats.
Status MergeStereo(const Frame& left, const Frame& right, StereoLayout layout, Frame* out);

// ================================================================================================
// Compositing
// ================================================================================================

enum class BackgroundKind : int { kColor = 0, kImage, kBlur };

struct CompositeOptions {
  BackgroundKind background = BackgroundKind::kColor;
  std::array<uint8_t, 3> color{0, 255, 0};  // RGB, for kColor (green screen by default)
  Frame image;                              // RGB24, any size, scaled to cover, for kImage
  int blur_radius = 0;                      // for kBlur, 1..4095; 0: about 1/40 of the diagonal
};

// Composites a person over a background. Per pixel and channel, in integers:
//   out = (m * fg + (255 - m) * bg + 127) / 255   (m the mask byte, integer division)
// Backgrounds:
//   kColor: bg = options.color.
//   kImage: the image scaled to cover the frame (s = max(W/iw, H/ih), centred crop):
//     sx = clamp((iw - W/s)/2 + (x + 0.5) * (1/s) - 0.5, 0, iw - 1) (double), x0/x1/wx as in
//     UpsampleMask,
//     bg = round_u8(bilinear(...)) per channel (float); computed once per frame size and cached.
//   kBlur: BoxBlur3 of the frame itself with radius blur_radius, or when 0
//     max(1, floor(sqrt(W*W + H*H) / 40 + 0.5)).
// One thread at a time (scratch buffers are reused across calls).
class Compositor {
 public:
  explicit Compositor(CompositeOptions options);
  // out = mask*rgb + (1-mask)*background, RGB24 (allocated by the caller, same size as rgb; may
  // alias rgb). rgb: RGB24; mask: Gray8, same size. Errors: kInvalidArgument for wrong formats or
  // sizes, or an unusable background image.
  Status Compose(const Frame& rgb, const Frame& mask, Frame* out);

 private:
  CompositeOptions options_;
  Frame scaled_image_;  // the background image scaled to the frame size (made once per size)
  Frame blurred_;       // scratch for kBlur
  Frame scratch_;
  std::vector<uint8_t> mask3_;      // one row of the mask, three bytes per pixel
  std::vector<uint8_t> color_row_;  // one row of the background colour (kColor)
};

// Blurs a packed 8-bit frame (Gray8, RGB24, BGR24, RGBA, BGRA; every byte channel alike) with
// three passes of a (2r+1)-wide box, each pass horizontal then vertical:
//   H(x) = (sum_{k=-r..r} src(clamp(x+k, 0, W-1)) + r) / (2r+1)   (integers, division truncating)
//   V likewise over rows; out = V(H(V(H(V(H(src)))))) with the border replicated at every pass.
// Cost O(1) per pixel whatever r. `out` must be allocated, same size and format (may alias src);
// `scratch` is allocated here when needed. Errors: kInvalidArgument for mismatched frames or r
// outside [1, 4095].
Status BoxBlur3(const Frame& src, int radius, Frame* out, Frame* scratch);

// RGBA with the mask as alpha (out allocated by the caller, same size). rgb: RGB24, mask: Gray8.
Status MakeRgba(const Frame& rgb, const Frame& mask, Frame* out);

// RGB24 → NV12, BT.709 limited range, for encoders (out allocated by the caller, same size;
// out.color is set to matrix 1, primaries 1, transfer 1, range 1). Exactly, in float (constants
// folded in float: ky = 219/255, ku = 224/(1.8556*255), kv = 224/(1.5748*255)):
//   Y = round_u8(16 + ky * (0.2126 R + 0.7152 G + 0.0722 B))  per pixel
//   U = round_u8(128 + ku * (B' - Y')), V = round_u8(128 + kv * (R' - Y'))  per 2x2 block, where
//   R', G', B' = (sum over the n in-bounds pixels of the block) * (1/n) and
//   Y' = 0.2126 R' + 0.7152 G' + 0.0722 B'.
Status RgbToNv12(const Frame& rgb, Frame* out);

}  // namespace vrseg
