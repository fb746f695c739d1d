// Compositing kernels (one family: background, blend, RGBA/NV12 output, box blur): see
// include/vrseg/cuda/composite.h.
#include <cmath>
#include <string>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/composite.h"

namespace vrseg::cuda {
namespace {

constexpr int kSegment = 32;  // pixels (H pass) or rows (V pass) per thread in the box blur

__device__ __forceinline__ uint8_t RoundU8(float v) {
  if (!(v > 0.f)) return 0;
  if (v >= 255.f) return 255;
  return static_cast<uint8_t>(static_cast<int>(v + 0.5f));
}

// ---- box blur -------------------------------------------------------------------------------

// One horizontal pass: thread = (segment of kSegment pixels, row); all `kCh` byte channels of a
// pixel at once (kCh = 1, 3 or 4: one instantiation each).
template <int kCh>
__global__ void BoxHKernel(const uint8_t* src, int64_t sp, uint8_t* dst, int64_t dp, int W, int H,
                           int r) {
  const int seg = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  const int x0 = seg * kSegment;
  if (y >= H || x0 >= W) return;
  const int x_end = min(x0 + kSegment, W);
  const uint32_t d = 2 * r + 1;
  const uint8_t* s = src + y * sp;
  uint8_t* o = dst + y * dp;
  uint32_t sum[kCh];
#pragma unroll
  for (int c = 0; c < kCh; ++c) sum[c] = 0;
  for (int k = -r; k <= r; ++k) {
    const uint8_t* q = s + min(max(x0 + k, 0), W - 1) * kCh;
#pragma unroll
    for (int c = 0; c < kCh; ++c) sum[c] += q[c];
  }
  for (int x = x0; x < x_end; ++x) {
    const uint8_t* add = s + min(x + r + 1, W - 1) * kCh;
    const uint8_t* sub = s + max(x - r, 0) * kCh;
#pragma unroll
    for (int c = 0; c < kCh; ++c) {
      o[x * kCh + c] = static_cast<uint8_t>((sum[c] + r) / d);
      sum[c] += add[c];
      sum[c] -= sub[c];
    }
  }
}

// One horizontal pass with the row staged in shared memory: block = one row, 256 threads, each
// thread a run of ceil(W/256) pixels with its own sliding window read from shared memory (the
// window's start-up taps no longer go to L1/L2). Used when the row fits (W*kCh <= 48 KiB).
constexpr int kRowThreads = 256;
constexpr int kMaxRowBytes = 48 * 1024;

template <int kCh>
__global__ void __launch_bounds__(kRowThreads) BoxHRowKernel(const uint8_t* src, int64_t sp,
                                                             uint8_t* dst, int64_t dp, int W, int r) {
  extern __shared__ uint8_t row[];
  const int y = blockIdx.x;
  const uint8_t* s = src + y * sp;
  const int n = W * kCh;
  for (int i = threadIdx.x; i < n; i += kRowThreads) row[i] = s[i];
  __syncthreads();
  const int per = (W + kRowThreads - 1) / kRowThreads;
  const int x0 = threadIdx.x * per;
  if (x0 >= W) return;
  const int x_end = min(x0 + per, W);
  const uint32_t d = 2 * r + 1;
  uint32_t sum[kCh];
#pragma unroll
  for (int c = 0; c < kCh; ++c) sum[c] = 0;
  for (int k = -r; k <= r; ++k) {
    const uint8_t* q = row + min(max(x0 + k, 0), W - 1) * kCh;
#pragma unroll
    for (int c = 0; c < kCh; ++c) sum[c] += q[c];
  }
  uint8_t* o = dst + y * dp;
  for (int x = x0; x < x_end; ++x) {
    const uint8_t* add = row + min(x + r + 1, W - 1) * kCh;
    const uint8_t* sub = row + max(x - r, 0) * kCh;
#pragma unroll
    for (int c = 0; c < kCh; ++c) {
      o[x * kCh + c] = static_cast<uint8_t>((sum[c] + r) / d);
      sum[c] += add[c];
      sum[c] -= sub[c];
    }
  }
}

// One vertical pass: thread = (byte column, segment of kSegment rows).
__global__ void BoxVKernel(const uint8_t* src, int64_t sp, uint8_t* dst, int64_t dp, int n, int H,
                           int r) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int y0 = (blockIdx.y * blockDim.y + threadIdx.y) * kSegment;
  if (i >= n || y0 >= H) return;
  const int y_end = min(y0 + kSegment, H);
  const uint32_t d = 2 * r + 1;
  uint32_t sum = 0;
  for (int k = -r; k <= r; ++k) sum += src[min(max(y0 + k, 0), H - 1) * sp + i];
  for (int y = y0; y < y_end; ++y) {
    dst[y * dp + i] = static_cast<uint8_t>((sum + r) / d);
    sum += src[min(y + r + 1, H - 1) * sp + i];
    sum -= src[max(y - r, 0) * sp + i];
  }
}

// One vertical pass with a strip of 32 byte-columns staged in shared memory: block = 32 x 8
// threads; thread (c, t) slides down rows [t*ceil(H/8), ...) of column c, its start-up taps read
// from shared memory. Used when the strip fits (H*32 bytes <= kMaxStripBytes).
constexpr int kStrip = 32, kStripThreadsY = 8;
constexpr int kMaxStripBytes = 160 * 1024;

__global__ void __launch_bounds__(kStrip * kStripThreadsY) BoxVStripKernel(
    const uint8_t* src, int64_t sp, uint8_t* dst, int64_t dp, int n, int H, int r) {
  extern __shared__ uint8_t strip[];  // H rows of kStrip bytes
  const int i0 = blockIdx.x * kStrip;
  const int cols = min(kStrip, n - i0);
  for (int k = threadIdx.y * kStrip + threadIdx.x; k < H * kStrip; k += kStrip * kStripThreadsY) {
    const int y = k / kStrip, c = k % kStrip;
    if (c < cols) strip[k] = src[y * sp + i0 + c];
  }
  __syncthreads();
  const int c = threadIdx.x;
  if (c >= cols) return;
  const int per = (H + kStripThreadsY - 1) / kStripThreadsY;
  const int y0 = threadIdx.y * per;
  if (y0 >= H) return;
  const int y_end = min(y0 + per, H);
  const uint32_t d = 2 * r + 1;
  uint32_t sum = 0;
  for (int k = -r; k <= r; ++k) sum += strip[min(max(y0 + k, 0), H - 1) * kStrip + c];
  for (int y = y0; y < y_end; ++y) {
    dst[y * dp + i0 + c] = static_cast<uint8_t>((sum + r) / d);
    sum += strip[min(y + r + 1, H - 1) * kStrip + c];
    sum -= strip[max(y - r, 0) * kStrip + c];
  }
}

Status BoxBlur3Impl(const uint8_t* src, int64_t sp, uint8_t* out, int64_t op, uint8_t* scratch,
                    int64_t scp, int W, int H, int ch, int r, cudaStream_t stream) {
  const dim3 hb(8, 32), vb(128, 2);
  const dim3 hg((W + kSegment * hb.x - 1) / (kSegment * hb.x), (H + hb.y - 1) / hb.y);
  const int n = W * ch;
  const dim3 vg((n + vb.x - 1) / vb.x, (H + kSegment * vb.y - 1) / (kSegment * vb.y));
  for (int pass = 0; pass < 3; ++pass) {
    const size_t row_bytes = static_cast<size_t>(W) * ch;
    if (row_bytes <= kMaxRowBytes) {
      if (ch == 1) {
        BoxHRowKernel<1><<<H, kRowThreads, row_bytes, stream>>>(src, sp, scratch, scp, W, r);
      } else if (ch == 3) {
        BoxHRowKernel<3><<<H, kRowThreads, row_bytes, stream>>>(src, sp, scratch, scp, W, r);
      } else {
        BoxHRowKernel<4><<<H, kRowThreads, row_bytes, stream>>>(src, sp, scratch, scp, W, r);
      }
    } else if (ch == 1) {
      BoxHKernel<1><<<hg, hb, 0, stream>>>(src, sp, scratch, scp, W, H, r);
    } else if (ch == 3) {
      BoxHKernel<3><<<hg, hb, 0, stream>>>(src, sp, scratch, scp, W, H, r);
    } else {
      BoxHKernel<4><<<hg, hb, 0, stream>>>(src, sp, scratch, scp, W, H, r);
    }
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BoxHKernel");
    const size_t strip_bytes = static_cast<size_t>(H) * kStrip;
    if (strip_bytes <= kMaxStripBytes) {
      static const cudaError_t attr = cudaFuncSetAttribute(
          BoxVStripKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxStripBytes);
      VRSEG_CUDA_RETURN_IF_ERROR(attr);
      BoxVStripKernel<<<(n + kStrip - 1) / kStrip, dim3(kStrip, kStripThreadsY), strip_bytes, stream>>>(
          scratch, scp, out, op, n, H, r);
    } else {
      BoxVKernel<<<vg, vb, 0, stream>>>(scratch, scp, out, op, n, H, r);
    }
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BoxVKernel");
    src = out;
    sp = op;
  }
  return Status::Ok();
}

// ---- background image scaled to cover -------------------------------------------------------

__device__ __forceinline__ void Axis(int d, double ratio, double offset, int n, int* i0, int* i1,
                                     float* w) {
  double s = __dadd_rn(__dadd_rn(offset, __dmul_rn(d + 0.5, ratio)), -0.5);
  s = fmin(fmax(s, 0.0), static_cast<double>(n - 1));
  const int a = static_cast<int>(s);
  *i0 = a;
  *i1 = min(a + 1, n - 1);
  *w = static_cast<float>(s - a);
}

__global__ void ScaleCoverKernel(const uint8_t* img, int64_t ip, int iw, int ih, uint8_t* dst,
                                 int64_t dp, int W, int H, double ratio, double ox, double oy) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= W || y >= H) return;
  int x0, x1, y0, y1;
  float tx, ty;
  Axis(x, ratio, ox, iw, &x0, &x1, &tx);
  Axis(y, ratio, oy, ih, &y0, &y1, &ty);
  const uint8_t* r0 = img + y0 * ip;
  const uint8_t* r1 = img + y1 * ip;
  for (int c = 0; c < 3; ++c) {
    const float a = r0[3 * x0 + c], b = r0[3 * x1 + c], cc = r1[3 * x0 + c], d = r1[3 * x1 + c];
    const float top = a + (b - a) * tx;
    const float bot = cc + (d - cc) * tx;
    dst[y * dp + 3 * x + c] = RoundU8(top + (bot - top) * ty);
  }
}

