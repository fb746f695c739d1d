// Helpers of the model tests: temp dirs, a TF.js graph-model writer for hand-made graphs, and a
// thin ONNX Runtime runner (the reference executor of converted models).
#pragma once

#include <gtest/gtest.h>
#include <onnxruntime_cxx_api.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace vrseg::testing {

namespace fs = std::filesystem;
using nlohmann::json;

// A fresh directory under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("vrseg_model_test_" + std::to_string(::getpid()) + "_" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::vector<float> ReadF32(const std::string& path) {
  const std::string s = ReadAll(path);
  std::vector<float> v(s.size() / 4);
  std::memcpy(v.data(), s.data(), v.size() * 4);
  return v;
}

inline std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// TF attribute values as TF.js writes them.
inline json AttrInts(const std::vector<int64_t>& v) {
  json l = json::array();
  for (int64_t x : v) l.push_back(std::to_string(x));
  return {{"list", {{"i", l}}}};
}
inline json AttrStr(const std::string& s) { return {{"s", Base64(s)}}; }
inline json AttrBool(bool b) { return {{"b", b}}; }

// Float -> IEEE half, round to nearest even (for writing float16-quantised weights).
inline uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff)
    return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    uint32_t h = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return static_cast<uint16_t>(sign | h);
}

// Builds a TF.js graph model (model.json + one weight shard) node by node.
class TfjsWriter {
 public:
  enum class Quant { kNone, kFloat16, kUint8, kUint16 };

  void Placeholder(const std::string& name, const std::vector<int64_t>& shape) {
    json dims = json::array();
    for (int64_t d : shape) dims.push_back({{"size", std::to_string(d)}});
    nodes_.push_back(
        {{"name", name},
         {"op", "Placeholder"},
         {"attr", {{"dtype", {{"type", "DT_FLOAT"}}}, {"shape", {{"shape", {{"dim", dims}}}}}}}});
  }
  // A float constant; quantised storage optional (uint8/uint16 use min/scale from the data).
  void Const(const std::string& name, const std::vector<int64_t>& shape,
             const std::vector<float>& v, Quant q = Quant::kNone) {
    json w = {{"name", name}, {"shape", shape}, {"dtype", "float32"}};
    if (q == Quant::kNone) {
      AppendRaw(v.data(), v.size() * 4);
    } else if (q == Quant::kFloat16) {
      w["quantization"] = {{"dtype", "float16"}, {"original_dtype", "float32"}};
      for (float x : v) {
        const uint16_t h = FloatToHalf(x);
        AppendRaw(&h, 2);
      }
    } else {
      const float lo = *std::min_element(v.begin(), v.end());
      const float hi = *std::max_element(v.begin(), v.end());
      const int levels = q == Quant::kUint8 ? 255 : 65535;
      const float scale = hi > lo ? (hi - lo) / levels : 1.f;
      w["quantization"] = {{"dtype", q == Quant::kUint8 ? "uint8" : "uint16"},
                           {"min", lo},
                           {"scale", scale},
                           {"original_dtype", "float32"}};
      for (float x : v) {
        const uint32_t qv = static_cast<uint32_t>(std::lround((x - lo) / scale));
        if (q == Quant::kUint8) {
          const uint8_t b = static_cast<uint8_t>(qv);
          AppendRaw(&b, 1);
        } else {
          const uint16_t b = static_cast<uint16_t>(qv);
          AppendRaw(&b, 2);
        }
      }
    }
    weights_.push_back(w);
    AddConstNode(name, shape, "DT_FLOAT");
  }
  void ConstInt(const std::string& name, const std::vector<int64_t>& shape,
                const std::vector<int32_t>& v) {
    AppendRaw(v.data(), v.size() * 4);
    weights_.push_back({{"name", name}, {"shape", shape}, {"dtype", "int32"}});
    AddConstNode(name, shape, "DT_INT32");
  }
  void Op(const std::string& name, const std::string& op, const std::vector<std::string>& inputs,
          json attr = json::object()) {
    nodes_.push_back({{"name", name}, {"op", op}, {"input", inputs}, {"attr", attr}});
  }
  void Output(const std::string& tensor) { outputs_.push_back(tensor); }

  json ModelJson(const std::string& shard) const {
    json sig_out = json::object();
    for (const auto& o : outputs_) sig_out[o] = {{"name", o}};
    return {{"format", "graph-model"},
            {"generatedBy", "vrseg tests"},
            {"convertedBy", "vrseg tests"},
            {"signature", {{"outputs", sig_out}}},
            {"modelTopology",
             {{"node", nodes_}, {"library", json::object()}, {"versions", json::object()}}},
            {"weightsManifest", json::array({{{"paths", {shard}}, {"weights", weights_}}})}};
  }
  // Writes <dir>/<stem>.json and <dir>/<stem>.bin; returns the json path.
  std::string Write(const TempDir& dir, const std::string& stem = "model") const {
    WriteAll(dir.File(stem + ".bin"), data_);
    WriteAll(dir.File(stem + ".json"), ModelJson(stem + ".bin").dump());
    return dir.File(stem + ".json");
  }
  const std::string& data() const { return data_; }

 private:
  void AppendRaw(const void* p, size_t n) { data_.append(static_cast<const char*>(p), n); }
  void AddConstNode(const std::string& name, const std::vector<int64_t>& shape, const char* dtype) {
    json dims = json::array();
    for (int64_t d : shape) dims.push_back({{"size", std::to_string(d)}});
    nodes_.push_back(
        {{"name", name},
         {"op", "Const"},
         {"attr",
          {{"value", {{"tensor", {{"dtype", dtype}, {"tensorShape", {{"dim", dims}}}}}}},
           {"dtype", {{"type", dtype}}}}}});
  }
  json nodes_ = json::array();
  json weights_ = json::array();
  std::vector<std::string> outputs_;
  std::string data_;
};

inline Ort::Env& SharedOrtEnv() {
  static Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "vrseg_model_tests");
  return env;
}

struct OrtOutput {
  std::vector<int64_t> shape;
  std::vector<float> data;
  std::string error;  // non-empty when ONNX Runtime failed
};

// Runs a one-input one-output float model under ONNX Runtime (CPU, 1 thread).
inline OrtOutput RunOrt(const std::string& onnx_path, const std::string& input_name,
                        const std::string& output_name, const std::vector<float>& input,
                        const std::vector<int64_t>& shape) {
  OrtOutput out;
  try {
    Ort::SessionOptions so;
    so.SetIntraOpNumThreads(1);
    so.SetInterOpNumThreads(1);
    Ort::Session session(SharedOrtEnv(), onnx_path.c_str(), so);
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::vector<float> in = input;
    Ort::Value t =
        Ort::Value::CreateTensor<float>(mem, in.data(), in.size(), shape.data(), shape.size());
    const char* in_names[] = {input_name.c_str()};
    const char* out_names[] = {output_name.c_str()};
    auto outs = session.Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
    auto info = outs[0].GetTensorTypeAndShapeInfo();
    out.shape = info.GetShape();
    const float* p = outs[0].GetTensorData<float>();
    out.data.assign(p, p + info.GetElementCount());
  } catch (const std::exception& e) {
    out.error = e.what();
  }
  return out;
}

inline float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.f;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  if (a.size() != b.size()) return INFINITY;
  return m;
}

inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

}  // namespace vrseg::testing
