// gpu_pipeline_bench: issue 7's pipeline figure, vrseg's side — 1080p RGB frames in pinned host
// memory through GpuFramePath (upload, preprocessing straight into the engine's input tensor,
// postprocessing, compositing over a solid colour, download of the composited RGB24 frame into
// pinned host memory) with vrseg's engine (the "gpu" backend, FP16 plan for batches 1..max) running
// each batch on the path's compute stream. The peer is bench/torch_pipeline_peer.py: the same
// network (its --export writes the ONNX file this bench takes, with vrseg metadata), the same
// frames (the same deterministic pattern, 16 distinct frames), the same background, the same GPU.
//
//   gpu_pipeline_bench MODEL.onnx [--width 1920 --height 1080] [--batches 1,16] [--samples 500]
//                      [--batch-iters 100] [--warmup 50] [--json PATH] [--background R,G,B]
//                      [--plan-per-batch]
//
// The backend is made once with max_batch = the largest B (a plan for batches 1..max, tuned at
// max). --plan-per-batch makes one per batch size instead (plan 1..B tuned at B), as the PyTorch
// peer captures one graph per batch size; "plan_max_batch" in the JSON says which ran.
// For each batch size B (1..kMaxFramePathSlots; the backend's max_batch is the largest B):
//   latency     one batch in flight (a path of B slots): B Submits (frame i into input slot i),
//               model.Run(B) on the compute stream, B Finishes (output slot i), B Waits. Host
//               clock from the first Submit to the last Wait's return (every composited frame on
//               the host); `--warmup` batches, then `--samples` timed batches for B = 1 and
//               `--batch-iters` for B > 1. p50/p99/mean/min/max ms per batch (for B = 1: per
//               frame) and the frames/s of those sequential batches.
//   pipelined   the path's overlap: a path of min(2B, kMaxFramePathSlots) slots; before each
//               Submit, while every slot is busy, Wait for the oldest frame, so one batch's
//               uploads and preprocessing overlap the previous batch's downloads (with 2B slots
//               the whole previous batch may still be in flight). The slots used are printed
//               and in the JSON. frames/s over `--batch-iters` batches (`--samples` frames at
//               B = 1).
// Frames: max(16, largest B) distinct frames, frame i of batch k = frame (k*B mod n) + i (from 0
// when the batch would run past the end), as the peer picks them.
// Prints a table, then one JSON object (also written to --json):
//   {"gpu", "device", "backend", "precision", "model", "frame", "model_input", "background",
//    "backend_made_s", "batch1": {"batch", "latency_ms": {"p50", "p99", "mean", "min", "max"},
//    "samples", "frames_per_s", "pipelined": {"slots", "frames_per_s", "batches"},
//    "output_mean_frame0"}, "batch16": {...}}
// output_mean_frame0 is the mean byte of frame 0's composited output: compare with the PyTorch
// peer's (same weights, same pixels; FP16 and rounding differences aside they should agree).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "vrseg/backend.h"
#include "vrseg/cuda/check.h"
#include "vrseg/cuda/frame_path.h"
#include "vrseg/imgproc.h"
#include "vrseg/model_registry.h"

using namespace vrseg;
using namespace vrseg::cuda;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kDistinctFrames = 16;

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

std::vector<int> ParseInts(const char* s) {
  std::vector<int> out;
  while (*s) {
    char* end = nullptr;
    const long v = std::strtol(s, &end, 10);
    if (end == s) return {};
    out.push_back(static_cast<int>(v));
    s = end;
    if (*s == ',') ++s;
  }
  return out;
}

// n distinct RGB24 frames in pinned host memory (tight rows), the PyTorch peer's pattern:
//   v = ((7x + 13y + 85c + 37i) XOR ((x*y) >> 5)) & 255.
std::vector<Frame> MakeFrames(int n, int width, int height) {
  const size_t pitch = size_t(width) * 3, bytes = pitch * height;
  std::vector<Frame> out;
  for (int i = 0; i < n; ++i) {
    void* mem = nullptr;
    CK(cudaHostAlloc(&mem, bytes, cudaHostAllocDefault));
    auto* p = static_cast<uint8_t*>(mem);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        for (int c = 0; c < 3; ++c) {
          p[y * pitch + x * 3 + c] =
              static_cast<uint8_t>(((7 * x + 13 * y + 85 * c + 37 * i) ^ ((x * y) >> 5)) & 255);
        }
      }
    }
    Frame f = Frame::Wrap(PixelFormat::kRGB24, width, height, p, static_cast<int64_t>(pitch));
    f.memory = MemoryKind::kPinnedHost;
    f.index = i;
    f.storage = std::shared_ptr<void>(mem, [](void* q) { cudaFreeHost(q); });
    out.push_back(f);
  }
  return out;
}

