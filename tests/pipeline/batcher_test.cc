#include "vrseg/batcher.h"

#include <gtest/gtest.h>

#include <vector>

#include "vrseg/clock.h"

namespace vrseg {
namespace {

using B = Batcher<int>;
constexpr int64_t kUs = 1000;

std::vector<int> Values(const std::vector<B::Item>& items) {
  std::vector<int> v;
  for (const auto& it : items) v.push_back(it.value);
  return v;
}

BatcherOptions Opts(int max_batch, int64_t delay_us) {
  BatcherOptions o;
  o.max_batch = max_batch;
  o.max_delay_us = delay_us;
  o.max_queue = 64;
  return o;
}

TEST(Batcher, NothingWaitingMeansWaitForInput) {
  B b(Opts(4, 100));
  B::Decision d;
  b.Poll(0, false, &d);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wait_ns, -1);
  b.Poll(0, true, &d);
  EXPECT_TRUE(d.batch.empty());
}

TEST(Batcher, FullBatchGoesAtOnceAndRestWaitsForDelay) {
  ManualClock clock(1'000'000);
  B b(Opts(4, 100));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(b.Add(i, 1, clock.NowNs()).ok());
  B::Decision d;
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{0, 1, 2, 3}));
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wait_ns, 100 * kUs);
  clock.AdvanceNs(60 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wait_ns, 40 * kUs);
  clock.AdvanceNs(40 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{4, 5}));
  EXPECT_TRUE(b.empty());
}

TEST(Batcher, DelayCountsFromTheOldestFrame) {
  ManualClock clock;
  B b(Opts(8, 50));
  ASSERT_TRUE(b.Add(1, 1, clock.NowNs()).ok());
  clock.AdvanceNs(30 * kUs);
  ASSERT_TRUE(b.Add(2, 1, clock.NowNs()).ok());
  B::Decision d;
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(d.wait_ns, 20 * kUs);
  clock.AdvanceNs(20 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{1, 2}));
}

TEST(Batcher, ZeroDelaySendsWhateverWaits) {
  B b(Opts(4, 0));
  ASSERT_TRUE(b.Add(7, 1, 10).ok());
  B::Decision d;
  b.Poll(10, false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{7}));
}

TEST(Batcher, FlushSendsWithoutWaiting) {
  B b(Opts(4, 1'000'000));
  ASSERT_TRUE(b.Add(1, 1, 0).ok());
  ASSERT_TRUE(b.Add(2, 1, 0).ok());
  B::Decision d;
  b.Poll(0, false, &d);
  EXPECT_TRUE(d.batch.empty());
  b.Poll(0, true, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{1, 2}));
}

TEST(Batcher, PreferredSizes) {
  ManualClock clock;
  BatcherOptions o = Opts(16, 100);
  o.preferred_batch_sizes = {4, 8};
  B b(o);
  B::Decision d;
  // 7 waiting: below the largest preferred (8), so wait for the delay...
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(b.Add(i, 1, clock.NowNs()).ok());
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_TRUE(d.batch.empty());
  // ...the 8th reaches it: a batch of 8 goes at once even though max_batch is 16.
  ASSERT_TRUE(b.Add(7, 1, clock.NowNs()).ok());
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(d.batch.size(), 8u);
  // 6 waiting when the delay expires: cut to 4 (largest preferred that fits)...
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(b.Add(100 + i, 1, clock.NowNs()).ok());
  clock.AdvanceNs(100 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{100, 101, 102, 103}));
  // ...and the 2 left (no preferred size fits) go as they are once overdue.
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{104, 105}));
}

TEST(Batcher, UrgentFrameGoesFirstAndWithoutDelay) {
  ManualClock clock;
  BatcherOptions o = Opts(2, 1000);
  o.priority_levels = 2;
  o.urgent_no_delay = true;
  B b(o);
  B::Decision d;
  ASSERT_TRUE(b.Add(10, kPriorityThroughput, clock.NowNs()).ok());
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_TRUE(d.batch.empty());  // throughput frame waits for company
  ASSERT_TRUE(b.Add(11, kPriorityThroughput, clock.NowNs()).ok());
  ASSERT_TRUE(b.Add(12, kPriorityThroughput, clock.NowNs()).ok());
  ASSERT_TRUE(b.Add(99, kPriorityRealtime, clock.NowNs()).ok());
  b.Poll(clock.NowNs(), false, &d);
  // The VR frame leads the next batch, ahead of older throughput frames.
  EXPECT_EQ(Values(d.batch), (std::vector<int>{99, 10}));
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{11, 12}));  // full batch
}

TEST(Batcher, UrgentWithoutNoDelayStillJumpsTheQueue) {
  ManualClock clock;
  BatcherOptions o = Opts(2, 1000);
  o.urgent_no_delay = false;
  B b(o);
  B::Decision d;
  ASSERT_TRUE(b.Add(1, 1, clock.NowNs()).ok());
  ASSERT_TRUE(b.Add(2, 0, clock.NowNs()).ok());
  ASSERT_TRUE(b.Add(3, 1, clock.NowNs()).ok());
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{2, 1}));
}

TEST(Batcher, DeadlineBringsDispatchForward) {
  ManualClock clock;
  BatcherOptions o = Opts(8, 1000);
  o.expected_latency_us = 30;
  B b(o);
  B::Decision d;
  ASSERT_TRUE(b.Add(1, 1, clock.NowNs(), /*deadline=*/100 * kUs).ok());
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(d.wait_ns, 70 * kUs);  // deadline - expected latency
  clock.SetNs(70 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{1}));
  EXPECT_EQ(d.late_run, 0);
}

