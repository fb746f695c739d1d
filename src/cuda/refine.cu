// Fast guided filter kernels (one family): see include/vrseg/cuda/refine.h.
#include <string>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/refine.h"

namespace vrseg::cuda {
namespace {

__device__ __forceinline__ float Guidance(const uint8_t* p, int mean) {
  if (!mean) return (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.f;
  return (static_cast<float>(p[0]) + p[1] + p[2]) / (3.f * 255.f);
}

__device__ __forceinline__ uint8_t RoundU8(float v) {
  if (!(v > 0.f)) return 0;
  if (v >= 255.f) return 255;
  return static_cast<uint8_t>(static_cast<int>(v + 0.5f));
}

// Block means at low resolution: Is, ps, Is*Is, Is*ps (4 planes of w*h floats).
__global__ void BlockMeansKernel(const uint8_t* rgb, int64_t rp, const uint8_t* mask, int64_t mp,
                                 int W, int H, int s, int w, int h, int mean, float* planes) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int j = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= w || j >= h) return;
  float si = 0.f, sp = 0.f;
  const int x_end = min(i * s + s, W), y_end = min(j * s + s, H);
  for (int y = j * s; y < y_end; ++y) {
    const uint8_t* g = rgb + y * rp;
    const uint8_t* m = mask + y * mp;
    for (int x = i * s; x < x_end; ++x) {
      si += Guidance(g + 3 * x, mean);
      sp += m[x] / 255.f;
    }
  }
  const int bx = min(s, W - i * s), by = min(s, H - j * s);
  const float inv = 1.f / static_cast<float>(bx * by);
  const int64_t n = static_cast<int64_t>(w) * h, k = static_cast<int64_t>(j) * w + i;
  const float Is = si * inv, ps = sp * inv;
  planes[k] = Is;
  planes[n + k] = ps;
  planes[2 * n + k] = Is * Is;
  planes[3 * n + k] = Is * ps;
}

// Horizontal window sums (double) of `count` float planes.
__global__ void BoxRowsKernel(const float* in, double* out, int w, int h, int r, int count) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int j = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= w || j >= h) return;
  const int64_t n = static_cast<int64_t>(w) * h;
  const int lo = max(i - r, 0), hi = min(i + r, w - 1);
  for (int p = 0; p < count; ++p) {
    const float* row = in + p * n + static_cast<int64_t>(j) * w;
    double s = 0.0;
    for (int x = lo; x <= hi; ++x) s += row[x];
    out[p * n + static_cast<int64_t>(j) * w + i] = s;
  }
}

// Vertical window sums of the row sums → box means. stage 0: from mI, mp, II, Ip compute a and b
// (into planes 0, 1 of `out`); stage 1: write the means of a and b (ma, mb).
__global__ void BoxColsKernel(const double* in, float* out, int w, int h, int r, int stage,
                              float eps) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int j = blockIdx.y * blockDim.y + threadIdx.y;
  if (i >= w || j >= h) return;
  const int64_t n = static_cast<int64_t>(w) * h, k = static_cast<int64_t>(j) * w + i;
  const int lo = max(j - r, 0), hi = min(j + r, h - 1);
  const int nx = min(i + r, w - 1) - max(i - r, 0) + 1, ny = hi - lo + 1;
  const double cnt = static_cast<double>(nx) * ny;
  float m[4];
  const int count = stage == 0 ? 4 : 2;
  for (int p = 0; p < count; ++p) {
    double s = 0.0;
    for (int y = lo; y <= hi; ++y) s += in[p * n + static_cast<int64_t>(y) * w + i];
    m[p] = static_cast<float>(s / cnt);
  }
  if (stage == 0) {
    const float mI = m[0], mp = m[1];
    const float var = m[2] - mI * mI;
    const float cov = m[3] - mI * mp;
    const float a = cov / (var + eps);
    out[k] = a;
    out[n + k] = mp - a * mI;
  } else {
    out[k] = m[0];
    out[n + k] = m[1];
  }
}

__device__ __forceinline__ void Axis(int d, int s, int n, int* i0, int* i1, float* wt) {
  double sx = __dadd_rn(__ddiv_rn(d + 0.5, static_cast<double>(s)), -0.5);
  sx = fmin(fmax(sx, 0.0), static_cast<double>(n - 1));
  const int a = static_cast<int>(sx);
  *i0 = a;
  *i1 = min(a + 1, n - 1);
  *wt = static_cast<float>(sx - a);
}

__global__ void ApplyKernel(const uint8_t* rgb, int64_t rp, const float* mab, uint8_t* out,
                            int64_t op, int W, int H, int s, int w, int h, int mean) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= W || y >= H) return;
  int i0, i1, j0, j1;
  float tx, ty;
  Axis(x, s, w, &i0, &i1, &tx);
  Axis(y, s, h, &j0, &j1, &ty);
  const int64_t n = static_cast<int64_t>(w) * h;
  const float* a0 = mab + static_cast<int64_t>(j0) * w;
  const float* a1 = mab + static_cast<int64_t>(j1) * w;
  const float* b0 = mab + n + static_cast<int64_t>(j0) * w;
  const float* b1 = mab + n + static_cast<int64_t>(j1) * w;
  const float at = a0[i0] + (a0[i1] - a0[i0]) * tx, ab = a1[i0] + (a1[i1] - a1[i0]) * tx;
  const float bt = b0[i0] + (b0[i1] - b0[i0]) * tx, bb = b1[i0] + (b1[i1] - b1[i0]) * tx;
  const float A = at + (ab - at) * ty;
  const float B = bt + (bb - bt) * ty;
  const float q = A * Guidance(rgb + y * rp + 3 * x, mean) + B;
  out[y * op + x] = RoundU8(q * 255.f);
}

