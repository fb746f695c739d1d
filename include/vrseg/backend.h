// vrseg/backend.h — the inference backend interface and its registry.
//
// A Backend runs one model on batches. Buffers are allocated at Create for `max_batch` and reused:
// callers fill batch slots of input(0) in place (preprocessing writes straight into the model's
// tensor), call Run(n), then read slots 0..n-1 of output(0). Nothing is allocated per frame.
//
// Call order: Create → (fill input slots → Run → read output slots)*. Thread safety: one Backend
// is used by one thread at a time (the pipeline's inference stage); make one per thread otherwise.
//
// Implementations (private, registered by name): "ort" (ONNX Runtime, CPU), "noop" (returns a
// constant mask without running anything: measures the pipeline's own overhead).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vrseg/model_info.h"
#include "vrseg/status.h"
#include "vrseg/tensor.h"

namespace vrseg {

enum class DeviceKind : int { kCpu = 0, kCuda };

struct BackendOptions {
  int threads = 0;        // intra-op threads; 0: one per core
  int max_batch = 1;      // buffers are sized for this many frames
  int device_id = 0;      // CUDA device, for GPU backends
  // auto | fp32 | fp16. auto: fp16 on the gpu backend, the model file's own precision on
  // ort-cuda, fp32 on the CPU.
  std::string precision = "auto";
  // "gpu" backend with an .onnx model: build its plan through the engine cache (reused while the
  // model, options, GPU and libraries match; see vrseg/engine.h). false: build into a temporary
  // file every time (the --no-cache flag).
  bool engine_cache = true;
  std::string engine_cache_dir;    // "": DefaultEngineCacheDir()
  // Used when the model file carries no vrseg metadata (e.g. an ONNX file from elsewhere).
  const ModelInfo* model_info_override = nullptr;
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual std::string_view name() const = 0;
  virtual DeviceKind device() const = 0;
  // Human description: "CPU (ONNX Runtime 1.29.0, 2 threads)".
  virtual std::string device_description() const = 0;
  virtual std::string precision() const { return "fp32"; }
  virtual const ModelInfo& model_info() const = 0;
  // Declared inputs and outputs (the batch dimension as -1 where dynamic).
  virtual const std::vector<TensorDesc>& inputs() const = 0;
  virtual const std::vector<TensorDesc>& outputs() const = 0;
  virtual int max_batch() const = 0;

  // The preallocated buffer of input/output `i`, shaped for max_batch(). Valid for the life of
  // the backend; on GPU backends `memory` is kDevice.
  virtual Tensor input(int i) = 0;
  virtual Tensor output(int i) = 0;

  // Runs the model on the first `batch` slots of every input, writing the first `batch` slots of
  // every output. `stream` is a cudaStream_t for GPU backends (ignored on the CPU). Errors name
  // the backend and model.
  virtual Status Run(int batch, void* stream = nullptr) = 0;

 protected:
  Backend() = default;
};

using BackendFactory = std::function<Result<std::unique_ptr<Backend>>(
    const std::string& model_path, const BackendOptions& options)>;

// Makes a backend by registered name ("ort", "noop", ...). Errors: unknown name (lists the known
// ones), model missing (kNotFound), model unusable (kInvalidModel).
Result<std::unique_ptr<Backend>> CreateBackend(std::string_view name, const std::string& model_path,
                                               const BackendOptions& options);
// Registers a factory; returns false if the name is taken. Thread-safe.
bool RegisterBackend(std::string name, BackendFactory factory);
std::vector<std::string> RegisteredBackends();

// Version string of the ONNX Runtime library in use ("1.29.0").
std::string OnnxRuntimeVersion();

}  // namespace vrseg
