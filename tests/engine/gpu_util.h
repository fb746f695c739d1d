// Helpers for the engine's GPU tests: skip without a device, device buffers, fp16 conversion.
#pragma once

#ifdef VRSEG_HAVE_CUDA
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>
#endif
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#ifdef VRSEG_HAVE_CUDA
#include "vrseg/cuda/check.h"

// Skips the test, saying why, when no CUDA device can be used.
#define VRSEG_REQUIRE_GPU()                                                                  \
  do {                                                                                       \
    if (::vrseg::cuda::DeviceCount() == 0) {                                                 \
      GTEST_SKIP() << "no CUDA device on this machine (" << ::vrseg::cuda::DeviceDescription(0) \
                   << "); engine GPU tests run on the device machine";                        \
    }                                                                                        \
  } while (0)

#define ASSERT_CUDA(call) \
  ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

namespace vrseg::engine::testing {

// Device memory freed with the last reference.
inline std::shared_ptr<void> DeviceAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes == 0 ? 1 : bytes) != cudaSuccess) return nullptr;
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

inline std::vector<uint16_t> ToHalf(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const __half_raw r = __float2half_rn(v[i]);
    out[i] = r.x;
  }
  return out;
}
inline std::vector<float> FromHalf(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    __half_raw r;
    r.x = v[i];
    out[i] = __half2float(__half(r));
  }
  return out;
}

}  // namespace vrseg::engine::testing
#endif  // VRSEG_HAVE_CUDA
