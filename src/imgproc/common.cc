#include <algorithm>
#include <cmath>
#include <string>

#include "imgproc/internal.h"

namespace vrseg::imgproc_internal {

Status CheckHostFrameAnyFormat(const Frame& f, const char* what) {
  if (f.empty() || f.width <= 0 || f.height <= 0) {
    return Status::InvalidArgument(std::string(what) + ": empty " + DescribeFrame(f));
  }
  if (f.memory == MemoryKind::kDevice) {
    return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) +
                                   " is a device frame; this is the host path");
  }
  if (f.format == PixelFormat::kUnknown) {
    return Status::Unsupported(std::string(what) + ": " + DescribeFrame(f) + " has no pixel format");
  }
  for (int p = 0; p < PlaneCount(f.format); ++p) {
    if (f.data[p] == nullptr) {
      return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) + " plane " +
                                     std::to_string(p) + " is null");
    }
    const int64_t row = PlaneRowBytes(f.format, f.width, p);
    if (f.pitch[p] < row) {
      return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) + " plane " +
                                     std::to_string(p) + " pitch " + std::to_string(f.pitch[p]) +
                                     " < row bytes " + std::to_string(row));
    }
  }
  return Status::Ok();
}

Status CheckHostFrame(const Frame& f, PixelFormat format, const char* what) {
  if (!f.empty() && f.format != format) {
    return Status::InvalidArgument(std::string(what) + ": " + DescribeFrame(f) + " must be " +
                                   std::string(PixelFormatName(format)));
  }
  return CheckHostFrameAnyFormat(f, what);
}

void UnitFloatsToU8(const float* v, uint8_t* out, int n) {
  int i = 0;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.f), k255 = _mm_set1_ps(255.f),
               half = _mm_set1_ps(0.5f);
  auto quad = [&](int k) {
    // max_ps(x, 0) returns 0 when x is NaN (the second operand).
    const __m128 x = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(v + k), zero), one);
    return _mm_cvttps_epi32(_mm_add_ps(_mm_mul_ps(x, k255), half));
  };
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_packs_epi32(quad(i), quad(i + 4));
    const __m128i b = _mm_packs_epi32(quad(i + 8), quad(i + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(a, b));
  }
#endif
  for (; i < n; ++i) {
    out[i] = static_cast<uint8_t>(static_cast<int>(Clamp(v[i], 0.f, 1.f) * 255.f + 0.5f));
  }
}

void RoundU8Row(const float* v, uint8_t* out, int n) {
  int i = 0;
#if defined(__SSE2__)
  const __m128 zero = _mm_setzero_ps(), k255 = _mm_set1_ps(255.f), half = _mm_set1_ps(0.5f);
  auto quad = [&](int k) {
    const __m128 x = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(v + k), zero), k255);
    return _mm_cvttps_epi32(_mm_add_ps(x, half));
  };
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_packs_epi32(quad(i), quad(i + 4));
    const __m128i b = _mm_packs_epi32(quad(i + 8), quad(i + 12));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_packus_epi16(a, b));
  }
#endif
  for (; i < n; ++i) out[i] = RoundU8(v[i]);
}

void HalfPixelTable(int out_n, int in_n, double ratio, double offset, int* i0, int* i1, float* w) {
  for (int d = 0; d < out_n; ++d) {
    double s = offset + (d + 0.5) * ratio - 0.5;
    s = std::clamp(s, 0.0, static_cast<double>(in_n - 1));
    const int a = static_cast<int>(std::floor(s));
    i0[d] = a;
    i1[d] = std::min(a + 1, in_n - 1);
    w[d] = static_cast<float>(s - a);
  }
}

}  // namespace vrseg::imgproc_internal