// The first frame of batch k (as the PyTorch peer picks them: consecutive frames, wrapping).
int FirstFrame(int k, int batch, int n_frames) {
  const int start = static_cast<int>((int64_t{k} * batch) % n_frames);
  return start + batch <= n_frames ? start : 0;
}

// One batch with nothing else in flight: submit, run, finish, collect. Returns frame 0's result
// when `first` is given.
void RunBatch(GpuFramePath& path, Backend& model, const std::vector<Frame>& frames, int k,
              int batch, FrameResult* first) {
  const Tensor in = model.input(0), out = model.output(0);
  const int f0 = FirstFrame(k, batch, static_cast<int>(frames.size()));
  int64_t seq[kMaxFramePathSlots];
  for (int i = 0; i < batch; ++i) {
    auto s = path.Submit(frames[f0 + i], in, i);
    OK(s.status());
    seq[i] = *s;
  }
  OK(model.Run(batch, path.compute_stream()));
  for (int i = 0; i < batch; ++i) OK(path.Finish(seq[i], out.slot(i)));
  for (int i = 0; i < batch; ++i) {
    auto r = path.Wait();
    OK(r.status());
    if (first && i == 0) *first = *r;
  }
}

// `batches` batches through a path of more slots than one batch: collect the oldest frame only
// when every slot is busy. Drains the path at the end.
void RunPipelined(GpuFramePath& path, Backend& model, const std::vector<Frame>& frames, int batch,
                  int batches) {
  const Tensor in = model.input(0), out = model.output(0);
  const int slots = path.options().slots;
  int64_t seq[kMaxFramePathSlots];
  for (int k = 0; k < batches; ++k) {
    const int f0 = FirstFrame(k, batch, static_cast<int>(frames.size()));
    for (int i = 0; i < batch; ++i) {
      while (path.in_flight() >= slots) OK(path.Wait().status());
      auto s = path.Submit(frames[f0 + i], in, i);
      OK(s.status());
      seq[i] = *s;
    }
    OK(model.Run(batch, path.compute_stream()));
    for (int i = 0; i < batch; ++i) OK(path.Finish(seq[i], out.slot(i)));
  }
  while (path.in_flight() > 0) OK(path.Wait().status());
}

struct BatchResult {
  int batch = 0;
  int plan_max_batch = 0;
  int latency_slots = 0;
  std::vector<double> latency_ms;  // per batch, one in flight
  double frames_per_s = 0;         // of those sequential batches
  int pipelined_slots = 0;
  int pipelined_batches = 0;
  double pipelined_frames_per_s = 0;
  double output_mean_frame0 = 0;
};

std::unique_ptr<GpuFramePath> MakePath(FramePathOptions o, int slots, size_t frame_bytes) {
  o.slots = slots;
  o.pinned_max_bytes = std::max(o.pinned_max_bytes, 2 * size_t(slots) * frame_bytes);
  auto made = GpuFramePath::Create(o);
  OK(made.status());
  return std::move(*made);
}

