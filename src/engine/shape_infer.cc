// Shape inference with constant folding (see ir.h): every value's shape as affine Dims, and nodes
// whose inputs are all known (constants, or batch-affine shape arithmetic) evaluated on the host.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include "engine/ir.h"

namespace vrseg::engine {
namespace {

// ---- affine dimension arithmetic --------------------------------------------------------------

// Fits an affine Dim to f(batch) over a set of probe batches; nullopt when f is undefined at a
// probe or not affine.
std::optional<Dim> FitAffine(const std::function<std::optional<int64_t>(int64_t)>& f) {
  static const int64_t kProbe[] = {1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 1000, 4099};
  auto f1 = f(1), f2 = f(2);
  if (!f1 || !f2) return std::nullopt;
  const Dim d{*f2 - *f1, 2 * *f1 - *f2};
  for (int64_t b : kProbe) {
    auto v = f(b);
    if (!v || *v != d.At(b)) return std::nullopt;
  }
  return d;
}

int64_t ProductAt(const Shape& s, size_t begin, size_t end, int64_t batch) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < s.size(); ++i) p *= s[i].At(batch);
  return p;
}

std::optional<Dim> ProductDim(const Shape& s, size_t begin, size_t end) {
  return FitAffine([&](int64_t b) -> std::optional<int64_t> { return ProductAt(s, begin, end, b); });
}

std::string DimStr(const Dim& d) { return ShapeString({d}).substr(1, ShapeString({d}).size() - 2); }

// ---- node context -------------------------------------------------------------------------------

struct Ctx {
  Graph& g;
  Node& n;
  int64_t opset;
  std::string where;  // "Conv node 'conv1'"

