// The config schema: one entry per key, bound to its field in Config.
#include "config/schema.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <utility>

namespace vrseg::config_internal {

namespace {

// `field` is a generic lambda [](auto& c) -> auto& { return c.some.field; } (works on const and
// non-const Config).
template <typename F>
KeySpec Int(std::string path, int64_t lo, int64_t hi, F field, std::string doc) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = Kind::kInt;
  k.min = static_cast<double>(lo);
  k.max = static_cast<double>(hi);
  k.description = std::move(doc);
  k.get = [field](const Config& c) -> Value { return static_cast<int64_t>(field(c)); };
  k.set = [field](Config& c, const Value& v) {
    auto& f = field(c);
    f = static_cast<std::remove_reference_t<decltype(f)>>(std::get<int64_t>(v));
  };
  return k;
}

template <typename F>
KeySpec Float(std::string path, double lo, double hi, bool lo_open, bool hi_open, F field,
              std::string doc) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = Kind::kFloat;
  k.min = lo;
  k.max = hi;
  k.min_exclusive = lo_open;
  k.max_exclusive = hi_open;
  k.description = std::move(doc);
  Config probe;
  k.single_precision = std::is_same_v<std::remove_reference_t<decltype(field(probe))>, float>;
  k.get = [field](const Config& c) -> Value { return static_cast<double>(field(c)); };
  k.set = [field](Config& c, const Value& v) {
    auto& f = field(c);
    f = static_cast<std::remove_reference_t<decltype(f)>>(std::get<double>(v));
  };
  return k;
}

template <typename F>
KeySpec Bool(std::string path, F field, std::string doc) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = Kind::kBool;
  k.description = std::move(doc);
  k.get = [field](const Config& c) -> Value { return static_cast<bool>(field(c)); };
  k.set = [field](Config& c, const Value& v) { field(c) = std::get<bool>(v); };
  return k;
}

template <typename F>
KeySpec String(std::string path, bool non_empty, F field, std::string doc) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = Kind::kString;
  k.non_empty = non_empty;
  k.description = std::move(doc);
  k.get = [field](const Config& c) -> Value { return std::string(field(c)); };
  k.set = [field](Config& c, const Value& v) { field(c) = std::get<std::string>(v); };
  return k;
}

template <typename E, typename F>
KeySpec Enum(std::string path, std::vector<std::pair<std::string, E>> names, F field,
             std::string doc) {
  KeySpec k;
  k.path = std::move(path);
  k.kind = Kind::kEnum;
  k.description = std::move(doc);
  for (const auto& n : names) k.names.push_back(n.first);
  k.get = [field, names](const Config& c) -> Value {
    for (const auto& n : names) {
      if (n.second == field(c)) return n.first;
    }
    return std::string("?");
  };
  k.set = [field, names](Config& c, const Value& v) {
    for (const auto& n : names) {
      if (n.first == std::get<std::string>(v)) field(c) = n.second;
    }
  };
  return k;
}

