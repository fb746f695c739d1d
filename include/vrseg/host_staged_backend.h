// vrseg/host_staged_backend.h — run a GPU backend from host buffers.
//
// The CPU pipeline (preprocess and postprocess on the CPU) fills and reads host tensors. Wrapping
// a GPU backend (device() == kCuda, device-memory tensors) in HostStaged gives it float32 tensors
// in pinned host memory: Run(n) uploads the first n input slots on a stream of its own, converts
// float32 to the model's precision on the device where the model's tensors are fp16, runs the
// model, converts back and downloads the first n output slots, then waits for that stream (the CPU
// pipeline reads the result right after Run). Int64 outputs are passed through.
//
// Buffers (pinned host, device staging) are allocated once at wrap time for max_batch; Run
// allocates nothing. Thread safety: as Backend (one thread at a time).
#pragma once

#include <memory>
#include <vector>

#include "vrseg/backend.h"

namespace vrseg {

// A host-memory view of `device_backend`. Returns it unchanged when it is already a CPU backend.
// kUnavailable when vrseg was built without CUDA.
Result<std::unique_ptr<Backend>> HostStaged(std::unique_ptr<Backend> device_backend);

// Device-side timing of a GPU backend's Run alone (model-only figures): `warmup` runs, then
// `repeats` samples of `iterations` back-to-back Run(batch, s) calls on one stream, each sample
// timed with CUDA events; returns the per-run milliseconds of every sample (take the median).
// Every input is zeroed first (the cost does not depend on the values). kUnavailable without CUDA;
// kInvalidArgument for a CPU backend.
Result<std::vector<double>> TimeDeviceRuns(Backend& device_backend, int batch, int warmup,
                                           int iterations, int repeats);

}  // namespace vrseg
