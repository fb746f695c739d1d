// Compositing, box blur, RGBA and NV12 output helpers.
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
using imgproc_internal::HalfPixelTable;
using imgproc_internal::RoundU8;

namespace {

constexpr int kMaxBlurRadius = 4095;  // keeps the float division below exact

// floor(n / d) for integers 0 <= n <= 256 d, d <= 8191, as floor((n + 0.5) * (1/d)) in float:
// (n + 0.5)/d is at least 0.5/d away from an integer, and the float error (two roundings,
// < 2^-23 * 256) is smaller than that for d < 16384. Floats vectorise; 64-bit products do not.
struct Divider {
  float inv;
  explicit Divider(uint32_t d) : inv(1.0f / static_cast<float>(d)) {}
  uint32_t operator()(uint32_t n) const {
    return static_cast<uint32_t>(
        static_cast<int32_t>((static_cast<float>(static_cast<int32_t>(n)) + 0.5f) * inv));
  }
};

// One horizontal box pass, src rows → dst rows (distinct buffers), all byte channels alike.
// The channels of a pixel are summed side by side (kCh is 1, 3 or 4) so their running sums overlap.
template <int kCh>
void BoxHImpl(const uint8_t* src, int64_t spitch, uint8_t* dst, int64_t dpitch, int W, int H, int r,
              const Divider& div) {
  for (int y = 0; y < H; ++y) {
    const uint8_t* s = src + y * spitch;
    uint8_t* d = dst + y * dpitch;
    uint32_t sum[kCh];
    for (int c = 0; c < kCh; ++c) {
      sum[c] = static_cast<uint32_t>(r + 1) * s[c];
      for (int k = 1; k <= r; ++k) sum[c] += s[std::min(k, W - 1) * kCh + c];
    }
    for (int x = 0; x < W; ++x) {
      const int add = std::min(x + r + 1, W - 1) * kCh;
      const int sub = std::max(x - r, 0) * kCh;
      for (int c = 0; c < kCh; ++c) {
        d[x * kCh + c] = static_cast<uint8_t>(div(sum[c] + r));
        sum[c] += static_cast<uint32_t>(s[add + c]) - s[sub + c];
      }
    }
  }
}

void BoxH(const uint8_t* src, int64_t spitch, uint8_t* dst, int64_t dpitch, int W, int H, int ch,
          int r, const Divider& div) {
  switch (ch) {
    case 1:
      BoxHImpl<1>(src, spitch, dst, dpitch, W, H, r, div);
      break;
    case 3:
      BoxHImpl<3>(src, spitch, dst, dpitch, W, H, r, div);
      break;
    default:
      BoxHImpl<4>(src, spitch, dst, dpitch, W, H, r, div);
      break;
  }
}

// One vertical box pass, src rows → dst rows (distinct buffers). `col` holds W*ch sums.
void BoxV(const uint8_t* src, int64_t spitch, uint8_t* dst, int64_t dpitch, int W, int H, int ch,
          int r, const Divider& div, std::vector<uint32_t>* colv) {
  const int n = W * ch;
  colv->assign(n, 0);
  uint32_t* col = colv->data();
  const uint8_t* row0 = src;
  for (int i = 0; i < n; ++i) col[i] = static_cast<uint32_t>(r + 1) * row0[i];
  for (int k = 1; k <= r; ++k) {
    const uint8_t* row = src + std::min(k, H - 1) * spitch;
    for (int i = 0; i < n; ++i) col[i] += row[i];
  }
  for (int y = 0; y < H; ++y) {
    uint8_t* d = dst + y * dpitch;
    for (int i = 0; i < n; ++i) d[i] = static_cast<uint8_t>(div(col[i] + r));
    const uint8_t* add = src + std::min(y + r + 1, H - 1) * spitch;
    const uint8_t* sub = src + std::max(y - r, 0) * spitch;
    for (int i = 0; i < n; ++i) col[i] += static_cast<uint32_t>(add[i]) - sub[i];
  }
}

}  // namespace

Status BoxBlur3(const Frame& src, int radius, Frame* out, Frame* scratch) {
  VRSEG_RETURN_IF_ERROR(CheckHostFrameAnyFormat(src, "BoxBlur3 input"));
  if (!IsPacked8(src.format)) {
    return Status::InvalidArgument("BoxBlur3: " + DescribeFrame(src) + " is not a packed 8-bit format");
  }
  if (radius < 1 || radius > kMaxBlurRadius) {
    return Status::InvalidArgument("BoxBlur3: radius " + std::to_string(radius) +
                                   " outside [1, 4095]");
  }
  if (out == nullptr || scratch == nullptr) {
    return Status::InvalidArgument("BoxBlur3: null output or scratch");
  }
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*out, src.format, "BoxBlur3 output"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(src, *out, "BoxBlur3"));
  const int W = src.width, H = src.height, ch = BytesPerPixel(src.format);
  if (scratch->empty() || scratch->format != src.format || scratch->width != W ||
      scratch->height != H || scratch->memory == MemoryKind::kDevice) {
    VRSEG_ASSIGN_OR_RETURN(*scratch, Frame::Allocate(src.format, W, H));
  }
  const Divider div(static_cast<uint32_t>(2 * radius + 1));
  std::vector<uint32_t> col;
  const uint8_t* in = src.data[0];
  int64_t in_pitch = src.pitch[0];
  for (int pass = 0; pass < 3; ++pass) {
    BoxH(in, in_pitch, scratch->data[0], scratch->pitch[0], W, H, ch, radius, div);
    BoxV(scratch->data[0], scratch->pitch[0], out->data[0], out->pitch[0], W, H, ch, radius, div,
         &col);
    in = out->data[0];
    in_pitch = out->pitch[0];
  }
  return Status::Ok();
}

