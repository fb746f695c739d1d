// Fused postprocessing kernel (one family): see include/vrseg/cuda/postprocess.h.
#include <cuda_fp16.h>

#include <cmath>
#include <string>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/postprocess.h"

namespace vrseg::cuda {
namespace {

struct Job {
  const void* slot;
  uint8_t* mask;
  int64_t mask_pitch;
  const uint8_t* prev;  // null: no previous
  int64_t prev_pitch;
  int w, h;             // mask size
  int roi_x, roi_y, roi_w, roi_h;
  double ratio_x, ratio_y;  // roi size / mask size
};

struct Params {
  Job j[kMaxPostprocessPerLaunch];
  int kind;  // OutputKind
  int nchw, fp16;
  int mw, mh, channels, person;
  int threshold;
  float threshold_value;
  int temporal;
  float factor, band;  // band = hysteresis * 255
};

__device__ __forceinline__ float Load(const void* base, int fp16, int64_t i) {
  return fp16 ? __half2float(static_cast<const __half*>(base)[i]) : static_cast<const float*>(base)[i];
}

// Person probability at model pixel (x, y), as imgproc's ProbabilityFromOutput computes it.
__device__ __forceinline__ float Prob(const Params& p, const void* slot, int x, int y) {
  const int64_t plane = static_cast<int64_t>(p.mw) * p.mh;
  const int64_t pix = static_cast<int64_t>(y) * p.mw + x;
  const int64_t cstride = p.nchw ? plane : 1;
  const int64_t base = p.nchw ? pix : pix * p.channels;
  switch (p.kind) {
    case static_cast<int>(OutputKind::kSigmoidLogit):
      return 1.f / (1.f + expf(-Load(slot, p.fp16, base + p.person * cstride)));
    case static_cast<int>(OutputKind::kTwoClassLogits): {
      const float other = Load(slot, p.fp16, base + (1 - p.person) * cstride);
      const float person = Load(slot, p.fp16, base + p.person * cstride);
      return 1.f / (1.f + expf(other - person));
    }
    case static_cast<int>(OutputKind::kClassLogits): {
      float m = Load(slot, p.fp16, base);
      for (int c = 1; c < p.channels; ++c) m = fmaxf(m, Load(slot, p.fp16, base + c * cstride));
      float sum = 0.f;
      for (int c = 0; c < p.channels; ++c) sum += expf(Load(slot, p.fp16, base + c * cstride) - m);
      return expf(Load(slot, p.fp16, base + p.person * cstride) - m) / sum;
    }
    default:  // kSigmoidProbability, kAlphaMatte: passed through
      return Load(slot, p.fp16, base + p.person * cstride);
  }
}

__device__ __forceinline__ void Axis(int d, double ratio, int n, int* i0, int* i1, float* w) {
  double s = __dadd_rn(__dmul_rn(d + 0.5, ratio), -0.5);
  s = fmin(fmax(s, 0.0), static_cast<double>(n - 1));
  const int a = static_cast<int>(s);
  *i0 = a;
  *i1 = min(a + 1, n - 1);
  *w = static_cast<float>(s - a);
}

__device__ __forceinline__ uint8_t RoundU8(float v) {
  if (!(v > 0.f)) return 0;
  if (v >= 255.f) return 255;
  return static_cast<uint8_t>(static_cast<int>(v + 0.5f));
}

// A block of 32x8 threads covers 128x32 mask pixels: each thread writes 4 adjacent pixels (one
// 32-bit store where the row allows it) in each of 4 rows.
constexpr int kThreadsX = 32, kThreadsY = 8, kPix = 4;
constexpr int kTileX = kThreadsX * kPix, kTileY = 32;
constexpr int kProbCache = 2048;  // model pixels a block may cache (8 KiB of shared memory)

__device__ __forceinline__ uint8_t MaskValue(const Params& p, float v) {
  if (p.threshold) return v >= p.threshold_value ? 255 : 0;
  v = v > 0.f ? (v < 1.f ? v : 1.f) : 0.f;  // NaN → 0
  return static_cast<uint8_t>(static_cast<int>(v * 255.f + 0.5f));
}

__device__ __forceinline__ uint8_t Smooth(const Params& p, uint8_t m, uint8_t prev) {
  const float pv = prev;
  const float e = pv + p.factor * (static_cast<float>(m) - pv);
  return RoundU8(fabsf(e - pv) <= p.band ? pv : e);
}

// The per-column and per-row sampling tables of a tile are computed once per block (in double, as
// the reference) and shared; so are the probabilities of the model pixels the tile samples.
__global__ void PostprocessKernel(const __grid_constant__ Params p) {
  // This block's job, copied once from parameter space to shared memory: a dynamically indexed
  // parameter is otherwise read through generic loads by every thread.
  __shared__ Job sj;
  __shared__ int sx0[kTileX], sx1[kTileX], sy0[kTileY], sy1[kTileY];
  __shared__ float swx[kTileX], swy[kTileY];
  __shared__ float sprob[kProbCache];
  const int tx = threadIdx.x, ty = threadIdx.y, t = ty * kThreadsX + tx;
  static_assert(sizeof(Job) % 4 == 0 && sizeof(Job) / 4 <= kThreadsX * kThreadsY, "Job copy");
  if (t < static_cast<int>(sizeof(Job) / 4)) {
    reinterpret_cast<uint32_t*>(&sj)[t] = reinterpret_cast<const uint32_t*>(&p.j[blockIdx.z])[t];
  }
  __syncthreads();
  const Job& j = sj;
  const int bx = blockIdx.x * kTileX, by = blockIdx.y * kTileY;
  if (t < kTileX) {
    if (bx + t < j.w) {
      int a, b;
      float w;
      Axis(bx + t, j.ratio_x, j.roi_w, &a, &b, &w);
      sx0[t] = a + j.roi_x;
      sx1[t] = b + j.roi_x;
      swx[t] = w;
    }
  } else if (t < kTileX + kTileY) {
    const int r = t - kTileX;
    if (by + r < j.h) {
      int a, b;
      float w;
      Axis(by + r, j.ratio_y, j.roi_h, &a, &b, &w);
      sy0[r] = a + j.roi_y;
      sy1[r] = b + j.roi_y;
      swy[r] = w;
    }
  }
  __syncthreads();
  const int last_x = min(kTileX, j.w - bx) - 1, last_y = min(kTileY, j.h - by) - 1;
  const int min_x = last_x >= 0 ? sx0[0] : 0, min_y = last_y >= 0 ? sy0[0] : 0;
  const int rw = last_x >= 0 ? sx1[last_x] - min_x + 1 : 0;
  const int rh = last_y >= 0 ? sy1[last_y] - min_y + 1 : 0;
  const bool cached = rw > 0 && rh > 0 && rw * rh <= kProbCache;
  if (cached) {
    for (int k = t; k < rw * rh; k += kThreadsX * kThreadsY) {
      sprob[k] = Prob(p, j.slot, min_x + k % rw, min_y + k / rw);
    }
  }
  __syncthreads();
  const int lx = tx * kPix, x = bx + lx;
  if (x >= j.w) return;
  const int n = min(kPix, j.w - x);
#pragma unroll 1
  for (int r = 0; r < kTileY / kThreadsY; ++r) {
    const int ly = ty + r * kThreadsY, y = by + ly;
    if (y >= j.h) break;
    const int y0 = sy0[ly], y1 = sy1[ly];
    const float wy = swy[ly];
    uint8_t m[kPix];
#pragma unroll
    for (int k = 0; k < kPix; ++k) {
      const int c = min(lx + k, last_x);  // past the edge: computed, not stored
      const int x0 = sx0[c], x1 = sx1[c];
      const float wx = swx[c];
      float a, b, cc, d;
      if (cached) {
        const float* r0 = sprob + (y0 - min_y) * rw - min_x;
        const float* r1 = sprob + (y1 - min_y) * rw - min_x;
        a = r0[x0];
        b = r0[x1];
        cc = r1[x0];
        d = r1[x1];
      } else {
        a = Prob(p, j.slot, x0, y0);
        b = Prob(p, j.slot, x1, y0);
        cc = Prob(p, j.slot, x0, y1);
        d = Prob(p, j.slot, x1, y1);
      }
      const float top = a + (b - a) * wx;
      const float bot = cc + (d - cc) * wx;
      m[k] = MaskValue(p, top + (bot - top) * wy);
    }
    uint8_t* out = j.mask + static_cast<int64_t>(y) * j.mask_pitch + x;
    const uint8_t* prev = (p.temporal && j.prev) ? j.prev + static_cast<int64_t>(y) * j.prev_pitch + x : nullptr;
    const bool word = n == kPix && (reinterpret_cast<uintptr_t>(out) & 3) == 0 &&
                      (!prev || (reinterpret_cast<uintptr_t>(prev) & 3) == 0);
    if (word) {
      if (prev) {
        const uint32_t pw = *reinterpret_cast<const uint32_t*>(prev);
#pragma unroll
        for (int k = 0; k < kPix; ++k) m[k] = Smooth(p, m[k], static_cast<uint8_t>(pw >> (8 * k)));
      }
      *reinterpret_cast<uint32_t*>(out) = m[0] | (m[1] << 8) | (m[2] << 16) | (uint32_t{m[3]} << 24);
    } else {
#pragma unroll
      for (int k = 0; k < kPix; ++k) {  // constant indices: m stays in registers
        if (k < n) out[k] = prev ? Smooth(p, m[k], prev[k]) : m[k];
      }
    }
  }
}

Status CheckOptions(const PostprocessGpuOptions& g) {
  const PostprocessOptions& o = g.post;
  const std::string where = "cuda::PostprocessBatch: ";
  if (o.model_width <= 0 || o.model_height <= 0) {
    return Status::InvalidArgument(where + "post.model_width/model_height must be > 0");
  }
  bool ok = false;
  switch (o.kind) {
    case OutputKind::kSigmoidProbability:
    case OutputKind::kSigmoidLogit:
    case OutputKind::kAlphaMatte: ok = o.channels == 1; break;
    case OutputKind::kTwoClassLogits: ok = o.channels == 2; break;
    case OutputKind::kClassLogits: ok = o.channels >= 2; break;
  }
  if (!ok) {
    return Status::InvalidArgument(where + "post.channels = " + std::to_string(o.channels) +
                                   " does not fit output kind " + std::to_string(static_cast<int>(o.kind)));
  }
  if (o.person_channel < 0 || o.person_channel >= o.channels) {
    return Status::InvalidArgument(where + "post.person_channel " + std::to_string(o.person_channel) +
                                   " out of range");
  }
  const LetterboxRect& r = o.roi;
  if (r.width > 0 && r.height > 0 &&
      (r.x < 0 || r.y < 0 || r.x + r.width > o.model_width || r.y + r.height > o.model_height)) {
    return Status::InvalidArgument(where + "post.roi outside the model output");
  }
  if (g.slot_dtype != DType::kFloat32 && g.slot_dtype != DType::kFloat16) {
    return Status::InvalidArgument(where + "slot_dtype " + DTypeName(g.slot_dtype) +
                                   " (want float32 or float16)");
  }
  if (g.temporal && (!(g.temporal_options.factor > 0.f && g.temporal_options.factor <= 1.f) ||
                     !(g.temporal_options.hysteresis >= 0.f && g.temporal_options.hysteresis < 1.f))) {
    return Status::InvalidArgument(where +
                                   "temporal_options: factor must be in (0,1] and hysteresis in [0,1)");
  }
  return Status::Ok();
}

// Empty when `f` is a usable Gray8 device frame, else what is wrong with it.
const char* Gray8Problem(const Frame& f) {
  if (f.memory != MemoryKind::kDevice) return " is not on the device";
  if (f.format != PixelFormat::kGray8) return " is not gray8";
  if (f.empty() || f.width <= 0 || f.height <= 0 || f.pitch[0] < f.width) {
    return " is empty or its pitch is under its width";
  }
  return "";
}

}  // namespace

Status PostprocessBatch(const std::vector<PostprocessJob>& jobs,
                        const PostprocessGpuOptions& options, cudaStream_t stream) {
  VRSEG_RETURN_IF_ERROR(CheckOptions(options));
  const PostprocessOptions& o = options.post;
  Params p{};
  p.kind = static_cast<int>(o.kind);
  p.nchw = o.layout == TensorLayout::kNCHW;
  p.fp16 = options.slot_dtype == DType::kFloat16;
  p.mw = o.model_width;
  p.mh = o.model_height;
  p.channels = o.channels;
  p.person = o.person_channel;
  p.threshold = o.threshold;
  p.threshold_value = o.threshold_value;
  p.temporal = options.temporal;
  p.factor = options.temporal_options.factor;
  p.band = options.temporal_options.hysteresis * 255.f;
  LetterboxRect roi = o.roi;
  if (roi.width <= 0 || roi.height <= 0) roi = {0, 0, o.model_width, o.model_height};
  const dim3 block(kThreadsX, kThreadsY);
  int n = 0, max_w = 0, max_h = 0;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const PostprocessJob& job = jobs[i];
    auto entry = [&] {
      return "cuda::PostprocessBatch: entry " + std::to_string(i) + " (stream " +
                              std::to_string(job.mask.stream_id) + ", frame " +
                              std::to_string(job.mask.index) + ")";
    };
    if (!job.slot) return Status::InvalidArgument(entry() + ": null output slot");
    if (const char* why = Gray8Problem(job.mask); *why) {
      return Status::InvalidArgument(entry() + " mask" + why);
    }
    const bool prev = options.temporal && !job.previous.empty();
    if (prev) {
      if (const char* why = Gray8Problem(job.previous); *why) {
        return Status::InvalidArgument(entry() + " previous mask" + why);
      }
      if (job.previous.width != job.mask.width || job.previous.height != job.mask.height) {
        return Status::InvalidArgument(entry() + ": previous mask is " +
                                       std::to_string(job.previous.width) + "x" +
                                       std::to_string(job.previous.height) + ", mask " +
                                       std::to_string(job.mask.width) + "x" +
                                       std::to_string(job.mask.height));
      }
    }
    Job& j = p.j[n];
    j.slot = job.slot;
    j.mask = job.mask.data[0];
    j.mask_pitch = job.mask.pitch[0];
    j.prev = prev ? job.previous.data[0] : nullptr;
    j.prev_pitch = prev ? job.previous.pitch[0] : 0;
    j.w = job.mask.width;
    j.h = job.mask.height;
    j.roi_x = roi.x;
    j.roi_y = roi.y;
    j.roi_w = roi.width;
    j.roi_h = roi.height;
    j.ratio_x = static_cast<double>(roi.width) / j.w;
    j.ratio_y = static_cast<double>(roi.height) / j.h;
    max_w = std::max(max_w, j.w);
    max_h = std::max(max_h, j.h);
    if (++n == kMaxPostprocessPerLaunch || i + 1 == jobs.size()) {
      const dim3 grid((max_w + kTileX - 1) / kTileX, (max_h + kTileY - 1) / kTileY, n);
      PostprocessKernel<<<grid, block, 0, stream>>>(p);
      VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR("PostprocessKernel");
      n = max_w = max_h = 0;
    }
  }
  return Status::Ok();
}

}  // namespace vrseg::cuda
