// The IR's small helpers (see ir.h).
#include "engine/ir.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace vrseg::engine {

std::vector<int64_t> Concrete(const Shape& s, int64_t batch) {
  std::vector<int64_t> out;
  out.reserve(s.size());
  for (const Dim& d : s) out.push_back(d.At(batch));
  return out;
}

static std::string DimString(const Dim& d) {
  if (d.n == 0) return std::to_string(d.c);
  std::ostringstream os;  // (string concatenation here trips GCC 12's -Wrestrict false positive)
  if (d.n != 1) os << d.n;
  os << 'N';
  if (d.c > 0) os << '+';
  if (d.c != 0) os << d.c;
  return os.str();
}

std::string ShapeString(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ",";
    out += DimString(s[i]);
  }
  return out + "]";
}

int64_t Elements(const Shape& s, int64_t batch) {
  int64_t n = 1;
  for (const Dim& d : s) n *= d.At(batch);
  return n;
}

const char* ElemTypeName(ElemType t) {
  switch (t) {
    case ElemType::kFloat: return "float";
    case ElemType::kInt64: return "int64";
    case ElemType::kBool: return "bool";
  }
  return "?";
}

const char* ActName(Act a) {
  switch (a) {
    case Act::kNone: return "none";
    case Act::kRelu: return "relu";
    case Act::kClip: return "clip";
    case Act::kHardSwish: return "hardswish";
    case Act::kHardSigmoid: return "hardsigmoid";
    case Act::kSigmoid: return "sigmoid";
    case Act::kTanh: return "tanh";
    case Act::kLeakyRelu: return "leakyrelu";
  }
  return "?";
}

float ApplyAct(Act a, float x, float alpha, float beta) {
  switch (a) {
    case Act::kNone: return x;
    case Act::kRelu: return x > 0.f ? x : 0.f;
    case Act::kClip: return std::min(std::max(x, alpha), beta);
    case Act::kHardSwish: return x * std::max(0.f, std::min(1.f, x / 6.f + 0.5f));
    case Act::kHardSigmoid: return std::max(0.f, std::min(1.f, alpha * x + beta));
    case Act::kSigmoid: return 1.f / (1.f + std::exp(-x));
    case Act::kTanh: return std::tanh(x);
    case Act::kLeakyRelu: return x >= 0.f ? x : alpha * x;
  }
  return x;
}

int64_t Node::GetInt(const std::string& a, int64_t def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.i;
}
float Node::GetFloat(const std::string& a, float def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.f;
}
std::vector<int64_t> Node::GetInts(const std::string& a, std::vector<int64_t> def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.ints;
}
std::vector<float> Node::GetFloats(const std::string& a, std::vector<float> def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.floats;
}
std::string Node::GetString(const std::string& a, std::string def) const {
  auto it = attrs.find(a);
  return it == attrs.end() ? def : it->second.s;
}

int Graph::AddValue(Value v) {
  values.push_back(std::move(v));
  return static_cast<int>(values.size()) - 1;
}

