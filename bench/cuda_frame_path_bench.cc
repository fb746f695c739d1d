// cuda_frame_path_bench: 1080p NV12 frames at batch 1 through upload → preprocess → stand-in
// model → postprocess → download of the 1080p mask, three ways in the same run:
//   serial     one stream, every step then a stream sync, next frame (the baseline);
//   path x1    GpuFramePath with 1 slot (serial, but through the path's three streams);
//   path xN    GpuFramePath with N slots in flight (pipelined);
// plus the pinned copies of the same bytes alone (serial, and both directions at once). For each:
// frames/s and per-frame latency (host clock from Submit to the Wait that returns the frame),
// median and p99. A run with the path's timeline events shows how much of the copy time overlaps
// compute (from CUDA events, no profiler).
//
//   cuda_frame_path_bench [--frames N] [--pageable]
//
// Input frames are a ring of 8 distinct pinned NV12 frames (as a decoder writing into pinned
// buffers gives); --pageable also runs pageable frames (staged by the path with a host memcpy).
// The stand-in model copies channel 0 of the NCHW float32 input into the output (256 KiB on the
// device): the point is the frame path, not the model.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "vrseg/cuda/check.h"
#include "vrseg/cuda/frame_path.h"
#include "vrseg/cuda/memory.h"
#include "vrseg/cuda/postprocess.h"
#include "vrseg/cuda/preprocess.h"
#include "cuda_bench_util.h"

using namespace vrseg;
using namespace vrseg::cuda;
using Clock = std::chrono::steady_clock;

