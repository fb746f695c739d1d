// Helpers for the imgproc tests: seeded random frames with odd pitches, and plain double-precision
// reference implementations written from the formulas in vrseg/imgproc.h, independently of src/.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/imgproc.h"

namespace vrseg::testing {

// A host frame whose planes have `extra` bytes of padding per row (odd pitches when extra is odd),
// filled with seeded random bytes (padding included, so reading it would show).
inline Frame RandomFrame(PixelFormat f, int w, int h, int extra, uint32_t seed) {
  std::mt19937 rng(seed);
  std::array<int64_t, 4> pitch{};
  std::array<int64_t, 4> offset{};
  int64_t total = 0;
  for (int p = 0; p < PlaneCount(f); ++p) {
    pitch[p] = PlaneRowBytes(f, w, p) + extra;
    offset[p] = total;
    total += pitch[p] * PlaneRows(f, h, p);
  }
  auto buf = std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(total) + 16);
  std::uniform_int_distribution<int> byte(0, 255);
  for (auto& b : *buf) b = static_cast<uint8_t>(byte(rng));
  Frame fr;
  fr.format = f;
  fr.width = w;
  fr.height = h;
  // Start at an odd address for packed 8-bit data to catch alignment assumptions.
  uint8_t* base = buf->data() + (f == PixelFormat::kGrayF32 ? 0 : 1);
  for (int p = 0; p < PlaneCount(f); ++p) {
    fr.data[p] = base + offset[p];
    fr.pitch[p] = pitch[p];
  }
  fr.storage = std::shared_ptr<void>(buf, buf.get());
  return fr;
}

// A GrayF32 frame (pitch with `extra_floats` of padding) with values uniform in [lo, hi].
inline Frame RandomFloatFrame(int w, int h, int extra_floats, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  const int64_t pitch_floats = w + extra_floats;
  auto buf = std::make_shared<std::vector<float>>(static_cast<size_t>(pitch_floats * h));
  for (auto& v : *buf) v = d(rng);
  Frame fr;
  fr.format = PixelFormat::kGrayF32;
  fr.width = w;
  fr.height = h;
  fr.data[0] = reinterpret_cast<uint8_t*>(buf->data());
  fr.pitch[0] = pitch_floats * 4;
  fr.storage = std::shared_ptr<void>(buf, buf.get());
  return fr;
}

inline float FAt(const Frame& f, int x, int y) {
  return reinterpret_cast<const float*>(f.data[0] + y * f.pitch[0])[x];
}
inline uint8_t At(const Frame& f, int x, int y, int c = 0) {
  return f.data[0][y * f.pitch[0] + static_cast<int64_t>(x) * BytesPerPixel(f.format) + c];
}

// Kr, Kb of a frame by the header's rules.
inline void RefKrKb(const Frame& f, double* kr, double* kb) {
  int m = f.color.matrix;
  if (m == 0 || m == 2) m = f.height < 720 ? 6 : 1;
  if (m == 1)
    *kr = 0.2126, *kb = 0.0722;
  else if (m == 9)
    *kr = 0.2627, *kb = 0.0593;
  else
    *kr = 0.299, *kb = 0.114;
}

// Source RGB of pixel (x, y) in [0,255], in double (step 1 of the header).
inline std::array<double, 3> RefRgb(const Frame& f, int x, int y) {
  const uint8_t* r0 = f.data[0] + y * f.pitch[0];
  switch (f.format) {
    case PixelFormat::kRGB24:
      return {double(r0[3 * x]), double(r0[3 * x + 1]), double(r0[3 * x + 2])};
    case PixelFormat::kBGR24:
      return {double(r0[3 * x + 2]), double(r0[3 * x + 1]), double(r0[3 * x])};
    case PixelFormat::kRGBA:
      return {double(r0[4 * x]), double(r0[4 * x + 1]), double(r0[4 * x + 2])};
    case PixelFormat::kBGRA:
      return {double(r0[4 * x + 2]), double(r0[4 * x + 1]), double(r0[4 * x])};
    case PixelFormat::kGray8:
      return {double(r0[x]), double(r0[x]), double(r0[x])};
    default:
      break;
  }
  double Y = r0[x], U, V;
  if (f.format == PixelFormat::kNV12) {
    const uint8_t* c = f.data[1] + (y / 2) * f.pitch[1] + (x / 2) * 2;
    U = c[0], V = c[1];
  } else {
    U = f.data[1][(y / 2) * f.pitch[1] + x / 2];
    V = f.data[2][(y / 2) * f.pitch[2] + x / 2];
  }
  double kr, kb;
  RefKrKb(f, &kr, &kb);
  const double kg = 1 - kr - kb;
  const bool full = f.color.range == 2;
  const double yp = full ? Y / 255 : (Y - 16) / 219;
  const double pb = (U - 128) / (full ? 255.0 : 224.0);
  const double pr = (V - 128) / (full ? 255.0 : 224.0);
  const double R = yp + 2 * (1 - kr) * pr;
  const double B = yp + 2 * (1 - kb) * pb;
  const double G = (yp - kr * R - kb * B) / kg;  // from the definition Y' = Kr R + Kg G + Kb B
  auto c = [](double v) { return std::clamp(v * 255.0, 0.0, 255.0); };
  return {c(R), c(G), c(B)};
}

