// Private: the device form of imgproc's folded YUV→RGB conversion (see vrseg/imgproc.h, step 1 of
// the preprocessing formula), in the same float operation order.
#pragma once

#include <cuda_runtime.h>

#include "vrseg/imgproc.h"

namespace vrseg::cuda {

__device__ __forceinline__ float Clamp255(float v) { return v < 0.f ? 0.f : (v > 255.f ? 255.f : v); }

__device__ __forceinline__ float3 YuvToRgb(const YuvCoefficients& k, int y, int u, int v) {
  const float yf = k.cy * (static_cast<float>(y) - k.y_off);
  const float uf = static_cast<float>(u - 128);
  const float vf = static_cast<float>(v - 128);
  return make_float3(Clamp255(yf + k.cr_v * vf), Clamp255(yf + k.cg_u * uf + k.cg_v * vf),
                     Clamp255(yf + k.cb_u * uf));
}

}  // namespace vrseg::cuda