  Status Err(const std::string& msg) const { return Status::InvalidModel(where + ": " + msg); }
  Status Unsup(const std::string& msg) const { return Status::Unsupported(where + ": " + msg); }
  int NumIn() const { return static_cast<int>(n.inputs.size()); }
  bool Has(int i) const { return i < NumIn() && n.inputs[i] >= 0; }
  Value& In(int i) { return g.values[n.inputs[i]]; }
  Value& Out(int i) { return g.values[n.outputs[i]]; }
  bool Known(int i) { return Has(i) && (In(i).is_const || In(i).has_sym); }
  Status Need(int count) const {
    for (int i = 0; i < count; ++i) {
      if (!Has(i)) return Err("input " + std::to_string(i) + " is required");
    }
    return Status::Ok();
  }
  void SetOut(int i, ElemType t, Shape s) {
    Value& v = Out(i);
    v.type = t;
    v.shape = std::move(s);
    v.shape_known = true;
  }
  // Normalises a possibly negative axis against `rank`.
  Result<int> Axis(int64_t axis, size_t rank) const {
    const int64_t r = static_cast<int64_t>(rank);
    if (axis < -r || axis >= r) {
      return Err("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
    }
    return static_cast<int>(axis < 0 ? axis + r : axis);
  }
  // Int64 content of input i as Dims (constants or shape arithmetic).
  Result<std::vector<Dim>> Dims(int i) {
    if (!Known(i)) {
      return Unsup("input " + std::to_string(i) + " ('" + (Has(i) ? In(i).name : std::string()) +
                   "') must be a constant (or computed from shapes) for the gpu engine");
    }
    const Value& v = In(i);
    if (v.has_sym) return v.sym;
    std::vector<Dim> out;
    if (v.type == ElemType::kFloat) {
      for (float f : v.fdata) out.push_back(Dim::Const(static_cast<int64_t>(f)));
    } else {
      for (int64_t x : v.idata) out.push_back(Dim::Const(x));
    }
    return out;
  }
  Result<std::vector<int64_t>> Ints(int i) {
    VRSEG_ASSIGN_OR_RETURN(std::vector<Dim> d, Dims(i));
    std::vector<int64_t> out;
    for (const Dim& x : d) {
      if (!x.is_const()) {
        return Unsup("input " + std::to_string(i) + " ('" + In(i).name +
                     "') depends on the batch size where a constant is needed");
      }
      out.push_back(x.c);
    }
    return out;
  }
  Result<std::vector<float>> Floats(int i) {
    if (!Known(i) || In(i).has_sym) {
      return Unsup("input " + std::to_string(i) + " must be a constant for the gpu engine");
    }
    const Value& v = In(i);
    if (v.type == ElemType::kFloat) return v.fdata;
    return std::vector<float>(v.idata.begin(), v.idata.end());
  }
  // Every dim of input i except dim 0 must be constant (spatial ops).
  Status ConstExceptBatch(int i) {
    const Shape& s = In(i).shape;
    for (size_t d = 1; d < s.size(); ++d) {
      if (!s[d].is_const()) {
        return Unsup("dimension " + std::to_string(d) + " of '" + In(i).name + "' " +
                     ShapeString(s) + " depends on the batch size");
      }
    }
    return Status::Ok();
  }
};

Result<Dim> MulDim(Ctx& c, const Dim& a, const Dim& b) {
  if (a.is_const()) return Dim{a.c * b.n, a.c * b.c};
  if (b.is_const()) return Dim{b.c * a.n, b.c * a.c};
  return c.Unsup("product " + DimStr(a) + " * " + DimStr(b) + " is not affine in the batch size");
}

Result<Dim> DivDim(Ctx& c, const Dim& a, const Dim& b) {
  if (b.is_const()) {
    if (b.c == 0) return c.Err("integer division by zero");
    if (a.is_const()) return Dim::Const(a.c / b.c);
    if (a.n % b.c == 0 && a.c % b.c == 0) return Dim{a.n / b.c, a.c / b.c};
  } else {
    auto d = FitAffine([&](int64_t B) -> std::optional<int64_t> {
      const int64_t den = b.At(B);
      if (den == 0) return std::nullopt;
      return a.At(B) / den;
    });
    if (d) return *d;
  }
  return c.Unsup("quotient " + DimStr(a) + " / " + DimStr(b) + " is not affine in the batch size");
}

// Numpy broadcasting of affine shapes: equal dims, or one of them constant 1.
Result<Shape> Broadcast(Ctx& c, const Shape& a, const Shape& b) {
  const size_t r = std::max(a.size(), b.size());
  Shape out(r);
  for (size_t i = 0; i < r; ++i) {
    const Dim da = i < r - a.size() ? Dim::Const(1) : a[i - (r - a.size())];
    const Dim db = i < r - b.size() ? Dim::Const(1) : b[i - (r - b.size())];
    if (da == db || db == Dim::Const(1)) {
      out[i] = da;
    } else if (da == Dim::Const(1)) {
      out[i] = db;
    } else {
      return c.Err("shapes " + ShapeString(a) + " and " + ShapeString(b) + " do not broadcast");
    }
  }
  return out;
}

Result<std::vector<int64_t>> ConstShape(Ctx& c, const Value& v) {
  std::vector<int64_t> out;
  for (const Dim& d : v.shape) {
    if (!d.is_const()) return c.Unsup("cannot fold '" + v.name + "' whose shape depends on the batch size");
    out.push_back(d.c);
  }
  return out;
}

// ---- host tensors for folding -------------------------------------------------------------------

struct HT {
  ElemType type = ElemType::kFloat;
  std::vector<int64_t> dims;
  std::vector<float> f;   // kFloat
  std::vector<Dim> d;     // kInt64 / kBool
  int64_t size() const {
    int64_t n = 1;
    for (int64_t x : dims) n *= x;
    return n;
  }
};

Result<HT> Load(Ctx& c, int i) {
  HT t;
  const Value& v = c.In(i);
  t.type = v.type;
  VRSEG_ASSIGN_OR_RETURN(t.dims, ConstShape(c, v));
  if (v.type == ElemType::kFloat) {
    t.f = v.fdata;
  } else if (v.has_sym) {
    t.d = v.sym;
  } else {
    for (int64_t x : v.idata) t.d.push_back(Dim::Const(x));
  }
  const int64_t got = v.type == ElemType::kFloat ? static_cast<int64_t>(t.f.size())
                                                  : static_cast<int64_t>(t.d.size());
  if (got != t.size()) {
    return Status::Internal(c.where + ": constant '" + v.name + "' holds " + std::to_string(got) +
                            " elements for shape " + ShapeString(v.shape));
  }
  return t;
}

void Store(Value& v, HT t) {
  v.type = t.type;
  v.shape.clear();
  for (int64_t x : t.dims) v.shape.push_back(Dim::Const(x));
  v.shape_known = true;
  v.producer = -1;
  v.fdata.clear();
  v.idata.clear();
  v.sym.clear();
  v.is_const = false;
  v.has_sym = false;
  if (t.type == ElemType::kFloat) {
    v.fdata = std::move(t.f);
    v.is_const = true;
    return;
  }
  bool all_const = true;
  for (const Dim& x : t.d) all_const = all_const && x.is_const();
  if (all_const) {
    for (const Dim& x : t.d) v.idata.push_back(x.c);
    v.is_const = true;
  } else {
    v.sym = std::move(t.d);
    v.has_sym = true;
  }
}

std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// Source index in a (right-aligned, broadcast) input for each element of `odims`.
std::vector<int64_t> BroadcastIndex(const std::vector<int64_t>& odims, const std::vector<int64_t>& idims) {
  int64_t total = 1;
  for (int64_t x : odims) total *= x;
  std::vector<int64_t> out(total);
  const size_t off = odims.size() - idims.size();
  const std::vector<int64_t> istr = Strides(idims);
  std::vector<int64_t> coord(odims.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t src = 0;
    for (size_t k = 0; k < idims.size(); ++k) {
      if (idims[k] != 1) src += coord[k + off] * istr[k];
    }
    out[e] = src;
    for (int k = static_cast<int>(odims.size()) - 1; k >= 0; --k) {
      if (++coord[k] < odims[k]) break;
      coord[k] = 0;
    }
  }
  return out;
}

std::vector<int64_t> BroadcastConcrete(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  const size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// Applies a general index mapping: out[e] = in[src[e]].
HT Gather(const HT& in, std::vector<int64_t> dims, const std::vector<int64_t>& src) {
  HT t;
  t.type = in.type;
  t.dims = std::move(dims);
  if (in.type == ElemType::kFloat) {
    for (int64_t s : src) t.f.push_back(in.f[s]);
  } else {
    for (int64_t s : src) t.d.push_back(in.d[s]);
  }
  return t;
}

// ---- fold-and-shape rules per op ------------------------------------------------------------------

using Rule = std::function<Status(Ctx&)>;

Status SameShape(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  for (size_t o = 0; o < c.n.outputs.size(); ++o) {
    c.SetOut(static_cast<int>(o), o == 0 ? c.In(0).type : ElemType::kBool, c.In(0).shape);
  }
  return Status::Ok();
}

// Marks the node folded (its outputs are now constants).
void Folded(Ctx& c) { c.n.dead = true; }

Status Unary(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(SameShape(c));
  const std::string& op = c.n.op;
  const bool foldable = op == "Floor" || op == "Ceil" || op == "Sqrt" || op == "Neg" ||
                        op == "Reciprocal" || op == "Identity";
  if (!foldable || !c.Known(0)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT t, Load(c, 0));
  if (op == "Neg") {
    for (float& x : t.f) x = -x;
    for (Dim& x : t.d) x = Dim{-x.n, -x.c};
  } else if (op != "Identity") {
    if (t.type != ElemType::kFloat) return Status::Ok();  // int Floor/Ceil etc.: identity-ish, leave
    for (float& x : t.f) {
      if (op == "Floor") x = std::floor(x);
      if (op == "Ceil") x = std::ceil(x);
      if (op == "Sqrt") x = std::sqrt(x);
      if (op == "Reciprocal") x = 1.f / x;
    }
  }
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status Binary(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(c.n.op == "Max" || c.n.op == "Min" ? 1 : 2));
  const std::string& op = c.n.op;
  Shape s = c.In(0).shape;
  for (int i = 1; i < c.NumIn(); ++i) {
    if (!c.Has(i)) continue;
    VRSEG_ASSIGN_OR_RETURN(s, Broadcast(c, s, c.In(i).shape));
  }
  const ElemType out_type = op == "Equal" ? ElemType::kBool : c.In(0).type;
  c.SetOut(0, out_type, s);
  bool known = true;
  for (int i = 0; i < c.NumIn(); ++i) known = known && c.Known(i);
  if (!known || c.NumIn() != 2) return Status::Ok();
  static const std::set<std::string> kFold = {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal"};
  if (!kFold.count(op)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT a, Load(c, 0));
  VRSEG_ASSIGN_OR_RETURN(HT b, Load(c, 1));
  const std::vector<int64_t> od = BroadcastConcrete(a.dims, b.dims);
  const std::vector<int64_t> ia = BroadcastIndex(od, a.dims), ib = BroadcastIndex(od, b.dims);
  HT t;
  t.dims = od;
  t.type = out_type;
  const bool fl = a.type == ElemType::kFloat || b.type == ElemType::kFloat;
  if (fl) {
    if (a.type != b.type) return Status::Ok();  // mixed types (Pow float^int): left to run time
    for (size_t e = 0; e < ia.size(); ++e) {
      const float x = a.f[ia[e]], y = b.f[ib[e]];
      if (op == "Equal") {
        t.d.push_back(Dim::Const(x == y ? 1 : 0));
        continue;
      }
      float r = 0;
      if (op == "Add") r = x + y;
      if (op == "Sub") r = x - y;
      if (op == "Mul") r = x * y;
      if (op == "Div") r = x / y;
      if (op == "Pow") r = std::pow(x, y);
      if (op == "Max") r = std::max(x, y);
      if (op == "Min") r = std::min(x, y);
      t.f.push_back(r);
    }
  } else {
    if (op == "Pow") return Status::Ok();
    for (size_t e = 0; e < ia.size(); ++e) {
      const Dim x = a.d[ia[e]], y = b.d[ib[e]];
      Dim r;
      if (op == "Add") {
        r = Dim{x.n + y.n, x.c + y.c};
      } else if (op == "Sub") {
        r = Dim{x.n - y.n, x.c - y.c};
      } else if (op == "Mul") {
        VRSEG_ASSIGN_OR_RETURN(r, MulDim(c, x, y));
      } else if (op == "Div") {
        VRSEG_ASSIGN_OR_RETURN(r, DivDim(c, x, y));
      } else if (op == "Max" || op == "Min") {
        if (!x.is_const() || !y.is_const()) {
          return c.Unsup(op + " of batch-dependent shape values is not affine");
        }
        r = Dim::Const(op == "Max" ? std::max(x.c, y.c) : std::min(x.c, y.c));
      } else {  // Equal
        const Dim diff{x.n - y.n, x.c - y.c};
        if (diff.n == 0) {
          r = Dim::Const(diff.c == 0 ? 1 : 0);
        } else if ((-diff.c) % diff.n == 0 && -diff.c / diff.n >= 1) {
          return c.Unsup("Equal(" + DimStr(x) + ", " + DimStr(y) + ") depends on the batch size");
        } else {
          r = Dim::Const(0);
        }
      }
      t.d.push_back(r);
    }
  }
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status Where(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(3));
  VRSEG_ASSIGN_OR_RETURN(Shape s, Broadcast(c, c.In(0).shape, c.In(1).shape));
  VRSEG_ASSIGN_OR_RETURN(s, Broadcast(c, s, c.In(2).shape));
  c.SetOut(0, c.In(1).type, s);
  if (!c.Known(0) || !c.Known(1) || !c.Known(2)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT k, Load(c, 0));
  VRSEG_ASSIGN_OR_RETURN(HT x, Load(c, 1));
  VRSEG_ASSIGN_OR_RETURN(HT y, Load(c, 2));
  const std::vector<int64_t> od = BroadcastConcrete(BroadcastConcrete(k.dims, x.dims), y.dims);
  const auto ik = BroadcastIndex(od, k.dims), ix = BroadcastIndex(od, x.dims), iy = BroadcastIndex(od, y.dims);
  HT t;
  t.type = x.type;
  t.dims = od;
  for (size_t e = 0; e < ik.size(); ++e) {
    const Dim cond = k.d[ik[e]];
    if (!cond.is_const()) return c.Unsup("condition depends on the batch size");
    if (t.type == ElemType::kFloat) {
      t.f.push_back(cond.c ? x.f[ix[e]] : y.f[iy[e]]);
    } else {
      t.d.push_back(cond.c ? x.d[ix[e]] : y.d[iy[e]]);
    }
  }
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status ShapeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& s = c.In(0).shape;
  const int64_t r = static_cast<int64_t>(s.size());
  int64_t start = c.n.GetInt("start", 0), end = c.n.GetInt("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  HT t;
  t.type = ElemType::kInt64;
  for (int64_t i = start; i < end; ++i) t.d.push_back(s[i]);
  t.dims = {static_cast<int64_t>(t.d.size())};
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status GatherOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  const Shape& ds = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(int axis, c.Axis(c.n.GetInt("axis", 0), ds.size()));
  Shape s(ds.begin(), ds.begin() + axis);
  for (const Dim& d : c.In(1).shape) s.push_back(d);
  for (size_t i = axis + 1; i < ds.size(); ++i) s.push_back(ds[i]);
  c.SetOut(0, c.In(0).type, s);
  if (!c.Known(0) || !c.Known(1)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT data, Load(c, 0));
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> idx, c.Ints(1));
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> idims, ConstShape(c, c.In(1)));
  const int64_t dim = data.dims[axis];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; ++i) outer *= data.dims[i];
  for (size_t i = axis + 1; i < data.dims.size(); ++i) inner *= data.dims[i];
  std::vector<int64_t> src;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k : idx) {
      const int64_t j = k < 0 ? k + dim : k;
      if (j < 0 || j >= dim) return c.Err("index " + std::to_string(k) + " is out of range for size " + std::to_string(dim));
      for (int64_t in = 0; in < inner; ++in) src.push_back((o * dim + j) * inner + in);
    }
  }
  std::vector<int64_t> od(data.dims.begin(), data.dims.begin() + axis);
  od.insert(od.end(), idims.begin(), idims.end());
  od.insert(od.end(), data.dims.begin() + axis + 1, data.dims.end());
  Store(c.Out(0), Gather(data, od, src));
  Folded(c);
  return Status::Ok();
}