std::vector<KeySpec> MakeSchema() {
  std::vector<KeySpec> s;
  // ---- pipeline (PipelineOptions) ----
  s.push_back(Int(
      "pipeline.preprocess_workers", 1, 64,
      [](auto& c) -> auto& { return c.pipeline.preprocess_workers; },
      "Threads writing frames into batch slots (resize, convert, normalise)."));
  s.push_back(Int(
      "pipeline.infer_workers", 1, 8, [](auto& c) -> auto& { return c.pipeline.infer_workers; },
      "Threads running the backend; at most pipeline.buffer_sets."));
  s.push_back(Int(
      "pipeline.postprocess_workers", 1, 64,
      [](auto& c) -> auto& { return c.pipeline.postprocess_workers; },
      "Threads turning output slots into masks (upsample, refine, composite; temporal smoothing runs on the sink thread)."));
  s.push_back(Int(
      "pipeline.buffer_sets", 1, 8, [](auto& c) -> auto& { return c.pipeline.buffer_sets; },
      "Backend instances used in rotation; 2 overlaps preprocessing with inference. "
      "Each costs one copy of the model's buffers."));
  s.push_back(Int(
      "pipeline.sink_queue", 1, 4096, [](auto& c) -> auto& { return c.pipeline.sink_queue; },
      "Frames that may wait between postprocess and the sink."));
  // ---- batcher (PipelineOptions::batcher, BatcherOptions) ----
  s.push_back(Int(
      "batcher.max_batch", 1, 1024, [](auto& c) -> auto& { return c.pipeline.batcher.max_batch; },
      "Largest batch handed to the backend (also the backend's buffer size)."));
  s.push_back(Int(
      "batcher.max_delay_us", 0, 10'000'000,
      [](auto& c) -> auto& { return c.pipeline.batcher.max_delay_us; },
      "How long the oldest waiting frame may wait for a fuller batch, in "
      "microseconds; 0 sends a batch as soon as anything waits."));
  {
    KeySpec k;
    k.path = "batcher.preferred_batch_sizes";
    k.kind = Kind::kIntList;
    k.min = 1;
    k.max = 1024;
    k.description =
        "Batch sizes the backend runs best at (each at most batcher.max_batch); [] for any size.";
    k.get = [](const Config& c) -> Value {
      std::vector<int64_t> v(c.pipeline.batcher.preferred_batch_sizes.begin(),
                             c.pipeline.batcher.preferred_batch_sizes.end());
      return v;
    };
    k.set = [](Config& c, const Value& v) {
      const auto& l = std::get<std::vector<int64_t>>(v);
      c.pipeline.batcher.preferred_batch_sizes.assign(l.begin(), l.end());
    };
    s.push_back(std::move(k));
  }
  s.push_back(Int(
      "batcher.priority_levels", 1, 8,
      [](auto& c) -> auto& { return c.pipeline.batcher.priority_levels; },
      "Priority levels; 0 is the most urgent (VR / live frames)."));
  s.push_back(Bool(
      "batcher.urgent_no_delay",
      [](auto& c) -> auto& { return c.pipeline.batcher.urgent_no_delay; },
      "A waiting priority-0 frame sends a batch at once instead of waiting "
      "batcher.max_delay_us."));
  s.push_back(Int(
      "batcher.expected_latency_us", 0, 60'000'000,
      [](auto& c) -> auto& { return c.pipeline.batcher.expected_latency_us; },
      "Expected time from dispatch to result, in microseconds: a frame with a "
      "deadline is dispatched no later than deadline minus this."));
  s.push_back(Enum<LatePolicy>(
      "batcher.late_policy", {{"run", LatePolicy::kRunAnyway}, {"drop", LatePolicy::kDrop}},
      [](auto& c) -> auto& { return c.pipeline.batcher.late_policy; },
      "What happens to a frame past its deadline: run it anyway "
      "(counted late) or drop it (its result is DEADLINE_EXCEEDED)."));
  s.push_back(Int(
      "batcher.max_queue", 1, 65536, [](auto& c) -> auto& { return c.pipeline.batcher.max_queue; },
      "Frames that may wait to be batched (at least batcher.max_batch); producers "
      "block beyond it."));
  // ---- backend (BackendConfig, BackendOptions) ----
  s.push_back(String(
      "backend.name", true, [](auto& c) -> auto& { return c.backend.name; },
      "Registered backend: ort (ONNX Runtime, CPU), gpu (vrseg's CUDA engine), ort-cuda "
      "(ONNX Runtime's CUDA provider), noop (no model: measures the pipeline)."));
  s.push_back(Int(
      "backend.threads", 0, 1024, [](auto& c) -> auto& { return c.backend.options.threads; },
      "Intra-op threads of the backend; 0: one per core."));
  s.push_back(Int(
      "backend.device_id", 0, 63, [](auto& c) -> auto& { return c.backend.options.device_id; },
      "CUDA device, for GPU backends."));
  s.push_back(Enum<std::string>(
      "backend.device", {{"auto", "auto"}, {"cpu", "cpu"}, {"cuda", "cuda"}},
      [](auto& c) -> auto& { return c.backend.device; },
      "Where frames are processed: cuda (the all-GPU path: NVDEC decode, pre- and "
      "postprocessing on the GPU), cpu (the CPU pipeline), or auto: cuda where a GPU is "
      "present and the options allow it (no postprocess.temporal or refine), else cpu."));
  s.push_back(String(
      "backend.devices", false, [](auto& c) -> auto& { return c.backend.devices; },
      "GPUs of the cuda path: \"\" (backend.device_id), all, or a list such as 0,1; inputs "
      "are spread over them."));
  s.push_back(Enum<std::string>(
      "backend.precision", {{"auto", "auto"}, {"fp32", "fp32"}, {"fp16", "fp16"}},
      [](auto& c) -> auto& { return c.backend.options.precision; },
      "Arithmetic precision of GPU backends; auto: fp16 on gpu, the model file's on ort-cuda."));
  s.push_back(Bool(
      "backend.engine_cache", [](auto& c) -> auto& { return c.backend.options.engine_cache; },
      "gpu backend with an .onnx model: keep built plans in the engine cache (false: build "
      "every run)."));
  s.push_back(String(
      "backend.engine_cache_dir", false,
      [](auto& c) -> auto& { return c.backend.options.engine_cache_dir; },
      "Engine cache folder; \"\": $VRSEG_CACHE_DIR, else ~/.cache/vrseg/engines."));
  // ---- model ----
  s.push_back(String(
      "model.name", true, [](auto& c) -> auto& { return c.model.name; },
      "A known model (selfie, landscape, meet) or a path to an .onnx file with "
      "vrseg metadata."));
  s.push_back(Enum<ResizeMode>(
      "model.resize", {{"stretch", ResizeMode::kStretch}, {"letterbox", ResizeMode::kLetterbox}},
      [](auto& c) -> auto& { return c.model.resize; },
      "How frames are fitted to the model input: stretch (what the models were trained on) or "
      "letterbox (keep the aspect ratio)."));
  // ---- input ----
  s.push_back(Int(
      "input.threads", 0, 64, [](auto& c) -> auto& { return c.input.reader.threads; },
      "Decoder threads; 0: FFmpeg's choice."));
  {
    KeySpec k;
    k.path = "input.stereo";
    k.kind = Kind::kEnum;
    k.names = {"none", "side_by_side", "top_bottom"};
    k.description =
        "Stereo layout of VR input: none (mono), side_by_side or top_bottom (each view is "
        "segmented on its own).";
    k.get = [](const Config& c) -> Value {
      if (!c.input.stereo) return std::string("none");
      return std::string(*c.input.stereo == StereoLayout::kSideBySide ? "side_by_side"
                                                                      : "top_bottom");
    };
    k.set = [](Config& c, const Value& v) {
      const auto& n = std::get<std::string>(v);
      if (n == "none") c.input.stereo.reset();
      if (n == "side_by_side") c.input.stereo = StereoLayout::kSideBySide;
      if (n == "top_bottom") c.input.stereo = StereoLayout::kTopBottom;
    };
    s.push_back(std::move(k));
  }
  // ---- postprocess (PostprocessOptions, TemporalOptions, GuidedFilterOptions) ----
  s.push_back(Bool(
      "postprocess.threshold", [](auto& c) -> auto& { return c.postprocess.threshold; },
      "Hard mask (0/255) instead of a soft one."));
  s.push_back(Float(
      "postprocess.threshold_value", 0.0, 1.0, false, false,
      [](auto& c) -> auto& { return c.postprocess.threshold_value; },
      "Probability at or above which a pixel is the person, when thresholding."));
  s.push_back(Bool(
      "postprocess.temporal.enabled", [](auto& c) -> auto& { return c.postprocess.temporal; },
      "Smooth masks over time (per stream) against flicker."));
  s.push_back(Float(
      "postprocess.temporal.factor", 0.0, 1.0, true, false,
      [](auto& c) -> auto& { return c.postprocess.temporal_options.factor; },
      "Weight of the current mask; 1 disables smoothing."));
  s.push_back(Float(
      "postprocess.temporal.hysteresis", 0.0, 1.0, false, true,
      [](auto& c) -> auto& { return c.postprocess.temporal_options.hysteresis; },
      "Changes smaller than this (probability units) keep the previous value; 0 "
      "disables it."));
  s.push_back(Bool(
      "postprocess.refine.enabled", [](auto& c) -> auto& { return c.postprocess.refine; },
      "Refine mask edges with the fast guided filter, guided by the frame."));
  s.push_back(Int(
      "postprocess.refine.radius", 1, 256,
      [](auto& c) -> auto& { return c.postprocess.refine_options.radius; },
      "Guided filter radius, in full-resolution pixels."));
  s.push_back(Float(
      "postprocess.refine.eps", 0.0, 1.0, true, false,
      [](auto& c) -> auto& { return c.postprocess.refine_options.eps; },
      "Guided filter regularisation (squared [0,1] units): larger is smoother."));
  s.push_back(Int(
      "postprocess.refine.subsample", 1, 16,
      [](auto& c) -> auto& { return c.postprocess.refine_options.subsample; },
      "Guided filter subsampling; 1 is the plain guided filter."));
  s.push_back(Enum<GuidanceKind>(
      "postprocess.refine.guidance", {{"luma", GuidanceKind::kLuma}, {"mean", GuidanceKind::kMean}},
      [](auto& c) -> auto& { return c.postprocess.refine_options.guidance; },
      "Guide image: luma (BT.601 weights) or the mean of R, G, B."));
  // ---- output (WriterOptions, BackgroundConfig) ----
  s.push_back(Enum<OutputContent>(
      "output.content",
      {{"mask", OutputContent::kMask},
       {"alpha", OutputContent::kAlpha},
       {"composite", OutputContent::kComposite}},
      [](auto& c) -> auto& { return c.output.writer.content; },
      "What is written: the mask, the frame with the mask as alpha, "
      "or the person over a new background."));
  s.push_back(Bool(
      "output.copy_audio", [](auto& c) -> auto& { return c.output.writer.copy_audio; },
      "Copy the input's audio unchanged where the container allows."));
  s.push_back(Int(
      "output.crf", 0, 63, [](auto& c) -> auto& { return c.output.writer.crf; },
      "H.264 / VP9 quality (lower is better)."));
  s.push_back(Int(
      "output.threads", 0, 64, [](auto& c) -> auto& { return c.output.writer.threads; },
      "Encoder threads; 0: FFmpeg's choice."));
  s.push_back(String(
      "output.encoder", false, [](auto& c) -> auto& { return c.output.writer.encoder; },
      "An FFmpeg encoder instead of the container's own (h264_nvenc, hevc_nvenc, ...); \"\": "
      "the container's own (on the GPU path .mp4 uses h264_nvenc where the GPU has NVENC)."));
  s.push_back(Enum<BackgroundKind>(
      "output.background.kind",
      {{"color", BackgroundKind::kColor},
       {"image", BackgroundKind::kImage},
       {"blur", BackgroundKind::kBlur}},
      [](auto& c) -> auto& { return c.output.background.kind; },
      "Background of composites: a colour, a picture, or the frame "
      "blurred."));
  {
    KeySpec k;
    k.path = "output.background.color";
    k.kind = Kind::kColor;
    k.min = 0;
    k.max = 255;
    k.description = "Background colour, [R, G, B] (green screen by default).";
    k.get = [](const Config& c) -> Value {
      const auto& col = c.output.background.color;
      return std::vector<int64_t>{col[0], col[1], col[2]};
    };
    k.set = [](Config& c, const Value& v) {
      const auto& l = std::get<std::vector<int64_t>>(v);
      for (int i = 0; i < 3; ++i) c.output.background.color[i] = static_cast<uint8_t>(l[i]);
    };
    s.push_back(std::move(k));
  }
  s.push_back(String(
      "output.background.image", false, [](auto& c) -> auto& { return c.output.background.image; },
      "Path of the background picture (required when output.background.kind is "
      "image)."));
  s.push_back(Int(
      "output.background.blur_radius", 0, 1000,
      [](auto& c) -> auto& { return c.output.background.blur_radius; },
      "Blur radius in pixels; 0: about 1/40 of the frame's diagonal."));
  // ---- profiling (ProfilerOptions) ----
  s.push_back(Bool(
      "profiling.enabled", [](auto& c) -> auto& { return c.profiling.enabled; },
      "Record per-stage timings, queue depths and memory."));
  s.push_back(String(
      "profiling.output_dir", false, [](auto& c) -> auto& { return c.profiling.output_dir; },
      "Directory for trace.json, summary.json and report.html; \"\" writes none."));
  s.push_back(Int(
      "profiling.max_trace_events", 0, 100'000'000,
      [](auto& c) -> auto& { return c.profiling.max_trace_events; },
      "Trace events kept (later ones are counted, not kept; statistics keep "
      "everything)."));
  s.push_back(Int(
      "profiling.memory_sample_interval_ms", 0, 60'000,
      [](auto& c) -> auto& { return c.profiling.memory_sample_interval_ms; },
      "Resident-memory sampling period in milliseconds; 0: no sampling thread."));
  s.push_back(Float(
      "profiling.saturation_threshold", 0.0, 1.0, true, false,
      [](auto& c) -> auto& { return c.profiling.saturation_threshold; },
      "Busy fraction from which a stage counts as the bottleneck."));
  return s;
}

