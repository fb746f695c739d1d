// engine/ir.h (private to src/engine) — the graph the GPU engine builds from.
//
// An ONNX model is imported into this IR (onnx_import.cc), shapes are inferred over the batch
// range with constant folding (shape_infer.cc), the graph is optimised (optimize.cc: BN folding,
// conv+bias+activation+residual fusion, no-op removal) and physical layouts are assigned
// (layout.cc). The CPU reference executor (ref.h) runs the IR on the host; the builder
// (builder.cc) turns it into a plan of GPU layers.
//
// Shapes: every dimension is affine in the batch size N (Dim{n, c} = n*N + c). Only the batch may
// vary; any other symbolic dimension is refused at import. Shape arithmetic in the graph
// (Shape → Gather → Concat → Reshape ...) is folded with the same affine values (Value::sym), so
// a Reshape to [N*H*W, C] keeps working for every batch in the plan's range.
//
// Layouts: each value has a logical (ONNX) shape and a physical layout. kPlain stores the logical
// shape row-major; kNHWC is used for rank-4 float activations whose logical shape is [N,C,H,W]
// and stores them as [N,H,W,C]. Kernels see physical shapes only (PhysicalDims).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vrseg/status.h"

namespace vrseg::engine {

// ---- dimensions and shapes ----------------------------------------------------------------------

struct Dim {
  int64_t n = 0;  // coefficient of the batch size
  int64_t c = 0;  // constant part
  static Dim Const(int64_t v) { return Dim{0, v}; }
  static Dim Batch() { return Dim{1, 0}; }
  int64_t At(int64_t batch) const { return n * batch + c; }
  bool is_const() const { return n == 0; }
  bool operator==(const Dim&) const = default;
};
using Shape = std::vector<Dim>;

std::vector<int64_t> Concrete(const Shape& s, int64_t batch);
std::string ShapeString(const Shape& s);  // "[N,3,224,224]", "[2N+1,5]"
// Elements per unit of batch and constant elements: count(N) = per_batch*N + fixed is not
// generally affine, so this returns the element count at a given batch.
int64_t Elements(const Shape& s, int64_t batch);

// ---- values -------------------------------------------------------------------------------------

enum class ElemType : uint8_t { kFloat = 0, kInt64, kBool };
// Float values are fp32 or fp16 on the GPU depending on the plan's precision; constants are kept
// in fp32 here. Bool is stored one byte per element.
const char* ElemTypeName(ElemType t);

enum class Layout : uint8_t { kPlain = 0, kNHWC };

struct Value {
  std::string name;
  ElemType type = ElemType::kFloat;
  Shape shape;
  bool shape_known = false;
  Layout layout = Layout::kPlain;

  // Constant content (initializers, Constant nodes, folded results), logical row-major order.
  bool is_const = false;
  std::vector<float> fdata;     // kFloat
  std::vector<int64_t> idata;   // kInt64 and kBool (0/1)
  // Int64 shape arithmetic that depends on the batch: one affine Dim per element. Set by shape
  // inference for values like Shape(x); such a value is "symbolic-constant": foldable, but its
  // content differs per batch size.
  bool has_sym = false;
  std::vector<Dim> sym;

  int producer = -1;            // node index, -1 for graph inputs and constants
};

// ---- nodes --------------------------------------------------------------------------------------

struct Attr {
  enum Kind : uint8_t { kInt, kFloat, kInts, kFloats, kString, kTensor } kind = kInt;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string s;
  int tensor_value = -1;  // kTensor: a constant Value holding it
};

enum class Act : uint8_t {
  kNone = 0,
  kRelu,         // max(x, 0)
  kClip,         // min(max(x, alpha), beta)   (Relu6: alpha 0, beta 6)
  kHardSwish,    // x * max(0, min(1, x/6 + 1/2))
  kHardSigmoid,  // max(0, min(1, alpha*x + beta))
  kSigmoid,
  kTanh,
  kLeakyRelu,    // x >= 0 ? x : alpha*x
};
const char* ActName(Act a);
float ApplyAct(Act a, float x, float alpha, float beta);  // the reference definition

// What a fused layer does after its main operation (conv, gemm, add):
//   y = main(x) [+ bias]
//   if residual >= 0 && !residual_after_act: y += residual
//   y = act(y)
//   if residual >= 0 && residual_after_act:  y += residual
struct Epilogue {
  Act act = Act::kNone;
  float alpha = 0, beta = 0;
  int residual = -1;             // value index, or -1
  bool residual_after_act = false;
  bool operator==(const Epilogue&) const = default;
};

struct Node {
  std::string name;   // ONNX node name (or a generated one); used in every error
  // ONNX op_type ("Conv", "Add", ...), plus the engine's own: "LayoutConvert" and
  // "SqueezeExcite" (inputs X [N,C,H,W], W1 [C1,C,1,1], B1 [C1] or absent, W2 [C2,C1,1,1], B2 [C2]
  // or absent; attrs act1, act1_alpha, act1_beta; output [N,C2,1,1] =
  // epi(W2 · act1(W1 · mean_HW(X) + B1) + B2): a squeeze-excite gate in one node).
  std::string op;
  std::vector<int> inputs;   // value indices, -1 for an absent optional input
  std::vector<int> outputs;
  std::map<std::string, Attr> attrs;
  Epilogue epi;       // set by fusion on Conv, ConvTranspose, Gemm, MatMul, Add
  bool dead = false;  // removed by a pass; Graph::Compact drops it

