// Fused preprocessing kernel (one family): see include/vrseg/cuda/preprocess.h.
#include <cuda_fp16.h>

#include <cmath>
#include <string>

#include "cuda/yuv.cuh"
#include "vrseg/cuda/check.h"
#include "vrseg/cuda/preprocess.h"

namespace vrseg::cuda {
namespace {

struct Entry {
  const uint8_t* plane[3];
  int64_t pitch[3];
  int format;          // PixelFormat
  int x0, y0;          // crop origin in the frame
  int w, h;            // crop size
  int rect_x, rect_y, rect_w, rect_h;  // where the image lies in the output
  double ratio_x, ratio_y;             // source pixels per output pixel inside the rect
  YuvCoefficients yuv;
  void* out;           // the slot
};

struct Params {
  Entry e[kMaxPreprocessPerLaunch];
  int out_w, out_h;
  int nchw, fp16, bgr, half_pixel;
  float mul[3], add[3];  // value = pixel*mul + add, in output channel order
};

// RGB of absolute frame pixel (x, y) as floats in [0,255].
__device__ __forceinline__ float3 Fetch(const Entry& e, int x, int y) {
  const uint8_t* r0 = e.plane[0] + y * e.pitch[0];
  switch (e.format) {
    case static_cast<int>(PixelFormat::kRGB24): {
      const uint8_t* p = r0 + 3 * x;
      return make_float3(p[0], p[1], p[2]);
    }
    case static_cast<int>(PixelFormat::kBGR24): {
      const uint8_t* p = r0 + 3 * x;
      return make_float3(p[2], p[1], p[0]);
    }
    case static_cast<int>(PixelFormat::kRGBA): {
      const uchar4 p = *reinterpret_cast<const uchar4*>(r0 + 4 * x);
      return make_float3(p.x, p.y, p.z);
    }
    case static_cast<int>(PixelFormat::kBGRA): {
      const uchar4 p = *reinterpret_cast<const uchar4*>(r0 + 4 * x);
      return make_float3(p.z, p.y, p.x);
    }
    case static_cast<int>(PixelFormat::kNV12): {
      const uint8_t* c = e.plane[1] + (y >> 1) * e.pitch[1] + 2 * (x >> 1);
      return YuvToRgb(e.yuv, r0[x], c[0], c[1]);
    }
    case static_cast<int>(PixelFormat::kI420): {
      const int ci = x >> 1, cj = y >> 1;
      return YuvToRgb(e.yuv, r0[x], e.plane[1][cj * e.pitch[1] + ci], e.plane[2][cj * e.pitch[2] + ci]);
    }
    default: {  // Gray8
      const float g = r0[x];
      return make_float3(g, g, g);
    }
  }
}

// Source coordinate and weight along one axis (local to the crop), exactly as imgproc computes
// its tables: s in double, clamped to [0, n-1], weight rounded to float.
__device__ __forceinline__ void Axis(int d, double ratio, int n, int half_pixel, int* i0, int* i1,
                                     float* f) {
  double s = half_pixel ? __dadd_rn(__dmul_rn(d + 0.5, ratio), -0.5) : __dmul_rn(d, ratio);
  s = fmin(fmax(s, 0.0), static_cast<double>(n - 1));
  const int a = static_cast<int>(s);  // s >= 0: truncation is floor
  *i0 = a;
  *i1 = min(a + 1, n - 1);
  *f = static_cast<float>(s - a);
}

__global__ void PreprocessKernel(const __grid_constant__ Params p) {
  // This block's entry, copied once from parameter space to shared memory: a dynamically indexed
  // parameter is otherwise read through generic loads by every thread.
  __shared__ Entry se;
  static_assert(sizeof(Entry) % 4 == 0 && sizeof(Entry) / 4 <= 256, "Entry copy");
  if (const int t = threadIdx.y * blockDim.x + threadIdx.x; t < static_cast<int>(sizeof(Entry) / 4)) {
    reinterpret_cast<uint32_t*>(&se)[t] = reinterpret_cast<const uint32_t*>(&p.e[blockIdx.z])[t];
  }
  __syncthreads();
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.out_w || y >= p.out_h) return;
  const Entry& e = se;
  float3 rgb;
  const int lx = x - e.rect_x, ly = y - e.rect_y;
  if (lx < 0 || ly < 0 || lx >= e.rect_w || ly >= e.rect_h) {
    rgb = make_float3(0.f, 0.f, 0.f);  // letterbox padding: black, then normalised
  } else {
    int x0, x1, y0, y1;
    float fx, fy;
    Axis(lx, e.ratio_x, e.w, p.half_pixel, &x0, &x1, &fx);
    Axis(ly, e.ratio_y, e.h, p.half_pixel, &y0, &y1, &fy);
    const float3 a = Fetch(e, e.x0 + x0, e.y0 + y0);
    const float3 b = Fetch(e, e.x0 + x1, e.y0 + y0);
    const float3 c = Fetch(e, e.x0 + x0, e.y0 + y1);
    const float3 d = Fetch(e, e.x0 + x1, e.y0 + y1);
    const float3 top = make_float3(a.x + (b.x - a.x) * fx, a.y + (b.y - a.y) * fx, a.z + (b.z - a.z) * fx);
    const float3 bot = make_float3(c.x + (d.x - c.x) * fx, c.y + (d.y - c.y) * fx, c.z + (d.z - c.z) * fx);
    rgb = make_float3(top.x + (bot.x - top.x) * fy, top.y + (bot.y - top.y) * fy,
                      top.z + (bot.z - top.z) * fy);
  }
  float v[3] = {p.bgr ? rgb.z : rgb.x, rgb.y, p.bgr ? rgb.x : rgb.z};
#pragma unroll
  for (int c = 0; c < 3; ++c) v[c] = v[c] * p.mul[c] + p.add[c];
  const int64_t plane = static_cast<int64_t>(p.out_w) * p.out_h;
  const int64_t pix = static_cast<int64_t>(y) * p.out_w + x;
  if (p.fp16) {
    __half* o = static_cast<__half*>(e.out);
    if (p.nchw) {
#pragma unroll
      for (int c = 0; c < 3; ++c) o[c * plane + pix] = __float2half_rn(v[c]);
    } else {
#pragma unroll
      for (int c = 0; c < 3; ++c) o[pix * 3 + c] = __float2half_rn(v[c]);
    }
  } else {
    float* o = static_cast<float*>(e.out);
    if (p.nchw) {
#pragma unroll
      for (int c = 0; c < 3; ++c) o[c * plane + pix] = v[c];
    } else {
#pragma unroll
      for (int c = 0; c < 3; ++c) o[pix * 3 + c] = v[c];
    }
  }
}

bool Supported(PixelFormat f) {
  switch (f) {
    case PixelFormat::kRGB24:
    case PixelFormat::kBGR24:
    case PixelFormat::kRGBA:
    case PixelFormat::kBGRA:
    case PixelFormat::kNV12:
    case PixelFormat::kI420:
    case PixelFormat::kGray8: return true;
    default: return false;
  }
}

}  // namespace