// ---- blend ------------------------------------------------------------------------------------

struct BlendParams {
  const uint8_t* rgb;
  int64_t rgb_pitch;
  const uint8_t* mask;
  int64_t mask_pitch;
  const uint8_t* bg;  // null: colour
  int64_t bg_pitch;
  uint8_t color[3];
  uint8_t* out0;      // RGB24 / RGBA / NV12 Y
  int64_t out0_pitch;
  uint8_t* out1;      // NV12 UV
  int64_t out1_pitch;
  int W, H;
};

__device__ __forceinline__ void Blend(const BlendParams& p, int x, int y, uint8_t o[3]) {
  const uint8_t* f = p.rgb + y * p.rgb_pitch + 3 * x;
  const uint32_t a = p.mask[y * p.mask_pitch + x], ia = 255 - a;
  uint32_t b0 = p.color[0], b1 = p.color[1], b2 = p.color[2];  // registers, not a stack copy
  if (p.bg) {
    const uint8_t* b = p.bg + y * p.bg_pitch + 3 * x;
    b0 = b[0];
    b1 = b[1];
    b2 = b[2];
  }
  o[0] = static_cast<uint8_t>((a * f[0] + ia * b0 + 127) / 255);
  o[1] = static_cast<uint8_t>((a * f[1] + ia * b1 + 127) / 255);
  o[2] = static_cast<uint8_t>((a * f[2] + ia * b2 + 127) / 255);
}

