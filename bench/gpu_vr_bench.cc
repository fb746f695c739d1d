// gpu_vr_bench: issue 7's VR figure through the library entry point. A stereo pair of 1920x1920
// RGBA frames (already on the device, or in pinned host memory) is submitted as one group to a
// GpuSegmenter (batch of two, no batching delay) that composites each eye over a colour and hands
// both composited RGBA frames back to a completion callback. Pairs are paced at 90 per second, as
// a headset delivers them; latency is Submit -> callback. Cases: composites downloaded into pinned
// host memory, or left on the device (results_on_device, for a compositor that renders from GPU
// memory), and the pair coming from pinned host memory.
//
//   gpu_vr_bench [--model selfie] [--pairs 900] [--side 1920] [--json FILE]
//
// bench/vr_latency_bench.cc measures the same with GpuFramePath driven directly (no driver
// thread); the difference is the cost of the library's queue and thread hand-offs.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
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

// An RGBA eye with a bright disc on a textured background, on the device or pinned host.
Frame MakeEye(int side, int eye, bool device) {
  const size_t pitch = static_cast<size_t>(side) * 4, bytes = pitch * side;
  std::vector<uint8_t> host(bytes);
  std::mt19937 rng(eye + 1);
  for (int y = 0; y < side; ++y) {
    for (int x = 0; x < side; ++x) {
      uint8_t* p = &host[y * pitch + 4 * x];
      const int dx = x - side / 2 - eye * 40, dy = y - side / 2;
      const bool disc = dx * dx + dy * dy < side * side / 9;
      p[0] = disc ? 220 : static_cast<uint8_t>((x ^ y) & 127);
      p[1] = disc ? 180 : static_cast<uint8_t>(rng() & 127);
      p[2] = disc ? 160 : static_cast<uint8_t>((x + y) & 127);
      p[3] = 255;
    }
  }
  Frame f;
  f.format = PixelFormat::kRGBA;
  f.width = f.height = side;
  f.pitch = {static_cast<int64_t>(pitch), 0, 0, 0};
  f.stream_id = eye;
  uint8_t* base = nullptr;
  if (device) {
    CK(cudaMalloc(reinterpret_cast<void**>(&base), bytes));
    CK(cudaMemcpy(base, host.data(), bytes, cudaMemcpyHostToDevice));
    f.storage = std::shared_ptr<void>(base, [](void* q) { cudaFree(q); });
    f.memory = MemoryKind::kDevice;
    f.device = 0;
  } else {
    CK(cudaHostAlloc(reinterpret_cast<void**>(&base), bytes, cudaHostAllocDefault));
    std::memcpy(base, host.data(), bytes);
    f.storage = std::shared_ptr<void>(base, [](void* q) { cudaFreeHost(q); });
    f.memory = MemoryKind::kPinnedHost;
  }
  f.data[0] = base;
  return f;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string model = "selfie", json;
  int pairs = 900, side = 1920;
  for (int i = 1; i < argc; ++i) {
    auto arg = [&](const char* name) { return !std::strcmp(argv[i], name) && i + 1 < argc; };
    if (arg("--model")) {
      model = argv[++i];
    } else if (arg("--pairs")) {
      pairs = std::max(10, std::atoi(argv[++i]));
    } else if (arg("--side")) {
      side = std::atoi(argv[++i]);
    } else if (arg("--json")) {
      json = argv[++i];
    } else {
      std::fprintf(stderr, "usage: gpu_vr_bench [--model M] [--pairs N] [--side S] [--json F]\n");
      return 2;
    }
  }
  if (cuda::DeviceCount() == 0) {
    std::printf("gpu_vr_bench: no CUDA device (%s)\n", cuda::DeviceDescription(0).c_str());
    return 0;
  }
  auto path = ResolveModelPath(model);
  OK(path.status());
  GpuSegmenterOptions o;
  o.model_path = *path;
  o.backend_options.precision = "fp16";
  o.max_batch = 2;
  o.max_wait_us = 0;
  o.want_mask = false;
  o.want_composite = true;
  o.composite.color = {0, 177, 64};
  o.composite_format = PixelFormat::kRGBA;
  const std::string gpu = cuda::DeviceDescription(0);
  std::printf(
      "GPU: %s\nmodel %s; stereo pairs of %dx%d RGBA -> composited RGBA (on the host, or left "
      "on the device), "
      "paced at 90 pairs/s, %d pairs per case; latency = Submit -> callback\n",
      gpu.c_str(), path->c_str(), side, side, pairs);
  std::printf("  %-30s %9s %9s %9s %9s %9s\n", "case", "p50 ms", "p90 ms", "p99 ms", "max ms",
              "batches");
  std::string cases_json;
  // Cases: device pair -> composites downloaded to the host; device pair -> composites left on
  // the device (what a compositor that renders from GPU memory takes); pinned host pair -> host.
  struct Case {
    const char* name;
    bool device;
    bool results_on_device;
  };
  const Case cases[] = {{"device RGBA pair -> host", true, false},
                        {"device RGBA pair -> device", true, true},
                        {"pinned RGBA pair -> host", false, false}};
  for (const Case& c : cases) {
    const bool device = c.device;
    o.results_on_device = c.results_on_device;
    auto made_case = GpuSegmenter::Create(o);
    OK(made_case.status());
    GpuSegmenter& seg = **made_case;
    const std::vector<Frame> pair = {MakeEye(side, 0, device), MakeEye(side, 1, device)};
    std::mutex mu;
    std::condition_variable cv;
    std::vector<double> ms;
    int64_t done = 0;
    auto run = [&](int n, bool paced) {
      const auto period = std::chrono::nanoseconds(1'000'000'000 / 90);
      auto next = std::chrono::steady_clock::now();
      for (int i = 0; i < n; ++i) {
        if (paced) {
          std::this_thread::sleep_until(next);
          next += period;
        }
        std::vector<Frame> group = pair;
        group[0].index = group[1].index = i;
        OK(seg.Submit(std::move(group), [&, paced](Result<std::vector<GpuResult>> r) {
          OK(r.status());
          std::lock_guard<std::mutex> lock(mu);
          if (paced) ms.push_back(static_cast<double>((*r)[1].done_ns - (*r)[1].submit_ns) / 1e6);
          ++done;
          cv.notify_all();
        }));
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return done == i + 1; });
      }
    };
    run(30, false);  // warm-up
    {
      std::lock_guard<std::mutex> lock(mu);
      done = 0;
    }
    seg.ResetStats();
    run(pairs, true);
    const GpuSegmenterStats st = seg.Stats();
    const char* name = c.name;
    std::printf("  %-30s %9.3f %9.3f %9.3f %9.3f %9lld\n", name, Percentile(ms, 50),
                Percentile(ms, 90), Percentile(ms, 99), Percentile(ms, 100),
                static_cast<long long>(st.batches));
    char buf[512];
    std::snprintf(buf, sizeof buf,
                  "%s{\"case\": \"%s\", \"p50_ms\": %.4f, \"p90_ms\": %.4f, \"p99_ms\": %.4f, "
                  "\"max_ms\": %.4f, \"pairs\": %d, \"batches\": %lld}",
                  cases_json.empty() ? "" : ", ", name, Percentile(ms, 50), Percentile(ms, 90),
                  Percentile(ms, 99), Percentile(ms, 100), pairs,
                  static_cast<long long>(st.batches));
    cases_json += buf;
    seg.Close();
  }
  if (!json.empty()) {
    if (FILE* f = std::fopen(json.c_str(), "w")) {
      std::fprintf(f, "{\"gpu\": \"%s\", \"model\": \"%s\", \"side\": %d, \"cases\": [%s]}\n",
                   gpu.c_str(), model.c_str(), side, cases_json.c_str());
      std::fclose(f);
    }
  }
  return 0;
}
