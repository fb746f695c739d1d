// Private helpers shared by the imgproc sources.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "vrseg/frame.h"
#include "vrseg/status.h"

namespace vrseg::imgproc_internal {


// Checks that `f` is a non-empty host frame of format `format` whose planes and pitches hold
// width x height pixels. `what` names the argument ("Preprocess input") in the message.
Status CheckHostFrame(const Frame& f, PixelFormat format, const char* what);
// Same, for any of the formats Preprocess accepts (or any format when `format` is kUnknown).
Status CheckHostFrameAnyFormat(const Frame& f, const char* what);

// clamp(v, lo, hi) without branches (GCC does not turn std::min/max on floats into minss/maxss
// without -ffast-math, and branches mispredict on noisy pixels). NaN → lo.
inline float Clamp(float v, float lo, float hi) {
#if defined(__SSE2__)
  return _mm_cvtss_f32(_mm_min_ss(_mm_max_ss(_mm_set_ss(v), _mm_set_ss(lo)), _mm_set_ss(hi)));
#else
  v = v > lo ? v : lo;
  return v < hi ? v : hi;
#endif
}

// round_u8 of the public header: floor(clamp(v, 0, 255) + 0.5); NaN → 0.
inline uint8_t RoundU8(float v) {
  return static_cast<uint8_t>(static_cast<int>(Clamp(v, 0.f, 255.f) + 0.5f));
}

// FloatToHalf (round to nearest even), inline for the preprocessing loops.
inline uint16_t FloatToHalfInline(float v) {
  uint32_t x;
  std::memcpy(&x, &v, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x38800000u && ax < 0x477ff000u) {  // normal half range: the common case
    const uint32_t h = (ax - 0x38000000u) >> 13;
    const uint32_t rem = ax & 0x1fffu;
    // Round to nearest, ties to even; a carry into the exponent is correct.
    return static_cast<uint16_t>(sign | (h + ((rem > 0x1000u) | ((rem == 0x1000u) & h))));
  }
  if (ax >= 0x7f800000u)
    return static_cast<uint16_t>(sign | (ax > 0x7f800000u ? 0x7e00u : 0x7c00u));
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to infinity
  // Subnormal half (or zero): a multiple of 2^-24; scaling by 2^24 is exact and nearbyint rounds
  // to nearest even in the default floating-point environment.
  return static_cast<uint16_t>(sign |
                               static_cast<uint32_t>(std::nearbyint(std::fabs(v) * 16777216.0f)));
}

// out[i] = floor(clamp(v[i], 0, 1) * 255 + 0.5) (NaN → 0), vectorised where SSE2 is available.
void UnitFloatsToU8(const float* v, uint8_t* out, int n);
// out[i] = RoundU8(v[i]), vectorised where SSE2 is available.
void RoundU8Row(const float* v, uint8_t* out, int n);

// Bilinear sampling tables with half-pixel centres, as used by UpsampleMask and Compositor:
// src = clamp(offset + (dst + 0.5) * ratio - 0.5, 0, n - 1).
void HalfPixelTable(int out_n, int in_n, double ratio, double offset, int* i0, int* i1, float* w);

}  // namespace vrseg::imgproc_internal
