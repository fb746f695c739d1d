// TF.js graph model -> ONNX (opset 17). See include/vrseg/convert.h for the contract.
//
// Every TF tensor becomes a `Val`: its ONNX value name, its TF (logical) shape with kBatch marking
// the batch dimension, and its layout: kTf (the ONNX tensor is laid out as TF sees it) or kNchw
// (a rank-4 NHWC tensor of TF stored transposed to NCHW). Spatial ops produce kNchw; elementwise
// ops keep the layout of their inputs; Reshape/MatMul work in kTf. Constants never become nodes:
// each use materialises the initializer it needs (permuted for NCHW, OIHW for filters), cached.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "model/convert_internal.h"
#include "model/onnx_builder.h"
#include "model/tfjs_graph.h"
#include "vrseg/convert.h"

namespace vrseg {

namespace {

namespace fs = std::filesystem;
using model::OnnxBuilder;
using model::TfDType;
using model::TfGraph;
using model::TfNode;
using model::TfTensor;

// The (dynamic) batch dimension in a TF shape. A dim -k is "batch times k" (e.g. after a Reshape
// that folds the batch into rows); -1 is the batch itself.
constexpr int64_t kBatch = -1;
constexpr int kOpset = 17;
constexpr const char* kBatchParam = "N";

enum class Layout { kTf, kNchw };

struct Val {
  std::string onnx;  // ONNX value name ("" for a constant)
  Layout layout = Layout::kTf;
  std::vector<int64_t> shape;       // TF shape; kBatch marks the batch dimension
  const TfTensor* konst = nullptr;  // set for a TF Const (no ONNX value until used)
  std::string const_name;
};

const std::set<std::string>& SupportedOps() {
  static const std::set<std::string> ops = {"Placeholder",
                                            "Const",
                                            "Identity",
                                            "Conv2D",
                                            "DepthwiseConv2dNative",
                                            "Conv2DBackpropInput",
                                            "AvgPool",
                                            "MaxPool",
                                            "ResizeBilinear",
                                            "MatMul",
                                            "BiasAdd",
                                            "Add",
                                            "AddV2",
                                            "AddN",
                                            "Sub",
                                            "Mul",
                                            "RealDiv",
                                            "Maximum",
                                            "Minimum",
                                            "Relu",
                                            "Relu6",
                                            "Sigmoid",
                                            "Tanh",
                                            "Reshape",
                                            "ConcatV2"};
  return ops;
}

std::string ShapeStr(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ',';
    out += s[i] == kBatch ? std::string("N")
           : s[i] < 0     ? "N*" + std::to_string(-s[i])
                          : std::to_string(s[i]);
  }
  return out + "]";
}

std::string StripSuffix(const std::string& tensor) { return model::SplitTensorName(tensor).first; }

// TF output size and (before, after) padding of one spatial dimension.
struct Pad1 {
  int64_t out = 0, before = 0, after = 0;
};
Pad1 ForwardPad(int64_t in, int64_t k, int64_t s, int64_t d, bool same) {
  const int64_t eff = (k - 1) * d + 1;
  Pad1 p;
  if (same) {
    p.out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((p.out - 1) * s + eff - in, 0);
    p.before = total / 2;
    p.after = total - p.before;
  } else {
    p.out = in >= eff ? (in - eff) / s + 1 : 0;
  }
  return p;
}

class Converter {
 public:
  Converter(const TfGraph& g, const ConvertOptions& o, bool any_io, onnx::GraphProto* graph)
      : g_(g), opt_(o), any_io_(any_io), b_(graph) {}

  Status Run(ModelInfo* info, std::vector<std::string>* ops_used);

 private:
  Status Fail(const TfNode& n, const std::string& why) const {
    return Status::InvalidModel("TF.js model '" + g_.path + "': node '" + n.name + "' (" + n.op +
                                "): " + why);
  }
  Status Unsup(const TfNode& n, const std::string& why) const {
    return Status::Unsupported("TF.js model '" + g_.path + "': node '" + n.name + "' (" + n.op +
                               "): " + why);
  }

  Result<const Val*> In(const TfNode& n, size_t i);
  Result<const TfTensor*> ConstIn(const TfNode& n, size_t i);
  Status ExpectInputs(const TfNode& n, size_t count);

  std::string AsNchw(const Val& v, const std::string& hint);
  std::string AsTf(const Val& v, const std::string& hint);
  std::string ConstInit(const Val& v, Layout layout);
  std::string ScalarInit(float v);

  Status Convert(const TfNode& n);
  Status Placeholder(const TfNode& n);
  Status Elementwise(const TfNode& n, const std::string& onnx_op);
  Status Unary(const TfNode& n, const std::string& onnx_op);
  Status Conv(const TfNode& n);
  Status ConvTranspose(const TfNode& n);
  Status Pool(const TfNode& n);
  Status Resize(const TfNode& n);
  Status MatMul(const TfNode& n);
  Status Reshape(const TfNode& n);
  Status Concat(const TfNode& n);

  Status Set(const TfNode& n, Val v) {
    vals_[n.name] = std::move(v);
    return Status::Ok();
  }

