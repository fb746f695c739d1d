// Built-in backends, added to the registry when it is first used (static registration from a
// static library would be dropped by the linker).
#pragma once

#include "vrseg/backend.h"

namespace vrseg::internal {
BackendFactory OrtBackendFactory();
BackendFactory NoopBackendFactory();
}  // namespace vrseg::internal
