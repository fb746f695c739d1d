// Config parsing: every key bound to its field, every error kind with source, line, column, key
// and suggestion, overrides, cross-key checks, and the YAML dump round trip.
#include "vrseg/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace vrseg {
namespace {

// Expects an INVALID_ARGUMENT whose message contains every one of `parts`.
void ExpectError(const Status& s, std::initializer_list<std::string> parts) {
  ASSERT_FALSE(s.ok()) << "expected an error containing " << *parts.begin();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  for (const std::string& p : parts) {
    EXPECT_NE(s.message().find(p), std::string::npos)
        << "missing '" << p << "' in: " << s.message();
  }
}

Status Parse(const std::string& yaml) { return ParseConfig(yaml, "test.yaml").status(); }

TEST(Config, EmptyTextGivesTheStructDefaults) {
  for (const char* text : {"", "# only a comment\n", "---\n", "batcher:\n"}) {
    auto c = ParseConfig(text, "t.yaml");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    // Reference: the option structs' own defaults.
    EXPECT_EQ(c->pipeline.batcher.max_batch, BatcherOptions{}.max_batch);
    EXPECT_EQ(c->pipeline.batcher.max_queue, BatcherOptions{}.max_queue);
    EXPECT_EQ(c->pipeline.buffer_sets, PipelineOptions{}.buffer_sets);
    EXPECT_EQ(c->backend.options.threads, BackendOptions{}.threads);
    EXPECT_EQ(c->output.writer.crf, WriterOptions{}.crf);
    EXPECT_EQ(c->postprocess.refine_options.radius, GuidedFilterOptions{}.radius);
    EXPECT_EQ(c->postprocess.temporal_options.factor, TemporalOptions{}.factor);
    EXPECT_EQ(c->profiling.max_trace_events, ProfilerOptions{}.max_trace_events);
    EXPECT_EQ(ConfigToYaml(*c), ConfigToYaml(Config{}));
  }
}

TEST(Config, DocumentedDefaultsMatchTheStructs) {
  std::map<std::string, std::string> d;
  for (const ConfigKey& k : ConfigKeys()) d[k.path] = k.default_value;
  EXPECT_EQ(d["batcher.max_batch"], std::to_string(BatcherOptions{}.max_batch));
  EXPECT_EQ(d["batcher.max_queue"], std::to_string(BatcherOptions{}.max_queue));
  EXPECT_EQ(d["batcher.preferred_batch_sizes"], "[]");
  EXPECT_EQ(d["batcher.late_policy"], "run");
  EXPECT_EQ(d["batcher.urgent_no_delay"], "true");
  EXPECT_EQ(d["pipeline.buffer_sets"], std::to_string(PipelineOptions{}.buffer_sets));
  EXPECT_EQ(d["backend.name"], "\"ort\"");
  EXPECT_EQ(d["backend.precision"], "auto");
  EXPECT_EQ(d["output.crf"], std::to_string(WriterOptions{}.crf));
  EXPECT_EQ(d["output.background.color"], "[0, 255, 0]");
  EXPECT_EQ(d["postprocess.temporal.factor"], "0.6");
  EXPECT_EQ(d["postprocess.refine.eps"], "0.0001");
  EXPECT_EQ(d["profiling.saturation_threshold"], "0.8");
  EXPECT_EQ(d["profiling.output_dir"], "\"\"");
  EXPECT_EQ(d["input.stereo"], "none");
}

// Every key, set in a file or by an override, lands in its own field (the checks name the
// fields directly: they are the reference for the one-to-one mapping).
struct Binding {
  std::string path;
  std::string value;
  std::function<bool(const Config&)> check;
};

// "a.b.c", "v" → "a:\n  b:\n    c: v\n"
std::string NestedYaml(const std::string& path, const std::string& value) {
  std::string out, indent;
  size_t start = 0;
  for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', start)) {
    out += indent + path.substr(start, dot - start) + ":\n";
    indent += "  ";
    start = dot + 1;
  }
  return out + indent + path.substr(start) + ": " + value + "\n";
}

