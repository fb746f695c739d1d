// vrseg segment IN... -o OUT: cut the people out of videos, images and image sequences.
//
// Flags are shorthands for configuration keys (docs/config.md): the configuration is the preset
// or file given with --preset/--config, then --set KEY=VALUE overrides, then the flags.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "cli/commands.h"
#include "vrseg/config.h"
#include "vrseg/io.h"
#include "vrseg/log.h"
#include "vrseg/profiler.h"
#include "vrseg/segmenter.h"

namespace vrseg::cli {
namespace {

namespace fs = std::filesystem;

struct SegmentArgs {
  std::vector<std::string> inputs;
  std::string output;
  std::string config;   // preset name or YAML file
  std::vector<std::string> sets;
  std::string model, content, background, backend, precision, profile_dir, ext = ".mkv";
  std::string device, devices, stereo, list, encoder;
  std::optional<int> threads, batch;
  std::optional<float> threshold;
  bool no_audio = false;
  bool no_cache = false;
  bool progress = true;
};

// "#00ff00" / "00ff00" / "0,255,0" → RGB.
std::optional<std::array<int, 3>> ParseColor(const std::string& s) {
  std::string h = s[0] == '#' ? s.substr(1) : s;
  if (h.size() == 6 && h.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos) {
    const long v = std::strtol(h.c_str(), nullptr, 16);
    return std::array<int, 3>{int(v >> 16 & 255), int(v >> 8 & 255), int(v & 255)};
  }
  int r, g, b;
  char tail;
  if (std::sscanf(s.c_str(), "%d,%d,%d%c", &r, &g, &b, &tail) == 3 && r >= 0 && r < 256 &&
      g >= 0 && g < 256 && b >= 0 && b < 256) {
    return std::array<int, 3>{r, g, b};
  }
  return std::nullopt;
}

// The flags, as configuration overrides (applied after --set, so flags win).
Result<std::vector<std::string>> FlagOverrides(const SegmentArgs& a) {
  std::vector<std::string> o = a.sets;
  if (!a.model.empty()) o.push_back("model.name=" + a.model);
  if (!a.backend.empty()) o.push_back("backend.name=" + a.backend);
  if (!a.precision.empty()) o.push_back("backend.precision=" + a.precision);
  if (!a.device.empty()) o.push_back("backend.device=" + a.device);
  if (!a.devices.empty()) o.push_back("backend.devices=" + a.devices);
  if (!a.stereo.empty()) o.push_back("input.stereo=" + a.stereo);
  if (!a.encoder.empty()) o.push_back("output.encoder=" + a.encoder);
  if (a.no_cache) o.push_back("backend.engine_cache=false");
  if (a.threads) o.push_back("backend.threads=" + std::to_string(*a.threads));
  if (a.batch) o.push_back("batcher.max_batch=" + std::to_string(*a.batch));
  if (!a.content.empty()) o.push_back("output.content=" + a.content);
  if (a.threshold) {
    o.push_back("postprocess.threshold=true");
    o.push_back("postprocess.threshold_value=" + std::to_string(*a.threshold));
  }
  if (a.no_audio) o.push_back("output.copy_audio=false");
  if (!a.profile_dir.empty()) {
    o.push_back("profiling.enabled=true");
    o.push_back("profiling.output_dir=" + a.profile_dir);
  }
  if (!a.background.empty()) {
    const std::string& b = a.background;
    if (b == "blur") {
      o.push_back("output.background.kind=blur");
    } else if (b == "green") {
      o.push_back("output.background.kind=color");
      o.push_back("output.background.color=[0, 255, 0]");
    } else if (auto c = ParseColor(b); c && !fs::exists(b)) {
      o.push_back("output.background.kind=color");
      o.push_back("output.background.color=[" + std::to_string((*c)[0]) + ", " +
                  std::to_string((*c)[1]) + ", " + std::to_string((*c)[2]) + "]");
    } else {
      o.push_back("output.background.kind=image");
      o.push_back("output.background.image=" + b);
    }
    // A background only makes sense on a composite.
    if (a.content.empty()) o.push_back("output.content=composite");
  }
  return o;
}

// Output path of input i when several inputs go into a folder.
std::string OutputFor(const SegmentArgs& a, size_t i, bool folder) {
  if (!folder) return a.output;
  std::string ext = a.ext[0] == '.' ? a.ext : "." + a.ext;
  return (fs::path(a.output) / (fs::path(a.inputs[i]).stem().string() + ext)).string();
}

std::string Seconds(double s) {
  char b[32];
  if (s < 0) return "?";
  if (s < 60) std::snprintf(b, sizeof b, "%.1f s", s);
  else std::snprintf(b, sizeof b, "%d:%02d", int(s) / 60, int(s) % 60);
  return b;
}

int Fail(const Status& s) {
  LogError(s.ToString());
  return ExitCodeFor(s.code());
}

// Appends the inputs named in a list file: one path per line; blank lines and lines starting
// with # are skipped, surrounding spaces trimmed.
Status ReadInputList(const std::string& path, std::vector<std::string>* inputs) {
  std::ifstream f(path);
  if (!f) {
    return fs::exists(path) ? Status::IoError(path + ": cannot read the input list")
                            : Status::NotFound(path + ": no such input list");
  }
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    const size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const size_t e = line.find_last_not_of(" \t\r");
    inputs->push_back(line.substr(b, e - b + 1));
    ++n;
  }
  if (n == 0) return Status::InvalidArgument(path + ": the input list names no file");
  return Status::Ok();
}

int RunSegment(SegmentArgs a) {
  if (!a.list.empty()) {
    Status st = ReadInputList(a.list, &a.inputs);
    if (!st.ok()) return Fail(st);
  }
  if (a.inputs.empty()) {
    return Fail(Status::InvalidArgument("segment: no inputs (name files, or --list FILE)"));
  }
  auto overrides = FlagOverrides(a);
  if (!overrides.ok()) return Fail(overrides.status());
  auto config = a.config.empty() ? ParseConfig("", "<defaults>", *overrides)
                                 : LoadConfig(a.config, *overrides);
  if (!config.ok()) return Fail(config.status());
  auto options = SegmenterOptionsFor(*config);
  if (!options.ok()) return Fail(options.status());

  const bool folder = a.inputs.size() > 1 || !a.list.empty() || fs::is_directory(a.output);
  if (folder) {
    std::error_code ec;
    fs::create_directories(a.output, ec);
    if (ec) return Fail(Status::IoError(a.output + ": cannot create the output folder: " + ec.message()));
  }
  std::vector<RunOutput> outputs;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    RunOutput o;
    o.path = OutputFor(a, i, folder);
    o.writer = config->output.writer;
    outputs.push_back(o);
  }

