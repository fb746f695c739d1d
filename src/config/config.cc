// Config loading: YAML walk against the schema, overrides, cross-key checks, presets, dump.
#include "vrseg/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "config/schema.h"

namespace vrseg {

using config_internal::FindKey;
using config_internal::IsSection;
using config_internal::KeySpec;
using config_internal::Kind;
using config_internal::Schema;
using config_internal::Sections;
using config_internal::Value;

namespace {

// Presets compiled in from configs/*.yaml: {name, text}.
struct PresetEntry {
  const char* name;
  const char* yaml;
};
#include "config_presets.inc"

// Where each key was last set, for cross-key errors.
struct Origins {
  std::map<std::string, std::pair<int, std::string>> where;  // key → (order, "file:l:c: ")
  int next = 0;
  void Set(const std::string& key, std::string location) {
    where[key] = {next++, std::move(location)};
  }
};

std::string Location(std::string_view source, const YAML::Mark& mark) {
  if (mark.line < 0) return std::string(source) + ": ";
  return std::string(source) + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1) + ": ";
}

std::string_view Leaf(std::string_view path) {
  const size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? path : path.substr(dot + 1);
}

std::string_view Parent(std::string_view path) {
  const size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
}

// The nearest candidate to `unknown`, by edit distance on the whole path or on the last part
// (one more when the section differs), if it is near enough; "" otherwise.
std::string Nearest(std::string_view unknown, const std::vector<std::string>& candidates) {
  std::string best;
  int best_d = INT_MAX;
  for (const std::string& c : candidates) {
    int d = EditDistance(unknown, c);
    const int leaf_d =
        EditDistance(Leaf(unknown), Leaf(c)) + (Parent(unknown) == Parent(c) ? 0 : 1);
    d = std::min(d, leaf_d);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const int limit = std::max<int>(2, static_cast<int>(Leaf(unknown).size()) / 3);
  return best_d <= limit ? best : std::string();
}

std::vector<std::string> AllPaths() {
  std::vector<std::string> out = Sections();
  for (const KeySpec& k : Schema()) out.push_back(k.path);
  return out;
}

// The keys and sections directly inside `section` ("" for the top level).
std::string ValidHere(std::string_view section) {
  std::vector<std::string> names;
  auto add = [&names, section](const std::string& path) {
    if (Parent(path) != section) return;
    const std::string leaf(Leaf(path));
    if (std::find(names.begin(), names.end(), leaf) == names.end()) names.push_back(leaf);
  };
  for (const auto& s : Sections()) add(s);
  for (const KeySpec& k : Schema()) add(k.path);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out;
}

Status UnknownKey(const std::string& where, const std::string& path) {
  std::string msg = where + path + ": unknown " + (Parent(path).empty() ? "section" : "key");
  const std::string near = Nearest(path, AllPaths());
  if (!near.empty()) {
    msg += "; did you mean '" + near + "'?";
  } else {
    msg += " (valid " +
           std::string(Parent(path).empty() ? "sections"
                                            : "keys in '" + std::string(Parent(path)) + "'") +
           ": " + ValidHere(Parent(path)) + ")";
  }
  return Status::InvalidArgument(msg);
}

std::string Describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Scalar:
      return (node.Tag() == "!" ? "the string \"" : "'") + node.Scalar() +
             (node.Tag() == "!" ? "\"" : "'");
    default:
      return "an undefined value";
  }
}

bool Plain(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "!"; }