TEST(Config, EveryKeyIsBoundToItsField) {
  using C = const Config&;
  const std::vector<Binding> bindings = {
      {"pipeline.preprocess_workers", "3", [](C c) { return c.pipeline.preprocess_workers == 3; }},
      {"pipeline.infer_workers", "2", [](C c) { return c.pipeline.infer_workers == 2; }},
      {"pipeline.postprocess_workers", "5",
       [](C c) { return c.pipeline.postprocess_workers == 5; }},
      {"pipeline.buffer_sets", "3", [](C c) { return c.pipeline.buffer_sets == 3; }},
      {"pipeline.sink_queue", "77", [](C c) { return c.pipeline.sink_queue == 77; }},
      {"batcher.max_batch", "9", [](C c) { return c.pipeline.batcher.max_batch == 9; }},
      {"batcher.max_delay_us", "1234", [](C c) { return c.pipeline.batcher.max_delay_us == 1234; }},
      {"batcher.preferred_batch_sizes", "[1, 1]",
       [](C c) {
         return c.pipeline.batcher.preferred_batch_sizes == std::vector<int>{1, 1};
       }},
      {"batcher.priority_levels", "5", [](C c) { return c.pipeline.batcher.priority_levels == 5; }},
      {"batcher.urgent_no_delay", "false", [](C c) { return !c.pipeline.batcher.urgent_no_delay; }},
      {"batcher.expected_latency_us", "4500",
       [](C c) { return c.pipeline.batcher.expected_latency_us == 4500; }},
      {"batcher.late_policy", "drop",
       [](C c) { return c.pipeline.batcher.late_policy == LatePolicy::kDrop; }},
      {"batcher.max_queue", "99", [](C c) { return c.pipeline.batcher.max_queue == 99; }},
      {"backend.name", "noop", [](C c) { return c.backend.name == "noop"; }},
      {"backend.threads", "6", [](C c) { return c.backend.options.threads == 6; }},
      {"backend.device_id", "3", [](C c) { return c.backend.options.device_id == 3; }},
      {"backend.precision", "fp16", [](C c) { return c.backend.options.precision == "fp16"; }},
      {"backend.device", "cuda", [](C c) { return c.backend.device == "cuda"; }},
      {"backend.devices", "0,1", [](C c) { return c.backend.devices == "0,1"; }},
      {"backend.engine_cache", "false", [](C c) { return !c.backend.options.engine_cache; }},
      {"backend.engine_cache_dir", "/tmp/engines",
       [](C c) { return c.backend.options.engine_cache_dir == "/tmp/engines"; }},
      {"model.name", "/tmp/m.onnx", [](C c) { return c.model.name == "/tmp/m.onnx"; }},
      {"model.resize", "letterbox", [](C c) { return c.model.resize == ResizeMode::kLetterbox; }},
      {"input.threads", "4", [](C c) { return c.input.reader.threads == 4; }},
      {"input.stereo", "top_bottom",
       [](C c) { return c.input.stereo == StereoLayout::kTopBottom; }},
      {"postprocess.threshold", "true", [](C c) { return c.postprocess.threshold; }},
      {"postprocess.threshold_value", "0.25",
       [](C c) { return c.postprocess.threshold_value == 0.25f; }},
      {"postprocess.temporal.enabled", "true", [](C c) { return c.postprocess.temporal; }},
      {"postprocess.temporal.factor", "0.5",
       [](C c) { return c.postprocess.temporal_options.factor == 0.5f; }},
      {"postprocess.temporal.hysteresis", "0.125",
       [](C c) { return c.postprocess.temporal_options.hysteresis == 0.125f; }},
      {"postprocess.refine.enabled", "true", [](C c) { return c.postprocess.refine; }},
      {"postprocess.refine.radius", "12",
       [](C c) { return c.postprocess.refine_options.radius == 12; }},
      {"postprocess.refine.eps", "0.001",
       [](C c) { return c.postprocess.refine_options.eps == 0.001f; }},
      {"postprocess.refine.subsample", "2",
       [](C c) { return c.postprocess.refine_options.subsample == 2; }},
      {"postprocess.refine.guidance", "mean",
       [](C c) { return c.postprocess.refine_options.guidance == GuidanceKind::kMean; }},
      {"output.content", "composite",
       [](C c) { return c.output.writer.content == OutputContent::kComposite; }},
      {"output.copy_audio", "false", [](C c) { return !c.output.writer.copy_audio; }},
      {"output.crf", "30", [](C c) { return c.output.writer.crf == 30; }},
      {"output.threads", "7", [](C c) { return c.output.writer.threads == 7; }},
      {"output.encoder", "h264_nvenc",
       [](C c) { return c.output.writer.encoder == "h264_nvenc"; }},
      {"output.background.kind", "blur",
       [](C c) { return c.output.background.kind == BackgroundKind::kBlur; }},
      {"output.background.color", "[10, 20, 30]",
       [](C c) {
         return c.output.background.color == std::array<uint8_t, 3>{10, 20, 30};
       }},
      {"output.background.image", "bg.png",
       [](C c) { return c.output.background.image == "bg.png"; }},
      {"output.background.blur_radius", "15",
       [](C c) { return c.output.background.blur_radius == 15; }},
      {"profiling.enabled", "true", [](C c) { return c.profiling.enabled; }},
      {"profiling.output_dir", "out/prof",
       [](C c) { return c.profiling.output_dir == "out/prof"; }},
      {"profiling.max_trace_events", "5000",
       [](C c) { return c.profiling.max_trace_events == 5000; }},
      {"profiling.memory_sample_interval_ms", "250",
       [](C c) { return c.profiling.memory_sample_interval_ms == 250; }},
      {"profiling.saturation_threshold", "0.9",
       [](C c) { return c.profiling.saturation_threshold == 0.9; }},
  };
  std::set<std::string> covered;
  const std::string defaults = ConfigToYaml(Config{});
  for (const Binding& b : bindings) {
    covered.insert(b.path);
    const std::string yaml = NestedYaml(b.path, b.value);
    auto c = ParseConfig(yaml, "t.yaml");
    ASSERT_TRUE(c.ok()) << yaml << c.status().ToString();
    EXPECT_TRUE(b.check(*c)) << yaml;
    EXPECT_FALSE(b.check(Config{})) << b.path << ": the test value must differ from the default";
    // Exactly one line of the dump changes: no other field is touched.
    const std::string dump = ConfigToYaml(*c);
    std::istringstream da(defaults), db(dump);
    std::string la, lb;
    int changed = 0;
    while (std::getline(da, la) && std::getline(db, lb)) changed += la != lb;
    EXPECT_EQ(changed, 1) << b.path;
    // The same through an override.
    Config o;
    ASSERT_TRUE(ApplyOverride(&o, b.path + "=" + b.value).ok()) << b.path;
    EXPECT_TRUE(b.check(o)) << b.path;
    EXPECT_EQ(ConfigToYaml(o), dump) << b.path;
  }
  std::set<std::string> schema;
  for (const ConfigKey& k : ConfigKeys()) schema.insert(k.path);
  EXPECT_EQ(covered, schema);
}

