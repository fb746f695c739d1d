// vrseg build-engine MODEL.onnx -o MODEL.plan: builds a plan for vrseg's GPU engine and prints the
// build report (layers with their tactic and time, memory).
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli/commands.h"
#include "vrseg/engine.h"
#include "vrseg/log.h"

namespace vrseg::cli {
namespace {

struct BuildEngineArgs {
  std::string input;
  std::string output;
  std::string batch = "1:1:1";
  EngineBuildOptions options;
};

// "MIN:OPT:MAX", or "N" for 1:N:N.
Status ParseBatch(const std::string& s, EngineBuildOptions* o) {
  std::vector<int> v;
  std::stringstream ss(s);
  std::string part;
  while (std::getline(ss, part, ':')) {
    try {
      size_t used = 0;
      const int x = std::stoi(part, &used);
      if (used != part.size()) throw std::invalid_argument(part);
      v.push_back(x);
    } catch (const std::exception&) {
      return Status::InvalidArgument("--batch: '" + s + "' is not MIN:OPT:MAX (e.g. 1:8:16)");
    }
  }
  if (v.size() == 1) v = {1, v[0], v[0]};
  if (v.size() != 3)
    return Status::InvalidArgument("--batch: '" + s + "' is not MIN:OPT:MAX (e.g. 1:8:16)");
  if (v[0] < 1 || v[0] > v[1] || v[1] > v[2]) {
    return Status::InvalidArgument("--batch: '" + s + "' must satisfy 1 <= MIN <= OPT <= MAX");
  }
  o->min_batch = v[0];
  o->opt_batch = v[1];
  o->max_batch = v[2];
  return Status::Ok();
}

RunFn SetupBuildEngine(CLI::App& app) {
  auto args = std::make_shared<BuildEngineArgs>();
  CLI::App* sub = app.add_subcommand(
      "build-engine",
      "Build a plan for vrseg's GPU engine from an ONNX model (tactics timed on this GPU)");
  sub->add_option("model", args->input, "ONNX model")->required();
  sub->add_option("-o,--output", args->output,
                  "Plan file to write (default: beside the model, .plan)");
  sub->add_option("--precision", args->options.precision, "fp32 or fp16 (default fp16)")
      ->check(CLI::IsMember({"fp32", "fp16"}));
  sub->add_option("--batch", args->batch,
                  "Batch range MIN:OPT:MAX (tactics timed at OPT; default 1:1:1)");
  sub->add_option("--device", args->options.device, "CUDA device (default 0)");
  sub->add_flag("--verbose", args->options.verbose, "Print every tactic candidate and its time");
  return [args] {
    Status st = ParseBatch(args->batch, &args->options);
    if (!st.ok()) {
      LogError(st.ToString());
      return ExitCodeFor(st.code());
    }
    if (args->output.empty()) {
      args->output = std::filesystem::path(args->input).replace_extension(".plan").string();
    }
    EngineBuildReport r;
    st = BuildEngine(args->input, args->output, args->options, &r);
    if (!st.ok()) {
      LogError(st.ToString());
      return ExitCodeFor(st.code());
    }
    std::printf("built %s -> %s\n  gpu %s, %s, batch %d:%d:%d, %.1f s\n", args->input.c_str(),
                args->output.c_str(), r.gpu.c_str(), args->options.precision.c_str(),
                args->options.min_batch, args->options.opt_batch, args->options.max_batch,
                r.build_seconds);
    std::printf("optimiser:\n");
    for (const auto& l : r.optimizer) std::printf("  %s\n", l.c_str());
    if (args->options.verbose) {
      std::printf("tactics:\n");
      for (const auto& l : r.tactics) std::printf("  %s\n", l.c_str());
    }
    std::printf("layers (time at batch %d):\n", args->options.opt_batch);
    for (const auto& l : r.layers) std::printf("  %s\n", l.c_str());
    std::printf("memory: activations %.2f MiB (%.2f MiB without reuse), weights %.2f MiB\n",
                r.arena_bytes / 1048576.0, r.naive_bytes / 1048576.0, r.weight_bytes / 1048576.0);
    return 0;
  };
}

const bool kRegistered = RegisterCommand("build-engine", 25, SetupBuildEngine);

}  // namespace
}  // namespace vrseg::cli
