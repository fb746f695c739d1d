// vrseg profile IN... -o DIR: segment the inputs with the profiler on and write DIR/trace.json
// (Chrome/Perfetto), DIR/summary.json and DIR/report.html, plus the masks (DIR/<stem>.mask.mkv).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "vrseg/batcher.h"
#include "vrseg/log.h"
#include "vrseg/profiler.h"
#include "vrseg/segmenter.h"

namespace vrseg::cli {
namespace {

namespace fs = std::filesystem;

struct ProfileArgs {
  std::vector<std::string> inputs;
  std::string out = "profile";
  std::string backend = "ort";
  std::string model = "selfie";
  std::string preset = "throughput";
  int batch = 0;
  int threads = 0;
  int pre_workers = 1;
  int post_workers = 1;
  int64_t memory_ms = 100;
};

int Fail(const Status& s) {
  LogError(s.ToString());
  return ExitCodeFor(s.code());
}

int RunProfile(const ProfileArgs& a) {
  SegmenterOptions o;
  o.backend = a.backend;
  o.model = a.model;
  o.backend_options.threads = a.threads;
  auto preset = BatcherPreset(a.preset);
  if (!preset.ok()) return Fail(preset.status().WithContext("--preset"));
  o.pipeline.batcher = *preset;
  if (a.batch > 0) {
    o.pipeline.batcher.max_batch = a.batch;
    o.pipeline.batcher.preferred_batch_sizes.clear();
    o.pipeline.batcher.max_queue = std::max(o.pipeline.batcher.max_queue, 2 * a.batch);
  }
  o.pipeline.preprocess_workers = a.pre_workers;
  o.pipeline.postprocess_workers = a.post_workers;

  std::error_code ec;
  fs::create_directories(a.out, ec);
  if (ec) return Fail(Status::IoError(a.out + ": cannot create the folder: " + ec.message()));
  std::vector<RunOutput> outputs;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    RunOutput r;
    r.path = (fs::path(a.out) / (fs::path(a.inputs[i]).stem().string() + ".mask" +
                                 (a.inputs.size() > 1 ? "." + std::to_string(i) : "") + ".mkv"))
                 .string();
    outputs.push_back(r);
  }

  auto seg = Segmenter::Create(o);
  if (!seg.ok()) return Fail(seg.status());
  Segmenter* segmenter = seg->get();
  OnStopRequest([segmenter] { segmenter->RequestStop(); });

  ProfilerOptions po;
  po.enabled = true;
  po.memory_sample_interval_ms = a.memory_ms;
  Profiler profiler(po);
  RunOptions ro;
  ro.profiler = &profiler;
  Status st = segmenter->Run(a.inputs, outputs, ro);
  // Reports are written whatever happened: a failed or interrupted run is worth a look too.
  Status wr = profiler.WriteReports(a.out);
  const ProfileReport rep = profiler.Report();
  std::printf("%-12s %8s %10s %10s %10s %9s %9s %9s\n", "stage", "workers", "frames", "p50 ms",
              "p99 ms", "busy", "starved", "blocked");
  for (const auto& s : rep.stages) {
    std::printf("%-12s %8d %10lld %10.3f %10.3f %8.0f%% %8.0f%% %8.0f%%\n", s.name.c_str(),
                s.workers, static_cast<long long>(s.items), s.latency.p50_ns / 1e6,
                s.latency.p99_ns / 1e6, 100 * s.busy_fraction, 100 * s.starved_fraction,
                100 * s.blocked_fraction);
  }
  std::printf("bottleneck: %s\n", rep.bottleneck.explanation.c_str());
  const SegmenterStats stats = segmenter->Stats();
  std::printf("%lld frames, %.1f fps, latency p50 %.2f ms p99 %.2f ms, peak RSS %.1f MB\n",
              static_cast<long long>(stats.pipeline.frames_out), stats.pipeline.fps,
              stats.pipeline.latency.p50_us / 1e3, stats.pipeline.latency.p99_us / 1e3,
              rep.peak_rss_bytes / (1024.0 * 1024.0));
  if (wr.ok()) {
    std::printf("wrote %s/trace.json, %s/summary.json, %s/report.html\n", a.out.c_str(),
                a.out.c_str(), a.out.c_str());
  }
  if (!st.ok()) return Fail(st);
  if (!wr.ok()) return Fail(wr);
  return 0;
}

RunFn SetupProfile(CLI::App& app) {
  auto args = std::make_shared<ProfileArgs>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Segment with the profiler on; write a trace, a JSON summary and an HTML report");
  ProfileArgs& a = *args;
  cmd->add_option("inputs", a.inputs, "Videos, images or image-sequence patterns")->required();
  cmd->add_option("-o,--out", a.out, "Folder for trace.json, summary.json, report.html, masks")
      ->capture_default_str();
  cmd->add_option("--backend", a.backend, "Backend: ort, noop")->capture_default_str();
  cmd->add_option("--model", a.model, "Model name or .onnx path")->capture_default_str();
  cmd->add_option("--preset", a.preset, "Batching preset: vr, throughput")->capture_default_str();
  cmd->add_option("--batch", a.batch, "Largest batch (default: the preset's)");
  cmd->add_option("--threads", a.threads, "Backend intra-op threads (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--pre-workers", a.pre_workers, "Preprocess threads")->capture_default_str();
  cmd->add_option("--post-workers", a.post_workers, "Postprocess threads")->capture_default_str();
  cmd->add_option("--memory-ms", a.memory_ms, "RSS sampling interval in ms (0: off)")
      ->capture_default_str();
  return [cmd, args]() -> int {
    if (!cmd->parsed()) return 0;
    return RunProfile(*args);
  };
}

const bool kRegistered = RegisterCommand("profile", 45, SetupProfile);

}  // namespace
}  // namespace vrseg::cli