  auto seg = Segmenter::Create(*options);
  if (!seg.ok()) return Fail(seg.status());
  Segmenter* segmenter = seg->get();
  OnStopRequest([segmenter] { segmenter->RequestStop(); });

  std::unique_ptr<Profiler> profiler;
  if (config->profiling.enabled) {
    profiler = std::make_unique<Profiler>(ProfilerOptionsFor(*config));
  }
  RunOptions ro;
  ro.profiler = profiler.get();
  const bool tty = a.progress && isatty(STDERR_FILENO);
  if (tty) {
    ro.progress = [](const ProgressInfo& p) {
      if (p.frames_total > 0) {
        std::fprintf(stderr, "\rvrseg: %lld/%lld frames  %.1f fps  ETA %s   ",
                     static_cast<long long>(p.frames_done), static_cast<long long>(p.frames_total),
                     p.fps, Seconds(p.eta_s).c_str());
      } else {
        std::fprintf(stderr, "\rvrseg: %lld frames  %.1f fps   ",
                     static_cast<long long>(p.frames_done), p.fps);
      }
      std::fflush(stderr);
    };
  }
  const int64_t t0 = NowNs();
  Status st = segmenter->Run(a.inputs, outputs, ro);
  const double wall = (NowNs() - t0) / 1e9;
  if (tty) std::fprintf(stderr, "\n");

  const SegmenterStats stats = segmenter->Stats();
  const LatencySummary& lat = stats.pipeline.latency;
  if (!st.ok() && stats.frames_written == 0) return Fail(st);
  std::printf("segmented %lld frames in %.2f s: %.1f fps; latency per frame p50 %.2f ms, p99 %.2f ms"
              " (%s, model %s)\n",
              static_cast<long long>(stats.frames_written), wall,
              wall > 0 ? stats.frames_written / wall : 0.0, lat.p50_us / 1e3, lat.p99_us / 1e3,
              stats.device.c_str(), stats.model.c_str());
  for (auto& o : outputs) {
    // Patterns (%04d) name no single file; other outputs are listed only if they were made.
    if (o.path.find('%') != std::string::npos || fs::exists(o.path)) {
      std::printf("  wrote %s\n", o.path.c_str());
    }
  }
  if (profiler) {
    Status ps = profiler->WriteReports(config->profiling.output_dir);
    if (!ps.ok()) LogError(ps.ToString());
    else std::printf("  profile: %s/{trace.json,summary.json,report.html}\n",
                     config->profiling.output_dir.c_str());
  }
  if (!st.ok()) return Fail(st);
  return 0;
}

