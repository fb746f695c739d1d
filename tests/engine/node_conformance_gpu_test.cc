// ONNX node conformance on the GPU engine: the node tests of node_conformance_test.cc, each model
// built (LoadAndOptimize → BuildPlan, fp32) and run by the Runtime on the device; every output
// must match ONNX's within rtol 1e-4 / atol 1e-5 (int64/bool exact). Skips are the CPU list
// (node_tests_skipped.txt) plus what only the GPU path refuses (node_tests_skipped_gpu.txt).
// Skips itself without a device.
//
// VRSEG_NODE_TEST_FILTER=substring runs only the matching tests; VRSEG_ONNX_TESTDATA_DIR and
// VRSEG_SOURCE_DIR say where the data and the skip lists are (the GPU machine has neither at
// the configured paths).
#ifdef VRSEG_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/conv.h"
#include "engine/ir.h"
#include "engine/node_conformance.h"
#include "engine/plan.h"
#include "engine/ref.h"
#include "engine/runtime.h"
#include "gpu_util.h"

namespace vrseg::engine::testing {
namespace {

Status CudaOk(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return Status::Internal(std::string(what) + ": " + cudaGetErrorString(e));
}

// A host tensor as the plan's I/O bytes (fp32, int64, or one byte per bool).
Status Pack(const HostTensor& t, PlanDType dtype, const std::string& name,
            std::vector<uint8_t>* out) {
  const size_t n = static_cast<size_t>(t.elements());
  if (dtype == PlanDType::kF32 && t.type == ElemType::kFloat) {
    out->resize(n * 4);
    if (n) std::memcpy(out->data(), t.f.data(), n * 4);
  } else if (dtype == PlanDType::kI64 && t.type == ElemType::kInt64) {
    out->resize(n * 8);
    if (n) std::memcpy(out->data(), t.i.data(), n * 8);
  } else if (dtype == PlanDType::kBool && t.type == ElemType::kBool) {
    out->resize(n);
    for (size_t e = 0; e < n; ++e) (*out)[e] = t.i[e] != 0;
  } else {
    return Status::InvalidArgument("input '" + name + "': the plan takes " + PlanDTypeName(dtype) +
                                   ", the feed is " + ElemTypeName(t.type));
  }
  return Status::Ok();
}

Result<HostTensor> Unpack(const std::vector<uint8_t>& bytes, PlanDType dtype,
                          std::vector<int64_t> dims) {
  HostTensor t;
  t.dims = std::move(dims);
  const size_t n = static_cast<size_t>(t.elements());
  if (dtype == PlanDType::kF32) {
    if (bytes.size() != n * 4) return Status::Internal("output size does not match its shape");
    t.f.resize(n);
    if (n) std::memcpy(t.f.data(), bytes.data(), n * 4);
  } else if (dtype == PlanDType::kI64) {
    if (bytes.size() != n * 8) return Status::Internal("output size does not match its shape");
    t.type = ElemType::kInt64;
    t.i.resize(n);
    if (n) std::memcpy(t.i.data(), bytes.data(), n * 8);
  } else if (dtype == PlanDType::kBool) {
    if (bytes.size() != n) return Status::Internal("output size does not match its shape");
    t.type = ElemType::kBool;
    for (uint8_t b : bytes) t.i.push_back(b != 0);
  } else {
    return Status::Internal(std::string("an fp32 plan with a ") + PlanDTypeName(dtype) + " output");
  }
  return t;
}

// Frontend → fp32 plan → Runtime at the plan's smallest batch; host copies in and out.
NodeTestRunner GpuRunner(std::shared_ptr<gpu::GpuContext> ctx) {
  return [ctx](const std::string& path,
               const std::map<std::string, HostTensor>& feeds) -> Result<NodeTestOutputs> {
    FrontendOptions fo;
    VRSEG_ASSIGN_OR_RETURN(Graph g, LoadAndOptimize(path, fo));
    BuilderOptions bo;
    bo.precision = PlanDType::kF32;
    bo.warmup_iterations = 1;
    bo.timed_iterations = 1;
    VRSEG_ASSIGN_OR_RETURN(Plan plan, BuildPlan(g, bo, ctx, nullptr));
    VRSEG_ASSIGN_OR_RETURN(std::unique_ptr<Runtime> rt, Runtime::Create(std::move(plan), ctx));
    const int batch = rt->min_batch();
    const Plan& p = rt->plan();
    for (size_t i = 0; i < p.inputs.size(); ++i) {
      const PlanIO& io = p.inputs[i];
      auto it = feeds.find(io.name);
      if (it == feeds.end()) return Status::InvalidArgument("no feed for input '" + io.name + "'");
      std::vector<uint8_t> bytes;
      VRSEG_RETURN_IF_ERROR(Pack(it->second, io.dtype, io.name, &bytes));
      if (static_cast<int64_t>(bytes.size()) != rt->input_bytes(static_cast<int>(i), batch)) {
        return Status::InvalidArgument("input '" + io.name + "': the feed has " +
                                       std::to_string(bytes.size()) + " bytes, the plan " +
                                       std::to_string(rt->input_bytes(static_cast<int>(i), batch)));
      }
      VRSEG_RETURN_IF_ERROR(CudaOk(cudaMemcpy(rt->input_data(static_cast<int>(i)), bytes.data(),
                                              bytes.size(), cudaMemcpyHostToDevice),
                                   "cudaMemcpy (input)"));
    }
    VRSEG_RETURN_IF_ERROR(rt->Run(batch, nullptr));
    VRSEG_RETURN_IF_ERROR(CudaOk(cudaDeviceSynchronize(), "cudaDeviceSynchronize after Run"));
    NodeTestOutputs out;
    for (size_t o = 0; o < p.outputs.size(); ++o) {
      const PlanIO& io = p.outputs[o];
      std::vector<uint8_t> bytes(static_cast<size_t>(rt->output_bytes(static_cast<int>(o), batch)));
      VRSEG_RETURN_IF_ERROR(CudaOk(cudaMemcpy(bytes.data(), rt->output_data(static_cast<int>(o)),
                                              bytes.size(), cudaMemcpyDeviceToHost),
                                   "cudaMemcpy (output)"));
      VRSEG_ASSIGN_OR_RETURN(out[io.name], Unpack(bytes, io.dtype, Concrete(io.shape, batch)));
    }
    return out;
  };
}

TEST(NodeConformanceGpu, EngineMatchesOnnxNodeTests) {
  VRSEG_REQUIRE_GPU();
  if (ListDir(NodeTestDataDir()).empty()) {
    GTEST_SKIP() << "ONNX node test data not found at " << NodeTestDataDir()
                 << " (set VRSEG_ONNX_TESTDATA_DIR)";
  }
  auto cpu_skips = ReadSkipList(EngineTestFile("node_tests_skipped.txt"));
  ASSERT_TRUE(cpu_skips.ok()) << cpu_skips.status().ToString();
  auto gpu_skips = ReadSkipList(EngineTestFile("node_tests_skipped_gpu.txt"));
  ASSERT_TRUE(gpu_skips.ok()) << gpu_skips.status().ToString();
  std::map<std::string, std::string> skips = *cpu_skips;
  for (const auto& [name, reason] : *gpu_skips) {
    ASSERT_FALSE(skips.count(name)) << name << " is in both skip lists";
    skips[name] = reason;
  }
  auto ctx = gpu::GpuContext::Create(0);
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  std::shared_ptr<gpu::GpuContext> shared(std::move(*ctx));
  const char* filter = std::getenv("VRSEG_NODE_TEST_FILTER");
  const ConformanceReport rep =
      RunNodeConformance(NodeTestDataDir(), SupportedOps(), GpuRunner(shared), NodeTestTolerance{},
                         skips, filter ? filter : "");
  std::cout << "GPU engine (fp32): " << rep.Summary() << "\n" << TallyByOp(rep);
  for (const std::string& p : rep.problems) ADD_FAILURE() << p;
}

}  // namespace
}  // namespace vrseg::engine::testing
#endif  // VRSEG_HAVE_CUDA