Status PreprocessBatch(const std::vector<PreprocessInput>& inputs, const PreprocessOptions& options,
                       const Tensor& out, cudaStream_t stream) {
  static const std::string where = "cuda::PreprocessBatch: ";
  if (options.out_width <= 0 || options.out_height <= 0) {
    return Status::InvalidArgument(where + "options.out_width/out_height must be > 0");
  }
  if (out.memory != MemoryKind::kDevice || out.data == nullptr) {
    return Status::InvalidArgument(where + "output tensor is not on the device");
  }
  if (out.dtype != DType::kFloat32 && out.dtype != DType::kFloat16) {
    return Status::InvalidArgument(where + "output dtype " + DTypeName(out.dtype) +
                                   " (want float32 or float16)");
  }
  const bool nchw = options.layout == TensorLayout::kNCHW;
  const std::vector<int64_t> want =
      nchw ? std::vector<int64_t>{-1, 3, options.out_height, options.out_width}
           : std::vector<int64_t>{-1, options.out_height, options.out_width, 3};
  if (out.shape.size() != 4 || out.shape[1] != want[1] || out.shape[2] != want[2] ||
      out.shape[3] != want[3] || out.shape[0] < 1) {
    return Status::InvalidArgument(where + "output tensor shape " + ShapeToString(out.shape) +
                                   " does not match " + ShapeToString(want));
  }
  Params p{};
  p.out_w = options.out_width;
  p.out_h = options.out_height;
  p.nchw = nchw;
  p.fp16 = out.dtype == DType::kFloat16;
  p.bgr = options.bgr;
  p.half_pixel = options.half_pixel;
  for (int c = 0; c < 3; ++c) {
    if (!(std::isfinite(options.std[c]) && options.std[c] != 0.f) || !std::isfinite(options.mean[c])) {
      return Status::InvalidArgument(where + "options.std[" + std::to_string(c) +
                                     "] must be finite and non-zero, mean[" + std::to_string(c) +
                                     "] finite");
    }
    p.mul[c] = 1.0f / (255.0f * options.std[c]);
    p.add[c] = -options.mean[c] / options.std[c];
  }
  const int64_t slot_bytes = out.slot_bytes();
  const dim3 block(32, 8);
  const dim3 grid_xy((p.out_w + block.x - 1) / block.x, (p.out_h + block.y - 1) / block.y);
  int n = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PreprocessInput& in = inputs[i];
    const Frame& f = in.frame;
    auto entry = [&] {
      return where + "entry " + std::to_string(i) + " (stream " +
                              std::to_string(f.stream_id) + ", frame " + std::to_string(f.index) +
                              "): ";
    };
    if (f.memory != MemoryKind::kDevice) return Status::InvalidArgument(entry() + "frame is not on the device");
    if (!Supported(f.format)) {
      return Status::Unsupported(entry() + "pixel format " + std::string(PixelFormatName(f.format)));
    }
    if (f.width <= 0 || f.height <= 0) return Status::InvalidArgument(entry() + "empty frame");
    for (int pl = 0; pl < PlaneCount(f.format); ++pl) {
      if (!f.data[pl] || f.pitch[pl] < PlaneRowBytes(f.format, f.width, pl)) {
        return Status::InvalidArgument(entry() + "plane " + std::to_string(pl) +
                                       " missing or pitch too small");
      }
    }
    if ((f.format == PixelFormat::kRGBA || f.format == PixelFormat::kBGRA) &&
        (reinterpret_cast<uintptr_t>(f.data[0]) % 4 != 0 || f.pitch[0] % 4 != 0)) {
      return Status::InvalidArgument(entry() + "RGBA/BGRA rows must be 4-byte aligned");
    }
    const int cw = in.crop_width ? in.crop_width : f.width;
    const int ch = in.crop_height ? in.crop_height : f.height;
    if (in.crop_x < 0 || in.crop_y < 0 || cw <= 0 || ch <= 0 || in.crop_x + cw > f.width ||
        in.crop_y + ch > f.height) {
      return Status::InvalidArgument(entry() + "crop outside the frame");
    }
    if (in.slot < 0 || in.slot >= out.shape[0]) {
      return Status::InvalidArgument(entry() + "slot " + std::to_string(in.slot) +
                                     " outside the batch of " + std::to_string(out.shape[0]));
    }
    Entry& e = p.e[n];
    for (int pl = 0; pl < 3; ++pl) {
      e.plane[pl] = f.data[pl];
      e.pitch[pl] = f.pitch[pl];
    }
    e.format = static_cast<int>(f.format);
    e.x0 = in.crop_x;
    e.y0 = in.crop_y;
    e.w = cw;
    e.h = ch;
    LetterboxRect r{0, 0, options.out_width, options.out_height};
    if (options.mode == ResizeMode::kLetterbox) r = LetterboxFor(cw, ch, options);
    e.rect_x = r.x;
    e.rect_y = r.y;
    e.rect_w = r.width;
    e.rect_h = r.height;
    e.ratio_x = static_cast<double>(cw) / r.width;
    e.ratio_y = static_cast<double>(ch) / r.height;
    if (f.format == PixelFormat::kNV12 || f.format == PixelFormat::kI420) {
      Result<YuvCoefficients> k = YuvCoefficientsFor(f.color, f.height);
      if (!k.ok()) return k.status().WithContext(entry());
      e.yuv = *k;
    }
    e.out = static_cast<uint8_t*>(out.data) + in.slot * slot_bytes;
    if (++n == kMaxPreprocessPerLaunch || i + 1 == inputs.size()) {
      PreprocessKernel<<<dim3(grid_xy.x, grid_xy.y, n), block, 0, stream>>>(p);
      VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("PreprocessKernel");
      n = 0;
    }
  }
  return Status::Ok();
}