std::string FormatDouble(double v, bool single) {
  char buf[128];
  // Shortest text that reads back to the same value: fixed notation for ordinary magnitudes
  // ("0.0001", not "1e-04"), scientific otherwise.
  const double a = std::fabs(v);
  const auto fmt =
      (a == 0 || (a >= 1e-6 && a < 1e15)) ? std::chars_format::fixed : std::chars_format::general;
  std::to_chars_result r = single
                               ? std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v), fmt)
                               : std::to_chars(buf, buf + sizeof(buf), v, fmt);
  std::string s(buf, r.ptr);
  // Keep floats recognisable as floats in YAML ("1.0", not "1").
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

}  // namespace

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec> schema = MakeSchema();
  return schema;
}

const KeySpec* FindKey(std::string_view path) {
  for (const KeySpec& k : Schema()) {
    if (k.path == path) return &k;
  }
  return nullptr;
}

const std::vector<std::string>& Sections() {
  static const std::vector<std::string> sections = [] {
    std::vector<std::string> out;
    for (const KeySpec& k : Schema()) {
      for (size_t dot = k.path.find('.'); dot != std::string::npos;
           dot = k.path.find('.', dot + 1)) {
        std::string sec = k.path.substr(0, dot);
        bool seen = false;
        for (const auto& s : out) seen = seen || s == sec;
        if (!seen) out.push_back(sec);
      }
    }
    return out;
  }();
  return sections;
}