bool ParseInt(const std::string& s, int64_t* out) {
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (b != e && *b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && b != e;
}

bool ParseDouble(const std::string& s, double* out) {
  if (s.empty()) return false;
  const char* b = s.data();
  const char* e = s.data() + s.size();
  if (*b == '+') ++b;
  auto r = std::from_chars(b, e, *out);
  return r.ec == std::errc() && r.ptr == e && std::isfinite(*out);
}

bool InRange(const KeySpec& k, double v) {
  const bool lo = k.min_exclusive ? v > k.min : v >= k.min;
  const bool hi = k.max_exclusive ? v < k.max : v <= k.max;
  return lo && hi;
}

Status OutOfRange(const std::string& where, const KeySpec& k, const std::string& shown) {
  return Status::InvalidArgument(where + k.path + ": " + shown + " is out of range " +
                                 config_internal::IntervalText(k));
}

Status ParseIntElement(const std::string& where, const KeySpec& k, const YAML::Node& n,
                       int64_t* out) {
  if (!Plain(n) || !ParseInt(n.Scalar(), out)) {
    return Status::InvalidArgument(where + k.path + ": expected an integer, got " + Describe(n));
  }
  if (!InRange(k, static_cast<double>(*out))) return OutOfRange(where, k, n.Scalar());
  return Status::Ok();
}

// Converts `node` to the key's type and checks its range. `where` prefixes errors; list elements
// get their own position when `source` is given (a file).
Result<Value> ParseValue(const KeySpec& k, const YAML::Node& node, const std::string& where,
                         std::string_view source = {}) {
  const std::string head = where + k.path + ": ";
  switch (k.kind) {
    case Kind::kBool: {
      if (Plain(node)) {
        const std::string& s = node.Scalar();
        if (s == "true" || s == "True" || s == "TRUE") return Value(true);
        if (s == "false" || s == "False" || s == "FALSE") return Value(false);
      }
      return Status::InvalidArgument(head + "expected true or false, got " + Describe(node));
    }
    case Kind::kInt: {
      int64_t v = 0;
      VRSEG_RETURN_IF_ERROR(ParseIntElement(where, k, node, &v));
      return Value(v);
    }
    case Kind::kFloat: {
      double v = 0;
      if (!Plain(node) || !ParseDouble(node.Scalar(), &v)) {
        return Status::InvalidArgument(head + "expected a number, got " + Describe(node));
      }
      if (!InRange(k, v)) return OutOfRange(where, k, node.Scalar());
      return Value(v);
    }
    case Kind::kString: {
      std::string s;
      if (node.IsNull()) {
        s = "";
      } else if (node.IsScalar()) {
        s = node.Scalar();
      } else {
        return Status::InvalidArgument(head + "expected a string, got " + Describe(node));
      }
      if (k.non_empty && s.empty()) {
        return Status::InvalidArgument(head + "must not be empty");
      }
      return Value(s);
    }
    case Kind::kEnum: {
      if (!node.IsScalar()) {
        return Status::InvalidArgument(head + "expected one of " + config_internal::RangeText(k) +
                                       ", got " + Describe(node));
      }
      const std::string& s = node.Scalar();
      if (std::find(k.names.begin(), k.names.end(), s) != k.names.end()) return Value(s);
      std::string msg =
          head + "unknown value '" + s + "' (one of " + config_internal::RangeText(k) + ")";
      const std::string near = Nearest(s, k.names);
      if (!near.empty()) msg += "; did you mean '" + near + "'?";
      return Status::InvalidArgument(msg);
    }
    case Kind::kIntList:
    case Kind::kColor: {
      const char* what =
          k.kind == Kind::kColor ? "a list of 3 integers [R, G, B]" : "a list of integers";
      if (!node.IsSequence()) {
        return Status::InvalidArgument(head + "expected " + what + ", got " + Describe(node));
      }
      if (k.kind == Kind::kColor && node.size() != 3) {
        return Status::InvalidArgument(head + "expected " + what + ", got " +
                                       std::to_string(node.size()) + " values");
      }
      std::vector<int64_t> values;
      for (const YAML::Node& e : node) {
        int64_t v = 0;
        const std::string at =
            !source.empty() && e.Mark().line >= 0 ? Location(source, e.Mark()) : where;
        VRSEG_RETURN_IF_ERROR(ParseIntElement(at, k, e, &v));
        values.push_back(v);
      }
      return Value(std::move(values));
    }
  }
  return Status::Internal(head + "unhandled key type");
}

class Loader {
 public:
  Loader(std::string source, Config* config, Origins* origins)
      : source_(std::move(source)), config_(config), origins_(origins) {}

  Status LoadText(std::string_view text) {
    std::vector<YAML::Node> docs;
    try {
      docs = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
      return Status::InvalidArgument(Location(source_, e.mark) + "YAML syntax error: " + e.msg);
    } catch (const std::exception& e) {
      return Status::InvalidArgument(source_ + ": cannot parse YAML: " + e.what());
    }
    if (docs.size() > 1) {
      return Status::InvalidArgument(Location(source_, docs[1].Mark()) +
                                     "more than one YAML document; a config is one mapping");
    }
    if (docs.empty() || docs[0].IsNull()) return Status::Ok();  // empty file: defaults
    try {
      return Walk(docs[0], "");
    } catch (const std::exception& e) {
      return Status::InvalidArgument(source_ + ": " + e.what());
    }
  }

 private:
  Status Walk(const YAML::Node& map, const std::string& prefix) {
    if (!map.IsMap()) {
      return Status::InvalidArgument(
          Location(source_, map.Mark()) + (prefix.empty() ? "the top level" : prefix) +
          ": expected a mapping of " + (prefix.empty() ? "sections" : "keys") + ", got " +
          Describe(map));
    }
    std::set<std::string> seen;
    for (auto it = map.begin(); it != map.end(); ++it) {
      const YAML::Node key = it->first;  // copies: the iterator yields temporaries
      const YAML::Node value = it->second;
      const std::string at = Location(source_, key.Mark());
      if (!key.IsScalar()) {
        return Status::InvalidArgument(at + (prefix.empty() ? "" : prefix + ": ") +
                                       "a key must be a name, got " + Describe(key));
      }
      const std::string path = prefix.empty() ? key.Scalar() : prefix + "." + key.Scalar();
      if (!seen.insert(key.Scalar()).second) {
        return Status::InvalidArgument(at + path + ": duplicate key");
      }
      if (const KeySpec* spec = FindKey(path)) {
        const YAML::Mark vm = value.Mark();
        const std::string vat = vm.line >= 0 ? Location(source_, vm) : at;
        VRSEG_ASSIGN_OR_RETURN(Value v, ParseValue(*spec, value, vat, source_));
        spec->set(*config_, v);
        origins_->Set(path, vat);
      } else if (IsSection(path)) {
        if (value.IsNull()) continue;  // an empty section sets nothing
        if (!value.IsMap()) {
          return Status::InvalidArgument(at + path + ": is a section (keys: " + ValidHere(path) +
                                         "), got " + Describe(value));
        }
        VRSEG_RETURN_IF_ERROR(Walk(value, path));
      } else {
        return UnknownKey(at, path);
      }
    }
    return Status::Ok();
  }

  std::string source_;
  Config* config_;
  Origins* origins_;
};

Status ApplyOverrideImpl(Config* config, std::string_view assignment, Origins* origins) {
  const std::string where = "override '" + std::string(assignment) + "': ";
  const size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    return Status::InvalidArgument(where + "expected key.path=value");
  }
  std::string key(assignment.substr(0, eq));
  key.erase(0, key.find_first_not_of(" \t"));
  key.erase(key.find_last_not_of(" \t") + 1);
  const std::string text(assignment.substr(eq + 1));
  if (key.empty()) return Status::InvalidArgument(where + "missing key before '='");
  const KeySpec* spec = FindKey(key);
  if (spec == nullptr) {
    if (IsSection(key)) {
      return Status::InvalidArgument(where + key + ": is a section; set one of its keys (" +
                                     ValidHere(key) + ")");
    }
    return UnknownKey(where, key);
  }
  YAML::Node node;
  try {
    node = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(where + key + ": cannot parse value '" + text + "': " + e.msg);
  }
  VRSEG_ASSIGN_OR_RETURN(Value v, ParseValue(*spec, node, where));
  spec->set(*config, v);
  if (origins != nullptr) origins->Set(key, where);
  return Status::Ok();
}

