// vr_latency_bench: issue 7's VR figure with today's parts — a stereo pair of 1920x1920 frames
// through GpuFramePath (upload unless already on the device, preprocessing straight into the
// engine's input tensor, postprocessing, compositing, download through pinned buffers) with vrseg's
// engine (the "gpu" backend, FP16 plan for batches 1..2) running the pair as one batch of two on
// the path's compute stream. Pairs are paced at 90 per second (one every 11.1 ms, as a headset
// delivers them); the latency of a pair is the host clock from the first Submit to the Wait that
// returns the second eye's result (both eyes' results on the host). Also unpaced: pairs back to
// back with one pair in flight.
//
//   vr_latency_bench [--model selfie|PATH.onnx] [--pairs N] [--trace FILE.json]
//
// Cases (each in the same run, on the same backend):
//   device RGBA → mask        frames already on the device (RGBA), the two Gray8 masks downloaded
//   device RGB24 → composite  frames on the device (RGB24), composited over green, RGBA downloaded
//   pinned RGBA → mask        frames in pinned host memory, uploaded first
//   pinned RGB24 → composite  as above, with compositing
// Compositing takes RGB24 input today (GpuCompositor); RGBA input is masked only.
// --trace writes a Chrome/Perfetto trace (chrome://tracing, ui.perfetto.dev) of one paced pair of
// the first case: each eye's upload, preprocessing, postprocessing and download, and the model
// between them, from the path's timeline events (GPU clock).
// Prints one line per case: pairs measured, p50/p90/p99/max latency in ms, pairs/s unpaced.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda_bench_util.h"
#include "vrseg/backend.h"
#include "vrseg/cuda/check.h"
#include "vrseg/cuda/frame_path.h"
#include "vrseg/engine.h"
#include "vrseg/imgproc.h"
#include "vrseg/model_registry.h"

using namespace vrseg;
using namespace vrseg::cuda;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSide = 1920;

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

// Two frames (left, right eye) of `format` in `memory` (kDevice or kPinnedHost), random pixels.
std::vector<Frame> MakePair(PixelFormat format, MemoryKind memory, std::mt19937& rng) {
  const int bpp = format == PixelFormat::kRGBA ? 4 : 3;
  const size_t pitch = size_t{kSide} * bpp, bytes = pitch * kSide;
  std::vector<uint8_t> host(bytes);
  std::vector<Frame> out;
  for (int eye = 0; eye < 2; ++eye) {
    for (auto& b : host) b = static_cast<uint8_t>(rng());
    void* mem = nullptr;
    if (memory == MemoryKind::kDevice) {
      CK(cudaMalloc(&mem, bytes));
      CK(cudaMemcpy(mem, host.data(), bytes, cudaMemcpyHostToDevice));
    } else {
      CK(cudaHostAlloc(&mem, bytes, cudaHostAllocDefault));
      std::memcpy(mem, host.data(), bytes);
    }
    Frame f =
        Frame::Wrap(format, kSide, kSide, static_cast<uint8_t*>(mem), static_cast<int>(pitch));
    f.memory = memory;
    f.stream_id = eye;
    if (memory == MemoryKind::kDevice) {
      f.storage = std::shared_ptr<void>(mem, [](void* q) { cudaFree(q); });
    } else {
      f.storage = std::shared_ptr<void>(mem, [](void* q) { cudaFreeHost(q); });
    }
    out.push_back(f);
  }
  return out;
}

struct CaseResult {
  std::vector<double> paced_ms;
  double unpaced_pairs_per_s = 0;
  std::vector<FrameTimeline> trace_pair;  // the two eyes of one paced pair (timeline on)
};

// One pair: submit both eyes, the model on the pair, finish both, collect both.
void RunPair(GpuFramePath& path, Backend& model, const std::vector<Frame>& pair,
             std::vector<FrameTimeline>* timelines) {
  const Tensor in = model.input(0), out = model.output(0);
  int64_t seq[2];
  for (int eye = 0; eye < 2; ++eye) {
    auto s = path.Submit(pair[eye], in, eye);
    OK(s.status());
    seq[eye] = *s;
  }
  OK(model.Run(2, path.compute_stream()));
  for (int eye = 0; eye < 2; ++eye) OK(path.Finish(seq[eye], out.slot(eye)));
  for (int eye = 0; eye < 2; ++eye) {
    auto r = path.Wait();
    OK(r.status());
    if (timelines) timelines->push_back(r->timeline);
  }
}

