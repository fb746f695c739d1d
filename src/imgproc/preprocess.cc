// Preprocessing: resize + colour conversion + normalisation + layout in one pass.
// The formulas are those of vrseg/imgproc.h; keep them in step.

#include <algorithm>
#include <cmath>
#include <string>

#include "imgproc/internal.h"
#include "vrseg/imgproc.h"

namespace vrseg {

using imgproc_internal::CheckHostFrameAnyFormat;

PreprocessOptions PreprocessOptionsFor(const ModelInfo& info, ResizeMode mode) {
  PreprocessOptions o;
  o.out_width = info.input_width;
  o.out_height = info.input_height;
  o.layout = info.input_layout;
  o.bgr = info.input_bgr;
  o.mean = info.mean;
  o.std = info.std;
  o.half_pixel = info.resize_half_pixel;
  o.mode = mode;
  return o;
}

LetterboxRect LetterboxFor(int in_width, int in_height, const PreprocessOptions& options) {
  const int ow = options.out_width, oh = options.out_height;
  if (in_width <= 0 || in_height <= 0 || ow <= 0 || oh <= 0) return {};
  if (options.mode == ResizeMode::kStretch) return {0, 0, ow, oh};
  const double s =
      std::min(static_cast<double>(ow) / in_width, static_cast<double>(oh) / in_height);
  LetterboxRect r;
  r.width = std::clamp(static_cast<int>(std::floor(in_width * s + 0.5)), 1, ow);
  r.height = std::clamp(static_cast<int>(std::floor(in_height * s + 0.5)), 1, oh);
  r.x = (ow - r.width) / 2;
  r.y = (oh - r.height) / 2;
  return r;
}

Result<YuvCoefficients> YuvCoefficientsFor(const ColorInfo& color, int height) {
  double kr, kb;
  switch (color.matrix) {
    case 0:
    case 2:
      if (height < 720) {
        kr = 0.299, kb = 0.114;
      } else {
        kr = 0.2126, kb = 0.0722;
      }
      break;
    case 1:
      kr = 0.2126, kb = 0.0722;
      break;
    case 5:
    case 6:
      kr = 0.299, kb = 0.114;
      break;
    case 9:
      kr = 0.2627, kb = 0.0593;
      break;
    default:
      return Status::Unsupported(
          "YUV matrix code " + std::to_string(color.matrix) +
          " (supported: 1 BT.709, 5/6 BT.601, 9 BT.2020 NCL, 0/2 unspecified)");
  }
  const double kg = 1.0 - kr - kb;
  const bool full = color.range == 2;
  const double ys = full ? 255.0 : 219.0;
  const double cs = full ? 255.0 : 224.0;
  YuvCoefficients c;
  c.y_off = full ? 0.f : 16.f;
  c.cy = static_cast<float>(255.0 / ys);
  c.cr_v = static_cast<float>(255.0 * 2.0 * (1.0 - kr) / cs);
  c.cb_u = static_cast<float>(255.0 * 2.0 * (1.0 - kb) / cs);
  c.cg_u = static_cast<float>(-255.0 * 2.0 * kb * (1.0 - kb) / (kg * cs));
  c.cg_v = static_cast<float>(-255.0 * 2.0 * kr * (1.0 - kr) / (kg * cs));
  return c;
}

namespace {

inline float Clamp255(float v) { return imgproc_internal::Clamp(v, 0.f, 255.f); }

// Sources: RowAt(y) gives what Get needs for one source row; Get writes R, G, B as floats.
// With SSE2, Taps gives the four taps of an output pixel, (x0,r0), (x1,r0), (x0,r1), (x1,r1), as
// vectors [R, G, B, unused]; the float operations are those of the scalar path, lane by lane and
// in the same order, so the results are identical.
#if defined(__SSE2__)
inline __m128 Bytes3(const uint8_t* p, int i0, int i1, int i2) {
  return _mm_cvtepi32_ps(_mm_setr_epi32(p[i0], p[i1], p[i2], 0));
}

#endif

struct PackedSrc {
  const uint8_t* data;
  int64_t pitch;
  int bpp, ri, gi, bi;
  using Row = const uint8_t*;
  Row RowAt(int y) const { return data + y * pitch; }
  void Get(Row row, int x, float* rgb) const {
    const uint8_t* p = row + static_cast<int64_t>(x) * bpp;
    rgb[0] = p[ri];
    rgb[1] = p[gi];
    rgb[2] = p[bi];
  }
#if defined(__SSE2__)
  void Taps(Row r0, Row r1, int x0, int x1, __m128* a, __m128* b, __m128* c, __m128* d) const {
    const int64_t o0 = static_cast<int64_t>(x0) * bpp, o1 = static_cast<int64_t>(x1) * bpp;
    *a = Bytes3(r0 + o0, ri, gi, bi);
    *b = Bytes3(r0 + o1, ri, gi, bi);
    *c = Bytes3(r1 + o0, ri, gi, bi);
    *d = Bytes3(r1 + o1, ri, gi, bi);
  }
#endif
};

struct GraySrc {
  const uint8_t* data;
  int64_t pitch;
  using Row = const uint8_t*;
  Row RowAt(int y) const { return data + y * pitch; }
  void Get(Row row, int x, float* rgb) const { rgb[0] = rgb[1] = rgb[2] = row[x]; }
#if defined(__SSE2__)
  void Taps(Row r0, Row r1, int x0, int x1, __m128* a, __m128* b, __m128* c, __m128* d) const {
    *a = _mm_set1_ps(r0[x0]);
    *b = _mm_set1_ps(r0[x1]);
    *c = _mm_set1_ps(r1[x0]);
    *d = _mm_set1_ps(r1[x1]);
  }
#endif
};

inline void YuvToRgb(const YuvCoefficients& k, int y, int u, int v, float* rgb) {
  const float yf = k.cy * (static_cast<float>(y) - k.y_off);
  const float uf = static_cast<float>(u - 128);
  const float vf = static_cast<float>(v - 128);
  rgb[0] = Clamp255(yf + k.cr_v * vf);
  rgb[1] = Clamp255(yf + k.cg_u * uf + k.cg_v * vf);
  rgb[2] = Clamp255(yf + k.cb_u * uf);
}

#if defined(__SSE2__)
// YUV of the four taps (lanes) → per-tap RGB vectors, as YuvToRgb.
inline void Yuv4ToTaps(const YuvCoefficients& k, __m128i y, __m128i u, __m128i v, __m128* a,
                       __m128* b, __m128* c, __m128* d) {
  const __m128 yf =
      _mm_mul_ps(_mm_set1_ps(k.cy), _mm_sub_ps(_mm_cvtepi32_ps(y), _mm_set1_ps(k.y_off)));
  const __m128 c128 = _mm_set1_ps(128.f);
  const __m128 uf = _mm_sub_ps(_mm_cvtepi32_ps(u), c128);
  const __m128 vf = _mm_sub_ps(_mm_cvtepi32_ps(v), c128);
  const __m128 lo = _mm_setzero_ps(), hi = _mm_set1_ps(255.f);
  auto clamp = [&](__m128 x) { return _mm_min_ps(_mm_max_ps(x, lo), hi); };
  __m128 r = clamp(_mm_add_ps(yf, _mm_mul_ps(_mm_set1_ps(k.cr_v), vf)));
  __m128 g = clamp(_mm_add_ps(_mm_add_ps(yf, _mm_mul_ps(_mm_set1_ps(k.cg_u), uf)),
                              _mm_mul_ps(_mm_set1_ps(k.cg_v), vf)));
  __m128 bl = clamp(_mm_add_ps(yf, _mm_mul_ps(_mm_set1_ps(k.cb_u), uf)));
  __m128 z = _mm_setzero_ps();
  _MM_TRANSPOSE4_PS(r, g, bl, z);  // rows become taps
  *a = r, *b = g, *c = bl, *d = z;
}
#endif

struct Nv12Src {
  const uint8_t* y;
  const uint8_t* uv;
  int64_t py, puv;
  YuvCoefficients k;
  struct Row {
    const uint8_t* y;
    const uint8_t* uv;
  };
  Row RowAt(int r) const { return {y + r * py, uv + (r >> 1) * puv}; }
  void Get(const Row& row, int x, float* rgb) const {
    const uint8_t* c = row.uv + (x >> 1) * 2;
    YuvToRgb(k, row.y[x], c[0], c[1], rgb);
  }
#if defined(__SSE2__)
  void Taps(const Row& r0, const Row& r1, int x0, int x1, __m128* a, __m128* b, __m128* c,
            __m128* d) const {
    const int c0 = (x0 >> 1) * 2, c1 = (x1 >> 1) * 2;
    Yuv4ToTaps(k, _mm_setr_epi32(r0.y[x0], r0.y[x1], r1.y[x0], r1.y[x1]),
               _mm_setr_epi32(r0.uv[c0], r0.uv[c1], r1.uv[c0], r1.uv[c1]),
               _mm_setr_epi32(r0.uv[c0 + 1], r0.uv[c1 + 1], r1.uv[c0 + 1], r1.uv[c1 + 1]), a, b, c,
               d);
  }
#endif
};

struct I420Src {
  const uint8_t* y;
  const uint8_t* u;
  const uint8_t* v;
  int64_t py, pu, pv;
  YuvCoefficients k;
  struct Row {
    const uint8_t* y;
    const uint8_t* u;
    const uint8_t* v;
  };
  Row RowAt(int r) const { return {y + r * py, u + (r >> 1) * pu, v + (r >> 1) * pv}; }
  void Get(const Row& row, int x, float* rgb) const {
    YuvToRgb(k, row.y[x], row.u[x >> 1], row.v[x >> 1], rgb);
  }
#if defined(__SSE2__)
  void Taps(const Row& r0, const Row& r1, int x0, int x1, __m128* a, __m128* b, __m128* c,
            __m128* d) const {
    const int c0 = x0 >> 1, c1 = x1 >> 1;
    Yuv4ToTaps(k, _mm_setr_epi32(r0.y[x0], r0.y[x1], r1.y[x0], r1.y[x1]),
               _mm_setr_epi32(r0.u[c0], r0.u[c1], r1.u[c0], r1.u[c1]),
               _mm_setr_epi32(r0.v[c0], r0.v[c1], r1.v[c0], r1.v[c1]), a, b, c, d);
  }
#endif
};

inline void Store(float* p, float v) { *p = v; }
inline void Store(uint16_t* p, float v) { *p = imgproc_internal::FloatToHalfInline(v); }

struct Norm {
  float scale[3];  // in output channel order
  float bias[3];
};

template <bool kNchw, class Src, typename T>
void Kernel(const Src& src, const Preprocessor::Tables& t, const Norm& n, bool bgr, int W, int H,
            T* out) {
  const LetterboxRect& r = t.rect;
  const int64_t plane = static_cast<int64_t>(W) * H;
  // Output channel of source channel c.
  const int oc0 = bgr ? 2 : 0, oc2 = bgr ? 0 : 2;
  const float s0 = n.scale[oc0], s1 = n.scale[1], s2 = n.scale[oc2];
  const float b0 = n.bias[oc0], b1 = n.bias[1], b2 = n.bias[oc2];
#if defined(__SSE2__)
  const __m128 sv = _mm_setr_ps(s0, s1, s2, 0.f), bv = _mm_setr_ps(b0, b1, b2, 0.f);
#endif
  for (int j = 0; j < r.height; ++j) {
    const int oy = r.y + j;
    const auto r0 = src.RowAt(t.y0[j]);
    const auto r1 = src.RowAt(t.y1[j]);
    const float wy = t.wy[j];
#if defined(__SSE2__)
    const __m128 wyv = _mm_set1_ps(wy);
#endif
    T* row_out = kNchw ? out + static_cast<int64_t>(oy) * W + r.x
                       : out + (static_cast<int64_t>(oy) * W + r.x) * 3;
    for (int i = 0; i < r.width; ++i) {
      const int x0 = t.x0[i], x1 = t.x1[i];
      const float wx = t.wx[i];
#if defined(__SSE2__)
      __m128 a, b, c, d;
      src.Taps(r0, r1, x0, x1, &a, &b, &c, &d);
      const __m128 wxv = _mm_set1_ps(wx);
      const __m128 top = _mm_add_ps(a, _mm_mul_ps(_mm_sub_ps(b, a), wxv));
      const __m128 bot = _mm_add_ps(c, _mm_mul_ps(_mm_sub_ps(d, c), wxv));
      const __m128 val = _mm_add_ps(top, _mm_mul_ps(_mm_sub_ps(bot, top), wyv));
      alignas(16) float o[4];
      _mm_store_ps(o, _mm_add_ps(_mm_mul_ps(val, sv), bv));
      const float o0 = o[0], o1 = o[1], o2 = o[2];
#else
      float a[3], b[3], c[3], d[3], v[3];
      src.Get(r0, x0, a);
      src.Get(r0, x1, b);
      src.Get(r1, x0, c);
      src.Get(r1, x1, d);
      for (int ch = 0; ch < 3; ++ch) {
        const float top = a[ch] + (b[ch] - a[ch]) * wx;
        const float bot = c[ch] + (d[ch] - c[ch]) * wx;
        v[ch] = top + (bot - top) * wy;
      }
      const float o0 = v[0] * s0 + b0, o1 = v[1] * s1 + b1, o2 = v[2] * s2 + b2;
#endif
      if constexpr (kNchw) {
        Store(row_out + oc0 * plane + i, o0);
        Store(row_out + plane + i, o1);
        Store(row_out + oc2 * plane + i, o2);
      } else {
        T* p = row_out + i * 3;
        Store(p + oc0, o0);
        Store(p + 1, o1);
        Store(p + oc2, o2);
      }
    }
  }
}

template <class Src, typename T>
void Dispatch(const Src& src, const Preprocessor::Tables& t, const Norm& n,
              const PreprocessOptions& o, T* out) {
  if (o.layout == TensorLayout::kNCHW) {
    Kernel<true>(src, t, n, o.bgr, o.out_width, o.out_height, out);
  } else {
    Kernel<false>(src, t, n, o.bgr, o.out_width, o.out_height, out);
  }
}

template <typename T>
void FillPadding(const LetterboxRect& r, const Norm& n, const PreprocessOptions& o, T* out) {
  const int W = o.out_width, H = o.out_height;
  if (r.x == 0 && r.y == 0 && r.width == W && r.height == H) return;
  T pad[3];
  for (int c = 0; c < 3; ++c) Store(&pad[c], n.bias[c]);
  const int64_t plane = static_cast<int64_t>(W) * H;
  for (int y = 0; y < H; ++y) {
    const bool inside_rows = y >= r.y && y < r.y + r.height;
    for (int x = 0; x < W; ++x) {
      if (inside_rows && x >= r.x && x < r.x + r.width) {
        x = r.x + r.width - 1;
        continue;
      }
      const int64_t i = static_cast<int64_t>(y) * W + x;
      for (int c = 0; c < 3; ++c) {
        if (o.layout == TensorLayout::kNCHW) {
          out[c * plane + i] = pad[c];
        } else {
          out[i * 3 + c] = pad[c];
        }
      }
    }
  }
}

Status CheckOptions(const PreprocessOptions& o) {
  if (o.out_width <= 0 || o.out_height <= 0) {
    return Status::InvalidArgument("PreprocessOptions: out_width/out_height must be > 0, got " +
                                   std::to_string(o.out_width) + "x" +
                                   std::to_string(o.out_height));
  }
  for (int c = 0; c < 3; ++c) {
    if (!(std::isfinite(o.std[c]) && o.std[c] != 0.f) || !std::isfinite(o.mean[c])) {
      return Status::InvalidArgument("PreprocessOptions: std[" + std::to_string(c) +
                                     "] must be finite and non-zero, mean[" + std::to_string(c) +
                                     "] finite");
    }
  }
  return Status::Ok();
}

void BuildAxis(int in_n, int out_n, bool half_pixel, std::vector<int>* i0, std::vector<int>* i1,
               std::vector<float>* w) {
  i0->resize(out_n);
  i1->resize(out_n);
  w->resize(out_n);
  const double ratio = static_cast<double>(in_n) / out_n;
  for (int d = 0; d < out_n; ++d) {
    double s = half_pixel ? (d + 0.5) * ratio - 0.5 : d * ratio;
    s = std::clamp(s, 0.0, static_cast<double>(in_n - 1));
    const int a = static_cast<int>(std::floor(s));
    (*i0)[d] = a;
    (*i1)[d] = std::min(a + 1, in_n - 1);
    (*w)[d] = static_cast<float>(s - a);
  }
}

}  // namespace

Result<Preprocessor> Preprocessor::Create(const PreprocessOptions& options) {
  VRSEG_RETURN_IF_ERROR(CheckOptions(options));
  return Preprocessor(options);
}

const Preprocessor::Tables& Preprocessor::TablesFor(int in_width, int in_height) {
  if (tables_.in_width == in_width && tables_.in_height == in_height && !tables_.x0.empty()) {
    return tables_;
  }
  tables_.in_width = in_width;
  tables_.in_height = in_height;
  tables_.rect = LetterboxFor(in_width, in_height, options_);
  BuildAxis(in_width, tables_.rect.width, options_.half_pixel, &tables_.x0, &tables_.x1,
            &tables_.wx);
  BuildAxis(in_height, tables_.rect.height, options_.half_pixel, &tables_.y0, &tables_.y1,
            &tables_.wy);
  return tables_;
}

template <typename T>
Status Preprocessor::RunImpl(const Frame& in, T* out) {
  VRSEG_RETURN_IF_ERROR(CheckHostFrameAnyFormat(in, "Preprocess input"));
  if (out == nullptr) return Status::InvalidArgument("Preprocess: null output for " + DescribeFrame(in));
  const Tables& t = TablesFor(in.width, in.height);
  Norm n;
  for (int c = 0; c < 3; ++c) {
    n.scale[c] = 1.0f / (255.0f * options_.std[c]);
    n.bias[c] = -options_.mean[c] / options_.std[c];
  }
  FillPadding(t.rect, n, options_, out);
  switch (in.format) {
    case PixelFormat::kRGB24:
      Dispatch(PackedSrc{in.data[0], in.pitch[0], 3, 0, 1, 2}, t, n, options_, out);
      break;
    case PixelFormat::kBGR24:
      Dispatch(PackedSrc{in.data[0], in.pitch[0], 3, 2, 1, 0}, t, n, options_, out);
      break;
    case PixelFormat::kRGBA:
      Dispatch(PackedSrc{in.data[0], in.pitch[0], 4, 0, 1, 2}, t, n, options_, out);
      break;
    case PixelFormat::kBGRA:
      Dispatch(PackedSrc{in.data[0], in.pitch[0], 4, 2, 1, 0}, t, n, options_, out);
      break;
    case PixelFormat::kGray8:
      Dispatch(GraySrc{in.data[0], in.pitch[0]}, t, n, options_, out);
      break;
    case PixelFormat::kNV12:
    case PixelFormat::kI420: {
      auto k = YuvCoefficientsFor(in.color, in.height);
      if (!k.ok()) return k.status().WithContext("Preprocess: " + DescribeFrame(in));
      if (in.format == PixelFormat::kNV12) {
        Dispatch(Nv12Src{in.data[0], in.data[1], in.pitch[0], in.pitch[1], *k}, t, n, options_,
                 out);
      } else {
        Dispatch(
            I420Src{in.data[0], in.data[1], in.data[2], in.pitch[0], in.pitch[1], in.pitch[2], *k},
            t, n, options_, out);
      }
      break;
    }
    default:
      return Status::Unsupported("Preprocess: pixel format " +
                                 std::string(PixelFormatName(in.format)) + " of " + DescribeFrame(in) +
                                 " (supported: rgb24, bgr24, rgba, bgra, nv12, i420, gray8)");
  }
  return Status::Ok();
}

Status ToRgb24(const Frame& in, Frame* out) {
  if (out == nullptr) return Status::InvalidArgument("ToRgb24: null output");
  if (in.empty() || in.width <= 0 || in.height <= 0) {
    return Status::InvalidArgument("ToRgb24: empty " + DescribeFrame(in));
  }
  if (in.memory == MemoryKind::kDevice) {
    return Status::InvalidArgument("ToRgb24: " + DescribeFrame(in) + " is on the device");
  }
  YuvCoefficients k{};
  switch (in.format) {
    case PixelFormat::kRGB24:
    case PixelFormat::kBGR24:
    case PixelFormat::kRGBA:
    case PixelFormat::kBGRA:
    case PixelFormat::kGray8:
      break;
    case PixelFormat::kNV12:
    case PixelFormat::kI420: {
      auto kk = YuvCoefficientsFor(in.color, in.height);
      if (!kk.ok()) return kk.status().WithContext("ToRgb24: " + DescribeFrame(in));
      k = *kk;
      break;
    }
    default:
      return Status::Unsupported("ToRgb24: pixel format " + std::string(PixelFormatName(in.format)) +
                                 " of " + DescribeFrame(in));
  }
  if (out->empty() || out->format != PixelFormat::kRGB24 || out->width != in.width ||
      out->height != in.height || out->memory == MemoryKind::kDevice) {
    VRSEG_ASSIGN_OR_RETURN(*out, Frame::Allocate(PixelFormat::kRGB24, in.width, in.height));
  }
  auto round8 = [](float v) { return static_cast<uint8_t>(v + 0.5f); };
  for (int y = 0; y < in.height; ++y) {
    const uint8_t* r0 = in.data[0] + y * in.pitch[0];
    uint8_t* o = out->data[0] + y * out->pitch[0];
    for (int x = 0; x < in.width; ++x, o += 3) {
      switch (in.format) {
        case PixelFormat::kRGB24: o[0] = r0[3 * x], o[1] = r0[3 * x + 1], o[2] = r0[3 * x + 2]; break;
        case PixelFormat::kBGR24: o[0] = r0[3 * x + 2], o[1] = r0[3 * x + 1], o[2] = r0[3 * x]; break;
        case PixelFormat::kRGBA: o[0] = r0[4 * x], o[1] = r0[4 * x + 1], o[2] = r0[4 * x + 2]; break;
        case PixelFormat::kBGRA: o[0] = r0[4 * x + 2], o[1] = r0[4 * x + 1], o[2] = r0[4 * x]; break;
        case PixelFormat::kGray8: o[0] = o[1] = o[2] = r0[x]; break;
        default: {
          int u, v;
          if (in.format == PixelFormat::kNV12) {
            const uint8_t* c = in.data[1] + (y >> 1) * in.pitch[1] + 2 * (x >> 1);
            u = c[0], v = c[1];
          } else {
            u = in.data[1][(y >> 1) * in.pitch[1] + (x >> 1)];
            v = in.data[2][(y >> 1) * in.pitch[2] + (x >> 1)];
          }
          float rgb[3];
          YuvToRgb(k, r0[x], u, v, rgb);
          o[0] = round8(rgb[0]), o[1] = round8(rgb[1]), o[2] = round8(rgb[2]);
        }
      }
    }
  }
  out->CopyMetadataFrom(in);
  return Status::Ok();
}

Status Preprocessor::Run(const Frame& in, float* out) { return RunImpl(in, out); }
Status Preprocessor::RunF16(const Frame& in, uint16_t* out) { return RunImpl(in, out); }

Status Preprocessor::RunToTensor(const Frame& in, const Tensor& tensor, int64_t slot) {
  const int W = options_.out_width, H = options_.out_height;
  const std::vector<int64_t> want = options_.layout == TensorLayout::kNCHW
                                        ? std::vector<int64_t>{3, H, W}
                                        : std::vector<int64_t>{H, W, 3};
  const bool shape_ok =
      tensor.shape.size() == 4 && std::equal(want.begin(), want.end(), tensor.shape.begin() + 1);
  if (!shape_ok) {
    return Status::InvalidArgument(
        "Preprocess: tensor shape " + ShapeToString(tensor.shape) +
        " does not match the options (" + std::to_string(W) + "x" + std::to_string(H) + ", " +
        (options_.layout == TensorLayout::kNCHW ? "NCHW" : "NHWC") + ")");
  }
  if (tensor.data == nullptr || tensor.memory == MemoryKind::kDevice) {
    return Status::InvalidArgument("Preprocess: tensor is null or on the device");
  }
  if (slot < 0 || (tensor.shape[0] >= 0 && slot >= tensor.shape[0])) {
    return Status::InvalidArgument("Preprocess: batch slot " + std::to_string(slot) +
                                   " out of range for shape " + ShapeToString(tensor.shape));
  }
  switch (tensor.dtype) {
    case DType::kFloat32:
      return Run(in, static_cast<float*>(tensor.slot(slot)));
    case DType::kFloat16:
      return RunF16(in, static_cast<uint16_t*>(tensor.slot(slot)));
    default:
      return Status::InvalidArgument(std::string("Preprocess: tensor dtype ") +
                                     DTypeName(tensor.dtype) + " (expected float32 or float16)");
  }
}

Status Preprocess(const Frame& in, const PreprocessOptions& options, float* out) {
  VRSEG_ASSIGN_OR_RETURN(Preprocessor p, Preprocessor::Create(options));
  return p.Run(in, out);
}

Status PreprocessF16(const Frame& in, const PreprocessOptions& options, uint16_t* out) {
  VRSEG_ASSIGN_OR_RETURN(Preprocessor p, Preprocessor::Create(options));
  return p.RunF16(in, out);
}

}  // namespace vrseg