TEST(Config, DerivedOptionStructs) {
  auto c = ParseConfig(
      "batcher: {max_batch: 8}\nbackend: {threads: 3, precision: fp16}\n"
      "profiling: {enabled: true, max_trace_events: 10, memory_sample_interval_ms: 0, "
      "saturation_threshold: 0.5}\noutput: {background: {kind: blur, blur_radius: 9, color: [1, 2, "
      "3]}}",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const BackendOptions b = BackendOptionsFor(*c);
  EXPECT_EQ(b.max_batch, 8);
  EXPECT_EQ(b.threads, 3);
  EXPECT_EQ(b.precision, "fp16");
  const ProfilerOptions p = ProfilerOptionsFor(*c);
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.max_trace_events, 10);
  EXPECT_EQ(p.memory_sample_interval_ms, 0);
  EXPECT_EQ(p.saturation_threshold, 0.5);
  const CompositeOptions k = CompositeOptionsFor(*c);
  EXPECT_EQ(k.background, BackgroundKind::kBlur);
  EXPECT_EQ(k.blur_radius, 9);
  EXPECT_EQ(k.color, (std::array<uint8_t, 3>{1, 2, 3}));
}

// ---- errors ----------------------------------------------------------------------------------

TEST(ConfigErrors, UnknownKeyWithSuggestionAndPosition) {
  // line 3, column 3: "max_bacth"
  ExpectError(
      Parse("pipeline:\n  buffer_sets: 2\nbatcher:\n  max_bacth: 4\n"),
      {"test.yaml:4:3:", "batcher.max_bacth", "unknown key", "did you mean 'batcher.max_batch'?"});
}

