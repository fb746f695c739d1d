#include "vrseg/cuda/vram_monitor.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "vrseg/cuda/check.h"
#include "vrseg/log.h"

namespace vrseg::cuda {
namespace {

// The few NVML entry points we use, declared here: NVML's header is not part of the toolkit on
// every machine, and the library is loaded at run time.
using nvmlDevice_t = struct nvmlDevice_st*;
struct NvmlUtilization {
  unsigned int gpu;
  unsigned int memory;
};
using NvmlInitFn = int (*)();
using NvmlShutdownFn = int (*)();
using NvmlByPciFn = int (*)(const char*, nvmlDevice_t*);
using NvmlUtilFn = int (*)(nvmlDevice_t, NvmlUtilization*);

class Nvml {
 public:
  Nvml() {
    lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib_) return;
    auto init = reinterpret_cast<NvmlInitFn>(dlsym(lib_, "nvmlInit_v2"));
    shutdown_ = reinterpret_cast<NvmlShutdownFn>(dlsym(lib_, "nvmlShutdown"));
    by_pci_ = reinterpret_cast<NvmlByPciFn>(dlsym(lib_, "nvmlDeviceGetHandleByPciBusId_v2"));
    util_ = reinterpret_cast<NvmlUtilFn>(dlsym(lib_, "nvmlDeviceGetUtilizationRates"));
    if (!init || !shutdown_ || !by_pci_ || !util_ || init() != 0) {
      dlclose(lib_);
      lib_ = nullptr;
    }
  }
  ~Nvml() {
    if (lib_) {
      shutdown_();
      dlclose(lib_);
    }
  }
  bool ok() const { return lib_ != nullptr; }
  // Utilisation of CUDA device `device` (matched by PCI bus id); false when unknown.
  bool Utilization(int device, int* gpu, int* mem) {
    if (!lib_) return false;
    char bus[64] = {};
    if (cudaDeviceGetPCIBusId(bus, sizeof(bus), device) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    nvmlDevice_t h = nullptr;
    if (by_pci_(bus, &h) != 0) return false;
    NvmlUtilization u{};
    if (util_(h, &u) != 0) return false;
    *gpu = static_cast<int>(u.gpu);
    *mem = static_cast<int>(u.memory);
    return true;
  }

 private:
  void* lib_ = nullptr;
  NvmlShutdownFn shutdown_ = nullptr;
  NvmlByPciFn by_pci_ = nullptr;
  NvmlUtilFn util_ = nullptr;
};

std::string Gib(size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", static_cast<double>(b) / (1u << 30));
  return buf;
}

}  // namespace

const char* VramLevelName(VramLevel level) {
  switch (level) {
    case VramLevel::kOk: return "ok";
    case VramLevel::kWarning: return "warning";
    case VramLevel::kCritical: return "critical";
  }
  return "?";
}

struct VramMonitor::Impl {
  VramMonitorOptions options;
  VramSource source;
  std::unique_ptr<Nvml> nvml;
  mutable std::mutex mu;
  std::map<int, VramLevel> levels;
  std::function<void(const VramAlert&)> callback;
  std::mutex cb_mu;  // serialises callbacks

  std::thread thread;
  std::mutex thread_mu;
  std::condition_variable cv;
  bool stop = false;

  Result<VramSample> DefaultSample(int device) {
    int count = DeviceCount();
    if (device < 0 || device >= count) {
      return Status::Unavailable("VRAM monitor: no CUDA device " + std::to_string(device) + " (" +
                                 std::to_string(count) + " present)");
    }
    int prev = 0;
    VRSEG_CUDA_RETURN_IF_ERROR(cudaGetDevice(&prev));
    VRSEG_CUDA_RETURN_IF_ERROR(cudaSetDevice(device));
    VramSample s;
    s.device = device;
    Status st = CudaCheck(cudaMemGetInfo(&s.free_bytes, &s.total_bytes), "cudaMemGetInfo", __FILE__,
                          __LINE__);
    cudaSetDevice(prev);
    if (!st.ok()) return st.WithContext("VRAM monitor, device " + std::to_string(device));
    if (nvml) s.has_utilization = nvml->Utilization(device, &s.gpu_utilization, &s.memory_utilization);
    return s;
  }