  bool Has(const std::string& a) const { return attrs.count(a) > 0; }
  int64_t GetInt(const std::string& a, int64_t def) const;
  float GetFloat(const std::string& a, float def) const;
  std::vector<int64_t> GetInts(const std::string& a, std::vector<int64_t> def = {}) const;
  std::vector<float> GetFloats(const std::string& a, std::vector<float> def = {}) const;
  std::string GetString(const std::string& a, std::string def = {}) const;
};

// ---- the graph ----------------------------------------------------------------------------------

struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;     // topologically ordered
  std::vector<int> inputs;     // non-constant graph inputs, value indices
  std::vector<int> outputs;    // value indices
  int64_t opset = 0;
  std::string source;          // the file it came from, for messages
  std::map<std::string, std::string> metadata;  // ONNX metadata_props (vrseg's ModelInfo lives here)

  int AddValue(Value v);       // returns its index
  int FindValue(const std::string& name) const;  // -1 if none
  // Consumers of each value (node indices), over live nodes.
  std::vector<std::vector<int>> Consumers() const;
  // Drops dead nodes and values nothing refers to; renumbers; keeps topological order.
  void Compact();
  // Checks invariants (indices in range, topological order, producers); for tests and debugging.
  Status Validate() const;
  // One line per node: "conv1 Conv(x[N,3,224,224]) -> y[N,64,112,112] relu".
  std::string Dump() const;
};

// Logical → physical dims of a value at a batch size (NHWC permutes [N,C,H,W] to [N,H,W,C]).
std::vector<int64_t> PhysicalDims(const Value& v, int64_t batch);
// Where logical axis `axis` (non-negative) of a value lives physically.
int PhysicalAxis(const Value& v, int axis);

// ---- the frontend -------------------------------------------------------------------------------

// The operators the engine builds; anything else is refused at import with the op and node named.
const std::vector<std::string>& SupportedOps();

struct ImportOptions {
  int64_t min_batch = 1;
  int64_t max_batch = 1;
};

// Reads an ONNX file (opsets 11–17; 7–10 where the ops' semantics are unchanged). Initializers and
// Constant nodes become constant values; a graph input whose dim 0 is symbolic or -1 gets the batch
// Dim; errors: kNotFound (file), kInvalidModel (parse, other symbolic dims, bad attributes),
// kUnsupported (an operator not in SupportedOps(), naming the op and the node).
Result<Graph> ImportOnnx(const std::string& path, const ImportOptions& options = {});
Result<Graph> ImportOnnxBytes(const std::string& bytes, const std::string& source,
                              const ImportOptions& options = {});

// Infers every value's shape (affine in N), folding constant and shape-arithmetic nodes
// (Shape, Gather, Slice, Concat, Unsqueeze, Squeeze, Cast, Reshape, elementwise on constants, ...)
// into constant values. Errors name the node.
Status InferShapes(Graph& g);

struct OptimizeOptions {
  bool fold_batchnorm = true;
  bool fold_const_mul_add = true;   // per-channel Mul/Add after a conv into its weights/bias
  bool fuse_activations = true;
  bool fuse_residual = true;
  bool remove_noops = true;         // Identity, Dropout, no-op Reshape/Transpose/Cast/Pad/Slice
  bool fuse_squeeze_excite = true;  // global pool → 1x1 conv → 1x1 conv into one SqueezeExcite
};
// The fused squeeze-excite kernel keeps the means, the hidden values and all its weights in shared
// memory (fp32): blocks needing more than this are not fused; nor are inputs of more than
// kMaxFusedSqueezeExciteElements (C*H*W of one image), which one block pools too slowly.
inline constexpr size_t kSqueezeExciteMaxSharedBytes = 40 * 1024;
inline constexpr int64_t kMaxFusedSqueezeExciteElements = 32768;
inline constexpr size_t SqueezeExciteSharedBytes(int64_t c, int64_t c1, int64_t c2) {
  return static_cast<size_t>(c + c1 + c1 * c + c2 * c1 + c1 + c2) * sizeof(float);
}
// Returns a report line per pass ("fold_batchnorm: 53 folded").
Result<std::vector<std::string>> Optimize(Graph& g, const OptimizeOptions& options = {});

// Assigns Layout::kNHWC to rank-4 float activations that feed or come from spatial ops, and
// inserts "LayoutConvert" nodes (attr "to": 0 plain, 1 nhwc) where a consumer needs the other
// layout; removes Transposes that become physical no-ops (NHWC input → [0,3,1,2] Transpose).
// Graph inputs and outputs stay kPlain (what callers hand in and read).
Status AssignLayouts(Graph& g);

// Import → InferShapes → Optimize → AssignLayouts, with options; the usual entry point.
struct FrontendOptions {
  ImportOptions import;
  OptimizeOptions optimize;
  bool assign_layouts = true;
};
Result<Graph> LoadAndOptimize(const std::string& path, const FrontendOptions& options,
                              std::vector<std::string>* report = nullptr);

}  // namespace vrseg::engine