// The letterbox rectangle, from the header's words.
inline LetterboxRect RefRect(int iw, int ih, const PreprocessOptions& o) {
  if (o.mode == ResizeMode::kStretch) return {0, 0, o.out_width, o.out_height};
  const double s = std::min(double(o.out_width) / iw, double(o.out_height) / ih);
  LetterboxRect r;
  r.width = std::clamp(int(std::floor(iw * s + 0.5)), 1, o.out_width);
  r.height = std::clamp(int(std::floor(ih * s + 0.5)), 1, o.out_height);
  r.x = (o.out_width - r.width) / 2;
  r.y = (o.out_height - r.height) / 2;
  return r;
}

// One axis of the resize: source coordinate → (i0, i1, w).
inline void RefAxis(int d, int in_n, int out_n, bool half, int* i0, int* i1, double* w) {
  double s = half ? (d + 0.5) * in_n / out_n - 0.5 : double(d) * in_n / out_n;
  s = std::clamp(s, 0.0, double(in_n - 1));
  *i0 = int(std::floor(s));
  *i1 = std::min(*i0 + 1, in_n - 1);
  *w = s - *i0;
}

// Full preprocessing in double; result in o.layout, out_h*out_w*3 values.
inline std::vector<double> RefPreprocess(const Frame& f, const PreprocessOptions& o) {
  const int W = o.out_width, H = o.out_height;
  std::vector<double> out(size_t(W) * H * 3);
  const LetterboxRect r = RefRect(f.width, f.height, o);
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      std::array<double, 3> v{0, 0, 0};  // black
      if (x >= r.x && x < r.x + r.width && y >= r.y && y < r.y + r.height) {
        int x0, x1, y0, y1;
        double wx, wy;
        RefAxis(x - r.x, f.width, r.width, o.half_pixel, &x0, &x1, &wx);
        RefAxis(y - r.y, f.height, r.height, o.half_pixel, &y0, &y1, &wy);
        const auto a = RefRgb(f, x0, y0), b = RefRgb(f, x1, y0), c = RefRgb(f, x0, y1),
                   d = RefRgb(f, x1, y1);
        for (int ch = 0; ch < 3; ++ch) {
          v[ch] = a[ch] * (1 - wx) * (1 - wy) + b[ch] * wx * (1 - wy) + c[ch] * (1 - wx) * wy +
                  d[ch] * wx * wy;
        }
      }
      for (int ch = 0; ch < 3; ++ch) {
        const int oc = o.bgr ? 2 - ch : ch;
        const double val = (v[ch] / 255.0 - o.mean[oc]) / o.std[oc];
        const size_t idx = o.layout == TensorLayout::kNCHW ? (size_t(oc) * H + y) * W + x
                                                           : (size_t(y) * W + x) * 3 + oc;
        out[idx] = val;
      }
    }
  }
  return out;
}

inline std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
}

inline std::vector<float> ReadF32(const std::string& path) {
  const auto bytes = ReadFile(path);
  std::vector<float> v(bytes.size() / 4);
  std::copy(bytes.begin(), bytes.begin() + v.size() * 4, reinterpret_cast<uint8_t*>(v.data()));
  return v;
}

inline std::string ImgprocDataDir() {
  return std::string(VRSEG_TESTDATA_DIR) + "/../tests/imgproc/data";
}

}  // namespace vrseg::testing
