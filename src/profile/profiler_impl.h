// Private state of vrseg::Profiler: per-thread buffers, the registry and the memory sampler.
#pragma once

#include <array>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "vrseg/profiler.h"

namespace vrseg {

struct SpanEvent {
  int64_t start_ns;
  int64_t end_ns;
  int64_t items;
  int64_t frame;
  StageId stage;
  Activity activity;
};

// A counter sample for the trace: queue depth (id >= 0) or RSS (id == kRssCounter).
struct CounterEvent {
  int64_t t_ns;
  int64_t value;
  int32_t id;
};
inline constexpr int32_t kRssCounter = -1;

struct StageAccum {
  std::unique_ptr<LatencyHistogram> busy;  // allocated on the first busy span
  int64_t items = 0;
  int64_t busy_ns = 0;
  int64_t starved_ns = 0;
  int64_t blocked_ns = 0;
  int64_t spans = 0;  // of any activity
};

struct QueueAccum {
  std::unique_ptr<LatencyHistogram> wait;  // allocated on the first pop
  int64_t samples = 0;
  int64_t depth_sum = 0;
  int64_t max_depth = 0;
  int64_t full = 0;
};

// One recording thread's data. Written by its thread, read by Report(); both under `mu`.
struct ThreadBuffer {
  std::mutex mu;
  int index = 0;     // creation order: the trace's thread number
  std::string name;  // SetThreadName, or "" (then named after its stages)
  std::vector<StageAccum> stages;
  std::vector<QueueAccum> queues;
  std::vector<SpanEvent> spans;
  std::vector<CounterEvent> counters;
  int64_t dropped = 0;        // trace events not kept (over max_trace_events)
  int64_t min_t = INT64_MAX;  // earliest span start / sample time
  int64_t max_t = INT64_MIN;  // latest span end / sample time
};

struct Profiler::Impl {
  uint64_t id = 0;  // unique per profiler in the process (keys the thread-local cache)

  mutable std::mutex mu;  // guards the registry and the thread map
  std::vector<std::string> stage_names;
  std::vector<std::string> queue_names;
  // Read by recording threads without the mutex: fixed size, set before queue_count publishes.
  std::array<std::atomic<int64_t>, kMaxProfiledQueues> queue_capacities{};
  std::atomic<int32_t> stage_count{0};
  std::atomic<int32_t> queue_count{0};
  std::unordered_map<uint64_t, ThreadBuffer*> by_thread;  // key: per-process thread serial
  std::vector<std::unique_ptr<ThreadBuffer>> threads;

  // Trace slots taken (may overshoot max_trace_events by the racing threads; those count as
  // dropped). Once full, recording threads only load it: no contended read-modify-write.
  std::atomic<int64_t> trace_slots{0};

  mutable std::mutex memory_mu;
  std::vector<MemorySample> memory;

  std::mutex sampler_mu;  // guards the sampler thread's start/stop
  std::condition_variable sampler_cv;
  bool sampler_stop = false;
  std::thread sampler;

  // The calling thread's buffer, made on first use.
  ThreadBuffer* Buffer();
  // True when one more trace event may be kept.
  bool TakeTraceSlot(int64_t max_events) {
    if (trace_slots.load(std::memory_order_relaxed) >= max_events) return false;
    return trace_slots.fetch_add(1, std::memory_order_relaxed) < max_events;
  }
};

// Reads the resident set size from /proc/self/statm; -1 on failure.
int64_t ReadRssBytes();

// JSON string escaping (without the quotes) and HTML text escaping.
std::string JsonEscape(std::string_view s);
std::string HtmlEscape(std::string_view s);

}  // namespace vrseg
