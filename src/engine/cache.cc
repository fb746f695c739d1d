// The engine cache (vrseg/engine.h): plans built on demand, keyed by model, options and machine.
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "engine/plan.h"
#include "vrseg/engine.h"
#include "vrseg/log.h"

namespace vrseg {

EngineBuildOptions BackendEngineOptions(const std::string& precision, int max_batch, int device) {
  EngineBuildOptions eo;
  eo.precision = precision.empty() || precision == "auto" ? "fp16" : precision;
  eo.min_batch = 1;
  eo.opt_batch = max_batch;
  eo.max_batch = max_batch;
  eo.device = device;
  return eo;
}

std::string DefaultEngineCacheDir() {
  if (const char* d = std::getenv("VRSEG_CACHE_DIR"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    return (std::filesystem::path(x) / "vrseg" / "engines").string();
  }
  const char* home = std::getenv("HOME");
  return (std::filesystem::path(home && *home ? home : ".") / ".cache" / "vrseg" / "engines")
      .string();
}

Result<std::string> CachedEnginePlan(const std::string& onnx_path,
                                     const EngineBuildOptions& options,
                                     const std::string& cache_dir, EngineCacheOutcome* outcome) {
  using namespace engine;
  // One build at a time per process: backends made in parallel for the same model (one per
  // inference worker) then find the plan the first one built instead of building it again.
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const std::string dir = cache_dir.empty() ? DefaultEngineCacheDir() : cache_dir;
  VRSEG_ASSIGN_OR_RETURN(std::string sha, Sha256File(onnx_path));
  VRSEG_ASSIGN_OR_RETURN(PlanKey want, MachinePlanKey(options.device));
  want.model_sha256 = sha;
  want.precision = options.precision;
  want.min_batch = options.min_batch;
  want.opt_batch = options.opt_batch;
  want.max_batch = options.max_batch;

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("engine cache: cannot create " + dir + ": " + ec.message());
  const std::string stem = std::filesystem::path(onnx_path).stem().string();
  const std::string name =
      stem + "-" + sha.substr(0, 16) + "-" + options.precision + "-b" +
      std::to_string(options.min_batch) + "_" + std::to_string(options.opt_batch) + "_" +
      std::to_string(options.max_batch) + "-sm" + std::to_string(want.compute_capability) + ".plan";
  const std::string path = (std::filesystem::path(dir) / name).string();

  EngineCacheOutcome result = EngineCacheOutcome::kBuilt;
  if (std::filesystem::exists(path, ec)) {
    auto have = ReadPlanFile(path);
    if (!have.ok()) {
      LogWarning("engine cache: " + have.status().message() + "; rebuilding it");
      result = EngineCacheOutcome::kRebuiltCorrupt;
    } else {
      const std::string diff = KeyDifference(have->key, want);
      if (diff.empty()) {
        if (outcome) *outcome = EngineCacheOutcome::kHit;
        return path;
      }
      LogInfo("engine cache: plan " + path + " does not match this machine or options (" + diff +
              "); rebuilding it");
      result = EngineCacheOutcome::kRebuiltMismatch;
    }
  }
  LogInfo("engine cache: building " + path + " from " + onnx_path + " (" + options.precision +
          ", batch " + std::to_string(options.min_batch) + ":" + std::to_string(options.opt_batch) +
          ":" + std::to_string(options.max_batch) + ")");
  EngineBuildReport report;
  VRSEG_RETURN_IF_ERROR(BuildEngine(onnx_path, path, options, &report));
  LogInfo("engine cache: built " + path + " in " + std::to_string(report.build_seconds) + " s");
  if (outcome) *outcome = result;
  return path;
}

}  // namespace vrseg
