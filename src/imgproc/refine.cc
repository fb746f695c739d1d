// Mask refinement references: temporal smoothing and the fast guided filter.
// The formulas are those of vrseg/imgproc.h; keep them in step.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "imgproc/internal.h"
#include "vrseg/imgproc.h"

namespace vrseg {

using imgproc_internal::CheckHostFrame;
using imgproc_internal::CheckHostFrameAnyFormat;
using imgproc_internal::RoundU8;

// ---- temporal ---------------------------------------------------------------------------------

Status SmoothTemporal(const Frame& current, const Frame& previous, const TemporalOptions& options,
                      Frame* out) {
  if (!(options.factor > 0.f && options.factor <= 1.f) ||
      !(options.hysteresis >= 0.f && options.hysteresis < 1.f)) {
    return Status::InvalidArgument(
        "TemporalOptions: factor must be in (0,1] and hysteresis in [0,1)");
  }
  if (out == nullptr) return Status::InvalidArgument("SmoothTemporal: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrameAnyFormat(current, "SmoothTemporal current"));
  const PixelFormat f = current.format;
  if (f != PixelFormat::kGray8 && f != PixelFormat::kGrayF32) {
    return Status::InvalidArgument("SmoothTemporal: " + DescribeFrame(current) +
                                   " must be gray8 or grayf32");
  }
  const bool have_prev = !previous.empty();
  if (have_prev) {
    VRSEG_RETURN_IF_ERROR(CheckHostFrame(previous, f, "SmoothTemporal previous"));
    if (previous.width != current.width || previous.height != current.height) {
      return Status::InvalidArgument("SmoothTemporal: previous " + DescribeFrame(previous) +
                                     " and current " + DescribeFrame(current) + " differ in size");
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
      int x = 0;
#if defined(__SSE2__)
      // Four pixels at a time, the same float operations; e and p are in [0, 255], so the clamp
      // of round_u8 is a no-op and truncation of v + 0.5 is the floor.
      const __m128 av = _mm_set1_ps(a), hv = _mm_set1_ps(h), half = _mm_set1_ps(0.5f);
      const __m128 abs_mask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
      const __m128i zero = _mm_setzero_si128();
      for (; x + 4 <= W; x += 4) {
        int32_t cw, pw;
        std::memcpy(&cw, crow + x, 4);
        std::memcpy(&pw, prow + x, 4);
        const __m128 c4 = _mm_cvtepi32_ps(
            _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(cw), zero), zero));
        const __m128 p4 = _mm_cvtepi32_ps(
            _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(pw), zero), zero));
        const __m128 e = _mm_add_ps(p4, _mm_mul_ps(av, _mm_sub_ps(c4, p4)));
        const __m128 keep = _mm_cmple_ps(_mm_and_ps(_mm_sub_ps(e, p4), abs_mask), hv);
        const __m128 v = _mm_or_ps(_mm_and_ps(keep, p4), _mm_andnot_ps(keep, e));
        const __m128i q = _mm_cvttps_epi32(_mm_add_ps(v, half));
        const __m128i q8 = _mm_packus_epi16(_mm_packs_epi32(q, q), zero);
        const int32_t ow = _mm_cvtsi128_si32(q8);
        std::memcpy(orow + x, &ow, 4);
      }
#endif
      for (; x < W; ++x) {
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
    return Status::InvalidArgument(
        "GuidedFilterOptions: radius >= 1, subsample >= 1, eps > 0 required");
  }
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(rgb, PixelFormat::kRGB24, "GuidedFilterRefine guide"));
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(mask, PixelFormat::kGray8, "GuidedFilterRefine mask"));
  if (out == nullptr) return Status::InvalidArgument("GuidedFilterRefine: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*out, PixelFormat::kGray8, "GuidedFilterRefine output"));
  const int W = rgb.width, H = rgb.height;
  if (mask.width != W || mask.height != H || out->width != W || out->height != H) {
    return Status::InvalidArgument("GuidedFilterRefine: guide " + DescribeFrame(rgb) + ", mask " +
                                   DescribeFrame(mask) + " and output " + DescribeFrame(*out) +
                                   " must have the same size");
  }
  const int s = options.subsample;
  const int w = (W + s - 1) / s, h = (H + s - 1) / s;
  const int rl = std::max(1, options.radius / s);
  const size_t n = static_cast<size_t>(w) * h;
  std::vector<float> Is(n, 0.f), ps(n, 0.f), II(n), Ip(n);
  std::vector<float> grow(W);  // one row of the guide I
  // Block means (sums in float over at most s*s values, divided by the in-bounds count).
  for (int y = 0; y < H; ++y) {
    const uint8_t* g = rgb.data[0] + y * rgb.pitch[0];
    const uint8_t* m = mask.data[0] + y * mask.pitch[0];
    for (int x = 0; x < W; ++x) grow[x] = Guidance(g + 3 * x, options.guidance);
    float* irow = Is.data() + static_cast<size_t>(y / s) * w;
    float* prow = ps.data() + static_cast<size_t>(y / s) * w;
    for (int i = 0; i < w; ++i) {
      const int x1 = std::min(i * s + s, W);
      float si = 0.f, sp = 0.f;
      for (int x = i * s; x < x1; ++x) {
        si += grow[x];
        sp += m[x] / 255.f;
      }
      irow[i] += si;
      prow[i] += sp;
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
  // Separable upsampling: the horizontally interpolated full-width rows of ma and mb for the two
  // low-resolution rows in use are cached (same float arithmetic as the 4-tap form).
  std::vector<float> ah0(W), ah1(W), bh0(W), bh1(W), q(W);
  int row0 = -1, row1 = -1;
  auto horizontal = [&](int j, float* ad, float* bd) {
    const float* a = II.data() + static_cast<size_t>(j) * w;
    const float* b = Ip.data() + static_cast<size_t>(j) * w;
    for (int x = 0; x < W; ++x) {
      const int i0 = x0[x], i1 = x1[x];
      const float tx = wx[x];
      ad[x] = a[i0] + (a[i1] - a[i0]) * tx;
      bd[x] = b[i0] + (b[i1] - b[i0]) * tx;
    }
  };
  for (int y = 0; y < H; ++y) {
    if (y0[y] != row0) {
      if (y0[y] == row1) {
        std::swap(ah0, ah1);
        std::swap(bh0, bh1);
        std::swap(row0, row1);
      } else {
        horizontal(y0[y], ah0.data(), bh0.data());
        row0 = y0[y];
      }
    }
    if (y1[y] != row1) {
      horizontal(y1[y], ah1.data(), bh1.data());
      row1 = y1[y];
    }
    const float ty = wy[y];
    const uint8_t* g = rgb.data[0] + y * rgb.pitch[0];
    for (int x = 0; x < W; ++x) grow[x] = Guidance(g + 3 * x, options.guidance);
    for (int x = 0; x < W; ++x) {
      const float A = ah0[x] + (ah1[x] - ah0[x]) * ty;
      const float B = bh0[x] + (bh1[x] - bh0[x]) * ty;
      q[x] = A * grow[x] + B;
    }
    imgproc_internal::UnitFloatsToU8(q.data(), out->data[0] + y * out->pitch[0], W);
  }
  return Status::Ok();
}

}  // namespace vrseg