// Per-axis slice parameters over concrete dims.
struct SliceAxis {
  int64_t start = 0, step = 1, count = 0;
};
SliceAxis SliceOne(int64_t dim, int64_t start, int64_t end, int64_t step) {
  SliceAxis a;
  a.step = step;
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    a.count = end > start ? (end - start + step - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    a.count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
  }
  a.start = start;
  return a;
}

Status SliceOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  std::vector<Dim> starts, ends;
  std::vector<int64_t> axes, steps;
  if (c.opset >= 10) {
    VRSEG_RETURN_IF_ERROR(c.Need(3));
    VRSEG_ASSIGN_OR_RETURN(starts, c.Dims(1));
    VRSEG_ASSIGN_OR_RETURN(ends, c.Dims(2));
    if (c.Has(3)) {
      VRSEG_ASSIGN_OR_RETURN(axes, c.Ints(3));
    }
    if (c.Has(4)) {
      VRSEG_ASSIGN_OR_RETURN(steps, c.Ints(4));
    }
  } else {
    for (int64_t x : c.n.GetInts("starts")) starts.push_back(Dim::Const(x));
    for (int64_t x : c.n.GetInts("ends")) ends.push_back(Dim::Const(x));
    axes = c.n.GetInts("axes");
  }
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
    return c.Err("starts, ends, axes and steps have different lengths");
  }
  std::vector<SliceAxis> spec(is.size());
  std::vector<bool> full(is.size(), true);
  Shape out = is;
  for (size_t i = 0; i < is.size(); ++i) spec[i].count = is[i].c;
  for (size_t k = 0; k < axes.size(); ++k) {
    VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(axes[k], is.size()));
    if (steps[k] == 0) return c.Err("slice step 0");
    const Dim dim = is[ax];
    if (!dim.is_const()) {
      // The batch dim: only a full slice is affine.
      const bool full_start = starts[k] == Dim::Const(0);
      const bool full_end = ends[k] == dim || (ends[k].is_const() && ends[k].c >= (int64_t{1} << 30));
      if (!(full_start && full_end && steps[k] == 1)) {
        return c.Unsup("slicing the batch dimension " + DimStr(dim) + " is not supported");
      }
      continue;
    }
    if (!starts[k].is_const() || !ends[k].is_const()) {
      return c.Unsup("slice bounds depend on the batch size on a constant dimension");
    }
    spec[ax] = SliceOne(dim.c, starts[k].c, ends[k].c, steps[k]);
    out[ax] = Dim::Const(spec[ax].count);
    full[ax] = false;
  }
  c.SetOut(0, c.In(0).type, out);
  if (!c.Known(0)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT data, Load(c, 0));
  std::vector<int64_t> od;
  for (const Dim& d : out) od.push_back(d.c);
  for (size_t i = 0; i < is.size(); ++i) {
    if (full[i]) spec[i] = SliceAxis{0, 1, data.dims[i]};
  }
  const std::vector<int64_t> istr = Strides(data.dims);
  int64_t total = 1;
  for (int64_t x : od) total *= x;
  std::vector<int64_t> src;
  std::vector<int64_t> coord(od.size(), 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t s = 0;
    for (size_t k = 0; k < od.size(); ++k) s += (spec[k].start + coord[k] * spec[k].step) * istr[k];
    src.push_back(s);
    for (int k = static_cast<int>(od.size()) - 1; k >= 0; --k) {
      if (++coord[k] < od[k]) break;
      coord[k] = 0;
    }
  }
  Store(c.Out(0), Gather(data, od, src));
  Folded(c);
  return Status::Ok();
}

