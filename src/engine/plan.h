// engine/plan.h (private to src/engine) — the engine's plan: what the builder decided and what the
// runtime executes, and its file format. Plain C++ (no CUDA): CI tests the format on the CPU.
//
// A plan is a list of layers over a table of buffers. Every buffer is one IR value in its physical
// layout (dims affine in the batch size, Dim from ir.h); it lives in the activation arena (at a
// fixed byte offset, planned for max_batch), in a graph input or output buffer (handed out by the
// backend), in the weights blob (constants), or is an alias of another buffer (Reshape and friends
// share their input's memory). Layers name their buffers by index and carry their own parameters
// as a small tagged map, a tactic and the prepared weights they need (offsets into the blob).
//
// File layout (all integers little-endian):
//   "VRSEGPLN" | u32 format version | u64 total file length |
//   records: (u32 tag, u64 length, payload)* | u64 FNV-1a-64 of every byte before it
// Records are key, layer, buffer, input, output, metadata, stats, report and weights. Inside a
// record, fields are again (u16 tag, u32 length, payload), so a reader skips fields and records
// it does not know: new layer parameters (e.g. INT8 per-channel scales as a float parameter) and
// new tactic kinds need no format break; an incompatible change bumps kPlanFormatVersion.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/ir.h"
#include "vrseg/status.h"

namespace vrseg::engine {

inline constexpr uint32_t kPlanFormatVersion = 1;
// Changes whenever the builder or the runtime would make a different or incompatible plan (2: the
// squeeze-excite layer); part of the key, so cached plans of an older engine are rebuilt.
inline constexpr const char* kEngineVersion = "vrseg-engine-2";

// Element types of plan buffers; numbered as gpu::DT in kernels.h.
enum class PlanDType : uint8_t { kF32 = 0, kF16 = 1, kI64 = 2, kBool = 3 };
int PlanDTypeSize(PlanDType t);
const char* PlanDTypeName(PlanDType t);

// What makes a plan valid on a machine. Two keys match when every field is equal.
struct PlanKey {
  std::string model_sha256;        // hex SHA-256 of the ONNX file's bytes
  std::string gpu_name;            // cudaDeviceProp::name
  int32_t compute_capability = 0;  // 90 for sm_90
  int32_t cuda_runtime_version = 0;
  int64_t cudnn_version = 0;
  int32_t cublas_version = 0;
  std::string precision;  // "fp32" | "fp16"
  int32_t min_batch = 1, opt_batch = 1, max_batch = 1;
  std::string engine_version = kEngineVersion;
  bool operator==(const PlanKey&) const = default;
};
// "" when equal, else the differing fields: "gpu_name 'A' != 'B', cudnn_version 91900 != 91800".
std::string KeyDifference(const PlanKey& have, const PlanKey& want);

// Layer kinds; the numbers are stored in files (append only).
enum class LayerKind : uint16_t {
  kConv = 1,    // Conv/ConvTranspose with epilogue: gpu::ConvRunner
  kGemm = 2,    // MatMul/Gemm: gpu::GemmRunner
  kBinary = 3,  // gpu::Binary (+ optional residual add)
  kUnary = 4,   // gpu::Unary (activations, math, copies)
  kChannelAffine = 5,
  kCast = 6,
  kPool = 7,
  kGlobalAvgPool = 8,
  kResize = 9,
  kConcat = 10,
  kSlice = 11,
  kTranspose = 12,
  kPad = 13,
  kSoftmax = 14,
  kArgMax = 15,
  kReduceMean = 16,
  kGather = 17,
  kSqueezeExcite = 18,  // gpu::SqueezeExcite: global mean, two 1x1 convs (a squeeze-excite gate)
};
const char* LayerKindName(LayerKind k);

// Tactic kinds; the numbers are stored in files (append only). An INT8 conv tactic would be a new
// kind with its own `sub` numbering.
enum class TacticKind : uint8_t {
  kKernel = 0,  // the engine's own kernel for the layer kind (no choice)
  kConv = 1,    // gpu::ConvTactic: algo = ConvAlgo, sub = its sub
  kGemm = 2,    // gpu::GemmTactic: sub
};
struct PlanTactic {
  TacticKind kind = TacticKind::kKernel;
  int32_t algo = 0;
  int32_t sub = 0;
  std::string name;  // for reports ("cudnn:IMPLICIT_PRECOMP_GEMM")
  bool operator==(const PlanTactic&) const = default;
};

// A slice of the weights blob.
struct WeightRef {
  uint64_t offset = 0;
  uint64_t size = 0;
  bool operator==(const WeightRef&) const = default;
};

struct PlanLayer {
  std::string name;  // the IR node's name (errors and reports)
  std::string op;    // its ONNX op ("Conv", "LayoutConvert", ...)
  LayerKind kind = LayerKind::kUnary;
  // Parameters by name; a reader ignores names it does not know.
  std::map<std::string, std::vector<int64_t>> ints;
  std::map<std::string, std::vector<double>> floats;
  std::vector<int32_t> inputs;   // buffer ids, -1 for an absent optional input
  std::vector<int32_t> outputs;  // buffer ids
  PlanTactic tactic;
  double time_ms = 0;                            // measured at the opt batch (0 when not timed)
  double flops_per_sample = 0;                   // for reports: FLOPs = flops_per_sample * batch
  double bytes_fixed = 0, bytes_per_sample = 0;  // memory traffic = fixed + per_sample * batch
  std::vector<WeightRef>
      weights;  // prepared weights (conv/gemm: weights, bias; affine: scale, shift)
  bool operator==(const PlanLayer&) const = default;

