// Cost of the profiler's timers: off (null profiler, disabled profiler) and on (statistics only,
// statistics plus trace), single- and multi-threaded. See docs/benchmarks.md for the figures.
#include <benchmark/benchmark.h>

#include "vrseg/profiler.h"

namespace {

vrseg::ProfilerOptions Options(bool enabled, int64_t max_trace_events) {
  vrseg::ProfilerOptions o;
  o.enabled = enabled;
  o.memory_sample_interval_ms = 0;
  o.max_trace_events = max_trace_events;
  return o;
}

void BM_Baseline(benchmark::State& state) {
  int64_t x = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(x);
    ++x;
  }
}
BENCHMARK(BM_Baseline);

void BM_ScopedTimerNullProfiler(benchmark::State& state) {
  vrseg::Profiler* p = nullptr;
  benchmark::DoNotOptimize(p);
  for (auto _ : state) {
    vrseg::ScopedTimer t(p, 0);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ScopedTimerNullProfiler);

vrseg::Profiler& Disabled() {
  static vrseg::Profiler p(Options(false, 0));
  return p;
}

void BM_ScopedTimerDisabled(benchmark::State& state) {
  vrseg::Profiler* p = &Disabled();
  const vrseg::StageId s = p->RegisterStage("stage");
  for (auto _ : state) {
    vrseg::ScopedTimer t(p, s);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ScopedTimerDisabled)->ThreadRange(1, 2);

vrseg::Profiler& StatsOnly() {
  static vrseg::Profiler p(Options(true, 0));
  return p;
}

void BM_ScopedTimerEnabledStatsOnly(benchmark::State& state) {
  vrseg::Profiler* p = &StatsOnly();
  const vrseg::StageId s = p->RegisterStage("stage");
  for (auto _ : state) {
    vrseg::ScopedTimer t(p, s);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ScopedTimerEnabledStatsOnly)->ThreadRange(1, 2);

void BM_ScopedTimerEnabledWithTrace(benchmark::State& state) {
  // A fixed iteration count below the event cap: every span is kept in the trace.
  vrseg::Profiler p(Options(true, 4'000'000));
  const vrseg::StageId s = p.RegisterStage("stage");
  for (auto _ : state) {
    vrseg::ScopedTimer t(&p, s);
    benchmark::ClobberMemory();
  }
  state.counters["dropped"] = static_cast<double>(p.Report().dropped_events);
}
BENCHMARK(BM_ScopedTimerEnabledWithTrace)->Iterations(2'000'000);

void BM_Report100kSpans(benchmark::State& state) {
  vrseg::Profiler p(Options(true, 1'000'000));
  const vrseg::StageId a = p.RegisterStage("a");
  const vrseg::StageId b = p.RegisterStage("b");
  for (int i = 0; i < 50'000; ++i) {
    p.RecordSpan(a, vrseg::Activity::kBusy, i * 1000, i * 1000 + 500 + i % 97);
    p.RecordSpan(b, vrseg::Activity::kBusy, i * 1000, i * 1000 + 900 + i % 31);
  }
  for (auto _ : state) benchmark::DoNotOptimize(p.Report());
}
BENCHMARK(BM_Report100kSpans)->Unit(benchmark::kMillisecond);

void BM_ChromeTrace100kSpans(benchmark::State& state) {
  vrseg::Profiler p(Options(true, 1'000'000));
  const vrseg::StageId a = p.RegisterStage("a");
  for (int i = 0; i < 100'000; ++i)
    p.RecordSpan(a, vrseg::Activity::kBusy, i * 1000, i * 1000 + 700);
  for (auto _ : state) benchmark::DoNotOptimize(p.ChromeTraceJson());
}
BENCHMARK(BM_ChromeTrace100kSpans)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