Status ConcatOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& s0 = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(int axis, c.Axis(c.n.GetInt("axis", 0), s0.size()));
  Shape out = s0;
  out[axis] = Dim::Const(0);
  bool known = true;
  for (int i = 0; i < c.NumIn(); ++i) {
    if (!c.Has(i)) continue;
    const Shape& s = c.In(i).shape;
    if (s.size() != s0.size()) return c.Err("inputs have different ranks");
    for (size_t d = 0; d < s.size(); ++d) {
      if (static_cast<int>(d) != axis && !(s[d] == s0[d])) {
        return c.Err("input '" + c.In(i).name + "' " + ShapeString(s) + " does not match " +
                     ShapeString(s0) + " outside axis " + std::to_string(axis));
      }
    }
    out[axis] = Dim{out[axis].n + s[axis].n, out[axis].c + s[axis].c};
    known = known && c.Known(i);
  }
  c.SetOut(0, c.In(0).type, out);
  if (!known) return Status::Ok();
  std::vector<HT> parts;
  for (int i = 0; i < c.NumIn(); ++i) {
    if (!c.Has(i)) continue;
    VRSEG_ASSIGN_OR_RETURN(HT t, Load(c, i));
    parts.push_back(std::move(t));
  }
  HT t;
  t.type = parts[0].type;
  t.dims = parts[0].dims;
  t.dims[axis] = 0;
  for (const HT& p : parts) t.dims[axis] += p.dims[axis];
  int64_t outer = 1;
  for (int i = 0; i < axis; ++i) outer *= t.dims[i];
  for (int64_t o = 0; o < outer; ++o) {
    for (const HT& p : parts) {
      const int64_t chunk = p.size() / std::max<int64_t>(outer, 1);
      if (t.type == ElemType::kFloat) {
        t.f.insert(t.f.end(), p.f.begin() + o * chunk, p.f.begin() + (o + 1) * chunk);
      } else {
        t.d.insert(t.d.end(), p.d.begin() + o * chunk, p.d.begin() + (o + 1) * chunk);
      }
    }
  }
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

// Reshape-like ops: output shape given; folds by copying the data.
Status FoldReshapeLike(Ctx& c) {
  if (!c.Known(0)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT t, Load(c, 0));
  VRSEG_ASSIGN_OR_RETURN(t.dims, ConstShape(c, c.Out(0)));
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status ReshapeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  const Shape& is = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(std::vector<Dim> target, c.Dims(1));
  const bool allowzero = c.n.GetInt("allowzero", 0) != 0;
  Shape out(target.size());
  int infer = -1;
  for (size_t i = 0; i < target.size(); ++i) {
    const Dim t = target[i];
    if (t == Dim::Const(0) && !allowzero) {
      if (i >= is.size()) return c.Err("shape entry 0 at " + std::to_string(i) + " beyond the input rank");
      out[i] = is[i];
    } else if (t == Dim::Const(-1)) {
      if (infer >= 0) return c.Err("more than one -1 in the target shape");
      infer = static_cast<int>(i);
    } else if (t.is_const() && t.c < 0) {
      return c.Err("negative target dimension " + std::to_string(t.c));
    } else {
      out[i] = t;
    }
  }
  if (infer >= 0) {
    out[infer] = Dim::Const(1);
    auto d = FitAffine([&](int64_t b) -> std::optional<int64_t> {
      const int64_t total = ProductAt(is, 0, is.size(), b);
      const int64_t known = ProductAt(out, 0, out.size(), b);
      if (known == 0 || total % known != 0) return std::nullopt;
      return total / known;
    });
    if (!d) {
      return c.Unsup("cannot infer the -1 of target " + ShapeString(out) + " from input " +
                     ShapeString(is) + " as an affine function of the batch size");
    }
    out[infer] = *d;
  }
  auto same = FitAffine([&](int64_t b) -> std::optional<int64_t> {
    return ProductAt(is, 0, is.size(), b) == ProductAt(out, 0, out.size(), b) ? 1 : 0;
  });
  if (!same || !(*same == Dim::Const(1))) {
    return c.Err("cannot reshape " + ShapeString(is) + " to " + ShapeString(out) + " (element counts differ)");
  }
  c.SetOut(0, c.In(0).type, out);
  return FoldReshapeLike(c);
}

Status FlattenOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  int64_t axis = c.n.GetInt("axis", 1);
  const int64_t r = static_cast<int64_t>(is.size());
  if (axis < -r || axis > r) return c.Err("axis " + std::to_string(axis) + " out of range");
  if (axis < 0) axis += r;
  auto a = ProductDim(is, 0, axis), b = ProductDim(is, axis, is.size());
  if (!a || !b) return c.Unsup("flattened shape of " + ShapeString(is) + " is not affine in the batch size");
  c.SetOut(0, c.In(0).type, {*a, *b});
  return FoldReshapeLike(c);
}

Result<std::vector<int64_t>> AxesOf(Ctx& c, int input) {
  if (c.opset >= 13) {
    if (!c.Has(input)) return std::vector<int64_t>{};
    return c.Ints(input);
  }
  return c.n.GetInts("axes");
}

Status SqueezeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(c, 1));
  std::vector<bool> drop(is.size(), false);
  if (axes.empty()) {
    for (size_t i = 0; i < is.size(); ++i) drop[i] = is[i] == Dim::Const(1);
  }
  for (int64_t a : axes) {
    VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(a, is.size()));
    if (!(is[ax] == Dim::Const(1))) return c.Err("cannot squeeze axis " + std::to_string(a) + " of " + ShapeString(is));
    drop[ax] = true;
  }
  Shape out;
  for (size_t i = 0; i < is.size(); ++i) {
    if (!drop[i]) out.push_back(is[i]);
  }
  c.SetOut(0, c.In(0).type, out);
  return FoldReshapeLike(c);
}

