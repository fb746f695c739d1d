// The CPU reference operators (RefRunNode, see ref.h): ONNX semantics for opsets 11–17 (and the
// attribute forms of older opsets), written for obviousness. Convolutions, matmuls and reductions
// accumulate in double and round to float once.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/ref.h"
#include "engine/ref_util.h"

namespace vrseg::engine {

using refutil::BroadcastDims;
using refutil::BroadcastIndex;
using refutil::DimsString;
using refutil::Numel;
using refutil::Strides;

namespace {

// ---- context ------------------------------------------------------------------------------------

struct Ctx {
  const Graph& g;
  const Node& n;
  const std::vector<const HostTensor*>& in;
  std::vector<HostTensor>* out;

  std::string Where() const { return n.op + " node '" + n.name + "'"; }
  Status Bad(const std::string& msg) const { return Status::InvalidModel(Where() + ": " + msg); }
  Status Unsup(const std::string& msg) const { return Status::Unsupported(Where() + ": " + msg); }
  // Input i of the ONNX node (the residual, if any, is not counted); nullptr when absent.
  const HostTensor* In(size_t i) const {
    return i < n.inputs.size() && i < in.size() ? in[i] : nullptr;
  }
  size_t NumIn() const { return std::min(n.inputs.size(), in.size()); }
  const HostTensor* Residual() const {
    return n.epi.residual >= 0 && in.size() > n.inputs.size() ? in.back() : nullptr;
  }
  HostTensor& Out(size_t i) const {
    if (out->size() <= i) out->resize(i + 1);
    return (*out)[i];
  }
  bool WantsOut(size_t i) const { return i < n.outputs.size() && n.outputs[i] >= 0; }
  int64_t Opset() const { return g.opset; }
};

Status NeedIn(const Ctx& c, size_t i, const char* what) {
  if (!c.In(i)) return c.Bad(std::string("missing input ") + std::to_string(i) + " (" + what + ")");
  return Status::Ok();
}

Status NeedFloat(const Ctx& c, const HostTensor* t, const char* what) {
  if (t->type != ElemType::kFloat) {
    return c.Unsup(std::string(what) + " is " + ElemTypeName(t->type) +
                   "; only float is supported");
  }
  return Status::Ok();
}

// Normalises an axis against a rank; false when out of range.
bool NormAxis(int64_t* axis, int64_t rank) {
  if (*axis < 0) *axis += rank;
  return *axis >= 0 && *axis < rank;
}

std::vector<int64_t> Ints(const HostTensor* t) {
  if (!t) return {};
  if (t->type == ElemType::kFloat) {
    std::vector<int64_t> v;
    for (float f : t->f) v.push_back(static_cast<int64_t>(f));
    return v;
  }
  return t->i;
}

double Scalar(const HostTensor* t) {
  if (t->type == ElemType::kFloat) return t->f.empty() ? 0.0 : t->f[0];
  return t->i.empty() ? 0.0 : static_cast<double>(t->i[0]);
}

// out[e] = src[idx[e]], or `fill` where idx[e] < 0. Any element type.
HostTensor Take(const HostTensor& src, std::vector<int64_t> dims, const std::vector<int64_t>& idx,
                double fill = 0) {
  HostTensor o;
  o.type = src.type;
  o.dims = std::move(dims);
  if (src.type == ElemType::kFloat) {
    o.f.resize(idx.size());
    for (size_t e = 0; e < idx.size(); ++e) {
      o.f[e] = idx[e] < 0 ? static_cast<float>(fill) : src.f[idx[e]];
    }
  } else {
    o.i.resize(idx.size());
    for (size_t e = 0; e < idx.size(); ++e) {
      o.i[e] = idx[e] < 0 ? static_cast<int64_t>(fill) : src.i[idx[e]];
    }
  }
  return o;
}

HostTensor Reshaped(const HostTensor& t, std::vector<int64_t> dims) {
  HostTensor o = t;
  o.dims = std::move(dims);
  return o;
}

HostTensor FloatTensor(std::vector<int64_t> dims) {
  HostTensor o;
  o.type = ElemType::kFloat;
  o.dims = std::move(dims);
  o.f.assign(static_cast<size_t>(Numel(o.dims)), 0.f);
  return o;
}

HostTensor IntTensor(ElemType type, std::vector<int64_t> dims) {
  HostTensor o;
  o.type = type;
  o.dims = std::move(dims);
  o.i.assign(static_cast<size_t>(Numel(o.dims)), 0);
  return o;
}

// The fused epilogue of Conv/ConvTranspose/Gemm/MatMul/Add on a finished float output.
Status ApplyEpilogue(const Ctx& c, HostTensor* y) {
  const Epilogue& epi = c.n.epi;
  const HostTensor* res = c.Residual();
  if (epi.residual >= 0 && !res) return c.Bad("the fused residual input is missing");
  if (epi.act == Act::kNone && !res) return Status::Ok();
  if (y->type != ElemType::kFloat) return c.Unsup("a fused epilogue on a non-float output");
  if (res && (res->type != ElemType::kFloat || res->f.size() != y->f.size())) {
    return c.Bad("the fused residual " + DimsString(res->dims) + " does not match the output " +
                 DimsString(y->dims));
  }
  for (size_t e = 0; e < y->f.size(); ++e) {
    float v = y->f[e];
    if (res && !epi.residual_after_act) v += res->f[e];
    v = ApplyAct(epi.act, v, epi.alpha, epi.beta);
    if (res && epi.residual_after_act) v += res->f[e];
    y->f[e] = v;
  }
  return Status::Ok();
}

// ---- elementwise --------------------------------------------------------------------------------

Status Unary(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "X"));
  const HostTensor& x = *c.In(0);
  const std::string& op = c.n.op;
  if (op == "Neg" && x.type == ElemType::kInt64) {
    HostTensor& y = c.Out(0) = x;
    for (int64_t& v : y.i) v = -v;
    return Status::Ok();
  }
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  std::function<float(float)> f;
  if (op == "Relu") {
    f = [](float v) { return ApplyAct(Act::kRelu, v, 0, 0); };
  } else if (op == "Sigmoid") {
    f = [](float v) { return ApplyAct(Act::kSigmoid, v, 0, 0); };
  } else if (op == "Tanh") {
    f = [](float v) { return ApplyAct(Act::kTanh, v, 0, 0); };
  } else if (op == "HardSwish") {
    f = [](float v) { return ApplyAct(Act::kHardSwish, v, 0, 0); };
  } else if (op == "HardSigmoid") {
    const float a = c.n.GetFloat("alpha", 0.2f), b = c.n.GetFloat("beta", 0.5f);
    f = [a, b](float v) { return ApplyAct(Act::kHardSigmoid, v, a, b); };
  } else if (op == "LeakyRelu") {
    const float a = c.n.GetFloat("alpha", 0.01f);
    f = [a](float v) { return ApplyAct(Act::kLeakyRelu, v, a, 0); };
  } else if (op == "Sqrt") {
    f = [](float v) { return std::sqrt(v); };
  } else if (op == "Exp") {
    f = [](float v) { return std::exp(v); };
  } else if (op == "Neg") {
    f = [](float v) { return -v; };
  } else if (op == "Reciprocal") {
    f = [](float v) { return 1.f / v; };
  } else if (op == "Floor") {
    f = [](float v) { return std::floor(v); };
  } else if (op == "Ceil") {
    f = [](float v) { return std::ceil(v); };
  } else {
    return c.Unsup("not an elementwise unary operator");
  }
  HostTensor& y = c.Out(0) = x;
  for (float& v : y.f) v = f(v);
  return Status::Ok();
}

Status Clip(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  const HostTensor& x = *c.In(0);
  const bool attrs = c.Opset() < 11 || c.n.Has("min") || c.n.Has("max");
  if (x.type == ElemType::kFloat) {
    double lo = -std::numeric_limits<double>::infinity(), hi = -lo;
    if (attrs) {
      lo = c.n.GetFloat("min", -std::numeric_limits<float>::infinity());
      hi = c.n.GetFloat("max", std::numeric_limits<float>::infinity());
    }
    if (c.In(1) && c.In(1)->elements() > 0) lo = Scalar(c.In(1));
    if (c.In(2) && c.In(2)->elements() > 0) hi = Scalar(c.In(2));
    HostTensor& y = c.Out(0) = x;
    for (float& v : y.f) {
      double d = v;
      d = d < lo ? lo : d;
      d = d > hi ? hi : d;
      v = static_cast<float>(d);
    }
    return Status::Ok();
  }
  if (x.type != ElemType::kInt64) return c.Unsup("Clip of bool");
  int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  if (c.In(1) && c.In(1)->elements() > 0) lo = static_cast<int64_t>(Scalar(c.In(1)));
  if (c.In(2) && c.In(2)->elements() > 0) hi = static_cast<int64_t>(Scalar(c.In(2)));
  HostTensor& y = c.Out(0) = x;
  for (int64_t& v : y.i) v = std::min(std::max(v, lo), hi);
  return Status::Ok();
}

double FloatBinary(const std::string& op, double a, double b) {
  if (op == "Add") return a + b;
  if (op == "Sub") return a - b;
  if (op == "Mul") return a * b;
  if (op == "Div") return a / b;
  if (op == "Pow") return std::pow(a, b);
  if (op == "Max") return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
  if (op == "Min") return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
  return 0;
}

