// vrseg/clock.h — time sources. Components that wait or time out take a Clock so that tests can
// inject a manual one and stay deterministic.
#pragma once

#include <atomic>
#include <cstdint>

namespace vrseg {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic time in nanoseconds.
  virtual int64_t NowNs() const = 0;
  // The process-wide steady clock.
  static const Clock& Steady();
};

// A clock that moves only when told to. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_ns = 0) : now_(start_ns) {}
  int64_t NowNs() const override { return now_.load(); }
  void AdvanceNs(int64_t ns) { now_.fetch_add(ns); }
  void SetNs(int64_t ns) { now_.store(ns); }

 private:
  std::atomic<int64_t> now_;
};

// Steady-clock nanoseconds, for ad-hoc timing.
int64_t NowNs();

}  // namespace vrseg