Status UnsqueezeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> axes, AxesOf(c, 1));
  const size_t r = is.size() + axes.size();
  std::vector<bool> ins(r, false);
  for (int64_t a : axes) {
    VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(a, r));
    if (ins[ax]) return c.Err("axis " + std::to_string(a) + " repeated");
    ins[ax] = true;
  }
  Shape out;
  size_t k = 0;
  for (size_t i = 0; i < r; ++i) out.push_back(ins[i] ? Dim::Const(1) : is[k++]);
  c.SetOut(0, c.In(0).type, out);
  return FoldReshapeLike(c);
}

Status TransposeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  std::vector<int64_t> perm = c.n.GetInts("perm");
  if (perm.empty()) {
    for (size_t i = 0; i < is.size(); ++i) perm.push_back(static_cast<int64_t>(is.size() - 1 - i));
  }
  if (perm.size() != is.size()) return c.Err("perm has " + std::to_string(perm.size()) + " entries for rank " + std::to_string(is.size()));
  std::vector<bool> seen(is.size(), false);
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= static_cast<int64_t>(is.size()) || seen[p]) return c.Err("perm is not a permutation");
    seen[p] = true;
    out.push_back(is[p]);
  }
  c.SetOut(0, c.In(0).type, out);
  if (!c.Known(0)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT data, Load(c, 0));
  std::vector<int64_t> od;
  for (int64_t p : perm) od.push_back(data.dims[p]);
  const std::vector<int64_t> istr = Strides(data.dims);
  std::vector<int64_t> src;
  std::vector<int64_t> coord(od.size(), 0);
  const int64_t total = data.size();
  for (int64_t e = 0; e < total; ++e) {
    int64_t s = 0;
    for (size_t k = 0; k < od.size(); ++k) s += coord[k] * istr[perm[k]];
    src.push_back(s);
    for (int k = static_cast<int>(od.size()) - 1; k >= 0; --k) {
      if (++coord[k] < od[k]) break;
      coord[k] = 0;
    }
  }
  Store(c.Out(0), Gather(data, od, src));
  Folded(c);
  return Status::Ok();
}

Result<ElemType> CastType(Ctx& c, int64_t to) {
  switch (to) {
    case 1: case 10: case 11: case 16: return ElemType::kFloat;   // float, float16, double, bfloat16
    case 2: case 3: case 4: case 5: case 6: case 7: case 12: case 13: return ElemType::kInt64;
    case 9: return ElemType::kBool;
    default: return c.Unsup("Cast to ONNX type " + std::to_string(to) + " is not supported");
  }
}

Status CastOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  VRSEG_ASSIGN_OR_RETURN(ElemType to, CastType(c, c.n.GetInt("to", 1)));
  c.SetOut(0, to, c.In(0).shape);
  if (!c.Known(0)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT t, Load(c, 0));
  HT o;
  o.type = to;
  o.dims = t.dims;
  if (t.type == ElemType::kFloat && to == ElemType::kFloat) {
    o.f = t.f;
  } else if (t.type == ElemType::kFloat) {
    for (float f : t.f) {
      o.d.push_back(Dim::Const(to == ElemType::kBool ? (f != 0.f ? 1 : 0) : static_cast<int64_t>(f)));
    }
  } else if (to == ElemType::kFloat) {
    for (const Dim& d : t.d) {
      if (!d.is_const()) return c.Unsup("Cast of a batch-dependent shape value to float");
      o.f.push_back(static_cast<float>(d.c));
    }
  } else if (to == ElemType::kBool) {
    for (const Dim& d : t.d) {
      if (!d.is_const()) return c.Unsup("Cast of a batch-dependent shape value to bool");
      o.d.push_back(Dim::Const(d.c != 0 ? 1 : 0));
    }
  } else {
    o.d = t.d;
  }
  Store(c.Out(0), std::move(o));
  Folded(c);
  return Status::Ok();
}

Status ConstantOfShapeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> dims, c.Ints(0));
  HT t;
  t.dims = dims;
  t.type = ElemType::kFloat;
  float fv = 0;
  int64_t iv = 0;
  auto it = c.n.attrs.find("value");
  if (it != c.n.attrs.end() && it->second.kind == Attr::kTensor) {
    const Value& v = c.g.values[it->second.tensor_value];
    t.type = v.type;
    if (v.type == ElemType::kFloat && !v.fdata.empty()) fv = v.fdata[0];
    if (v.type != ElemType::kFloat && !v.idata.empty()) iv = v.idata[0];
  }
  const int64_t n = t.size();
  if (t.type == ElemType::kFloat) {
    t.f.assign(n, fv);
  } else {
    t.d.assign(n, Dim::Const(iv));
  }
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status RangeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(3));
  HT t;
  if (c.In(0).type == ElemType::kFloat) {
    VRSEG_ASSIGN_OR_RETURN(std::vector<float> s, c.Floats(0));
    VRSEG_ASSIGN_OR_RETURN(std::vector<float> l, c.Floats(1));
    VRSEG_ASSIGN_OR_RETURN(std::vector<float> d, c.Floats(2));
    if (s.size() != 1 || l.size() != 1 || d.size() != 1 || d[0] == 0) return c.Err("start, limit and delta must be scalars, delta non-zero");
    const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l[0] - s[0]) / d[0])));
    for (int64_t i = 0; i < n; ++i) t.f.push_back(s[0] + static_cast<float>(i) * d[0]);
    t.dims = {n};
  } else {
    VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> s, c.Ints(0));
    VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> l, c.Ints(1));
    VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> d, c.Ints(2));
    if (s.size() != 1 || l.size() != 1 || d.size() != 1 || d[0] == 0) return c.Err("start, limit and delta must be scalars, delta non-zero");
    const int64_t span = l[0] - s[0];
    int64_t n = span / d[0] + (span % d[0] != 0 ? 1 : 0);
    n = std::max<int64_t>(n, 0);
    t.type = ElemType::kInt64;
    for (int64_t i = 0; i < n; ++i) t.d.push_back(Dim::Const(s[0] + i * d[0]));
    t.dims = {n};
  }
  Store(c.Out(0), std::move(t));
  Folded(c);
  return Status::Ok();
}

Status ExpandOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  VRSEG_ASSIGN_OR_RETURN(std::vector<Dim> target, c.Dims(1));
  VRSEG_ASSIGN_OR_RETURN(Shape out, Broadcast(c, c.In(0).shape, target));
  c.SetOut(0, c.In(0).type, out);
  if (!c.Known(0)) return Status::Ok();
  VRSEG_ASSIGN_OR_RETURN(HT data, Load(c, 0));
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> od, ConstShape(c, c.Out(0)));
  Store(c.Out(0), Gather(data, od, BroadcastIndex(od, data.dims)));
  Folded(c);
  return Status::Ok();
}

// ---- spatial ops ----------------------------------------------------------------------------------