// y = a op b with broadcasting; `op` one of Add Sub Mul Div Pow Max Min Equal.
Status BinaryPair(const Ctx& c, const std::string& op, const HostTensor& a, const HostTensor& b,
                  HostTensor* y) {
  std::vector<int64_t> odims;
  if (!BroadcastDims(a.dims, b.dims, &odims)) {
    return c.Bad("shapes " + DimsString(a.dims) + " and " + DimsString(b.dims) +
                 " do not broadcast");
  }
  const std::vector<int64_t> ia = BroadcastIndex(a.dims, odims);
  const std::vector<int64_t> ib = BroadcastIndex(b.dims, odims);
  const size_t n = ia.size();
  if (op == "Equal") {
    if ((a.type == ElemType::kFloat) != (b.type == ElemType::kFloat)) {
      return c.Bad("Equal of different element types");
    }
    *y = IntTensor(ElemType::kBool, odims);
    for (size_t e = 0; e < n; ++e) {
      y->i[e] = a.type == ElemType::kFloat ? a.f[ia[e]] == b.f[ib[e]] : a.i[ia[e]] == b.i[ib[e]];
    }
    return Status::Ok();
  }
  if (a.type == ElemType::kBool || b.type == ElemType::kBool) return c.Unsup("arithmetic on bool");
  auto bv = [&](size_t e) {
    return b.type == ElemType::kFloat ? static_cast<double>(b.f[ib[e]])
                                      : static_cast<double>(b.i[ib[e]]);
  };
  if (a.type == ElemType::kFloat && (b.type == ElemType::kFloat || op == "Pow")) {
    *y = FloatTensor(odims);
    for (size_t e = 0; e < n; ++e) {
      // Float arithmetic as fp32 would do it (one rounding per operation).
      const float x = a.f[ia[e]];
      const float z = b.type == ElemType::kFloat ? b.f[ib[e]] : static_cast<float>(bv(e));
      if (op == "Add") {
        y->f[e] = x + z;
      } else if (op == "Sub") {
        y->f[e] = x - z;
      } else if (op == "Mul") {
        y->f[e] = x * z;
      } else if (op == "Div") {
        y->f[e] = x / z;
      } else {
        y->f[e] = static_cast<float>(FloatBinary(op, x, z));
      }
    }
    return Status::Ok();
  }
  if (a.type == ElemType::kInt64 && (b.type == ElemType::kInt64 || op == "Pow")) {
    *y = IntTensor(ElemType::kInt64, odims);
    for (size_t e = 0; e < n; ++e) {
      const int64_t x = a.i[ia[e]];
      if (op == "Pow") {
        y->i[e] = static_cast<int64_t>(std::pow(static_cast<double>(x), bv(e)));
        continue;
      }
      const int64_t z = b.i[ib[e]];
      if (op == "Add") {
        y->i[e] = x + z;
      } else if (op == "Sub") {
        y->i[e] = x - z;
      } else if (op == "Mul") {
        y->i[e] = x * z;
      } else if (op == "Div") {
        if (z == 0) return c.Bad("integer division by zero");
        y->i[e] = x / z;
      } else if (op == "Max") {
        y->i[e] = std::max(x, z);
      } else if (op == "Min") {
        y->i[e] = std::min(x, z);
      }
    }
    return Status::Ok();
  }
  return c.Bad(std::string("operands of different element types (") + ElemTypeName(a.type) + ", " +
               ElemTypeName(b.type) + ")");
}

Status Binary(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "A"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "B"));
  HostTensor& y = c.Out(0);
  VRSEG_RETURN_IF_ERROR(BinaryPair(c, c.n.op, *c.In(0), *c.In(1), &y));
  if (c.n.op == "Add") return ApplyEpilogue(c, &y);
  return Status::Ok();
}

Status Variadic(const Ctx& c) {  // Max, Min
  if (c.NumIn() == 0 || !c.In(0)) return c.Bad("no inputs");
  HostTensor acc = *c.In(0);
  for (size_t i = 1; i < c.NumIn(); ++i) {
    if (!c.In(i)) continue;
    HostTensor next;
    VRSEG_RETURN_IF_ERROR(BinaryPair(c, c.n.op, acc, *c.In(i), &next));
    acc = std::move(next);
  }
  c.Out(0) = std::move(acc);
  return Status::Ok();
}