int Graph::FindValue(const std::string& name) const {
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

std::vector<std::vector<int>> Graph::Consumers() const {
  std::vector<std::vector<int>> out(values.size());
  for (size_t n = 0; n < nodes.size(); ++n) {
    if (nodes[n].dead) continue;
    for (int v : nodes[n].inputs) {
      if (v >= 0) out[v].push_back(static_cast<int>(n));
    }
    if (nodes[n].epi.residual >= 0) out[nodes[n].epi.residual].push_back(static_cast<int>(n));
  }
  return out;
}

void Graph::Compact() {
  // Values still referred to: live nodes' inputs, outputs and residuals, attribute tensors, graph
  // inputs and outputs.
  std::vector<char> used(values.size(), 0);
  auto mark = [&](int v) {
    if (v >= 0 && v < static_cast<int>(values.size())) used[v] = 1;
  };
  for (const Node& n : nodes) {
    if (n.dead) continue;
    for (int v : n.inputs) mark(v);
    for (int v : n.outputs) mark(v);
    mark(n.epi.residual);
    for (const auto& [k, a] : n.attrs) {
      if (a.kind == Attr::kTensor) mark(a.tensor_value);
    }
  }
  for (int v : inputs) mark(v);
  for (int v : outputs) mark(v);

  std::vector<int> vmap(values.size(), -1);
  std::vector<Value> nv;
  nv.reserve(values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    if (!used[i]) continue;
    vmap[i] = static_cast<int>(nv.size());
    nv.push_back(std::move(values[i]));
  }
  std::vector<Node> nn;
  nn.reserve(nodes.size());
  for (Node& n : nodes) {
    if (n.dead) continue;
    nn.push_back(std::move(n));
  }
  auto remap = [&](int v) { return v >= 0 && v < static_cast<int>(vmap.size()) ? vmap[v] : -1; };
  for (Value& v : nv) v.producer = -1;
  for (size_t i = 0; i < nn.size(); ++i) {
    Node& n = nn[i];
    for (int& v : n.inputs) v = remap(v);
    for (int& v : n.outputs) {
      v = remap(v);
      if (v >= 0) nv[v].producer = static_cast<int>(i);
    }
    n.epi.residual = remap(n.epi.residual);
    for (auto& [k, a] : n.attrs) {
      if (a.kind == Attr::kTensor) a.tensor_value = remap(a.tensor_value);
    }
  }
  for (int& v : inputs) v = remap(v);
  for (int& v : outputs) v = remap(v);
  values = std::move(nv);
  nodes = std::move(nn);
}

Status Graph::Validate() const {
  const int nv = static_cast<int>(values.size());
  auto where = [&](size_t i) {
    return "node " + std::to_string(i) + " '" + nodes[i].name + "' (" + nodes[i].op + ")";
  };
  // defined[v]: a graph input, a constant, or the output of an earlier live node.
  std::vector<char> defined(values.size(), 0);
  for (int v : inputs) {
    if (v < 0 || v >= nv) return Status::Internal("graph input index " + std::to_string(v) + " out of range");
    defined[v] = 1;
  }
  for (int v = 0; v < nv; ++v) {
    if (values[v].is_const || values[v].has_sym) defined[v] = 1;
  }
  std::vector<int> produced_by(values.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (n.dead) continue;
    for (int v : n.inputs) {
      if (v < -1 || v >= nv) return Status::Internal(where(i) + ": input index " + std::to_string(v) + " out of range");
      if (v >= 0 && !defined[v]) {
        return Status::Internal(where(i) + ": input '" + values[v].name +
                                "' is not defined before it (graph not topologically ordered)");
      }
    }
    if (n.epi.residual >= 0) {
      if (n.epi.residual >= nv) return Status::Internal(where(i) + ": residual index out of range");
      if (!defined[n.epi.residual]) {
        return Status::Internal(where(i) + ": residual '" + values[n.epi.residual].name +
                                "' is not defined before it");
      }
    }
    for (const auto& [k, a] : n.attrs) {
      if (a.kind == Attr::kTensor && (a.tensor_value < 0 || a.tensor_value >= nv)) {
        return Status::Internal(where(i) + ": attribute '" + k + "' tensor index out of range");
      }
    }
    for (int v : n.outputs) {
      if (v < 0 || v >= nv) return Status::Internal(where(i) + ": output index " + std::to_string(v) + " out of range");
      if (produced_by[v] >= 0) {
        return Status::Internal(where(i) + ": output '" + values[v].name + "' is also produced by " +
                                where(produced_by[v]));
      }
      if (values[v].producer != static_cast<int>(i)) {
        return Status::Internal(where(i) + ": output '" + values[v].name + "' records producer " +
                                std::to_string(values[v].producer));
      }
      produced_by[v] = static_cast<int>(i);
      defined[v] = 1;
    }
  }
  for (int v = 0; v < nv; ++v) {
    const int p = values[v].producer;
    if (p >= 0 && (p >= static_cast<int>(nodes.size()) || nodes[p].dead || produced_by[v] != p)) {
      if (!values[v].is_const && !values[v].has_sym) {
        return Status::Internal("value '" + values[v].name + "' records producer " + std::to_string(p) +
                                " which does not (or no longer) produce it");
      }
    }
  }
  for (int v : outputs) {
    if (v < 0 || v >= nv) return Status::Internal("graph output index " + std::to_string(v) + " out of range");
    if (!defined[v]) return Status::Internal("graph output '" + values[v].name + "' is never produced");
  }
  return Status::Ok();
}

static std::string ValueString(const Graph& g, int v) {
  if (v < 0) return "-";
  if (v >= static_cast<int>(g.values.size())) return std::string("?") += std::to_string(v);
  const Value& x = g.values[v];
  std::string s = x.name;
  if (x.shape_known) s += ShapeString(x.shape);
  if (x.type != ElemType::kFloat) s += std::string(":") + ElemTypeName(x.type);
  if (x.layout == Layout::kNHWC) s += ":nhwc";
  if (x.is_const) s += ":const";
  if (x.has_sym) s += ":sym";
  return s;
}

std::string Graph::Dump() const {
  std::ostringstream os;
  os << "graph " << (source.empty() ? "<memory>" : source) << " opset " << opset << "\n";
  os << "inputs:";
  for (int v : inputs) os << " " << ValueString(*this, v);
  os << "\n";
  for (const Node& n : nodes) {
    if (n.dead) continue;
    os << n.name << " " << n.op << "(";
    for (size_t i = 0; i < n.inputs.size(); ++i) os << (i ? ", " : "") << ValueString(*this, n.inputs[i]);
    os << ") -> ";
    for (size_t i = 0; i < n.outputs.size(); ++i) os << (i ? ", " : "") << ValueString(*this, n.outputs[i]);
    if (n.epi.act != Act::kNone) {
      os << " " << ActName(n.epi.act);
      if (n.epi.act == Act::kClip || n.epi.act == Act::kHardSigmoid || n.epi.act == Act::kLeakyRelu) {
        os << "(" << n.epi.alpha << "," << n.epi.beta << ")";
      }
    }
    if (n.epi.residual >= 0) {
      os << (n.epi.residual_after_act ? " +residual_after_act " : " +residual ")
         << ValueString(*this, n.epi.residual);
    }
    if (n.op == "LayoutConvert") os << " to=" << (n.GetInt("to", 0) ? "nhwc" : "plain");
    os << "\n";
  }
  os << "outputs:";
  for (int v : outputs) os << " " << ValueString(*this, v);
  os << "\n";
  return os.str();
}

std::vector<int64_t> PhysicalDims(const Value& v, int64_t batch) {
  std::vector<int64_t> d = Concrete(v.shape, batch);
  if (v.layout == Layout::kNHWC && d.size() == 4) return {d[0], d[2], d[3], d[1]};
  return d;
}

int PhysicalAxis(const Value& v, int axis) {
  if (v.layout == Layout::kNHWC && v.shape.size() == 4) {
    static const int kMap[4] = {0, 3, 1, 2};
    return kMap[axis];
  }
  return axis;
}

}  // namespace vrseg::engine