Result<int64_t> SpatialOut(Ctx& c, int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe,
                           const std::string& auto_pad, bool ceil_mode) {
  if (s <= 0 || d <= 0 || k <= 0) return c.Err("kernel, stride and dilation must be positive");
  const int64_t eff = (k - 1) * d + 1;
  if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") return (in + s - 1) / s;
  if (auto_pad == "VALID") {
    if (in < eff) return c.Err("input size " + std::to_string(in) + " is smaller than the kernel extent " + std::to_string(eff));
    return (in - eff) / s + 1;
  }
  if (!auto_pad.empty() && auto_pad != "NOTSET") return c.Err("unknown auto_pad '" + auto_pad + "'");
  const int64_t num = in + pb + pe - eff;
  if (num < 0) return c.Err("padded input size " + std::to_string(in + pb + pe) + " is smaller than the kernel extent " + std::to_string(eff));
  if (!ceil_mode) return num / s + 1;
  int64_t out = (num + s - 1) / s + 1;
  if ((out - 1) * s >= in + pb) --out;  // the last window must start inside the input or left pad
  return out;
}

struct SpatialAttrs {
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad;
};

Result<SpatialAttrs> ReadSpatial(Ctx& c, size_t nsp, std::vector<int64_t> kernel) {
  SpatialAttrs a;
  a.kernel = c.n.GetInts("kernel_shape", kernel);
  a.strides = c.n.GetInts("strides", std::vector<int64_t>(nsp, 1));
  a.dilations = c.n.GetInts("dilations", std::vector<int64_t>(nsp, 1));
  a.pads = c.n.GetInts("pads", std::vector<int64_t>(2 * nsp, 0));
  a.auto_pad = c.n.GetString("auto_pad", "NOTSET");
  if (a.kernel.size() != nsp || a.strides.size() != nsp || a.dilations.size() != nsp || a.pads.size() != 2 * nsp) {
    return c.Err("kernel_shape/strides/dilations/pads do not match " + std::to_string(nsp) + " spatial dims");
  }
  return a;
}

Status ConvOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  const Shape& xs = c.In(0).shape;
  const Shape& ws = c.In(1).shape;
  if (xs.size() < 3 || ws.size() != xs.size()) {
    return c.Err("input " + ShapeString(xs) + " and weight " + ShapeString(ws) + " ranks do not fit");
  }
  VRSEG_RETURN_IF_ERROR(c.ConstExceptBatch(0));
  for (const Dim& d : ws) {
    if (!d.is_const()) return c.Unsup("weight shape depends on the batch size");
  }
  const size_t nsp = xs.size() - 2;
  const int64_t group = c.n.GetInt("group", 1);
  if (group <= 0) return c.Err("group must be positive");
  const int64_t cin = xs[1].c;
  std::vector<int64_t> wk;
  for (size_t i = 2; i < ws.size(); ++i) wk.push_back(ws[i].c);
  VRSEG_ASSIGN_OR_RETURN(SpatialAttrs a, ReadSpatial(c, nsp, wk));
  if (a.kernel != wk) return c.Err("kernel_shape does not match the weight " + ShapeString(ws));
  Shape out = {xs[0]};
  const bool transposed = c.n.op == "ConvTranspose";
  if (!transposed) {
    if (cin != ws[1].c * group) {
      return c.Err("input channels " + std::to_string(cin) + " do not match weight " +
                   std::to_string(ws[1].c * group) + " (weight " + ShapeString(ws) + ", group " + std::to_string(group) + ")");
    }
    if (ws[0].c % group != 0) return c.Err("output channels " + std::to_string(ws[0].c) + " not divisible by group");
    out.push_back(ws[0]);
    for (size_t i = 0; i < nsp; ++i) {
      VRSEG_ASSIGN_OR_RETURN(int64_t o, SpatialOut(c, xs[2 + i].c, a.kernel[i], a.strides[i], a.dilations[i],
                                                    a.pads[i], a.pads[i + nsp], a.auto_pad, false));
      if (o <= 0) return c.Err("output size is not positive");
      out.push_back(Dim::Const(o));
    }
    if (c.Has(2) && !(c.In(2).shape == Shape{ws[0]})) return c.Err("bias " + ShapeString(c.In(2).shape) + " does not match " + std::to_string(ws[0].c) + " output channels");
  } else {
    if (cin != ws[0].c) {
      return c.Err("input channels " + std::to_string(cin) + " do not match weight " + std::to_string(ws[0].c));
    }
    const int64_t cout = ws[1].c * group;
    out.push_back(Dim::Const(cout));
    const std::vector<int64_t> output_padding = c.n.GetInts("output_padding", std::vector<int64_t>(nsp, 0));
    const std::vector<int64_t> output_shape = c.n.GetInts("output_shape");
    if (output_padding.size() != nsp) return c.Err("output_padding does not match the spatial rank");
    for (size_t i = 0; i < nsp; ++i) {
      int64_t o;
      if (!output_shape.empty()) {
        if (output_shape.size() < nsp) return c.Err("output_shape is too short");
        o = output_shape[output_shape.size() - nsp + i];
      } else if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
        o = xs[2 + i].c * a.strides[i];
      } else {
        const int64_t eff = (a.kernel[i] - 1) * a.dilations[i] + 1;
        const int64_t pb = a.auto_pad == "VALID" ? 0 : a.pads[i], pe = a.auto_pad == "VALID" ? 0 : a.pads[i + nsp];
        o = a.strides[i] * (xs[2 + i].c - 1) + output_padding[i] + eff - pb - pe;
      }
      if (o <= 0) return c.Err("output size is not positive");
      out.push_back(Dim::Const(o));
    }
    if (c.Has(2) && !(c.In(2).shape == Shape{Dim::Const(cout)})) return c.Err("bias does not match the output channels");
  }
  c.SetOut(0, ElemType::kFloat, out);
  return Status::Ok();
}

// The engine's own squeeze-excite node (ir.h): [N,C,H,W] -> [N,C2,1,1], C2 = W2's first dim.
Status SqueezeExciteOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  if (!c.Has(3)) return c.Err("W2 is required");
  const Shape& xs = c.In(0).shape;
  const Shape& w2 = c.In(3).shape;
  if (xs.size() != 4 || w2.size() != 4) return c.Err("needs a rank-4 input and W2");
  c.SetOut(0, c.In(0).type, {xs[0], w2[0], Dim::Const(1), Dim::Const(1)});
  return Status::Ok();
}

Status PoolOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& xs = c.In(0).shape;
  if (xs.size() < 3) return c.Err("input " + ShapeString(xs) + " needs rank >= 3");
  VRSEG_RETURN_IF_ERROR(c.ConstExceptBatch(0));
  const size_t nsp = xs.size() - 2;
  Shape out = {xs[0], xs[1]};
  if (c.n.op == "GlobalAveragePool") {
    for (size_t i = 0; i < nsp; ++i) out.push_back(Dim::Const(1));
  } else {
    if (!c.n.Has("kernel_shape")) return c.Err("kernel_shape is required");
    VRSEG_ASSIGN_OR_RETURN(SpatialAttrs a, ReadSpatial(c, nsp, {}));
    const bool ceil_mode = c.n.GetInt("ceil_mode", 0) != 0;
    for (size_t i = 0; i < nsp; ++i) {
      VRSEG_ASSIGN_OR_RETURN(int64_t o, SpatialOut(c, xs[2 + i].c, a.kernel[i], a.strides[i], a.dilations[i],
                                                    a.pads[i], a.pads[i + nsp], a.auto_pad, ceil_mode));
      if (o <= 0) return c.Err("output size is not positive");
      out.push_back(Dim::Const(o));
    }
  }
  c.SetOut(0, c.In(0).type, out);
  return Status::Ok();
}