  const TfGraph& g_;
  const ConvertOptions& opt_;
  const bool any_io_;  // tests: no checks of the image input / mask output
  OnnxBuilder b_;
  std::map<std::string, Val> vals_;  // TF node name -> value
  std::vector<std::string> input_nodes_;
  std::map<std::string, int> consumers_;  // TF node name -> data uses (+1 for a graph output)
  // Conv / ConvTranspose nodes without a bias yet, by ONNX output name: a following Add of a
  // per-channel constant becomes their bias input.
  std::map<std::string, std::pair<onnx::NodeProto*, int64_t>> biasable_;
  bool FoldBias(const TfNode& n, const std::vector<const Val*>& ins);
};

Status Converter::ExpectInputs(const TfNode& n, size_t count) {
  if (n.inputs.size() != count) {
    return Fail(n, "expected " + std::to_string(count) + " inputs, found " +
                       std::to_string(n.inputs.size()));
  }
  return Status::Ok();
}

Result<const Val*> Converter::In(const TfNode& n, size_t i) {
  auto [node, k] = model::SplitTensorName(n.inputs[i]);
  if (k != 0) return Unsup(n, "reads output " + std::to_string(k) + " of '" + node + "'");
  auto it = vals_.find(node);
  if (it == vals_.end())
    return Status::Internal("node '" + n.name + "': input '" + node + "' not converted");
  return &it->second;
}

Result<const TfTensor*> Converter::ConstIn(const TfNode& n, size_t i) {
  VRSEG_ASSIGN_OR_RETURN(const Val* v, In(n, i));
  if (!v->konst)
    return Unsup(n, "input " + std::to_string(i) + " ('" + n.inputs[i] + "') must be a constant");
  return v->konst;
}

std::string Converter::AsNchw(const Val& v, const std::string& hint) {
  if (v.konst) return ConstInit(v, Layout::kNchw);
  if (v.layout == Layout::kNchw) return v.onnx;
  const std::string key = "nchw:" + v.onnx;
  if (const std::string* c = b_.Cached(key)) return *c;
  const std::string out = b_.Unique(hint + "/nchw");
  auto* t = b_.AddNode("Transpose", {v.onnx}, {out}, out);
  OnnxBuilder::SetInts(t, "perm", {0, 3, 1, 2});
  b_.Cache(key, out);
  return out;
}

std::string Converter::AsTf(const Val& v, const std::string& hint) {
  if (v.konst) return ConstInit(v, Layout::kTf);
  if (v.layout == Layout::kTf) return v.onnx;
  const std::string key = "nhwc:" + v.onnx;
  if (const std::string* c = b_.Cached(key)) return *c;
  const std::string out = b_.Unique(hint + "/nhwc");
  auto* t = b_.AddNode("Transpose", {v.onnx}, {out}, out);
  OnnxBuilder::SetInts(t, "perm", {0, 2, 3, 1});
  b_.Cache(key, out);
  return out;
}

// A constant as an initializer. kNchw: left-padded to rank 4 and permuted to NCHW (broadcasts
// against NCHW activations exactly as the TF constant did against NHWC ones). int32 -> int64.
std::string Converter::ConstInit(const Val& v, Layout layout) {
  const std::string key = std::string(layout == Layout::kNchw ? "c4:" : "c:") + v.const_name;
  if (const std::string* c = b_.Cached(key)) return *c;
  const TfTensor& t = *v.konst;
  std::string name;
  if (t.dtype != TfDType::kFloat32) {
    std::vector<int64_t> data(t.i.begin(), t.i.end());
    name = b_.AddInt64Init(v.const_name, t.shape, data);
  } else if (layout == Layout::kTf || t.shape.empty()) {
    name = b_.AddFloatInit(v.const_name, t.shape, t.f);
  } else {
    std::vector<int64_t> dims = t.shape;
    while (dims.size() < 4) dims.insert(dims.begin(), 1);
    std::vector<int64_t> out_dims;
    std::vector<float> data = model::PermuteData(t.f, dims, {0, 3, 1, 2}, &out_dims);
    name = b_.AddFloatInit(v.const_name + "/nchw", out_dims, data);
  }
  b_.Cache(key, name);
  return name;
}

std::string Converter::ScalarInit(float v) {
  const std::string key = "scalar:" + std::to_string(v);
  if (const std::string* c = b_.Cached(key)) return *c;
  const std::string name =
      b_.AddFloatInit("vrseg/scalar_" + std::to_string(static_cast<int>(v)), {}, {v});
  b_.Cache(key, name);
  return name;
}

Status Converter::Placeholder(const TfNode& n) {
  if (n.attr.contains("dtype")) {
    const auto& d = n.attr["dtype"];
    if (!d.is_object() || !d.contains("type") || d["type"] != "DT_FLOAT") {
      return Unsup(n, "only float32 inputs are supported");
    }
  }
  std::vector<int64_t> shape;
  const auto& a = n.attr.contains("shape") ? n.attr["shape"] : nlohmann::json();
  if (!a.is_object() || !a.contains("shape") || !a["shape"].is_object() ||
      !a["shape"].contains("dim")) {
    return Unsup(n, "input has no static shape");
  }
  for (const auto& dim : a["shape"]["dim"]) {
    int64_t v = -1;
    if (dim.is_object() && dim.contains("size")) {
      const auto& s = dim["size"];
      if (s.is_string())
        v = std::strtoll(s.get<std::string>().c_str(), nullptr, 10);
      else if (s.is_number_integer())
        v = s.get<int64_t>();
    }
    shape.push_back(v);
  }
  if (shape.size() != 4) return Unsup(n, "input shape " + ShapeStr(shape) + " is not [N,H,W,C]");
  for (size_t i = 1; i < 4; ++i) {
    if (shape[i] <= 0)
      return Unsup(n, "input shape " + ShapeStr(shape) + " has a dynamic H, W or C");
  }
  if (shape[0] != 1 && shape[0] != -1)
    return Unsup(n, "input batch " + std::to_string(shape[0]) + " (expected 1 or -1)");
  if (opt_.dynamic_batch || shape[0] == -1) shape[0] = kBatch;
  // The graph input keeps the TF name (without ":0") and NHWC; NCHW inside.
  OnnxBuilder::SetFloatType(b_.graph()->add_input(), n.name, shape, kBatchParam);
  input_nodes_.push_back(n.name);
  Val in{n.name, Layout::kTf, shape, nullptr, ""};
  const std::string nchw = AsNchw(in, n.name);
  return Set(n, Val{nchw, Layout::kNchw, shape, nullptr, ""});
}

// Broadcast of two TF shapes (right-aligned).
bool Broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b,
               std::vector<int64_t>* out) {
  const size_t r = std::max(a.size(), b.size());
  out->assign(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t x = i < r - a.size() ? 1 : a[i - (r - a.size())];
    const int64_t y = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (x == y)
      (*out)[i] = x;
    else if (x == 1)
      (*out)[i] = y;
    else if (y == 1)
      (*out)[i] = x;
    else
      return false;
  }
  return true;
}

