// ONNX → engine IR (see ir.h): initializers and Constant nodes become constant values, graph
// inputs get the batch Dim at dim 0, every node is checked against SupportedOps().
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "engine/ir.h"

namespace vrseg::engine {

const std::vector<std::string>& SupportedOps() {
  static const std::vector<std::string> kOps = {
      "Conv", "ConvTranspose", "BatchNormalization", "Relu", "Clip", "HardSwish", "HardSigmoid",
      "Sigmoid", "Tanh", "LeakyRelu", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Neg",
      "Reciprocal", "Max", "Min", "Concat", "Resize", "Upsample", "AveragePool",
      "GlobalAveragePool", "MaxPool", "ReduceMean", "MatMul", "Gemm", "Reshape", "Flatten",
      "Transpose", "Slice", "Split", "Pad", "Softmax", "LogSoftmax", "ArgMax", "Identity",
      "Dropout", "Squeeze", "Unsqueeze",
      // Only where they fold to constants at build time (InferShapes refuses the rest).
      "Constant", "Shape", "Gather", "Cast", "ConstantOfShape", "Range", "Expand", "Floor", "Ceil",
      "Equal", "Where"};
  return kOps;
}

namespace {

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h >> 15) & 1u;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  float mag;
  if (exp == 0) {
    mag = std::ldexp(static_cast<float>(man), -24);  // subnormal (or zero)
  } else if (exp == 31) {
    mag = man ? std::nanf("") : INFINITY;
  } else {
    mag = std::ldexp(static_cast<float>(man | 0x400u), static_cast<int>(exp) - 25);
  }
  return sign ? -mag : mag;
}

template <typename T>
std::vector<T> FromRaw(const std::string& raw) {
  std::vector<T> out(raw.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), raw.data(), out.size() * sizeof(T));
  return out;
}

}  // namespace

// An ONNX TensorProto → a constant Value (initializers, Constant nodes, tensor attributes).
static Status TensorToValue(const onnx::TensorProto& t, const std::string& what, Value* v) {
  if (t.data_location() == onnx::TensorProto::EXTERNAL || t.external_data_size() > 0) {
    return Status::Unsupported(what + ": tensor '" + t.name() +
                               "' keeps its data in an external file, which the gpu engine does not read");
  }
  v->is_const = true;
  v->shape_known = true;
  v->shape.clear();
  int64_t count = 1;
  for (int64_t d : t.dims()) {
    if (d < 0) return Status::InvalidModel(what + ": tensor '" + t.name() + "' has a negative dimension");
    v->shape.push_back(Dim::Const(d));
    count *= d;
  }
  const bool raw = t.has_raw_data();
  const std::string& rd = t.raw_data();
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT:
      v->type = ElemType::kFloat;
      if (raw) {
        v->fdata = FromRaw<float>(rd);
      } else {
        v->fdata.assign(t.float_data().begin(), t.float_data().end());
      }
      break;
    case onnx::TensorProto::FLOAT16: {
      v->type = ElemType::kFloat;
      std::vector<uint16_t> h;
      if (raw) {
        h = FromRaw<uint16_t>(rd);
      } else {
        for (int32_t x : t.int32_data()) h.push_back(static_cast<uint16_t>(x));
      }
      v->fdata.resize(h.size());
      for (size_t i = 0; i < h.size(); ++i) v->fdata[i] = HalfToFloat(h[i]);
      break;
    }
    case onnx::TensorProto::DOUBLE: {
      v->type = ElemType::kFloat;
      std::vector<double> d = raw ? FromRaw<double>(rd)
                                  : std::vector<double>(t.double_data().begin(), t.double_data().end());
      v->fdata.assign(d.begin(), d.end());
      break;
    }
    case onnx::TensorProto::INT64:
      v->type = ElemType::kInt64;
      if (raw) {
        v->idata = FromRaw<int64_t>(rd);
      } else {
        v->idata.assign(t.int64_data().begin(), t.int64_data().end());
      }
      break;
    case onnx::TensorProto::INT32: {
      v->type = ElemType::kInt64;
      std::vector<int32_t> d = raw ? FromRaw<int32_t>(rd)
                                   : std::vector<int32_t>(t.int32_data().begin(), t.int32_data().end());
      v->idata.assign(d.begin(), d.end());
      break;
    }
    case onnx::TensorProto::BOOL: {
      v->type = ElemType::kBool;
      if (raw) {
        for (char c : rd) v->idata.push_back(c ? 1 : 0);
      } else {
        for (int32_t x : t.int32_data()) v->idata.push_back(x ? 1 : 0);
      }
      break;
    }
    default:
      return Status::Unsupported(what + ": tensor '" + t.name() + "' has element type " +
                                 std::to_string(t.data_type()) +
                                 " (the gpu engine reads float, float16, double, int64, int32, bool)");
  }
  const size_t got = v->type == ElemType::kFloat ? v->fdata.size() : v->idata.size();
  if (static_cast<int64_t>(got) != count) {
    return Status::InvalidModel(what + ": tensor '" + t.name() + "' holds " + std::to_string(got) +
                                " elements, its dims say " + std::to_string(count));
  }
  return Status::Ok();
}