  VramLevel Classify(double used, VramLevel current) const {
    const double h = options.hysteresis;
    // Thresholds to enter a level are the raw ones; to stay in a level, `h` lower.
    const double crit = current == VramLevel::kCritical ? options.critical_fraction - h
                                                        : options.critical_fraction;
    const double warn = current >= VramLevel::kWarning ? options.warning_fraction - h
                                                       : options.warning_fraction;
    if (used >= crit) return VramLevel::kCritical;
    if (used >= warn) return VramLevel::kWarning;
    return VramLevel::kOk;
  }
};

VramMonitor::VramMonitor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VramMonitor::~VramMonitor() { Stop(); }

Result<std::unique_ptr<VramMonitor>> VramMonitor::Create(VramMonitorOptions options,
                                                         VramSource source) {
  if (!(options.warning_fraction > 0 && options.warning_fraction <= options.critical_fraction &&
        options.critical_fraction <= 1.0)) {
    return Status::InvalidArgument(
        "VramMonitorOptions: need 0 < warning_fraction <= critical_fraction <= 1 (got " +
        std::to_string(options.warning_fraction) + ", " +
        std::to_string(options.critical_fraction) + ")");
  }
  if (options.hysteresis < 0 || options.hysteresis >= options.warning_fraction) {
    return Status::InvalidArgument("VramMonitorOptions.hysteresis out of range: " +
                                   std::to_string(options.hysteresis));
  }
  if (options.poll_interval_ms <= 0) {
    return Status::InvalidArgument("VramMonitorOptions.poll_interval_ms must be > 0");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (source) {
    impl->source = std::move(source);
  } else {
    if (options.use_nvml) {
      impl->nvml = std::make_unique<Nvml>();
      if (!impl->nvml->ok()) impl->nvml.reset();
    }
    Impl* raw = impl.get();
    impl->source = [raw](int device) { return raw->DefaultSample(device); };
  }
  return std::unique_ptr<VramMonitor>(new VramMonitor(std::move(impl)));
}

Result<VramSample> VramMonitor::Sample(int device) {
  Result<VramSample> r = impl_->source(device);
  if (!r.ok()) return r;
  const VramSample& s = *r;
  VramAlert alert;
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    VramLevel& cur = impl_->levels[device];
    VramLevel next = impl_->Classify(s.used_fraction(), cur);
    if (next != cur) {
      changed = true;
      alert.previous = cur;
      alert.level = next;
      cur = next;
    }
  }
  if (changed) {
    alert.sample = s;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.1f%%", 100.0 * s.used_fraction());
    alert.message = std::string("VRAM on device ") + std::to_string(device) + " " +
                    VramLevelName(alert.previous) + " -> " + VramLevelName(alert.level) + ": " +
                    buf + " used, " + Gib(s.free_bytes) + " free of " + Gib(s.total_bytes);
    Log(alert.level == VramLevel::kOk ? LogLevel::kInfo
        : alert.level == VramLevel::kWarning ? LogLevel::kWarning : LogLevel::kError,
        alert.message);
    std::lock_guard<std::mutex> lock(impl_->cb_mu);
    if (impl_->callback) impl_->callback(alert);
  }
  return r;
}

VramLevel VramMonitor::level(int device) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->levels.find(device);
  return it == impl_->levels.end() ? VramLevel::kOk : it->second;
}

void VramMonitor::SetAlertCallback(std::function<void(const VramAlert&)> callback) {
  std::lock_guard<std::mutex> lock(impl_->cb_mu);
  impl_->callback = std::move(callback);
}

bool VramMonitor::nvml_available() const { return impl_->nvml != nullptr; }

Status VramMonitor::Start(int device_count) {
  if (device_count < 1) return Status::InvalidArgument("VramMonitor::Start: device_count < 1");
  std::lock_guard<std::mutex> lock(impl_->thread_mu);
  if (impl_->thread.joinable()) return Status::InvalidArgument("VramMonitor::Start: already running");
  impl_->stop = false;
  impl_->thread = std::thread([this, device_count] {
    std::unique_lock<std::mutex> lk(impl_->thread_mu);
    while (!impl_->stop) {
      lk.unlock();
      for (int d = 0; d < device_count; ++d) {
        Result<VramSample> r = Sample(d);
        if (!r.ok()) LogDebug("VRAM monitor: " + r.status().ToString());
      }
      lk.lock();
      impl_->cv.wait_for(lk, std::chrono::milliseconds(impl_->options.poll_interval_ms),
                         [this] { return impl_->stop; });
    }
  });
  return Status::Ok();
}

void VramMonitor::Stop() {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(impl_->thread_mu);
    impl_->stop = true;
    t = std::move(impl_->thread);
  }
  impl_->cv.notify_all();
  if (t.joinable()) t.join();
}

}  // namespace vrseg::cuda