Status Where(const Ctx& c) {
  for (size_t i = 0; i < 3; ++i) VRSEG_RETURN_IF_ERROR(NeedIn(c, i, "condition/X/Y"));
  const HostTensor &cond = *c.In(0), &x = *c.In(1), &y = *c.In(2);
  if (x.type != y.type) return c.Bad("X and Y have different element types");
  std::vector<int64_t> d1, odims;
  if (!BroadcastDims(cond.dims, x.dims, &d1) || !BroadcastDims(d1, y.dims, &odims)) {
    return c.Bad("shapes do not broadcast");
  }
  const auto ic = BroadcastIndex(cond.dims, odims), ix = BroadcastIndex(x.dims, odims),
             iy = BroadcastIndex(y.dims, odims);
  HostTensor o;
  o.type = x.type;
  o.dims = odims;
  const auto condv = [&](size_t e) {
    return cond.type == ElemType::kFloat ? cond.f[ic[e]] != 0 : cond.i[ic[e]] != 0;
  };
  if (x.type == ElemType::kFloat) {
    o.f.resize(ic.size());
    for (size_t e = 0; e < ic.size(); ++e) o.f[e] = condv(e) ? x.f[ix[e]] : y.f[iy[e]];
  } else {
    o.i.resize(ic.size());
    for (size_t e = 0; e < ic.size(); ++e) o.i[e] = condv(e) ? x.i[ix[e]] : y.i[iy[e]];
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

// ONNX TensorProto data types → the engine's.
bool CastTarget(int64_t to, ElemType* t) {
  switch (to) {
    case 1:
    case 10:
    case 11:
    case 16:
      *t = ElemType::kFloat;
      return true;  // float, f16, f64, bf16
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7:
    case 12:
    case 13:
      *t = ElemType::kInt64;
      return true;  // u8 i8 u16 i16 i32 i64 u32 u64
    case 9:
      *t = ElemType::kBool;
      return true;
    default:
      return false;
  }
}

Status Cast(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  const HostTensor& x = *c.In(0);
  const int64_t to = c.n.GetInt("to", 1);
  ElemType t;
  if (!CastTarget(to, &t)) return c.Unsup("cast to ONNX data type " + std::to_string(to));
  HostTensor o;
  o.type = t;
  o.dims = x.dims;
  const size_t n = static_cast<size_t>(x.elements());
  if (t == ElemType::kFloat) {
    o.f.resize(n);
    for (size_t e = 0; e < n; ++e) {
      o.f[e] = x.type == ElemType::kFloat ? x.f[e] : static_cast<float>(x.i[e]);
    }
    if (to == 10 || to == 16) {
      return c.Unsup("cast to float16/bfloat16 (the reference keeps fp32)");
    }
  } else {
    o.i.resize(n);
    for (size_t e = 0; e < n; ++e) {
      if (t == ElemType::kBool) {
        o.i[e] = x.type == ElemType::kFloat ? x.f[e] != 0.f : x.i[e] != 0;
      } else {
        o.i[e] = x.type == ElemType::kFloat ? static_cast<int64_t>(std::trunc(x.f[e])) : x.i[e];
      }
    }
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

// ---- data movement ------------------------------------------------------------------------------

Status Copy(const Ctx& c) {  // Identity, Dropout, LayoutConvert
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  if (c.n.op == "Dropout") {
    if (c.In(2) && Scalar(c.In(2)) != 0) {
      const double ratio = c.In(1) ? Scalar(c.In(1)) : c.n.GetFloat("ratio", 0.5f);
      if (ratio != 0) return c.Unsup("Dropout in training mode (random)");
    }
    if (c.WantsOut(1)) {
      HostTensor& mask = c.Out(1) = IntTensor(ElemType::kBool, c.In(0)->dims);
      std::fill(mask.i.begin(), mask.i.end(), 1);
    }
  }
  c.Out(0) = *c.In(0);
  return Status::Ok();
}

Status Concat(const Ctx& c) {
  if (c.NumIn() == 0 || !c.In(0)) return c.Bad("no inputs");
  const HostTensor& first = *c.In(0);
  const int64_t rank = static_cast<int64_t>(first.dims.size());
  int64_t axis = c.n.GetInt("axis", 0);
  if (!NormAxis(&axis, rank)) return c.Bad("axis out of range for rank " + std::to_string(rank));
  std::vector<int64_t> odims = first.dims;
  odims[axis] = 0;
  for (size_t i = 0; i < c.NumIn(); ++i) {
    const HostTensor* t = c.In(i);
    if (!t) continue;
    if (t->dims.size() != first.dims.size() || t->type != first.type) {
      return c.Bad("input " + std::to_string(i) + " " + DimsString(t->dims) +
                   " does not match input 0 " + DimsString(first.dims));
    }
    for (int64_t d = 0; d < rank; ++d) {
      if (d != axis && t->dims[d] != first.dims[d]) {
        return c.Bad("input " + std::to_string(i) + " " + DimsString(t->dims) +
                     " does not match input 0 " + DimsString(first.dims));
      }
    }
    odims[axis] += t->dims[axis];
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= odims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= odims[d];
  HostTensor o;
  o.type = first.type;
  o.dims = odims;
  for (int64_t b = 0; b < outer; ++b) {
    for (size_t i = 0; i < c.NumIn(); ++i) {
      const HostTensor* t = c.In(i);
      if (!t) continue;
      const int64_t chunk = t->dims[axis] * inner;
      if (t->type == ElemType::kFloat) {
        o.f.insert(o.f.end(), t->f.begin() + b * chunk, t->f.begin() + (b + 1) * chunk);
      } else {
        o.i.insert(o.i.end(), t->i.begin() + b * chunk, t->i.begin() + (b + 1) * chunk);
      }
    }
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

Status Transpose(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  const size_t rank = x.dims.size();
  std::vector<int64_t> perm = c.n.GetInts("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
  }
  if (perm.size() != rank) return c.Bad("perm does not match the rank");
  std::vector<int64_t> odims(rank);
  const std::vector<int64_t> istr = Strides(x.dims);
  std::vector<int64_t> ostr_in(rank);  // input stride of each output axis
  std::vector<char> seen(rank, 0);
  for (size_t i = 0; i < rank; ++i) {
    int64_t p = perm[i];
    if (!NormAxis(&p, static_cast<int64_t>(rank)) || seen[p]) return c.Bad("perm is invalid");
    seen[p] = 1;
    odims[i] = x.dims[p];
    ostr_in[i] = istr[p];
  }
  const int64_t n = Numel(odims);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<int64_t> cnt(rank, 0);
  int64_t off = 0;
  for (int64_t e = 0; e < n; ++e) {
    idx[e] = off;
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      ++cnt[d];
      off += ostr_in[d];
      if (cnt[d] < odims[d]) break;
      off -= ostr_in[d] * cnt[d];
      cnt[d] = 0;
    }
  }
  c.Out(0) = Take(x, odims, idx);
  return Status::Ok();
}

Status Reshape(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "shape"));
  const HostTensor& x = *c.In(0);
  std::vector<int64_t> shape = Ints(c.In(1));
  const bool allowzero = c.n.GetInt("allowzero", 0) != 0;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allowzero) {
      if (i >= x.dims.size()) return c.Bad("shape has a 0 beyond the input's rank");
      shape[i] = x.dims[i];
    }
    if (shape[i] == -1) {
      if (infer >= 0) return c.Bad("shape has more than one -1");
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      return c.Bad("shape has a negative entry");
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.elements() % known != 0) {
      return c.Bad("cannot reshape " + DimsString(x.dims) + " to " + DimsString(shape));
    }
    shape[infer] = x.elements() / known;
  }
  if (Numel(shape) != x.elements()) {
    return c.Bad("cannot reshape " + DimsString(x.dims) + " to " + DimsString(shape));
  }
  c.Out(0) = Reshaped(x, shape);
  return Status::Ok();
}

Status Flatten(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  const HostTensor& x = *c.In(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.n.GetInt("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) return c.Bad("axis out of range");
  int64_t a = 1, b = 1;
  for (int64_t d = 0; d < rank; ++d) (d < axis ? a : b) *= x.dims[d];
  c.Out(0) = Reshaped(x, {a, b});
  return Status::Ok();
}

// Axes from the attribute (older opsets) or from input `input` (opset 13+).
std::vector<int64_t> AxesOf(const Ctx& c, size_t input, bool* given) {
  if (c.n.Has("axes")) {
    *given = true;
    return c.n.GetInts("axes");
  }
  if (c.In(input)) {
    *given = true;
    return Ints(c.In(input));
  }
  *given = false;
  return {};
}

Status Squeeze(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  bool given = false;
  std::vector<int64_t> axes = AxesOf(c, 1, &given);
  std::vector<char> drop(rank, 0);
  if (!given) {
    for (int64_t d = 0; d < rank; ++d) drop[d] = x.dims[d] == 1;
  }
  for (int64_t a : axes) {
    if (!NormAxis(&a, rank)) return c.Bad("axis out of range");
    if (x.dims[a] != 1)
      return c.Bad("cannot squeeze axis " + std::to_string(a) + " of " + DimsString(x.dims));
    drop[a] = 1;
  }
  std::vector<int64_t> odims;
  for (int64_t d = 0; d < rank; ++d) {
    if (!drop[d]) odims.push_back(x.dims[d]);
  }
  c.Out(0) = Reshaped(x, odims);
  return Status::Ok();
}

Status Unsqueeze(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  bool given = false;
  std::vector<int64_t> axes = AxesOf(c, 1, &given);
  const int64_t orank = static_cast<int64_t>(x.dims.size() + axes.size());
  std::vector<char> ins(orank, 0);
  for (int64_t a : axes) {
    if (!NormAxis(&a, orank) || ins[a]) return c.Bad("axes are invalid");
    ins[a] = 1;
  }
  std::vector<int64_t> odims;
  size_t k = 0;
  for (int64_t d = 0; d < orank; ++d) odims.push_back(ins[d] ? 1 : x.dims[k++]);
  c.Out(0) = Reshaped(x, odims);
  return Status::Ok();
}

Status Expand(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "shape"));
  const HostTensor& x = *c.In(0);
  std::vector<int64_t> odims;
  if (!BroadcastDims(x.dims, Ints(c.In(1)), &odims)) {
    return c.Bad("cannot expand " + DimsString(x.dims) + " to " + DimsString(Ints(c.In(1))));
  }
  c.Out(0) = Take(x, odims, BroadcastIndex(x.dims, odims));
  return Status::Ok();
}

Status Gather(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "indices"));
  const HostTensor& x = *c.In(0);
  const HostTensor& ind = *c.In(1);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.n.GetInt("axis", 0);
  if (!NormAxis(&axis, rank)) return c.Bad("axis out of range");
  const std::vector<int64_t> iv = Ints(&ind);
  std::vector<int64_t> odims(x.dims.begin(), x.dims.begin() + axis);
  odims.insert(odims.end(), ind.dims.begin(), ind.dims.end());
  odims.insert(odims.end(), x.dims.begin() + axis + 1, x.dims.end());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dims[d];
  const int64_t len = x.dims[axis];
  std::vector<int64_t> idx;
  idx.reserve(static_cast<size_t>(outer * iv.size() * inner));
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j : iv) {
      if (j < -len || j >= len) return c.Bad("index " + std::to_string(j) + " out of range");
      if (j < 0) j += len;
      for (int64_t k = 0; k < inner; ++k) idx.push_back((o * len + j) * inner + k);
    }
  }
  c.Out(0) = Take(x, odims, idx);
  return Status::Ok();
}

Status Slice(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> starts, ends, axes, steps;
  if (c.n.Has("starts")) {  // opset < 10
    starts = c.n.GetInts("starts");
    ends = c.n.GetInts("ends");
    axes = c.n.GetInts("axes");
  } else {
    VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "starts"));
    VRSEG_RETURN_IF_ERROR(NeedIn(c, 2, "ends"));
    starts = Ints(c.In(1));
    ends = Ints(c.In(2));
    axes = Ints(c.In(3));
    steps = Ints(c.In(4));
  }
  if (ends.size() != starts.size()) return c.Bad("starts and ends differ in length");
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) {
    return c.Bad("starts, ends, axes and steps differ in length");
  }
  std::vector<int64_t> st(rank, 0), sp(rank, 1), odims = x.dims;
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t a = axes[i];
    if (!NormAxis(&a, rank)) return c.Bad("axis out of range");
    const int64_t d = x.dims[a], step = steps[i];
    if (step == 0) return c.Bad("step 0");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s = s < -d ? -1 : s + d;
    if (e < 0) e = e < -d ? -1 : e + d;
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      odims[a] = e > s ? (e - s + step - 1) / step : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      odims[a] = s > e ? (s - e + (-step) - 1) / (-step) : 0;
    }
    st[a] = s;
    sp[a] = step;
  }
  const std::vector<int64_t> istr = Strides(x.dims);
  const int64_t n = Numel(odims);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<int64_t> cnt(rank, 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    for (int64_t d = 0; d < rank; ++d) off += (st[d] + cnt[d] * sp[d]) * istr[d];
    idx[e] = off;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++cnt[d] < odims[d]) break;
      cnt[d] = 0;
    }
  }
  c.Out(0) = Take(x, odims, idx);
  return Status::Ok();
}

Status Split(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  const HostTensor& x = *c.In(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.n.GetInt("axis", 0);
  if (!NormAxis(&axis, rank)) return c.Bad("axis out of range");
  const int64_t len = x.dims[axis];
  const int64_t parts = static_cast<int64_t>(c.n.outputs.size());
  std::vector<int64_t> split = c.n.Has("split") ? c.n.GetInts("split") : Ints(c.In(1));
  if (split.empty()) {
    if (parts == 0) return c.Bad("no outputs");
    const int64_t each = (len + parts - 1) / parts;
    for (int64_t p = 0; p < parts; ++p) split.push_back(std::min(each, len - p * each));
  }
  int64_t total = 0;
  for (int64_t s : split) total += s;
  if (static_cast<int64_t>(split.size()) != parts || total != len) {
    return c.Bad("split " + DimsString(split) + " does not cover axis " + std::to_string(axis) +
                 " of " + DimsString(x.dims) + " with " + std::to_string(parts) + " outputs");
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dims[d];
  int64_t begin = 0;
  for (int64_t p = 0; p < parts; ++p) {
    std::vector<int64_t> odims = x.dims;
    odims[axis] = split[p];
    std::vector<int64_t> idx;
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < split[p]; ++j) {
        for (int64_t k = 0; k < inner; ++k) idx.push_back((o * len + begin + j) * inner + k);
      }
    }
    c.Out(p) = Take(x, odims, idx);
    begin += split[p];
  }
  return Status::Ok();
}

