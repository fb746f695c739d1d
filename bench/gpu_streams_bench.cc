// gpu_streams_bench: how many live streams one GPU (or several) holds in real time through the
// library entry point (GpuSegmenter::Submit with a completion callback): issue 7's "concurrent
// 720p30 streams, each paced at 30 frames/s, p99 submit-to-result latency <= 33 ms".
//
//   gpu_streams_bench [--model selfie] [--streams 100,200,300] [--width 1280] [--height 720]
//                     [--fps 30] [--seconds 5] [--batch 32] [--memory device|pinned|host]
//                     [--devices 0,1] [--json FILE]
//
// For each stream count N: N streams, each with its own frames due every 1/fps seconds (phases
// spread evenly over the period), are submitted by 4 producer threads at their due times; each GPU
// has its own GpuSegmenter (stream s goes to GPU s % GPUs), which batches whatever is waiting (at
// most --batch frames, no batching delay), and the callback takes the mask. Frames are NV12 (what
// a camera or NVDEC gives): on the device (as the NVDEC reader hands them out), in pinned host
// memory, or in pageable host memory (copied into pinned staging by the submitting thread).
// Latency is measured from each frame's due time (so time spent blocked in Submit when the GPU
// falls behind counts) to its callback; "intake p99" is the due time -> Submit returned part. A
// count is "held" when nothing failed, every stream got its frames back and p99 <= 1000/fps ms.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cuda_bench_util.h"
#include "vrseg/clock.h"
#include "vrseg/cuda/check.h"
#include "vrseg/gpu_segmenter.h"
#include "vrseg/model_registry.h"

using namespace vrseg;

namespace {

std::vector<int> ParseList(const char* s) {
  std::vector<int> v;
  for (const char* p = s; *p;) {
    v.push_back(std::atoi(p));
    const char* c = std::strchr(p, ',');
    if (!c) break;
    p = c + 1;
  }
  return v;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
  return v[i];
}

// NV12 frames with a moving pattern (distinct per source), in the chosen
// memory.
std::vector<Frame> MakeFrames(int count, int w, int h, const std::string& memory, int device) {
  std::vector<Frame> frames;
  std::mt19937 rng(3);
  for (int k = 0; k < count; ++k) {
    const size_t luma = static_cast<size_t>(w) * h, bytes = luma * 3 / 2;
    std::vector<uint8_t> host(bytes);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        host[static_cast<size_t>(y) * w + x] =
            static_cast<uint8_t>((x * 3 + y * 2 + k * 17) ^
                                 (((x - w / 2) * (x - w / 2) + (y - h / 2) * (y - h / 2)) >> 9));
      }
    }
    for (size_t i = luma; i < bytes; ++i) host[i] = static_cast<uint8_t>(96 + rng() % 64);
    Frame f;
    f.format = PixelFormat::kNV12;
    f.width = w;
    f.height = h;
    f.pitch = {w, w, 0, 0};
    uint8_t* base = nullptr;
    if (memory == "device") {
      CK(cudaMalloc(reinterpret_cast<void**>(&base), bytes));
      CK(cudaMemcpy(base, host.data(), bytes, cudaMemcpyHostToDevice));
      f.storage = std::shared_ptr<void>(base, [](void* p) { cudaFree(p); });
      f.memory = MemoryKind::kDevice;
      f.device = device;
    } else if (memory == "pinned") {
      CK(cudaHostAlloc(reinterpret_cast<void**>(&base), bytes, cudaHostAllocDefault));
      std::memcpy(base, host.data(), bytes);
      f.storage = std::shared_ptr<void>(base, [](void* p) { cudaFreeHost(p); });
      f.memory = MemoryKind::kPinnedHost;
    } else {
      auto owned = std::make_shared<std::vector<uint8_t>>(std::move(host));
      base = owned->data();
      f.storage = owned;
      f.memory = MemoryKind::kHost;
    }
    f.data = {base, base + luma, nullptr, nullptr};
    frames.push_back(f);
  }
  return frames;
}

