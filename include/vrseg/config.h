// vrseg/config.h — one YAML file for the whole engine: pipeline, batching, backend, model, input,
// postprocessing, output and profiling.
//
// Every key maps one to one to a field of an option struct (PipelineOptions, BatcherOptions,
// BackendOptions, ReaderOptions, WriterOptions, PostprocessOptions, TemporalOptions,
// GuidedFilterOptions, ProfilerOptions) or of the small structs below, with the same name and the
// same default. docs/config.md lists every key with its type, range and default (a test checks
// that it lists exactly the keys ConfigKeys() knows). A file sets only the keys it wants:
//
//   batcher:
//     max_batch: 16
//     max_delay_us: 2000
//     preferred_batch_sizes: [16, 8, 4]
//   profiling:
//     enabled: true
//
// Errors (all kInvalidArgument, each naming the source, line and column, and the key):
//   * YAML syntax errors;
//   * unknown keys and sections, with the nearest valid key ("did you mean 'batcher.max_batch'?");
//   * wrong types (a list where a number goes, "abc" for an integer, a quoted "8" for an integer);
//   * values out of range ("batcher.max_batch: 0 is out of range [1, 1024]") and unknown enum
//     names (with the nearest valid name);
//   * duplicate keys;
//   * inconsistent combinations (preferred batch sizes above max_batch, ...), at the location
//     where the later of the keys involved was set.
// Overrides ("key.path=value", e.g. from --set flags) use the same parser on `value` (YAML flow
// syntax: "batcher.preferred_batch_sizes=[8, 4]"); their errors name the override.
//
// Presets: every configs/<name>.yaml is compiled in as the preset <name> ("vr", "throughput").
//
// Thread safety: all functions are reentrant; a Config is a plain value.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vrseg/backend.h"
#include "vrseg/batcher.h"
#include "vrseg/imgproc.h"
#include "vrseg/io.h"
#include "vrseg/pipeline.h"
#include "vrseg/profiler.h"
#include "vrseg/segmenter.h"
#include "vrseg/status.h"

namespace vrseg {

// backend.*
struct BackendConfig {
  std::string name = "ort";  // registered backend name (see RegisteredBackends())
  // threads, device_id and precision are read from the file; max_batch is always
  // batcher.max_batch (see BackendOptionsFor).
  BackendOptions options;
  std::string device = "auto";  // backend.device: auto | cpu | cuda (SegmenterOptions::device)
  std::string devices;          // backend.devices: "" | all | 0,1 (SegmenterOptions::devices)
};

// model.*
struct ModelConfig {
  std::string name = "selfie";               // a known model name or a path to an .onnx file
  ResizeMode resize = ResizeMode::kStretch;  // how frames are fitted to the model input
};

// input.*
struct InputConfig {
  ReaderOptions reader;                // threads (format and stream_id are set by the caller)
  std::optional<StereoLayout> stereo;  // none (mono), side_by_side or top_bottom
};

// postprocess.*
struct PostprocessConfig {
  bool threshold = false;              // PostprocessOptions::threshold
  float threshold_value = 0.5f;        // PostprocessOptions::threshold_value
  bool temporal = false;               // postprocess.temporal.enabled
  TemporalOptions temporal_options;    // postprocess.temporal.factor, .hysteresis
  bool refine = false;                 // postprocess.refine.enabled (fast guided filter)
  GuidedFilterOptions refine_options;  // postprocess.refine.radius, .eps, .subsample, .guidance
};

// output.background.* (CompositeOptions without the decoded image)
struct BackgroundConfig {
  BackgroundKind kind = BackgroundKind::kColor;
  std::array<uint8_t, 3> color{0, 255, 0};  // RGB
  std::string image;                        // path of the background picture (kind: image)
  int blur_radius = 0;                      // kind: blur; 0: about 1/40 of the frame's diagonal
};

// output.*
struct OutputConfig {
  WriterOptions writer;  // content, copy_audio, crf, threads
  BackgroundConfig background;
};

// profiling.*
struct ProfilingConfig {
  bool enabled = false;    // ProfilerOptions::enabled
  std::string output_dir;  // where trace.json, summary.json, report.html go ("": nowhere)
  int64_t max_trace_events = ProfilerOptions{}.max_trace_events;
  int64_t memory_sample_interval_ms = ProfilerOptions{}.memory_sample_interval_ms;
  double saturation_threshold = ProfilerOptions{}.saturation_threshold;
};

struct Config {
  PipelineOptions pipeline;  // pipeline.* and, for pipeline.batcher, the batcher.* section
  BackendConfig backend;
  ModelConfig model;
  InputConfig input;
  PostprocessConfig postprocess;
  OutputConfig output;
  ProfilingConfig profiling;
};

// The option structs the other layers take, filled from a config.
BackendOptions BackendOptionsFor(const Config& config);      // max_batch = batcher.max_batch
ProfilerOptions ProfilerOptionsFor(const Config& config);    // clock: nullptr (steady)
CompositeOptions CompositeOptionsFor(const Config& config);  // without the image (load it apart)
// SegmenterOptions from backend.*, model.*, pipeline.*, batcher.*, postprocess.threshold*,
// postprocess.temporal.*, postprocess.refine.*, output.content, output.background.* and
// input.threads. With output.background.kind image, the picture at output.background.image is
// decoded here (RGB24): errors name that key and the path (kNotFound, kDataLoss, ...). Then
// ValidateSegmenterOptions. Also backend.device, backend.devices and input.stereo.
Result<SegmenterOptions> SegmenterOptionsFor(const Config& config);

// Parses YAML text. `source` names it in errors (a path, or "<string>"). Keys not in the text keep
// their defaults. Then applies `overrides` in order and checks the result (ValidateConfig).
Result<Config> ParseConfig(std::string_view yaml, std::string_view source = "<string>",
                           const std::vector<std::string>& overrides = {});

// Reads `path_or_preset`: a preset name (see ConfigPresetNames) or a YAML file (kNotFound /
// kIoError naming the path). A preset name wins over a file of that name in the working directory
// (write "./vr" for the file). "" means the built-in defaults. Then overrides and checks as above.
Result<Config> LoadConfig(const std::string& path_or_preset,
                          const std::vector<std::string>& overrides = {});

// Applies one "key.path=value" override to `config` (type and range checked; no cross-key check:
// call ValidateConfig after the last one). On error `config` is unchanged.
Status ApplyOverride(Config* config, std::string_view assignment);

// Cross-key checks (preferred batch sizes <= max_batch, max_queue >= max_batch, infer_workers <=
// buffer_sets, a background image path when background.kind is image), then the pipeline's own
// ValidatePipelineOptions. Errors name the keys.
Status ValidateConfig(const Config& config);

// The compiled-in presets, sorted ({"throughput", "vr"}), and their YAML text.
std::vector<std::string> ConfigPresetNames();
Result<std::string> ConfigPresetYaml(std::string_view name);

// The schema: every key, in file order.
struct ConfigKey {
  std::string path;           // "batcher.max_batch"
  std::string type;           // bool | int | float | string | enum | int list | color
  std::string range;          // "[1, 1024]", "run | drop", "" when any value goes
  std::string default_value;  // as YAML: "1", "true", "[]", "\"\"", "[0, 255, 0]"
  std::string description;
};
const std::vector<ConfigKey>& ConfigKeys();

// Every key of `config` as YAML, by section, in ConfigKeys() order; ParseConfig of the result
// gives `config` back.
std::string ConfigToYaml(const Config& config);

// Levenshtein distance (for "did you mean"; public for the CLI's own suggestions).
int EditDistance(std::string_view a, std::string_view b);

}  // namespace vrseg