__device__ __forceinline__ uint8_t Mix(uint32_t a, uint32_t f, uint32_t b) {
  return static_cast<uint8_t>((a * f + (255 - a) * b + 127) / 255);
}

__device__ __forceinline__ bool Aligned4(const void* q) {
  return (reinterpret_cast<uintptr_t>(q) & 3) == 0;
}

// Four pixels per thread. Where every row pointer involved is 4-byte aligned (the usual case:
// pitches and widths that are multiples of 4) the thread moves whole words: 3 words of RGB in and
// out, one word of mask; elsewhere it falls back to bytes. Same arithmetic either way.
__global__ void BlendRgbKernel(const BlendParams p, int rgba) {
  const int x = 4 * (blockIdx.x * blockDim.x + threadIdx.x);
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= p.W || y >= p.H) return;
  const int n = min(4, p.W - x);
  const uint8_t* f = p.rgb + y * p.rgb_pitch + 3 * x;
  const uint8_t* m = p.mask + y * p.mask_pitch + x;
  const uint8_t* bg = p.bg ? p.bg + y * p.bg_pitch + 3 * x : nullptr;
  uint8_t* d = p.out0 + y * p.out0_pitch + (rgba ? 4 : 3) * x;
  const bool words = n == 4 && Aligned4(f) && Aligned4(m) && Aligned4(d) && (!bg || Aligned4(bg));
  if (words) {
    uint32_t fw[3], bw[3], mw = *reinterpret_cast<const uint32_t*>(m);
#pragma unroll
    for (int i = 0; i < 3; ++i) fw[i] = reinterpret_cast<const uint32_t*>(f)[i];
    if (bg) {
#pragma unroll
      for (int i = 0; i < 3; ++i) bw[i] = reinterpret_cast<const uint32_t*>(bg)[i];
    }
    uint8_t o[12];
#pragma unroll
    for (int k = 0; k < 12; ++k) {
      const uint32_t a = (mw >> (8 * (k / 3))) & 255;
      const uint32_t fv = (fw[k / 4] >> (8 * (k % 4))) & 255;
      const uint32_t bv = bg ? (bw[k / 4] >> (8 * (k % 4))) & 255 : p.color[k % 3];
      o[k] = Mix(a, fv, bv);
    }
    if (rgba) {
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        reinterpret_cast<uint32_t*>(d)[i] =
            o[3 * i] | (o[3 * i + 1] << 8) | (o[3 * i + 2] << 16) | (255u << 24);
      }
    } else {
#pragma unroll
      for (int i = 0; i < 3; ++i) {
        reinterpret_cast<uint32_t*>(d)[i] =
            o[4 * i] | (o[4 * i + 1] << 8) | (o[4 * i + 2] << 16) | (uint32_t{o[4 * i + 3]} << 24);
      }
    }
    return;
  }
  for (int k = 0; k < n; ++k) {
    uint8_t o[3];
    Blend(p, x + k, y, o);
    if (rgba) {
      *reinterpret_cast<uchar4*>(d + 4 * k) = make_uchar4(o[0], o[1], o[2], 255);
    } else {
      d[3 * k] = o[0];
      d[3 * k + 1] = o[1];
      d[3 * k + 2] = o[2];
    }
  }
}