Compositor::Compositor(CompositeOptions options) : options_(std::move(options)) {}

Status Compositor::Compose(const Frame& rgb, const Frame& mask, Frame* out) {
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(rgb, PixelFormat::kRGB24, "Compose frame"));
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(mask, PixelFormat::kGray8, "Compose mask"));
  if (out == nullptr) return Status::InvalidArgument("Compose: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*out, PixelFormat::kRGB24, "Compose output"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, mask, "Compose"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, *out, "Compose"));
  const int W = rgb.width, H = rgb.height;

  const uint8_t* bg = nullptr;  // background rows (pitch bg_pitch) or null for a colour
  int64_t bg_pitch = 0;
  switch (options_.background) {
    case BackgroundKind::kColor:
      break;
    case BackgroundKind::kImage: {
      const Frame& img = options_.image;
      VRSEG_RETURN_IF_ERROR(CheckHostFrame(img, PixelFormat::kRGB24, "Compose background image"));
      if (scaled_image_.empty() || scaled_image_.width != W || scaled_image_.height != H) {
        VRSEG_ASSIGN_OR_RETURN(Frame scaled, Frame::Allocate(PixelFormat::kRGB24, W, H));
        const double s =
            std::max(static_cast<double>(W) / img.width, static_cast<double>(H) / img.height);
        const double ox = (img.width - W / s) / 2, oy = (img.height - H / s) / 2;
        std::vector<int> x0(W), x1(W), y0(H), y1(H);
        std::vector<float> wx(W), wy(H);
        HalfPixelTable(W, img.width, 1.0 / s, ox, x0.data(), x1.data(), wx.data());
        HalfPixelTable(H, img.height, 1.0 / s, oy, y0.data(), y1.data(), wy.data());
        for (int y = 0; y < H; ++y) {
          const uint8_t* r0 = img.data[0] + y0[y] * img.pitch[0];
          const uint8_t* r1 = img.data[0] + y1[y] * img.pitch[0];
          uint8_t* d = scaled.data[0] + y * scaled.pitch[0];
          const float ty = wy[y];
          for (int x = 0; x < W; ++x) {
            const int a = 3 * x0[x], b = 3 * x1[x];
            const float tx = wx[x];
            for (int c = 0; c < 3; ++c) {
              const float top = r0[a + c] + (static_cast<float>(r0[b + c]) - r0[a + c]) * tx;
              const float bot = r1[a + c] + (static_cast<float>(r1[b + c]) - r1[a + c]) * tx;
              d[3 * x + c] = RoundU8(top + (bot - top) * ty);
            }
          }
        }
        scaled_image_ = std::move(scaled);
      }
      bg = scaled_image_.data[0];
      bg_pitch = scaled_image_.pitch[0];
      break;
    }
    case BackgroundKind::kBlur: {
      int r = options_.blur_radius;
      if (r <= 0) {
        r = std::max(
            1,
            static_cast<int>(std::floor(
                std::sqrt(static_cast<double>(W) * W + static_cast<double>(H) * H) / 40.0 + 0.5)));
      }
      if (blurred_.empty() || blurred_.width != W || blurred_.height != H) {
        VRSEG_ASSIGN_OR_RETURN(blurred_, Frame::Allocate(PixelFormat::kRGB24, W, H));
      }
      VRSEG_RETURN_IF_ERROR(BoxBlur3(rgb, r, &blurred_, &scratch_).WithContext("Compose blur"));
      bg = blurred_.data[0];
      bg_pitch = blurred_.pitch[0];
      break;
    }
  }
  // Flat loops over the 3W bytes of a row (they vectorise): the mask expanded to three bytes per
  // pixel, and for kColor a row of the repeated colour. round((m f + (255-m) b) / 255) is computed
  // as y = m f + (255-m) b + 128, (y + (y >> 8)) >> 8, equal to (x + 127) / 255 for every
  // m, f, b in [0, 255] (checked exhaustively) and exact in 16 bits.
  const size_t n = static_cast<size_t>(W) * 3;
  mask3_.resize(n);
  if (bg == nullptr) {
    color_row_.resize(n);
    for (int x = 0; x < W; ++x) {
      for (int c = 0; c < 3; ++c) color_row_[3 * x + c] = options_.color[c];
    }
  }
  for (int y = 0; y < H; ++y) {
    const uint8_t* f = rgb.data[0] + y * rgb.pitch[0];
    const uint8_t* m = mask.data[0] + y * mask.pitch[0];
    const uint8_t* b = bg ? bg + y * bg_pitch : color_row_.data();
    uint8_t* o = out->data[0] + y * out->pitch[0];
    uint8_t* m3 = mask3_.data();
    for (int x = 0; x < W; ++x) m3[3 * x] = m3[3 * x + 1] = m3[3 * x + 2] = m[x];
    for (size_t i = 0; i < n; ++i) {
      const uint16_t a = m3[i];
      const uint16_t v = static_cast<uint16_t>(a * f[i] + (255 - a) * b[i] + 128);
      o[i] = static_cast<uint8_t>((v + (v >> 8)) >> 8);
    }
  }
  return Status::Ok();
}