  int64_t Int(const std::string& k, int64_t def = 0) const;
  std::vector<int64_t> Ints(const std::string& k) const;
  double Float(const std::string& k, double def = 0) const;
};

enum class BufferKind : uint8_t { kArena = 0, kInput = 1, kOutput = 2, kAlias = 3, kConst = 4 };

struct PlanBuffer {
  std::string name;  // the IR value's name
  PlanDType dtype = PlanDType::kF32;
  Shape dims;  // physical, affine in the batch
  BufferKind kind = BufferKind::kArena;
  uint64_t offset = 0;  // kArena: byte offset in the arena; kConst: offset in the weights blob
  int32_t index = -1;   // kInput/kOutput: I/O index; kAlias: the buffer it shares
  bool operator==(const PlanBuffer&) const = default;
  int64_t Bytes(int64_t batch) const;
};

// A graph input or output as callers see it: logical shape (batch as Dim{1,0}), row-major.
struct PlanIO {
  std::string name;
  PlanDType dtype = PlanDType::kF32;
  Shape shape;
  Layout layout = Layout::kPlain;
  int32_t buffer = -1;
  bool operator==(const PlanIO&) const = default;
};

struct Plan {
  PlanKey key;
  std::vector<PlanLayer> layers;
  std::vector<PlanBuffer> buffers;
  std::vector<PlanIO> inputs, outputs;
  std::map<std::string, std::string> metadata;  // the ONNX metadata_props (ModelInfo)
  uint64_t arena_bytes = 0;                     // activation arena at max_batch
  uint64_t naive_bytes = 0;                     // sum of every arena buffer at max_batch (no reuse)
  double build_seconds = 0;
  std::vector<std::string> optimizer_report;
  std::vector<uint8_t> weights;
  bool operator==(const Plan&) const = default;

  // Appends bytes to the weights blob (256-byte aligned) and returns where they went.
  WeightRef AddWeights(const void* data, size_t size);
};

// Serialises a plan into the file format above.
std::vector<uint8_t> SerializePlan(const Plan& plan);
// Parses and checks a serialised plan (magic, version, lengths at every step, checksum, buffer and
// weight references in range). Errors: kInvalidModel "plan <source> is corrupt: ..." (or "... is
// not a vrseg plan" / "... has format version V, this engine reads 1").
Result<Plan> ParsePlan(const std::vector<uint8_t>& bytes, const std::string& source);

// Files. WritePlanFile writes to `path` + a temporary suffix and renames it into place, so readers
// never see a half-written plan. Errors: kIoError naming the path; ReadPlanFile: kNotFound, then
// ParsePlan's errors.
Status WritePlanFile(const Plan& plan, const std::string& path);
Result<Plan> ReadPlanFile(const std::string& path);

// Checksums and hashes (own implementations; no dependency).
uint64_t Fnv1a64(const uint8_t* data, size_t size, uint64_t seed = 0xcbf29ce484222325ull);
std::string Sha256Hex(const uint8_t* data, size_t size);
Result<std::string> Sha256File(const std::string& path);  // kNotFound / kIoError naming the path

// The key fields that describe this machine's device `device` (GPU name, compute capability,
// CUDA runtime, cuDNN and cuBLAS versions, engine version); the model hash, precision and batch
// range are left empty. Defined in engine_api.cc; kUnavailable without CUDA or without the device.
Result<PlanKey> MachinePlanKey(int device);

// Human-readable summary: one line per layer (kind, tactic, time, buffers) and the memory totals.
std::string DescribePlan(const Plan& plan);

}  // namespace vrseg::engine
