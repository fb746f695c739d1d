// engine/ref.h (private to src/engine) — the CPU reference for every engine operator.
//
// Naive, single-threaded, fp32 (int64 for index/shape tensors), written for obviousness rather
// than speed. It is what the GPU kernels are tested against (each kernel's parity test runs the
// same op here), what the ONNX node conformance tests run in CI (no GPU needed), and what
// whole-graph tests use to check the optimiser (a graph before and after Optimize must agree).
//
// RunReference executes a Graph on *logical* shapes and ignores Value::layout (LayoutConvert nodes
// are identities). Fused epilogues (Node::epi) are honoured, so optimised graphs run too.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/ir.h"
#include "vrseg/status.h"

namespace vrseg::engine {

struct HostTensor {
  ElemType type = ElemType::kFloat;
  std::vector<int64_t> dims;
  std::vector<float> f;      // kFloat
  std::vector<int64_t> i;    // kInt64, kBool
  int64_t elements() const;
};

// Runs one node given its inputs (nullptr for absent optional inputs), producing its outputs.
// `g` supplies attributes' tensor values and the epilogue's residual is passed as the last entry
// of `inputs` when node.epi.residual >= 0. Errors name the node.
Status RefRunNode(const Graph& g, const Node& node, const std::vector<const HostTensor*>& inputs,
                  std::vector<HostTensor>* outputs);

// Runs a whole graph: `feeds` by graph-input name; returns every graph output by name.
Result<std::map<std::string, HostTensor>> RunReference(const Graph& g,
                                                       const std::map<std::string, HostTensor>& feeds);

// ---- single ops on physical data (used by the GPU kernel parity tests) --------------------------
// These take plain row-major arrays with explicit dims, the same contract as engine/kernels.h.

// out = op(a, b) with numpy broadcasting (dims right-aligned), then the activation.
enum class BinOp : uint8_t { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };
void RefBinary(BinOp op, const float* a, const std::vector<int64_t>& adims, const float* b,
               const std::vector<int64_t>& bdims, float* out, const std::vector<int64_t>& odims,
               Act act = Act::kNone, float alpha = 0, float beta = 0);

// Direct convolution in NHWC with weights [K][R][S][C/groups], bias[K] (may be null), optional
// residual (NHWC, shape of y) and the epilogue. Transposed convolution when `transposed`.
struct ConvShape {
  int64_t n = 1, h = 0, w = 0, c = 0;         // input
  int64_t k = 0, r = 1, s = 1;                // output channels, kernel rows/cols
  int64_t groups = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dil_h = 1, dil_w = 1;
  bool transposed = false;                    // ConvTranspose: weights [C][R][S][K/groups]
  int64_t out_pad_h = 0, out_pad_w = 0;       // ConvTranspose output_padding
  int64_t OutH() const;
  int64_t OutW() const;
};
void RefConvNHWC(const ConvShape& cs, const float* x, const float* w, const float* bias,
                 const float* residual, float* y, const Epilogue& epi);

}  // namespace vrseg::engine