TEST(Batcher, LateFramesRunAnywayAreCounted) {
  ManualClock clock;
  BatcherOptions o = Opts(4, 1000);
  o.late_policy = LatePolicy::kRunAnyway;
  B b(o);
  B::Decision d;
  ASSERT_TRUE(b.Add(1, 1, 0, /*deadline=*/50 * kUs).ok());
  ASSERT_TRUE(b.Add(2, 1, 0).ok());
  clock.SetNs(60 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{1, 2}));
  EXPECT_EQ(d.late_run, 1);
  EXPECT_TRUE(d.late.empty());
}

TEST(Batcher, LateFramesDroppedAndReported) {
  ManualClock clock;
  BatcherOptions o = Opts(4, 1000);
  o.late_policy = LatePolicy::kDrop;
  B b(o);
  B::Decision d;
  ASSERT_TRUE(b.Add(1, 1, 0, 50 * kUs).ok());
  ASSERT_TRUE(b.Add(2, 1, 0).ok());
  ASSERT_TRUE(b.Add(3, 1, 0, 500 * kUs).ok());
  ASSERT_TRUE(b.Add(4, 0, 0, 10 * kUs).ok());
  clock.SetNs(60 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.late), (std::vector<int>{4, 1}));  // by priority level, then FIFO
  EXPECT_TRUE(d.batch.empty());
  EXPECT_EQ(b.size(), 2);
  EXPECT_EQ(d.wait_ns, 440 * kUs);  // frame 3's deadline
  clock.SetNs(500 * kUs);
  b.Poll(clock.NowNs(), false, &d);
  EXPECT_EQ(Values(d.batch), (std::vector<int>{2, 3}));  // order kept after removal
  EXPECT_TRUE(d.late.empty());
}

TEST(Batcher, FullQueueRefusesAndBadPriorityIsAnError) {
  BatcherOptions o = Opts(2, 0);
  o.max_queue = 3;
  B b(o);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.Add(i, 1, 0).ok());
  EXPECT_TRUE(b.full());
  EXPECT_EQ(b.Add(9, 1, 0).code(), StatusCode::kUnavailable);
  EXPECT_EQ(b.Add(9, 2, 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Add(9, -1, 0).code(), StatusCode::kInvalidArgument);
  std::vector<B::Item> all;
  b.TakeAll(&all);
  EXPECT_EQ(Values(all), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(b.empty());
}

// Many rounds through the ring (wrap-around) against a simple model of the rules.
TEST(Batcher, RingWrapsAndKeepsFifoOverManyBatches) {
  ManualClock clock;
  BatcherOptions o = Opts(3, 10);
  o.max_queue = 5;
  B b(o);
  B::Decision d;
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 200; ++round) {
    const int add = round % 5 + 1;
    for (int i = 0; i < add && !b.full(); ++i) ASSERT_TRUE(b.Add(next_in++, 1, clock.NowNs()).ok());
    clock.AdvanceNs(10 * kUs);
    while (true) {
      b.Poll(clock.NowNs(), false, &d);
      if (d.batch.empty()) break;
      ASSERT_LE(d.batch.size(), 3u);
      for (int v : Values(d.batch)) ASSERT_EQ(v, next_out++);
    }
    EXPECT_TRUE(b.empty());
  }
  EXPECT_EQ(next_in, next_out);
}

TEST(BatcherOptions, Validation) {
  BatcherOptions o;
  EXPECT_TRUE(ValidateBatcherOptions(o).ok());
  o.max_batch = 0;
  EXPECT_NE(ValidateBatcherOptions(o).message().find("batcher.max_batch"), std::string::npos);
  o = {};
  o.max_delay_us = -1;
  EXPECT_NE(ValidateBatcherOptions(o).message().find("max_delay_us"), std::string::npos);
  o = {};
  o.max_batch = 4;
  o.preferred_batch_sizes = {2, 8};
  EXPECT_NE(ValidateBatcherOptions(o).message().find("preferred_batch_sizes"), std::string::npos);
  o = {};
  o.priority_levels = 0;
  EXPECT_FALSE(ValidateBatcherOptions(o).ok());
  o = {};
  o.max_batch = 8;
  o.max_queue = 4;
  EXPECT_NE(ValidateBatcherOptions(o).message().find("max_queue"), std::string::npos);
  o = {};
  o.expected_latency_us = -5;
  EXPECT_FALSE(ValidateBatcherOptions(o).ok());
}

TEST(BatcherOptions, PresetsAndPolicyNames) {
  auto vr = BatcherPreset("vr");
  ASSERT_TRUE(vr.ok());
  EXPECT_EQ(vr->max_batch, 2);
  EXPECT_EQ(vr->max_delay_us, 0);
  EXPECT_TRUE(vr->urgent_no_delay);
  EXPECT_TRUE(ValidateBatcherOptions(*vr).ok());
  auto tp = BatcherPreset("throughput");
  ASSERT_TRUE(tp.ok());
  EXPECT_EQ(tp->max_batch, 16);
  EXPECT_GT(tp->max_delay_us, 0);
  EXPECT_TRUE(ValidateBatcherOptions(*tp).ok());
  auto bad = BatcherPreset("fast");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("vr, throughput"), std::string::npos);
  EXPECT_EQ(*ParseLatePolicy("drop"), LatePolicy::kDrop);
  EXPECT_EQ(*ParseLatePolicy("run"), LatePolicy::kRunAnyway);
  EXPECT_FALSE(ParseLatePolicy("Drop ").ok());
  EXPECT_FALSE(ParseLatePolicy("").ok());
  EXPECT_EQ(LatePolicyName(LatePolicy::kDrop), "drop");
}

}  // namespace
}  // namespace vrseg
