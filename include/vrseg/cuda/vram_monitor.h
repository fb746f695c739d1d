// vrseg/cuda/vram_monitor.h — free/total device memory, utilisation, and alerts by threshold.
//
// Memory comes from cudaMemGetInfo. Utilisation (GPU busy %, memory-controller busy %) comes from
// NVML when libnvidia-ml.so.1 can be loaded at run time (dlopen); where it cannot, samples say
// `has_utilization = false` and nothing fails. Each Sample() compares the used fraction with the
// thresholds; when a device's level changes (ok -> warning -> critical, or back) the monitor writes
// one log line and calls the alert callback.
//
// A background thread (Start/Stop) may sample every device periodically.
//
// Thread safety: all methods are thread-safe. The callback runs on the thread that sampled (the
// caller's, or the monitor's own thread) and must not call Stop().
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "vrseg/status.h"

namespace vrseg::cuda {

struct VramSample {
  int device = 0;
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  bool has_utilization = false;  // NVML answered
  int gpu_utilization = 0;       // percent, when has_utilization
  int memory_utilization = 0;    // percent of time the memory controller was busy
  double used_fraction() const {
    return total_bytes ? 1.0 - static_cast<double>(free_bytes) / static_cast<double>(total_bytes)
                       : 0.0;
  }
};

enum class VramLevel : int { kOk = 0, kWarning, kCritical };
const char* VramLevelName(VramLevel level);

struct VramAlert {
  VramLevel level = VramLevel::kOk;   // the new level
  VramLevel previous = VramLevel::kOk;
  VramSample sample;
  std::string message;                // the same text as the log line
};

struct VramMonitorOptions {
  double warning_fraction = 0.85;   // used/total at or above this: warning (default 85%)
  double critical_fraction = 0.95;  // at or above this: critical (default 95%)
  // A level is left only when the used fraction falls this far under its threshold (default 2%),
  // so that a value hovering at a threshold does not raise an alert each sample.
  double hysteresis = 0.02;
  int poll_interval_ms = 500;       // for Start()
  bool use_nvml = true;             // try to load NVML
};

// Where samples come from; tests inject one. The default uses CUDA and NVML.
using VramSource = std::function<Result<VramSample>(int device)>;

class VramMonitor {
 public:
  // kInvalidArgument when thresholds are not 0 < warning <= critical <= 1.
  // `source` null: cudaMemGetInfo (+ NVML). Never fails for lack of NVML or of a device.
  static Result<std::unique_ptr<VramMonitor>> Create(VramMonitorOptions options = {},
                                                     VramSource source = nullptr);
  ~VramMonitor();  // stops the thread
  VramMonitor(const VramMonitor&) = delete;
  VramMonitor& operator=(const VramMonitor&) = delete;

  // Samples `device`, updates its level, alerts on a change. kUnavailable when there is no such
  // device (message names it).
  Result<VramSample> Sample(int device = 0);
  VramLevel level(int device = 0) const;
  void SetAlertCallback(std::function<void(const VramAlert&)> callback);
  // Whether NVML was loaded (always false with an injected source).
  bool nvml_available() const;

  // Samples devices [0, device_count) every poll_interval_ms on a thread of its own until Stop().
  // kInvalidArgument if already running or device_count < 1.
  Status Start(int device_count = 1);
  void Stop();

  struct Impl;  // private

 private:
  explicit VramMonitor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vrseg::cuda