bool IsSection(std::string_view path) {
  for (const auto& s : Sections()) {
    if (s == path) return true;
  }
  return false;
}

std::string Render(const KeySpec& spec, const Value& value) {
  switch (spec.kind) {
    case Kind::kBool:
      return std::get<bool>(value) ? "true" : "false";
    case Kind::kInt:
      return std::to_string(std::get<int64_t>(value));
    case Kind::kFloat:
      return FormatDouble(std::get<double>(value), spec.single_precision);
    case Kind::kString:
      return Quote(std::get<std::string>(value));
    case Kind::kEnum:
      return std::get<std::string>(value);
    case Kind::kIntList:
    case Kind::kColor: {
      std::string out = "[";
      const auto& l = std::get<std::vector<int64_t>>(value);
      for (size_t i = 0; i < l.size(); ++i) out += (i ? ", " : "") + std::to_string(l[i]);
      return out + "]";
    }
  }
  return "";
}

std::string KindName(Kind kind) {
  switch (kind) {
    case Kind::kBool:
      return "bool";
    case Kind::kInt:
      return "int";
    case Kind::kFloat:
      return "float";
    case Kind::kString:
      return "string";
    case Kind::kEnum:
      return "enum";
    case Kind::kIntList:
      return "int list";
    case Kind::kColor:
      return "color";
  }
  return "";
}

std::string IntervalText(const KeySpec& spec) {
  auto num = [&spec](double v) {
    return spec.kind == Kind::kFloat ? FormatDouble(v, false)
                                     : std::to_string(static_cast<int64_t>(v));
  };
  return std::string(spec.min_exclusive ? "(" : "[") + num(spec.min) + ", " + num(spec.max) +
         (spec.max_exclusive ? ")" : "]");
}

std::string RangeText(const KeySpec& spec) {
  const std::string interval = IntervalText(spec);
  switch (spec.kind) {
    case Kind::kInt:
    case Kind::kFloat:
      return interval;
    case Kind::kIntList:
      return "each in " + interval;
    case Kind::kColor:
      return "3 values, each in " + interval;
    case Kind::kEnum: {
      std::string out;
      for (size_t i = 0; i < spec.names.size(); ++i) out += (i ? " | " : "") + spec.names[i];
      return out;
    }
    case Kind::kString:
      return spec.non_empty ? "non-empty" : "any";
    case Kind::kBool:
      return "true | false";
  }
  return "";
}

}  // namespace vrseg::config_internal
