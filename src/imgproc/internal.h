// Private helpers shared by the imgproc sources.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "vrseg/frame.h"
#include "vrseg/status.h"

namespace vrseg::imgproc_internal {

// "frame 12 (stream 0, 1280x720 rgb24)" for error messages.
std::string Describe(const Frame& f);

// Checks that `f` is a non-empty host frame of format `format` whose planes and pitches hold
// width x height pixels. `what` names the argument ("Preprocess input") in the message.
Status CheckHostFrame(const Frame& f, PixelFormat format, const char* what);
// Same, for any of the formats Preprocess accepts (or any format when `format` is kUnknown).
Status CheckHostFrameAnyFormat(const Frame& f, const char* what);

// round_u8 of the public header: floor(clamp(v, 0, 255) + 0.5); NaN → 0.
inline uint8_t RoundU8(float v) {
  if (!(v > 0.f)) return 0;  // also NaN
  if (v >= 255.f) return 255;
  return static_cast<uint8_t>(static_cast<int>(v + 0.5f));
}

inline float Clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Bilinear sampling tables with half-pixel centres, as used by UpsampleMask and Compositor:
// src = clamp(offset + (dst + 0.5) * ratio - 0.5, 0, n - 1).
void HalfPixelTable(int out_n, int in_n, double ratio, double offset, int* i0, int* i1, float* w);

}  // namespace vrseg::imgproc_internal
