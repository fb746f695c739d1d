// vrseg/batcher.h — the dynamic batcher: which waiting frames go into the next inference batch.
//
// Frames wait in one FIFO per priority level (0 is the most urgent: VR / live frames; higher
// numbers are throughput work). Poll() decides, for a given time, whether a batch goes now and
// which frames it holds, or how long to wait before asking again:
//   * a batch goes when `max_batch` frames wait, when the largest preferred size is reached, when
//     the oldest frame has waited `max_delay_us`, when a frame of priority 0 waits and
//     `urgent_no_delay` is set, when a frame's dispatch deadline (deadline - expected_latency_us)
//     is reached, or when the caller flushes (end of input);
//   * its size is min(waiting, max_batch), lowered to the largest preferred size that fits if any;
//   * it is filled by priority first (all waiting priority-0 frames ahead of priority-1 ...), FIFO
//     within a level;
//   * with LatePolicy::kDrop, a frame whose dispatch deadline has passed is removed and reported
//     in Decision::late instead of running; with kRunAnyway it runs (counted in late_run).
//
// The batcher is pure logic over an explicit time: no threads, no clock reads, so tests drive it
// with a vrseg::ManualClock and get the same batches every time. Storage is allocated once at
// construction (max_queue frames); Add and Poll never allocate once `Decision` vectors have grown.
//
// Thread safety: not thread-safe; the owner (the pipeline's batching stage) serialises calls.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vrseg/status.h"

namespace vrseg {

// What happens to a frame that can no longer meet its deadline.
enum class LatePolicy : int {
  kRunAnyway = 0,  // run it; counted as late
  kDrop,           // do not run it; its result is kDeadlineExceeded
};

std::string_view LatePolicyName(LatePolicy p);
// "run" | "drop". Errors name the value and the accepted ones.
Result<LatePolicy> ParseLatePolicy(std::string_view name);

// Priority levels used by the pipeline and the Segmenter.
inline constexpr int kPriorityRealtime = 0;    // VR / live frames: next batch, no delay
inline constexpr int kPriorityThroughput = 1;  // recorded footage

struct BatcherOptions {
  // Largest batch handed to the backend (1..1024). Default 1.
  int max_batch = 1;
  // How long the oldest waiting frame may wait for a fuller batch, in microseconds (>= 0).
  // 0: a batch goes as soon as anything waits. Default 0.
  int64_t max_delay_us = 0;
  // Batch sizes the backend runs best at (each 1..max_batch). When set, a batch of the largest
  // preferred size goes as soon as it can be filled, and a batch forced out by delay or deadline
  // is cut to the largest preferred size that fits (all waiting frames if none fits).
  // Empty (default): any size.
  std::vector<int> preferred_batch_sizes;
  // Number of priority levels (1..8); frames carry priority 0 (most urgent) .. levels-1. Default 2.
  int priority_levels = 2;
  // A waiting frame of priority 0 sends a batch at once instead of waiting max_delay_us.
  // Default true.
  bool urgent_no_delay = true;
  // Expected time from dispatch to result, in microseconds (>= 0): a frame with a deadline is
  // dispatched no later than deadline - expected_latency_us and is late after that. Default 0.
  int64_t expected_latency_us = 0;
  // What happens to late frames (see LatePolicy). Default kRunAnyway.
  LatePolicy late_policy = LatePolicy::kRunAnyway;
  // Frames that may wait in the batcher at once (>= max_batch); more are refused (the pipeline
  // blocks its producers: backpressure). Default 32.
  int max_queue = 32;
};

// Checks ranges and consistency. Errors name the field ("batcher.max_batch: ...").
Status ValidateBatcherOptions(const BatcherOptions& options);

// Named presets:
//   "vr"         — max_batch 2, no delay, 2 priority levels, priority 0 dispatches at once;
//   "throughput" — max_batch 16, max_delay_us 2000, preferred sizes {16, 8, 4}.
// Errors name the preset and list the known ones.
Result<BatcherOptions> BatcherPreset(std::string_view name);

template <typename T>
class Batcher {
 public:
  struct Item {
    T value{};
    int priority = 0;
    int64_t enqueue_ns = 0;
    int64_t deadline_ns = 0;  // 0: none
  };

  struct Decision {
    std::vector<Item> batch;  // to run now, in dispatch order (empty: nothing to run yet)
    std::vector<Item> late;   // removed for their deadline (LatePolicy::kDrop only)
    int late_run = 0;         // frames in `batch` already past their dispatch deadline
    // When `batch` is empty: nanoseconds until Poll could decide differently without new input
    // (-1: nothing is waiting, wait for Add).
    int64_t wait_ns = -1;
    void Clear() {
      batch.clear();
      late.clear();
      late_run = 0;
      wait_ns = -1;
    }
  };

  // `options` must have passed ValidateBatcherOptions (out-of-range values are clamped).
  explicit Batcher(BatcherOptions options) : options_(std::move(options)) {
    options_.max_batch = std::max(1, options_.max_batch);
    options_.priority_levels = std::clamp(options_.priority_levels, 1, 8);
    options_.max_queue = std::max(options_.max_queue, options_.max_batch);
    levels_.resize(options_.priority_levels);
    for (auto& l : levels_) l.ring.resize(options_.max_queue);
    int largest_preferred = 0;
    for (int p : options_.preferred_batch_sizes) {
      if (p >= 1 && p <= options_.max_batch) largest_preferred = std::max(largest_preferred, p);
    }
    has_preferred_ = largest_preferred > 0;
    target_ = has_preferred_ ? largest_preferred : options_.max_batch;
  }

