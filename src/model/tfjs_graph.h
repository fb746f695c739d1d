// tfjs_graph.h (private to src/model) — a parsed TF.js graph model with dequantised weights.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "vrseg/status.h"

namespace vrseg::model {

enum class TfDType { kFloat32, kInt32, kBool };

// A constant: its TF shape and values (float32 in `f`, int32/bool in `i`).
struct TfTensor {
  TfDType dtype = TfDType::kFloat32;
  std::vector<int64_t> shape;
  std::vector<float> f;
  std::vector<int32_t> i;
  int64_t NumElements() const;
};

struct TfNode {
  std::string name;
  std::string op;
  std::vector<std::string> inputs;  // data inputs, "node" or "node:k"; control inputs dropped
  nlohmann::json attr;              // the node's "attr" object ({} when absent)
};

struct TfGraph {
  std::string path;          // the model.json path (for messages)
  std::string generated_by;  // "generatedBy", may be empty
  std::vector<TfNode> nodes;
  std::map<std::string, int> node_index;    // name -> index in nodes
  std::map<std::string, TfTensor> weights;  // Const node name -> value
  std::vector<std::string> inputs;   // signature input tensor names ("input_1:0"), may be empty
  std::vector<std::string> outputs;  // signature output tensor names, may be empty
};

// Parses model.json text (no weights). `path` only names the file in messages.
Result<TfGraph> ParseTfjsModelJson(const std::string& text, const std::string& path);

// Reads model.json and its weight shards (paths relative to the json's folder), dequantising
// quantised weights to float32 (int32 weights stored as uint8/uint16 are rounded).
Result<TfGraph> ReadTfjsGraph(const std::string& model_json);

// Splits "node:k" into ("node", k); "node" gives k = 0.
std::pair<std::string, int> SplitTensorName(const std::string& tensor);

// IEEE half -> float (subnormals, infinities and NaN included).
float HalfToFloat(uint16_t h);

// Attribute accessors; errors name the node and the attribute.
Result<std::vector<int64_t>> AttrInts(const TfNode& n, const std::string& key);
Result<std::string> AttrString(const TfNode& n, const std::string& key);  // base64-decoded "s"
Result<bool> AttrBool(const TfNode& n, const std::string& key, bool dflt);
bool HasAttr(const TfNode& n, const std::string& key);

}  // namespace vrseg::model
