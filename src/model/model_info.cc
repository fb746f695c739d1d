#include "vrseg/model_info.h"

#include <cstdlib>
#include <sstream>

namespace vrseg {

const char* OutputKindName(OutputKind k) {
  switch (k) {
    case OutputKind::kSigmoidProbability: return "sigmoid_probability";
    case OutputKind::kSigmoidLogit: return "sigmoid_logit";
    case OutputKind::kTwoClassLogits: return "two_class_logits";
    case OutputKind::kClassLogits: return "class_logits";
    case OutputKind::kAlphaMatte: return "alpha_matte";
  }
  return "unknown";
}

namespace {

std::string Floats(const std::array<float, 3>& v) {
  std::ostringstream s;
  s.precision(9);
  s << v[0] << "," << v[1] << "," << v[2];
  return s.str();
}

Status BadKey(const std::string& key, const std::string& value, const std::string& why) {
  return Status::InvalidModel("model metadata key '" + key + "' = '" + value + "': " + why);
}

Result<int> ParseInt(const std::map<std::string, std::string>& p, const std::string& key, int lo,
                     int hi) {
  auto it = p.find(key);
  if (it == p.end()) return Status::InvalidModel("model metadata lacks key '" + key + "'");
  char* end = nullptr;
  long v = std::strtol(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || v < lo || v > hi) {
    return BadKey(key, it->second, "expected an integer in [" + std::to_string(lo) + "," +
                                       std::to_string(hi) + "]");
  }
  return static_cast<int>(v);
}

Result<std::array<float, 3>> ParseFloats(const std::map<std::string, std::string>& p,
                                         const std::string& key, std::array<float, 3> dflt) {
  auto it = p.find(key);
  if (it == p.end()) return dflt;
  std::array<float, 3> out{};
  const char* s = it->second.c_str();
  for (int i = 0; i < 3; ++i) {
    char* end = nullptr;
    out[i] = std::strtof(s, &end);
    if (end == s) return BadKey(key, it->second, "expected three comma-separated numbers");
    s = end;
    if (i < 2) {
      if (*s != ',') return BadKey(key, it->second, "expected three comma-separated numbers");
      ++s;
    }
  }
  if (*s != '\0') return BadKey(key, it->second, "expected three comma-separated numbers");
  return out;
}

std::string Get(const std::map<std::string, std::string>& p, const std::string& key,
                const std::string& dflt = "") {
  auto it = p.find(key);
  return it == p.end() ? dflt : it->second;
}

}  // namespace

std::map<std::string, std::string> ModelInfo::ToMetadata() const {
  // Built from an initializer list: assigning literals into map entries trips GCC 12's false
  // -Wrestrict positive (PR 105329).
  std::map<std::string, std::string> m = {
      {"vrseg.format", "1"},
      {"vrseg.name", name},
      {"vrseg.input_name", input_name},
      {"vrseg.output_name", output_name},
      {"vrseg.input_width", std::to_string(input_width)},
      {"vrseg.input_height", std::to_string(input_height)},
      {"vrseg.input_layout", input_layout == TensorLayout::kNHWC ? "NHWC" : "NCHW"},
      {"vrseg.output_layout", output_layout == TensorLayout::kNHWC ? "NHWC" : "NCHW"},
      {"vrseg.channel_order", input_bgr ? "BGR" : "RGB"},
      {"vrseg.mean", Floats(mean)},
      {"vrseg.std", Floats(std)},
      {"vrseg.resize_half_pixel", resize_half_pixel ? "1" : "0"},
      {"vrseg.output_kind", OutputKindName(output_kind)},
      {"vrseg.output_channels", std::to_string(output_channels)},
      {"vrseg.person_channel", std::to_string(person_channel)},
  };
  if (!licence.empty()) m["vrseg.licence"] = licence;
  if (!source.empty()) m["vrseg.source"] = source;
  return m;
}

Result<ModelInfo> ModelInfo::FromMetadata(const std::map<std::string, std::string>& p) {
  if (p.find("vrseg.format") == p.end()) {
    return Status::InvalidModel(
        "model has no vrseg metadata (convert it with `vrseg convert`, or describe it in the "
        "config)");
  }
  if (Get(p, "vrseg.format") != "1") {
    return BadKey("vrseg.format", Get(p, "vrseg.format"), "unknown metadata version");
  }
  ModelInfo mi;
  mi.name = Get(p, "vrseg.name");
  mi.input_name = Get(p, "vrseg.input_name");
  mi.output_name = Get(p, "vrseg.output_name");
  VRSEG_ASSIGN_OR_RETURN(mi.input_width, ParseInt(p, "vrseg.input_width", 1, 16384));
  VRSEG_ASSIGN_OR_RETURN(mi.input_height, ParseInt(p, "vrseg.input_height", 1, 16384));
  for (auto [key, field] : {std::pair{"vrseg.input_layout", &mi.input_layout},
                            std::pair{"vrseg.output_layout", &mi.output_layout}}) {
    const std::string v = Get(p, key, "NHWC");
    if (v == "NHWC") *field = TensorLayout::kNHWC;
    else if (v == "NCHW") *field = TensorLayout::kNCHW;
    else return BadKey(key, v, "expected NHWC or NCHW");
  }
  const std::string order = Get(p, "vrseg.channel_order", "RGB");
  if (order != "RGB" && order != "BGR") return BadKey("vrseg.channel_order", order, "expected RGB or BGR");
  mi.input_bgr = order == "BGR";
  VRSEG_ASSIGN_OR_RETURN(mi.mean, ParseFloats(p, "vrseg.mean", mi.mean));
  VRSEG_ASSIGN_OR_RETURN(mi.std, ParseFloats(p, "vrseg.std", mi.std));
  for (float s : mi.std) {
    if (!(s > 0.f)) return BadKey("vrseg.std", Get(p, "vrseg.std"), "std must be positive");
  }
  mi.resize_half_pixel = Get(p, "vrseg.resize_half_pixel", "0") == "1";
  const std::string kind = Get(p, "vrseg.output_kind");
  bool found = false;
  for (OutputKind k : {OutputKind::kSigmoidProbability, OutputKind::kSigmoidLogit,
                       OutputKind::kTwoClassLogits, OutputKind::kClassLogits,
                       OutputKind::kAlphaMatte}) {
    if (kind == OutputKindName(k)) {
      mi.output_kind = k;
      found = true;
    }
  }
  if (!found) return BadKey("vrseg.output_kind", kind, "unknown output kind");
  VRSEG_ASSIGN_OR_RETURN(mi.output_channels, ParseInt(p, "vrseg.output_channels", 1, 4096));
  VRSEG_ASSIGN_OR_RETURN(mi.person_channel,
                         ParseInt(p, "vrseg.person_channel", 0, mi.output_channels - 1));
  mi.licence = Get(p, "vrseg.licence");
  mi.source = Get(p, "vrseg.source");
  return mi;
}

}  // namespace vrseg