// Cross-key checks; `keys` receives the keys involved in the first problem.
Status CrossCheck(const Config& c, std::vector<std::string>* keys) {
  const BatcherOptions& b = c.pipeline.batcher;
  for (int p : b.preferred_batch_sizes) {
    if (p > b.max_batch) {
      *keys = {"batcher.preferred_batch_sizes", "batcher.max_batch"};
      return Status::InvalidArgument("batcher.preferred_batch_sizes: " + std::to_string(p) +
                                     " is larger than batcher.max_batch (" +
                                     std::to_string(b.max_batch) + ")");
    }
  }
  if (b.max_queue < b.max_batch) {
    *keys = {"batcher.max_queue", "batcher.max_batch"};
    return Status::InvalidArgument("batcher.max_queue: " + std::to_string(b.max_queue) +
                                   " is smaller than batcher.max_batch (" +
                                   std::to_string(b.max_batch) + ")");
  }
  if (c.pipeline.infer_workers > c.pipeline.buffer_sets) {
    *keys = {"pipeline.infer_workers", "pipeline.buffer_sets"};
    return Status::InvalidArgument(
        "pipeline.infer_workers: " + std::to_string(c.pipeline.infer_workers) +
        " is more than pipeline.buffer_sets (" + std::to_string(c.pipeline.buffer_sets) + ")");
  }
  if (c.output.background.kind == BackgroundKind::kImage && c.output.background.image.empty()) {
    *keys = {"output.background.image", "output.background.kind"};
    return Status::InvalidArgument(
        "output.background.image: required when output.background.kind is image");
  }
  Status s = ValidatePipelineOptions(c.pipeline);
  if (!s.ok()) {
    const std::string& m = s.message();
    const size_t colon = m.find(':');
    if (colon != std::string::npos) *keys = {m.substr(0, colon)};
    return s;
  }
  return Status::Ok();
}

