// The "ort-cuda" backend (ONNX Runtime's CUDA execution provider).
//
// Everywhere: without the provider library (setup without --gpu, as in CI) it is refused with
// kUnavailable saying how to get it; with the library but no GPU, kUnavailable naming the device.
// On a GPU machine with the library: the converted models' outputs against the CPU "ort" backend
// (ONNX Runtime's CPU provider, the reference) on seeded random inputs, at two batch sizes from one
// backend, through device buffers on a stream of the caller's.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "backend/registry_internal.h"
#include "vrseg/backend.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "vrseg/cuda/check.h"
#endif

namespace vrseg {
namespace internal {
// Defined in src/backend/ort_cuda_backend.cc (declared here until registry_internal.h names it).
BackendFactory OrtCudaBackendFactory();
}  // namespace internal

namespace {

namespace fs = std::filesystem;

constexpr const char* kProvider = "libonnxruntime_providers_cuda.so";

// Through the registry where "ort-cuda" is registered, else straight from its factory.
Result<std::unique_ptr<Backend>> MakeOrtCuda(const std::string& model, const BackendOptions& o) {
  auto names = RegisteredBackends();
  if (std::find(names.begin(), names.end(), "ort-cuda") != names.end()) {
    return CreateBackend("ort-cuda", model, o);
  }
  return internal::OrtCudaBackendFactory()(model, o);
}

// The folder ONNX Runtime loads provider libraries from: that of its core library in this process.
std::string OrtFolder() {
  void* sym = dlsym(RTLD_DEFAULT, "OrtGetApiBase");
  Dl_info info{};
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "";
  return fs::absolute(info.dli_fname).parent_path().string();
}

bool ProviderPresent() {
  const std::string folder = OrtFolder();
  return !folder.empty() && fs::exists(fs::path(folder) / kProvider);
}

std::string Model(const char* name) { return std::string(VRSEG_MODEL_DIR) + "/" + name + ".onnx"; }

TEST(OrtCudaBackend, WithoutProviderLibraryIsUnavailable) {
#ifdef VRSEG_HAVE_CUDA
  if (ProviderPresent()) {
    GTEST_SKIP() << kProvider << " is present in " << OrtFolder()
                 << " (setup --gpu ran); the message without it is checked where it is absent (CI)";
  }
  BackendOptions o;
  auto b = MakeOrtCuda(Model("selfie"), o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable) << b.status().ToString();
  EXPECT_NE(b.status().message().find(
                "ort-cuda needs libonnxruntime_providers_cuda.so: run scripts/setup.sh --gpu"),
            std::string::npos)
      << b.status().ToString();
#else
  auto b = MakeOrtCuda(Model("selfie"), BackendOptions{});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable) << b.status().ToString();
  EXPECT_NE(b.status().message().find("built without CUDA"), std::string::npos)
      << b.status().ToString();
#endif
}

#ifdef VRSEG_HAVE_CUDA

TEST(OrtCudaBackend, WithoutDeviceIsUnavailable) {
  if (!ProviderPresent()) GTEST_SKIP() << kProvider << " absent: run scripts/setup.sh --gpu";
  if (cuda::DeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  auto b = MakeOrtCuda(Model("selfie"), BackendOptions{});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable) << b.status().ToString();
  EXPECT_NE(b.status().message().find("CUDA device 0"), std::string::npos)
      << b.status().ToString();
}

// Skips unless this machine can run the backend on `model`.
#define REQUIRE_ORT_CUDA(model)                                                              \
  do {                                                                                       \
    if (!ProviderPresent()) {                                                                \
      GTEST_SKIP() << kProvider << " absent: run scripts/setup.sh --gpu";                    \
    }                                                                                        \
    if (cuda::DeviceCount() == 0) {                                                          \
      GTEST_SKIP() << "no CUDA device on this machine (" << cuda::DeviceDescription(0)      \
                   << "); ort-cuda parity runs on the device machine";                       \
    }                                                                                        \
    if (!fs::exists(model)) GTEST_SKIP() << model << " missing: run scripts/setup.sh";       \
  } while (0)

#define ASSERT_CUDA(call) \
  ASSERT_EQ((call), cudaSuccess) << #call << ": " << cudaGetErrorString(cudaGetLastError())

// Runs `name` on seeded random images through the CPU "ort" backend and through "ort-cuda" (one
// backend, max batch 3, at batch 3 then 1, on a stream of ours) and compares every output value.
void CompareWithCpu(const char* name) {
  const std::string model = Model(name);
  REQUIRE_ORT_CUDA(model);
  constexpr int kMaxBatch = 3;
  BackendOptions o;
  o.max_batch = kMaxBatch;
  auto cpu = CreateBackend("ort", model, o);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  auto gpu = MakeOrtCuda(model, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  Backend& c = **cpu;
  Backend& g = **gpu;
  EXPECT_EQ(g.name(), "ort-cuda");
  EXPECT_EQ(g.device(), DeviceKind::kCuda);
  EXPECT_EQ(g.precision(), "fp32");
  EXPECT_EQ(g.max_batch(), kMaxBatch);
  ASSERT_EQ(g.inputs().size(), c.inputs().size());
  ASSERT_EQ(g.outputs().size(), c.outputs().size());
  std::printf("[ort-cuda] %s\n", g.device_description().c_str());

  cudaStream_t stream = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  for (int batch : {kMaxBatch, 1}) {
    for (size_t i = 0; i < c.inputs().size(); ++i) {
      Tensor ci = c.input(static_cast<int>(i));
      Tensor gi = g.input(static_cast<int>(i));
      ASSERT_EQ(ci.dtype, DType::kFloat32);
      ASSERT_EQ(gi.memory, MemoryKind::kDevice);
      ASSERT_EQ(gi.shape, ci.shape);
      const int64_t n = ci.slot_bytes() / 4 * batch;
      for (int64_t k = 0; k < n; ++k) ci.as<float>()[k] = pixel(rng);
      ASSERT_CUDA(cudaMemcpyAsync(gi.data, ci.data, n * 4, cudaMemcpyHostToDevice, stream));
    }
    ASSERT_TRUE(c.Run(batch).ok());
    Status st = g.Run(batch, stream);
    ASSERT_TRUE(st.ok()) << st.ToString();
    for (size_t i = 0; i < c.outputs().size(); ++i) {
      Tensor co = c.output(static_cast<int>(i));
      Tensor go = g.output(static_cast<int>(i));
      ASSERT_EQ(go.memory, MemoryKind::kDevice);
      ASSERT_EQ(go.shape, co.shape);
      ASSERT_EQ(co.dtype, DType::kFloat32);
      const int64_t n = co.slot_bytes() / 4 * batch;
      std::vector<float> got(n);
      ASSERT_CUDA(cudaMemcpyAsync(got.data(), go.data, n * 4, cudaMemcpyDeviceToHost, stream));
      ASSERT_CUDA(cudaStreamSynchronize(stream));
      double max_abs = 0, max_ref = 0;
      for (int64_t k = 0; k < n; ++k) {
        const float ref = co.as<float>()[k];
        ASSERT_TRUE(std::isfinite(got[k])) << "output " << i << " element " << k;
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(got[k]) - ref));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref)));
      }
      // The bound: relative error 1e-3 of the output's range (probabilities: absolute).
      EXPECT_LE(max_abs, 1e-3 * std::max(1.0, max_ref))
          << name << " output " << co.shape.size() << "-d '" << c.outputs()[i].name
          << "' batch " << batch << ": max |ort-cuda - ort| = " << max_abs;
      std::printf("[ort-cuda] %s batch %d output '%s': max abs difference to the CPU %.3g\n", name,
                  batch, c.outputs()[i].name.c_str(), max_abs);
    }
  }
  // The legacy default stream (nullptr) works too, and gives the same result at batch 1.
  ASSERT_TRUE(g.Run(1, nullptr).ok());
  ASSERT_CUDA(cudaDeviceSynchronize());
  ASSERT_CUDA(cudaStreamDestroy(stream));
}

TEST(OrtCudaBackend, SelfieMatchesCpuOrt) { CompareWithCpu("selfie"); }
TEST(OrtCudaBackend, LandscapeMatchesCpuOrt) { CompareWithCpu("landscape"); }

TEST(OrtCudaBackend, Fp16OfFloat32ModelIsRefused) {
  const std::string model = Model("selfie");
  REQUIRE_ORT_CUDA(model);
  BackendOptions o;
  o.precision = "fp16";
  auto b = MakeOrtCuda(model, o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnsupported) << b.status().ToString();
  EXPECT_NE(b.status().message().find("precision of its ONNX file"), std::string::npos)
      << b.status().ToString();
}

TEST(OrtCudaBackend, BatchOutsideRangeIsRefused) {
  const std::string model = Model("selfie");
  REQUIRE_ORT_CUDA(model);
  BackendOptions o;
  o.max_batch = 2;
  auto b = MakeOrtCuda(model, o);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ((*b)->Run(3, nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*b)->Run(0, nullptr).code(), StatusCode::kInvalidArgument);
}

#endif  // VRSEG_HAVE_CUDA

}  // namespace
}  // namespace vrseg