TEST(ConfigErrors, KeyInTheWrongSectionSuggestsTheRightOne) {
  ExpectError(Parse("pipeline:\n  max_batch: 4\n"),
              {"test.yaml:2:3:", "pipeline.max_batch", "did you mean 'batcher.max_batch'?"});
}

TEST(ConfigErrors, UnknownSectionWithSuggestion) {
  ExpectError(Parse("# c\nbacher:\n  max_batch: 4\n"),
              {"test.yaml:2:1:", "bacher: unknown section", "did you mean 'batcher'?"});
  ExpectError(Parse("profilng: {enabled: true}"), {"did you mean 'profiling'?"});
}

TEST(ConfigErrors, NothingNearListsTheValidKeys) {
  ExpectError(Parse("batcher:\n  zzzzzzzzzzzz: 1\n"),
              {"test.yaml:2:3:", "batcher.zzzzzzzzzzzz: unknown key", "valid keys in 'batcher'",
               "max_batch", "late_policy"});
  ExpectError(Parse("qqqqqqqqq: 1\n"),
              {"unknown section", "valid sections", "pipeline", "profiling"});
}

TEST(ConfigErrors, WrongTypes) {
  ExpectError(Parse("batcher:\n  max_batch: abc\n"),
              {"test.yaml:2:14:", "batcher.max_batch", "expected an integer, got 'abc'"});
  ExpectError(Parse("batcher:\n  max_batch: [1, 2]\n"),
              {"test.yaml:2:14:", "batcher.max_batch", "expected an integer, got a list"});
  ExpectError(Parse("batcher:\n  max_batch: {a: 1}\n"), {"expected an integer, got a mapping"});
  ExpectError(Parse("batcher:\n  max_batch: \"8\"\n"),
              {"batcher.max_batch", "expected an integer, got the string \"8\""});
  ExpectError(Parse("batcher:\n  max_batch: 2.5\n"), {"expected an integer, got '2.5'"});
  ExpectError(Parse("batcher:\n  max_batch:\n"), {"batcher.max_batch", "got nothing"});
  ExpectError(Parse("batcher:\n  urgent_no_delay: yes\n"),
              {"batcher.urgent_no_delay", "expected true or false, got 'yes'"});
  ExpectError(Parse("batcher:\n  preferred_batch_sizes: 8\n"),
              {"batcher.preferred_batch_sizes", "expected a list of integers, got '8'"});
  ExpectError(Parse("batcher:\n  preferred_batch_sizes: [8, x]\n"),
              {"batcher.preferred_batch_sizes", "expected an integer, got 'x'"});
  ExpectError(Parse("postprocess:\n  threshold_value: high\n"),
              {"test.yaml:2:20:", "postprocess.threshold_value", "expected a number, got 'high'"});
  ExpectError(Parse("backend:\n  name: [ort]\n"),
              {"backend.name", "expected a string, got a list"});
  ExpectError(Parse("batcher:\n  late_policy: [run]\n"),
              {"batcher.late_policy", "expected one of run | drop, got a list"});
  ExpectError(Parse("output:\n  background:\n    color: red\n"),
              {"test.yaml:3:12:", "output.background.color", "expected a list of 3 integers"});
  ExpectError(Parse("batcher: 4\n"),
              {"test.yaml:1:1:", "batcher: is a section", "max_batch", "got '4'"});
  ExpectError(Parse("- a\n- b\n"), {"the top level: expected a mapping of sections, got a list"});
  ExpectError(Parse("just a string\n"), {"the top level", "got 'just a string'"});
  ExpectError(Parse("? [a, b]\n: 1\n"), {"a key must be a name"});
}