Status Check(const Frame& f, PixelFormat want, const char* what) {
  if (f.format != want || f.memory != MemoryKind::kDevice || f.empty() || f.width <= 0 ||
      f.height <= 0 || f.pitch[0] < PlaneRowBytes(want, f.width, 0)) {
    return Status::InvalidArgument(std::string("GpuGuidedFilter ") + what + ": " + DescribeFrame(f) +
                                   " must be a " + std::string(PixelFormatName(want)) +
                                   " device frame with a pitch of at least one row");
  }
  return Status::Ok();
}

}  // namespace

struct GpuGuidedFilter::Impl {
  GuidedFilterOptions options;
  std::unique_ptr<DevicePool> pool;
  DeviceBuffer planes;  // 4 float planes (Is, ps, II, Ip), reused for a/b and ma/mb
  DeviceBuffer sums;    // 4 double planes of row sums
  int w = 0, h = 0;
};

GpuGuidedFilter::GpuGuidedFilter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GpuGuidedFilter::~GpuGuidedFilter() = default;

Result<std::unique_ptr<GpuGuidedFilter>> GpuGuidedFilter::Create(GuidedFilterOptions options) {
  if (options.radius < 1 || options.subsample < 1 || !(options.eps > 0.f)) {
    return Status::InvalidArgument(
        "GpuGuidedFilter: GuidedFilterOptions need radius >= 1, subsample >= 1, eps > 0");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  VRSEG_ASSIGN_OR_RETURN(impl->pool, DevicePool::Create());
  return std::unique_ptr<GpuGuidedFilter>(new GpuGuidedFilter(std::move(impl)));
}

Status GpuGuidedFilter::Refine(const Frame& rgb, const Frame& mask, Frame* out, cudaStream_t stream) {
  VRSEG_RETURN_IF_ERROR(Check(rgb, PixelFormat::kRGB24, "guide"));
  VRSEG_RETURN_IF_ERROR(Check(mask, PixelFormat::kGray8, "mask"));
  if (!out) return Status::InvalidArgument("GpuGuidedFilter: null output");
  VRSEG_RETURN_IF_ERROR(Check(*out, PixelFormat::kGray8, "output"));
  const int W = rgb.width, H = rgb.height;
  if (mask.width != W || mask.height != H || out->width != W || out->height != H) {
    return Status::InvalidArgument("GpuGuidedFilter: guide " + DescribeFrame(rgb) + ", mask " +
                                   DescribeFrame(mask) + " and output " + DescribeFrame(*out) +
                                   " must have the same size");
  }
  Impl& m = *impl_;
  const int s = m.options.subsample;
  const int w = (W + s - 1) / s, h = (H + s - 1) / s;
  const int rl = std::max(1, m.options.radius / s);
  const int64_t n = static_cast<int64_t>(w) * h;
  if (m.planes.empty() || m.w != w || m.h != h) {
    m.planes.Reset();
    m.sums.Reset();
    VRSEG_ASSIGN_OR_RETURN(m.planes, m.pool->Allocate(4 * n * sizeof(float), stream, "guided filter planes"));
    VRSEG_ASSIGN_OR_RETURN(m.sums, m.pool->Allocate(4 * n * sizeof(double), stream, "guided filter sums"));
    m.w = w;
    m.h = h;
  }
  const int mean = m.options.guidance == GuidanceKind::kMean;
  const dim3 b(32, 8);
  const dim3 lg((w + b.x - 1) / b.x, (h + b.y - 1) / b.y);
  float* planes = m.planes.as<float>();
  double* sums = m.sums.as<double>();
  BlockMeansKernel<<<lg, b, 0, stream>>>(rgb.data[0], rgb.pitch[0], mask.data[0], mask.pitch[0], W,
                                         H, s, w, h, mean, planes);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BlockMeansKernel");
  BoxRowsKernel<<<lg, b, 0, stream>>>(planes, sums, w, h, rl, 4);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BoxRowsKernel");
  BoxColsKernel<<<lg, b, 0, stream>>>(sums, planes, w, h, rl, 0, m.options.eps);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BoxColsKernel");
  BoxRowsKernel<<<lg, b, 0, stream>>>(planes, sums, w, h, rl, 2);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BoxRowsKernel");
  BoxColsKernel<<<lg, b, 0, stream>>>(sums, planes, w, h, rl, 1, m.options.eps);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("BoxColsKernel");
  const dim3 fg((W + b.x - 1) / b.x, (H + b.y - 1) / b.y);
  ApplyKernel<<<fg, b, 0, stream>>>(rgb.data[0], rgb.pitch[0], planes, out->data[0], out->pitch[0],
                                    W, H, s, w, h, mean);
  VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("ApplyKernel");
  return Status::Ok();
}

}  // namespace vrseg::cuda
