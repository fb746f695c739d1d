// vrseg bench: throughput and latency of the pipeline and of the model alone (see vrseg/bench.h).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "vrseg/batcher.h"
#include "vrseg/bench.h"
#include "vrseg/engine.h"
#include "vrseg/log.h"
#include "vrseg/model_registry.h"

namespace vrseg::cli {
namespace {

int Fail(const Status& s);

struct BenchFlags {
  std::string backend = "ort";
  std::string model = "selfie";
  std::string input;
  std::string size = "1280x720";
  std::string format = "rgb24";
  std::string preset = "throughput";
  int64_t frames = 500;
  int64_t warmup = 50;
  int max_outstanding = 0;
  int streams = 1;
  int max_batch = 0;        // 0: the preset's
  int64_t max_delay_us = -1;  // -1: the preset's
  int threads = 0;
  int pre_workers = 1;
  int post_workers = 1;
  int infer_workers = 1;
  int buffer_sets = 2;
  bool realtime = false;
  bool overhead = false;
  bool no_model_only = false;
  bool json = false;
  std::string sweep;
  double latency_budget_ms = 0;
  std::vector<int64_t> rss_at = {1000, 20000};
  // Model-only mode (--batch) and GPU backends.
  std::string batch;
  std::string precision = "auto";
  bool no_cache = false;
  bool layers = false;
  int samples = 7;
};

// `vrseg bench --backend gpu --layers`: the plan that backend runs for `model` (a .plan, or the
// engine cache's plan for an .onnx file, with the backend's build options).
Result<std::string> PlanFor(const std::string& model, const BackendOptions& bo, int max_batch) {
  VRSEG_ASSIGN_OR_RETURN(std::string path, ResolveModelPath(model));
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".plan") == 0) return path;
  if (!bo.engine_cache) {
    return Status::InvalidArgument(
        "--layers with an .onnx model needs the engine cache (drop --no-cache, or give a .plan "
        "from vrseg build-engine)");
  }
  return CachedEnginePlan(path, BackendEngineOptions(bo.precision, max_batch, bo.device_id),
                         bo.engine_cache_dir);
}

// Per-layer times of the gpu backend's plan at `batch`: a table, or JSON lines.
int PrintLayers(const BenchFlags& f, const BackendOptions& bo, int max_batch, int batch) {
  auto plan = PlanFor(f.model, bo, max_batch);
  if (!plan.ok()) return Fail(plan.status().WithContext("--layers"));
  auto layers = ProfileEnginePlan(*plan, batch, 20, bo.device_id);
  if (!layers.ok()) return Fail(layers.status().WithContext("--layers"));
  double total = 0;
  for (const auto& l : *layers) total += l.ms;
  if (f.json) {
    auto esc = [](const std::string& in) {
      std::string out;
      for (char c : in) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) out += c;
      }
      return out;
    };
    for (size_t i = 0; i < layers->size(); ++i) {
      const auto& l = (*layers)[i];
      std::printf(
          "{\"kind\": \"layer\", \"index\": %zu, \"name\": \"%s\", \"op\": \"%s\", "
          "\"layer_kind\": \"%s\", \"tactic\": \"%s\", \"batch\": %d, \"ms\": %.5f, "
          "\"gbps\": %.1f, \"tflops\": %.2f}\n",
          i, esc(l.name).c_str(), esc(l.op).c_str(), esc(l.kind).c_str(), esc(l.tactic).c_str(),
          batch, l.ms, l.gbps,
          l.tflops);
    }
    return 0;
  }
  std::printf("\nlayers of %s at batch %d (each timed alone, 20 runs, CUDA events)\n",
              plan->c_str(), batch);
  std::printf("  %4s  %-34s %-18s %-26s %9s %6s %9s %8s\n", "#", "layer", "op", "tactic",
              "us", "%", "GB/s", "TFLOP/s");
  for (size_t i = 0; i < layers->size(); ++i) {
    const auto& l = (*layers)[i];
    std::string name = l.name.size() > 34 ? "..." + l.name.substr(l.name.size() - 31) : l.name;
    std::printf("  %4zu  %-34s %-18s %-26s %9.2f %6.1f %9.1f %8.2f\n", i, name.c_str(),
                l.op.c_str(), l.tactic.c_str(), l.ms * 1e3, total > 0 ? 100.0 * l.ms / total : 0,
                l.gbps, l.tflops);
  }
  std::printf("  sum of layers: %.4f ms (%zu layers)\n", total, layers->size());
  return 0;
}