TEST(ConfigErrors, OutOfRange) {
  ExpectError(Parse("batcher:\n  max_batch: 0\n"),
              {"test.yaml:2:14:", "batcher.max_batch: 0 is out of range [1, 1024]"});
  ExpectError(Parse("batcher:\n  max_batch: 1025\n"), {"1025 is out of range [1, 1024]"});
  ExpectError(Parse("batcher:\n  max_batch: 99999999999999999999\n"),
              {"batcher.max_batch", "expected an integer"});
  ExpectError(Parse("batcher:\n  max_delay_us: -1\n"),
              {"batcher.max_delay_us: -1 is out of range"});
  ExpectError(Parse("pipeline:\n  preprocess_workers: 65\n"),
              {"pipeline.preprocess_workers: 65 is out of range [1, 64]"});
  // Exclusive float bounds: factor in (0, 1], hysteresis in [0, 1).
  ExpectError(Parse("postprocess:\n  temporal:\n    factor: 0\n"),
              {"test.yaml:3:13:", "postprocess.temporal.factor: 0 is out of range (0.0, 1.0]"});
  EXPECT_TRUE(Parse("postprocess:\n  temporal:\n    factor: 1\n").ok());
  ExpectError(Parse("postprocess:\n  temporal:\n    hysteresis: 1.0\n"),
              {"postprocess.temporal.hysteresis: 1.0 is out of range [0.0, 1.0)"});
  ExpectError(Parse("postprocess:\n  threshold_value: .nan\n"), {"expected a number"});
  ExpectError(Parse("postprocess:\n  threshold_value: 1e400\n"), {"expected a number"});
  ExpectError(Parse("batcher:\n  max_batch: 16\n  preferred_batch_sizes: [16, 0]\n"),
              {"test.yaml:3:31:", "batcher.preferred_batch_sizes: 0 is out of range [1, 1024]"});
  ExpectError(Parse("output:\n  background:\n    color: [0, 256, 0]\n"),
              {"output.background.color: 256 is out of range"});
  ExpectError(Parse("output:\n  background:\n    color: [0, 255]\n"),
              {"output.background.color", "got 2 values"});
  ExpectError(Parse("backend:\n  name: \"\"\n"), {"backend.name: must not be empty"});
}

TEST(ConfigErrors, UnknownEnumValueWithSuggestion) {
  ExpectError(Parse("batcher:\n  late_policy: dorp\n"),
              {"test.yaml:2:16:", "batcher.late_policy: unknown value 'dorp' (one of run | drop)",
               "did you mean 'drop'?"});
  ExpectError(Parse("output:\n  content: compsite\n"), {"did you mean 'composite'?"});
  ExpectError(Parse("input:\n  stereo: sbs\n"),
              {"input.stereo", "unknown value 'sbs'", "none | side_by_side | top_bottom"});
}

TEST(ConfigErrors, DuplicateKeys) {
  ExpectError(Parse("batcher:\n  max_batch: 2\n  max_batch: 4\n"),
              {"test.yaml:3:3:", "batcher.max_batch: duplicate key"});
  ExpectError(Parse("batcher: {max_batch: 2}\nbatcher: {max_delay_us: 4}\n"),
              {"test.yaml:2:1:", "batcher: duplicate key"});
}

TEST(ConfigErrors, YamlSyntax) {
  ExpectError(Parse("batcher:\n  max_batch: [1, 2\n"), {"test.yaml:", "YAML syntax error"});
  ExpectError(Parse("batcher:\n\tmax_batch: 2\n"), {"test.yaml:", "YAML syntax error"});
  ExpectError(Parse("a: 1\n---\nb: 2\n"), {"more than one YAML document"});
}