// ValidateConfig, with the location of the most recently set key involved.
Status ValidateWithOrigins(const Config& c, const Origins& origins) {
  std::vector<std::string> keys;
  Status s = CrossCheck(c, &keys);
  if (s.ok()) return s;
  int best = -1;
  std::string where;
  for (const std::string& k : keys) {
    auto it = origins.where.find(k);
    if (it != origins.where.end() && it->second.first > best) {
      best = it->second.first;
      where = it->second.second;
    }
  }
  return Status(s.code(), where + s.message());
}

Result<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound(path + ": no such config file");
  if (std::filesystem::is_directory(path, ec)) {
    return Status::IoError(path + ": is a directory, not a config file");
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::IoError(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return Status::IoError(path + ": read error");
  return ss.str();
}

Result<Config> Finish(Config config, const std::vector<std::string>& overrides, Origins& origins) {
  for (const std::string& o : overrides) {
    VRSEG_RETURN_IF_ERROR(ApplyOverrideImpl(&config, o, &origins));
  }
  VRSEG_RETURN_IF_ERROR(ValidateWithOrigins(config, origins));
  return config;
}

}  // namespace

int EditDistance(std::string_view a, std::string_view b) {
  std::vector<int> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = static_cast<int>(j);
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = static_cast<int>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      const int sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

BackendOptions BackendOptionsFor(const Config& config) {
  BackendOptions o = config.backend.options;
  o.max_batch = config.pipeline.batcher.max_batch;
  return o;
}

ProfilerOptions ProfilerOptionsFor(const Config& config) {
  ProfilerOptions o;
  o.enabled = config.profiling.enabled;
  o.max_trace_events = config.profiling.max_trace_events;
  o.memory_sample_interval_ms = config.profiling.memory_sample_interval_ms;
  o.saturation_threshold = config.profiling.saturation_threshold;
  return o;
}

CompositeOptions CompositeOptionsFor(const Config& config) {
  CompositeOptions o;
  o.background = config.output.background.kind;
  o.color = config.output.background.color;
  o.blur_radius = config.output.background.blur_radius;
  return o;
}

Result<SegmenterOptions> SegmenterOptionsFor(const Config& config) {
  SegmenterOptions s;
  s.backend = config.backend.name;
  s.model = config.model.name;
  s.backend_options = BackendOptionsFor(config);
  s.pipeline = config.pipeline;
  s.resize = config.model.resize;
  s.threshold = config.postprocess.threshold;
  s.threshold_value = config.postprocess.threshold_value;
  s.content = config.output.writer.content;
  s.composite = CompositeOptionsFor(config);
  s.temporal = config.postprocess.temporal;
  s.temporal_options = config.postprocess.temporal_options;
  s.refine = config.postprocess.refine;
  s.refine_options = config.postprocess.refine_options;
  s.decode_threads = config.input.reader.threads;
  s.stereo = config.input.stereo;
  s.device = config.backend.device;
  s.devices = config.backend.devices;
  if (config.output.background.kind == BackgroundKind::kImage) {
    const std::string& path = config.output.background.image;
    const std::string key = "output.background.image";
    if (path.empty()) {
      return Status::InvalidArgument(key + ": required when output.background.kind is image");
    }
    ReaderOptions ro;
    ro.format = PixelFormat::kRGB24;
    auto reader = VideoReader::Open(path, ro);
    if (!reader.ok()) return reader.status().WithContext(key);
    Frame frame;
    auto got = (*reader)->Read(&frame);
    if (!got.ok()) return got.status().WithContext(key);
    if (!*got) return Status::DataLoss(key + ": " + path + ": no picture in the file");
    auto owned = frame.Clone();  // the reader's buffer goes away with the reader
    if (!owned.ok()) return owned.status().WithContext(key);
    s.composite.image = std::move(*owned);
  }
  VRSEG_RETURN_IF_ERROR(ValidateSegmenterOptions(s));
  return s;
}

Result<Config> ParseConfig(std::string_view yaml, std::string_view source,
                           const std::vector<std::string>& overrides) {
  Config config;
  Origins origins;
  Loader loader(std::string(source), &config, &origins);
  VRSEG_RETURN_IF_ERROR(loader.LoadText(yaml));
  return Finish(std::move(config), overrides, origins);
}

Result<Config> LoadConfig(const std::string& path_or_preset,
                          const std::vector<std::string>& overrides) {
  if (path_or_preset.empty()) return ParseConfig("", "<defaults>", overrides);
  for (const PresetEntry& p : kPresets) {
    if (path_or_preset == p.name) {
      return ParseConfig(p.yaml, "preset " + path_or_preset, overrides);
    }
  }
  auto text = ReadFile(path_or_preset);
  if (!text.ok()) {
    // A bare word that is neither a file nor a preset: say which presets exist.
    if (text.status().code() == StatusCode::kNotFound &&
        path_or_preset.find_first_of("/.") == std::string::npos) {
      std::string names;
      for (const PresetEntry& p : kPresets)
        names += (names.empty() ? "" : ", ") + std::string(p.name);
      return Status::NotFound(path_or_preset +
                              ": neither a config file nor a preset (presets: " + names + ")");
    }
    return text.status();
  }
  return ParseConfig(*text, path_or_preset, overrides);
}

Status ApplyOverride(Config* config, std::string_view assignment) {
  Config copy = *config;
  VRSEG_RETURN_IF_ERROR(ApplyOverrideImpl(&copy, assignment, nullptr));
  *config = std::move(copy);
  return Status::Ok();
}

Status ValidateConfig(const Config& config) {
  std::vector<std::string> keys;
  return CrossCheck(config, &keys);
}

std::vector<std::string> ConfigPresetNames() {
  std::vector<std::string> out;
  for (const PresetEntry& p : kPresets) out.emplace_back(p.name);
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> ConfigPresetYaml(std::string_view name) {
  for (const PresetEntry& p : kPresets) {
    if (name == p.name) return std::string(p.yaml);
  }
  std::string names;
  for (const std::string& n : ConfigPresetNames()) names += (names.empty() ? "" : ", ") + n;
  return Status::NotFound("preset '" + std::string(name) + "': unknown (presets: " + names + ")");
}

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    const Config defaults;
    for (const KeySpec& k : Schema()) {
      out.push_back(ConfigKey{k.path, config_internal::KindName(k.kind),
                              config_internal::RangeText(k),
                              config_internal::Render(k, k.get(defaults)), k.description});
    }
    return out;
  }();
  return keys;
}

std::string ConfigToYaml(const Config& config) {
  std::string out;
  std::vector<std::string> open;  // the section path components currently open
  for (const KeySpec& k : Schema()) {
    std::vector<std::string> parts;
    for (size_t start = 0;;) {
      const size_t dot = k.path.find('.', start);
      parts.push_back(k.path.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    const size_t depth = parts.size() - 1;
    size_t common = 0;
    while (common < open.size() && common < depth && open[common] == parts[common]) ++common;
    open.resize(common);
    for (size_t i = common; i < depth; ++i) {
      out += std::string(2 * i, ' ') + parts[i] + ":\n";
      open.push_back(parts[i]);
    }
    out += std::string(2 * depth, ' ') + parts.back() + ": " +
           config_internal::Render(k, k.get(config)) + "\n";
  }
  return out;
}

}  // namespace vrseg
