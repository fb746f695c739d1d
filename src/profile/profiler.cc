// Profiler: registry, per-thread recording, memory sampling and the merged report.
#include "vrseg/profiler.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "profile/profiler_impl.h"

namespace vrseg {

namespace {

std::atomic<uint64_t> g_next_profiler_id{1};
std::atomic<uint64_t> g_next_thread_serial{1};

// A small per-thread cache of (profiler id → this thread's buffer in it).
struct TlsEntry {
  uint64_t profiler_id = 0;
  ThreadBuffer* buffer = nullptr;
};
constexpr int kTlsEntries = 4;
thread_local TlsEntry tls_cache[kTlsEntries];
thread_local unsigned tls_next = 0;
thread_local const uint64_t tls_thread_serial = g_next_thread_serial.fetch_add(1);

void RecordSpanImpl(Profiler::Impl& impl, int64_t max_events, StageId stage, Activity activity,
                    int64_t start_ns, int64_t end_ns, int64_t items, int64_t frame) {
  if (stage < 0 || stage >= impl.stage_count.load(std::memory_order_acquire)) return;
  if (end_ns < start_ns) end_ns = start_ns;
  const int64_t dur = end_ns - start_ns;
  ThreadBuffer* b = impl.Buffer();
  const bool keep = impl.TakeTraceSlot(max_events);
  std::lock_guard<std::mutex> lock(b->mu);
  if (b->stages.size() <= static_cast<size_t>(stage)) b->stages.resize(stage + 1);
  StageAccum& s = b->stages[stage];
  switch (activity) {
    case Activity::kBusy:
      if (!s.busy) s.busy = std::make_unique<LatencyHistogram>();
      s.busy->Add(dur);
      s.busy_ns += dur;
      s.items += std::max<int64_t>(0, items);
      break;
    case Activity::kStarved:
      s.starved_ns += dur;
      break;
    case Activity::kBlocked:
      s.blocked_ns += dur;
      break;
  }
  ++s.spans;
  if (keep) {
    b->spans.push_back(SpanEvent{start_ns, end_ns, items, frame, stage, activity});
  } else {
    ++b->dropped;
  }
  b->min_t = std::min(b->min_t, start_ns);
  b->max_t = std::max(b->max_t, end_ns);
}

}  // namespace

std::string_view ActivityName(Activity activity) {
  switch (activity) {
    case Activity::kBusy:
      return "busy";
    case Activity::kStarved:
      return "starved";
    case Activity::kBlocked:
      return "blocked";
  }
  return "unknown";
}

int64_t ReadRssBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lld %lld", &size, &resident);
  std::fclose(f);
  if (n != 2) return -1;
  return static_cast<int64_t>(resident) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

ThreadBuffer* Profiler::Impl::Buffer() {
  for (const TlsEntry& e : tls_cache) {
    if (e.profiler_id == id) return e.buffer;
  }
  ThreadBuffer* buffer;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = by_thread.find(tls_thread_serial);
    if (it != by_thread.end()) {
      buffer = it->second;
    } else {
      auto owned = std::make_unique<ThreadBuffer>();
      owned->index = static_cast<int>(threads.size());
      owned->spans.reserve(1024);
      buffer = owned.get();
      threads.push_back(std::move(owned));
      by_thread.emplace(tls_thread_serial, buffer);
    }
  }
  tls_cache[tls_next++ % kTlsEntries] = TlsEntry{id, buffer};
  return buffer;
}

Profiler::Profiler(ProfilerOptions options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : &Clock::Steady()),
      impl_(std::make_unique<Impl>()) {
  impl_->id = g_next_profiler_id.fetch_add(1);
  if (options_.enabled) SetEnabled(true);
}

Profiler::~Profiler() { SetEnabled(false); }

void Profiler::SetEnabled(bool enabled) {
  enabled_.store(enabled, std::memory_order_relaxed);
  Impl& impl = *impl_;
  if (enabled) {
    if (options_.memory_sample_interval_ms <= 0) return;
    std::lock_guard<std::mutex> lock(impl.sampler_mu);
    if (impl.sampler.joinable()) return;
    impl.sampler_stop = false;
    const auto interval = std::chrono::milliseconds(options_.memory_sample_interval_ms);
    impl.sampler = std::thread([this, interval] {
      Impl& im = *impl_;
      std::unique_lock<std::mutex> l(im.sampler_mu);
      while (!im.sampler_stop) {
        l.unlock();
        SampleMemory();
        l.lock();
        im.sampler_cv.wait_for(l, interval, [&im] { return im.sampler_stop; });
      }
    });
  } else {
    std::thread sampler;
    {
      std::lock_guard<std::mutex> lock(impl.sampler_mu);
      impl.sampler_stop = true;
      sampler = std::move(impl.sampler);
    }
    impl.sampler_cv.notify_all();
    if (sampler.joinable()) sampler.join();
  }
}