Status BatchNormOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(5));
  const Shape& xs = c.In(0).shape;
  if (xs.size() < 2) return c.Err("input needs rank >= 2");
  for (int i = 1; i < 5; ++i) {
    if (!(c.In(i).shape == Shape{xs[1]})) {
      return c.Err("parameter '" + c.In(i).name + "' " + ShapeString(c.In(i).shape) + " does not match " +
                   DimStr(xs[1]) + " channels");
    }
  }
  if (c.n.GetInt("training_mode", 0) != 0) return c.Unsup("training_mode is not supported");
  if (c.opset < 9 && c.n.GetInt("spatial", 1) == 0) return c.Unsup("spatial=0 (per-element statistics) is not supported");
  return SameShape(c);
}

Status ResizeOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& xs = c.In(0).shape;
  std::vector<float> scales;
  std::vector<Dim> sizes;
  if (c.n.op == "Upsample" && c.opset < 9) {
    scales = c.n.GetFloats("scales");
  } else {
    const int si = (c.n.op == "Upsample" || c.opset < 11) ? 1 : 2;
    if (c.Has(si) && c.In(si).shape.size() == 1 && c.In(si).shape[0] == Dim::Const(0)) {
      // an empty scales tensor means "use sizes"
    } else if (c.Has(si)) {
      VRSEG_ASSIGN_OR_RETURN(scales, c.Floats(si));
    }
    if (c.n.op == "Resize" && c.opset >= 11 && c.Has(3)) {
      VRSEG_ASSIGN_OR_RETURN(sizes, c.Dims(3));
    }
  }
  if (c.n.GetString("mode", "nearest") == "cubic") return c.Unsup("cubic resize is not supported");
  if (c.n.GetString("coordinate_transformation_mode", "") == "tf_crop_and_resize") {
    return c.Unsup("tf_crop_and_resize is not supported");
  }
  Shape out;
  if (!sizes.empty()) {
    if (sizes.size() != xs.size()) return c.Err("sizes has " + std::to_string(sizes.size()) + " entries for rank " + std::to_string(xs.size()));
    out = sizes;
  } else {
    if (scales.size() != xs.size()) return c.Err("scales (" + std::to_string(scales.size()) + " entries) must be constant and match rank " + std::to_string(xs.size()));
    for (size_t i = 0; i < xs.size(); ++i) {
      if (!xs[i].is_const()) {
        if (scales[i] != 1.f) return c.Unsup("resizing the batch dimension is not supported");
        out.push_back(xs[i]);
      } else {
        if (scales[i] <= 0) return c.Err("scale must be positive");
        out.push_back(Dim::Const(static_cast<int64_t>(std::floor(static_cast<double>(xs[i].c) * scales[i]))));
      }
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!xs[i].is_const() && !(out[i] == xs[i])) return c.Unsup("resizing the batch dimension is not supported");
  }
  c.SetOut(0, c.In(0).type, out);
  return Status::Ok();
}

Status MatMulOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  Shape a = c.In(0).shape, b = c.In(1).shape;
  if (a.empty() || b.empty()) return c.Err("MatMul of a scalar");
  const bool a1 = a.size() == 1, b1 = b.size() == 1;
  if (a1) a.insert(a.begin(), Dim::Const(1));
  if (b1) b.push_back(Dim::Const(1));
  if (!(a.back() == b[b.size() - 2])) {
    return c.Err("inner dimensions of " + ShapeString(c.In(0).shape) + " and " + ShapeString(c.In(1).shape) + " differ");
  }
  VRSEG_ASSIGN_OR_RETURN(Shape batch, Broadcast(c, Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2)));
  Shape out = batch;
  if (!a1) out.push_back(a[a.size() - 2]);
  if (!b1) out.push_back(b.back());
  c.SetOut(0, c.In(0).type, out);
  return Status::Ok();
}

Status GemmOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(2));
  const Shape& a = c.In(0).shape;
  const Shape& b = c.In(1).shape;
  if (a.size() != 2 || b.size() != 2) return c.Err("A " + ShapeString(a) + " and B " + ShapeString(b) + " must be 2-D");
  const bool ta = c.n.GetInt("transA", 0) != 0, tb = c.n.GetInt("transB", 0) != 0;
  const Dim m = ta ? a[1] : a[0], ka = ta ? a[0] : a[1];
  const Dim kb = tb ? b[1] : b[0], nn = tb ? b[0] : b[1];
  if (!(ka == kb)) return c.Err("inner dimensions " + DimStr(ka) + " and " + DimStr(kb) + " differ");
  Shape out = {m, nn};
  if (c.Has(2)) {
    VRSEG_ASSIGN_OR_RETURN(Shape bc, Broadcast(c, out, c.In(2).shape));
    if (!(bc == out)) return c.Err("C " + ShapeString(c.In(2).shape) + " does not broadcast to " + ShapeString(out));
  }
  c.SetOut(0, c.In(0).type, out);
  return Status::Ok();
}

Status ReduceMeanOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  std::vector<int64_t> axes = c.n.GetInts("axes");
  if (axes.empty() && c.Has(1)) {
    VRSEG_ASSIGN_OR_RETURN(axes, c.Ints(1));  // opset 18 style
  }
  const bool keep = c.n.GetInt("keepdims", 1) != 0;
  std::vector<bool> red(is.size(), axes.empty());
  for (int64_t a : axes) {
    VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(a, is.size()));
    red[ax] = true;
  }
  Shape out;
  for (size_t i = 0; i < is.size(); ++i) {
    if (!red[i]) {
      out.push_back(is[i]);
    } else if (keep) {
      out.push_back(Dim::Const(1));
    }
  }
  c.SetOut(0, c.In(0).type, out);
  return Status::Ok();
}

Status ArgMaxOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(c.n.GetInt("axis", 0), is.size()));
  Shape out;
  for (size_t i = 0; i < is.size(); ++i) {
    if (static_cast<int>(i) != ax) {
      out.push_back(is[i]);
    } else if (c.n.GetInt("keepdims", 1) != 0) {
      out.push_back(Dim::Const(1));
    }
  }
  c.SetOut(0, ElemType::kInt64, out);
  return Status::Ok();
}

Status SoftmaxOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  if (c.opset < 13) {
    VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(c.n.GetInt("axis", 1), is.size()));
    for (size_t i = ax + 1; i < is.size(); ++i) {
      if (!(is[i] == Dim::Const(1))) {
        return c.Unsup("opset " + std::to_string(c.opset) + " " + c.n.op + " over axis " + std::to_string(ax) +
                       " of " + ShapeString(is) + " flattens trailing dimensions; only the last-axis case is supported");
      }
    }
  } else {
    VRSEG_RETURN_IF_ERROR(c.Axis(c.n.GetInt("axis", -1), is.size()).status());
  }
  return SameShape(c);
}

