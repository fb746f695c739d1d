#include "model/tfjs_graph.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

namespace vrseg::model {

namespace fs = std::filesystem;
using nlohmann::json;

int64_t TfTensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::pair<std::string, int> SplitTensorName(const std::string& tensor) {
  const size_t colon = tensor.rfind(':');
  if (colon == std::string::npos || colon + 1 == tensor.size()) return {tensor, 0};
  int k = 0;
  for (size_t i = colon + 1; i < tensor.size(); ++i) {
    if (tensor[i] < '0' || tensor[i] > '9') return {tensor, 0};
    k = k * 10 + (tensor[i] - '0');
    if (k > 1 << 20) return {tensor, 0};
  }
  return {tensor.substr(0, colon), k};
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: value = mant * 2^-24
      float v = std::ldexp(static_cast<float>(mant), -24);
      std::memcpy(&bits, &v, 4);
      bits |= sign;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

namespace {

Status Bad(const std::string& path, const std::string& what) {
  return Status::InvalidModel("TF.js model '" + path + "': " + what);
}

std::string Base64Decode(const std::string& in, bool* ok) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  *ok = true;
  for (char c : in) {
    if (c == '=') break;
    const int v = val(c);
    if (v < 0) {
      *ok = false;
      return "";
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

// A JSON number or a decimal string (TF.js writes int64 values as strings).
bool JsonToInt(const json& j, int64_t* out) {
  if (j.is_number_integer()) {
    *out = j.get<int64_t>();
    return true;
  }
  if (j.is_string()) {
    const std::string s = j.get<std::string>();
    if (s.empty() || s.size() > 19) return false;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (*end != '\0') return false;
    *out = v;
    return true;
  }
  return false;
}

Result<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound(what + " '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) return Status::IoError(what + " '" + path + "' is a directory");
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IoError("cannot open " + what + " '" + path + "'");
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) return Status::IoError("cannot read " + what + " '" + path + "'");
  return s.str();
}

Result<TfDType> ParseDType(const std::string& s, const std::string& path,
                           const std::string& weight) {
  if (s == "float32") return TfDType::kFloat32;
  if (s == "int32") return TfDType::kInt32;
  if (s == "bool") return TfDType::kBool;
  return Status::Unsupported("TF.js model '" + path + "': weight '" + weight + "' has dtype '" + s +
                             "' (supported: float32, int32, bool)");
}

}  // namespace

bool HasAttr(const TfNode& n, const std::string& key) { return n.attr.contains(key); }

Result<std::vector<int64_t>> AttrInts(const TfNode& n, const std::string& key) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidModel("node '" + n.name + "' (" + n.op + "): attribute '" + key + "' " +
                                why);
  };
  if (!n.attr.contains(key)) return bad("is missing");
  const json& a = n.attr[key];
  if (!a.is_object() || !a.contains("list") || !a["list"].is_object()) return bad("is not a list");
  std::vector<int64_t> out;
  if (!a["list"].contains("i")) return out;  // an empty list
  const json& l = a["list"]["i"];
  if (!l.is_array()) return bad("is not an integer list");
  for (const json& v : l) {
    int64_t x;
    if (!JsonToInt(v, &x)) return bad("has a non-integer element");
    out.push_back(x);
  }
  return out;
}

Result<std::string> AttrString(const TfNode& n, const std::string& key) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidModel("node '" + n.name + "' (" + n.op + "): attribute '" + key + "' " +
                                why);
  };
  if (!n.attr.contains(key)) return bad("is missing");
  const json& a = n.attr[key];
  if (!a.is_object() || !a.contains("s") || !a["s"].is_string()) return bad("is not a string");
  bool ok = false;
  std::string s = Base64Decode(a["s"].get<std::string>(), &ok);
  if (!ok) return bad("is not valid base64");
  return s;
}

Result<bool> AttrBool(const TfNode& n, const std::string& key, bool dflt) {
  if (!n.attr.contains(key)) return dflt;
  const json& a = n.attr[key];
  if (a.is_object() && !a.contains("b")) return false;  // proto3 JSON omits false
  if (!a.is_object() || !a["b"].is_boolean()) {
    return Status::InvalidModel("node '" + n.name + "' (" + n.op + "): attribute '" + key +
                                "' is not a boolean");
  }
  return a["b"].get<bool>();
}

