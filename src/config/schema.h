// The config schema (private): every key, its type, range, default and field.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "vrseg/config.h"

namespace vrseg::config_internal {

enum class Kind { kBool, kInt, kFloat, kString, kEnum, kIntList, kColor };

// A parsed value: bool, int64 (ints), double (floats), string (strings and enum names), or a list
// of int64 (int lists and colours).
using Value = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>>;

struct KeySpec {
  std::string path;
  Kind kind = Kind::kInt;
  std::string description;
  // Numeric range (ints, floats, list elements); exclusive ends for floats like (0, 1].
  double min = 0;
  double max = 0;
  bool min_exclusive = false;
  bool max_exclusive = false;
  bool single_precision = false;   // a float field: rendered at float precision
  bool non_empty = false;          // strings that must not be ""
  std::vector<std::string> names;  // enum names
  std::function<Value(const Config&)> get;
  std::function<void(Config&, const Value&)> set;
};

// All keys, in file order (keys of one section are contiguous).
const std::vector<KeySpec>& Schema();
// The key with this exact path, or nullptr.
const KeySpec* FindKey(std::string_view path);
// True when `path` is a section ("batcher", "postprocess.temporal").
bool IsSection(std::string_view path);
// All section paths, in file order.
const std::vector<std::string>& Sections();

// Renders a value as YAML ("true", "8", "0.5", "\"ort\"", "[16, 8]").
std::string Render(const KeySpec& spec, const Value& value);
// "int", "float", ...; "[1, 64]", "(0, 1]", "run | drop", ...
std::string KindName(Kind kind);
std::string RangeText(const KeySpec& spec);
// The numeric interval alone: "[1, 64]", "(0.0, 1.0]".
std::string IntervalText(const KeySpec& spec);

}  // namespace vrseg::config_internal
