// fp32 <-> fp16 conversion for HostStaged (host_staged.cc): the CPU pipeline works in float32,
// fp16 plans take and give fp16 on the device.
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace vrseg::internal {
namespace {

__global__ void F32ToF16(const float* in, __half* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2half_rn(in[i]);
  }
}

__global__ void F16ToF32(const __half* in, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __half2float(in[i]);
  }
}

int Blocks(int64_t n) {
  const int64_t b = (n + 255) / 256;
  return static_cast<int>(b < 4096 ? (b < 1 ? 1 : b) : 4096);
}

}  // namespace

cudaError_t LaunchStagingCast(const void* in, void* out, int64_t n, bool to_half,
                              cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (to_half) {
    F32ToF16<<<Blocks(n), 256, 0, stream>>>(static_cast<const float*>(in), static_cast<__half*>(out), n);
  } else {
    F16ToF32<<<Blocks(n), 256, 0, stream>>>(static_cast<const __half*>(in), static_cast<float*>(out), n);
  }
  return cudaGetLastError();
}

}  // namespace vrseg::internal