Result<TfGraph> ParseTfjsModelJson(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad(path, "not valid JSON (truncated or corrupt?)");
  if (!j.is_object()) return Bad(path, "top level is not a JSON object");
  TfGraph g;
  g.path = path;
  if (j.contains("format") && j["format"].is_string() && j["format"] != "graph-model") {
    return Status::Unsupported("TF.js model '" + path + "': format '" +
                               j["format"].get<std::string>() +
                               "' is not supported (only 'graph-model')");
  }
  if (j.contains("generatedBy") && j["generatedBy"].is_string()) {
    g.generated_by = j["generatedBy"].get<std::string>();
  }
  if (!j.contains("modelTopology") || !j["modelTopology"].is_object()) {
    return Bad(path, "no 'modelTopology' object");
  }
  const json& topo = j["modelTopology"];
  if (!topo.contains("node") || !topo["node"].is_array()) {
    return Bad(
        path,
        "'modelTopology' has no 'node' array (a layers model? only graph models are supported)");
  }
  int idx = 0;
  for (const json& jn : topo["node"]) {
    const std::string where = "modelTopology.node[" + std::to_string(idx) + "]";
    if (!jn.is_object() || !jn.contains("name") || !jn["name"].is_string() || !jn.contains("op") ||
        !jn["op"].is_string()) {
      return Bad(path, where + " lacks a string 'name' or 'op'");
    }
    TfNode n;
    n.name = jn["name"].get<std::string>();
    n.op = jn["op"].get<std::string>();
    if (n.name.empty()) return Bad(path, where + " has an empty name");
    if (jn.contains("input")) {
      if (!jn["input"].is_array())
        return Bad(path, "node '" + n.name + "': 'input' is not an array");
      for (const json& in : jn["input"]) {
        if (!in.is_string()) return Bad(path, "node '" + n.name + "': an input is not a string");
        std::string s = in.get<std::string>();
        if (!s.empty() && s[0] == '^') continue;  // control dependency
        n.inputs.push_back(std::move(s));
      }
    }
    if (jn.contains("attr")) {
      if (!jn["attr"].is_object())
        return Bad(path, "node '" + n.name + "': 'attr' is not an object");
      n.attr = jn["attr"];
    } else {
      n.attr = json::object();
    }
    if (!g.node_index.emplace(n.name, static_cast<int>(g.nodes.size())).second) {
      return Bad(path, "two nodes are named '" + n.name + "'");
    }
    g.nodes.push_back(std::move(n));
    ++idx;
  }
  // Signature (optional): the tensor names of inputs and outputs.
  if (j.contains("signature") && j["signature"].is_object()) {
    for (const char* part : {"inputs", "outputs"}) {
      const json& sig = j["signature"];
      if (!sig.contains(part)) continue;
      if (!sig[part].is_object())
        return Bad(path, std::string("signature.") + part + " is not an object");
      for (auto it = sig[part].begin(); it != sig[part].end(); ++it) {
        std::string name = it.key();
        if (it.value().is_object() && it.value().contains("name") &&
            it.value()["name"].is_string()) {
          name = it.value()["name"].get<std::string>();
        }
        (std::string(part) == "inputs" ? g.inputs : g.outputs).push_back(name);
      }
    }
  }
  // Every data input must name a node.
  for (const TfNode& n : g.nodes) {
    for (const std::string& in : n.inputs) {
      if (!g.node_index.count(SplitTensorName(in).first)) {
        return Bad(path, "node '" + n.name + "' reads '" + in + "', which no node produces");
      }
    }
  }
  for (const auto* list : {&g.inputs, &g.outputs}) {
    for (const std::string& t : *list) {
      if (!g.node_index.count(SplitTensorName(t).first)) {
        return Bad(path, "signature names tensor '" + t + "', which no node produces");
      }
    }
  }
  return g;
}

