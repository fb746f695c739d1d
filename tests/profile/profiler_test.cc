// Profiler recording and report statistics against hand-computed and naive references.
#include "vrseg/profiler.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <thread>
#include <vector>

#include "vrseg/clock.h"

namespace vrseg {
namespace {

ProfilerOptions Quiet(const Clock* clock = nullptr, bool enabled = true) {
  ProfilerOptions o;
  o.enabled = enabled;
  o.memory_sample_interval_ms = 0;
  o.clock = clock;
  return o;
}

TEST(Profiler, DisabledRecordsNothing) {
  ManualClock clock(1000);
  Profiler p(Quiet(&clock, /*enabled=*/false));
  const StageId s = p.RegisterStage("infer");
  const QueueId q = p.RegisterQueue("q", 4);
  EXPECT_FALSE(p.enabled());
  {
    ScopedTimer t(&p, s);
    clock.AdvanceNs(500);
  }
  p.RecordSpan(s, Activity::kBusy, 0, 100);
  p.RecordQueuePush(q, 1);
  p.RecordQueuePop(q, 0, 10);
  p.RecordMemory(5, 1 << 20);
  const ProfileReport r = p.Report();
  ASSERT_EQ(r.stages.size(), 1u);
  EXPECT_EQ(r.stages[0].name, "infer");
  EXPECT_EQ(r.stages[0].latency.count, 0);
  EXPECT_EQ(r.stages[0].workers, 0);
  EXPECT_EQ(r.queues[0].depth_samples, 0);
  EXPECT_TRUE(r.memory.empty());
  EXPECT_EQ(r.trace_events, 0);
  EXPECT_EQ(r.bottleneck.reason, Bottleneck::Reason::kNone);
}

TEST(Profiler, NullProfilerTimerIsHarmless) {
  ScopedTimer t(nullptr, 0);
  t.set_items(3);
  t.Stop();
}

TEST(Profiler, RegistrationIsIdempotentAndBounded) {
  Profiler p(Quiet());
  EXPECT_EQ(p.RegisterStage("a"), 0);
  EXPECT_EQ(p.RegisterStage("b"), 1);
  EXPECT_EQ(p.RegisterStage("a"), 0);
  EXPECT_EQ(p.RegisterQueue("a->b", 8), 0);
  EXPECT_EQ(p.RegisterQueue("a->b", 8), 0);
  for (int i = 2; i < kMaxProfiledStages; ++i) {
    EXPECT_EQ(p.RegisterStage("s" + std::to_string(i)), i);
  }
  EXPECT_EQ(p.RegisterStage("one too many"), kNoStage);
  // Recording on unknown ids is ignored.
  p.RecordSpan(kNoStage, Activity::kBusy, 0, 10);
  p.RecordSpan(100000, Activity::kBusy, 0, 10);
  p.RecordQueuePush(kNoQueue, 3);
  p.RecordQueuePush(7, 3);
  const ProfileReport r = p.Report();
  for (const StageReport& s : r.stages) EXPECT_EQ(s.workers, 0);
  EXPECT_EQ(r.queues[0].depth_samples, 0);
}

TEST(Profiler, ScopedTimerMeasuresWithTheGivenClock) {
  ManualClock clock(5'000);
  Profiler p(Quiet(&clock));
  const StageId s = p.RegisterStage("pre");
  {
    ScopedTimer t(&p, s, Activity::kBusy, 1, /*frame=*/42);
    clock.AdvanceNs(700);
    t.set_items(4);
  }
  {
    ScopedTimer t(&p, s, Activity::kStarved);
    clock.AdvanceNs(300);
    t.Stop();
    clock.AdvanceNs(1000);  // after Stop: not counted
  }
  const ProfileReport r = p.Report();
  const StageReport& st = r.stages[0];
  EXPECT_EQ(st.latency.count, 1);
  EXPECT_EQ(st.latency.max_ns, 700);
  EXPECT_EQ(st.items, 4);
  EXPECT_EQ(st.busy_ns, 700);
  EXPECT_EQ(st.starved_ns, 300);
  EXPECT_EQ(r.start_ns, 5'000);
  EXPECT_EQ(r.end_ns, 6'000);
  EXPECT_EQ(r.wall_ns, 1'000);
  EXPECT_DOUBLE_EQ(st.busy_fraction, 0.7);
  EXPECT_DOUBLE_EQ(st.starved_fraction, 0.3);
}

TEST(Profiler, SpanInFlightWhenDisabledIsKept) {
  ManualClock clock;
  Profiler p(Quiet(&clock));
  const StageId s = p.RegisterStage("x");
  {
    ScopedTimer t(&p, s);
    p.SetEnabled(false);
    clock.AdvanceNs(50);
  }
  EXPECT_EQ(p.Report().stages[0].latency.count, 1);
}

// Two-stage synthetic pipeline on a 1 s window with known fractions.
TEST(Profiler, StageFractionsThroughputAndCapacity) {
  Profiler p(Quiet());
  const StageId a = p.RegisterStage("decode");
  const StageId b = p.RegisterStage("infer");
  // decode: one worker, 100 frames of 2 ms busy (0.2 s), blocked 0.7 s, starved 0.1 s.
  std::thread ta([&] {
    int64_t t = 0;
    for (int i = 0; i < 100; ++i) {
      p.RecordSpan(a, Activity::kBusy, t, t + 2'000'000, 1, i);
      t += 2'000'000;
      p.RecordSpan(a, Activity::kBlocked, t, t + 7'000'000);
      t += 7'000'000;
      p.RecordSpan(a, Activity::kStarved, t, t + 1'000'000);
      t += 1'000'000;
    }
  });
  ta.join();
  // infer: two workers, each 25 batches of 2 frames, 36 ms per batch (0.9 s busy each).
  std::vector<std::thread> tb;
  for (int w = 0; w < 2; ++w) {
    tb.emplace_back([&] {
      int64_t t = 0;
      for (int i = 0; i < 25; ++i) {
        p.RecordSpan(b, Activity::kBusy, t, t + 36'000'000, 2);
        t += 36'000'000;
        p.RecordSpan(b, Activity::kStarved, t, t + 4'000'000);
        t += 4'000'000;
      }
    });
  }
  for (auto& t : tb) t.join();
  const ProfileReport r = p.Report();
  EXPECT_EQ(r.wall_ns, 1'000'000'000);
  const StageReport& d = r.stages[0];
  EXPECT_EQ(d.workers, 1);
  EXPECT_EQ(d.items, 100);
  EXPECT_EQ(d.latency.count, 100);
  EXPECT_EQ(d.latency.p50_ns, 2'000'000);  // all equal: the histogram clamps to [min, max]
  EXPECT_DOUBLE_EQ(d.latency.mean_ns, 2e6);
  EXPECT_DOUBLE_EQ(d.latency.std_ns, 0);
  EXPECT_NEAR(d.busy_fraction, 0.2, 1e-12);
  EXPECT_NEAR(d.blocked_fraction, 0.7, 1e-12);
  EXPECT_NEAR(d.starved_fraction, 0.1, 1e-12);
  EXPECT_NEAR(d.throughput_fps, 100, 1e-9);
  EXPECT_NEAR(d.capacity_fps, 500, 1e-9);
  const StageReport& i = r.stages[1];
  EXPECT_EQ(i.workers, 2);
  EXPECT_EQ(i.items, 100);
  EXPECT_EQ(i.latency.count, 50);
  EXPECT_NEAR(i.busy_fraction, 0.9, 1e-12);
  EXPECT_NEAR(i.starved_fraction, 0.1, 1e-12);
  EXPECT_NEAR(i.capacity_fps, 100 * 2 / 1.8, 1e-9);
  EXPECT_EQ(r.bottleneck.reason, Bottleneck::Reason::kBusy);
  EXPECT_EQ(r.bottleneck.stage, b);
  EXPECT_EQ(r.bottleneck.stage_name, "infer");
}

// Many threads at once; the merged statistics equal a naive computation over all samples.
TEST(Profiler, ConcurrentRecordingMatchesNaive) {
  Profiler p(Quiet());
  const StageId s = p.RegisterStage("work");
  constexpr int kThreads = 8, kPerThread = 4000;
  std::vector<std::vector<int64_t>> durations(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    std::mt19937_64 rng(t + 1);
    std::lognormal_distribution<double> d(11.0, 1.0);
    for (int i = 0; i < kPerThread; ++i) durations[t].push_back(static_cast<int64_t>(d(rng)) + 1);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      p.SetThreadName("work/" + std::to_string(t));
      int64_t now = 0;
      for (int64_t dur : durations[t]) {
        p.RecordSpan(s, Activity::kBusy, now, now + dur);
        now += dur;
      }
    });
  }
  for (auto& th : threads) th.join();
  std::vector<int64_t> all;
  for (const auto& v : durations) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  double sum = 0;
  for (int64_t v : all) sum += static_cast<double>(v);
  const double mean = sum / all.size();
  double ss = 0;
  for (int64_t v : all) ss += (v - mean) * (v - mean);

  const ProfileReport r = p.Report();
  const StageReport& st = r.stages[0];
  EXPECT_EQ(st.workers, kThreads);
  EXPECT_EQ(st.latency.count, kThreads * kPerThread);
  EXPECT_EQ(st.items, kThreads * kPerThread);
  EXPECT_NEAR(st.latency.mean_ns, mean, 1e-9 * mean);
  EXPECT_NEAR(st.latency.std_ns, std::sqrt(ss / all.size()), 1e-6 * mean);
  EXPECT_EQ(st.latency.min_ns, all.front());
  EXPECT_EQ(st.latency.max_ns, all.back());
  const int64_t n = static_cast<int64_t>(all.size());
  const int64_t exact99 = all[(99 * n + 99) / 100 - 1];
  EXPECT_LE(std::abs(static_cast<double>(st.latency.p99_ns - exact99)), exact99 / 128.0);
  EXPECT_EQ(r.trace_events, n);
}

TEST(Profiler, QueueStatistics) {
  ManualClock clock;
  Profiler p(Quiet(&clock));
  const QueueId q = p.RegisterQueue("pre->infer", 4);
  const QueueId unused = p.RegisterQueue("infer->post", 2);
  const std::vector<int64_t> depths = {1, 2, 3, 4, 4, 3, 4, 2, 1, 0};
  const std::vector<int64_t> waits = {100, 250, 4000, 80};
  for (size_t i = 0; i < depths.size(); ++i) {
    clock.AdvanceNs(10);
    if (i % 2 == 0) {
      p.RecordQueuePush(q, depths[i]);
    } else {
      p.RecordQueuePop(q, depths[i], waits[(i / 2) % waits.size()]);
    }
  }
  const ProfileReport r = p.Report();
  ASSERT_EQ(r.queues.size(), 2u);
  const QueueReport& qr = r.queues[0];
  EXPECT_EQ(qr.name, "pre->infer");
  EXPECT_EQ(qr.capacity, 4);
  EXPECT_EQ(qr.depth_samples, 10);
  EXPECT_DOUBLE_EQ(qr.mean_depth, 2.4);
  EXPECT_EQ(qr.max_depth, 4);
  EXPECT_DOUBLE_EQ(qr.full_fraction, 0.3);
  // pops are i = 1, 3, 5, 7, 9 → waits 100, 250, 4000, 80, 100
  EXPECT_EQ(qr.wait.count, 5);
  EXPECT_EQ(qr.wait.max_ns, 4000);
  EXPECT_EQ(qr.wait.min_ns, 80);
  EXPECT_DOUBLE_EQ(qr.wait.mean_ns, (100 + 250 + 4000 + 80 + 100) / 5.0);
  EXPECT_EQ(r.queues[1].depth_samples, 0);
  EXPECT_EQ(r.queues[unused].capacity, 2);
  // With only queue samples, the window spans them.
  EXPECT_EQ(r.wall_ns, 90);
}

TEST(Profiler, TraceEventCapCountsDropsButKeepsStatistics) {
  ProfilerOptions o = Quiet();
  o.max_trace_events = 10;
  Profiler p(o);
  const StageId s = p.RegisterStage("s");
  for (int i = 0; i < 25; ++i) p.RecordSpan(s, Activity::kBusy, i * 10, i * 10 + 5);
  const ProfileReport r = p.Report();
  EXPECT_EQ(r.trace_events, 10);
  EXPECT_EQ(r.dropped_events, 15);
  EXPECT_EQ(r.stages[0].latency.count, 25);
  EXPECT_EQ(r.wall_ns, 245);
}

TEST(Profiler, MemorySamples) {
  Profiler p(Quiet());
  p.RecordMemory(300, 3 << 20);
  p.RecordMemory(100, 5 << 20);
  p.RecordMemory(200, 4 << 20);
  const int64_t rss = p.SampleMemory();
  ASSERT_GT(rss, 0);
  // Reference: the same file read independently.
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  f >> size >> resident;
  const int64_t ref = resident * sysconf(_SC_PAGESIZE);
  EXPECT_NEAR(static_cast<double>(rss), static_cast<double>(ref), 64.0 * 1024 * 1024);
  const ProfileReport r = p.Report();
  ASSERT_EQ(r.memory.size(), 4u);
  EXPECT_EQ(r.memory[0].t_ns, 100);  // sorted by time
  EXPECT_EQ(r.memory[1].t_ns, 200);
  EXPECT_EQ(r.memory[2].t_ns, 300);
  EXPECT_EQ(r.peak_rss_bytes, std::max<int64_t>(5 << 20, rss));
}

TEST(Profiler, BackgroundSamplerSamplesWhileEnabled) {
  ProfilerOptions o;
  o.enabled = true;
  o.memory_sample_interval_ms = 1;
  Profiler p(o);
  // Wait (without a time bound on the assertion) until a few samples arrived.
  while (p.Report().memory.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  p.SetEnabled(false);  // joins the sampler
  const size_t n = p.Report().memory.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(p.Report().memory.size(), n);
  for (const MemorySample& m : p.Report().memory) EXPECT_GT(m.rss_bytes, 0);
}

TEST(Profiler, ResetDiscardsData) {
  Profiler p(Quiet());
  const StageId s = p.RegisterStage("s");
  p.RecordSpan(s, Activity::kBusy, 0, 10);
  p.RecordMemory(1, 2);
  p.Reset();
  const ProfileReport r = p.Report();
  ASSERT_EQ(r.stages.size(), 1u);
  EXPECT_EQ(r.stages[0].latency.count, 0);
  EXPECT_TRUE(r.memory.empty());
  EXPECT_EQ(r.trace_events, 0);
  p.RecordSpan(s, Activity::kBusy, 0, 10);
  EXPECT_EQ(p.Report().stages[0].latency.count, 1);
}

TEST(Profiler, TwoProfilersOnOneThreadKeepSeparateBuffers) {
  Profiler a(Quiet()), b(Quiet());
  const StageId sa = a.RegisterStage("a");
  const StageId sb = b.RegisterStage("b");
  for (int i = 0; i < 3; ++i) {
    a.RecordSpan(sa, Activity::kBusy, 0, 10);
    b.RecordSpan(sb, Activity::kBusy, 0, 20);
  }
  // A profiler made at the address of a destroyed one must not see its buffers.
  for (int k = 0; k < 3; ++k) {
    auto c = std::make_unique<Profiler>(Quiet());
    const StageId sc = c->RegisterStage("c");
    EXPECT_EQ(c->Report().stages[0].latency.count, 0);
    c->RecordSpan(sc, Activity::kBusy, 0, 5);
    EXPECT_EQ(c->Report().stages[0].latency.count, 1);
  }
  EXPECT_EQ(a.Report().stages[0].latency.count, 3);
  EXPECT_EQ(a.Report().stages[0].latency.max_ns, 10);
  EXPECT_EQ(b.Report().stages[0].latency.count, 3);
  EXPECT_EQ(b.Report().stages[0].latency.max_ns, 20);
}

}  // namespace
}  // namespace vrseg

namespace vrseg {
namespace {

TEST(Profiler, OddInputsAreClampedNotTrusted) {
  Profiler p(Quiet());
  const StageId s = p.RegisterStage("s");
  const QueueId q = p.RegisterQueue("q", -5);     // negative capacity: treated as unbounded (0)
  p.RecordSpan(s, Activity::kBusy, 100, 40, -3);  // end before start: zero length; items >= 0
  p.RecordQueuePush(q, -2);                       // negative depth: 0
  p.RecordQueuePop(q, 0, -50);                    // negative wait: 0
  const ProfileReport r = p.Report();
  EXPECT_EQ(r.stages[0].latency.count, 1);
  EXPECT_EQ(r.stages[0].latency.max_ns, 0);
  EXPECT_EQ(r.stages[0].items, 0);
  EXPECT_EQ(r.queues[0].capacity, 0);
  EXPECT_EQ(r.queues[0].max_depth, 0);
  EXPECT_EQ(r.queues[0].full_fraction, 0);
  EXPECT_EQ(r.queues[0].wait.max_ns, 0);
  // A zero-length window gives zero fractions, not NaN or infinity.
  EXPECT_EQ(r.wall_ns, 0);
  EXPECT_EQ(r.stages[0].busy_fraction, 0);
  EXPECT_EQ(r.stages[0].throughput_fps, 0);
  EXPECT_EQ(r.stages[0].capacity_fps, 0);
}

}  // namespace
}  // namespace vrseg