// One 2x2 block per thread: the reference's RgbToNv12 over the composited pixels.
__global__ void BlendNv12Kernel(const BlendParams p) {
  const int bx = blockIdx.x * blockDim.x + threadIdx.x;
  const int by = blockIdx.y * blockDim.y + threadIdx.y;
  const int x = 2 * bx, y = 2 * by;
  if (x >= p.W || y >= p.H) return;
  constexpr float kr = 0.2126f, kg = 0.7152f, kb = 0.0722f;
  constexpr float ky = 219.f / 255.f;
  constexpr float ku = 224.f / (1.8556f * 255.f), kv = 224.f / (1.5748f * 255.f);
  float sr = 0.f, sg = 0.f, sb = 0.f;
  int n = 0;
  const bool two_cols = x + 1 < p.W, two_rows = y + 1 < p.H;
  auto pixel = [&](int xx, int yy) {
    uint8_t o[3];
    Blend(p, xx, yy, o);
    const float r = o[0], g = o[1], b = o[2];
    p.out0[yy * p.out0_pitch + xx] = RoundU8(16.f + ky * (kr * r + kg * g + kb * b));
    sr += r, sg += g, sb += b;
    ++n;
  };
  pixel(x, y);
  if (two_cols) pixel(x + 1, y);
  if (two_rows) {
    pixel(x, y + 1);
    if (two_cols) pixel(x + 1, y + 1);
  }
  const float inv = 1.f / n;
  const float r = sr * inv, g = sg * inv, b = sb * inv;
  const float yl = kr * r + kg * g + kb * b;
  uint8_t* uv = p.out1 + by * p.out1_pitch + x;
  uv[0] = RoundU8(128.f + ku * (b - yl));
  uv[1] = RoundU8(128.f + kv * (r - yl));
}

