// Physical layouts (see ir.h): rank-4 float activations around spatial ops are kNHWC; the pass
// inserts LayoutConvert nodes where a consumer needs the other layout.
#include <map>
#include <set>
#include <utility>

#include "engine/ir.h"

namespace vrseg::engine {
namespace {

bool IsSpatial(const std::string& op) {
  static const std::set<std::string> k = {"Conv", "ConvTranspose", "BatchNormalization", "MaxPool",
                                          "AveragePool", "GlobalAveragePool", "Resize", "Upsample",
                                          "SqueezeExcite"};
  return k.count(op) > 0;
}

bool IsAgnostic(const std::string& op) {
  static const std::set<std::string> k = {
      "Relu", "Clip", "HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyRelu", "Add", "Sub", "Mul",
      "Div", "Pow", "Sqrt", "Exp", "Neg", "Reciprocal", "Max", "Min", "Identity", "Dropout", "Concat",
      "Slice", "Split", "Pad", "Softmax", "LogSoftmax", "ArgMax", "ReduceMean", "Transpose", "Floor",
      "Ceil", "Equal", "Where", "Cast"};
  return k.count(op) > 0;
}

// Ops the builder runs as aliases (no kernel) when the memory order allows.
bool IsAlias(const std::string& op) {
  return op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze";
}

// A value that may be NHWC: rank-4, float, not constant.
bool Candidate(const Value& v) {
  return v.shape.size() == 4 && v.type == ElemType::kFloat && !v.is_const && !v.has_sym;
}

// NHWC and plain hold the same bytes when C == 1 or H == W == 1.
bool SameBytes(const Value& v) {
  return v.shape.size() == 4 &&
         (v.shape[1] == Dim::Const(1) || (v.shape[2] == Dim::Const(1) && v.shape[3] == Dim::Const(1)));
}

class LayoutPass {
 public:
  explicit LayoutPass(Graph& g) : g_(g) {}

  Status Run() {
    std::vector<Node> old = std::move(g_.nodes);
    g_.nodes.clear();
    for (Node& n : old) {
      if (n.dead) continue;
      VRSEG_RETURN_IF_ERROR(Place(n));
    }
    // Graph outputs stay plain and keep their names.
    for (int& o : g_.outputs) {
      if (g_.values[o].layout != Layout::kNHWC) continue;
      const int nhwc = Rename(o);
      AddConvert(nhwc, o, Layout::kPlain);
    }
    for (Value& v : g_.values) v.producer = -1;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      for (int o : g_.nodes[i].outputs) g_.values[o].producer = static_cast<int>(i);
    }
    return g_.Validate();
  }

 private:
  // The value `v` in layout `want` (a LayoutConvert is emitted once per value and layout).
  int As(int v, Layout want, bool alias_consumer = false) {
    if (v < 0 || g_.values[v].layout == want || !Candidate(g_.values[v])) return v;
    // Reshape-like consumers read an NHWC value with C == 1 or H == W == 1 as is (same bytes).
    if (alias_consumer && SameBytes(g_.values[v]) && want == Layout::kPlain) return v;
    auto key = std::make_pair(v, want);
    auto it = converted_.find(key);
    if (it != converted_.end()) return it->second;
    Value c = g_.values[v];
    c.name = c.name + (want == Layout::kNHWC ? "/to_nhwc" : "/to_plain");
    c.layout = want;
    const int cv = g_.AddValue(std::move(c));
    AddConvert(v, cv, want);
    converted_[key] = cv;
    return cv;
  }

  void AddConvert(int from, int to, Layout want) {
    Node n;
    n.name = g_.values[from].name + (want == Layout::kNHWC ? "/to_nhwc" : "/to_plain");
    n.op = "LayoutConvert";
    Attr a;
    a.kind = Attr::kInt;
    a.i = want == Layout::kNHWC ? 1 : 0;
    n.attrs["to"] = a;
    n.inputs = {from};
    n.outputs = {to};
    g_.values[to].layout = want;
    g_.nodes.push_back(std::move(n));
  }

