// AnalyzeBottleneck: which stage limits throughput, from busy / starved / blocked fractions.
//
// In a chain of stages joined by bounded queues, every stage passes the same frames, so a stage's
// busy fraction is throughput / capacity: the stage with the highest busy fraction is the one
// with the least spare capacity. When it is saturated it is the bottleneck (the stages before it
// block on its full input queue, the ones after it starve). When no stage is saturated the limit
// is outside the stages: the input (everyone waits for input) or the consumer (everyone waits to
// hand on).
#include <cstdio>
#include <string>

#include "vrseg/profiler.h"

namespace vrseg {

namespace {

std::string Percent(double f) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.0f%%", f * 100.0);
  return buf;
}

std::string Fps(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f fps", v);
  return buf;
}

bool HasData(const StageReport& s) {
  return s.workers > 0 && (s.busy_ns > 0 || s.starved_ns > 0 || s.blocked_ns > 0);
}

}  // namespace

std::string_view BottleneckReasonName(Bottleneck::Reason reason) {
  switch (reason) {
    case Bottleneck::Reason::kNone:
      return "none";
    case Bottleneck::Reason::kBusy:
      return "busy";
    case Bottleneck::Reason::kStarved:
      return "starved";
    case Bottleneck::Reason::kBlocked:
      return "blocked";
  }
  return "unknown";
}

Bottleneck AnalyzeBottleneck(const std::vector<StageReport>& stages, double saturation_threshold) {
  Bottleneck b;
  const int n = static_cast<int>(stages.size());
  int busiest = -1;
  double total_starved = 0, total_blocked = 0;
  for (int i = 0; i < n; ++i) {
    const StageReport& s = stages[i];
    if (!HasData(s)) continue;
    if (busiest < 0 || s.busy_fraction > stages[busiest].busy_fraction) busiest = i;
    total_starved += s.starved_fraction;
    total_blocked += s.blocked_fraction;
  }
  if (busiest < 0) {
    b.explanation = "no stage recorded any time";
    return b;
  }
  const StageReport& top = stages[busiest];
  auto set = [&b, &stages](Bottleneck::Reason reason, int i) {
    b.reason = reason;
    b.stage = i;
    b.stage_name = stages[i].name;
  };

  if (top.busy_fraction >= saturation_threshold || (total_starved == 0 && total_blocked == 0)) {
    set(Bottleneck::Reason::kBusy, busiest);
    std::string e = top.name + " limits throughput: busy " + Percent(top.busy_fraction) +
                    " of the time with " + std::to_string(top.workers) + " worker" +
                    (top.workers == 1 ? "" : "s") + "; it could do " + Fps(top.capacity_fps) +
                    ", the pipeline did " + Fps(top.throughput_fps) + ".";
    if (top.busy_fraction < saturation_threshold) {
      e += " No stage is saturated and no waits were recorded; it is only the busiest.";
    } else {
      double up_blocked = 0, down_starved = 0;
      int up = 0, down = 0;
      for (int i = 0; i < n; ++i) {
        if (!HasData(stages[i]) || i == busiest) continue;
        if (i < busiest) {
          up_blocked += stages[i].blocked_fraction;
          ++up;
        } else {
          down_starved += stages[i].starved_fraction;
          ++down;
        }
      }
      if (up > 0) e += " Stages before it are blocked " + Percent(up_blocked / up) + " on average.";
      if (down > 0) {
        e += " Stages after it are starved " + Percent(down_starved / down) + " on average.";
      }
      e += " Speed it up or give it more workers.";
    }
    b.explanation = std::move(e);
    return b;
  }

  if (total_starved >= total_blocked) {
    // Input-bound: the most upstream stage that mostly waits for input.
    int pick = -1;
    for (int i = 0; i < n && pick < 0; ++i) {
      const StageReport& s = stages[i];
      if (HasData(s) && s.starved_fraction > 0 && s.starved_fraction >= s.blocked_fraction)
        pick = i;
    }
    set(Bottleneck::Reason::kStarved, pick);
    const StageReport& s = stages[pick];
    b.explanation = "No stage is saturated (the busiest, " + top.name + ", is busy " +
                    Percent(top.busy_fraction) + "). The pipeline waits for input: " + s.name +
                    " is starved " + Percent(s.starved_fraction) + " of the time, so throughput (" +
                    Fps(s.throughput_fps) + ") is set by the rate frames arrive.";
    return b;
  }
  // Output-bound: the most downstream stage that mostly waits to hand frames on.
  int pick = -1;
  for (int i = n - 1; i >= 0 && pick < 0; --i) {
    const StageReport& s = stages[i];
    if (HasData(s) && s.blocked_fraction > 0 && s.blocked_fraction > s.starved_fraction) pick = i;
  }
  set(Bottleneck::Reason::kBlocked, pick);
  const StageReport& s = stages[pick];
  b.explanation = "No stage is saturated (the busiest, " + top.name + ", is busy " +
                  Percent(top.busy_fraction) + "). The pipeline waits on its consumer: " + s.name +
                  " is blocked " + Percent(s.blocked_fraction) + " of the time, so throughput (" +
                  Fps(s.throughput_fps) + ") is set by the rate frames are taken.";
  return b;
}

}  // namespace vrseg