Status Converter::Elementwise(const TfNode& n, const std::string& onnx_op) {
  if (n.inputs.empty()) return Fail(n, "has no inputs");
  if (onnx_op != "Sum") VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 2));
  if (n.op == "BiasAdd" && n.attr.contains("data_format")) {
    VRSEG_ASSIGN_OR_RETURN(std::string fmt, model::AttrString(n, "data_format"));
    if (fmt != "NHWC") return Unsup(n, "data_format " + fmt);
  }
  std::vector<const Val*> ins;
  bool nchw = false;
  bool any_value = false;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    VRSEG_ASSIGN_OR_RETURN(const Val* v, In(n, i));
    ins.push_back(v);
    if (!v->konst) any_value = true;
    if (!v->konst && v->layout == Layout::kNchw) nchw = true;
  }
  std::vector<int64_t> shape = ins[0]->shape;
  for (size_t i = 1; i < ins.size(); ++i) {
    std::vector<int64_t> s;
    if (!Broadcast(shape, ins[i]->shape, &s)) {
      return Fail(n, "input shapes " + ShapeStr(shape) + " and " + ShapeStr(ins[i]->shape) +
                         " do not broadcast");
    }
    shape = s;
  }
  if (n.op == "BiasAdd" && (ins[1]->shape.size() != 1 || ins[1]->shape[0] != shape.back())) {
    return Fail(
        n, "bias shape " + ShapeStr(ins[1]->shape) + " does not match " + ShapeStr(ins[0]->shape));
  }
  if (!any_value) return Unsup(n, "all inputs are constants (constant folding is not implemented)");
  if (onnx_op == "Add" && FoldBias(n, ins)) return Status::Ok();
  std::vector<std::string> names;
  for (size_t i = 0; i < ins.size(); ++i) {
    const Val& v = *ins[i];
    if (nchw) {
      if (v.shape.size() > 4 || (!v.konst && v.shape.size() != 4)) {
        return Unsup(n, "input " + ShapeStr(v.shape) + " mixed with an NHWC image tensor");
      }
      names.push_back(AsNchw(v, n.name));
    } else {
      names.push_back(AsTf(v, n.name));
    }
  }
  const std::string out = b_.Unique(n.name);
  b_.AddNode(names.size() == 1 ? "Identity" : onnx_op, names, {out}, n.name);
  return Set(n, Val{out, nchw ? Layout::kNchw : Layout::kTf, shape, nullptr, ""});
}

// conv(x) + b, b a float constant of shape [C] (or [1,..,1,C]) and the conv read by nothing else:
// b becomes the Conv's bias input and this node an alias of the conv's output.
bool Converter::FoldBias(const TfNode& n, const std::vector<const Val*>& ins) {
  if (ins.size() != 2) return false;
  const int ci = ins[0]->konst ? 1 : 0;  // the conv side
  const Val* conv = ins[ci];
  const Val* bias = ins[1 - ci];
  if (conv->konst || !bias->konst || bias->konst->dtype != TfDType::kFloat32) return false;
  auto it = biasable_.find(conv->onnx);
  if (it == biasable_.end()) return false;
  const std::string producer = StripSuffix(n.inputs[ci]);
  const std::string& op = g_.nodes[g_.node_index.at(producer)].op;
  if ((op != "Conv2D" && op != "DepthwiseConv2dNative" && op != "Conv2DBackpropInput") ||
      consumers_[producer] != 1) {
    return false;
  }
  const auto& bs = bias->konst->shape;
  if (bs.empty() || bs.size() > 4 || bs.back() != it->second.second) return false;
  for (size_t i = 0; i + 1 < bs.size(); ++i) {
    if (bs[i] != 1) return false;
  }
  it->second.first->add_input(
      b_.AddFloatInit(bias->const_name + "/bias", {bs.back()}, bias->konst->f));
  biasable_.erase(it);
  vals_[n.name] = *conv;
  return true;
}

Status Converter::Unary(const TfNode& n, const std::string& onnx_op) {
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 1));
  VRSEG_ASSIGN_OR_RETURN(const Val* v, In(n, 0));
  if (v->konst) {
    if (onnx_op == "Identity") return Set(n, *v);  // a constant stays a constant
    return Unsup(n, "constant input (constant folding is not implemented)");
  }
  if (onnx_op == "Identity") return Set(n, *v);
  const std::string out = b_.Unique(n.name);
  if (onnx_op == "Relu6") {
    b_.AddNode("Clip", {v->onnx, ScalarInit(0.f), ScalarInit(6.f)}, {out}, n.name);
  } else {
    b_.AddNode(onnx_op, {v->onnx}, {out}, n.name);
  }
  return Set(n, Val{out, v->layout, v->shape, nullptr, ""});
}

// Shared checks of NHWC spatial ops: a rank-4 image input with static H, W, C.
Status CheckImage(const Val& v, const std::function<Status(const std::string&)>& fail) {
  if (v.konst) return fail("a constant image input is not supported");
  if (v.shape.size() != 4) return fail("input shape " + ShapeStr(v.shape) + " is not [N,H,W,C]");
  for (int i = 1; i < 4; ++i) {
    if (v.shape[i] <= 0) return fail("input shape " + ShapeStr(v.shape) + " is not static");
  }
  return Status::Ok();
}

struct Spatial {
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  bool same = false;
  std::vector<int64_t> explicit_pads;  // EXPLICIT padding: top, bottom, left, right
};

Result<Spatial> ReadSpatial(const TfNode& n, bool dilations,
                            const std::function<Status(const std::string&)>& fail,
                            const std::function<Status(const std::string&)>& unsup) {
  Spatial s;
  if (n.attr.contains("data_format")) {
    VRSEG_ASSIGN_OR_RETURN(std::string fmt, model::AttrString(n, "data_format"));
    if (fmt != "NHWC") return unsup("data_format " + fmt + " (only NHWC)");
  }
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> st, model::AttrInts(n, "strides"));
  if (st.size() != 4 || st[0] != 1 || st[3] != 1 || st[1] < 1 || st[2] < 1) {
    return fail("strides " + ShapeStr(st) + " (expected [1,sh,sw,1])");
  }
  s.sh = st[1];
  s.sw = st[2];
  if (dilations && model::HasAttr(n, "dilations")) {
    VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> dl, model::AttrInts(n, "dilations"));
    if (!dl.empty()) {
      if (dl.size() != 4 || dl[0] != 1 || dl[3] != 1 || dl[1] < 1 || dl[2] < 1) {
        return fail("dilations " + ShapeStr(dl) + " (expected [1,dh,dw,1])");
      }
      s.dh = dl[1];
      s.dw = dl[2];
    }
  }
  VRSEG_ASSIGN_OR_RETURN(std::string pad, model::AttrString(n, "padding"));
  if (pad == "SAME") {
    s.same = true;
  } else if (pad == "EXPLICIT") {
    VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> ep, model::AttrInts(n, "explicit_paddings"));
    if (ep.size() != 8 || ep[0] || ep[1] || ep[6] || ep[7]) {
      return fail("explicit_paddings " + ShapeStr(ep) + " (expected 8 values, spatial only)");
    }
    for (int64_t p : ep) {
      if (p < 0) return fail("negative explicit padding");
    }
    s.explicit_pads = {ep[2], ep[3], ep[4], ep[5]};
  } else if (pad != "VALID") {
    return unsup("padding '" + pad + "'");
  }
  return s;
}

