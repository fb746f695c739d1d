// vrseg convert MODEL.json -o MODEL.onnx: TF.js graph model → ONNX with vrseg metadata.
#include <cstdio>
#include <filesystem>

#include "cli/commands.h"
#include "vrseg/convert.h"
#include "vrseg/log.h"

namespace vrseg::cli {
namespace {

struct ConvertArgs {
  std::string input;
  std::string output;
  ConvertOptions options;
};

RunFn SetupConvert(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* sub = app.add_subcommand(
      "convert", "Convert a TF.js graph model (model.json + weight shards) to ONNX (opset 17)");
  sub->add_option("model", args->input, "TF.js model.json")->required();
  sub->add_option("-o,--output", args->output, "Output .onnx file (default: beside the input)");
  sub->add_option("--name", args->options.name, "Model name recorded in the metadata");
  sub->add_option("--licence", args->options.licence, "Licence recorded in the metadata");
  sub->add_option("--source", args->options.source, "Origin recorded in the metadata");
  return [args] {
    if (args->output.empty()) {
      args->output = std::filesystem::path(args->input).replace_extension(".onnx").string();
    }
    auto report = ConvertTfjsToOnnx(args->input, args->output, args->options);
    if (!report.ok()) {
      LogError(report.status().ToString());
      return ExitCodeFor(report.status().code());
    }
    const ModelInfo& mi = report->info;
    std::printf("converted %s -> %s\n  %d TF.js nodes -> %d ONNX nodes\n  input %s %dx%d %s, output %s (%s)\n",
                args->input.c_str(), args->output.c_str(), report->tfjs_nodes, report->onnx_nodes,
                mi.input_name.c_str(), mi.input_width, mi.input_height,
                mi.input_layout == TensorLayout::kNHWC ? "NHWC" : "NCHW", mi.output_name.c_str(),
                OutputKindName(mi.output_kind));
    return 0;
  };
}

const bool kRegistered = RegisterCommand("convert", 20, SetupConvert);

}  // namespace
}  // namespace vrseg::cli