struct CountResult {
  int streams = 0;
  int64_t due = 0, delivered = 0, failed = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;
  double intake_p99 = 0;        // due time -> Submit returned (producer lateness, backpressure)
  double min_stream_ratio = 0;  // worst stream: delivered / due
  double mean_batch = 0;
  double gpu_fps = 0;
  bool held = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::string model = "selfie", memory = "device", json;
  std::vector<int> counts = {100, 200, 300};
  int width = 1280, height = 720, fps = 30, batch = 32;
  std::vector<int> devices = {0};
  double seconds = 5;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) { return !std::strcmp(argv[i], name) && i + 1 < argc; };
    if (arg("--model"))
      model = argv[++i];
    else if (arg("--streams"))
      counts = ParseList(argv[++i]);
    else if (arg("--width"))
      width = std::atoi(argv[++i]);
    else if (arg("--height"))
      height = std::atoi(argv[++i]);
    else if (arg("--fps"))
      fps = std::atoi(argv[++i]);
    else if (arg("--seconds"))
      seconds = std::atof(argv[++i]);
    else if (arg("--batch"))
      batch = std::atoi(argv[++i]);
    else if (arg("--memory"))
      memory = argv[++i];
    else if (arg("--devices"))
      devices = ParseList(argv[++i]);
    else if (arg("--json"))
      json = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: gpu_streams_bench [--model M] [--streams "
                   "100,200,300] [--width W] "
                   "[--height H] [--fps F] [--seconds S] [--batch B] "
                   "[--memory device|pinned|host] [--devices 0,1] [--json FILE]\n");
      return 2;
    }
  }
  if (cuda::DeviceCount() == 0) {
    std::printf("gpu_streams_bench: no CUDA device (%s)\n", cuda::DeviceDescription(0).c_str());
    return 0;
  }
  auto path = ResolveModelPath(model);
  OK(path.status());
  GpuSegmenterOptions o;
  o.model_path = *path;
  o.backend_options.precision = "fp16";
  o.max_batch = batch;
  o.max_queue = std::max(4 * batch, 1024);
  // One GpuSegmenter per GPU; stream s goes to GPU s % devices.
  std::vector<std::unique_ptr<GpuSegmenter>> segs;
  std::vector<std::vector<Frame>> frames_of;
  for (int d : devices) {
    o.backend_options.device_id = d;
    auto made = GpuSegmenter::Create(o);
    OK(made.status());
    segs.push_back(std::move(*made));
    CK(cudaSetDevice(d));
    frames_of.push_back(MakeFrames(8, width, height, memory, d));
  }
  const int ng = static_cast<int>(segs.size());
  std::string gpu = cuda::DeviceDescription(devices[0]);
  if (ng > 1) gpu += " x" + std::to_string(ng);
  std::printf(
      "GPU: %s\nmodel %s, %dx%d NV12 %s frames, %d fps per stream, "
      "batches <= %d, %.0f s "
      "per count\n",
      gpu.c_str(), path->c_str(), width, height, memory.c_str(), fps, batch, seconds);
  // Warm-up: a few full batches (pinned pool, slot buffers).
  for (int g = 0; g < ng; ++g) {
    for (int k = 0; k < 20 * batch; ++k) {
      Frame f = frames_of[g][k % frames_of[g].size()];
      f.stream_id = k % batch;
      OK(segs[g]->Submit({f}, [](Result<std::vector<GpuResult>>) {}));
    }
    segs[g]->Flush();
  }

  std::printf("  %8s %9s %9s %9s %9s %11s %9s %11s %10s %6s\n", "streams", "p50 ms", "p90 ms",
              "p99 ms", "max ms", "intake p99", "batch", "worst %due", "frames/s", "held");
  std::vector<CountResult> results;
  const int64_t period_ns = 1'000'000'000LL / fps;
  for (int n : counts) {
    for (auto& seg : segs) seg->ResetStats();
    std::mutex mu;
    std::vector<double> lat_ms, intake_ms;
    lat_ms.reserve(static_cast<size_t>(n * fps * seconds) + 16);
    std::vector<int64_t> per_stream(static_cast<size_t>(n), 0);
    std::atomic<int64_t> failed{0}, due{0};
    const int frames_per_stream = static_cast<int>(seconds * fps);
    const int64_t t0 = NowNs() + 50'000'000;
    constexpr int kProducers = 4;
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int k = 0; k < frames_per_stream; ++k) {
          for (int s = p; s < n; s += kProducers) {
            const int64_t when = t0 + k * period_ns + period_ns * s / n;
            const int64_t now = NowNs();
            if (when > now) std::this_thread::sleep_for(std::chrono::nanoseconds(when - now));
            const std::vector<Frame>& frames = frames_of[s % ng];
            Frame f = frames[(k + s) % frames.size()];
            f.stream_id = s;
            f.index = k;
            due.fetch_add(1);
            Status st = segs[s % ng]->Submit({f}, [&, when, s](Result<std::vector<GpuResult>> r) {
              if (!r.ok()) {
                failed.fetch_add(1);
                return;
              }
              const double ms = static_cast<double>((*r)[0].done_ns - when) / 1e6;
              std::lock_guard<std::mutex> lock(mu);
              lat_ms.push_back(ms);
              intake_ms.push_back(static_cast<double>((*r)[0].submit_ns - when) / 1e6);
              ++per_stream[static_cast<size_t>(s)];
            });
            if (!st.ok()) failed.fetch_add(1);
          }
        }
      });
    }
    for (auto& t : producers) t.join();
    double batch_sum = 0, gpu_fps = 0;
    int64_t batches = 0;
    for (auto& seg : segs) {
      seg->Flush();
      const GpuSegmenterStats gs = seg->Stats();
      batch_sum += gs.mean_batch * static_cast<double>(gs.batches);
      batches += gs.batches;
      gpu_fps += gs.fps;
    }
    CountResult r;
    r.streams = n;
    r.due = due.load();
    r.failed = failed.load();
    r.delivered = static_cast<int64_t>(lat_ms.size());
    r.p50 = Percentile(lat_ms, 50);
    r.p90 = Percentile(lat_ms, 90);
    r.p99 = Percentile(lat_ms, 99);
    r.max = Percentile(lat_ms, 100);
    r.intake_p99 = Percentile(intake_ms, 99);
    r.mean_batch = batches ? batch_sum / static_cast<double>(batches) : 0;
    r.gpu_fps = gpu_fps;
    r.min_stream_ratio = 1;
    for (int64_t c : per_stream) {
      r.min_stream_ratio = std::min(r.min_stream_ratio, static_cast<double>(c) / frames_per_stream);
    }
    r.held = r.failed == 0 && r.min_stream_ratio >= 0.99 && r.p99 <= 1000.0 / fps;
    std::printf("  %8d %9.2f %9.2f %9.2f %9.2f %11.2f %9.1f %10.1f%% %10.0f %6s\n", n, r.p50, r.p90,
                r.p99, r.max, r.intake_p99, r.mean_batch, 100 * r.min_stream_ratio, r.gpu_fps,
                r.held ? "yes" : "NO");
    std::fflush(stdout);
    results.push_back(r);
  }
  int best = 0;
  for (const CountResult& r : results) {
    if (r.held) best = std::max(best, r.streams);
  }
  std::printf("most streams held in real time: %d\n", best);
  if (!json.empty()) {
    FILE* f = std::fopen(json.c_str(), "w");
    if (f) {
      std::fprintf(f,
                   "{\"gpu\": \"%s\", \"model\": \"%s\", \"width\": %d, "
                   "\"height\": %d, \"fps\": %d, "
                   "\"memory\": \"%s\", \"max_batch\": %d, \"seconds\": %.1f, "
                   "\"max_held\": %d, "
                   "\"counts\": [",
                   gpu.c_str(), model.c_str(), width, height, fps, memory.c_str(), batch, seconds,
                   best);
      for (size_t i = 0; i < results.size(); ++i) {
        const CountResult& r = results[i];
        std::fprintf(f,
                     "%s{\"streams\": %d, \"due\": %lld, \"delivered\": %lld, "
                     "\"failed\": %lld, "
                     "\"p50_ms\": %.3f, \"p90_ms\": %.3f, \"p99_ms\": %.3f, "
                     "\"max_ms\": %.3f, "
                     "\"mean_batch\": %.2f, \"worst_stream_ratio\": %.4f, "
                     "\"frames_per_s\": %.1f, \"intake_p99_ms\": %.3f, "
                     "\"held\": %s}",
                     i ? ", " : "", r.streams, static_cast<long long>(r.due),
                     static_cast<long long>(r.delivered), static_cast<long long>(r.failed), r.p50,
                     r.p90, r.p99, r.max, r.mean_batch, r.min_stream_ratio, r.gpu_fps, r.intake_p99,
                     r.held ? "true" : "false");
      }
      std::fprintf(f, "]}\n");
      std::fclose(f);
    }
  }
  for (auto& seg : segs) seg->Close();
  return 0;
}