CaseResult RunCase(Backend& model, FramePathOptions o, const std::vector<Frame>& pair, int pairs,
                   bool want_trace) {
  CaseResult res;
  o.slots = 2;
  o.timeline = false;
  auto made = GpuFramePath::Create(o);
  OK(made.status());
  GpuFramePath& path = **made;
  for (int i = 0; i < 20; ++i) RunPair(path, model, pair, nullptr);  // warm-up (graph capture)
  // Paced at 90 pairs/s.
  const auto period = std::chrono::nanoseconds(1'000'000'000 / 90);
  auto next = Clock::now();
  for (int i = 0; i < pairs; ++i) {
    std::this_thread::sleep_until(next);
    next += period;
    const auto t0 = Clock::now();
    RunPair(path, model, pair, nullptr);
    res.paced_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  // Unpaced, one pair in flight.
  const int n = std::max(100, pairs);
  const auto u0 = Clock::now();
  for (int i = 0; i < n; ++i) RunPair(path, model, pair, nullptr);
  res.unpaced_pairs_per_s = n / std::chrono::duration<double>(Clock::now() - u0).count();
  if (want_trace) {
    // A path with timeline events (they cost a little, so not in the measured runs): a few paced
    // pairs, the last one kept.
    o.timeline = true;
    auto traced = GpuFramePath::Create(o);
    OK(traced.status());
    for (int i = 0; i < 10; ++i) RunPair(**traced, model, pair, nullptr);
    std::this_thread::sleep_for(period);
    RunPair(**traced, model, pair, &res.trace_pair);
  }
  return res;
}

void WriteTrace(const std::string& path, const std::vector<FrameTimeline>& eyes,
                const std::string& title) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    return;
  }
  float origin = 1e30f;
  for (const auto& t : eyes) {
    for (float v : {t.upload_begin, t.preprocess_begin}) {
      if (v >= 0) origin = std::min(origin, v);
    }
  }
  std::fprintf(f,
               "{\"displayTimeUnit\": \"ms\", \"otherData\": {\"title\": \"%s\"}, "
               "\"traceEvents\": [\n",
               title.c_str());
  bool first = true;
  auto span = [&](const char* name, int tid, float b, float e) {
    if (b < 0 || e < 0) return;
    std::fprintf(f,
                 "%s{\"name\": \"%s\", \"ph\": \"X\", \"pid\": 1, \"tid\": %d, \"ts\": %.3f, "
                 "\"dur\": %.3f}",
                 first ? "" : ",\n", name, tid, (b - origin) * 1e3, (e - b) * 1e3);
    first = false;
  };
  for (int eye = 0; eye < static_cast<int>(eyes.size()); ++eye) {
    const auto& t = eyes[eye];
    const int tid = eye + 1;
    span("upload", tid, t.upload_begin, t.upload_end);
    span("preprocess", tid, t.preprocess_begin, t.preprocess_end);
    span("postprocess + composite", tid, t.postprocess_begin, t.postprocess_end);
    span("download", tid, t.download_begin, t.download_end);
  }
  if (eyes.size() == 2) {
    span("model (engine, batch of 2)", 3, std::max(eyes[0].preprocess_end, eyes[1].preprocess_end),
         eyes[0].postprocess_begin);
  }
  std::fprintf(f,
               ",\n{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, "
               "\"args\": {\"name\": \"left eye\"}},\n"
               "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 2, "
               "\"args\": {\"name\": \"right eye\"}},\n"
               "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 3, "
               "\"args\": {\"name\": \"model\"}}\n]}\n");
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_name = "selfie", trace;
  int pairs = 450;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--model") && i + 1 < argc) {
      model_name = argv[++i];
    } else if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc) {
      pairs = std::max(10, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--trace") && i + 1 < argc) {
      trace = argv[++i];
    } else {
      std::fprintf(stderr, "usage: vr_latency_bench [--model M] [--pairs N] [--trace FILE]\n");
      return 2;
    }
  }
  if (DeviceCount() == 0) {
    std::printf("vr_latency_bench: no CUDA device (%s)\n", DeviceDescription(0).c_str());
    return 0;
  }
  std::printf("GPU: %s\n", DeviceDescription(0).c_str());
  auto path = ResolveModelPath(model_name);
  OK(path.status());
  BackendOptions bo;
  bo.max_batch = 2;
  bo.precision = "fp16";
  const auto c0 = Clock::now();
  auto made = CreateBackend("gpu", *path, bo);
  OK(made.status());
  Backend& model = **made;
  std::printf("model: %s (%s), backend made in %.2f s (plan built or loaded from the cache)\n",
              path->c_str(), model.device_description().c_str(),
              std::chrono::duration<double>(Clock::now() - c0).count());

  FramePathOptions o;
  o.preprocess = PreprocessOptionsFor(model.model_info());
  o.postprocess.post = PostprocessOptionsFor(model.model_info());
  o.postprocess.slot_dtype = model.output(0).dtype;
  std::mt19937 rng(11);

  struct Case {
    const char* name;
    PixelFormat format;
    MemoryKind memory;
    bool composite;
  };
  const Case cases[] = {
      {"device RGBA -> masks", PixelFormat::kRGBA, MemoryKind::kDevice, false},
      {"device RGB24 -> composited RGBA", PixelFormat::kRGB24, MemoryKind::kDevice, true},
      {"pinned RGBA -> masks", PixelFormat::kRGBA, MemoryKind::kPinnedHost, false},
      {"pinned RGB24 -> composited RGBA", PixelFormat::kRGB24, MemoryKind::kPinnedHost, true},
  };
  std::printf(
      "\n%d pairs of %dx%d frames per case, paced at 90 pairs/s; latency = first Submit to "
      "both eyes' results on the host\n",
      pairs, kSide, kSide);
  std::printf("  %-34s %9s %9s %9s %9s %14s\n", "case", "p50 ms", "p90 ms", "p99 ms", "max ms",
              "unpaced pairs/s");
  bool traced = false;
  for (const Case& c : cases) {
    FramePathOptions co = o;
    co.download_mask = !c.composite;
    co.composite = c.composite;
    co.composite_format = PixelFormat::kRGBA;
    const std::vector<Frame> pair = MakePair(c.format, c.memory, rng);
    const bool want_trace = !trace.empty() && !traced;
    CaseResult r = RunCase(model, co, pair, pairs, want_trace);
    std::printf("  %-34s %9.3f %9.3f %9.3f %9.3f %14.0f\n", c.name, Pct(r.paced_ms, 0.5),
                Pct(r.paced_ms, 0.9), Pct(r.paced_ms, 0.99), Pct(r.paced_ms, 1.0),
                r.unpaced_pairs_per_s);
    std::fflush(stdout);
    if (want_trace && r.trace_pair.size() == 2) {
      WriteTrace(trace, r.trace_pair, std::string(c.name) + ", " + DeviceDescription(0));
      traced = true;
      std::printf("    trace of one pair: %s\n", trace.c_str());
    }
  }
  return 0;
}