namespace {

Result<ElemType> ElemTypeOf(int32_t onnx_type, const std::string& what) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::DOUBLE:
      return ElemType::kFloat;
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::INT32:
      return ElemType::kInt64;
    case onnx::TensorProto::BOOL:
      return ElemType::kBool;
    default:
      return Status::Unsupported(what + " has element type " + std::to_string(onnx_type) +
                                 " (the gpu engine takes float, float16, double, int64, int32, bool)");
  }
}

Status ConvertAttr(const onnx::AttributeProto& a, const std::string& where, Graph& g, Attr* out) {
  switch (a.type()) {
    case onnx::AttributeProto::INT:
      out->kind = Attr::kInt;
      out->i = a.i();
      return Status::Ok();
    case onnx::AttributeProto::FLOAT:
      out->kind = Attr::kFloat;
      out->f = a.f();
      return Status::Ok();
    case onnx::AttributeProto::INTS:
      out->kind = Attr::kInts;
      out->ints.assign(a.ints().begin(), a.ints().end());
      return Status::Ok();
    case onnx::AttributeProto::FLOATS:
      out->kind = Attr::kFloats;
      out->floats.assign(a.floats().begin(), a.floats().end());
      return Status::Ok();
    case onnx::AttributeProto::STRING:
      out->kind = Attr::kString;
      out->s = a.s();
      return Status::Ok();
    case onnx::AttributeProto::TENSOR: {
      Value v;
      v.name = where + ":" + a.name();
      VRSEG_RETURN_IF_ERROR(TensorToValue(a.t(), where + " attribute '" + a.name() + "'", &v));
      out->kind = Attr::kTensor;
      out->tensor_value = g.AddValue(std::move(v));
      return Status::Ok();
    }
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS:
      return Status::Unsupported(where + ": attribute '" + a.name() +
                                 "' is a nested graph (If/Loop/Scan), which the gpu engine does not run");
    default:
      return Status::Unsupported(where + ": attribute '" + a.name() + "' has a type (" +
                                 std::to_string(a.type()) + ") the gpu engine does not read");
  }
}

// A Constant node → its value (no node is kept).
Status ConstantNodeValue(const onnx::NodeProto& n, const std::string& where, Value* v) {
  if (n.attribute_size() != 1) {
    return Status::InvalidModel(where + ": a Constant needs exactly one value attribute");
  }
  const onnx::AttributeProto& a = n.attribute(0);
  v->is_const = true;
  v->shape_known = true;
  if (a.name() == "value") return TensorToValue(a.t(), where, v);
  if (a.name() == "value_float") {
    v->type = ElemType::kFloat;
    v->fdata = {a.f()};
  } else if (a.name() == "value_floats") {
    v->type = ElemType::kFloat;
    v->fdata.assign(a.floats().begin(), a.floats().end());
    v->shape = {Dim::Const(a.floats_size())};
  } else if (a.name() == "value_int") {
    v->type = ElemType::kInt64;
    v->idata = {a.i()};
  } else if (a.name() == "value_ints") {
    v->type = ElemType::kInt64;
    v->idata.assign(a.ints().begin(), a.ints().end());
    v->shape = {Dim::Const(a.ints_size())};
  } else {
    return Status::Unsupported(where + ": Constant attribute '" + a.name() +
                               "' (sparse or string constants) is not supported by the gpu engine");
  }
  return Status::Ok();
}

}  // namespace

