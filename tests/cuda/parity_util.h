// Comparisons of GPU outputs with the imgproc references, and real-image fixtures (decoded by
// FFmpeg when they were made; see docs/cuda.md).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "vrseg/frame.h"
#include "vrseg/imgproc.h"

namespace vrseg::cuda::testing {

// max |a-b| and ||a-b|| / ||b||; NaN anywhere fails. Prints the numbers on failure.
inline ::testing::AssertionResult FloatsClose(const std::vector<float>& got,
                                              const std::vector<float>& ref, double max_rel_norm,
                                              double max_abs) {
  if (got.size() != ref.size()) return ::testing::AssertionFailure() << "size differs";
  double num = 0, den = 0, worst = 0;
  size_t worst_i = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i]) || std::isnan(ref[i])) {
      return ::testing::AssertionFailure() << "NaN at " << i << " (unwritten output?)";
    }
    const double d = std::fabs(static_cast<double>(got[i]) - ref[i]);
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
    if (d > worst) {
      worst = d;
      worst_i = i;
    }
  }
  const double rel = den > 0 ? std::sqrt(num / den) : std::sqrt(num);
  if (rel > max_rel_norm || worst > max_abs) {
    return ::testing::AssertionFailure() << "rel norm error " << rel << ", max abs error " << worst
                                         << " at " << worst_i << " (got " << got[worst_i]
                                         << ", want " << ref[worst_i] << ")";
  }
  return ::testing::AssertionSuccess();
}

// 8-bit planes: every byte within `lsb` of the reference; reports the worst pixel.
inline ::testing::AssertionResult BytesClose(const Frame& got, const Frame& ref, int lsb,
                                             int64_t* differing = nullptr) {
  if (got.format != ref.format || got.width != ref.width || got.height != ref.height) {
    return ::testing::AssertionFailure() << "frames differ in format or size";
  }
  int worst = 0, wx = 0, wy = 0, wp = 0;
  int64_t n = 0;
  for (int p = 0; p < PlaneCount(ref.format); ++p) {
    const int64_t row = PlaneRowBytes(ref.format, ref.width, p);
    for (int y = 0; y < PlaneRows(ref.format, ref.height, p); ++y) {
      const uint8_t* a = got.data[p] + y * got.pitch[p];
      const uint8_t* b = ref.data[p] + y * ref.pitch[p];
      for (int64_t x = 0; x < row; ++x) {
        const int d = std::abs(a[x] - b[x]);
        if (d) ++n;
        if (d > worst) {
          worst = d;
          wx = static_cast<int>(x);
          wy = y;
          wp = p;
        }
      }
    }
  }
  if (differing) *differing = n;
  if (worst > lsb) {
    return ::testing::AssertionFailure() << "byte differs by " << worst << " at plane " << wp
                                         << " row " << wy << " byte " << wx << " (" << n
                                         << " bytes differ)";
  }
  return ::testing::AssertionSuccess();
}

// A fixture file as a host frame of `format` (tight pitches).
inline Frame LoadRaw(const std::string& name, PixelFormat format, int w, int h) {
  // VRSEG_SOURCE_DIR overrides the build-time path (the GPU machine runs a copy of the tree).
  const char* env = std::getenv("VRSEG_SOURCE_DIR");
  const std::string root = env ? env : VRSEG_SOURCE_DIR_FOR_TESTS;
  std::ifstream in(root + "/tests/cuda/data/" + name, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Frame f;
  f.format = format;
  f.width = w;
  f.height = h;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int p = 0; p < PlaneCount(format); ++p) {
    f.pitch[p] = PlaneRowBytes(format, w, p);
    off[p] = total;
    total += f.pitch[p] * PlaneRows(format, h, p);
  }
  if (static_cast<int64_t>(bytes.size()) != total) return Frame{};
  auto* buf = new uint8_t[total];
  std::copy(bytes.begin(), bytes.end(), buf);
  f.storage = std::shared_ptr<void>(buf, [](void* q) { delete[] static_cast<uint8_t*>(q); });
  for (int p = 0; p < PlaneCount(format); ++p) f.data[p] = buf + off[p];
  return f;
}

}  // namespace vrseg::cuda::testing
