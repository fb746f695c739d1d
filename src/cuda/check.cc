#include "vrseg/cuda/check.h"

#include <cstdio>
#include <string>

namespace vrseg::cuda {

Status CudaCheck(cudaError_t err, const char* call, const char* file, int line) {
  if (err == cudaSuccess) return Status::Ok();
  std::string msg = std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " +
                    cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
  switch (err) {
    case cudaErrorMemoryAllocation:
      cudaGetLastError();  // not sticky; clear it so the next check does not see it again
      return Status::OutOfMemory(std::move(msg));
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
      cudaGetLastError();
      return Status::Unavailable(std::move(msg));
    case cudaErrorInvalidValue:
    case cudaErrorInvalidConfiguration:
    case cudaErrorInvalidPitchValue:
      cudaGetLastError();
      return Status::InvalidArgument(std::move(msg));
    default:
      return Status::Internal(std::move(msg));
  }
}

int DeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

std::string DeviceDescription(int device) {
  cudaDeviceProp prop{};
  cudaError_t err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no CUDA device ") + std::to_string(device) + ": " + cudaGetErrorString(err);
  }
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%s, sm_%d%d, %.1f GiB, %d SMs", prop.name, prop.major, prop.minor,
                static_cast<double>(prop.totalGlobalMem) / (1u << 30), prop.multiProcessorCount);
  return buf;
}

}  // namespace vrseg::cuda