TEST(ConfigErrors, CrossKeyChecksPointAtTheLaterKey) {
  // preferred size above max_batch: reported where the later of the two keys was set.
  ExpectError(
      Parse("batcher:\n  preferred_batch_sizes: [8]\n  max_batch: 4\n"),
      {"test.yaml:3:14:", "batcher.preferred_batch_sizes: 8 is larger than batcher.max_batch (4)"});
  ExpectError(Parse("batcher:\n  max_batch: 64\n"),
              {"test.yaml:2:14:", "batcher.max_queue: 32 is smaller than batcher.max_batch (64)"});
  ExpectError(
      Parse("pipeline:\n  infer_workers: 3\n"),
      {"test.yaml:2:18:", "pipeline.infer_workers: 3 is more than pipeline.buffer_sets (2)"});
  ExpectError(Parse("output:\n  background:\n    kind: image\n"),
              {"test.yaml:3:11:", "output.background.image: required"});
  EXPECT_TRUE(Parse("output:\n  background:\n    kind: image\n    image: bg.jpg\n").ok());
  // Fixed by an override: no error.
  EXPECT_TRUE(ParseConfig("batcher:\n  max_batch: 64\n", "t.yaml", {"batcher.max_queue=64"}).ok());
  // Caused by an override: the override is named.
  ExpectError(
      ParseConfig("batcher:\n  max_batch: 4\n", "t.yaml", {"batcher.preferred_batch_sizes=[4, 8]"})
          .status(),
      {"override 'batcher.preferred_batch_sizes=[4, 8]'", "8 is larger"});
  // ValidateConfig on a struct.
  Config c;
  c.pipeline.batcher.preferred_batch_sizes = {2};
  ExpectError(ValidateConfig(c), {"batcher.preferred_batch_sizes: 2 is larger"});
  EXPECT_TRUE(ValidateConfig(Config{}).ok());
}

// ---- overrides --------------------------------------------------------------------------------

TEST(ConfigOverrides, ApplyAfterTheFileInOrder) {
  auto c = ParseConfig("batcher:\n  max_batch: 4\n  max_delay_us: 100\n", "t.yaml",
                       {"batcher.max_batch=8", "batcher.max_delay_us = 5", "backend.name=noop",
                        "batcher.preferred_batch_sizes=[8, 4]", "batcher.max_batch=16",
                        "profiling.output_dir=", "model.name=\"my model.onnx\""});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->pipeline.batcher.max_batch, 16);
  EXPECT_EQ(c->pipeline.batcher.max_delay_us, 5);
  EXPECT_EQ(c->backend.name, "noop");
  EXPECT_EQ(c->pipeline.batcher.preferred_batch_sizes, (std::vector<int>{8, 4}));
  EXPECT_EQ(c->profiling.output_dir, "");
  EXPECT_EQ(c->model.name, "my model.onnx");
}

TEST(ConfigOverrides, Errors) {
  Config c;
  c.pipeline.batcher.max_batch = 3;
  const std::string before = ConfigToYaml(c);
  ExpectError(ApplyOverride(&c, "batcher.max_batch"),
              {"override 'batcher.max_batch'", "expected key.path=value"});
  ExpectError(ApplyOverride(&c, "=4"), {"missing key"});
  ExpectError(
      ApplyOverride(&c, "batcher.max_bach=4"),
      {"override 'batcher.max_bach=4'", "unknown key", "did you mean 'batcher.max_batch'?"});
  ExpectError(ApplyOverride(&c, "max_batch=4"), {"did you mean 'batcher.max_batch'?"});
  ExpectError(ApplyOverride(&c, "batcher=4"), {"batcher: is a section", "max_batch"});
  ExpectError(ApplyOverride(&c, "batcher.max_batch=four"),
              {"batcher.max_batch", "expected an integer, got 'four'"});
  ExpectError(ApplyOverride(&c, "batcher.max_batch=0"),
              {"batcher.max_batch: 0 is out of range [1, 1024]"});
  ExpectError(ApplyOverride(&c, "batcher.preferred_batch_sizes=[4, 2"), {"cannot parse value"});
  ExpectError(ApplyOverride(&c, "batcher.late_policy=dorp"), {"did you mean 'drop'?"});
  EXPECT_EQ(ConfigToYaml(c), before);  // unchanged by failed overrides
}

