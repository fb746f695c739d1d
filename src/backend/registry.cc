#include <map>
#include <mutex>

#include "backend/registry_internal.h"
#include "vrseg/backend.h"

namespace vrseg {
namespace {

struct Registry {
  Registry() {
    factories.emplace("ort", internal::OrtBackendFactory());
    factories.emplace("noop", internal::NoopBackendFactory());
    factories.emplace("gpu", internal::GpuBackendFactory());
    factories.emplace("ort-cuda", internal::OrtCudaBackendFactory());
  }
  std::mutex mu;
  std::map<std::string, BackendFactory, std::less<>> factories;
};

Registry& GetRegistry() {
  static Registry registry;
  return registry;
}

}  // namespace

bool RegisterBackend(std::string name, BackendFactory factory) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  return r.factories.emplace(std::move(name), std::move(factory)).second;
}

std::vector<std::string> RegisteredBackends() {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (auto& [n, f] : r.factories) names.push_back(n);
  return names;
}

Result<std::unique_ptr<Backend>> CreateBackend(std::string_view name, const std::string& model_path,
                                               const BackendOptions& options) {
  BackendFactory factory;
  {
    Registry& r = GetRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.factories.find(name);
    if (it == r.factories.end()) {
      std::string known;
      for (auto& [n, f] : r.factories) known += (known.empty() ? "" : ", ") + n;
      return Status::InvalidArgument("unknown backend '" + std::string(name) + "' (known: " +
                                     known + ")");
    }
    factory = it->second;
  }
  return factory(model_path, options);
}

}  // namespace vrseg