StageId Profiler::RegisterStage(std::string_view name) {
  Impl& impl = *impl_;
  std::lock_guard<std::mutex> lock(impl.mu);
  for (size_t i = 0; i < impl.stage_names.size(); ++i) {
    if (impl.stage_names[i] == name) return static_cast<StageId>(i);
  }
  if (impl.stage_names.size() >= static_cast<size_t>(kMaxProfiledStages)) return kNoStage;
  impl.stage_names.emplace_back(name);
  const auto id = static_cast<StageId>(impl.stage_names.size() - 1);
  impl.stage_count.store(id + 1, std::memory_order_release);
  return id;
}

QueueId Profiler::RegisterQueue(std::string_view name, int64_t capacity) {
  Impl& impl = *impl_;
  std::lock_guard<std::mutex> lock(impl.mu);
  for (size_t i = 0; i < impl.queue_names.size(); ++i) {
    if (impl.queue_names[i] == name) return static_cast<QueueId>(i);
  }
  if (impl.queue_names.size() >= static_cast<size_t>(kMaxProfiledQueues)) return kNoQueue;
  impl.queue_names.emplace_back(name);
  const auto id = static_cast<QueueId>(impl.queue_names.size() - 1);
  impl.queue_capacities[id].store(std::max<int64_t>(0, capacity), std::memory_order_relaxed);
  impl.queue_count.store(id + 1, std::memory_order_release);
  return id;
}

void Profiler::SetThreadName(std::string_view name) {
  ThreadBuffer* b = impl_->Buffer();
  std::lock_guard<std::mutex> lock(b->mu);
  b->name = std::string(name);
}

void Profiler::RecordSpan(StageId stage, Activity activity, int64_t start_ns, int64_t end_ns,
                          int64_t items, int64_t frame) {
  if (!enabled()) return;
  RecordSpanImpl(*impl_, options_.max_trace_events, stage, activity, start_ns, end_ns, items,
                 frame);
}

namespace {
void RecordQueueImpl(Profiler::Impl& impl, int64_t max_events, int64_t now, QueueId queue,
                     int64_t depth, bool pop, int64_t waited_ns) {
  if (queue < 0 || queue >= impl.queue_count.load(std::memory_order_acquire)) return;
  depth = std::max<int64_t>(0, depth);
  const int64_t capacity = impl.queue_capacities[queue].load(std::memory_order_relaxed);
  ThreadBuffer* b = impl.Buffer();
  const bool keep = impl.TakeTraceSlot(max_events);
  std::lock_guard<std::mutex> lock(b->mu);
  if (b->queues.size() <= static_cast<size_t>(queue)) b->queues.resize(queue + 1);
  QueueAccum& q = b->queues[queue];
  ++q.samples;
  q.depth_sum += depth;
  q.max_depth = std::max(q.max_depth, depth);
  if (capacity > 0 && depth >= capacity) ++q.full;
  if (pop) {
    if (!q.wait) q.wait = std::make_unique<LatencyHistogram>();
    q.wait->Add(waited_ns);
  }
  if (keep) {
    b->counters.push_back(CounterEvent{now, depth, queue});
  } else {
    ++b->dropped;
  }
}
}  // namespace

void Profiler::RecordQueuePush(QueueId queue, int64_t depth_after) {
  if (!enabled()) return;
  RecordQueueImpl(*impl_, options_.max_trace_events, clock_->NowNs(), queue, depth_after, false, 0);
}

void Profiler::RecordQueuePop(QueueId queue, int64_t depth_after, int64_t waited_ns) {
  if (!enabled()) return;
  RecordQueueImpl(*impl_, options_.max_trace_events, clock_->NowNs(), queue, depth_after, true,
                  waited_ns);
}

int64_t Profiler::SampleMemory() {
  const int64_t rss = ReadRssBytes();
  if (rss >= 0) RecordMemory(clock_->NowNs(), rss);
  return rss;
}

void Profiler::RecordMemory(int64_t t_ns, int64_t rss_bytes) {
  if (!enabled()) return;
  std::lock_guard<std::mutex> lock(impl_->memory_mu);
  impl_->memory.push_back(MemorySample{t_ns, rss_bytes});
}