  // Output value `o` becomes an internal NHWC value under a new name; `o` is written by a convert.
  int Rename(int o) {
    Value c = g_.values[o];
    c.name += "/nhwc";
    const int cv = g_.AddValue(std::move(c));
    for (Node& n : g_.nodes) {
      for (int& x : n.outputs) {
        if (x == o) x = cv;
      }
      for (int& x : n.inputs) {
        if (x == o) x = cv;
      }
      if (n.epi.residual == o) n.epi.residual = cv;
    }
    g_.values[o].layout = Layout::kPlain;
    return cv;
  }

  void SetOutputs(Node& n, Layout l) {
    for (int o : n.outputs) {
      Value& v = g_.values[o];
      v.layout = (l == Layout::kNHWC && Candidate(v)) ? Layout::kNHWC : Layout::kPlain;
    }
  }

  Status Place(Node n) {
    if (n.op == "LayoutConvert") {
      SetOutputs(n, n.GetInt("to", 0) ? Layout::kNHWC : Layout::kPlain);
      g_.nodes.push_back(std::move(n));
      return Status::Ok();
    }
    const bool rank4_in = !n.inputs.empty() && n.inputs[0] >= 0 && Candidate(g_.values[n.inputs[0]]);
    if (IsSpatial(n.op) && rank4_in) {
      n.inputs[0] = As(n.inputs[0], Layout::kNHWC);
      if (n.epi.residual >= 0) n.epi.residual = As(n.epi.residual, Layout::kNHWC);
      SetOutputs(n, Layout::kNHWC);
      g_.nodes.push_back(std::move(n));
      return Status::Ok();
    }
    if (IsAgnostic(n.op)) {
      // The layout of the first non-constant rank-4 input; only when every output and every
      // non-constant input is rank 4 (axis remapping stays simple for the builder).
      int first = -1;
      bool all4 = true;
      for (int v : n.inputs) {
        if (v < 0 || g_.values[v].is_const || g_.values[v].has_sym) continue;
        if (!Candidate(g_.values[v])) all4 = false;
        if (first < 0 && Candidate(g_.values[v])) first = v;
      }
      for (int o : n.outputs) all4 = all4 && Candidate(g_.values[o]);
      Layout l = first >= 0 && all4 ? g_.values[first].layout : Layout::kPlain;
      if (n.op == "Transpose" && first >= 0 && all4) {
        const auto perm = n.GetInts("perm");
        if (l == Layout::kPlain && perm == std::vector<int64_t>{0, 3, 1, 2}) {
          SetOutputs(n, Layout::kNHWC);  // physically a no-op
          g_.nodes.push_back(std::move(n));
          return Status::Ok();
        }
        if (l == Layout::kNHWC && perm == std::vector<int64_t>{0, 2, 3, 1}) {
          SetOutputs(n, Layout::kPlain);  // physically a no-op
          g_.nodes.push_back(std::move(n));
          return Status::Ok();
        }
      }
      for (int& v : n.inputs) {
        if (v >= 0 && !g_.values[v].is_const && !g_.values[v].has_sym) v = As(v, l);
      }
      if (n.epi.residual >= 0) n.epi.residual = As(n.epi.residual, l);
      SetOutputs(n, l);
      g_.nodes.push_back(std::move(n));
      return Status::Ok();
    }
    // Everything else reads and writes plain values. Reshape-like ops (aliases in the builder)
    // label a rank-4 output with C == 1 or H == W == 1 NHWC: the same bytes either way, and the
    // spatial and elementwise ops around squeeze-excite blocks then need no convert.
    const bool alias = IsAlias(n.op);
    for (int& v : n.inputs) v = As(v, Layout::kPlain, alias);
    if (n.epi.residual >= 0) n.epi.residual = As(n.epi.residual, Layout::kPlain);
    SetOutputs(n, Layout::kPlain);
    if (alias) {
      for (int o : n.outputs) {
        if (Candidate(g_.values[o]) && SameBytes(g_.values[o])) g_.values[o].layout = Layout::kNHWC;
      }
    }
    g_.nodes.push_back(std::move(n));
    return Status::Ok();
  }

  Graph& g_;
  std::map<std::pair<int, Layout>, int> converted_;
};

}  // namespace

Status AssignLayouts(Graph& g) {
  g.Compact();
  for (int v : g.inputs) g.values[v].layout = Layout::kPlain;
  LayoutPass pass(g);
  Status s = pass.Run();
  if (!s.ok()) return Status::Internal("layout assignment left an inconsistent graph: " + s.message());
  return Status::Ok();
}

}  // namespace vrseg::engine