Status Converter::Conv(const TfNode& n) {
  auto fail = [&](const std::string& w) { return Fail(n, w); };
  auto unsup = [&](const std::string& w) { return Unsup(n, w); };
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 2));
  VRSEG_ASSIGN_OR_RETURN(const Val* x, In(n, 0));
  VRSEG_RETURN_IF_ERROR(CheckImage(*x, fail));
  VRSEG_ASSIGN_OR_RETURN(const TfTensor* f, ConstIn(n, 1));
  VRSEG_ASSIGN_OR_RETURN(Spatial s, ReadSpatial(n, true, fail, unsup));
  if (f->dtype != TfDType::kFloat32 || f->shape.size() != 4) {
    return fail("filter '" + n.inputs[1] + "' must be float32 [kh,kw,cin,cout], is " +
                ShapeStr(f->shape));
  }
  const bool depthwise = n.op == "DepthwiseConv2dNative";
  const int64_t kh = f->shape[0], kw = f->shape[1], fi = f->shape[2], fo = f->shape[3];
  const int64_t c = x->shape[3];
  if (kh < 1 || kw < 1 || fi < 1 || fo < 1) return fail("empty filter " + ShapeStr(f->shape));
  int64_t group = 1, cout = fo;
  std::vector<int64_t> wdims;
  std::vector<float> w;
  if (depthwise) {
    if (fi != c) {
      return fail("filter " + ShapeStr(f->shape) + " expects " + std::to_string(fi) +
                  " input channels, input " + ShapeStr(x->shape) + " has " + std::to_string(c));
    }
    group = c;
    cout = c * fo;
    // [kh,kw,C,M] -> [C*M,1,kh,kw]: output channel c*M+m is group c.
    std::vector<int64_t> d;
    w = model::PermuteData(f->f, f->shape, {2, 3, 0, 1}, &d);
    wdims = {c * fo, 1, kh, kw};
  } else {
    if (c % fi != 0) {
      return fail("filter " + ShapeStr(f->shape) + " expects " + std::to_string(fi) +
                  " input channels, input " + ShapeStr(x->shape) + " has " + std::to_string(c));
    }
    group = c / fi;
    if (fo % group != 0) return fail("output channels not divisible by the group count");
    w = model::PermuteData(f->f, f->shape, {3, 2, 0, 1}, &wdims);  // HWIO -> OIHW
  }
  Pad1 ph, pw;
  if (!s.explicit_pads.empty()) {
    const int64_t eh = (kh - 1) * s.dh + 1, ew = (kw - 1) * s.dw + 1;
    const int64_t ih = x->shape[1] + s.explicit_pads[0] + s.explicit_pads[1];
    const int64_t iw = x->shape[2] + s.explicit_pads[2] + s.explicit_pads[3];
    ph = {ih >= eh ? (ih - eh) / s.sh + 1 : 0, s.explicit_pads[0], s.explicit_pads[1]};
    pw = {iw >= ew ? (iw - ew) / s.sw + 1 : 0, s.explicit_pads[2], s.explicit_pads[3]};
  } else {
    ph = ForwardPad(x->shape[1], kh, s.sh, s.dh, s.same);
    pw = ForwardPad(x->shape[2], kw, s.sw, s.dw, s.same);
  }
  if (ph.out < 1 || pw.out < 1) {
    return fail("filter " + ShapeStr(f->shape) + " does not fit input " + ShapeStr(x->shape));
  }
  const std::string key = std::string(depthwise ? "dw:" : "conv:") + n.inputs[1];
  std::string wname;
  if (const std::string* cached = b_.Cached(key)) {
    wname = *cached;
  } else {
    wname =
        b_.AddFloatInit(StripSuffix(n.inputs[1]) + (depthwise ? "/dw_oihw" : "/oihw"), wdims, w);
    b_.Cache(key, wname);
  }
  const std::string out = b_.Unique(n.name);
  auto* node = b_.AddNode("Conv", {AsNchw(*x, n.name), wname}, {out}, n.name);
  OnnxBuilder::SetInts(node, "kernel_shape", {kh, kw});
  OnnxBuilder::SetInts(node, "strides", {s.sh, s.sw});
  OnnxBuilder::SetInts(node, "dilations", {s.dh, s.dw});
  OnnxBuilder::SetInts(node, "pads", {ph.before, pw.before, ph.after, pw.after});
  OnnxBuilder::SetInt(node, "group", group);
  biasable_[out] = {node, cout};
  return Set(n, Val{out, Layout::kNchw, {x->shape[0], ph.out, pw.out, cout}, nullptr, ""});
}

Status Converter::ConvTranspose(const TfNode& n) {
  auto fail = [&](const std::string& w) { return Fail(n, w); };
  auto unsup = [&](const std::string& w) { return Unsup(n, w); };
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 3));
  VRSEG_ASSIGN_OR_RETURN(const TfTensor* sizes, ConstIn(n, 0));
  VRSEG_ASSIGN_OR_RETURN(const TfTensor* f, ConstIn(n, 1));
  VRSEG_ASSIGN_OR_RETURN(const Val* x, In(n, 2));
  VRSEG_RETURN_IF_ERROR(CheckImage(*x, fail));
  VRSEG_ASSIGN_OR_RETURN(Spatial s, ReadSpatial(n, true, fail, unsup));
  if (!s.explicit_pads.empty()) return unsup("EXPLICIT padding");
  if (sizes->dtype != TfDType::kInt32 || sizes->shape != std::vector<int64_t>{4}) {
    return fail("input_sizes must be int32 [4]");
  }
  if (f->dtype != TfDType::kFloat32 || f->shape.size() != 4) {
    return fail("filter must be float32 [kh,kw,cout,cin], is " + ShapeStr(f->shape));
  }
  const int64_t kh = f->shape[0], kw = f->shape[1], co = f->shape[2], ci = f->shape[3];
  const int64_t oh = sizes->i[1], ow = sizes->i[2];
  if (ci != x->shape[3]) {
    return fail("filter " + ShapeStr(f->shape) + " expects " + std::to_string(ci) +
                " input channels, input " + ShapeStr(x->shape) + " has " +
                std::to_string(x->shape[3]));
  }
  if (sizes->i[3] != co)
    return fail("input_sizes channels differ from the filter's " + std::to_string(co));
  if (oh < 1 || ow < 1) return fail("bad input_sizes");
  // The forward conv maps [oh, ow] to the input's [h, w]; its padding is the transpose's crop.
  const Pad1 fh = ForwardPad(oh, kh, s.sh, s.dh, s.same);
  const Pad1 fw = ForwardPad(ow, kw, s.sw, s.dw, s.same);
  if (fh.out != x->shape[1] || fw.out != x->shape[2]) {
    return fail("input_sizes " + ShapeStr({sizes->i[0], oh, ow, co}) +
                " is inconsistent with input " + ShapeStr(x->shape) +
                " under these strides and padding");
  }
  const int64_t full_h = (x->shape[1] - 1) * s.sh + (kh - 1) * s.dh + 1 - fh.before - fh.after;
  const int64_t full_w = (x->shape[2] - 1) * s.sw + (kw - 1) * s.dw + 1 - fw.before - fw.after;
  const int64_t oph = oh - full_h, opw = ow - full_w;
  if (oph < 0 || opw < 0 || oph >= std::max(s.sh, s.dh) || opw >= std::max(s.sw, s.dw)) {
    return fail("output size " + std::to_string(oh) + "x" + std::to_string(ow) + " not reachable");
  }
  std::vector<int64_t> wdims;
  std::vector<float> w =
      model::PermuteData(f->f, f->shape, {3, 2, 0, 1}, &wdims);  // -> [ci,co,kh,kw]
  const std::string wname = b_.AddFloatInit(StripSuffix(n.inputs[1]) + "/iohw", wdims, w);
  const std::string out = b_.Unique(n.name);
  auto* node = b_.AddNode("ConvTranspose", {AsNchw(*x, n.name), wname}, {out}, n.name);
  OnnxBuilder::SetInts(node, "kernel_shape", {kh, kw});
  OnnxBuilder::SetInts(node, "strides", {s.sh, s.sw});
  OnnxBuilder::SetInts(node, "dilations", {s.dh, s.dw});
  OnnxBuilder::SetInts(node, "pads", {fh.before, fw.before, fh.after, fw.after});
  OnnxBuilder::SetInts(node, "output_padding", {oph, opw});
  biasable_[out] = {node, co};
  return Set(n, Val{out, Layout::kNchw, {x->shape[0], oh, ow, co}, nullptr, ""});
}