void Profiler::Reset() {
  Impl& impl = *impl_;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    for (auto& b : impl.threads) {
      std::lock_guard<std::mutex> bl(b->mu);
      b->stages.clear();
      b->queues.clear();
      b->spans.clear();
      b->counters.clear();
      b->dropped = 0;
      b->min_t = INT64_MAX;
      b->max_t = INT64_MIN;
    }
    impl.trace_slots.store(0, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(impl.memory_mu);
  impl.memory.clear();
}

ProfileReport Profiler::Report() const {
  const Impl& impl = *impl_;
  ProfileReport r;
  std::vector<std::string> stage_names, queue_names;
  std::vector<ThreadBuffer*> threads;
  {
    std::lock_guard<std::mutex> lock(impl.mu);
    stage_names = impl.stage_names;
    queue_names = impl.queue_names;
    for (const auto& b : impl.threads) threads.push_back(b.get());
  }
  const size_t ns = stage_names.size(), nq = queue_names.size();
  std::vector<LatencyHistogram> stage_hist(ns), queue_hist(nq);
  r.stages.resize(ns);
  r.queues.resize(nq);
  std::vector<int64_t> depth_sum(nq, 0), full(nq, 0);
  int64_t span_min = INT64_MAX, span_max = INT64_MIN;
  int64_t counter_min = INT64_MAX, counter_max = INT64_MIN;
  int64_t kept = 0, dropped = 0;
  for (ThreadBuffer* b : threads) {
    std::lock_guard<std::mutex> lock(b->mu);
    for (size_t s = 0; s < b->stages.size() && s < ns; ++s) {
      const StageAccum& a = b->stages[s];
      if (a.spans == 0) continue;
      StageReport& sr = r.stages[s];
      ++sr.workers;
      sr.items += a.items;
      sr.busy_ns += a.busy_ns;
      sr.starved_ns += a.starved_ns;
      sr.blocked_ns += a.blocked_ns;
      if (a.busy) stage_hist[s].Merge(*a.busy);
    }
    for (size_t q = 0; q < b->queues.size() && q < nq; ++q) {
      const QueueAccum& a = b->queues[q];
      QueueReport& qr = r.queues[q];
      qr.depth_samples += a.samples;
      qr.max_depth = std::max(qr.max_depth, a.max_depth);
      depth_sum[q] += a.depth_sum;
      full[q] += a.full;
      if (a.wait) queue_hist[q].Merge(*a.wait);
    }
    span_min = std::min(span_min, b->min_t);
    span_max = std::max(span_max, b->max_t);
    for (const CounterEvent& c : b->counters) {
      counter_min = std::min(counter_min, c.t_ns);
      counter_max = std::max(counter_max, c.t_ns);
    }
    kept += static_cast<int64_t>(b->spans.size() + b->counters.size());
    dropped += b->dropped;
  }
  {
    std::lock_guard<std::mutex> lock(impl.memory_mu);
    r.memory = impl.memory;
  }
  std::stable_sort(r.memory.begin(), r.memory.end(),
                   [](const MemorySample& a, const MemorySample& b) { return a.t_ns < b.t_ns; });
  for (const MemorySample& m : r.memory) r.peak_rss_bytes = std::max(r.peak_rss_bytes, m.rss_bytes);

  if (span_min <= span_max) {
    r.start_ns = span_min;
    r.end_ns = span_max;
  } else if (counter_min <= counter_max) {
    r.start_ns = counter_min;
    r.end_ns = counter_max;
  }
  r.wall_ns = r.end_ns - r.start_ns;
  const double wall = static_cast<double>(r.wall_ns);
  for (size_t s = 0; s < ns; ++s) {
    StageReport& sr = r.stages[s];
    sr.name = stage_names[s];
    sr.latency = stage_hist[s].Stats();
    sr.histogram = stage_hist[s].Bins(40);
    if (wall > 0 && sr.workers > 0) {
      const double denom = wall * sr.workers;
      sr.busy_fraction = std::min(1.0, static_cast<double>(sr.busy_ns) / denom);
      sr.starved_fraction = std::min(1.0, static_cast<double>(sr.starved_ns) / denom);
      sr.blocked_fraction = std::min(1.0, static_cast<double>(sr.blocked_ns) / denom);
      sr.throughput_fps = static_cast<double>(sr.items) * 1e9 / wall;
    }
    if (sr.busy_ns > 0) {
      sr.capacity_fps =
          static_cast<double>(sr.items) * sr.workers * 1e9 / static_cast<double>(sr.busy_ns);
    }
  }
  for (size_t q = 0; q < nq; ++q) {
    QueueReport& qr = r.queues[q];
    qr.name = queue_names[q];
    qr.capacity = impl.queue_capacities[q].load(std::memory_order_relaxed);
    if (qr.depth_samples > 0) {
      qr.mean_depth = static_cast<double>(depth_sum[q]) / static_cast<double>(qr.depth_samples);
      if (qr.capacity > 0) {
        qr.full_fraction = static_cast<double>(full[q]) / static_cast<double>(qr.depth_samples);
      }
    }
    qr.wait = queue_hist[q].Stats();
  }
  r.trace_events = kept;
  r.dropped_events = dropped;
  r.bottleneck = AnalyzeBottleneck(r.stages, options_.saturation_threshold);
  return r;
}

void ScopedTimer::Begin(Profiler* profiler, StageId stage, Activity activity, int64_t items,
                        int64_t frame) {
  profiler_ = profiler;
  stage_ = stage;
  activity_ = activity;
  items_ = items;
  frame_ = frame;
  start_ns_ = profiler->clock_->NowNs();
}

void ScopedTimer::End() {
  Profiler* p = profiler_;
  profiler_ = nullptr;
  RecordSpanImpl(*p->impl_, p->options_.max_trace_events, stage_, activity_, start_ns_,
                 p->clock_->NowNs(), items_, frame_);
}

}  // namespace vrseg
