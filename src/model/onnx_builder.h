// onnx_builder.h (private to src/model) — small helpers to assemble an ONNX GraphProto.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace vrseg::model {

class OnnxBuilder {
 public:
  explicit OnnxBuilder(onnx::GraphProto* graph) : graph_(graph) {}

  // Marks `name` as taken (graph inputs/outputs are reserved before any node is added).
  void Reserve(const std::string& name) { used_.insert(name); }
  // `base` if free, else base__1, base__2, ...; the result is marked taken.
  std::string Unique(const std::string& base);

  onnx::NodeProto* AddNode(const std::string& op, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& outputs, const std::string& name_hint);

  static void SetInt(onnx::NodeProto* n, const std::string& name, int64_t v);
  static void SetInts(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v);
  static void SetFloat(onnx::NodeProto* n, const std::string& name, float v);
  static void SetString(onnx::NodeProto* n, const std::string& name, const std::string& v);

  // Initializers; the name is made unique from the hint. Returns the initializer's name.
  std::string AddFloatInit(const std::string& hint, const std::vector<int64_t>& dims,
                           const std::vector<float>& data);
  std::string AddInt64Init(const std::string& hint, const std::vector<int64_t>& dims,
                           const std::vector<int64_t>& data);

  // A cached initializer: the same `key` returns the same name without a second copy.
  const std::string* Cached(const std::string& key) const;
  void Cache(const std::string& key, const std::string& name) { cache_[key] = name; }

  // Adds a float tensor value_info (graph input or output); dims < 0 become symbolic `dim_param`.
  static void SetFloatType(onnx::ValueInfoProto* v, const std::string& name,
                           const std::vector<int64_t>& dims, const std::string& dim_param);

  onnx::GraphProto* graph() { return graph_; }

 private:
  onnx::GraphProto* graph_;
  std::set<std::string> used_;
  std::map<std::string, std::string> cache_;
};

// Transposes an N-d row-major array: out dims[i] = dims[perm[i]].
std::vector<float> PermuteData(const std::vector<float>& data, const std::vector<int64_t>& dims,
                               const std::vector<int>& perm, std::vector<int64_t>* out_dims);

}  // namespace vrseg::model
