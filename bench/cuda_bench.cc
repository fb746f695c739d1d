// cuda_bench: each kernel's time against its floor (bytes it must move / device-to-device copy
// bandwidth measured in the same run), and the latency of one 1080p NV12 frame through
// upload + preprocess + postprocess + download against the pinned copies of the same bytes.
//
//   cuda_bench [--reps N] [--json FILE]
//
// Kernels are timed in throughput mode: N launches back to back between two events, inputs
// rotated among enough buffers to exceed the L2 cache, median of 15 such runs. The floor counts
// the distinct 32-byte sectors a kernel must read (found by replaying its sampling positions on
// the host) plus every byte it writes.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/composite.h"
#include "vrseg/cuda/memory.h"
#include "vrseg/cuda/postprocess.h"
#include "vrseg/cuda/preprocess.h"
#include "vrseg/imgproc.h"
#include "cuda_bench_util.h"

using namespace vrseg;
using namespace vrseg::cuda;

namespace {


void* DevAlloc(size_t n) {
  void* p = nullptr;
  CK(cudaMalloc(&p, n));
  return p;
}

// A device frame with random pixels (tight pitches rounded to 256 bytes, as decoders give).
Frame RandomDeviceFrame(PixelFormat f, int w, int h, std::mt19937& rng) {
  Frame d;
  d.format = f;
  d.width = w;
  d.height = h;
  d.memory = MemoryKind::kDevice;
  int64_t total = 0;
  std::array<int64_t, 4> off{};
  for (int p = 0; p < PlaneCount(f); ++p) {
    d.pitch[p] = (PlaneRowBytes(f, w, p) + 255) / 256 * 256;
    off[p] = total;
    total += d.pitch[p] * PlaneRows(f, h, p);
  }
  std::vector<uint8_t> host(total);
  for (auto& b : host) b = static_cast<uint8_t>(rng());
  uint8_t* mem = static_cast<uint8_t*>(DevAlloc(total));
  CK(cudaMemcpy(mem, host.data(), total, cudaMemcpyHostToDevice));
  d.storage = std::shared_ptr<void>(mem, [](void* q) { cudaFree(q); });
  for (int p = 0; p < PlaneCount(f); ++p) d.data[p] = mem + off[p];
  return d;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

double g_last_host = 0;  // host seconds per call of the last TimePerCall (issue cost)

// Median over 15 runs of (time of `reps` calls of fn(i)) / reps, in seconds. Also records the
// median host time to issue one call in g_last_host: when it is close to the result, the host
// (argument checks + launch) is the limit, not the GPU.
double TimePerCall(int reps, const std::function<void(int)>& fn, cudaStream_t s) {
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  for (int i = 0; i < reps; ++i) fn(i);  // warm-up
  std::vector<double> t, host;
  for (int run = 0; run < 15; ++run) {
    CK(cudaEventRecord(a, s));
    const auto h0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) fn(i);
    host.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - h0).count() / reps);
    CK(cudaEventRecord(b, s));
    CK(cudaEventSynchronize(b));
    float ms = 0;
    CK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms * 1e-3 / reps);
  }
  CK(cudaGetLastError());
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  g_last_host = Median(host);
  return Median(t);
}

// Distinct 32-byte sectors the preprocessing kernel reads for one frame (stretch, TF.js mapping).
int64_t PreprocessReadBytes(const Frame& f, const PreprocessOptions& o) {
  std::unordered_set<int64_t> sectors;
  const double rx = static_cast<double>(f.width) / o.out_width, ry = static_cast<double>(f.height) / o.out_height;
  std::vector<int> xs, ys;
  for (int d = 0; d < o.out_width; ++d) {
    const int a = std::min(static_cast<int>(d * rx), f.width - 1);
    xs.push_back(a);
    xs.push_back(std::min(a + 1, f.width - 1));
  }
  for (int d = 0; d < o.out_height; ++d) {
    const int a = std::min(static_cast<int>(d * ry), f.height - 1);
    ys.push_back(a);
    ys.push_back(std::min(a + 1, f.height - 1));
  }
  const int bpp = BytesPerPixel(f.format);
  for (int y : ys) {
    for (int x : xs) {
      for (int k = 0; k < bpp; ++k) sectors.insert((y * f.pitch[0] + x * bpp + k) / 32);
      if (f.format == PixelFormat::kNV12) {
        const int64_t c = (int64_t{1} << 40) + (y >> 1) * f.pitch[1] + 2 * (x >> 1);
        sectors.insert(c / 32);
        sectors.insert((c + 1) / 32);
      }
    }
  }
  return static_cast<int64_t>(sectors.size()) * 32;
}