// ---- dump and misc ----------------------------------------------------------------------------

TEST(Config, DumpRoundTrips) {
  auto c = ParseConfig(
      "batcher: {max_batch: 8, preferred_batch_sizes: [8, 4], late_policy: drop, max_queue: 40}\n"
      "postprocess: {threshold_value: 0.3, temporal: {factor: 0.45}, refine: {eps: 0.002}}\n"
      "output: {background: {color: [9, 8, 7], image: \"a \\\"b\\\".png\"}}\n"
      "input: {stereo: side_by_side}\nprofiling: {saturation_threshold: 0.75}\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const std::string dump = ConfigToYaml(*c);
  auto again = ParseConfig(dump, "dump.yaml");
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << dump;
  EXPECT_EQ(ConfigToYaml(*again), dump);
  EXPECT_EQ(again->output.background.image, "a \"b\".png");
  EXPECT_EQ(again->postprocess.temporal_options.factor, 0.45f);
  EXPECT_NE(dump.find("  temporal:\n    enabled: false\n    factor: 0.45\n"), std::string::npos)
      << dump;
  // Defaults round-trip too.
  auto d = ParseConfig(ConfigToYaml(Config{}), "defaults.yaml");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
}

TEST(Config, SchemaIsWellFormed) {
  std::set<std::string> paths;
  for (const ConfigKey& k : ConfigKeys()) {
    EXPECT_TRUE(paths.insert(k.path).second) << "duplicate " << k.path;
    EXPECT_FALSE(k.description.empty()) << k.path;
    EXPECT_FALSE(k.default_value.empty()) << k.path;
    EXPECT_NE(k.path.find('.'), std::string::npos) << k.path;
    // The default value parses as the key's value (through an override).
    Config c;
    EXPECT_TRUE(ApplyOverride(&c, k.path + "=" + k.default_value).ok()) << k.path;
  }
  EXPECT_EQ(paths.size(), 49u);
}

TEST(Config, EditDistance) {
  EXPECT_EQ(EditDistance("", ""), 0);
  EXPECT_EQ(EditDistance("abc", ""), 3);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3);
  EXPECT_EQ(EditDistance("max_bacth", "max_batch"), 2);
  EXPECT_EQ(EditDistance("flaw", "lawn"), 2);
}

}  // namespace
}  // namespace vrseg

