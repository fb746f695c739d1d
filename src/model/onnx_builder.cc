#include "model/onnx_builder.h"

#include <cstring>

namespace vrseg::model {

std::string OnnxBuilder::Unique(const std::string& base) {
  std::string name = base.empty() ? "v" : base;
  for (int k = 1; used_.count(name); ++k) name = base + "__" + std::to_string(k);
  used_.insert(name);
  return name;
}

onnx::NodeProto* OnnxBuilder::AddNode(const std::string& op, const std::vector<std::string>& inputs,
                                      const std::vector<std::string>& outputs,
                                      const std::string& name_hint) {
  onnx::NodeProto* n = graph_->add_node();
  n->set_op_type(op);
  n->set_name(Unique("node:" + name_hint));
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

void OnnxBuilder::SetInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void OnnxBuilder::SetInts(onnx::NodeProto* n, const std::string& name,
                          const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void OnnxBuilder::SetFloat(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void OnnxBuilder::SetString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

std::string OnnxBuilder::AddFloatInit(const std::string& hint, const std::vector<int64_t>& dims,
                                      const std::vector<float>& data) {
  const std::string name = Unique(hint);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  std::string raw(data.size() * sizeof(float), '\0');
  if (!data.empty()) std::memcpy(raw.data(), data.data(), raw.size());
  t->set_raw_data(std::move(raw));
  return name;
}

std::string OnnxBuilder::AddInt64Init(const std::string& hint, const std::vector<int64_t>& dims,
                                      const std::vector<int64_t>& data) {
  const std::string name = Unique(hint);
  onnx::TensorProto* t = graph_->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) t->add_dims(d);
  std::string raw(data.size() * sizeof(int64_t), '\0');
  if (!data.empty()) std::memcpy(raw.data(), data.data(), raw.size());
  t->set_raw_data(std::move(raw));
  return name;
}

const std::string* OnnxBuilder::Cached(const std::string& key) const {
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : &it->second;
}

void OnnxBuilder::SetFloatType(onnx::ValueInfoProto* v, const std::string& name,
                               const std::vector<int64_t>& dims, const std::string& dim_param) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d < 0)
      dim->set_dim_param(dim_param);
    else
      dim->set_dim_value(d);
  }
}

std::vector<float> PermuteData(const std::vector<float>& data, const std::vector<int64_t>& dims,
                               const std::vector<int>& perm, std::vector<int64_t>* out_dims) {
  const size_t r = dims.size();
  out_dims->assign(r, 0);
  for (size_t i = 0; i < r; ++i) (*out_dims)[i] = dims[perm[i]];
  std::vector<int64_t> in_stride(r, 1);
  for (size_t i = r; i-- > 1;) in_stride[i - 1] = in_stride[i] * dims[i];
  std::vector<float> out(data.size());
  std::vector<int64_t> idx(r, 0);  // index in the output
  for (size_t o = 0; o < out.size(); ++o) {
    int64_t src = 0;
    for (size_t i = 0; i < r; ++i) src += idx[i] * in_stride[perm[i]];
    out[o] = data[src];
    for (size_t i = r; i-- > 0;) {
      if (++idx[i] < (*out_dims)[i]) break;
      idx[i] = 0;
    }
  }
  return out;
}

}  // namespace vrseg::model