__global__ void MakeRgbaKernel(const uint8_t* rgb, int64_t rp, const uint8_t* mask, int64_t mp,
                               uint8_t* out, int64_t op, int W, int H) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= W || y >= H) return;
  const uint8_t* f = rgb + y * rp + 3 * x;
  *reinterpret_cast<uchar4*>(out + y * op + 4 * x) = make_uchar4(f[0], f[1], f[2], mask[y * mp + x]);
}

// ---- argument checks ----------------------------------------------------------------------------

Status CheckDevice(const Frame& f, PixelFormat want, const char* what) {
  if (f.format != want) {
    return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) + " must be " +
                                   std::string(PixelFormatName(want)));
  }
  if (f.memory != MemoryKind::kDevice) {
    return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) + " is not on the device");
  }
  if (f.width <= 0 || f.height <= 0) return Status::InvalidArgument(std::string(what) + ": empty " + DescribeFrame(f));
  for (int p = 0; p < PlaneCount(f.format); ++p) {
    if (!f.data[p] || f.pitch[p] < PlaneRowBytes(f.format, f.width, p)) {
      return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) + " plane " +
                                     std::to_string(p) + " is null or its pitch is too small");
    }
  }
  if (BytesPerPixel(f.format) == 4 &&
      (reinterpret_cast<uintptr_t>(f.data[0]) % 4 || f.pitch[0] % 4)) {
    return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) +
                                   " rows must be 4-byte aligned");
  }
  return Status::Ok();
}

dim3 Grid(int w, int h, dim3 b) { return dim3((w + b.x - 1) / b.x, (h + b.y - 1) / b.y); }

}  // namespace

// ---- GpuCompositor ------------------------------------------------------------------------------

struct GpuCompositor::Impl {
  CompositeOptions options;
  std::unique_ptr<DevicePool> pool;
  DeviceBuffer image;  // the background image on the device (kImage)
  int64_t image_pitch = 0;
  DeviceBuffer bg;     // scaled image or blurred frame, W x H RGB24 (pitch 3W)
  DeviceBuffer scratch;
  int bg_w = 0, bg_h = 0;
};

GpuCompositor::GpuCompositor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuCompositor::~GpuCompositor() = default;

