// vrseg/cuda/check.h — CUDA errors as vrseg::Status values, and device presence.
//
// Every CUDA runtime call in vrseg goes through VRSEG_CUDA_RETURN_IF_ERROR (or CudaCheck), which
// turns a failing cudaError_t into a Status naming the call, the file and the line:
//   "INTERNAL: cudaMemcpyAsync(...) failed at src/cuda/memory.cc:120: invalid argument"
// cudaErrorMemoryAllocation maps to kOutOfMemory, no-device/no-driver errors to kUnavailable.
// No check synchronises the device; launch errors are read with cudaGetLastError (cheap).
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "vrseg/status.h"

namespace vrseg::cuda {

// OK for cudaSuccess; otherwise a Status whose message names `call`, `file` and `line`.
// Clears the sticky "last error" of recoverable errors so that later calls are not poisoned.
Status CudaCheck(cudaError_t err, const char* call, const char* file, int line);

// Number of usable CUDA devices; 0 (never an error) when there is no driver or no device.
int DeviceCount();

// A short description of device `device` ("NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB") or the
// reason there is none.
std::string DeviceDescription(int device);

}  // namespace vrseg::cuda

// Returns a Status naming the call, file and line from the enclosing function when `call` fails.
#define VRSEG_CUDA_RETURN_IF_ERROR(call)                                                  \
  do {                                                                                    \
    ::vrseg::Status vrseg_cuda_status_ = ::vrseg::cuda::CudaCheck((call), #call, __FILE__, \
                                                                  __LINE__);              \
    if (!vrseg_cuda_status_.ok()) return vrseg_cuda_status_;                              \
  } while (0)

// After a kernel launch: the launch error (bad configuration, no device) as a Status.
#define VRSEG_CUDA_RETURN_IF_LAUNCH_ERROR(kernel_name)                                     \
  do {                                                                                     \
    ::vrseg::Status vrseg_cuda_status_ = ::vrseg::cuda::CudaCheck(                         \
        cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__);                 \
    if (!vrseg_cuda_status_.ok()) return vrseg_cuda_status_;                               \
  } while (0)
