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
  std::string s = d.n == 1 ? "N" : std::to_string(d.n) + "N";
  if (d.c > 0) s += "+" + std::to_string(d.c);
  if (d.c < 0) s += std::to_string(d.c);
  return s;
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
