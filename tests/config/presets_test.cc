// Presets (configs/*.yaml compiled in) and loading files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "vrseg/batcher.h"
#include "vrseg/config.h"

namespace vrseg {
namespace {

const std::string kSourceDir = std::string(VRSEG_TESTDATA_DIR) + "/..";

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("vrseg_config_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

TEST(Presets, Names) {
  EXPECT_EQ(ConfigPresetNames(), (std::vector<std::string>{"throughput", "vr"}));
  auto y = ConfigPresetYaml("vr");
  ASSERT_TRUE(y.ok());
  EXPECT_NE(y->find("max_batch: 2"), std::string::npos);
  auto bad = ConfigPresetYaml("fast");
  EXPECT_EQ(bad.status().code(), StatusCode::kNotFound);
  EXPECT_NE(bad.status().message().find("throughput, vr"), std::string::npos);
}

// The batching part of each preset agrees with the batcher's own presets (BatcherPreset in the
// pipeline layer, written independently).
void ExpectBatcherMatches(const std::string& name) {
  auto c = LoadConfig(name);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto ref = BatcherPreset(name);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  const BatcherOptions& b = c->pipeline.batcher;
  EXPECT_EQ(b.max_batch, ref->max_batch) << name;
  EXPECT_EQ(b.max_delay_us, ref->max_delay_us) << name;
  EXPECT_EQ(b.preferred_batch_sizes, ref->preferred_batch_sizes) << name;
  EXPECT_EQ(b.priority_levels, ref->priority_levels) << name;
  EXPECT_EQ(b.urgent_no_delay, ref->urgent_no_delay) << name;
  EXPECT_EQ(b.max_queue, ref->max_queue) << name;
  EXPECT_TRUE(ValidateConfig(*c).ok());
}

TEST(Presets, VrIsLowLatency) {
  ExpectBatcherMatches("vr");
  auto c = LoadConfig("vr");
  ASSERT_TRUE(c.ok());
  // Issue 3: "vr (batch 1-2, no delay, priority)".
  EXPECT_LE(c->pipeline.batcher.max_batch, 2);
  EXPECT_EQ(c->pipeline.batcher.max_delay_us, 0);
  EXPECT_GE(c->pipeline.batcher.priority_levels, 2);
  EXPECT_TRUE(c->pipeline.batcher.urgent_no_delay);
  EXPECT_EQ(c->pipeline.batcher.late_policy, LatePolicy::kDrop);
  EXPECT_EQ(c->postprocess.temporal_options.factor, 0.7f);
  EXPECT_EQ(c->output.writer.content, OutputContent::kAlpha);
}

TEST(Presets, ThroughputBatchesUpTo16) {
  ExpectBatcherMatches("throughput");
  auto c = LoadConfig("throughput");
  ASSERT_TRUE(c.ok());
  // Issue 3: "throughput (batch up to 16, short delay)".
  EXPECT_EQ(c->pipeline.batcher.max_batch, 16);
  EXPECT_GT(c->pipeline.batcher.max_delay_us, 0);
  EXPECT_LE(c->pipeline.batcher.max_delay_us, 10'000);
  EXPECT_EQ(c->output.writer.content, OutputContent::kMask);
}

TEST(Presets, FilesAndPresetsAgree) {
  for (const std::string& name : ConfigPresetNames()) {
    auto p = LoadConfig(name);
    auto f = LoadConfig(kSourceDir + "/configs/" + name + ".yaml");
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ(ConfigToYaml(*p), ConfigToYaml(*f)) << name;
  }
}

TEST(Presets, OverridesApplyOnTop) {
  auto c = LoadConfig("throughput", {"batcher.max_batch=8", "batcher.preferred_batch_sizes=[8, 4]",
                                     "profiling.enabled=true"});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->pipeline.batcher.max_batch, 8);
  EXPECT_TRUE(c->profiling.enabled);
  // Lowering max_batch alone leaves the preset's preferred size 16 above it.
  auto bad = LoadConfig("throughput", {"batcher.max_batch=8"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("override 'batcher.max_batch=8'"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("16 is larger than batcher.max_batch (8)"),
            std::string::npos);
}

TEST(LoadConfig, DefaultsFilesAndErrors) {
  auto d = LoadConfig("");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(ConfigToYaml(*d), ConfigToYaml(Config{}));

  const std::string good = TempPath("good.yaml");
  std::ofstream(good) << "batcher:\n  max_batch: 4\n  max_queue: 8\n";
  auto g = LoadConfig(good);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->pipeline.batcher.max_batch, 4);

  const std::string bad = TempPath("bad.yaml");
  std::ofstream(bad) << "batcher:\n  max_batch: 4\n  max_qeue: 8\n";
  auto b = LoadConfig(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(b.status().message().find(bad + ":3:3: batcher.max_qeue: unknown key; did you mean "
                                            "'batcher.max_queue'?"),
            std::string::npos)
      << b.status().message();

  auto missing = LoadConfig("/nonexistent/dir/x.yaml");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/x.yaml"), std::string::npos);
  auto word = LoadConfig("turbo");
  EXPECT_EQ(word.status().code(), StatusCode::kNotFound);
  EXPECT_NE(word.status().message().find("presets: throughput, vr"), std::string::npos)
      << word.status().message();
  auto dir = LoadConfig(std::filesystem::temp_directory_path().string());
  EXPECT_EQ(dir.status().code(), StatusCode::kIoError);
  // Binary garbage is a YAML error, not a crash.
  const std::string junk = TempPath("junk.yaml");
  std::ofstream(junk, std::ios::binary) << std::string("\x00\xff\xfe{[", 5) << "]]]:::";
  auto j = LoadConfig(junk);
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
  std::filesystem::remove(junk);
}

}  // namespace
}  // namespace vrseg
