#include "vrseg/batcher.h"

#include <string>

namespace vrseg {

std::string_view LatePolicyName(LatePolicy p) {
  switch (p) {
    case LatePolicy::kRunAnyway: return "run";
    case LatePolicy::kDrop: return "drop";
  }
  return "run";
}

Result<LatePolicy> ParseLatePolicy(std::string_view name) {
  if (name == "run") return LatePolicy::kRunAnyway;
  if (name == "drop") return LatePolicy::kDrop;
  return Status::InvalidArgument("batcher.late_policy: unknown value '" + std::string(name) +
                                 "' (known: run, drop)");
}

Status ValidateBatcherOptions(const BatcherOptions& o) {
  if (o.max_batch < 1 || o.max_batch > 1024) {
    return Status::InvalidArgument("batcher.max_batch: " + std::to_string(o.max_batch) +
                                   " outside 1..1024");
  }
  if (o.max_delay_us < 0) {
    return Status::InvalidArgument("batcher.max_delay_us: " + std::to_string(o.max_delay_us) +
                                   " is negative");
  }
  for (int p : o.preferred_batch_sizes) {
    if (p < 1 || p > o.max_batch) {
      return Status::InvalidArgument("batcher.preferred_batch_sizes: " + std::to_string(p) +
                                     " outside 1..max_batch (" + std::to_string(o.max_batch) + ")");
    }
  }
  if (o.priority_levels < 1 || o.priority_levels > 8) {
    return Status::InvalidArgument("batcher.priority_levels: " +
                                   std::to_string(o.priority_levels) + " outside 1..8");
  }
  if (o.expected_latency_us < 0) {
    return Status::InvalidArgument("batcher.expected_latency_us: " +
                                   std::to_string(o.expected_latency_us) + " is negative");
  }
  if (o.late_policy != LatePolicy::kRunAnyway && o.late_policy != LatePolicy::kDrop) {
    return Status::InvalidArgument("batcher.late_policy: unknown value");
  }
  if (o.max_queue < o.max_batch || o.max_queue > 65536) {
    return Status::InvalidArgument("batcher.max_queue: " + std::to_string(o.max_queue) +
                                   " outside max_batch (" + std::to_string(o.max_batch) +
                                   ")..65536");
  }
  return Status::Ok();
}

Result<BatcherOptions> BatcherPreset(std::string_view name) {
  BatcherOptions o;
  if (name == "vr") {
    o.max_batch = 2;
    o.max_delay_us = 0;
    o.priority_levels = 2;
    o.urgent_no_delay = true;
    o.max_queue = 4;
    return o;
  }
  if (name == "throughput") {
    o.max_batch = 16;
    o.max_delay_us = 2000;
    o.preferred_batch_sizes = {16, 8, 4};
    o.priority_levels = 2;
    o.urgent_no_delay = true;
    o.max_queue = 64;
    return o;
  }
  return Status::InvalidArgument("batcher preset: unknown name '" + std::string(name) +
                                 "' (known: vr, throughput)");
}

}  // namespace vrseg
