#include <cmath>
#include <cstdint>
#include <cstring>

#include "imgproc/internal.h"
#include "vrseg/imgproc.h"

namespace vrseg {

uint16_t FloatToHalf(float v) { return imgproc_internal::FloatToHalfInline(v); }

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu;
  const uint32_t m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    const float f = static_cast<float>(m) * (1.0f / 16777216.0f);  // exact
    std::memcpy(&x, &f, 4);
    x |= sign;
  } else if (e == 31) {
    x = sign | 0x7f800000u | (m << 13);
  } else {
    x = sign | ((e + 112u) << 23) | (m << 13);
  }
  float out;
  std::memcpy(&out, &x, 4);
  return out;
}

}  // namespace vrseg