RunFn SetupSegment(CLI::App& app) {
  auto a = std::make_shared<SegmentArgs>();
  CLI::App* s = app.add_subcommand("segment", "Cut the people out of videos, images and image sequences");
  s->add_option("inputs", a->inputs,
                "Video files, PNG/JPEG images or image-sequence patterns (frames/%04d.png)");
  s->add_option("--list", a->list,
                "A file naming inputs, one per line (# comments and blank lines skipped); -o is "
                "then a folder");
  s->add_option("-o", a->output,
                "Output file (.mkv FFV1, .mp4 H.264, .mov ProRes 4444, .webm VP9+alpha, "
                "%04d.png sequence, .png); a folder for several inputs")
      ->required();
  s->add_option("--model", a->model,
                "selfie (default), landscape, a path to an .onnx file, or (gpu) a .plan from "
                "vrseg build-engine");
  s->add_option("--output,--content", a->content, "mask (default), alpha or composite")
      ->check(CLI::IsMember({"mask", "alpha", "composite"}));
  s->add_option("--background", a->background,
                "Composite background: blur, green, a colour (#RRGGBB or R,G,B) or an image file "
                "(implies --content composite)");
  s->add_option("--threshold", a->threshold, "Hard 0/255 mask at this probability (default: soft)")
      ->check(CLI::Range(0.0, 1.0));
  s->add_option("--threads", a->threads, "Inference threads (default: one per core)")
      ->check(CLI::Range(1, 256));
  s->add_option("--batch", a->batch, "Largest inference batch (batcher.max_batch)")
      ->check(CLI::Range(1, 1024));
  s->add_option("--backend", a->backend,
                "ort (ONNX Runtime, CPU; default; on --device cuda the gpu backend runs instead), "
                "gpu (vrseg's CUDA engine), ort-cuda (ONNX Runtime's CUDA provider) or noop");
  s->add_option("--device", a->device,
                "cuda: keep frames on the GPU (NVDEC decode, GPU pre/postprocessing); cpu: the CPU "
                "pipeline; auto (default): cuda where a GPU is present and the options allow it")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  s->add_option("--devices", a->devices,
                "GPUs for --device cuda: all, or a list such as 0,1 (inputs are spread over them)");
  s->add_option("--stereo", a->stereo,
                "Stereo input: side_by_side or top_bottom (each eye segmented, merged back); "
                "none (default)")
      ->check(CLI::IsMember({"none", "side_by_side", "top_bottom"}));
  s->add_option("--encoder", a->encoder,
                "FFmpeg encoder instead of the container's own, e.g. h264_nvenc (default: the "
                "container's; on --device cuda, .mp4 uses NVENC where the GPU has it)");
  s->add_option("--precision", a->precision,
                "GPU precision: auto (default: fp16 on gpu, the file's on ort-cuda), fp32, fp16")
      ->check(CLI::IsMember({"auto", "fp32", "fp16"}));
  s->add_flag("--no-cache", a->no_cache,
              "gpu backend: build the engine for this run only, not into the engine cache");
  s->add_option("--preset,--config", a->config,
                "A preset (vr, throughput) or a YAML configuration file (docs/config.md)");
  s->add_option("--set", a->sets, "Override a configuration key: --set batcher.max_batch=4");
  s->add_option("--profile", a->profile_dir,
                "Write trace.json, summary.json and report.html of the run into this folder");
  s->add_option("--ext", a->ext, "Output extension when writing into a folder (default .mkv)");
  s->add_flag("--no-audio", a->no_audio, "Do not copy the input's audio");
  s->add_flag("!--no-progress", a->progress, "No progress line");
  return [a] { return RunSegment(*a); };
}

const bool kRegistered = RegisterCommand("segment", 10, SetupSegment);

}  // namespace
}  // namespace vrseg::cli