Result<TfGraph> ReadTfjsGraph(const std::string& model_json) {
  VRSEG_ASSIGN_OR_RETURN(std::string text, ReadFile(model_json, "TF.js model"));
  VRSEG_ASSIGN_OR_RETURN(TfGraph g, ParseTfjsModelJson(text, model_json));
  json j = json::parse(text, nullptr, false);    // parsed fine above
  if (!j.contains("weightsManifest")) return g;  // a graph without weights
  const json& wm = j["weightsManifest"];
  if (!wm.is_array()) return Bad(model_json, "'weightsManifest' is not an array");
  const fs::path dir = fs::path(model_json).parent_path();
  for (size_t gi = 0; gi < wm.size(); ++gi) {
    const json& group = wm[gi];
    const std::string where = "weightsManifest[" + std::to_string(gi) + "]";
    if (!group.is_object() || !group.contains("paths") || !group["paths"].is_array() ||
        !group.contains("weights") || !group["weights"].is_array()) {
      return Bad(model_json, where + " lacks a 'paths' or 'weights' array");
    }
    // The group's shards, concatenated.
    std::string data;
    std::string shard_names;
    for (const json& p : group["paths"]) {
      if (!p.is_string() || p.get<std::string>().empty()) {
        return Bad(model_json, where + ".paths has a non-string entry");
      }
      const std::string shard = (dir / p.get<std::string>()).string();
      VRSEG_ASSIGN_OR_RETURN(std::string bytes, ReadFile(shard, "weight shard"));
      data += bytes;
      shard_names += (shard_names.empty() ? "" : ", ") + shard;
    }
    size_t offset = 0;
    for (const json& w : group["weights"]) {
      if (!w.is_object() || !w.contains("name") || !w["name"].is_string() || !w.contains("shape") ||
          !w["shape"].is_array() || !w.contains("dtype") || !w["dtype"].is_string()) {
        return Bad(model_json, where + ": a weight lacks 'name', 'shape' or 'dtype'");
      }
      const std::string name = w["name"].get<std::string>();
      TfTensor t;
      VRSEG_ASSIGN_OR_RETURN(t.dtype, ParseDType(w["dtype"].get<std::string>(), model_json, name));
      int64_t count = 1;
      for (const json& d : w["shape"]) {
        int64_t v;
        if (!JsonToInt(d, &v) || v < 0 || v > (int64_t{1} << 31)) {
          return Bad(model_json, "weight '" + name + "' has a bad shape");
        }
        t.shape.push_back(v);
        count *= v;
        if (count > (int64_t{1} << 31))
          return Bad(model_json, "weight '" + name + "' is too large");
      }
      // Storage: the dtype itself, or a quantised form.
      std::string qdtype;
      double scale = 1.0, min = 0.0;
      if (w.contains("quantization")) {
        const json& q = w["quantization"];
        if (!q.is_object() || !q.contains("dtype") || !q["dtype"].is_string()) {
          return Bad(model_json, "weight '" + name + "': 'quantization' lacks a dtype");
        }
        qdtype = q["dtype"].get<std::string>();
        if (qdtype == "uint8" || qdtype == "uint16") {
          if (!q.contains("scale") || !q["scale"].is_number() || !q.contains("min") ||
              !q["min"].is_number()) {
            return Bad(model_json, "weight '" + name + "': " + qdtype +
                                       " quantization lacks a numeric 'scale' or 'min'");
          }
          scale = q["scale"].get<double>();
          min = q["min"].get<double>();
        } else if (qdtype == "float16") {
          if (t.dtype != TfDType::kFloat32) {
            return Bad(model_json,
                       "weight '" + name + "': float16 quantization of a non-float weight");
          }
        } else {
          return Status::Unsupported("TF.js model '" + model_json + "': weight '" + name +
                                     "' has quantization dtype '" + qdtype +
                                     "' (supported: float16, uint8, uint16)");
        }
        if (t.dtype == TfDType::kBool) {
          return Bad(model_json, "weight '" + name + "': quantized bool weight");
        }
      }
      const size_t elem = qdtype == "uint8"                             ? 1
                          : (qdtype == "uint16" || qdtype == "float16") ? 2
                          : t.dtype == TfDType::kBool                   ? 1
                                                                        : 4;
      const size_t bytes = static_cast<size_t>(count) * elem;
      if (offset + bytes > data.size()) {
        return Status::DataLoss("TF.js model '" + model_json + "': weight shard(s) " + shard_names +
                                " hold " + std::to_string(data.size()) + " bytes, but weight '" +
                                name + "' needs bytes " + std::to_string(offset) + ".." +
                                std::to_string(offset + bytes) + " (truncated shard?)");
      }
      const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data()) + offset;
      if (t.dtype == TfDType::kFloat32)
        t.f.resize(count);
      else
        t.i.resize(count);
      for (int64_t k = 0; k < count; ++k) {
        if (qdtype == "float16") {
          t.f[k] = HalfToFloat(static_cast<uint16_t>(p[2 * k] | (p[2 * k + 1] << 8)));
        } else if (qdtype == "uint8" || qdtype == "uint16") {
          const uint32_t q =
              qdtype == "uint8" ? p[k] : static_cast<uint32_t>(p[2 * k] | (p[2 * k + 1] << 8));
          const double v = q * scale + min;
          if (t.dtype == TfDType::kFloat32)
            t.f[k] = static_cast<float>(v);
          else
            t.i[k] = static_cast<int32_t>(std::lround(v));
        } else if (t.dtype == TfDType::kFloat32) {
          std::memcpy(&t.f[k], p + 4 * k, 4);  // little-endian host assumed (x86-64, aarch64)
        } else if (t.dtype == TfDType::kInt32) {
          std::memcpy(&t.i[k], p + 4 * k, 4);
        } else {
          t.i[k] = p[k] != 0;
        }
      }
      offset += bytes;
      if (!g.weights.emplace(name, std::move(t)).second) {
        return Bad(model_json, "weight '" + name + "' appears twice in the manifest");
      }
    }
    if (offset != data.size()) {
      return Bad(model_json, "weight shard(s) " + shard_names + " hold " +
                                 std::to_string(data.size()) +
                                 " bytes but the manifest describes " + std::to_string(offset) +
                                 " (wrong shard for this model.json?)");
    }
  }
  return g;
}

}  // namespace vrseg::model