Status Converter::Pool(const TfNode& n) {
  auto fail = [&](const std::string& w) { return Fail(n, w); };
  auto unsup = [&](const std::string& w) { return Unsup(n, w); };
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 1));
  VRSEG_ASSIGN_OR_RETURN(const Val* x, In(n, 0));
  VRSEG_RETURN_IF_ERROR(CheckImage(*x, fail));
  VRSEG_ASSIGN_OR_RETURN(Spatial s, ReadSpatial(n, false, fail, unsup));
  if (!s.explicit_pads.empty()) return unsup("EXPLICIT padding");
  VRSEG_ASSIGN_OR_RETURN(std::vector<int64_t> k, model::AttrInts(n, "ksize"));
  if (k.size() != 4 || k[0] != 1 || k[3] != 1 || k[1] < 1 || k[2] < 1) {
    return fail("ksize " + ShapeStr(k) + " (expected [1,kh,kw,1])");
  }
  const Pad1 ph = ForwardPad(x->shape[1], k[1], s.sh, 1, s.same);
  const Pad1 pw = ForwardPad(x->shape[2], k[2], s.sw, 1, s.same);
  if (ph.out < 1 || pw.out < 1)
    return fail("window " + ShapeStr(k) + " does not fit input " + ShapeStr(x->shape));
  const std::string out = b_.Unique(n.name);
  const bool avg = n.op == "AvgPool";
  auto* node = b_.AddNode(avg ? "AveragePool" : "MaxPool", {AsNchw(*x, n.name)}, {out}, n.name);
  OnnxBuilder::SetInts(node, "kernel_shape", {k[1], k[2]});
  OnnxBuilder::SetInts(node, "strides", {s.sh, s.sw});
  OnnxBuilder::SetInts(node, "pads", {ph.before, pw.before, ph.after, pw.after});
  if (avg) OnnxBuilder::SetInt(node, "count_include_pad", 0);  // TF averages the valid cells only
  return Set(n, Val{out, Layout::kNchw, {x->shape[0], ph.out, pw.out, x->shape[3]}, nullptr, ""});
}

Status Converter::Resize(const TfNode& n) {
  auto fail = [&](const std::string& w) { return Fail(n, w); };
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 2));
  VRSEG_ASSIGN_OR_RETURN(const Val* x, In(n, 0));
  VRSEG_RETURN_IF_ERROR(CheckImage(*x, fail));
  VRSEG_ASSIGN_OR_RETURN(const TfTensor* size, ConstIn(n, 1));
  if (size->dtype != TfDType::kInt32 || size->shape != std::vector<int64_t>{2} || size->i[0] < 1 ||
      size->i[1] < 1) {
    return fail("size must be a positive int32 [2]");
  }
  VRSEG_ASSIGN_OR_RETURN(bool align, model::AttrBool(n, "align_corners", false));
  VRSEG_ASSIGN_OR_RETURN(bool half, model::AttrBool(n, "half_pixel_centers", false));
  if (align && half) return fail("align_corners and half_pixel_centers are both set");
  const std::string mode = align ? "align_corners" : half ? "half_pixel" : "asymmetric";
  const std::string xin = AsNchw(*x, n.name);
  // An exact ratio (2x, 0.5x, ...) goes in `scales`: one constant, no shape arithmetic, and ONNX's
  // (x + 0.5) / scale - 0.5 is then bit-identical to TF's (x + 0.5) * (in / out) - 0.5. Other
  // ratios give `sizes` = [N, C] of the input (dynamic batch) ++ [H', W'].
  auto exact = [](int64_t in, int64_t out) {
    const float s = static_cast<float>(out) / static_cast<float>(in);
    return static_cast<double>(s) * in == static_cast<double>(out) &&
           static_cast<double>(s) == static_cast<double>(out) / in &&
           static_cast<double>(1.f / s) == static_cast<double>(in) / out;
  };
  std::string scales, sizes;
  if (exact(x->shape[1], size->i[0]) && exact(x->shape[2], size->i[1])) {
    scales =
        b_.AddFloatInit(n.name + "/scales", {4},
                        {1.f, 1.f, static_cast<float>(size->i[0]) / static_cast<float>(x->shape[1]),
                         static_cast<float>(size->i[1]) / static_cast<float>(x->shape[2])});
  } else {
    const std::string shp = b_.Unique(n.name + "/shape");
    b_.AddNode("Shape", {xin}, {shp}, shp);
    const std::string nc = b_.Unique(n.name + "/nc");
    b_.AddNode("Slice",
               {shp, b_.AddInt64Init(n.name + "/start", {1}, {0}),
                b_.AddInt64Init(n.name + "/end", {1}, {2})},
               {nc}, nc);
    sizes = b_.Unique(n.name + "/sizes");
    auto* cat =
        b_.AddNode("Concat", {nc, b_.AddInt64Init(n.name + "/hw", {2}, {size->i[0], size->i[1]})},
                   {sizes}, sizes);
    OnnxBuilder::SetInt(cat, "axis", 0);
  }
  const std::string out = b_.Unique(n.name);
  auto* node = b_.AddNode("Resize",
                          scales.empty() ? std::vector<std::string>{xin, "", "", sizes}
                                         : std::vector<std::string>{xin, "", scales},
                          {out}, n.name);
  OnnxBuilder::SetString(node, "mode", "linear");
  OnnxBuilder::SetString(node, "coordinate_transformation_mode", mode);
  return Set(
      n, Val{out, Layout::kNchw, {x->shape[0], size->i[0], size->i[1], x->shape[3]}, nullptr, ""});
}