  const BatcherOptions& options() const { return options_; }
  int size() const { return total_; }
  bool empty() const { return total_ == 0; }
  bool full() const { return total_ >= options_.max_queue; }

  // Queues `value`. Errors: kUnavailable when full() (nothing queued), kInvalidArgument for a
  // priority outside 0..priority_levels-1.
  Status Add(T value, int priority, int64_t now_ns, int64_t deadline_ns = 0) {
    if (priority < 0 || priority >= options_.priority_levels) {
      return Status::InvalidArgument("batcher: priority " + std::to_string(priority) +
                                     " outside 0.." + std::to_string(options_.priority_levels - 1));
    }
    if (full()) {
      return Status::Unavailable("batcher: queue full (" + std::to_string(options_.max_queue) +
                                 " frames)");
    }
    Level& l = levels_[priority];
    Item& it = l.ring[(l.head + l.count) % l.ring.size()];
    it.value = std::move(value);
    it.priority = priority;
    it.enqueue_ns = now_ns;
    it.deadline_ns = deadline_ns;
    ++l.count;
    ++total_;
    return Status::Ok();
  }

  // Decides at time `now_ns` (see the file comment). `flush`: no more frames will come (end of
  // input): send what waits without waiting for delays. `out` is cleared first.
  void Poll(int64_t now_ns, bool flush, Decision* out) {
    out->Clear();
    const int64_t slack_ns = options_.expected_latency_us * 1000;
    if (options_.late_policy == LatePolicy::kDrop) RemoveLate(now_ns, slack_ns, out);
    if (total_ == 0) return;

    int64_t oldest = std::numeric_limits<int64_t>::max();
    int64_t next_due = std::numeric_limits<int64_t>::max();  // earliest dispatch deadline
    for (const Level& l : levels_) {
      if (l.count == 0) continue;
      oldest = std::min(oldest, l.ring[l.head].enqueue_ns);
      for (int i = 0; i < l.count; ++i) {
        const Item& it = l.ring[(l.head + i) % l.ring.size()];
        if (it.deadline_ns > 0) next_due = std::min(next_due, it.deadline_ns - slack_ns);
      }
    }
    const int64_t delay_due = oldest + options_.max_delay_us * 1000;
    const bool urgent = options_.urgent_no_delay && options_.priority_levels > 1 &&
                        levels_[0].count > 0;
    const bool go = flush || total_ >= target_ || urgent || now_ns >= delay_due ||
                    now_ns >= next_due;
    if (!go) {
      out->wait_ns = std::max<int64_t>(0, std::min(delay_due, next_due) - now_ns);
      return;
    }
    int n = std::min(total_, options_.max_batch);
    if (has_preferred_) {
      int best = 0;
      for (int p : options_.preferred_batch_sizes) {
        if (p <= n && p > best) best = p;
      }
      if (best > 0) n = best;
    }
    for (Level& l : levels_) {
      while (n > 0 && l.count > 0) {
        Item& it = l.ring[l.head];
        if (it.deadline_ns > 0 && now_ns > it.deadline_ns - slack_ns) ++out->late_run;
        out->batch.push_back(std::move(it));
        it.value = T{};
        l.head = (l.head + 1) % l.ring.size();
        --l.count;
        --total_;
        --n;
      }
    }
  }

  // Removes every waiting frame (oldest first within each priority) into `out`.
  void TakeAll(std::vector<Item>* out) {
    for (Level& l : levels_) {
      while (l.count > 0) {
        out->push_back(std::move(l.ring[l.head]));
        l.ring[l.head].value = T{};
        l.head = (l.head + 1) % l.ring.size();
        --l.count;
      }
    }
    total_ = 0;
  }

 private:
  struct Level {
    std::vector<Item> ring;
    int head = 0;
    int count = 0;
  };

  // Moves frames past their dispatch deadline into out->late, keeping the others in order.
  void RemoveLate(int64_t now_ns, int64_t slack_ns, Decision* out) {
    for (Level& l : levels_) {
      int kept = 0;
      const int n = l.count;
      for (int i = 0; i < n; ++i) {
        Item& it = l.ring[(l.head + i) % l.ring.size()];
        if (it.deadline_ns > 0 && now_ns > it.deadline_ns - slack_ns) {
          out->late.push_back(std::move(it));
          it.value = T{};
          --total_;
        } else {
          if (kept != i) {
            Item& dst = l.ring[(l.head + kept) % l.ring.size()];
            dst = std::move(it);
            it.value = T{};
          }
          ++kept;
        }
      }
      l.count = kept;
    }
  }

  BatcherOptions options_;
  std::vector<Level> levels_;
  int total_ = 0;
  int target_ = 1;  // the size that sends a batch without waiting
  bool has_preferred_ = false;
};

}  // namespace vrseg
