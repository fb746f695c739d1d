// Helpers for the GPU tests: skipping without a device, and device copies of host frames with
// chosen (odd) pitches.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "vrseg/cuda/check.h"
#include "vrseg/frame.h"

// Skips the test, saying why, when no CUDA device can be used.
#define VRSEG_REQUIRE_GPU()                                                                  \
  do {                                                                                       \
    if (::vrseg::cuda::DeviceCount() == 0) {                                                 \
      GTEST_SKIP() << "no CUDA device on this machine (" << ::vrseg::cuda::DeviceDescription(0) \
                   << "); GPU parity tests run on the device machine";                       \
    }                                                                                        \
  } while (0)

#define ASSERT_CUDA(call) ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

namespace vrseg::cuda::testing {

inline std::shared_ptr<void> DeviceAlloc(size_t bytes) {
  void* p = nullptr;
  if (cudaMalloc(&p, bytes) != cudaSuccess) return nullptr;
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

// A host frame of `format` with random pixels and row pitches of PlaneRowBytes + extra[plane].
inline Frame RandomHostFrame(PixelFormat format, int w, int h, std::mt19937& rng, int extra_pitch = 0) {
  Frame f;
  f.format = format;
  f.width = w;
  f.height = h;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int p = 0; p < PlaneCount(format); ++p) {
    f.pitch[p] = PlaneRowBytes(format, w, p) + extra_pitch;
    off[p] = total;
    total += f.pitch[p] * PlaneRows(format, h, p);
  }
  auto* buf = new uint8_t[total];
  std::uniform_int_distribution<int> d(0, 255);
  for (int64_t i = 0; i < total; ++i) buf[i] = static_cast<uint8_t>(d(rng));
  f.storage = std::shared_ptr<void>(buf, [](void* q) { delete[] static_cast<uint8_t*>(q); });
  for (int p = 0; p < PlaneCount(format); ++p) f.data[p] = buf + off[p];
  return f;
}

// A device copy of host frame `h` whose pitches are PlaneRowBytes + extra (rounded to 4 for
// 4-byte formats). Returns an empty frame on CUDA failure.
inline Frame ToDevice(const Frame& h, int extra_pitch = 0) {
  Frame d = h;
  d.memory = MemoryKind::kDevice;
  d.device = 0;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int p = 0; p < PlaneCount(h.format); ++p) {
    int64_t pitch = PlaneRowBytes(h.format, h.width, p) + extra_pitch;
    if (BytesPerPixel(h.format) == 4) pitch = (pitch + 3) / 4 * 4;
    d.pitch[p] = pitch;
    off[p] = total;
    total += pitch * PlaneRows(h.format, h.height, p);
  }
  auto mem = DeviceAlloc(static_cast<size_t>(total));
  if (!mem) return Frame{};
  cudaMemset(mem.get(), 0xA5, total);
  d.storage = mem;
  for (int p = 0; p < PlaneCount(h.format); ++p) {
    d.data[p] = static_cast<uint8_t*>(mem.get()) + off[p];
    if (cudaMemcpy2D(d.data[p], d.pitch[p], h.data[p], h.pitch[p],
                     PlaneRowBytes(h.format, h.width, p), PlaneRows(h.format, h.height, p),
                     cudaMemcpyHostToDevice) != cudaSuccess) {
      return Frame{};
    }
  }
  return d;
}

// Host copy of a device frame (tight pitches).
inline Frame ToHost(const Frame& d) {
  Frame h;
  h.format = d.format;
  h.width = d.width;
  h.height = d.height;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int p = 0; p < PlaneCount(d.format); ++p) {
    h.pitch[p] = PlaneRowBytes(d.format, d.width, p);
    off[p] = total;
    total += h.pitch[p] * PlaneRows(d.format, d.height, p);
  }
  auto* buf = new uint8_t[total];
  h.storage = std::shared_ptr<void>(buf, [](void* q) { delete[] static_cast<uint8_t*>(q); });
  for (int p = 0; p < PlaneCount(d.format); ++p) {
    h.data[p] = buf + off[p];
    cudaMemcpy2D(h.data[p], h.pitch[p], d.data[p], d.pitch[p], PlaneRowBytes(d.format, d.width, p),
                 PlaneRows(d.format, d.height, p), cudaMemcpyDeviceToHost);
  }
  return h;
}

// A device frame of `format`, pitches PlaneRowBytes + extra, filled with 0xA5 (poison).
inline Frame DeviceFrame(PixelFormat format, int w, int h, int extra_pitch = 0) {
  Frame d;
  d.format = format;
  d.width = w;
  d.height = h;
  d.memory = MemoryKind::kDevice;
  d.device = 0;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int p = 0; p < PlaneCount(format); ++p) {
    int64_t pitch = PlaneRowBytes(format, w, p) + extra_pitch;
    if (BytesPerPixel(format) == 4) pitch = (pitch + 3) / 4 * 4;
    d.pitch[p] = pitch;
    off[p] = total;
    total += pitch * PlaneRows(format, h, p);
  }
  auto mem = DeviceAlloc(static_cast<size_t>(total));
  if (!mem) return Frame{};
  cudaMemset(mem.get(), 0xA5, total);
  d.storage = mem;
  for (int p = 0; p < PlaneCount(format); ++p) d.data[p] = static_cast<uint8_t*>(mem.get()) + off[p];
  return d;
}

}  // namespace vrseg::cuda::testing