Status Converter::MatMul(const TfNode& n) {
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 2));
  VRSEG_ASSIGN_OR_RETURN(const Val* a, In(n, 0));
  VRSEG_ASSIGN_OR_RETURN(const Val* bv, In(n, 1));
  VRSEG_ASSIGN_OR_RETURN(bool ta, model::AttrBool(n, "transpose_a", false));
  VRSEG_ASSIGN_OR_RETURN(bool tb, model::AttrBool(n, "transpose_b", false));
  if (a->shape.size() != 2 || bv->shape.size() != 2) {
    return Fail(
        n, "operands " + ShapeStr(a->shape) + " and " + ShapeStr(bv->shape) + " are not matrices");
  }
  if (a->konst) return Unsup(n, "constant left operand");
  const int64_t k_a = ta ? a->shape[0] : a->shape[1];
  const int64_t k_b = tb ? bv->shape[1] : bv->shape[0];
  const int64_t m = ta ? a->shape[1] : a->shape[0];
  const int64_t cols = tb ? bv->shape[0] : bv->shape[1];
  if (k_a != k_b || k_a < 0) {
    return Fail(n, "inner dimensions differ: " + ShapeStr(a->shape) + " x " + ShapeStr(bv->shape));
  }
  std::string an = a->onnx;
  if (ta) {
    an = b_.Unique(n.name + "/a_t");
    OnnxBuilder::SetInts(b_.AddNode("Transpose", {a->onnx}, {an}, an), "perm", {1, 0});
  }
  std::string bn;
  if (bv->konst) {
    if (bv->konst->dtype != TfDType::kFloat32) return Fail(n, "non-float weight");
    if (tb) {
      std::vector<int64_t> d;
      std::vector<float> data = model::PermuteData(bv->konst->f, bv->shape, {1, 0}, &d);
      bn = b_.AddFloatInit(bv->const_name + "/t", d, data);
    } else {
      bn = ConstInit(*bv, Layout::kTf);
    }
  } else if (tb) {
    bn = b_.Unique(n.name + "/b_t");
    OnnxBuilder::SetInts(b_.AddNode("Transpose", {bv->onnx}, {bn}, bn), "perm", {1, 0});
  } else {
    bn = bv->onnx;
  }
  const std::string out = b_.Unique(n.name);
  b_.AddNode("MatMul", {an, bn}, {out}, n.name);
  return Set(n, Val{out, Layout::kTf, {m, cols}, nullptr, ""});
}

Status Converter::Reshape(const TfNode& n) {
  VRSEG_RETURN_IF_ERROR(ExpectInputs(n, 2));
  VRSEG_ASSIGN_OR_RETURN(const Val* x, In(n, 0));
  VRSEG_ASSIGN_OR_RETURN(const TfTensor* st, ConstIn(n, 1));
  if (x->konst) return Unsup(n, "constant input (constant folding is not implemented)");
  if (st->dtype != TfDType::kInt32 || st->shape.size() != 1)
    return Fail(n, "shape must be an int32 vector");
  std::vector<int64_t> target(st->i.begin(), st->i.end());
  // x holds N * known elements when batched (a negative dim -k is "batch times k"), else known.
  bool batched = false;
  int64_t known = 1;
  for (int64_t d : x->shape) {
    if (d < 0) batched = true;
    known *= d < 0 ? -d : d;
  }
  int minus_at = -1;
  int64_t rest = 1;  // product of the target's dims other than the -1
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1 && minus_at < 0) {
      minus_at = static_cast<int>(i);
    } else if (target[i] < 0) {
      return Fail(n, "bad target shape " + ShapeStr(target));
    } else {
      rest *= target[i];
    }
  }
  // TF built the graph for its batch (1): the target matches `known` elements.
  const bool fits = minus_at < 0 ? rest == known : rest != 0 && known % rest == 0;
  if (!fits) return Fail(n, "cannot reshape " + ShapeStr(x->shape) + " to " + ShapeStr(target));
  std::vector<int64_t> out_shape = target;
  if (minus_at >= 0) out_shape[minus_at] = known / rest;
  if (batched) {
    // Let the batch ride on the first dimension: without a -1 it becomes -1 (it absorbs batch
    // times the rest); with the -1 first nothing changes; with a -1 elsewhere a first dimension of
    // 1 that is the input's batch becomes 0 (copy the input's batch).
    if (target.empty() || (minus_at < 0 && target[0] < 1)) {
      return Unsup(n, "reshape of a batched tensor to " + ShapeStr(target));
    }
    if (minus_at < 0) {
      target[0] = -1;
    } else if (minus_at != 0) {
      if (target[0] != 1 || x->shape.empty() || x->shape[0] != kBatch) {
        return Unsup(n, "cannot tell where the batch goes in reshape of " + ShapeStr(x->shape) +
                            " to " + ShapeStr(target));
      }
      target[0] = 0;
    }
    out_shape[0] = -out_shape[0];
  }
  // A rank-4 tensor with H = W = 1 has the same memory order in NHWC and NCHW: read an NCHW
  // input as it is, and give a [N,1,1,C] result as NCHW [N,C,1,1] (no Transpose either way).
  auto unit_hw = [](const std::vector<int64_t>& s) {
    return s.size() == 4 && s[1] == 1 && s[2] == 1;
  };
  const std::string in =
      x->layout == Layout::kNchw && unit_hw(x->shape) ? x->onnx : AsTf(*x, n.name);
  const bool out_nchw = unit_hw(out_shape);
  if (out_nchw) target = {target[0], target[3], 1, 1};
  const std::string out = b_.Unique(n.name);
  b_.AddNode(
      "Reshape",
      {in, b_.AddInt64Init(n.name + "/shape", {static_cast<int64_t>(target.size())}, target)},
      {out}, n.name);
  return Set(n, Val{out, out_nchw ? Layout::kNchw : Layout::kTf, out_shape, nullptr, ""});
}

