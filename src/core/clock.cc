#include "vrseg/clock.h"

#include <chrono>

namespace vrseg {
namespace {
class SteadyClock final : public Clock {
 public:
  int64_t NowNs() const override { return vrseg::NowNs(); }
};
}  // namespace

const Clock& Clock::Steady() {
  static const SteadyClock clock;
  return clock;
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace vrseg
