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
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "backend/registry_internal.h"
#include "vrseg/backend.h"

#ifdef VRSEG_HAVE_CUDA
#include <cuda_fp16.h>
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

uint16_t ToHalf(float f) {
  const __half_raw r = __float2half_rn(f);
  return r.x;
}

float FromHalf(uint16_t u) {
  __half_raw r;
  r.x = u;
  return __half2float(__half(r));
}

// Runs `model` on seeded random inputs through the CPU "ort" backend running `reference` (the same
// model, or its float32 original where `model` is a float16 export) and through "ort-cuda" (one
// backend of max batch `max_batch`, at that batch then 1, on a stream of ours), and compares every
// output value: max |difference| <= tolerance * max(1, max |reference|).
void CompareWithCpu(const std::string& model, const std::string& reference, int max_batch,
                    double tolerance, const ModelInfo* info) {
  REQUIRE_ORT_CUDA(model);
  BackendOptions o;
  o.max_batch = max_batch;
  o.model_info_override = info;
  // ort-cuda first: run alone (--gtest_filter=OrtCudaBackend.*), this is the process's first use of
  // ONNX Runtime, which must work too.
  auto gpu = MakeOrtCuda(model, o);
  ASSERT_TRUE(gpu.ok()) << gpu.status().ToString();
  auto cpu = CreateBackend("ort", reference, o);
  ASSERT_TRUE(cpu.ok()) << cpu.status().ToString();
  Backend& c = **cpu;
  Backend& g = **gpu;
  EXPECT_EQ(g.name(), "ort-cuda");
  EXPECT_EQ(g.device(), DeviceKind::kCuda);
  EXPECT_EQ(g.max_batch(), max_batch);
  ASSERT_EQ(g.inputs().size(), c.inputs().size());
  ASSERT_EQ(g.outputs().size(), c.outputs().size());
  std::printf("[ort-cuda] %s: %s\n", model.c_str(), g.device_description().c_str());

  cudaStream_t stream = nullptr;
  ASSERT_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> pixel(0.f, 1.f);
  for (int batch : {max_batch, 1}) {
    for (size_t i = 0; i < c.inputs().size(); ++i) {
      Tensor ci = c.input(static_cast<int>(i));
      Tensor gi = g.input(static_cast<int>(i));
      ASSERT_EQ(ci.dtype, DType::kFloat32);
      ASSERT_EQ(gi.memory, MemoryKind::kDevice);
      ASSERT_EQ(gi.shape, ci.shape);
      const int64_t n = ci.slot_bytes() / 4 * batch;
      for (int64_t k = 0; k < n; ++k) ci.as<float>()[k] = pixel(rng);
      if (gi.dtype == DType::kFloat16) {
        std::vector<uint16_t> h(n);
        for (int64_t k = 0; k < n; ++k) {
          h[k] = ToHalf(ci.as<float>()[k]);
          ci.as<float>()[k] = FromHalf(h[k]);  // both see the same (rounded) input
        }
        ASSERT_CUDA(cudaMemcpyAsync(gi.data, h.data(), n * 2, cudaMemcpyHostToDevice, stream));
        ASSERT_CUDA(cudaStreamSynchronize(stream));
      } else {
        ASSERT_EQ(gi.dtype, DType::kFloat32);
        ASSERT_CUDA(cudaMemcpyAsync(gi.data, ci.data, n * 4, cudaMemcpyHostToDevice, stream));
      }
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
      if (go.dtype == DType::kFloat16) {
        std::vector<uint16_t> h(n);
        ASSERT_CUDA(cudaMemcpyAsync(h.data(), go.data, n * 2, cudaMemcpyDeviceToHost, stream));
        ASSERT_CUDA(cudaStreamSynchronize(stream));
        for (int64_t k = 0; k < n; ++k) got[k] = FromHalf(h[k]);
      } else {
        ASSERT_CUDA(cudaMemcpyAsync(got.data(), go.data, n * 4, cudaMemcpyDeviceToHost, stream));
        ASSERT_CUDA(cudaStreamSynchronize(stream));
      }
      double max_abs = 0, max_ref = 0;
      for (int64_t k = 0; k < n; ++k) {
        const float ref = co.as<float>()[k];
        ASSERT_TRUE(std::isfinite(got[k])) << "output " << i << " element " << k;
        max_abs = std::max(max_abs, std::fabs(static_cast<double>(got[k]) - ref));
        max_ref = std::max(max_ref, std::fabs(static_cast<double>(ref)));
      }
      EXPECT_LE(max_abs, tolerance * std::max(1.0, max_ref))
          << model << " output '" << c.outputs()[i].name << "' batch " << batch
          << ": max |ort-cuda - ort| = " << max_abs << ", max |ort| = " << max_ref;
      std::printf("[ort-cuda] %s batch %d output '%s': max abs difference to the CPU %.3g "
                  "(max |reference| %.3g)\n",
                  model.c_str(), batch, c.outputs()[i].name.c_str(), max_abs, max_ref);
    }
  }
  // The legacy default stream (nullptr) works too.
  ASSERT_TRUE(g.Run(1, nullptr).ok());
  ASSERT_CUDA(cudaDeviceSynchronize());
  ASSERT_CUDA(cudaStreamDestroy(stream));
}

// The bound for FP32: max relative error 1e-3 (outputs in [0,1]: absolute).
TEST(OrtCudaBackend, SelfieMatchesCpuOrt) {
  CompareWithCpu(Model("selfie"), Model("selfie"), 3, 1e-3, nullptr);
}
TEST(OrtCudaBackend, LandscapeMatchesCpuOrt) {
  CompareWithCpu(Model("landscape"), Model("landscape"), 3, 1e-3, nullptr);
}

// ONNX files without vrseg metadata (torchvision exports by bench/export_torchvision.py: NCHW input
// 'input', output 'output'), named in VRSEG_ORT_CUDA_MODELS (comma-separated). A NAME_fp16.onnx is
// compared with NAME.onnx on the CPU, within 5e-2 of the largest reference value.
TEST(OrtCudaBackend, ExportedModelsMatchCpuOrt) {
  const char* list = std::getenv("VRSEG_ORT_CUDA_MODELS");
  if (list == nullptr || *list == 0) {
    GTEST_SKIP() << "set VRSEG_ORT_CUDA_MODELS to ONNX files (bench/export_torchvision.py) to run";
  }
  std::string s = list;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    const std::string path = s.substr(start, end - start);
    start = end + 1;
    if (path.empty()) continue;
    SCOPED_TRACE(path);
    std::string reference = path;
    double tolerance = 1e-3;
    const std::string suffix = "_fp16.onnx";
    if (path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0) {
      reference = path.substr(0, path.size() - suffix.size()) + ".onnx";
      tolerance = 5e-2;
    }
    ModelInfo info;
    info.name = fs::path(path).stem().string();
    info.input_name = "input";
    info.output_name = "output";
    info.input_layout = TensorLayout::kNCHW;
    info.output_layout = TensorLayout::kNCHW;
    info.output_kind = OutputKind::kClassLogits;
    CompareWithCpu(path, reference, 2, tolerance, &info);
  }
}

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
