// Mask refinement references: temporal smoothing and the fast guided filter.
// The formulas are those of vrseg/imgproc.h; keep them in step.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "imgproc/internal.h"
#include "vrseg/imgproc.h"

namespace vrseg {

using imgproc_internal::CheckHostFrame;
using imgproc_internal::CheckHostFrameAnyFormat;
using imgproc_internal::Describe;
using imgproc_internal::RoundU8;

// ---- temporal ---------------------------------------------------------------------------------

Status SmoothTemporal(const Frame& current, const Frame& previous, const TemporalOptions& options,
                      Frame* out) {
  if (!(options.factor > 0.f && options.factor <= 1.f) ||
      !(options.hysteresis >= 0.f && options.hysteresis < 1.f)) {
    return Status::InvalidArgument("TemporalOptions: factor must be in (0,1] and hysteresis in [0,1)");
  }
  if (out == nullptr) return Status::InvalidArgument("SmoothTemporal: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrameAnyFormat(current, "SmoothTemporal current"));
  const PixelFormat f = current.format;
  if (f != PixelFormat::kGray8 && f != PixelFormat::kGrayF32) {
    return Status::InvalidArgument("SmoothTemporal: " + Describe(current) +
                                   " must be gray8 or grayf32");
  }
  const bool have_prev = !previous.empty();
  if (have_prev) {
    VRSEG_RETURN_IF_ERROR(CheckHostFrame(previous, f, "SmoothTemporal previous"));
    if (previous.width != current.width || previous.height != current.height) {
      return Status::InvalidArgument("SmoothTemporal: previous " + Describe(previous) +
                                     " and current " + Describe(current) + " differ in size");
    }
  }
  const int W = current.width, H = current.height;
  if (out->empty() || out->format != f || out->width != W || out->height != H ||
      out->memory == MemoryKind::kDevice) {
    VRSEG_ASSIGN_OR_RETURN(Frame fresh, Frame::Allocate(f, W, H));
    fresh.CopyMetadataFrom(current);
    *out = fresh;
  }
  const float a = options.factor;
  for (int y = 0; y < H; ++y) {
    const uint8_t* crow = current.data[0] + y * current.pitch[0];
    uint8_t* orow = out->data[0] + y * out->pitch[0];
    if (!have_prev) {
      if (orow != crow) std::copy(crow, crow + PlaneRowBytes(f, W, 0), orow);
      continue;
    }
    const uint8_t* prow = previous.data[0] + y * previous.pitch[0];
    if (f == PixelFormat::kGrayF32) {
      const float* c = reinterpret_cast<const float*>(crow);
      const float* p = reinterpret_cast<const float*>(prow);
      float* o = reinterpret_cast<float*>(orow);
      const float h = options.hysteresis;
      for (int x = 0; x < W; ++x) {
        const float pv = p[x];
        const float e = pv + a * (c[x] - pv);
        o[x] = std::fabs(e - pv) <= h ? pv : e;
      }
    } else {
      const float h = options.hysteresis * 255.f;
      for (int x = 0; x < W; ++x) {
        const float pv = prow[x];
        const float e = pv + a * (static_cast<float>(crow[x]) - pv);
        orow[x] = RoundU8(std::fabs(e - pv) <= h ? pv : e);
      }
    }
  }
  return Status::Ok();
}

Status TemporalSmoother::Apply(const Frame& current, Frame* out) {
  if (out == nullptr) return Status::InvalidArgument("TemporalSmoother: null output");
  const int id = current.stream_id;
  Frame prev;
  if (auto it = previous_.find(id); it != previous_.end()) {
    const Frame& p = it->second;
    if (p.format == current.format && p.width == current.width && p.height == current.height) {
      prev = p;
    }
  }
  // Write into a frame nobody else holds: the spare of this stream, or a fresh one.
  Frame dst;
  if (auto it = spare_.find(id); it != spare_.end()) dst = std::move(it->second);
  spare_.erase(id);
  VRSEG_RETURN_IF_ERROR(SmoothTemporal(current, prev, options_, &dst));
  dst.CopyMetadataFrom(current);
  if (!prev.empty()) spare_[id] = std::move(previous_[id]);
  previous_[id] = dst;
  *out = dst;
  return Status::Ok();
}

// ---- fast guided filter ----------------------------------------------------------------------

namespace {

// In-place box mean over [i-r, i+r] x [j-r, j+r] ∩ grid, divided by the in-bounds count.
// Sums in double (running sums), result stored as float.
void BoxMean(std::vector<float>* img, int w, int h, int r, std::vector<double>* tmp) {
  std::vector<double>& t = *tmp;
  t.assign(static_cast<size_t>(w) * h, 0.0);
  float* a = img->data();
  // Horizontal sums.
  for (int j = 0; j < h; ++j) {
    const float* row = a + static_cast<int64_t>(j) * w;
    double* trow = t.data() + static_cast<int64_t>(j) * w;
    double s = 0.0;
    for (int i = 0; i <= std::min(r, w - 1); ++i) s += row[i];
    for (int i = 0; i < w; ++i) {
      trow[i] = s;
      const int add = i + r + 1, sub = i - r;
      if (add < w) s += row[add];
      if (sub >= 0) s -= row[sub];
    }
  }
  // Vertical sums and normalisation.
  std::vector<double> col(w, 0.0);
  for (int j = 0; j <= std::min(r, h - 1); ++j) {
    const double* trow = t.data() + static_cast<int64_t>(j) * w;
    for (int i = 0; i < w; ++i) col[i] += trow[i];
  }
  for (int j = 0; j < h; ++j) {
    const int ny = std::min(j + r, h - 1) - std::max(j - r, 0) + 1;
    float* out = a + static_cast<int64_t>(j) * w;
    for (int i = 0; i < w; ++i) {
      const int nx = std::min(i + r, w - 1) - std::max(i - r, 0) + 1;
      out[i] = static_cast<float>(col[i] / (static_cast<double>(nx) * ny));
    }
    const int add = j + r + 1, sub = j - r;
    if (add < h) {
      const double* trow = t.data() + static_cast<int64_t>(add) * w;
      for (int i = 0; i < w; ++i) col[i] += trow[i];
    }
    if (sub >= 0) {
      const double* trow = t.data() + static_cast<int64_t>(sub) * w;
      for (int i = 0; i < w; ++i) col[i] -= trow[i];
    }
  }
}

inline float Guidance(const uint8_t* p, GuidanceKind g) {
  if (g == GuidanceKind::kLuma) {
    return (0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2]) / 255.f;
  }
  return (static_cast<float>(p[0]) + p[1] + p[2]) / (3.f * 255.f);
}

}  // namespace

Status GuidedFilterRefine(const Frame& rgb, const Frame& mask, const GuidedFilterOptions& options,
                          Frame* out) {
  if (options.radius < 1 || options.subsample < 1 || !(options.eps > 0.f)) {
    return Status::InvalidArgument("GuidedFilterOptions: radius >= 1, subsample >= 1, eps > 0 required");
  }
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(rgb, PixelFormat::kRGB24, "GuidedFilterRefine guide"));
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(mask, PixelFormat::kGray8, "GuidedFilterRefine mask"));
  if (out == nullptr) return Status::InvalidArgument("GuidedFilterRefine: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*out, PixelFormat::kGray8, "GuidedFilterRefine output"));
  const int W = rgb.width, H = rgb.height;
  if (mask.width != W || mask.height != H || out->width != W || out->height != H) {
    return Status::InvalidArgument("GuidedFilterRefine: guide " + Describe(rgb) + ", mask " +
                                   Describe(mask) + " and output " + Describe(*out) +
                                   " must have the same size");
  }
  const int s = options.subsample;
  const int w = (W + s - 1) / s, h = (H + s - 1) / s;
  const int rl = std::max(1, options.radius / s);
  const size_t n = static_cast<size_t>(w) * h;
  std::vector<float> Is(n, 0.f), ps(n, 0.f), II(n), Ip(n);
  // Block means (sums in float over at most s*s values, divided by the in-bounds count).
  for (int y = 0; y < H; ++y) {
    const uint8_t* g = rgb.data[0] + y * rgb.pitch[0];
    const uint8_t* m = mask.data[0] + y * mask.pitch[0];
    float* irow = Is.data() + static_cast<size_t>(y / s) * w;
    float* prow = ps.data() + static_cast<size_t>(y / s) * w;
    for (int x = 0; x < W; ++x) {
      irow[x / s] += Guidance(g + 3 * x, options.guidance);
      prow[x / s] += m[x] / 255.f;
    }
  }
  for (int j = 0; j < h; ++j) {
    const int by = std::min(s, H - j * s);
    for (int i = 0; i < w; ++i) {
      const int bx = std::min(s, W - i * s);
      const float inv = 1.f / static_cast<float>(bx * by);
      const size_t k = static_cast<size_t>(j) * w + i;
      Is[k] *= inv;
      ps[k] *= inv;
      II[k] = Is[k] * Is[k];
      Ip[k] = Is[k] * ps[k];
    }
  }
  std::vector<double> tmp;
  BoxMean(&Is, w, h, rl, &tmp);  // now mI
  BoxMean(&ps, w, h, rl, &tmp);  // now mp
  BoxMean(&II, w, h, rl, &tmp);
  BoxMean(&Ip, w, h, rl, &tmp);
  // a into II, b into Ip.
  for (size_t k = 0; k < n; ++k) {
    const float mI = Is[k], mp = ps[k];
    const float var = II[k] - mI * mI;
    const float cov = Ip[k] - mI * mp;
    const float a = cov / (var + options.eps);
    II[k] = a;
    Ip[k] = mp - a * mI;
  }
  BoxMean(&II, w, h, rl, &tmp);  // ma
  BoxMean(&Ip, w, h, rl, &tmp);  // mb
  // Upsample and apply.
  std::vector<int> x0(W), x1(W), y0(H), y1(H);
  std::vector<float> wx(W), wy(H);
  auto table = [s](int out_n, int in_n, int* i0, int* i1, float* wt) {
    for (int d = 0; d < out_n; ++d) {
      double sx = (d + 0.5) / s - 0.5;
      sx = std::clamp(sx, 0.0, static_cast<double>(in_n - 1));
      const int a = static_cast<int>(std::floor(sx));
      i0[d] = a;
      i1[d] = std::min(a + 1, in_n - 1);
      wt[d] = static_cast<float>(sx - a);
    }
  };
  table(W, w, x0.data(), x1.data(), wx.data());
  table(H, h, y0.data(), y1.data(), wy.data());
  for (int y = 0; y < H; ++y) {
    const float* a0 = II.data() + static_cast<size_t>(y0[y]) * w;
    const float* a1 = II.data() + static_cast<size_t>(y1[y]) * w;
    const float* b0 = Ip.data() + static_cast<size_t>(y0[y]) * w;
    const float* b1 = Ip.data() + static_cast<size_t>(y1[y]) * w;
    const float ty = wy[y];
    const uint8_t* g = rgb.data[0] + y * rgb.pitch[0];
    uint8_t* o = out->data[0] + y * out->pitch[0];
    for (int x = 0; x < W; ++x) {
      const int i0 = x0[x], i1 = x1[x];
      const float tx = wx[x];
      const float at = a0[i0] + (a0[i1] - a0[i0]) * tx, ab = a1[i0] + (a1[i1] - a1[i0]) * tx;
      const float bt = b0[i0] + (b0[i1] - b0[i0]) * tx, bb = b1[i0] + (b1[i1] - b1[i0]) * tx;
      const float A = at + (ab - at) * ty;
      const float B = bt + (bb - bt) * ty;
      const float q = A * Guidance(g + 3 * x, options.guidance) + B;
      o[x] = RoundU8(q * 255.f);
    }
  }
  return Status::Ok();
}

}  // namespace vrseg