Status Pad(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  std::vector<int64_t> pads;
  double value = 0;
  if (c.n.Has("pads")) {  // opset < 11
    pads = c.n.GetInts("pads");
    value = c.n.GetFloat("value", 0.f);
  } else {
    VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "pads"));
    pads = Ints(c.In(1));
    if (c.In(2) && c.In(2)->elements() > 0) value = Scalar(c.In(2));
  }
  if (c.NumIn() > 3 && c.In(3)) return c.Unsup("the axes input (opset 18)");
  if (static_cast<int64_t>(pads.size()) != 2 * rank) return c.Bad("pads must have 2*rank entries");
  const std::string mode = c.n.GetString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return c.Unsup("mode '" + mode + "'");
  }
  std::vector<int64_t> odims(rank);
  for (int64_t d = 0; d < rank; ++d) {
    odims[d] = x.dims[d] + pads[d] + pads[d + rank];
    if (odims[d] < 0) return c.Bad("pads make a negative dimension");
    if (mode != "constant" && x.dims[d] == 0 && odims[d] > 0) {
      return c.Bad("cannot " + mode + "-pad an empty axis");
    }
    if (mode == "reflect" && (pads[d] >= x.dims[d] || pads[d + rank] >= x.dims[d]) &&
        (pads[d] > 0 || pads[d + rank] > 0)) {
      return c.Unsup("reflect padding as large as the axis");
    }
  }
  const std::vector<int64_t> istr = Strides(x.dims);
  const int64_t n = Numel(odims);
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::vector<int64_t> cnt(rank, 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t off = 0;
    bool outside = false;
    for (int64_t d = 0; d < rank; ++d) {
      int64_t s = cnt[d] - pads[d];
      const int64_t len = x.dims[d];
      if (s < 0 || s >= len) {
        if (mode == "constant") {
          outside = true;
          break;
        }
        if (mode == "edge") {
          s = std::clamp<int64_t>(s, 0, len - 1);
        } else if (len == 1) {
          s = 0;
        } else {  // reflect without repeating the edge
          const int64_t period = 2 * (len - 1);
          s = ((s % period) + period) % period;
          if (s >= len) s = period - s;
        }
      }
      off += s * istr[d];
    }
    idx[e] = outside ? -1 : off;
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++cnt[d] < odims[d]) break;
      cnt[d] = 0;
    }
  }
  c.Out(0) = Take(x, odims, idx, value);
  return Status::Ok();
}

// ---- constants and shapes -----------------------------------------------------------------------

HostTensor FromValue(const Value& v) {
  HostTensor t;
  t.type = v.type;
  t.dims = Concrete(v.shape, 1);
  if (v.type == ElemType::kFloat) {
    t.f = v.fdata;
  } else {
    t.i = v.idata;
  }
  return t;
}

Status TensorAttr(const Ctx& c, const std::string& name, HostTensor* t) {
  const auto it = c.n.attrs.find(name);
  if (it == c.n.attrs.end() || it->second.kind != Attr::kTensor) {
    return c.Bad("attribute '" + name + "' is not a tensor");
  }
  const int vi = it->second.tensor_value;
  if (vi < 0 || static_cast<size_t>(vi) >= c.g.values.size()) {
    return c.Bad("attribute '" + name + "' refers to no value");
  }
  *t = FromValue(c.g.values[vi]);
  return Status::Ok();
}

Status Constant(const Ctx& c) {
  HostTensor t;
  if (c.n.Has("value")) {
    VRSEG_RETURN_IF_ERROR(TensorAttr(c, "value", &t));
  } else if (c.n.Has("value_float")) {
    t.type = ElemType::kFloat;
    t.f = {c.n.GetFloat("value_float", 0)};
  } else if (c.n.Has("value_floats")) {
    t.type = ElemType::kFloat;
    t.f = c.n.GetFloats("value_floats");
    t.dims = {static_cast<int64_t>(t.f.size())};
  } else if (c.n.Has("value_int")) {
    t.type = ElemType::kInt64;
    t.i = {c.n.GetInt("value_int", 0)};
  } else if (c.n.Has("value_ints")) {
    t.type = ElemType::kInt64;
    t.i = c.n.GetInts("value_ints");
    t.dims = {static_cast<int64_t>(t.i.size())};
  } else {
    return c.Unsup("no supported value attribute (sparse or string constants are not supported)");
  }
  c.Out(0) = std::move(t);
  return Status::Ok();
}

Status ConstantOfShape(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  HostTensor v;
  v.type = ElemType::kFloat;
  v.f = {0.f};
  if (c.n.Has("value")) VRSEG_RETURN_IF_ERROR(TensorAttr(c, "value", &v));
  if (v.elements() != 1 && (v.f.size() + v.i.size()) != 1) {
    return c.Bad("value must hold one element");
  }
  const std::vector<int64_t> dims = Ints(c.In(0));
  for (int64_t d : dims) {
    if (d < 0) return c.Bad("negative dimension in " + DimsString(dims));
  }
  HostTensor o;
  o.type = v.type;
  o.dims = dims;
  const size_t n = static_cast<size_t>(Numel(dims));
  if (v.type == ElemType::kFloat) {
    o.f.assign(n, v.f[0]);
  } else {
    o.i.assign(n, v.i[0]);
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

Status ShapeOp(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const std::vector<int64_t>& d = c.In(0)->dims;
  const int64_t rank = static_cast<int64_t>(d.size());
  int64_t start = c.n.GetInt("start", 0), end = c.n.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  HostTensor o;
  o.type = ElemType::kInt64;
  if (end > start) o.i.assign(d.begin() + start, d.begin() + end);
  o.dims = {static_cast<int64_t>(o.i.size())};
  c.Out(0) = std::move(o);
  return Status::Ok();
}

Status Range(const Ctx& c) {
  for (size_t i = 0; i < 3; ++i) VRSEG_RETURN_IF_ERROR(NeedIn(c, i, "start/limit/delta"));
  const HostTensor& s = *c.In(0);
  HostTensor o;
  o.type = s.type;
  if (s.type == ElemType::kFloat) {
    const float start = s.f.at(0), limit = c.In(1)->f.at(0), delta = c.In(2)->f.at(0);
    if (delta == 0) return c.Bad("delta 0");
    const int64_t n = std::max<int64_t>(
        0, static_cast<int64_t>(std::ceil((static_cast<double>(limit) - start) / delta)));
    for (int64_t k = 0; k < n; ++k) o.f.push_back(start + static_cast<float>(k) * delta);
    o.dims = {n};
  } else if (s.type == ElemType::kInt64) {
    const int64_t start = s.i.at(0), limit = c.In(1)->i.at(0), delta = c.In(2)->i.at(0);
    if (delta == 0) return c.Bad("delta 0");
    const int64_t n = std::max<int64_t>(
        0, static_cast<int64_t>(std::ceil(static_cast<double>(limit - start) / delta)));
    for (int64_t k = 0; k < n; ++k) o.i.push_back(start + k * delta);
    o.dims = {n};
  } else {
    return c.Unsup("Range of bool");
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

// ---- normalisation and reductions ---------------------------------------------------------------

Status Softmax(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "input"));
  const HostTensor& x = *c.In(0);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "input"));
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  const bool old = c.Opset() < 13;
  int64_t axis = c.n.GetInt("axis", old ? 1 : -1);
  if (!NormAxis(&axis, std::max<int64_t>(rank, 1))) return c.Bad("axis out of range");
  int64_t outer = 1, len = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) {
      outer *= x.dims[d];
    } else if (d == axis || old) {
      len *= x.dims[d];
    } else {
      inner *= x.dims[d];
    }
  }
  const bool log = c.n.op == "LogSoftmax";
  HostTensor& y = c.Out(0) = x;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k = 0; k < inner; ++k) {
      const int64_t base = o * len * inner + k;
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < len; ++j) mx = std::max<double>(mx, x.f[base + j * inner]);
      double sum = 0;
      for (int64_t j = 0; j < len; ++j) sum += std::exp(x.f[base + j * inner] - mx);
      for (int64_t j = 0; j < len; ++j) {
        const double v = x.f[base + j * inner] - mx;
        y.f[base + j * inner] = static_cast<float>(log ? v - std::log(sum) : std::exp(v) / sum);
      }
    }
  }
  return Status::Ok();
}