struct Row {
  std::string name;
  double seconds;
  double floor_bytes;
  double host_seconds = g_last_host;
};

}  // namespace

int main(int argc, char** argv) {
  int reps = 200;
  const char* json_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--json") && i + 1 < argc) json_path = argv[++i];
  }
  if (DeviceCount() == 0) {
    std::printf("cuda_bench: no CUDA device (%s)\n", DeviceDescription(0).c_str());
    return 0;
  }
  const std::string gpu = DeviceDescription(0);
  std::printf("GPU: %s\n", gpu.c_str());
  cudaStream_t s;
  CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  std::mt19937 rng(1);

  // ---- copy bandwidth ----
  const size_t big = size_t{1} << 30;
  void* ca = DevAlloc(big);
  void* cb = DevAlloc(big);
  CK(cudaMemset(ca, 1, big));
  const double copy_t = TimePerCall(5, [&](int) { CK(cudaMemcpyAsync(cb, ca, big, cudaMemcpyDeviceToDevice, s)); }, s);
  const double bw = 2.0 * big / copy_t;  // read + write
  std::printf("device-to-device copy: %.0f GB/s (read + write counted)\n", bw / 1e9);
  cudaFree(ca);
  cudaFree(cb);

  std::vector<Row> rows;

  // ---- practical floors for small operations: the fixed cost of one stream operation, and a
  // plain fill of a 1080p Gray8 plane (what any kernel writing a 1080p mask must at least take) ----
  {
    void* tiny = DevAlloc(1 << 22);
    double sec = TimePerCall(reps, [&](int) { CK(cudaMemsetAsync(tiny, 0, 1, s)); }, s);
    rows.push_back({"reference: cudaMemsetAsync of 1 byte (fixed cost per op)", sec, 1});
    sec = TimePerCall(reps, [&](int) { CK(cudaMemsetAsync(tiny, 0, 1920 * 1080, s)); }, s);
    rows.push_back({"reference: cudaMemsetAsync of 1920x1080 bytes", sec, 1920.0 * 1080});
    cudaFree(tiny);
  }

  // ---- preprocessing ----
  auto pre = [&](const char* name, PixelFormat f, int w, int h, int ow, int oh, int batch) {
    const int64_t frame_bytes = [&] {
      int64_t t = 0;
      for (int p = 0; p < PlaneCount(f); ++p) t += PlaneRowBytes(f, w, p) * PlaneRows(f, h, p);
      return t;
    }();
    const int nbuf = std::max(2, static_cast<int>((160ll << 20) / (frame_bytes * batch)) + 1);
    std::vector<std::vector<PreprocessInput>> sets(nbuf);
    for (auto& set : sets) {
      for (int b = 0; b < batch; ++b) {
        PreprocessInput in;
        in.frame = RandomDeviceFrame(f, w, h, rng);
        in.slot = b;
        set.push_back(in);
      }
    }
    PreprocessOptions o;
    o.out_width = ow;
    o.out_height = oh;
    o.layout = TensorLayout::kNCHW;
    Tensor t;
    t.dtype = DType::kFloat16;
    t.memory = MemoryKind::kDevice;
    t.shape = {batch, 3, oh, ow};
    t.data = DevAlloc(t.bytes());
    const double sec = TimePerCall(reps, [&](int i) { OK(PreprocessBatch(sets[i % nbuf], o, t, s)); }, s);
    const double floor_bytes = static_cast<double>(PreprocessReadBytes(sets[0][0].frame, o) + t.slot_bytes()) * batch;
    rows.push_back({name, sec, floor_bytes});
    cudaFree(t.data);
  };
  pre("preprocess 1080p NV12 -> 256x256 fp16 NCHW, batch 1", PixelFormat::kNV12, 1920, 1080, 256, 256, 1);
  pre("preprocess 1080p NV12 -> 256x256 fp16 NCHW, batch 16", PixelFormat::kNV12, 1920, 1080, 256, 256, 16);
  pre("preprocess 4K RGB24 -> 512x512 fp16 NCHW, batch 1", PixelFormat::kRGB24, 3840, 2160, 512, 512, 1);
  pre("preprocess 4K RGB24 -> 512x512 fp16 NCHW, batch 8", PixelFormat::kRGB24, 3840, 2160, 512, 512, 8);

  // ---- postprocessing: 256x256 sigmoid output -> 1080p alpha ----
  {
    const int nbuf = 40;
    PostprocessGpuOptions g;
    g.post.kind = OutputKind::kSigmoidProbability;
    g.post.model_width = 256;
    g.post.model_height = 256;
    std::vector<std::vector<PostprocessJob>> sets(nbuf);
    std::vector<float> probs(256 * 256);
    for (auto& p : probs) p = std::uniform_real_distribution<float>(0.f, 1.f)(rng);
    for (auto& set : sets) {
      PostprocessJob j;
      void* slot = DevAlloc(probs.size() * 4);
      CK(cudaMemcpy(slot, probs.data(), probs.size() * 4, cudaMemcpyHostToDevice));
      j.slot = slot;
      j.mask = RandomDeviceFrame(PixelFormat::kGray8, 1920, 1080, rng);
      set.push_back(j);
    }
    const double sec = TimePerCall(reps, [&](int i) { OK(PostprocessBatch(sets[i % nbuf], g, s)); }, s);
    rows.push_back({"postprocess 256x256 fp32 -> 1080p Gray8 alpha", sec, 256.0 * 256 * 4 + 1920.0 * 1080});
    g.temporal = true;
    for (auto& set : sets) set[0].previous = set[0].mask;
    const double sec2 = TimePerCall(reps, [&](int i) { OK(PostprocessBatch(sets[i % nbuf], g, s)); }, s);
    rows.push_back({"postprocess + temporal smoothing (in place) -> 1080p", sec2, 256.0 * 256 * 4 + 2 * 1920.0 * 1080});
  }

  // ---- compositing at 1080p ----
  {
    const int nbuf = 10;
    struct Set { Frame rgb, mask, out_rgb, out_nv12; };
    std::vector<Set> sets(nbuf);
    for (auto& st : sets) {
      st.rgb = RandomDeviceFrame(PixelFormat::kRGB24, 1920, 1080, rng);
      st.mask = RandomDeviceFrame(PixelFormat::kGray8, 1920, 1080, rng);
      st.out_rgb = RandomDeviceFrame(PixelFormat::kRGB24, 1920, 1080, rng);
      st.out_nv12 = RandomDeviceFrame(PixelFormat::kNV12, 1920, 1080, rng);
    }
    auto color = GpuCompositor::Create(CompositeOptions{});
    OK(color.status());
    const double px = 1920.0 * 1080;
    double sec = TimePerCall(reps, [&](int i) { auto& st = sets[i % nbuf]; OK((*color)->Compose(st.rgb, st.mask, &st.out_rgb, s)); }, s);
    rows.push_back({"composite 1080p over colour -> RGB24", sec, px * (3 + 1 + 3)});
    sec = TimePerCall(reps, [&](int i) { auto& st = sets[i % nbuf]; OK((*color)->Compose(st.rgb, st.mask, &st.out_nv12, s)); }, s);
    rows.push_back({"composite 1080p over colour -> NV12", sec, px * (3 + 1 + 1.5)});
    CompositeOptions bo;
    bo.background = BackgroundKind::kBlur;
    auto blur = GpuCompositor::Create(bo);
    OK(blur.status());
    sec = TimePerCall(reps / 4 + 1, [&](int i) { auto& st = sets[i % nbuf]; OK((*blur)->Compose(st.rgb, st.mask, &st.out_rgb, s)); }, s);
    rows.push_back({"composite 1080p over blurred frame (r=55) -> RGB24", sec, px * (3 + 1 + 3)});
  }

  std::printf("\n%-58s %9s %9s %8s %9s %9s\n", "kernel (median of 15 runs)", "time us", "floor us", "GB/s",
              "of floor", "host us");
  for (const Row& r : rows) {
    const double floor_s = r.floor_bytes / bw;
    std::printf("%-58s %9.2f %9.2f %8.0f %8.0f%% %9.2f\n", r.name.c_str(), r.seconds * 1e6, floor_s * 1e6,
                r.floor_bytes / r.seconds / 1e9, 100.0 * floor_s / r.seconds, r.host_seconds * 1e6);
  }

  // ---- one 1080p NV12 frame: upload + preprocess + postprocess + download ----
  {
    const int W = 1920, H = 1080;
    const size_t nv12_bytes = size_t{W} * H * 3 / 2, mask_bytes = size_t{W} * H;
    auto pinned = std::move(PinnedHostPool::Create()).value();
    auto up = std::move(pinned->Acquire(nv12_bytes, "upload")).value();
    auto down = std::move(pinned->Acquire(mask_bytes, "download")).value();
    for (size_t i = 0; i < nv12_bytes; ++i) up.data()[i] = static_cast<uint8_t>(rng());
    auto pool = std::move(DevicePool::Create()).value();
    auto dframe = std::move(pool->Allocate(nv12_bytes, s, "frame")).value();
    auto dmask = std::move(pool->Allocate(mask_bytes, s, "mask")).value();
    auto dinput = std::move(pool->Allocate(256 * 256 * 3 * 2, s, "model input")).value();
    auto dout = std::move(pool->Allocate(256 * 256 * 4, s, "model output")).value();
    std::vector<float> probs(256 * 256, 0.7f);
    CK(cudaMemcpy(dout.data(), probs.data(), probs.size() * 4, cudaMemcpyHostToDevice));
    Frame f = Frame::Wrap(PixelFormat::kNV12, W, H, dframe.as<uint8_t>(), W);
    f.data[1] = dframe.as<uint8_t>() + size_t{W} * H;
    f.pitch[1] = W;
    f.memory = MemoryKind::kDevice;
    Frame m = Frame::Wrap(PixelFormat::kGray8, W, H, dmask.as<uint8_t>(), W);
    m.memory = MemoryKind::kDevice;
    PreprocessOptions po;
    po.out_width = 256;
    po.out_height = 256;
    Tensor t;
    t.dtype = DType::kFloat16;
    t.memory = MemoryKind::kDevice;
    t.shape = {1, 256, 256, 3};
    t.data = dinput.data();
    PostprocessGpuOptions g;
    g.post.model_width = 256;
    g.post.model_height = 256;
    std::vector<PreprocessInput> in(1);
    in[0].frame = f;
    std::vector<PostprocessJob> jobs(1);
    jobs[0].slot = dout.data();
    jobs[0].mask = m;
    auto once_full = [&] {
      CK(cudaMemcpyAsync(dframe.data(), up.data(), nv12_bytes, cudaMemcpyHostToDevice, s));
      OK(PreprocessBatch(in, po, t, s));
      OK(PostprocessBatch(jobs, g, s));
      CK(cudaMemcpyAsync(down.data(), dmask.data(), mask_bytes, cudaMemcpyDeviceToHost, s));
      CK(cudaStreamSynchronize(s));
    };
    auto once_copy = [&] {
      CK(cudaMemcpyAsync(dframe.data(), up.data(), nv12_bytes, cudaMemcpyHostToDevice, s));
      CK(cudaMemcpyAsync(down.data(), dmask.data(), mask_bytes, cudaMemcpyDeviceToHost, s));
      CK(cudaStreamSynchronize(s));
    };
    auto measure = [&](const std::function<void()>& fn) {
      for (int i = 0; i < 50; ++i) fn();
      std::vector<double> t;
      for (int i = 0; i < 1000; ++i) {
        auto a = std::chrono::steady_clock::now();
        fn();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
      }
      return t;
    };
    // Interleave the two measurements (3 rounds each) so drift affects both alike.
    std::vector<double> full, copy;
    for (int round = 0; round < 3; ++round) {
      auto a = measure(once_full), b = measure(once_copy);
      full.insert(full.end(), a.begin(), a.end());
      copy.insert(copy.end(), b.begin(), b.end());
    }
    std::printf("\none 1080p NV12 frame at batch 1 (host clock, stream synchronised, 3000 samples):\n");
    std::printf("  upload + preprocess + postprocess + download: median %.1f us, p99 %.1f us\n",
                Median(full) * 1e6, Percentile(full, 0.99) * 1e6);
    std::printf("  pinned copies alone (%.2f MB up, %.2f MB down): median %.1f us, p99 %.1f us\n",
                nv12_bytes / 1e6, mask_bytes / 1e6, Median(copy) * 1e6, Percentile(copy, 0.99) * 1e6);
    if (json_path) {
      FILE* jf = std::fopen(json_path, "w");
      if (jf) {
        std::fprintf(jf, "{\"gpu\": \"%s\", \"copy_GBps\": %.1f, \"kernels\": [", gpu.c_str(), bw / 1e9);
        for (size_t i = 0; i < rows.size(); ++i) {
          std::fprintf(jf, "%s{\"name\": \"%s\", \"us\": %.3f, \"floor_us\": %.3f}", i ? ", " : "",
                       rows[i].name.c_str(), rows[i].seconds * 1e6, rows[i].floor_bytes / bw * 1e6);
        }
        std::fprintf(jf, "], \"frame_us\": {\"median\": %.2f, \"p99\": %.2f}, \"copy_us\": {\"median\": %.2f, \"p99\": %.2f}}\n",
                     Median(full) * 1e6, Percentile(full, 0.99) * 1e6, Median(copy) * 1e6, Percentile(copy, 0.99) * 1e6);
        std::fclose(jf);
      }
    }
  }
  return 0;
}