namespace {


constexpr int kW = 1920, kH = 1080, kM = 256;

double Pct(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

struct Run {
  std::string name;
  double fps = 0, median_us = 0, p99_us = 0;
};

void Print(const Run& r) {
  std::printf("  %-46s %9.0f frames/s  latency median %7.1f us  p99 %7.1f us  (%.1f us/frame)\n",
              r.name.c_str(), r.fps, r.median_us, r.p99_us, 1e6 / r.fps);
}

// Total length of the union of intervals, and of the intersection of two unions.
double UnionLength(std::vector<std::pair<double, double>> v) {
  std::sort(v.begin(), v.end());
  double total = 0, a = -1, b = -1;
  for (auto [x, y] : v) {
    if (x > b) {
      total += b - a;
      a = x;
      b = y;
    } else {
      b = std::max(b, y);
    }
  }
  return total + (b - a);
}
std::vector<std::pair<double, double>> Merge(std::vector<std::pair<double, double>> v) {
  std::sort(v.begin(), v.end());
  std::vector<std::pair<double, double>> out;
  for (auto iv : v) {
    if (!out.empty() && iv.first <= out.back().second) {
      out.back().second = std::max(out.back().second, iv.second);
    } else {
      out.push_back(iv);
    }
  }
  return out;
}
double IntersectionLength(std::vector<std::pair<double, double>> a,
                          std::vector<std::pair<double, double>> b) {
  a = Merge(std::move(a));
  b = Merge(std::move(b));
  double total = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const double lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (hi > lo) total += hi - lo;
    if (a[i].second < b[j].second)
      ++i;
    else
      ++j;
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int frames = 2000;
  bool pageable = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--frames") && i + 1 < argc)
      frames = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--pageable"))
      pageable = true;
  }
  if (DeviceCount() == 0) {
    std::printf("cuda_frame_path_bench: no CUDA device (%s)\n", DeviceDescription(0).c_str());
    return 0;
  }
  const std::string gpu = DeviceDescription(0);
  std::printf("GPU: %s\n", gpu.c_str());
  std::mt19937 rng(7);

  // ---- inputs: 8 pinned 1080p NV12 frames (and pageable twins) ----
  const size_t nv12_bytes = size_t{kW} * kH * 3 / 2, mask_bytes = size_t{kW} * kH;
  std::vector<Frame> pinned_frames, pageable_frames;
  for (int i = 0; i < 8; ++i) {
    void* mem = nullptr;
    CK(cudaHostAlloc(&mem, nv12_bytes, cudaHostAllocDefault));
    auto* p = static_cast<uint8_t*>(mem);
    for (size_t b = 0; b < nv12_bytes; ++b) p[b] = static_cast<uint8_t>(rng());
    Frame f = Frame::Wrap(PixelFormat::kNV12, kW, kH, p, kW);
    f.data[1] = p + size_t{kW} * kH;
    f.pitch[1] = kW;
    f.memory = MemoryKind::kPinnedHost;
    f.storage = std::shared_ptr<void>(mem, [](void* q) { cudaFreeHost(q); });
    pinned_frames.push_back(f);
    auto* h = new uint8_t[nv12_bytes];
    std::memcpy(h, p, nv12_bytes);
    Frame g = f;
    g.data[0] = h;
    g.data[1] = h + size_t{kW} * kH;
    g.memory = MemoryKind::kHost;
    g.storage = std::shared_ptr<void>(h, [](void* q) { delete[] static_cast<uint8_t*>(q); });
    pageable_frames.push_back(g);
  }

  FramePathOptions o;
  o.preprocess.out_width = kM;
  o.preprocess.out_height = kM;
  o.preprocess.layout = TensorLayout::kNCHW;
  o.postprocess.post.kind = OutputKind::kSigmoidProbability;
  o.postprocess.post.model_width = kM;
  o.postprocess.post.model_height = kM;

  // Model tensors: NCHW float32 input, [1,256,256,1] float32 output.
  void* din = nullptr;
  void* dout = nullptr;
  CK(cudaMalloc(&din, size_t{4} * 3 * kM * kM));
  CK(cudaMalloc(&dout, size_t{4} * kM * kM));
  Tensor input;
  input.data = din;
  input.dtype = DType::kFloat32;
  input.memory = MemoryKind::kDevice;
  input.shape = {1, 3, kM, kM};
  auto model = [&](cudaStream_t s) {
    CK(cudaMemcpyAsync(dout, din, size_t{4} * kM * kM, cudaMemcpyDeviceToDevice, s));
  };

  // ---- serial baseline on one stream ----
  auto serial = [&](int n) {
    cudaStream_t s;
    CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    auto pool = std::move(PinnedHostPool::Create()).value();
    auto down = std::move(pool->Acquire(mask_bytes)).value();
    void *dframe = nullptr, *dmask = nullptr;
    CK(cudaMalloc(&dframe, nv12_bytes));
    CK(cudaMalloc(&dmask, mask_bytes));
    Frame f = Frame::Wrap(PixelFormat::kNV12, kW, kH, static_cast<uint8_t*>(dframe), kW);
    f.data[1] = static_cast<uint8_t*>(dframe) + size_t{kW} * kH;
    f.pitch[1] = kW;
    f.memory = MemoryKind::kDevice;
    Frame m = Frame::Wrap(PixelFormat::kGray8, kW, kH, static_cast<uint8_t*>(dmask), kW);
    m.memory = MemoryKind::kDevice;
    std::vector<PreprocessInput> in(1);
    in[0].frame = f;
    std::vector<PostprocessJob> jobs(1);
    jobs[0].slot = dout;
    jobs[0].mask = m;
    std::vector<double> lat;
    const auto t0 = Clock::now();
    for (int k = 0; k < n; ++k) {
      const auto a = Clock::now();
      CK(cudaMemcpyAsync(dframe, pinned_frames[k % 8].data[0], nv12_bytes, cudaMemcpyHostToDevice,
                         s));
      OK(PreprocessBatch(in, o.preprocess, input, s));
      model(s);
      OK(PostprocessBatch(jobs, o.postprocess, s));
      CK(cudaMemcpyAsync(down.data(), dmask, mask_bytes, cudaMemcpyDeviceToHost, s));
      CK(cudaStreamSynchronize(s));
      lat.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    }
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    cudaFree(dframe);
    cudaFree(dmask);
    cudaStreamDestroy(s);
    return Run{"serial, one stream, sync per frame", n / total, Pct(lat, 0.5) * 1e6,
               Pct(lat, 0.99) * 1e6};
  };

  // ---- through GpuFramePath ----
  std::vector<FrameTimeline>
      timeline_results;  // only the times: results themselves go back to the pool
  auto through_path = [&](int slots, bool use_pageable, bool timeline, int n) {
    FramePathOptions po = o;
    po.slots = slots;
    po.timeline = timeline;
    auto path = std::move(GpuFramePath::Create(po)).value();
    std::vector<Clock::time_point> submitted(n);
    std::vector<double> lat;
    const auto t0 = Clock::now();
    auto collect = [&] {
      auto r = path->Wait();
      OK(r.status());
      lat.push_back(std::chrono::duration<double>(Clock::now() - submitted[r->sequence]).count());
      if (timeline) timeline_results.push_back(r->timeline);
    };
    for (int k = 0; k < n; ++k) {
      if (path->in_flight() == slots) collect();
      submitted[k] = Clock::now();
      const Frame& f = use_pageable ? pageable_frames[k % 8] : pinned_frames[k % 8];
      auto seq = path->Submit(f, input, 0);
      OK(seq.status());
      model(path->compute_stream());
      OK(path->Finish(*seq, dout));
    }
    while (path->in_flight() > 0) collect();
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    const FramePathStats st = path->stats();
    char name[128];
    std::snprintf(name, sizeof(name), "GpuFramePath, %d slot%s%s", slots, slots > 1 ? "s" : "",
                  use_pageable ? ", pageable input" : ", pinned input");
    if (timeline) {
      std::snprintf(name + std::strlen(name), sizeof(name) - std::strlen(name), " (timeline)");
    }
    Run r{name, n / total, Pct(lat, 0.5) * 1e6, Pct(lat, 0.99) * 1e6};
    std::printf("    [pinned pool: %lld buffers held, peak %.1f MB, %lld acquires, %lld reuses]\n",
                static_cast<long long>(st.pinned.buffers_held), st.pinned.peak_bytes_held / 1e6,
                static_cast<long long>(st.pinned.acquires),
                static_cast<long long>(st.pinned.reuses));
    return r;
  };

  // ---- the copies alone ----
  auto copies = [&](bool concurrent, int n) {
    cudaStream_t s1, s2;
    CK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
    CK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
    auto pool = std::move(PinnedHostPool::Create()).value();
    auto down = std::move(pool->Acquire(mask_bytes)).value();
    void *dframe = nullptr, *dmask = nullptr;
    CK(cudaMalloc(&dframe, nv12_bytes));
    CK(cudaMalloc(&dmask, mask_bytes));
    std::vector<double> lat;
    const auto t0 = Clock::now();
    for (int k = 0; k < n; ++k) {
      const auto a = Clock::now();
      CK(cudaMemcpyAsync(dframe, pinned_frames[k % 8].data[0], nv12_bytes, cudaMemcpyHostToDevice,
                         s1));
      CK(cudaMemcpyAsync(down.data(), dmask, mask_bytes, cudaMemcpyDeviceToHost,
                         concurrent ? s2 : s1));
      CK(cudaStreamSynchronize(s1));
      CK(cudaStreamSynchronize(s2));
      lat.push_back(std::chrono::duration<double>(Clock::now() - a).count());
    }
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();
    cudaFree(dframe);
    cudaFree(dmask);
    cudaStreamDestroy(s1);
    cudaStreamDestroy(s2);
    return Run{concurrent ? "copies alone, H2D and D2H on two streams"
                          : "copies alone, H2D then D2H, one stream",
               n / total, Pct(lat, 0.5) * 1e6, Pct(lat, 0.99) * 1e6};
  };

  // Warm-up of everything, then three interleaved rounds; the best round of each is printed
  // (median of rounds printed too via the list).
  serial(100);
  through_path(3, false, false, 100);
  copies(false, 100);
  std::printf(
      "\n1080p NV12 -> 256x256 -> 1080p mask, batch 1, %d frames per row (%.2f MB up, %.2f MB down "
      "per frame)\n",
      frames, nv12_bytes / 1e6, mask_bytes / 1e6);
  std::vector<std::function<Run()>> rows = {
      [&] { return copies(false, frames); },
      [&] { return copies(true, frames); },
      [&] { return serial(frames); },
      [&] { return through_path(1, false, false, frames); },
      [&] { return through_path(2, false, false, frames); },
      [&] { return through_path(3, false, false, frames); },
      [&] { return through_path(4, false, false, frames); },
  };
  if (pageable) {
    rows.push_back([&] { return through_path(1, true, false, frames); });
    rows.push_back([&] { return through_path(3, true, false, frames); });
  }
  std::vector<std::vector<Run>> results(rows.size());
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < rows.size(); ++i) results[i].push_back(rows[i]());
  }
  std::printf("\nmedian of 3 interleaved rounds (%s):\n", gpu.c_str());
  std::vector<Run> med;
  for (auto& rs : results) {
    std::sort(rs.begin(), rs.end(), [](const Run& a, const Run& b) { return a.fps < b.fps; });
    med.push_back(rs[1]);
    Print(rs[1]);
  }
  std::printf("  pipelined (3 slots) / serial throughput: %.2fx\n", med[5].fps / med[2].fps);

  // ---- overlap, from the path's own events ----
  timeline_results.clear();
  const Run tl = through_path(3, false, true, frames);
  Print(tl);
  std::vector<std::pair<double, double>> up, down, comp, copy;
  double sum_up = 0, sum_down = 0, sum_comp = 0;
  for (const FrameTimeline& t : timeline_results) {
    up.push_back({t.upload_begin, t.upload_end});
    down.push_back({t.download_begin, t.download_end});
    comp.push_back({t.preprocess_begin, t.preprocess_end});
    comp.push_back({t.postprocess_begin, t.postprocess_end});
    sum_up += t.upload_end - t.upload_begin;
    sum_down += t.download_end - t.download_begin;
    sum_comp += (t.preprocess_end - t.preprocess_begin) + (t.postprocess_end - t.postprocess_begin);
  }
  copy = up;
  copy.insert(copy.end(), down.begin(), down.end());
  const double span = timeline_results.back().download_end - timeline_results.front().upload_begin;
  const double copy_busy = UnionLength(copy), comp_busy = UnionLength(comp);
  const double n = static_cast<double>(timeline_results.size());
  std::printf("\ntimeline from CUDA events, 3 slots, %d frames, %.1f ms span (%s):\n", frames, span,
              gpu.c_str());
  std::printf("  per frame: upload %.1f us, download %.1f us, preprocess + postprocess %.1f us\n",
              1e3 * sum_up / n, 1e3 * sum_down / n, 1e3 * sum_comp / n);
  std::printf(
      "  upload busy %.1f%% of the span, download %.1f%%, any copy %.1f%%, compute %.1f%%\n",
      100 * UnionLength(up) / span, 100 * UnionLength(down) / span, 100 * copy_busy / span,
      100 * comp_busy / span);
  std::printf("  upload overlapping download: %.1f%% of upload time\n",
              100 * IntersectionLength(up, down) / UnionLength(up));
  std::printf(
      "  compute overlapped by a copy: %.1f%% of compute time; copies overlapped by compute "
      "%.1f%%\n",
      100 * IntersectionLength(comp, copy) / comp_busy,
      100 * IntersectionLength(comp, copy) / copy_busy);
  std::printf("  sum of stage times / span: %.2f (1.0 = nothing overlaps)\n",
              (sum_up + sum_down + sum_comp) / span);
  std::printf("  frames 100..103 (ms since the path was created):\n");
  for (size_t i = 100; i < std::min<size_t>(104, timeline_results.size()); ++i) {
    const FrameTimeline& t = timeline_results[i];
    std::printf("    #%zu up [%.3f, %.3f] pre [%.3f, %.3f] post [%.3f, %.3f] down [%.3f, %.3f]\n",
                i, t.upload_begin, t.upload_end, t.preprocess_begin, t.preprocess_end,
                t.postprocess_begin, t.postprocess_end, t.download_begin, t.download_end);
  }
  cudaFree(din);
  cudaFree(dout);
  return 0;
}