Status ArgMax(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  int64_t axis = c.n.GetInt("axis", 0);
  if (!NormAxis(&axis, rank)) return c.Bad("axis out of range");
  const bool keep = c.n.GetInt("keepdims", 1) != 0;
  const bool last = c.n.GetInt("select_last_index", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[d];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= x.dims[d];
  const int64_t len = x.dims[axis];
  if (len == 0) return c.Bad("ArgMax over an empty axis");
  std::vector<int64_t> odims = x.dims;
  if (keep) {
    odims[axis] = 1;
  } else {
    odims.erase(odims.begin() + axis);
  }
  HostTensor o = IntTensor(ElemType::kInt64, odims);
  auto at = [&](int64_t e) {
    return x.type == ElemType::kFloat ? static_cast<double>(x.f[e]) : static_cast<double>(x.i[e]);
  };
  for (int64_t b = 0; b < outer; ++b) {
    for (int64_t k = 0; k < inner; ++k) {
      int64_t best = 0;
      double bv = at(b * len * inner + k);
      for (int64_t j = 1; j < len; ++j) {
        const double v = at((b * len + j) * inner + k);
        if (v > bv || (last && v == bv)) {
          bv = v;
          best = j;
        }
      }
      o.i[b * inner + k] = best;
    }
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

Status ReduceMean(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "data"));
  const HostTensor& x = *c.In(0);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "data"));
  const int64_t rank = static_cast<int64_t>(x.dims.size());
  bool given = false;
  std::vector<int64_t> axes = AxesOf(c, 1, &given);
  const bool keep = c.n.GetInt("keepdims", 1) != 0;
  std::vector<char> red(rank, 0);
  if (axes.empty()) {
    if (c.n.GetInt("noop_with_empty_axes", 0) != 0) {
      c.Out(0) = x;
      return Status::Ok();
    }
    std::fill(red.begin(), red.end(), 1);
  }
  for (int64_t a : axes) {
    if (!NormAxis(&a, rank)) return c.Bad("axis out of range");
    red[a] = 1;
  }
  std::vector<int64_t> kdims = x.dims, odims;
  int64_t count = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (red[d]) {
      count *= x.dims[d];
      kdims[d] = 1;
      if (keep) odims.push_back(1);
    } else {
      odims.push_back(x.dims[d]);
    }
  }
  // Sum every input element into its reduced position (kdims), in double.
  std::vector<double> acc(static_cast<size_t>(Numel(kdims)), 0.0);
  const std::vector<int64_t> kstr = Strides(kdims);
  std::vector<int64_t> cnt(rank, 0);
  for (int64_t e = 0; e < x.elements(); ++e) {
    int64_t off = 0;
    for (int64_t d = 0; d < rank; ++d) off += red[d] ? 0 : cnt[d] * kstr[d];
    acc[off] += x.f[e];
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++cnt[d] < x.dims[d]) break;
      cnt[d] = 0;
    }
  }
  HostTensor o = FloatTensor(odims);
  for (size_t e = 0; e < acc.size(); ++e) {
    o.f[e] = count ? static_cast<float>(acc[e] / static_cast<double>(count)) : NAN;
  }
  c.Out(0) = std::move(o);
  return Status::Ok();
}

Status BatchNorm(const Ctx& c) {
  for (size_t i = 0; i < 5; ++i) VRSEG_RETURN_IF_ERROR(NeedIn(c, i, "X/scale/B/mean/var"));
  if (c.n.GetInt("training_mode", 0) != 0 ||
      (c.Opset() < 9 && c.n.GetInt("is_test", 0) == 0 && c.n.outputs.size() > 1)) {
    return c.Unsup("training mode");
  }
  const HostTensor& x = *c.In(0);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  if (x.dims.size() < 2) return c.Bad("X needs a channel axis");
  const int64_t n = x.dims[0], ch = x.dims[1], inner = x.elements() / std::max<int64_t>(1, n * ch);
  for (size_t i = 1; i < 5; ++i) {
    if (c.In(i)->elements() != ch) return c.Bad("parameter " + std::to_string(i) + " is not [C]");
  }
  const double eps = c.n.GetFloat("epsilon", 1e-5f);
  HostTensor& y = c.Out(0) = x;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < ch; ++k) {
      const double sc = c.In(1)->f[k], bi = c.In(2)->f[k], mean = c.In(3)->f[k],
                   var = c.In(4)->f[k];
      const double inv = 1.0 / std::sqrt(var + eps);
      float* p = y.f.data() + (b * ch + k) * inner;
      for (int64_t e = 0; e < inner; ++e) {
        p[e] = static_cast<float>((p[e] - mean) * inv * sc + bi);
      }
    }
  }
  return Status::Ok();
}

// ---- matrix products ----------------------------------------------------------------------------

Status MatMul(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "A"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "B"));
  const HostTensor &a = *c.In(0), &b = *c.In(1);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &a, "A"));
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &b, "B"));
  if (a.dims.empty() || b.dims.empty()) return c.Bad("scalar operands");
  std::vector<int64_t> ad = a.dims, bd = b.dims;
  const bool a1 = ad.size() == 1, b1 = bd.size() == 1;
  if (a1) ad.insert(ad.begin(), 1);
  if (b1) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  if (bd[bd.size() - 2] != k) {
    return c.Bad("inner dimensions differ: " + DimsString(a.dims) + " x " + DimsString(b.dims));
  }
  const std::vector<int64_t> abatch(ad.begin(), ad.end() - 2), bbatch(bd.begin(), bd.end() - 2);
  std::vector<int64_t> obatch;
  if (!BroadcastDims(abatch, bbatch, &obatch)) return c.Bad("batch dimensions do not broadcast");
  const std::vector<int64_t> ia = BroadcastIndex(abatch, obatch),
                             ib = BroadcastIndex(bbatch, obatch);
  std::vector<int64_t> odims = obatch;
  if (!a1) odims.push_back(m);
  if (!b1) odims.push_back(n);
  HostTensor y = FloatTensor(odims);
  for (size_t p = 0; p < ia.size(); ++p) {
    const float* ap = a.f.data() + ia[p] * m * k;
    const float* bp = b.f.data() + ib[p] * k * n;
    float* yp = y.f.data() + p * m * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t q = 0; q < k; ++q) acc += static_cast<double>(ap[i * k + q]) * bp[q * n + j];
        yp[i * n + j] = static_cast<float>(acc);
      }
    }
  }
  VRSEG_RETURN_IF_ERROR(ApplyEpilogue(c, &y));
  c.Out(0) = std::move(y);
  return Status::Ok();
}

Status Gemm(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "A"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "B"));
  const HostTensor &a = *c.In(0), &b = *c.In(1);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &a, "A"));
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &b, "B"));
  if (a.dims.size() != 2 || b.dims.size() != 2) return c.Bad("A and B must be 2-D");
  const bool ta = c.n.GetInt("transA", 0) != 0, tb = c.n.GetInt("transB", 0) != 0;
  const double alpha = c.n.GetFloat("alpha", 1.f), beta = c.n.GetFloat("beta", 1.f);
  const int64_t m = ta ? a.dims[1] : a.dims[0], k = ta ? a.dims[0] : a.dims[1];
  const int64_t kb = tb ? b.dims[1] : b.dims[0], n = tb ? b.dims[0] : b.dims[1];
  if (k != kb) return c.Bad("inner dimensions differ");
  const HostTensor* cm = c.In(2);
  std::vector<int64_t> ic;
  if (cm) {
    VRSEG_RETURN_IF_ERROR(NeedFloat(c, cm, "C"));
    std::vector<int64_t> bd;
    if (!BroadcastDims(cm->dims, {m, n}, &bd) || bd != std::vector<int64_t>{m, n}) {
      return c.Bad("C " + DimsString(cm->dims) + " does not broadcast to [M,N]");
    }
    ic = BroadcastIndex(cm->dims, {m, n});
  }
  HostTensor y = FloatTensor({m, n});
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t q = 0; q < k; ++q) {
        const double av = ta ? a.f[q * a.dims[1] + i] : a.f[i * a.dims[1] + q];
        const double bv = tb ? b.f[j * b.dims[1] + q] : b.f[q * b.dims[1] + j];
        acc += av * bv;
      }
      acc *= alpha;
      if (cm) acc += beta * cm->f[ic[i * n + j]];
      y.f[i * n + j] = static_cast<float>(acc);
    }
  }
  VRSEG_RETURN_IF_ERROR(ApplyEpilogue(c, &y));
  c.Out(0) = std::move(y);
  return Status::Ok();
}

// ---- spatial: geometry --------------------------------------------------------------------------

struct Axis {
  int64_t in = 1, k = 1, stride = 1, dil = 1, pad_b = 0, pad_e = 0, out = 1;
};

// Output size and pads of one spatial axis of a conv or pool (auto_pad, explicit pads, ceil).
Status ForwardAxis(const Ctx& c, const std::string& auto_pad, bool ceil_mode, Axis* a) {
  const int64_t keff = (a->k - 1) * a->dil + 1;
  if (a->stride <= 0 || a->dil <= 0 || a->k <= 0)
    return c.Bad("non-positive kernel/stride/dilation");
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    a->out = (a->in + a->stride - 1) / a->stride;
    const int64_t total = std::max<int64_t>(0, (a->out - 1) * a->stride + keff - a->in);
    const int64_t small = total / 2;
    a->pad_b = auto_pad == "SAME_UPPER" ? small : total - small;
    a->pad_e = total - a->pad_b;
    return Status::Ok();
  }
  if (auto_pad == "VALID")
    a->pad_b = a->pad_e = 0;
  else if (!auto_pad.empty() && auto_pad != "NOTSET")
    return c.Bad("auto_pad '" + auto_pad + "'");
  const int64_t span = a->in + a->pad_b + a->pad_e - keff;
  if (span < 0) return c.Bad("the kernel is larger than the padded input");
  a->out = (ceil_mode ? (span + a->stride - 1) / a->stride : span / a->stride) + 1;
  // With ceil_mode the last window must start inside the input or its leading pad.
  if (ceil_mode && (a->out - 1) * a->stride >= a->in + a->pad_b) --a->out;
  return Status::Ok();
}