Result<std::unique_ptr<GpuCompositor>> GpuCompositor::Create(CompositeOptions options) {
  auto impl = std::make_unique<Impl>();
  VRSEG_ASSIGN_OR_RETURN(impl->pool, DevicePool::Create());
  if (options.blur_radius < 0 || options.blur_radius > 32767) {
    return Status::InvalidArgument("GpuCompositor: blur_radius " +
                                   std::to_string(options.blur_radius) + " outside [0, 32767]");
  }
  if (options.background == BackgroundKind::kImage) {
    const Frame& img = options.image;
    if (img.format != PixelFormat::kRGB24 || img.empty() || img.width <= 0 || img.height <= 0 ||
        img.pitch[0] < 3LL * img.width) {
      return Status::InvalidArgument("GpuCompositor: background image " + DescribeFrame(img) +
                                     " must be a non-empty RGB24 frame");
    }
    impl->image_pitch = 3LL * img.width;
    VRSEG_ASSIGN_OR_RETURN(impl->image, impl->pool->Allocate(impl->image_pitch * img.height,
                                                             nullptr, "compositor background image"));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaMemcpy2D(impl->image.data(), impl->image_pitch, img.data[0],
                                            img.pitch[0], impl->image_pitch, img.height,
                                            cudaMemcpyDefault));
    options.image.storage.reset();  // the device copy is what is used
  }
  impl->options = std::move(options);
  return std::unique_ptr<GpuCompositor>(new GpuCompositor(std::move(impl)));
}

Status GpuCompositor::Compose(const Frame& rgb, const Frame& mask, Frame* out, cudaStream_t stream) {
  VRSEG_RETURN_IF_ERROR(CheckDevice(rgb, PixelFormat::kRGB24, "GpuCompositor frame"));
  VRSEG_RETURN_IF_ERROR(CheckDevice(mask, PixelFormat::kGray8, "GpuCompositor mask"));
  if (!out) return Status::InvalidArgument("GpuCompositor: null output");
  if (out->format != PixelFormat::kRGB24 && out->format != PixelFormat::kRGBA &&
      out->format != PixelFormat::kNV12) {
    return Status::InvalidArgument("GpuCompositor output: " + DescribeFrame(*out) +
                                   " must be rgb24, rgba or nv12");
  }
  VRSEG_RETURN_IF_ERROR(CheckDevice(*out, out->format, "GpuCompositor output"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, mask, "GpuCompositor"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, *out, "GpuCompositor"));
  Impl& m = *impl_;
  const int W = rgb.width, H = rgb.height;
  const int64_t bg_pitch = 3LL * W;
  const bool need_bg = m.options.background != BackgroundKind::kColor;
  bool fresh = false;
  if (need_bg && (m.bg.empty() || m.bg_w != W || m.bg_h != H)) {
    m.bg.Reset();
    m.scratch.Reset();
    VRSEG_ASSIGN_OR_RETURN(m.bg, m.pool->Allocate(bg_pitch * H, stream, "compositor background"));
    if (m.options.background == BackgroundKind::kBlur) {
      VRSEG_ASSIGN_OR_RETURN(m.scratch, m.pool->Allocate(bg_pitch * H, stream, "compositor blur scratch"));
    }
    m.bg_w = W;
    m.bg_h = H;
    fresh = true;
  }
  const dim3 b(32, 8);
  if (m.options.background == BackgroundKind::kImage && fresh) {
    const Frame& img = m.options.image;
    const double s = std::max(static_cast<double>(W) / img.width, static_cast<double>(H) / img.height);
    const double ox = (img.width - W / s) / 2, oy = (img.height - H / s) / 2;
    ScaleCoverKernel<<<Grid(W, H, b), b, 0, stream>>>(m.image.as<uint8_t>(), m.image_pitch,
                                                      img.width, img.height, m.bg.as<uint8_t>(),
                                                      bg_pitch, W, H, 1.0 / s, ox, oy);
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("ScaleCoverKernel");
  } else if (m.options.background == BackgroundKind::kBlur) {
    int r = m.options.blur_radius;
    if (r <= 0) {
      r = std::max(1, static_cast<int>(std::floor(
                          std::sqrt(static_cast<double>(W) * W + static_cast<double>(H) * H) / 40.0 +
                          0.5)));
    }
    VRSEG_RETURN_IF_ERROR(BoxBlur3Impl(rgb.data[0], rgb.pitch[0], m.bg.as<uint8_t>(), bg_pitch,
                                       m.scratch.as<uint8_t>(), bg_pitch, W, H, 3, r, stream));
  }
  BlendParams p{};
  p.rgb = rgb.data[0];
  p.rgb_pitch = rgb.pitch[0];
  p.mask = mask.data[0];
  p.mask_pitch = mask.pitch[0];
  p.bg = need_bg ? m.bg.as<uint8_t>() : nullptr;
  p.bg_pitch = bg_pitch;
  for (int c = 0; c < 3; ++c) p.color[c] = m.options.color[c];
  p.out0 = out->data[0];
  p.out0_pitch = out->pitch[0];
  p.out1 = out->data[1];
  p.out1_pitch = out->pitch[1];
  p.W = W;
  p.H = H;
  if (out->format == PixelFormat::kNV12) {
    BlendNv12Kernel<<<Grid((W + 1) / 2, (H + 1) / 2, b), b, 0, stream>>>(p);
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BlendNv12Kernel");
    out->color = ColorInfo{1, 1, 1, 1};
  } else {
    BlendRgbKernel<<<Grid((W + 3) / 4, H, b), b, 0, stream>>>(p, out->format == PixelFormat::kRGBA);
    VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BlendRgbKernel");
  }
  return Status::Ok();
}

