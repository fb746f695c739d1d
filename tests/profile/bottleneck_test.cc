// AnalyzeBottleneck on synthetic stage data with known answers.
#include <gtest/gtest.h>

#include "vrseg/profiler.h"

namespace vrseg {
namespace {

StageReport Stage(const char* name, double busy, double starved, double blocked, int workers = 1) {
  StageReport s;
  s.name = name;
  s.workers = workers;
  const int64_t wall = 1'000'000'000;
  s.busy_ns = static_cast<int64_t>(busy * wall * workers);
  s.starved_ns = static_cast<int64_t>(starved * wall * workers);
  s.blocked_ns = static_cast<int64_t>(blocked * wall * workers);
  s.busy_fraction = busy;
  s.starved_fraction = starved;
  s.blocked_fraction = blocked;
  s.items = 100;
  s.throughput_fps = 100;
  s.capacity_fps = busy > 0 ? 100 / busy : 0;
  return s;
}

TEST(Bottleneck, NoDataIsNone) {
  EXPECT_EQ(AnalyzeBottleneck({}).reason, Bottleneck::Reason::kNone);
  StageReport idle;
  idle.name = "idle";
  const Bottleneck b = AnalyzeBottleneck({idle, idle});
  EXPECT_EQ(b.reason, Bottleneck::Reason::kNone);
  EXPECT_EQ(b.stage, kNoStage);
}

TEST(Bottleneck, SaturatedMiddleStage) {
  // decode and preprocess wait on infer's full queue; postprocess and sink wait for its output.
  const std::vector<StageReport> s = {
      Stage("decode", 0.20, 0.00, 0.78), Stage("preprocess", 0.30, 0.05, 0.64),
      Stage("infer", 0.97, 0.02, 0.01), Stage("postprocess", 0.25, 0.74, 0.0),
      Stage("sink", 0.10, 0.88, 0.0)};
  const Bottleneck b = AnalyzeBottleneck(s);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kBusy);
  EXPECT_EQ(b.stage, 2);
  EXPECT_EQ(b.stage_name, "infer");
  EXPECT_NE(b.explanation.find("infer"), std::string::npos);
  EXPECT_NE(b.explanation.find("97%"), std::string::npos) << b.explanation;
  EXPECT_NE(b.explanation.find("blocked 71%"), std::string::npos) << b.explanation;
  EXPECT_NE(b.explanation.find("starved 81%"), std::string::npos) << b.explanation;
}

TEST(Bottleneck, BusiestPerWorkerWinsOverMostTotalWork) {
  // preprocess has more total busy time (4 workers x 60%) but spare capacity; sink is saturated.
  const std::vector<StageReport> s = {Stage("preprocess", 0.60, 0.0, 0.35, 4),
                                      Stage("sink", 0.85, 0.1, 0.0, 1)};
  const Bottleneck b = AnalyzeBottleneck(s);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kBusy);
  EXPECT_EQ(b.stage_name, "sink");
}

TEST(Bottleneck, ThresholdIsInclusiveAndConfigurable) {
  const std::vector<StageReport> s = {Stage("a", 0.80, 0.1, 0.0), Stage("b", 0.3, 0.6, 0.0)};
  EXPECT_EQ(AnalyzeBottleneck(s, 0.8).reason, Bottleneck::Reason::kBusy);
  const Bottleneck b = AnalyzeBottleneck(s, 0.9);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kStarved);
  EXPECT_EQ(b.stage_name, "a");  // the most upstream stage that mostly waits for input
}

TEST(Bottleneck, InputBoundCamera) {
  // A 30 fps camera feeding fast stages: everything waits for input, the source first.
  const std::vector<StageReport> s = {
      Stage("camera", 0.05, 0.93, 0.0), Stage("preprocess", 0.10, 0.88, 0.0),
      Stage("infer", 0.40, 0.58, 0.0), Stage("sink", 0.05, 0.94, 0.0)};
  const Bottleneck b = AnalyzeBottleneck(s);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kStarved);
  EXPECT_EQ(b.stage, 0);
  EXPECT_NE(b.explanation.find("camera"), std::string::npos);
  EXPECT_NE(b.explanation.find("93%"), std::string::npos) << b.explanation;
}

TEST(Bottleneck, InputBoundSkipsStagesWithoutWaits) {
  // The source is not instrumented for waits; the first starved stage is reported.
  const std::vector<StageReport> s = {Stage("source", 0.05, 0.0, 0.0),
                                      Stage("preprocess", 0.10, 0.85, 0.0),
                                      Stage("infer", 0.40, 0.55, 0.0)};
  const Bottleneck b = AnalyzeBottleneck(s);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kStarved);
  EXPECT_EQ(b.stage_name, "preprocess");
}

TEST(Bottleneck, OutputBoundConsumer) {
  // The application takes results slowly (display vsync): everything waits downstream, the
  // sink last in line.
  const std::vector<StageReport> s = {
      Stage("decode", 0.10, 0.0, 0.88), Stage("infer", 0.50, 0.05, 0.44),
      Stage("sink", 0.05, 0.02, 0.92), Stage("stats", 0.01, 0.50, 0.0)};
  const Bottleneck b = AnalyzeBottleneck(s);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kBlocked);
  EXPECT_EQ(b.stage_name, "sink");
  EXPECT_NE(b.explanation.find("92%"), std::string::npos) << b.explanation;
}

TEST(Bottleneck, NoWaitsRecordedPicksBusiest) {
  const std::vector<StageReport> s = {Stage("a", 0.2, 0, 0), Stage("b", 0.5, 0, 0),
                                      Stage("c", 0.1, 0, 0)};
  const Bottleneck b = AnalyzeBottleneck(s);
  EXPECT_EQ(b.reason, Bottleneck::Reason::kBusy);
  EXPECT_EQ(b.stage_name, "b");
  EXPECT_NE(b.explanation.find("only the busiest"), std::string::npos);
}

TEST(Bottleneck, ReasonNames) {
  EXPECT_EQ(BottleneckReasonName(Bottleneck::Reason::kNone), "none");
  EXPECT_EQ(BottleneckReasonName(Bottleneck::Reason::kBusy), "busy");
  EXPECT_EQ(BottleneckReasonName(Bottleneck::Reason::kStarved), "starved");
  EXPECT_EQ(BottleneckReasonName(Bottleneck::Reason::kBlocked), "blocked");
  EXPECT_EQ(ActivityName(Activity::kBlocked), "blocked");
}

}  // namespace
}  // namespace vrseg