// Reads kernel/strides/dilations/pads for `nsp` spatial dims and computes the axes.
Status SpatialAxes(const Ctx& c, const std::vector<int64_t>& in, const std::vector<int64_t>& kernel,
                   bool ceil_mode, std::vector<Axis>* axes) {
  const size_t nsp = in.size();
  const std::vector<int64_t> strides = c.n.GetInts("strides", std::vector<int64_t>(nsp, 1));
  const std::vector<int64_t> dil = c.n.GetInts("dilations", std::vector<int64_t>(nsp, 1));
  const std::vector<int64_t> pads = c.n.GetInts("pads", std::vector<int64_t>(2 * nsp, 0));
  if (kernel.size() != nsp || strides.size() != nsp || dil.size() != nsp ||
      pads.size() != 2 * nsp) {
    return c.Bad("kernel_shape/strides/dilations/pads do not match " + std::to_string(nsp) +
                 " spatial dims");
  }
  const std::string auto_pad = c.n.GetString("auto_pad", "NOTSET");
  axes->assign(nsp, Axis{});
  for (size_t i = 0; i < nsp; ++i) {
    Axis& a = (*axes)[i];
    a.in = in[i];
    a.k = kernel[i];
    a.stride = strides[i];
    a.dil = dil[i];
    a.pad_b = pads[i];
    a.pad_e = pads[i + nsp];
    VRSEG_RETURN_IF_ERROR(ForwardAxis(c, auto_pad, ceil_mode, &a));
  }
  return Status::Ok();
}

// Pads 1-D and 2-D spatial axes out to three (D, H, W), leading axes of size 1.
std::vector<Axis> To3(std::vector<Axis> a) {
  while (a.size() < 3) a.insert(a.begin(), Axis{});
  return a;
}

// ---- pools --------------------------------------------------------------------------------------

Status Pool(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "X"));
  const HostTensor& x = *c.In(0);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  const size_t rank = x.dims.size();
  if (rank < 3 || rank > 5) return c.Unsup("pooling over " + std::to_string(rank) + "-D input");
  const bool is_max = c.n.op == "MaxPool";
  const std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
  std::vector<Axis> ax;
  VRSEG_RETURN_IF_ERROR(
      SpatialAxes(c, in, c.n.GetInts("kernel_shape"), c.n.GetInt("ceil_mode", 0) != 0, &ax));
  if (!is_max && c.n.Has("dilations")) {
    for (const Axis& a : ax) {
      if (a.dil != 1) return c.Unsup("AveragePool dilations");
    }
  }
  const bool include_pad = c.n.GetInt("count_include_pad", 0) != 0;
  const int64_t storage_order = c.n.GetInt("storage_order", 0);
  std::vector<int64_t> odims = {x.dims[0], x.dims[1]};
  for (const Axis& a : ax) odims.push_back(a.out);
  const std::vector<Axis> a3 = To3(ax);
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t isz = a3[0].in * a3[1].in * a3[2].in;
  HostTensor y = FloatTensor(odims);
  HostTensor ind = IntTensor(ElemType::kInt64, odims);
  int64_t oe = 0;
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x.f.data() + p * isz;
    for (int64_t od = 0; od < a3[0].out; ++od) {
      for (int64_t oh = 0; oh < a3[1].out; ++oh) {
        for (int64_t ow = 0; ow < a3[2].out; ++ow, ++oe) {
          const int64_t o[3] = {od, oh, ow};
          int64_t start[3];
          int64_t padded_count = 1;
          for (int i = 0; i < 3; ++i) {
            start[i] = o[i] * a3[i].stride - a3[i].pad_b;
            // Window positions inside [-pad_b, in + pad_e) (count_include_pad's divisor).
            const int64_t end =
                std::min(start[i] + (a3[i].k - 1) * a3[i].dil + 1, a3[i].in + a3[i].pad_e);
            int64_t cnt = 0;
            for (int64_t q = start[i]; q < end; q += a3[i].dil) ++cnt;
            padded_count *= cnt;
          }
          double acc = 0, best = -std::numeric_limits<double>::infinity();
          int64_t count = 0, best_at = -1;
          for (int64_t kd = 0; kd < a3[0].k; ++kd) {
            const int64_t id = start[0] + kd * a3[0].dil;
            if (id < 0 || id >= a3[0].in) continue;
            for (int64_t kh = 0; kh < a3[1].k; ++kh) {
              const int64_t ih = start[1] + kh * a3[1].dil;
              if (ih < 0 || ih >= a3[1].in) continue;
              for (int64_t kw = 0; kw < a3[2].k; ++kw) {
                const int64_t iw = start[2] + kw * a3[2].dil;
                if (iw < 0 || iw >= a3[2].in) continue;
                const int64_t at = (id * a3[1].in + ih) * a3[2].in + iw;
                const double v = xp[at];
                acc += v;
                ++count;
                if (v > best) {
                  best = v;
                  best_at = storage_order == 0
                                ? at
                                : (iw * a3[1].in + ih) * a3[0].in + id;  // column-major
                }
              }
            }
          }
          if (is_max) {
            y.f[oe] = static_cast<float>(best);
            ind.i[oe] = best_at < 0 ? -1 : p * isz + best_at;
          } else {
            const int64_t div = include_pad ? padded_count : count;
            y.f[oe] = div ? static_cast<float>(acc / static_cast<double>(div)) : 0.f;
          }
        }
      }
    }
  }
  c.Out(0) = std::move(y);
  if (is_max && c.WantsOut(1)) c.Out(1) = std::move(ind);
  return Status::Ok();
}

// The engine's squeeze-excite node (ir.h): mean over H and W, a 1x1 conv with act1, a 1x1 conv,
// the node's epilogue. In double, as the reference's convs.
Status SqueezeExcite(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "X"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "W1"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 3, "W2"));
  const HostTensor& x = *c.In(0);
  const HostTensor& w1 = *c.In(1);
  const HostTensor& w2 = *c.In(3);
  const HostTensor* b1 = c.In(2);
  const HostTensor* b2 = c.In(4);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  if (x.dims.size() != 4 || w1.dims.size() != 4 || w2.dims.size() != 4) {
    return c.Bad("X, W1 and W2 must be rank 4");
  }
  const int64_t n = x.dims[0], ch = x.dims[1], hw = x.dims[2] * x.dims[3];
  const int64_t c1 = w1.dims[0], c2 = w2.dims[0];
  if (w1.dims[1] != ch || w2.dims[1] != c1 || w1.dims[2] * w1.dims[3] != 1 ||
      w2.dims[2] * w2.dims[3] != 1 || (b1 && b1->elements() != c1) ||
      (b2 && b2->elements() != c2) || hw == 0) {
    return c.Bad("X " + DimsString(x.dims) + ", W1 " + DimsString(w1.dims) + ", W2 " +
                 DimsString(w2.dims) + " do not chain");
  }
  const Act act1 = static_cast<Act>(c.n.GetInt("act1", 0));
  const float a1 = c.n.GetFloat("act1_alpha", 0), be1 = c.n.GetFloat("act1_beta", 0);
  HostTensor y = FloatTensor({n, c2, 1, 1});
  std::vector<double> mean(ch);
  std::vector<float> hidden(c1);
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < ch; ++k) {
      double acc = 0;
      for (int64_t e = 0; e < hw; ++e) acc += x.f[(b * ch + k) * hw + e];
      mean[k] = acc / static_cast<double>(hw);
    }
    for (int64_t j = 0; j < c1; ++j) {
      double acc = b1 ? b1->f[j] : 0.0;
      for (int64_t k = 0; k < ch; ++k) acc += static_cast<double>(w1.f[j * ch + k]) * mean[k];
      hidden[j] = ApplyAct(act1, static_cast<float>(acc), a1, be1);
    }
    for (int64_t j = 0; j < c2; ++j) {
      double acc = b2 ? b2->f[j] : 0.0;
      for (int64_t k = 0; k < c1; ++k) acc += static_cast<double>(w2.f[j * c1 + k]) * hidden[k];
      y.f[b * c2 + j] = static_cast<float>(acc);
    }
  }
  VRSEG_RETURN_IF_ERROR(ApplyEpilogue(c, &y));
  c.Out(0) = std::move(y);
  return Status::Ok();
}

Status GlobalAveragePool(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "X"));
  const HostTensor& x = *c.In(0);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  if (x.dims.size() < 3) return c.Bad("X needs spatial axes");
  std::vector<int64_t> odims = {x.dims[0], x.dims[1]};
  odims.resize(x.dims.size(), 1);
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t sz = planes ? x.elements() / planes : 0;
  HostTensor y = FloatTensor(odims);
  for (int64_t p = 0; p < planes; ++p) {
    double acc = 0;
    for (int64_t e = 0; e < sz; ++e) acc += x.f[p * sz + e];
    y.f[p] = static_cast<float>(acc / static_cast<double>(sz));
  }
  c.Out(0) = std::move(y);
  return Status::Ok();
}

// ---- convolutions -------------------------------------------------------------------------------

// [N,C,H,W] → [N,H,W,C]
std::vector<float> ToNHWC(const std::vector<float>& v, int64_t n, int64_t ch, int64_t hw) {
  std::vector<float> o(v.size());
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < ch; ++k) {
      for (int64_t p = 0; p < hw; ++p) o[(b * hw + p) * ch + k] = v[(b * ch + k) * hw + p];
    }
  }
  return o;
}

std::vector<float> ToNCHW(const std::vector<float>& v, int64_t n, int64_t ch, int64_t hw) {
  std::vector<float> o(v.size());
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t k = 0; k < ch; ++k) {
      for (int64_t p = 0; p < hw; ++p) o[(b * ch + k) * hw + p] = v[(b * hw + p) * ch + k];
    }
  }
  return o;
}