Status SplitOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  VRSEG_ASSIGN_OR_RETURN(int ax, c.Axis(c.n.GetInt("axis", 0), is.size()));
  std::vector<int64_t> split;
  if (c.opset >= 13) {
    if (c.Has(1)) {
      VRSEG_ASSIGN_OR_RETURN(split, c.Ints(1));
    }
  } else {
    split = c.n.GetInts("split");
  }
  const int64_t nout = static_cast<int64_t>(c.n.outputs.size());
  if (!is[ax].is_const()) return c.Unsup("splitting the batch dimension is not supported");
  if (split.empty()) {
    if (is[ax].c % nout != 0) return c.Err("dimension " + std::to_string(is[ax].c) + " does not split into " + std::to_string(nout) + " equal parts");
    split.assign(nout, is[ax].c / nout);
  }
  if (static_cast<int64_t>(split.size()) != nout) return c.Err("split has " + std::to_string(split.size()) + " entries for " + std::to_string(nout) + " outputs");
  int64_t sum = 0;
  for (int64_t s : split) sum += s;
  if (sum != is[ax].c) return c.Err("split sizes sum to " + std::to_string(sum) + ", not " + std::to_string(is[ax].c));
  for (int64_t o = 0; o < nout; ++o) {
    Shape s = is;
    s[ax] = Dim::Const(split[o]);
    c.SetOut(static_cast<int>(o), c.In(0).type, s);
  }
  return Status::Ok();
}

Status PadOp(Ctx& c) {
  VRSEG_RETURN_IF_ERROR(c.Need(1));
  const Shape& is = c.In(0).shape;
  std::vector<int64_t> pads;
  if (c.opset >= 11) {
    VRSEG_RETURN_IF_ERROR(c.Need(2));
    VRSEG_ASSIGN_OR_RETURN(pads, c.Ints(1));
    if (c.Has(3)) return c.Unsup("the axes input (opset 18) is not supported");
  } else {
    pads = c.n.GetInts("pads");
  }
  if (pads.size() != 2 * is.size()) return c.Err("pads has " + std::to_string(pads.size()) + " entries for rank " + std::to_string(is.size()));
  const std::string mode = c.n.GetString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge") return c.Unsup("pad mode '" + mode + "'");
  Shape out = is;
  for (size_t i = 0; i < is.size(); ++i) {
    out[i] = Dim{is[i].n, is[i].c + pads[i] + pads[i + is.size()]};
    if (!is[i].is_const() && (pads[i] != 0 || pads[i + is.size()] != 0)) return c.Unsup("padding the batch dimension is not supported");
    if (out[i].is_const() && out[i].c < 0) return c.Err("padded size is negative");
  }
  c.SetOut(0, c.In(0).type, out);
  return Status::Ok();
}

Status ClipOp(Ctx& c) {
  if (c.opset >= 11) {
    for (int i = 1; i < 3; ++i) {
      if (c.Has(i) && !c.Known(i)) return c.Unsup("Clip bound '" + c.In(i).name + "' must be a constant");
    }
  }
  return SameShape(c);
}

const std::map<std::string, Rule>& Rules() {
  static const std::map<std::string, Rule> kRules = {
      {"Conv", ConvOp}, {"ConvTranspose", ConvOp}, {"BatchNormalization", BatchNormOp},
      {"Relu", SameShape}, {"Clip", ClipOp}, {"HardSwish", SameShape}, {"HardSigmoid", SameShape},
      {"Sigmoid", SameShape}, {"Tanh", SameShape}, {"LeakyRelu", SameShape}, {"Exp", SameShape},
      {"Sqrt", Unary}, {"Neg", Unary}, {"Reciprocal", Unary}, {"Floor", Unary}, {"Ceil", Unary},
      {"Identity", Unary}, {"Dropout", SameShape}, {"LayoutConvert", SameShape}, {"SqueezeExcite", SqueezeExciteOp},
      {"Add", Binary}, {"Sub", Binary}, {"Mul", Binary}, {"Div", Binary}, {"Pow", Binary},
      {"Max", Binary}, {"Min", Binary}, {"Equal", Binary}, {"Where", Where},
      {"Concat", ConcatOp}, {"Resize", ResizeOp}, {"Upsample", ResizeOp},
      {"AveragePool", PoolOp}, {"MaxPool", PoolOp}, {"GlobalAveragePool", PoolOp},
      {"ReduceMean", ReduceMeanOp}, {"MatMul", MatMulOp}, {"Gemm", GemmOp},
      {"Reshape", ReshapeOp}, {"Flatten", FlattenOp}, {"Transpose", TransposeOp},
      {"Slice", SliceOp}, {"Split", SplitOp}, {"Pad", PadOp}, {"Softmax", SoftmaxOp},
      {"LogSoftmax", SoftmaxOp}, {"ArgMax", ArgMaxOp}, {"Squeeze", SqueezeOp},
      {"Unsqueeze", UnsqueezeOp}, {"Shape", ShapeOp}, {"Gather", GatherOp}, {"Cast", CastOp},
      {"ConstantOfShape", ConstantOfShapeOp}, {"Range", RangeOp}, {"Expand", ExpandOp},
  };
  return kRules;
}

}  // namespace

Status InferShapes(Graph& g) {
  for (int v : g.inputs) {
    if (!g.values[v].shape_known) return Status::InvalidModel("graph input '" + g.values[v].name + "' has no shape");
  }
  const auto& rules = Rules();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (n.dead) continue;
    Ctx c{g, n, g.opset, n.op + " node '" + n.name + "'"};
    for (int in : n.inputs) {
      if (in >= 0 && !g.values[in].shape_known) {
        return Status::Internal(c.where + ": input '" + g.values[in].name + "' has no shape yet");
      }
    }
    auto it = rules.find(n.op);
    if (it == rules.end()) {
      return Status::Unsupported("operator '" + n.op + "' (node '" + n.name + "') is not supported by the gpu engine");
    }
    Status s = it->second(c);
    if (!s.ok()) return s.WithContext(g.source.empty() ? "shape inference" : g.source);
    for (int o : n.outputs) {
      if (!g.values[o].shape_known) return Status::Internal(c.where + ": output '" + g.values[o].name + "' got no shape");
    }
  }
  // Fold-only operators must have folded.
  static const std::set<std::string> kFoldOnly = {"Shape", "Gather", "Cast", "ConstantOfShape", "Range",
                                                  "Expand", "Floor", "Ceil", "Equal", "Where"};
  for (const Node& n : g.nodes) {
    if (n.dead || !kFoldOnly.count(n.op)) continue;
    if (n.op == "Cast" && g.values[n.inputs[0]].type == g.values[n.outputs[0]].type) continue;  // a no-op
    return Status::Unsupported((g.source.empty() ? std::string() : g.source + ": ") + "operator '" + n.op +
                               "' (node '" + n.name + "') is not supported by the gpu engine on values computed "
                               "at run time (it is only folded when its inputs are constant)");
  }
  return Status::Ok();
}

}  // namespace vrseg::engine
