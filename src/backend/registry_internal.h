// Built-in backends, added to the registry when it is first used (static registration from a
// static library would be dropped by the linker).
#pragma once

#include "vrseg/backend.h"

namespace vrseg::internal {
BackendFactory OrtBackendFactory();
BackendFactory NoopBackendFactory();
// vrseg's own CUDA engine (src/engine); without CUDA at build time it reports Unavailable.
BackendFactory GpuBackendFactory();
// ONNX Runtime's CUDA execution provider (scripts/setup.sh --gpu fetches it).
BackendFactory OrtCudaBackendFactory();
}  // namespace vrseg::internal