Status Conv(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "X"));
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "W"));
  const HostTensor &x = *c.In(0), &w = *c.In(1);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &w, "W"));
  const bool transposed = c.n.op == "ConvTranspose";
  const size_t rank = x.dims.size();
  if (rank != 3 && rank != 4) {
    return c.Unsup(std::to_string(rank > 2 ? rank - 2 : 0) +
                   "-D convolution (1-D and 2-D are supported)");
  }
  if (w.dims.size() != rank) return c.Bad("W " + DimsString(w.dims) + " does not match X");
  const int64_t groups = c.n.GetInt("group", 1);
  const int64_t nb = x.dims[0], ch = x.dims[1];
  if (groups <= 0 || ch % groups != 0) return c.Bad("group does not divide the input channels");
  const std::vector<int64_t> in(x.dims.begin() + 2, x.dims.end());
  std::vector<int64_t> kernel(w.dims.begin() + 2, w.dims.end());
  if (c.n.Has("kernel_shape") && c.n.GetInts("kernel_shape") != kernel) {
    return c.Bad("kernel_shape does not match W");
  }
  const int64_t k_out = transposed ? w.dims[1] * groups : w.dims[0];
  if (transposed ? w.dims[0] != ch : w.dims[1] * groups != ch) {
    return c.Bad("W " + DimsString(w.dims) + " does not match " + std::to_string(ch) +
                 " input channels in " + std::to_string(groups) + " groups");
  }
  if (!transposed && k_out % groups != 0) return c.Bad("group does not divide the output channels");
  const HostTensor* bias = c.In(2);
  if (bias && bias->elements() != k_out) return c.Bad("B is not [M]");

  std::vector<Axis> ax;
  const size_t nsp = in.size();
  if (!transposed) {
    VRSEG_RETURN_IF_ERROR(SpatialAxes(c, in, kernel, false, &ax));
  } else {
    const std::vector<int64_t> strides = c.n.GetInts("strides", std::vector<int64_t>(nsp, 1));
    const std::vector<int64_t> dil = c.n.GetInts("dilations", std::vector<int64_t>(nsp, 1));
    const std::vector<int64_t> pads = c.n.GetInts("pads", std::vector<int64_t>(2 * nsp, 0));
    const std::vector<int64_t> opad = c.n.GetInts("output_padding", std::vector<int64_t>(nsp, 0));
    const std::vector<int64_t> oshape = c.n.GetInts("output_shape");
    const std::string auto_pad = c.n.GetString("auto_pad", "NOTSET");
    if (strides.size() != nsp || dil.size() != nsp || pads.size() != 2 * nsp ||
        opad.size() != nsp || (!oshape.empty() && oshape.size() != nsp)) {
      return c.Bad("strides/dilations/pads/output_padding/output_shape do not match the input");
    }
    ax.assign(nsp, Axis{});
    for (size_t i = 0; i < nsp; ++i) {
      Axis& a = ax[i];
      a.in = in[i];
      a.k = kernel[i];
      a.stride = strides[i];
      a.dil = dil[i];
      const int64_t keff = (a.k - 1) * a.dil + 1;
      const int64_t full = (a.in - 1) * a.stride + keff + opad[i];  // before any padding
      int64_t want = -1;
      if (!oshape.empty()) {
        want = oshape[i];
      } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
        want = a.in * a.stride;
      }
      if (want >= 0) {
        const int64_t total = std::max<int64_t>(0, full - want);
        const int64_t small = total / 2;
        a.pad_b = auto_pad == "SAME_UPPER" ? small : total - small;
        a.pad_e = total - a.pad_b;
        a.out = want;
      } else {
        if (auto_pad != "NOTSET" && auto_pad != "VALID" && !auto_pad.empty()) {
          return c.Bad("auto_pad '" + auto_pad + "'");
        }
        a.pad_b = auto_pad == "VALID" ? 0 : pads[i];
        a.pad_e = auto_pad == "VALID" ? 0 : pads[i + nsp];
        a.out = full - a.pad_b - a.pad_e;
      }
      if (a.out <= 0) return c.Bad("non-positive output size");
    }
  }
  // 1-D as 2-D with H = 1.
  if (nsp == 1) ax.insert(ax.begin(), Axis{});
  ConvShape cs;
  cs.n = nb;
  cs.h = ax[0].in;
  cs.w = ax[1].in;
  cs.c = ch;
  cs.k = k_out;
  cs.r = ax[0].k;
  cs.s = ax[1].k;
  cs.groups = groups;
  cs.stride_h = ax[0].stride;
  cs.stride_w = ax[1].stride;
  cs.pad_top = ax[0].pad_b;
  cs.pad_bottom = ax[0].pad_e;
  cs.pad_left = ax[1].pad_b;
  cs.pad_right = ax[1].pad_e;
  cs.dil_h = ax[0].dil;
  cs.dil_w = ax[1].dil;
  cs.transposed = transposed;
  if (transposed) {  // whatever the size rule left over is output padding at the end
    cs.out_pad_h = 0;
    cs.out_pad_w = 0;
    cs.out_pad_h = ax[0].out - cs.OutH();
    cs.out_pad_w = ax[1].out - cs.OutW();
  }
  const int64_t oh = cs.OutH(), ow = cs.OutW();
  if (oh != ax[0].out || ow != ax[1].out || oh <= 0 || ow <= 0) {
    return c.Bad("inconsistent output size");
  }
  // Weights to [K][R][S][C/g] (or [C][R][S][K/g] transposed): both are [W0][W1][R][S] →
  // [W0][R][S][W1].
  const int64_t w0 = w.dims[0], w1 = w.dims[1], rs = cs.r * cs.s;
  std::vector<float> wt(w.f.size());
  for (int64_t i = 0; i < w0; ++i) {
    for (int64_t j = 0; j < w1; ++j) {
      for (int64_t p = 0; p < rs; ++p) wt[(i * rs + p) * w1 + j] = w.f[(i * w1 + j) * rs + p];
    }
  }
  const std::vector<float> xt = ToNHWC(x.f, nb, ch, cs.h * cs.w);
  std::vector<float> res;
  const HostTensor* residual = c.Residual();
  if (c.n.epi.residual >= 0) {
    if (!residual || residual->type != ElemType::kFloat ||
        residual->elements() != nb * k_out * oh * ow) {
      return c.Bad("the fused residual does not match the output");
    }
    res = ToNHWC(residual->f, nb, k_out, oh * ow);
  }
  std::vector<float> yt(static_cast<size_t>(nb * oh * ow * k_out));
  RefConvNHWC(cs, xt.data(), wt.data(), bias ? bias->f.data() : nullptr,
              res.empty() ? nullptr : res.data(), yt.data(), c.n.epi);
  std::vector<int64_t> odims = {nb, k_out};
  for (size_t i = ax.size() - nsp; i < ax.size(); ++i) odims.push_back(ax[i].out);
  HostTensor y;
  y.type = ElemType::kFloat;
  y.dims = odims;
  y.f = ToNCHW(yt, nb, k_out, oh * ow);
  c.Out(0) = std::move(y);
  return Status::Ok();
}

// ---- resize -------------------------------------------------------------------------------------

struct ResizeMode {
  std::string mode = "nearest";  // nearest | linear
  std::string coord = "half_pixel";
  std::string nearest = "round_prefer_floor";
  double extrapolation = 0;
};

// Resizes one axis of a float tensor (separable: nearest and linear both are).
HostTensor ResizeAxis(const HostTensor& x, size_t axis, int64_t out, double scale, double roi_b,
                      double roi_e, const ResizeMode& m) {
  const int64_t in = x.dims[axis];
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < axis; ++d) outer *= x.dims[d];
  for (size_t d = axis + 1; d < x.dims.size(); ++d) inner *= x.dims[d];
  std::vector<int64_t> odims = x.dims;
  odims[axis] = out;
  HostTensor y = FloatTensor(odims);
  // ONNX measures the resized length as in * scale, unrounded, when scales are given (with sizes,
  // scale = out / in makes it the output size).
  const double lr = static_cast<double>(in) * scale;
  for (int64_t o = 0; o < out; ++o) {
    double xo;  // the output coordinate in input coordinates
    if (m.coord == "half_pixel") {
      xo = (o + 0.5) / scale - 0.5;
    } else if (m.coord == "pytorch_half_pixel") {
      xo = lr > 1 ? (o + 0.5) / scale - 0.5 : 0.0;
    } else if (m.coord == "align_corners") {
      xo = lr > 1 ? o * static_cast<double>(in - 1) / (lr - 1) : 0.0;
    } else if (m.coord == "asymmetric") {
      xo = o / scale;
    } else if (m.coord == "tf_half_pixel_for_nn") {
      xo = (o + 0.5) / scale;
    } else {  // tf_crop_and_resize
      xo = lr > 1 ? roi_b * (in - 1) + o * (roi_e - roi_b) * (in - 1) / (lr - 1)
                  : 0.5 * (roi_b + roi_e) * (in - 1);
    }
    const bool outside = m.coord == "tf_crop_and_resize" && (xo < 0 || xo > in - 1);
    int64_t i0 = 0, i1 = 0;
    double w1 = 0;
    if (m.mode == "nearest") {
      double r;
      const double fl = std::floor(xo);
      if (m.nearest == "simple") {
        r = scale < 1 ? std::ceil(xo) : fl;
      } else if (m.nearest == "floor") {
        r = fl;
      } else if (m.nearest == "ceil") {
        r = std::ceil(xo);
      } else if (xo - fl == 0.5) {
        r = m.nearest == "round_prefer_ceil" ? fl + 1 : fl;
      } else {
        r = std::round(xo);
      }
      i0 = i1 = std::clamp<int64_t>(static_cast<int64_t>(r), 0, in - 1);
    } else {
      const double xc = std::clamp(xo, 0.0, static_cast<double>(in - 1));
      i0 = static_cast<int64_t>(std::floor(xc));
      i1 = std::min(i0 + 1, in - 1);
      w1 = xc - static_cast<double>(i0);
    }
    for (int64_t b = 0; b < outer; ++b) {
      const float* xp = x.f.data() + b * in * inner;
      float* yp = y.f.data() + (b * out + o) * inner;
      for (int64_t k = 0; k < inner; ++k) {
        if (outside) {
          yp[k] = static_cast<float>(m.extrapolation);
        } else {
          yp[k] = static_cast<float>(xp[i0 * inner + k] * (1.0 - w1) + xp[i1 * inner + k] * w1);
        }
      }
    }
  }
  return y;
}