namespace {

__global__ void ToRgb24Kernel(const Entry e, uint8_t* out, int64_t out_pitch) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= e.w || y >= e.h) return;
  const float3 v = Fetch(e, x, y);
  uint8_t* o = out + y * out_pitch + 3 * x;
  o[0] = static_cast<uint8_t>(v.x + 0.5f);
  o[1] = static_cast<uint8_t>(v.y + 0.5f);
  o[2] = static_cast<uint8_t>(v.z + 0.5f);
}

}  // namespace

Status ToRgb24Device(const Frame& in, Frame* out, cudaStream_t stream) {
  static const std::string where = "cuda::ToRgb24Device: ";
  if (in.memory != MemoryKind::kDevice || in.empty()) {
    return Status::InvalidArgument(where + "input " + DescribeFrame(in) + " is not on the device");
  }
  if (!Supported(in.format)) {
    return Status::Unsupported(where + "pixel format " + std::string(PixelFormatName(in.format)));
  }
  for (int pl = 0; pl < PlaneCount(in.format); ++pl) {
    if (!in.data[pl] || in.pitch[pl] < PlaneRowBytes(in.format, in.width, pl)) {
      return Status::InvalidArgument(where + "input plane " + std::to_string(pl) +
                                     " missing or pitch too small");
    }
  }
  if (!out || out->memory != MemoryKind::kDevice || out->format != PixelFormat::kRGB24 ||
      out->empty() || out->width != in.width || out->height != in.height ||
      out->pitch[0] < 3LL * out->width) {
    return Status::InvalidArgument(where + "output must be an RGB24 device frame of " +
                                   std::to_string(in.width) + "x" + std::to_string(in.height));
  }
  Entry e{};
  for (int pl = 0; pl < 3; ++pl) {
    e.plane[pl] = in.data[pl];
    e.pitch[pl] = in.pitch[pl];
  }
  e.format = static_cast<int>(in.format);
  e.w = in.width;
  e.h = in.height;
  if (in.format == PixelFormat::kNV12 || in.format == PixelFormat::kI420) {
    Result<YuvCoefficients> k = YuvCoefficientsFor(in.color, in.height);
    if (!k.ok()) return k.status().WithContext(where);
    e.yuv = *k;
  }
  const dim3 block(32, 8);
  const dim3 grid((in.width + block.x - 1) / block.x, (in.height + block.y - 1) / block.y);
  ToRgb24Kernel<<<grid, block, 0, stream>>>(e, out->data[0], out->pitch[0]);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("ToRgb24Kernel");
  out->CopyMetadataFrom(in);
  return Status::Ok();
}

Result<std::vector<PreprocessInput>> StereoInputs(const Frame& frame, StereoLayout layout,
                                                  int first_slot) {
  std::vector<PreprocessInput> v(2);
  Status s = SplitStereo(frame, layout, &v[0].frame, &v[1].frame);
  if (!s.ok()) return s.WithContext("cuda::StereoInputs");
  v[0].slot = first_slot;
  v[1].slot = first_slot + 1;
  return v;
}

}  // namespace vrseg::cuda