Status Converter::Concat(const TfNode& n) {
  if (n.inputs.size() < 2) return Fail(n, "needs at least one value and an axis");
  VRSEG_ASSIGN_OR_RETURN(const TfTensor* ax, ConstIn(n, n.inputs.size() - 1));
  if (ax->dtype != TfDType::kInt32 || ax->NumElements() != 1)
    return Fail(n, "axis must be an int32 scalar");
  std::vector<const Val*> ins;
  bool nchw = false;
  for (size_t i = 0; i + 1 < n.inputs.size(); ++i) {
    VRSEG_ASSIGN_OR_RETURN(const Val* v, In(n, i));
    if (v->konst) return Unsup(n, "constant operands");
    ins.push_back(v);
    if (v->layout == Layout::kNchw) nchw = true;
  }
  const int64_t rank = static_cast<int64_t>(ins[0]->shape.size());
  int64_t axis = ax->i[0];
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank)
    return Fail(n, "axis " + std::to_string(ax->i[0]) + " out of range");
  std::vector<int64_t> shape = ins[0]->shape;
  for (size_t i = 1; i < ins.size(); ++i) {
    const auto& s = ins[i]->shape;
    bool ok = static_cast<int64_t>(s.size()) == rank;
    for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis || s[d] == shape[d];
    if (!ok || s[axis] < 0) {
      return Fail(
          n, "operand shapes " + ShapeStr(shape) + " and " + ShapeStr(s) + " differ off the axis");
    }
    shape[axis] += s[axis];
  }
  if (shape[axis] < 0 || (ins.size() > 0 && ins[0]->shape[axis] < 0))
    return Unsup(n, "concat along the batch");
  std::vector<std::string> names;
  for (const Val* v : ins)
    names.push_back(nchw && rank == 4 ? AsNchw(*v, n.name) : AsTf(*v, n.name));
  static const int64_t kToNchw[4] = {0, 2, 3, 1};
  const bool as_nchw = nchw && rank == 4;
  const std::string out = b_.Unique(n.name);
  auto* node = b_.AddNode("Concat", names, {out}, n.name);
  OnnxBuilder::SetInt(node, "axis", as_nchw ? kToNchw[axis] : axis);
  return Set(n, Val{out, as_nchw ? Layout::kNchw : Layout::kTf, shape, nullptr, ""});
}

Status Converter::Convert(const TfNode& n) {
  const std::string& op = n.op;
  if (op == "Const") {
    auto it = g_.weights.find(n.name);
    if (it == g_.weights.end()) {
      return Fail(n, "has no weight in weightsManifest");
    }
    // The node's declared shape (if any) must agree with the manifest.
    const auto& a = n.attr;
    if (a.contains("value") && a["value"].is_object() && a["value"].contains("tensor") &&
        a["value"]["tensor"].is_object() && a["value"]["tensor"].contains("tensorShape")) {
      const auto& ts = a["value"]["tensor"]["tensorShape"];
      std::vector<int64_t> declared;
      if (ts.is_object() && ts.contains("dim") && ts["dim"].is_array()) {
        for (const auto& d : ts["dim"]) {
          int64_t v = 1;
          if (d.is_object() && d.contains("size")) {
            if (d["size"].is_string())
              v = std::strtoll(d["size"].get<std::string>().c_str(), nullptr, 10);
            else if (d["size"].is_number_integer())
              v = d["size"].get<int64_t>();
          }
          declared.push_back(v);
        }
      }
      if (declared != it->second.shape) {
        return Fail(n, "declares shape " + ShapeStr(declared) + " but its weight has shape " +
                           ShapeStr(it->second.shape));
      }
    }
    return Set(n, Val{"", Layout::kTf, it->second.shape, &it->second, n.name});
  }
  if (op == "Placeholder") return Placeholder(n);
  if (op == "Identity") return Unary(n, "Identity");
  if (op == "Relu") return Unary(n, "Relu");
  if (op == "Relu6") return Unary(n, "Relu6");
  if (op == "Sigmoid") return Unary(n, "Sigmoid");
  if (op == "Tanh") return Unary(n, "Tanh");
  if (op == "Add" || op == "AddV2" || op == "BiasAdd") return Elementwise(n, "Add");
  if (op == "AddN") return Elementwise(n, "Sum");
  if (op == "Sub") return Elementwise(n, "Sub");
  if (op == "Mul") return Elementwise(n, "Mul");
  if (op == "RealDiv") return Elementwise(n, "Div");
  if (op == "Maximum") return Elementwise(n, "Max");
  if (op == "Minimum") return Elementwise(n, "Min");
  if (op == "Conv2D" || op == "DepthwiseConv2dNative") return Conv(n);
  if (op == "Conv2DBackpropInput") return ConvTranspose(n);
  if (op == "AvgPool" || op == "MaxPool") return Pool(n);
  if (op == "ResizeBilinear") return Resize(n);
  if (op == "MatMul") return MatMul(n);
  if (op == "Reshape") return Reshape(n);
  if (op == "ConcatV2") return Concat(n);
  return Unsup(n, "op is not supported");
}