Status Resize(const Ctx& c) {
  VRSEG_RETURN_IF_ERROR(NeedIn(c, 0, "X"));
  const HostTensor& x = *c.In(0);
  VRSEG_RETURN_IF_ERROR(NeedFloat(c, &x, "X"));
  const size_t rank = x.dims.size();
  ResizeMode m;
  m.mode = c.n.GetString("mode", "nearest");
  if (m.mode == "bilinear") m.mode = "linear";  // Upsample-7 spelling
  if (m.mode == "cubic") return c.Unsup("cubic interpolation");
  if (m.mode != "nearest" && m.mode != "linear") return c.Bad("mode '" + m.mode + "'");
  std::vector<double> scales;
  std::vector<int64_t> sizes;
  std::vector<double> roi;
  const bool upsample = c.n.op == "Upsample";
  const bool old = upsample || c.Opset() < 11 || c.NumIn() == 2;
  if (old) {
    // Upsample / Resize-10: asymmetric coordinates; nearest rounds down when upsampling and up
    // when downsampling (ONNX's Resize-10 downsample example: scale 0.6 picks columns 0 and 2).
    m.coord = "asymmetric";
    m.nearest = "simple";
    if (c.n.Has("scales")) {
      for (float f : c.n.GetFloats("scales")) scales.push_back(f);
    } else {
      VRSEG_RETURN_IF_ERROR(NeedIn(c, 1, "scales"));
      for (float f : c.In(1)->f) scales.push_back(f);
    }
  } else {
    m.coord = c.n.GetString("coordinate_transformation_mode", "half_pixel");
    m.nearest = c.n.GetString("nearest_mode", "round_prefer_floor");
    m.extrapolation = c.n.GetFloat("extrapolation_value", 0.f);
    if (c.In(1) && c.In(1)->type == ElemType::kFloat) {
      for (float f : c.In(1)->f) roi.push_back(f);
    }
    if (c.In(2) && c.In(2)->elements() > 0) {
      for (float f : c.In(2)->f) scales.push_back(f);
    }
    if (c.In(3) && c.In(3)->elements() > 0) sizes = Ints(c.In(3));
    if (c.n.Has("antialias") && c.n.GetInt("antialias", 0) != 0) return c.Unsup("antialias");
    if (c.n.Has("axes")) return c.Unsup("the axes attribute (opset 18)");
  }
  static const char* kCoords[] = {"half_pixel", "pytorch_half_pixel",   "align_corners",
                                  "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  if (std::find(std::begin(kCoords), std::end(kCoords), m.coord) == std::end(kCoords)) {
    return c.Bad("coordinate_transformation_mode '" + m.coord + "'");
  }
  if (m.nearest != "round_prefer_floor" && m.nearest != "round_prefer_ceil" &&
      m.nearest != "floor" && m.nearest != "ceil" && m.nearest != "simple") {
    return c.Bad("nearest_mode '" + m.nearest + "'");
  }
  std::vector<int64_t> odims(rank);
  if (!sizes.empty()) {
    if (sizes.size() != rank) return c.Bad("sizes does not match the rank");
    odims = sizes;
    scales.resize(rank);
    for (size_t d = 0; d < rank; ++d) {
      scales[d] = static_cast<double>(sizes[d]) / static_cast<double>(x.dims[d]);
    }
  } else {
    if (scales.size() != rank) return c.Bad("scales does not match the rank");
    for (size_t d = 0; d < rank; ++d) {
      if (scales[d] <= 0) return c.Bad("non-positive scale");
      odims[d] = static_cast<int64_t>(std::floor(static_cast<double>(x.dims[d]) * scales[d]));
    }
  }
  const bool crop = m.coord == "tf_crop_and_resize";
  if (crop && roi.size() != 2 * rank) return c.Bad("tf_crop_and_resize needs roi of 2*rank");
  HostTensor cur = x;
  for (size_t d = 0; d < rank; ++d) {
    if (!crop && odims[d] == x.dims[d] && scales[d] == 1.0) continue;
    if (x.dims[d] == 0) return c.Bad("resize of an empty axis");
    cur = ResizeAxis(cur, d, odims[d], scales[d], crop ? roi[d] : 0, crop ? roi[d + rank] : 1, m);
  }
  c.Out(0) = std::move(cur);
  return Status::Ok();
}

using OpFn = Status (*)(const Ctx&);

const std::map<std::string, OpFn>& OpTable() {
  static const std::map<std::string, OpFn> kTable = {
      {"Conv", Conv},
      {"ConvTranspose", Conv},
      {"BatchNormalization", BatchNorm},
      {"Relu", Unary},
      {"Clip", Clip},
      {"HardSwish", Unary},
      {"HardSigmoid", Unary},
      {"Sigmoid", Unary},
      {"Tanh", Unary},
      {"LeakyRelu", Unary},
      {"Add", Binary},
      {"Sub", Binary},
      {"Mul", Binary},
      {"Div", Binary},
      {"Pow", Binary},
      {"Sqrt", Unary},
      {"Exp", Unary},
      {"Neg", Unary},
      {"Reciprocal", Unary},
      {"Max", Variadic},
      {"Min", Variadic},
      {"Concat", Concat},
      {"Resize", Resize},
      {"Upsample", Resize},
      {"AveragePool", Pool},
      {"GlobalAveragePool", GlobalAveragePool},
      {"MaxPool", Pool},
      {"ReduceMean", ReduceMean},
      {"MatMul", MatMul},
      {"Gemm", Gemm},
      {"Reshape", Reshape},
      {"Flatten", Flatten},
      {"Transpose", Transpose},
      {"Slice", Slice},
      {"Split", Split},
      {"Pad", Pad},
      {"Softmax", Softmax},
      {"LogSoftmax", Softmax},
      {"ArgMax", ArgMax},
      {"Identity", Copy},
      {"Dropout", Copy},
      {"LayoutConvert", Copy},
      {"SqueezeExcite", SqueezeExcite},
      {"Squeeze", Squeeze},
      {"Unsqueeze", Unsqueeze},
      {"Constant", Constant},
      {"Shape", ShapeOp},
      {"Gather", Gather},
      {"Cast", Cast},
      {"ConstantOfShape", ConstantOfShape},
      {"Range", Range},
      {"Expand", Expand},
      {"Floor", Unary},
      {"Ceil", Unary},
      {"Equal", Binary},
      {"Where", Where},
  };
  return kTable;
}

// Checks that every float/int tensor holds as many elements as its dims say.
Status CheckInputs(const Ctx& c) {
  for (size_t i = 0; i < c.in.size(); ++i) {
    const HostTensor* t = c.in[i];
    if (!t) continue;
    const size_t have = t->type == ElemType::kFloat ? t->f.size() : t->i.size();
    if (have != static_cast<size_t>(t->elements())) {
      return Status::Internal(c.Where() + ": input " + std::to_string(i) + " holds " +
                              std::to_string(have) + " elements for dims " + DimsString(t->dims));
    }
  }
  return Status::Ok();
}

}  // namespace

Status RefRunNode(const Graph& g, const Node& node, const std::vector<const HostTensor*>& inputs,
                  std::vector<HostTensor>* outputs) {
  outputs->clear();
  outputs->resize(node.outputs.size());
  const Ctx c{g, node, inputs, outputs};
  const auto& table = OpTable();
  const auto it = table.find(node.op);
  if (it == table.end()) return c.Unsup("no reference implementation of " + node.op);
  const size_t want = node.inputs.size() + (node.epi.residual >= 0 ? 1 : 0);
  if (inputs.size() != want) {
    return Status::Internal(c.Where() + ": given " + std::to_string(inputs.size()) +
                            " inputs, expected " + std::to_string(want));
  }
  VRSEG_RETURN_IF_ERROR(CheckInputs(c));
  if (node.epi.act != Act::kNone || node.epi.residual >= 0) {
    static const char* kFusable[] = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "SqueezeExcite"};
    if (std::find(std::begin(kFusable), std::end(kFusable), node.op) == std::end(kFusable)) {
      return c.Bad("a fused epilogue on an operator that cannot carry one");
    }
  }
  return it->second(c);
}

}  // namespace vrseg::engine