Status MakeRgbaDevice(const Frame& rgb, const Frame& mask, Frame* out, cudaStream_t stream) {
  VRSEG_RETURN_IF_ERROR(CheckDevice(rgb, PixelFormat::kRGB24, "MakeRgbaDevice frame"));
  VRSEG_RETURN_IF_ERROR(CheckDevice(mask, PixelFormat::kGray8, "MakeRgbaDevice mask"));
  if (!out) return Status::InvalidArgument("MakeRgbaDevice: null output");
  VRSEG_RETURN_IF_ERROR(CheckDevice(*out, PixelFormat::kRGBA, "MakeRgbaDevice output"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, mask, "MakeRgbaDevice"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, *out, "MakeRgbaDevice"));
  const dim3 b(32, 8);
  MakeRgbaKernel<<<Grid(rgb.width, rgb.height, b), b, 0, stream>>>(
      rgb.data[0], rgb.pitch[0], mask.data[0], mask.pitch[0], out->data[0], out->pitch[0],
      rgb.width, rgb.height);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("MakeRgbaKernel");
  return Status::Ok();
}

Status BoxBlur3Device(const Frame& src, int radius, Frame* out, Frame* scratch, cudaStream_t stream) {
  if (!IsPacked8(src.format)) {
    return Status::InvalidArgument("BoxBlur3Device: " + DescribeFrame(src) + " is not a packed 8-bit format");
  }
  if (radius < 1 || radius > 32767) {
    return Status::InvalidArgument("BoxBlur3Device: radius " + std::to_string(radius) +
                                   " outside [1, 32767]");
  }
  if (!out || !scratch) return Status::InvalidArgument("BoxBlur3Device: null output or scratch");
  VRSEG_RETURN_IF_ERROR(CheckDevice(src, src.format, "BoxBlur3Device input"));
  VRSEG_RETURN_IF_ERROR(CheckDevice(*out, src.format, "BoxBlur3Device output"));
  VRSEG_RETURN_IF_ERROR(CheckDevice(*scratch, src.format, "BoxBlur3Device scratch"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(src, *out, "BoxBlur3Device"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(src, *scratch, "BoxBlur3Device"));
  if (scratch->data[0] == src.data[0] || scratch->data[0] == out->data[0]) {
    return Status::InvalidArgument("BoxBlur3Device: scratch must be distinct from input and output");
  }
  return BoxBlur3Impl(src.data[0], src.pitch[0], out->data[0], out->pitch[0], scratch->data[0],
                      scratch->pitch[0], src.width, src.height, BytesPerPixel(src.format), radius,
                      stream);
}

}  // namespace vrseg::cuda