Result<Graph> ImportOnnxBytes(const std::string& bytes, const std::string& source,
                              const ImportOptions& options) {
  if (options.min_batch < 1 || options.max_batch < options.min_batch) {
    return Status::InvalidArgument("batch range " + std::to_string(options.min_batch) + ":" +
                                   std::to_string(options.max_batch) + " is not a valid range");
  }
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    return Status::InvalidModel(source + ": not an ONNX model (protobuf parse failed)");
  }
  Graph g;
  g.source = source;
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") g.opset = op.version();
  }
  if (g.opset == 0) {
    return Status::Unsupported(source + ": the model imports no ai.onnx opset (only other domains)");
  }
  if (g.opset < 7 || g.opset > 17) {
    return Status::Unsupported(source + ": opset " + std::to_string(g.opset) +
                               " is not supported by the gpu engine (opsets 7-17)");
  }
  for (const auto& p : model.metadata_props()) g.metadata[p.key()] = p.value();

  const onnx::GraphProto& gp = model.graph();
  std::unordered_map<std::string, int> by_name;
  auto define = [&](const std::string& name, int idx, const std::string& what) -> Status {
    if (!by_name.emplace(name, idx).second) {
      return Status::InvalidModel(source + ": " + what + " '" + name + "' is defined twice");
    }
    return Status::Ok();
  };

  for (const auto& t : gp.initializer()) {
    Value v;
    v.name = t.name();
    VRSEG_RETURN_IF_ERROR(TensorToValue(t, source + " initializer", &v));
    VRSEG_RETURN_IF_ERROR(define(t.name(), g.AddValue(std::move(v)), "initializer"));
  }
  if (gp.sparse_initializer_size() > 0) {
    return Status::Unsupported(source + ": sparse initializers are not supported by the gpu engine");
  }

  for (const auto& in : gp.input()) {
    if (by_name.count(in.name())) continue;  // an initializer (old exporters list them as inputs)
    const std::string what = source + ": graph input '" + in.name() + "'";
    if (!in.type().has_tensor_type()) return Status::Unsupported(what + " is not a tensor");
    const auto& tt = in.type().tensor_type();
    VRSEG_ASSIGN_OR_RETURN(ElemType et, ElemTypeOf(tt.elem_type(), what));
    if (!tt.has_shape()) return Status::InvalidModel(what + " has no shape");
    Value v;
    v.name = in.name();
    v.type = et;
    v.shape_known = true;
    for (int d = 0; d < tt.shape().dim_size(); ++d) {
      const auto& dim = tt.shape().dim(d);
      const bool known = dim.has_dim_value() && dim.dim_value() >= 0;
      if (d == 0 && !known) {
        v.shape.push_back(Dim::Batch());
      } else if (!known) {
        return Status::InvalidModel(what + " has an unknown dimension " + std::to_string(d) +
                                    (dim.has_dim_param() ? " ('" + dim.dim_param() + "')" : "") +
                                    "; only dimension 0 (the batch) may vary");
      } else {
        v.shape.push_back(Dim::Const(dim.dim_value()));
      }
    }
    const int idx = g.AddValue(std::move(v));
    VRSEG_RETURN_IF_ERROR(define(in.name(), idx, "graph input"));
    g.inputs.push_back(idx);
  }

  std::set<std::string> supported(SupportedOps().begin(), SupportedOps().end());
  std::set<std::string> names;
  for (int ni = 0; ni < gp.node_size(); ++ni) {
    const onnx::NodeProto& np = gp.node(ni);
    std::string name = np.name();
    if (name.empty() || names.count(name)) {
      const std::string base = np.op_type() + "_" + std::to_string(ni);
      name = base;
      for (int k = 1; names.count(name); ++k) name = base + "_" + std::to_string(k);
    }
    names.insert(name);
    const std::string where = np.op_type() + " node '" + name + "'";
    if (!np.domain().empty() && np.domain() != "ai.onnx") {
      return Status::Unsupported(source + ": operator '" + np.domain() + "." + np.op_type() +
                                 "' (node '" + name + "') is not supported by the gpu engine");
    }
    if (np.op_type() == "Sum" && np.input_size() >= 1 && np.output_size() == 1) {
      // Sum of k inputs = a chain of k-1 Adds (Identity for one input); TF converters emit it.
      std::string acc = np.input(0);
      auto it = by_name.find(acc);
      if (it == by_name.end()) {
        return Status::InvalidModel(source + ": Sum node '" + name + "' reads '" + acc + "', which nothing defines");
      }
      int acc_v = it->second;
      const int k = np.input_size();
      for (int j = 1; j < std::max(k, 2); ++j) {
        Node n;
        n.name = j == 1 ? name : name + "/add" + std::to_string(j);
        n.op = k == 1 ? "Identity" : "Add";
        n.inputs.push_back(acc_v);
        if (k > 1) {
          auto jt = by_name.find(np.input(j));
          if (jt == by_name.end()) {
            return Status::InvalidModel(source + ": Sum node '" + name + "' reads '" + np.input(j) + "', which nothing defines");
          }
          n.inputs.push_back(jt->second);
        }
        Value v;
        v.name = (j == std::max(k, 2) - 1) ? np.output(0) : name + "/partial" + std::to_string(j);
        v.producer = static_cast<int>(g.nodes.size());
        acc_v = g.AddValue(std::move(v));
        VRSEG_RETURN_IF_ERROR(define(g.values[acc_v].name, acc_v, "value"));
        n.outputs.push_back(acc_v);
        g.nodes.push_back(std::move(n));
      }
      continue;
    }
    if (!supported.count(np.op_type())) {
      return Status::Unsupported(source + ": operator '" + np.op_type() + "' (node '" + name +
                                 "') is not supported by the gpu engine");
    }
    if (np.op_type() == "Constant") {
      if (np.output_size() != 1) return Status::InvalidModel(source + ": " + where + " needs one output");
      Value v;
      v.name = np.output(0);
      VRSEG_RETURN_IF_ERROR(ConstantNodeValue(np, source + ": " + where, &v));
      VRSEG_RETURN_IF_ERROR(define(np.output(0), g.AddValue(std::move(v)), "value"));
      continue;
    }
    Node n;
    n.name = name;
    n.op = np.op_type();
    for (const auto& a : np.attribute()) {
      Attr attr;
      VRSEG_RETURN_IF_ERROR(ConvertAttr(a, source + ": " + where, g, &attr));
      n.attrs[a.name()] = std::move(attr);
    }
    for (const std::string& in : np.input()) {
      if (in.empty()) {
        n.inputs.push_back(-1);
        continue;
      }
      auto it = by_name.find(in);
      if (it == by_name.end()) {
        return Status::InvalidModel(source + ": " + where + " reads '" + in +
                                    "', which no earlier node, input or initializer defines");
      }
      n.inputs.push_back(it->second);
    }
    while (!n.inputs.empty() && n.inputs.back() < 0) n.inputs.pop_back();
    int nout = np.output_size();
    while (nout > 0 && np.output(nout - 1).empty()) --nout;
    if (nout == 0) return Status::InvalidModel(source + ": " + where + " has no output");
    if ((n.op == "MaxPool" || n.op == "BatchNormalization") && nout > 1) {
      return Status::Unsupported(source + ": " + where + " has " + std::to_string(nout) +
                                 " outputs (indices / training statistics), which the gpu engine "
                                 "does not produce");
    }
    const int node_index = static_cast<int>(g.nodes.size());
    for (int o = 0; o < nout; ++o) {
      Value v;
      v.name = np.output(o).empty() ? name + ":unused" + std::to_string(o) : np.output(o);
      v.producer = node_index;
      const int idx = g.AddValue(std::move(v));
      if (!np.output(o).empty()) VRSEG_RETURN_IF_ERROR(define(np.output(o), idx, "value"));
      n.outputs.push_back(idx);
    }
    g.nodes.push_back(std::move(n));
  }

  for (const auto& out : gp.output()) {
    auto it = by_name.find(out.name());
    if (it == by_name.end()) {
      return Status::InvalidModel(source + ": graph output '" + out.name() + "' is never produced");
    }
    g.outputs.push_back(it->second);
  }
  if (g.outputs.empty()) return Status::InvalidModel(source + ": the graph has no outputs");
  return g;
}

Result<Graph> ImportOnnx(const std::string& path, const ImportOptions& options) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("model file '" + path + "' does not exist or cannot be opened");
  std::ostringstream ss;
  ss << f.rdbuf();
  if (!f && !f.eof()) return Status::IoError("cannot read model file '" + path + "'");
  return ImportOnnxBytes(ss.str(), path, options);
}

}  // namespace vrseg::engine
