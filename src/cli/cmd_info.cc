// vrseg info: versions, devices and installed models.
#include <cstdio>
#include <thread>

#include "cli/commands.h"
#include "vrseg/backend.h"
#include "vrseg/engine.h"
#include "vrseg/io.h"
#include "vrseg/model_registry.h"
#ifdef VRSEG_HAVE_CUDA
#include "vrseg/cuda/check.h"
#endif

namespace vrseg::cli {
namespace {

RunFn SetupInfo(CLI::App& app) {
  app.add_subcommand("info", "Print versions, devices and installed models");
  return [] {
    std::printf("vrseg %s\n", VRSEG_VERSION);
    std::printf("  ONNX Runtime %s\n", OnnxRuntimeVersion().c_str());
    std::printf("  FFmpeg: %s\n", FfmpegVersions().c_str());
    std::printf("devices:\n  cpu: %u hardware threads\n", std::thread::hardware_concurrency());
#ifdef VRSEG_HAVE_CUDA
    const int gpus = cuda::DeviceCount();
    if (gpus == 0) std::printf("  cuda: built with CUDA; no usable GPU found\n");
    for (int i = 0; i < gpus; ++i) {
      std::printf("  cuda:%d %s\n", i, cuda::DeviceDescription(i).c_str());
    }
    std::printf("  engine cache: %s\n", DefaultEngineCacheDir().c_str());
#else
    std::printf("  cuda: not built (no CUDA toolkit at build time)\n");
#endif
    std::printf("backends:");
    for (auto& b : RegisteredBackends()) std::printf(" %s", b.c_str());
    std::printf("\nmodels (in %s):\n", ModelDir().c_str());
    auto models = InstalledModels();
    if (models.empty()) std::printf("  none: run scripts/setup.sh\n");
    for (auto& m : models) {
      std::printf("  %-10s %dx%d %-20s %s  %s\n", m.name.c_str(), m.info.input_width,
                  m.info.input_height, OutputKindName(m.info.output_kind),
                  m.info.licence.empty() ? "" : ("licence " + m.info.licence).c_str(),
                  m.path.c_str());
    }
    return 0;
  };
}

const bool kRegistered = RegisterCommand("info", 30, SetupInfo);

}  // namespace
}  // namespace vrseg::cli
