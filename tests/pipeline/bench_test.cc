#include "vrseg/bench.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace vrseg {
namespace {

BenchOptions NoopOptions(BenchStages stages) {
  BenchOptions o;
  o.segmenter.backend = "noop";
  o.segmenter.model = "";
  o.segmenter.pipeline.batcher.max_batch = 4;
  o.segmenter.pipeline.batcher.max_delay_us = 500;
  o.width = 96;
  o.height = 64;
  o.warmup_frames = 20;
  o.frames = 300;
  o.streams = 3;
  o.stages = stages;
  o.rss_checkpoints = {100, 200};
  return o;
}

TEST(Bench, NoopBareStagesCountsEveryFrame) {
  auto r = RunBench(NoopOptions(BenchStages::kNone));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->frames, 300);  // warm-up excluded
  EXPECT_EQ(r->latency.count, 300);
  EXPECT_GT(r->e2e_fps, 0);
  EXPECT_NEAR(r->us_per_frame * r->e2e_fps, 1e6, 1);
  EXPECT_GT(r->model_fps, 0);
  EXPECT_GE(r->mean_batch, 1.0);
  EXPECT_LE(r->mean_batch, 4.0);
  ASSERT_EQ(r->stages.size(), 5u);
  EXPECT_EQ(r->stages[1].name, "preprocess");
  EXPECT_EQ(r->stages[1].items, 300);
  ASSERT_EQ(r->rss.size(), 3u);  // two checkpoints and the end
  EXPECT_EQ(r->rss[0].frame, 100);
  EXPECT_EQ(r->rss[1].frame, 200);
  EXPECT_GT(r->rss[0].rss_bytes, 0);
  EXPECT_GE(r->rss[2].peak_bytes, r->rss[2].rss_bytes);
  EXPECT_EQ(r->input, "synthetic 96x64 rgb24");
  EXPECT_NE(FormatBenchReport(*r).find("end-to-end"), std::string::npos);
}

TEST(Bench, NoopFullStagesAndJsonRoundTrip) {
  BenchOptions o = NoopOptions(BenchStages::kFull);
  o.format = PixelFormat::kNV12;
  o.frames = 60;
  auto r = RunBench(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->frames, 60);
  EXPECT_EQ(r->frames_failed, 0);
  auto j = nlohmann::json::parse(BenchReportJson(*r));
  EXPECT_EQ(j["backend"], "noop");
  EXPECT_EQ(j["frames"], 60);
  EXPECT_EQ(j["input"], "synthetic 96x64 nv12");
  EXPECT_NEAR(j["e2e_fps"].get<double>(), r->e2e_fps, 1e-5 * r->e2e_fps);
  EXPECT_EQ(j["latency"]["count"], 60);
  EXPECT_EQ(j["stages"].size(), 5u);
  EXPECT_NEAR(j["e2e_vs_infer"].get<double>(), r->e2e_vs_infer, 1e-5 * r->e2e_vs_infer + 1e-12);
  EXPECT_EQ(j["stages"][2]["name"], "infer");
  EXPECT_EQ(j["rss"].size(), r->rss.size());
}

TEST(Bench, SweepPicksLargestThroughputWithinBudget) {
  BenchOptions o = NoopOptions(BenchStages::kNone);
  o.frames = 200;
  auto s = RunSweep(o, {1, 2, 4}, 0);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(s->points.size(), 3u);
  const SweepPoint* best = nullptr;
  for (const auto& p : s->points) {
    EXPECT_TRUE(p.fits_budget);
    EXPECT_LE(p.mean_batch, p.batch);
    if (!best || p.e2e_fps > best->e2e_fps) best = &p;
  }
  EXPECT_EQ(s->best_batch, best->batch);
  // A budget nothing can meet.
  auto none = RunSweep(o, {1, 2}, 1e-9);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->best_batch, 0);
  EXPECT_NE(none->explanation.find("no batch size"), std::string::npos);
  auto j = nlohmann::json::parse(SweepReportJson(*none));
  EXPECT_EQ(j["best_batch"], 0);
  EXPECT_EQ(j["points"].size(), 2u);
  EXPECT_FALSE(j["points"][0]["fits_budget"].get<bool>());
}

TEST(Bench, RejectsBadOptions) {
  BenchOptions o = NoopOptions(BenchStages::kNone);
  o.frames = 0;
  EXPECT_NE(RunBench(o).status().message().find("bench.frames"), std::string::npos);
  o = NoopOptions(BenchStages::kNone);
  o.width = 1;
  EXPECT_NE(RunBench(o).status().message().find("bench.size"), std::string::npos);
  o = NoopOptions(BenchStages::kNone);
  o.streams = 0;
  EXPECT_FALSE(RunBench(o).ok());
  o = NoopOptions(BenchStages::kNone);
  o.priority = 5;
  EXPECT_NE(RunBench(o).status().message().find("bench.priority"), std::string::npos);
  o = NoopOptions(BenchStages::kNone);
  o.input = "/nonexistent/clip.mp4";
  auto missing = RunBench(o);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(RunSweep(NoopOptions(BenchStages::kNone), {}, 0).ok());
  EXPECT_FALSE(RunSweep(NoopOptions(BenchStages::kNone), {0}, 0).ok());
  EXPECT_FALSE(RunSweep(NoopOptions(BenchStages::kNone), {2}, -1).ok());
}

TEST(BenchParsers, FrameSize) {
  auto s = ParseFrameSize("1280x720");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first, 1280);
  EXPECT_EQ(s->second, 720);
  for (const char* bad : {"", "x", "1280", "1280x", "x720", "0x10", "10x0", "-5x10", "12.5x10",
                          "1280x720x3", "99999x10", " 1280x720", "1280 x 720", "axb"}) {
    auto r = ParseFrameSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("--size"), std::string::npos);
    }
  }
}

TEST(BenchParsers, BatchList) {
  auto v = ParseBatchList("1,2,4,16");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, (std::vector<int>{1, 2, 4, 16}));
  EXPECT_EQ(*ParseBatchList("8"), (std::vector<int>{8}));
  for (const char* bad : {"", ",", "1,", ",1", "1,,2", "0", "1,2000", "a", "1;2", "1, 2", "-1"}) {
    auto r = ParseBatchList(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("'" + std::string(bad) + "'"), std::string::npos);
    }
  }
}

TEST(BenchParsers, InputFormat) {
  EXPECT_EQ(*ParseInputFormat("nv12"), PixelFormat::kNV12);
  EXPECT_EQ(*ParseInputFormat("rgb24"), PixelFormat::kRGB24);
  for (const char* bad : {"", "RGB24", "grayf32", "yuv420p", "rgb"}) {
    EXPECT_FALSE(ParseInputFormat(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace vrseg
