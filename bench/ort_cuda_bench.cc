// ort_cuda_bench: model-only time of the "ort-cuda" backend (ONNX Runtime's CUDA provider), the peer
// of vrseg's engine in issue 6, on any ONNX file, vrseg's converted models and torchvision exports
// (bench/export_torchvision.py) alike. Built where CUDA is found (bench/CMakeLists.txt).
//
//   ort_cuda_bench MODEL.onnx BATCH[,BATCH...] [MODEL.onnx BATCH,...]...
//
// A model without vrseg metadata is described as an NCHW image input 'input' and an output 'output'
// (the exports' names). For each batch size: one run (cuDNN algorithm search, lazy set-up), 3 warm-up
// runs, then 7 samples of 3 to 20 back-to-back runs (about half a second each) on one stream, each
// sample timed with CUDA events;
// prints one JSON line per batch size with the median ms per batch, frames/s, the host time per Run
// (ONNX Runtime waits for the device inside Run: host ≈ device time) and the first run's time.
// The cuDNN search and further provider options come from VRSEG_ORT_CUDA_CONV_SEARCH and
// VRSEG_ORT_CUDA_OPTIONS (see src/backend/ort_cuda_backend.cc). Exit status: the number of failures.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vrseg/backend.h"

namespace vrseg::internal {
BackendFactory OrtCudaBackendFactory();  // src/backend/ort_cuda_backend.cc
}  // namespace vrseg::internal

namespace {

using Clock = std::chrono::steady_clock;

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// Batch sizes from "1,8,32"; empty on a malformed list.
std::vector<int> ParseBatches(const char* s) {
  std::vector<int> out;
  while (*s) {
    char* end = nullptr;
    const long b = std::strtol(s, &end, 10);
    if (end == s || b < 1 || b > 4096) return {};
    out.push_back(static_cast<int>(b));
    s = end;
    if (*s == ',') ++s;
    else if (*s) return {};
  }
  return out;
}

void Error(const std::string& model, int batch, const std::string& what) {
  std::printf("{\"kind\": \"ort-cuda\", \"model\": \"%s\", \"batch\": %d, \"error\": \"%s\"}\n",
              JsonEscape(model).c_str(), batch, JsonEscape(what).c_str());
  std::fflush(stdout);
}

// Times `model` at each batch size; returns the number of failures.
int BenchModel(const std::string& model, const std::vector<int>& batches) {
  using namespace vrseg;
  ModelInfo info;  // used only when the file carries no vrseg metadata
  info.name = model;
  info.input_name = "input";
  info.output_name = "output";
  info.input_layout = TensorLayout::kNCHW;
  info.output_layout = TensorLayout::kNCHW;
  info.output_kind = OutputKind::kClassLogits;
  BackendOptions o;
  o.max_batch = *std::max_element(batches.begin(), batches.end());
  auto t0 = Clock::now();
  auto made = internal::OrtCudaBackendFactory()(model, o);
  if (!made.ok() && made.status().code() == StatusCode::kInvalidModel) {
    o.model_info_override = &info;  // no vrseg metadata: an export
    t0 = Clock::now();
    made = internal::OrtCudaBackendFactory()(model, o);
  }
  const double create_s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!made.ok()) {
    Error(model, 0, made.status().ToString());
    return 1;
  }
  Backend& b = **made;
  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess ||
      cudaEventCreate(&start) != cudaSuccess || cudaEventCreate(&stop) != cudaSuccess) {
    Error(model, 0, "cannot create a CUDA stream or events");
    return 1;
  }
  int failures = 0;
  for (int batch : batches) {
    const auto f0 = Clock::now();
    Status st = b.Run(batch, stream);
    cudaStreamSynchronize(stream);
    const double first_ms = std::chrono::duration<double, std::milli>(Clock::now() - f0).count();
    // Warm-up, which also estimates a run's time: samples of about half a second each, 3 to 20
    // runs (a slow configuration must not eat the benchmark's time budget).
    const auto w0 = Clock::now();
    constexpr int kWarmup = 3;
    for (int i = 0; i < kWarmup && st.ok(); ++i) st = b.Run(batch, stream);
    cudaStreamSynchronize(stream);
    const double est_ms =
        std::chrono::duration<double, std::milli>(Clock::now() - w0).count() / kWarmup;
    const int iters = std::clamp(static_cast<int>(500.0 / std::max(est_ms, 0.01)), 3, 20);
    constexpr int kSamples = 7;
    std::vector<double> device_ms, host_ms;
    for (int r = 0; r < kSamples && st.ok(); ++r) {
      cudaEventRecord(start, stream);
      const auto h0 = Clock::now();
      for (int i = 0; i < iters && st.ok(); ++i) st = b.Run(batch, stream);
      host_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - h0).count() / iters);
      cudaEventRecord(stop, stream);
      cudaEventSynchronize(stop);
      float ms = 0;
      cudaEventElapsedTime(&ms, start, stop);
      device_ms.push_back(ms / iters);
    }
    if (!st.ok()) {
      Error(model, batch, st.ToString());
      ++failures;
      continue;
    }
    std::sort(device_ms.begin(), device_ms.end());
    std::sort(host_ms.begin(), host_ms.end());
    const double ms = device_ms[device_ms.size() / 2];
    const char* search = std::getenv("VRSEG_ORT_CUDA_CONV_SEARCH");
    std::printf(
        "{\"kind\": \"ort-cuda\", \"model\": \"%s\", \"batch\": %d, \"ms_per_batch\": %.4f, "
        "\"frames_per_s\": %.1f, \"host_ms_per_run\": %.4f, \"first_run_ms\": %.1f, "
        "\"create_s\": %.2f, \"runs_per_sample\": %d, \"samples\": %d, \"precision\": \"%s\", "
        "\"conv_search\": \"%s\", \"device\": \"%s\"}\n",
        JsonEscape(model).c_str(), batch, ms, batch * 1000.0 / ms, host_ms[host_ms.size() / 2],
        first_ms, create_s, iters, kSamples, b.precision().c_str(), search ? search : "heuristic",
        JsonEscape(b.device_description()).c_str());
    std::fflush(stdout);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(stream);
  return failures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || (argc - 1) % 2 != 0) {
    std::fprintf(stderr, "usage: ort_cuda_bench MODEL.onnx BATCH[,BATCH...] [MODEL.onnx BATCHES]...\n");
    return 2;
  }
  int failures = 0;
  for (int a = 1; a + 1 < argc; a += 2) {
    const std::vector<int> batches = ParseBatches(argv[a + 1]);
    if (batches.empty()) {
      std::fprintf(stderr, "ort_cuda_bench: bad batch list '%s'\n", argv[a + 1]);
      return 2;
    }
    failures += BenchModel(argv[a], batches);
  }
  return std::min(failures, 100);
}