Status Converter::Run(ModelInfo* info, std::vector<std::string>* ops_used) {
  // 1. Refuse unsupported ops up front: the first one in file order is named.
  for (const TfNode& n : g_.nodes) {
    if (!SupportedOps().count(n.op)) {
      return Status::Unsupported("TF.js model '" + g_.path + "': op '" + n.op + "' (node '" +
                                 n.name + "') is not supported by vrseg's converter");
    }
  }
  // 2. Outputs: the signature's, else the nodes nobody reads (Const excluded).
  std::vector<std::string> outputs;
  for (const auto& t : g_.outputs) outputs.push_back(t);
  if (outputs.empty()) {
    std::set<std::string> read;
    for (const TfNode& n : g_.nodes) {
      for (const auto& in : n.inputs) read.insert(model::SplitTensorName(in).first);
    }
    for (const TfNode& n : g_.nodes) {
      if (!read.count(n.name) && n.op != "Const" && n.op != "Placeholder")
        outputs.push_back(n.name);
    }
  }
  if (outputs.size() != 1) {
    return Status::Unsupported(
        "TF.js model '" + g_.path + "' has " + std::to_string(outputs.size()) +
        " outputs; vrseg converts models with exactly one output (the mask)");
  }
  for (const auto& t : outputs) {
    if (model::SplitTensorName(t).second != 0) {
      return Status::Unsupported("TF.js model '" + g_.path + "': output '" + t +
                                 "' is not output 0 of its node");
    }
  }
  // 3. Topological order of the nodes the outputs need (iterative DFS, cycle-checked).
  std::vector<int> order;
  std::vector<int> state(g_.nodes.size(), 0);  // 0 new, 1 on stack, 2 done
  for (const auto& t : outputs) {
    std::vector<std::pair<int, size_t>> stack{{g_.node_index.at(StripSuffix(t)), 0}};
    while (!stack.empty()) {
      auto& [idx, next] = stack.back();
      if (next == 0 && state[idx] == 2) {
        stack.pop_back();
        continue;
      }
      state[idx] = 1;
      const TfNode& n = g_.nodes[idx];
      if (next < n.inputs.size()) {
        const int child = g_.node_index.at(StripSuffix(n.inputs[next++]));
        if (state[child] == 1) {
          return Status::InvalidModel("TF.js model '" + g_.path +
                                      "': the graph has a cycle through node '" +
                                      g_.nodes[child].name + "'");
        }
        if (state[child] == 0) stack.push_back({child, 0});
        continue;
      }
      state[idx] = 2;
      order.push_back(idx);
      stack.pop_back();
    }
  }
  // Graph inputs and outputs keep the TF names: reserve them before naming anything else.
  for (int idx : order) {
    if (g_.nodes[idx].op == "Placeholder") b_.Reserve(g_.nodes[idx].name);
  }
  for (const auto& t : outputs) b_.Reserve(StripSuffix(t));
  for (int idx : order) {
    for (const auto& in : g_.nodes[idx].inputs) ++consumers_[StripSuffix(in)];
  }
  for (const auto& t : outputs) ++consumers_[StripSuffix(t)];
  std::set<std::string> ops;
  for (int idx : order) {
    VRSEG_RETURN_IF_ERROR(Convert(g_.nodes[idx]));
    ops.insert(g_.nodes[idx].op);
  }
  ops_used->assign(ops.begin(), ops.end());
  if (input_nodes_.size() != 1) {
    return Status::Unsupported("TF.js model '" + g_.path + "' has " +
                               std::to_string(input_nodes_.size()) +
                               " inputs; vrseg converts models with exactly one image input");
  }
  // 4. The output: back to NHWC under the TF name.
  const std::string out_name = StripSuffix(outputs[0]);
  const Val& ov = vals_.at(out_name);
  if (ov.konst)
    return Status::Unsupported("TF.js model '" + g_.path + "': the output is a constant");
  if (ov.layout == Layout::kNchw) {
    OnnxBuilder::SetInts(b_.AddNode("Transpose", {ov.onnx}, {out_name}, out_name), "perm",
                         {0, 2, 3, 1});
  } else {
    b_.AddNode("Identity", {ov.onnx}, {out_name}, out_name);
  }
  OnnxBuilder::SetFloatType(b_.graph()->add_output(), out_name, ov.shape, kBatchParam);

  // 5. What the model is.
  const Val& iv = vals_.at(input_nodes_[0]);
  info->input_name = input_nodes_[0];
  info->output_name = out_name;
  info->input_height = static_cast<int>(iv.shape[1]);
  info->input_width = static_cast<int>(iv.shape[2]);
  if (any_io_) return Status::Ok();
  if (iv.shape[3] != 3) {
    return Status::Unsupported("TF.js model '" + g_.path + "': input '" + input_nodes_[0] +
                               "' has " + std::to_string(iv.shape[3]) +
                               " channels (expected 3, RGB)");
  }
  if (ov.shape.size() != 4) {
    return Status::Unsupported("TF.js model '" + g_.path + "': output '" + out_name +
                               "' has shape " + ShapeStr(ov.shape) + " (expected [N,H,W,C])");
  }
  info->input_layout = TensorLayout::kNHWC;
  info->output_layout = TensorLayout::kNHWC;
  info->input_bgr = false;
  info->mean = {0.f, 0.f, 0.f};
  info->std = {1.f, 1.f, 1.f};
  info->resize_half_pixel = false;
  info->output_channels = static_cast<int>(ov.shape[3]);
  // Which op made the output (through Identity)?
  const TfNode* last = &g_.nodes[g_.node_index.at(out_name)];
  while (last->op == "Identity" && !last->inputs.empty()) {
    last = &g_.nodes[g_.node_index.at(StripSuffix(last->inputs[0]))];
  }
  if (ov.shape[3] == 1) {
    info->output_kind =
        last->op == "Sigmoid" ? OutputKind::kSigmoidProbability : OutputKind::kSigmoidLogit;
    info->person_channel = 0;
  } else if (ov.shape[3] == 2) {
    info->output_kind = OutputKind::kTwoClassLogits;
    info->person_channel = 1;
  } else {
    return Status::Unsupported(
        "TF.js model '" + g_.path + "': output '" + out_name + "' has " +
        std::to_string(ov.shape[3]) +
        " channels; vrseg cannot tell which is the person (expected 1 or 2)");
  }
  return Status::Ok();
}

}  // namespace

Result<ConvertReport> ConvertTfjsToOnnx(const std::string& model_json, const std::string& onnx_out,
                                        const ConvertOptions& options) {
  return model::ConvertTfjsToOnnxImpl(model_json, onnx_out, options, /*any_io=*/false);
}

namespace model {

Result<ConvertReport> ConvertTfjsToOnnxImpl(const std::string& model_json,
                                            const std::string& onnx_out,
                                            const ConvertOptions& options, bool any_io) {
  VRSEG_ASSIGN_OR_RETURN(TfGraph g, model::ReadTfjsGraph(model_json));
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("vrseg");
  m.set_producer_version("0.1.0");
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  ConvertReport report;
  report.tfjs_nodes = static_cast<int>(g.nodes.size());
  ModelInfo& info = report.info;
  Converter conv(g, options, any_io, m.mutable_graph());
  VRSEG_RETURN_IF_ERROR(conv.Run(&info, &report.ops_used));
  info.name = !options.name.empty() ? options.name : fs::path(model_json).stem().string();
  info.licence = options.licence;
  info.source = !options.source.empty()   ? options.source
                : !g.generated_by.empty() ? g.generated_by
                                          : model_json;
  m.mutable_graph()->set_name(info.name);
  m.set_doc_string("Converted by vrseg from the TF.js graph model " +
                   fs::path(model_json).filename().string());
  for (const auto& [k, v] : info.ToMetadata()) {
    auto* p = m.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  report.onnx_nodes = m.graph().node_size();
  // Write next to the target, then rename: a failed conversion never leaves half a file.
  const std::string tmp = onnx_out + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) return Status::IoError("cannot create ONNX file '" + tmp + "'");
    if (!m.SerializeToOstream(&f)) {
      f.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      return Status::IoError("cannot write ONNX file '" + tmp + "'");
    }
    f.close();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      return Status::IoError("cannot write ONNX file '" + tmp + "' (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, onnx_out, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Status::IoError("cannot move '" + tmp + "' to '" + onnx_out + "': " + ec.message());
  }
  return report;
}

}  // namespace model
}  // namespace vrseg