Status MakeRgba(const Frame& rgb, const Frame& mask, Frame* out) {
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(rgb, PixelFormat::kRGB24, "MakeRgba frame"));
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(mask, PixelFormat::kGray8, "MakeRgba mask"));
  if (out == nullptr) return Status::InvalidArgument("MakeRgba: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*out, PixelFormat::kRGBA, "MakeRgba output"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, mask, "MakeRgba"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, *out, "MakeRgba"));
  for (int y = 0; y < rgb.height; ++y) {
    const uint8_t* f = rgb.data[0] + y * rgb.pitch[0];
    const uint8_t* m = mask.data[0] + y * mask.pitch[0];
    uint8_t* o = out->data[0] + y * out->pitch[0];
    for (int x = 0; x < rgb.width; ++x) {
      o[4 * x] = f[3 * x];
      o[4 * x + 1] = f[3 * x + 1];
      o[4 * x + 2] = f[3 * x + 2];
      o[4 * x + 3] = m[x];
    }
  }
  return Status::Ok();
}

Status RgbToNv12(const Frame& rgb, Frame* out) {
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(rgb, PixelFormat::kRGB24, "RgbToNv12 input"));
  if (out == nullptr) return Status::InvalidArgument("RgbToNv12: null output");
  VRSEG_RETURN_IF_ERROR(CheckHostFrame(*out, PixelFormat::kNV12, "RgbToNv12 output"));
  VRSEG_RETURN_IF_ERROR(CheckSameSize(rgb, *out, "RgbToNv12"));
  constexpr float kr = 0.2126f, kg = 0.7152f, kb = 0.0722f;
  constexpr float ky = 219.f / 255.f;
  constexpr float ku = 224.f / (1.8556f * 255.f), kv = 224.f / (1.5748f * 255.f);
  const int W = rgb.width, H = rgb.height;
  // Luma: a float row chunk (on the stack), then vectorised rounding.
  constexpr int kChunk = 256;
  float lum[kChunk];
  for (int y = 0; y < H; ++y) {
    const uint8_t* src = rgb.data[0] + y * rgb.pitch[0];
    uint8_t* dst = out->data[0] + y * out->pitch[0];
    for (int x0 = 0; x0 < W; x0 += kChunk) {
      const int n = std::min(kChunk, W - x0);
      const uint8_t* p = src + 3 * x0;
      for (int i = 0; i < n; ++i) {
        const float r = p[3 * i], g = p[3 * i + 1], b = p[3 * i + 2];
        lum[i] = 16.f + ky * (kr * r + kg * g + kb * b);
      }
      imgproc_internal::RoundU8Row(lum, dst + x0, n);
    }
  }
  // Chroma per 2x2 block (sums of at most four bytes: exact in float in any order).
  for (int y = 0; y < H; y += 2) {
    const uint8_t* s0 = rgb.data[0] + y * rgb.pitch[0];
    const bool two_rows = y + 1 < H;
    const uint8_t* s1 = two_rows ? s0 + rgb.pitch[0] : s0;
    uint8_t* uv = out->data[1] + (y / 2) * out->pitch[1];
    for (int x = 0; x < W; x += 2) {
      const bool two_cols = x + 1 < W;
      int sr = s0[3 * x], sg = s0[3 * x + 1], sb = s0[3 * x + 2];
      int n = 1;
      if (two_cols) sr += s0[3 * x + 3], sg += s0[3 * x + 4], sb += s0[3 * x + 5], ++n;
      if (two_rows) {
        sr += s1[3 * x], sg += s1[3 * x + 1], sb += s1[3 * x + 2], ++n;
        if (two_cols) sr += s1[3 * x + 3], sg += s1[3 * x + 4], sb += s1[3 * x + 5], ++n;
      }
      const float inv = 1.f / static_cast<float>(n);
      const float r = static_cast<float>(sr) * inv, g = static_cast<float>(sg) * inv,
                  b = static_cast<float>(sb) * inv;
      const float yl = kr * r + kg * g + kb * b;
      uv[x] = RoundU8(128.f + ku * (b - yl));
      uv[x + 1] = RoundU8(128.f + kv * (r - yl));
    }
  }
  out->color = ColorInfo{1, 1, 1, 1};
  return Status::Ok();
}

}  // namespace vrseg