BatchResult RunCase(Backend& model, const FramePathOptions& o, const std::vector<Frame>& frames,
                    int batch, int count, int warmup) {
  BatchResult res;
  res.batch = batch;
  res.plan_max_batch = model.max_batch();
  const size_t frame_bytes = size_t(frames[0].width) * frames[0].height * 3;
  {
    res.latency_slots = batch;
    auto path = MakePath(o, batch, frame_bytes);
    // Frame 0's composite (the first batch is also the first warm-up batch).
    FrameResult first;
    RunBatch(*path, model, frames, 0, batch, &first);
    double sum = 0;
    const Frame& c = first.composite;
    for (int y = 0; y < c.height; ++y) {
      const uint8_t* row = c.data[0] + y * c.pitch[0];
      for (int x = 0; x < c.width * 3; ++x) sum += row[x];
    }
    res.output_mean_frame0 = sum / (double(c.width) * c.height * 3);
    first = FrameResult{};  // the pinned buffer back to the pool
    for (int k = 0; k < warmup; ++k) RunBatch(*path, model, frames, k, batch, nullptr);
    const auto t_all = Clock::now();
    for (int k = 0; k < count; ++k) {
      const auto t0 = Clock::now();
      RunBatch(*path, model, frames, k, batch, nullptr);
      res.latency_ms.push_back(
          std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    res.frames_per_s =
        double(batch) * count / std::chrono::duration<double>(Clock::now() - t_all).count();
  }
  {
    res.pipelined_slots = std::min(2 * batch, kMaxFramePathSlots);
    res.pipelined_batches = count;
    auto path = MakePath(o, res.pipelined_slots, frame_bytes);
    RunPipelined(*path, model, frames, batch, std::max(2, warmup));
    const auto t0 = Clock::now();
    RunPipelined(*path, model, frames, batch, count);
    res.pipelined_frames_per_s =
        double(batch) * count / std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return res;
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", ch);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name, json_path;
  int width = 1920, height = 1080, samples = 500, batch_iters = 100, warmup = 50;
  std::vector<int> batches = {1, 16};
  std::vector<int> background = {0, 177, 64};
  bool plan_per_batch = false;
  const char* usage =
      "usage: gpu_pipeline_bench MODEL.onnx [--width 1920 --height 1080] [--batches 1,16] "
      "[--samples 500] [--batch-iters 100] [--warmup 50] [--json PATH] [--background R,G,B] "
      "[--plan-per-batch]\n";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--width") && i + 1 < argc) {
      width = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--height") && i + 1 < argc) {
      height = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--batches") && i + 1 < argc) {
      batches = ParseInts(argv[++i]);
    } else if (!std::strcmp(argv[i], "--samples") && i + 1 < argc) {
      samples = std::max(10, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--batch-iters") && i + 1 < argc) {
      batch_iters = std::max(10, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) {
      warmup = std::max(0, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) {
      json_path = argv[++i];
    } else if (!std::strcmp(argv[i], "--background") && i + 1 < argc) {
      background = ParseInts(argv[++i]);
    } else if (!std::strcmp(argv[i], "--plan-per-batch")) {
      plan_per_batch = true;
    } else if (argv[i][0] != '-' && model_name.empty()) {
      model_name = argv[i];
    } else {
      std::fprintf(stderr, "%s", usage);
      return 2;
    }
  }
  bool bad =
      model_name.empty() || width < 2 || height < 2 || batches.empty() || background.size() != 3;
  for (int b : batches) bad = bad || b < 1 || b > kMaxFramePathSlots;
  for (int v : background) bad = bad || v < 0 || v > 255;
  if (bad) {
    std::fprintf(stderr, "%s(batches 1..%d, background R,G,B in 0..255)\n", usage,
                 kMaxFramePathSlots);
    return 2;
  }
  if (DeviceCount() == 0) {
    std::printf("gpu_pipeline_bench: no CUDA device (%s)\n", DeviceDescription(0).c_str());
    return 0;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s\n", DeviceDescription(0).c_str());
  auto path = ResolveModelPath(model_name);
  OK(path.status());
  BackendOptions bo;
  bo.max_batch = *std::max_element(batches.begin(), batches.end());
  bo.precision = "fp16";
  const auto c0 = Clock::now();
  auto made = CreateBackend("gpu", *path, bo);
  OK(made.status());
  Backend& model = **made;
  const double made_s = std::chrono::duration<double>(Clock::now() - c0).count();
  const ModelInfo& mi = model.model_info();
  std::printf("model: %s (%s), backend made in %.2f s (plan built or loaded from the cache)\n",
              path->c_str(), model.device_description().c_str(), made_s);
  std::printf("  input %s %s %s, output %s %s %s, %s, person channel %d of %d\n",
              mi.input_name.c_str(), ShapeToString(model.input(0).shape).c_str(),
              DTypeName(model.input(0).dtype), mi.output_name.c_str(),
              ShapeToString(model.output(0).shape).c_str(), DTypeName(model.output(0).dtype),
              OutputKindName(mi.output_kind), mi.person_channel, mi.output_channels);

  FramePathOptions o;
  o.preprocess = PreprocessOptionsFor(mi);
  o.postprocess.post = PostprocessOptionsFor(mi);
  o.postprocess.slot_dtype = model.output(0).dtype;
  o.download_mask = false;
  o.composite = true;
  o.composite_options.background = BackgroundKind::kColor;
  o.composite_options.color = {static_cast<uint8_t>(background[0]),
                               static_cast<uint8_t>(background[1]),
                               static_cast<uint8_t>(background[2])};
  o.composite_format = PixelFormat::kRGB24;
  o.timeline = false;

  const int n_frames = std::max(kDistinctFrames, bo.max_batch);
  const std::vector<Frame> frames = MakeFrames(n_frames, width, height);
  std::printf(
      "\n%d distinct %dx%d RGB24 frames in pinned host memory -> upload -> preprocess (%dx%d) -> "
      "engine -> postprocess -> composite over RGB (%d,%d,%d) -> RGB24 downloaded to pinned host\n"
      "latency: one batch in flight, first Submit to the last Wait's return, per batch; "
      "plan: the engine plan's largest batch; pipelined: frames/s with min(2B, "
      "kMaxFramePathSlots = %d) slots\n",
      n_frames, width, height, o.preprocess.out_width, o.preprocess.out_height, background[0],
      background[1], background[2], kMaxFramePathSlots);
  std::printf("  %5s %5s %7s %9s %9s %9s %9s %12s %6s %12s\n", "batch", "plan", "samples", "p50 ms",
              "p99 ms", "mean ms", "max ms", "frames/s", "slots", "pipelined");
  std::vector<BatchResult> results;
  for (int b : batches) {
    const int count = b == 1 ? samples : batch_iters;
    std::unique_ptr<Backend> own;
    if (plan_per_batch && b != bo.max_batch) {
      BackendOptions bb = bo;
      bb.max_batch = b;
      auto m = CreateBackend("gpu", *path, bb);
      OK(m.status());
      own = std::move(*m);
    }
    BatchResult r = RunCase(own ? *own : model, o, frames, b, count, warmup);
    std::printf("  %5d %5d %7d %9.3f %9.3f %9.3f %9.3f %12.0f %6d %12.0f\n", b, r.plan_max_batch,
                count, Pct(r.latency_ms, 0.5), Pct(r.latency_ms, 0.99), Mean(r.latency_ms),
                Pct(r.latency_ms, 1.0), r.frames_per_s, r.pipelined_slots,
                r.pipelined_frames_per_s);
    std::fflush(stdout);
    results.push_back(std::move(r));
  }

  std::string json = "{\"gpu\": \"" + JsonEscape(prop.name) + "\", \"device\": \"" +
                     JsonEscape(DeviceDescription(0)) + "\", \"backend\": \"" +
                     JsonEscape(model.device_description()) + "\", \"precision\": \"" +
                     JsonEscape(model.precision()) + "\", \"model\": \"" + JsonEscape(*path) +
                     "\", \"model_name\": \"" + JsonEscape(mi.name) + "\"";
  char buf[1024];
  std::snprintf(buf, sizeof(buf),
                ", \"frame\": \"%dx%d RGB24, pinned host\", \"model_input\": \"%dx%d\", "
                "\"background\": [%d, %d, %d], \"backend_made_s\": %.3f",
                width, height, o.preprocess.out_width, o.preprocess.out_height, background[0],
                background[1], background[2], made_s);
  json += buf;
  for (const BatchResult& r : results) {
    std::snprintf(buf, sizeof(buf),
                  ", \"batch%d\": {\"batch\": %d, \"plan_max_batch\": %d, \"latency_ms\": "
                  "{\"p50\": %.4f, \"p99\": %.4f, "
                  "\"mean\": %.4f, \"min\": %.4f, \"max\": %.4f}, \"samples\": %zu, \"slots\": %d, "
                  "\"frames_per_s\": %.1f, \"pipelined\": {\"slots\": %d, \"frames_per_s\": %.1f, "
                  "\"batches\": %d}, \"output_mean_frame0\": %.4f}",
                  r.batch, r.batch, r.plan_max_batch, Pct(r.latency_ms, 0.5),
                  Pct(r.latency_ms, 0.99), Mean(r.latency_ms), Pct(r.latency_ms, 0.0),
                  Pct(r.latency_ms, 1.0), r.latency_ms.size(), r.latency_slots, r.frames_per_s,
                  r.pipelined_slots, r.pipelined_frames_per_s, r.pipelined_batches,
                  r.output_mean_frame0);
    json += buf;
  }
  json += "}\n";
  std::printf("\n%s", json.c_str());
  if (!json_path.empty()) {
    FILE* f = std::fopen(json_path.c_str(), "w");
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
      return 1;
    }
    std::fputs(json.c_str(), f);
    std::fclose(f);
  }
  return 0;
}