namespace vrseg {
namespace {

TEST(SegmenterOptionsFor, EveryFieldFromItsKey) {
  auto c = ParseConfig(
      "backend: {name: noop, threads: 3, precision: fp16}\n"
      "model: {name: landscape, resize: letterbox}\n"
      "pipeline: {preprocess_workers: 3, buffer_sets: 3, infer_workers: 2}\n"
      "batcher: {max_batch: 4, max_delay_us: 700}\n"
      "postprocess: {threshold: true, threshold_value: 0.375}\n"
      "output: {content: composite, background: {kind: blur, blur_radius: 11, color: [4, 5, 6]}}\n"
      "input: {threads: 2}\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto s = SegmenterOptionsFor(*c);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->backend, "noop");
  EXPECT_EQ(s->model, "landscape");
  EXPECT_EQ(s->backend_options.threads, 3);
  EXPECT_EQ(s->backend_options.precision, "fp16");
  EXPECT_EQ(s->backend_options.max_batch, 4);
  EXPECT_EQ(s->pipeline.preprocess_workers, 3);
  EXPECT_EQ(s->pipeline.infer_workers, 2);
  EXPECT_EQ(s->pipeline.buffer_sets, 3);
  EXPECT_EQ(s->pipeline.batcher.max_batch, 4);
  EXPECT_EQ(s->pipeline.batcher.max_delay_us, 700);
  EXPECT_EQ(s->resize, ResizeMode::kLetterbox);
  EXPECT_TRUE(s->threshold);
  EXPECT_EQ(s->threshold_value, 0.375f);
  EXPECT_EQ(s->content, OutputContent::kComposite);
  EXPECT_EQ(s->composite.background, BackgroundKind::kBlur);
  EXPECT_EQ(s->composite.blur_radius, 11);
  EXPECT_EQ(s->composite.color, (std::array<uint8_t, 3>{4, 5, 6}));
  EXPECT_TRUE(s->composite.image.empty());
  EXPECT_EQ(s->decode_threads, 2);
}

TEST(SegmenterOptionsFor, TemporalAndRefineKeysReachTheSegmenter) {
  auto c = ParseConfig(
      "postprocess:\n"
      "  temporal: {enabled: true, factor: 0.25, hysteresis: 0.125}\n"
      "  refine: {enabled: true, radius: 5, eps: 0.002, subsample: 3, guidance: mean}\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto s = SegmenterOptionsFor(*c);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_TRUE(s->temporal);
  EXPECT_EQ(s->temporal_options.factor, 0.25f);
  EXPECT_EQ(s->temporal_options.hysteresis, 0.125f);
  EXPECT_TRUE(s->refine);
  EXPECT_EQ(s->refine_options.radius, 5);
  EXPECT_EQ(s->refine_options.eps, 0.002f);
  EXPECT_EQ(s->refine_options.subsample, 3);
  EXPECT_EQ(s->refine_options.guidance, GuidanceKind::kMean);
  // Defaults: both off, the imgproc defaults otherwise.
  auto d = ParseConfig("", "empty.yaml");
  ASSERT_TRUE(d.ok());
  auto ds = SegmenterOptionsFor(*d);
  ASSERT_TRUE(ds.ok()) << ds.status().ToString();
  EXPECT_FALSE(ds->temporal);
  EXPECT_FALSE(ds->refine);
  EXPECT_EQ(ds->temporal_options.factor, TemporalOptions{}.factor);
  EXPECT_EQ(ds->temporal_options.hysteresis, TemporalOptions{}.hysteresis);
  EXPECT_EQ(ds->refine_options.radius, GuidedFilterOptions{}.radius);
  EXPECT_EQ(ds->refine_options.eps, GuidedFilterOptions{}.eps);
  EXPECT_EQ(ds->refine_options.subsample, GuidedFilterOptions{}.subsample);
  EXPECT_EQ(ds->refine_options.guidance, GuidedFilterOptions{}.guidance);
}

TEST(SegmenterOptionsFor, LoadsTheBackgroundImage) {
  const std::string png = std::string(VRSEG_TESTDATA_DIR) + "/astronaut.png";
  auto c = ParseConfig(
      "output: {content: composite, background: {kind: image, image: \"" + png + "\"}}\n",
      "t.yaml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto s = SegmenterOptionsFor(*c);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  // Reference: the same file opened directly.
  ReaderOptions ro;
  ro.format = PixelFormat::kRGB24;
  auto r = VideoReader::Open(png, ro);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(s->composite.image.width, (*r)->info().width);
  EXPECT_EQ(s->composite.image.height, (*r)->info().height);
  EXPECT_EQ(s->composite.image.format, PixelFormat::kRGB24);

  Config missing = *c;
  missing.output.background.image = "/nonexistent/bg.png";
  auto m = SegmenterOptionsFor(missing);
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_NE(m.status().message().find("output.background.image"), std::string::npos);
  EXPECT_NE(m.status().message().find("/nonexistent/bg.png"), std::string::npos)
      << m.status().message();
  Config empty = *c;
  empty.output.background.image = "";
  EXPECT_EQ(SegmenterOptionsFor(empty).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace vrseg
