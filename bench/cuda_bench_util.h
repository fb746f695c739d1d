// Helpers shared by the CUDA benchmarks: abort with a message on a failed CUDA call or Status
// (benchmarks have no one to return an error to).
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#include "vrseg/status.h"

#define CK(call)                                                                  \
  do {                                                                            \
    cudaError_t e_ = (call);                                                      \
    if (e_ != cudaSuccess) {                                                      \
      std::fprintf(stderr, "%s failed at %s:%d: %s\n", #call, __FILE__, __LINE__, \
                   cudaGetErrorString(e_));                                       \
      std::exit(1);                                                               \
    }                                                                             \
  } while (0)

#define OK(expr)                                                      \
  do {                                                                \
    ::vrseg::Status s_ = (expr);                                      \
    if (!s_.ok()) {                                                   \
      std::fprintf(stderr, "%s: %s\n", #expr, s_.ToString().c_str()); \
      std::exit(1);                                                   \
    }                                                                 \
  } while (0)