int Fail(const Status& s) {
  LogError(s.ToString());
  return ExitCodeFor(s.code());
}

RunFn SetupBench(CLI::App& app) {
  auto flags = std::make_shared<BenchFlags>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure end-to-end and model-only throughput, latency and per-stage times");
  BenchFlags& f = *flags;
  cmd->add_option("--backend", f.backend,
                  "Backend: ort, gpu, ort-cuda, noop (measures the pipeline itself)")
      ->capture_default_str();
  cmd->add_option("--model", f.model,
                  "Model name (selfie, landscape), .onnx path or (gpu) .plan; \"\" with noop")
      ->capture_default_str();
  cmd->add_option("--input", f.input, "Video/image file to decode (looped); default synthetic frames");
  cmd->add_option("--size", f.size, "Synthetic frame size WxH")->capture_default_str();
  cmd->add_option("--format", f.format, "Synthetic frame format: rgb24 bgr24 rgba bgra nv12 i420 gray8")
      ->capture_default_str();
  cmd->add_option("--preset", f.preset, "Batching preset: vr, throughput")->capture_default_str();
  cmd->add_option("--frames,-n", f.frames, "Frames measured (after warm-up)")->capture_default_str();
  cmd->add_option("--warmup", f.warmup, "Warm-up frames (not measured)")->capture_default_str();
  cmd->add_option("--max-outstanding", f.max_outstanding,
                  "Frames in flight the feeder allows: 0 auto (batch x (sets+1)), -1 unlimited")
      ->capture_default_str();
  cmd->add_option("--streams", f.streams, "Synthetic input streams sharing the pipeline")
      ->capture_default_str();
  cmd->add_option("--max-batch", f.max_batch, "Largest batch (default: the preset's)");
  cmd->add_option("--max-delay-us", f.max_delay_us, "Batching delay in us (default: the preset's)");
  cmd->add_option("--threads", f.threads, "Backend intra-op threads (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--pre-workers", f.pre_workers, "Preprocess threads")->capture_default_str();
  cmd->add_option("--post-workers", f.post_workers, "Postprocess threads")->capture_default_str();
  cmd->add_option("--infer-workers", f.infer_workers, "Threads running the backend (<= buffer sets)")
      ->capture_default_str();
  cmd->add_option("--buffer-sets", f.buffer_sets, "Backend instances in rotation")
      ->capture_default_str();
  cmd->add_flag("--realtime", f.realtime, "Submit every frame at VR (realtime) priority");
  cmd->add_flag("--overhead", f.overhead,
                "Stages do no work (bare pipeline): with --backend noop, the pipeline's own cost");
  cmd->add_flag("--no-model-only", f.no_model_only, "Skip timing the model alone");
  cmd->add_flag("--json", f.json, "Print JSON instead of tables");
  cmd->add_option("--sweep", f.sweep, "Batch sizes to sweep, e.g. 1,2,4,8,16");
  cmd->add_option("--latency-budget-ms", f.latency_budget_ms,
                  "With --sweep: the p99 latency the chosen batch size must fit (0: none)")
      ->capture_default_str();
  cmd->add_option("--rss-at", f.rss_at, "Frame counts at which RSS is sampled")
      ->capture_default_str();
  cmd->add_option("--batch", f.batch,
                  "Time the model alone (no pipeline) at these batch sizes, e.g. 1,8,32: the "
                  "median of --samples samples, device time on GPU backends");
  cmd->add_option("--samples", f.samples, "With --batch: samples per batch size")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  cmd->add_option("--precision", f.precision,
                  "GPU precision: auto (fp16 on gpu, the file's on ort-cuda), fp32, fp16")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "fp16"}));
  cmd->add_flag("--no-cache", f.no_cache,
                "gpu backend: build the engine for this run only, not into the engine cache");
  cmd->add_flag("--layers", f.layers,
                "gpu backend, with --batch: also each layer's time, tactic and achieved GB/s or "
                "TFLOP/s at the largest batch");

  return [cmd, flags]() -> int {
    if (!cmd->parsed()) return 0;
    const BenchFlags& f = *flags;
    BackendOptions bo;
    bo.threads = f.threads;
    bo.precision = f.precision;
    bo.engine_cache = !f.no_cache;
    if (f.layers && f.backend != "gpu") {
      return Fail(Status::InvalidArgument("--layers: only the gpu backend has layers to time"));
    }
    if (f.layers && f.batch.empty()) {
      return Fail(Status::InvalidArgument("--layers needs --batch (the batch sizes to time)"));
    }
    if (!f.batch.empty()) {
      auto sizes = ParseBatchList(f.batch);
      if (!sizes.ok()) return Fail(sizes.status().WithContext("--batch"));
      ModelTimingOptions mo;
      mo.backend = f.backend;
      mo.model = f.model;
      mo.backend_options = bo;
      mo.batches = *sizes;
      mo.samples = f.samples;
      auto report = TimeModel(mo);
      if (!report.ok()) return Fail(report.status());
      if (f.json) {
        std::printf("%s", ModelTimingJson(*report).c_str());
      } else {
        std::printf("%s", FormatModelTimingReport(*report).c_str());
      }
      std::fflush(stdout);
      if (f.layers) {
        const int max_batch = *std::max_element(sizes->begin(), sizes->end());
        return PrintLayers(f, bo, max_batch, max_batch);
      }
      return 0;
    }
    BenchOptions o;
    o.segmenter.backend = f.backend;
    o.segmenter.model = f.model;
    o.segmenter.backend_options = bo;
    auto preset = BatcherPreset(f.preset);
    if (!preset.ok()) return Fail(preset.status().WithContext("--preset"));
    o.segmenter.pipeline.batcher = *preset;
    if (f.max_batch > 0) {
      auto& b = o.segmenter.pipeline.batcher;
      b.max_batch = f.max_batch;
      b.preferred_batch_sizes.clear();
      b.max_queue = std::max(b.max_queue, 2 * f.max_batch);
    }
    if (f.max_delay_us >= 0) o.segmenter.pipeline.batcher.max_delay_us = f.max_delay_us;
    o.segmenter.pipeline.preprocess_workers = f.pre_workers;
    o.segmenter.pipeline.postprocess_workers = f.post_workers;
    o.segmenter.pipeline.buffer_sets = f.buffer_sets;
    o.segmenter.pipeline.infer_workers = f.infer_workers;
    o.input = f.input;
    if (f.input.empty()) {
      auto size = ParseFrameSize(f.size);
      if (!size.ok()) return Fail(size.status());
      o.width = size->first;
      o.height = size->second;
      auto fmt = ParseInputFormat(f.format);
      if (!fmt.ok()) return Fail(fmt.status());
      o.format = *fmt;
    }
    o.frames = f.frames;
    o.warmup_frames = f.warmup;
    o.max_outstanding = f.max_outstanding;
    o.streams = f.streams;
    o.priority = f.realtime ? kPriorityRealtime : kPriorityThroughput;
    o.stages = f.overhead ? BenchStages::kNone : BenchStages::kFull;
    o.model_only = !f.no_model_only;
    o.rss_checkpoints = f.rss_at;

    if (!f.sweep.empty()) {
      auto sizes = ParseBatchList(f.sweep);
      if (!sizes.ok()) return Fail(sizes.status().WithContext("--sweep"));
      auto sweep = RunSweep(o, *sizes, f.latency_budget_ms);
      if (!sweep.ok()) return Fail(sweep.status());
      if (f.json) {
        std::printf("%s\n", SweepReportJson(*sweep).c_str());
      } else {
        std::printf("vrseg bench --sweep (%s, %s)\n%s", f.backend.c_str(),
                    f.input.empty() ? f.size.c_str() : f.input.c_str(),
                    FormatSweepReport(*sweep).c_str());
      }
      return 0;
    }
    auto report = RunBench(o);
    if (!report.ok()) return Fail(report.status());
    if (f.json) {
      std::printf("%s\n", BenchReportJson(*report).c_str());
    } else {
      std::printf("%s", FormatBenchReport(*report).c_str());
    }
    return 0;
  };
}

const bool kRegistered = RegisterCommand("bench", 50, SetupBench);

}  // namespace
}  // namespace vrseg::cli
