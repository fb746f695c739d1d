#include "vrseg/cuda/adaptive_batch.h"

#include <algorithm>
#include <string>

#include "vrseg/log.h"

namespace vrseg::cuda {

Result<int> ChooseBatchSize(size_t free_bytes, size_t per_item_bytes, size_t fixed_bytes,
                            const AdaptiveBatchOptions& o) {
  if (o.min_batch < 1 || o.max_batch < o.min_batch) {
    return Status::InvalidArgument("AdaptiveBatchOptions: need 1 <= min_batch <= max_batch (got " +
                                   std::to_string(o.min_batch) + ", " +
                                   std::to_string(o.max_batch) + ")");
  }
  if (o.headroom_fraction < 0 || o.headroom_fraction >= 1) {
    return Status::InvalidArgument("AdaptiveBatchOptions.headroom_fraction must be in [0,1)");
  }
  if (per_item_bytes == 0) return Status::InvalidArgument("ChooseBatchSize: per_item_bytes is 0");
  const size_t headroom =
      std::max(o.headroom_bytes, static_cast<size_t>(o.headroom_fraction * free_bytes));
  const size_t usable = free_bytes > headroom ? free_bytes - headroom : 0;
  const size_t avail = usable > fixed_bytes ? usable - fixed_bytes : 0;
  const size_t fit = avail / per_item_bytes;
  if (usable < fixed_bytes || fit < static_cast<size_t>(o.min_batch)) {
    return Status::OutOfMemory("batch of " + std::to_string(o.min_batch) + " needs " +
                               std::to_string(fixed_bytes + o.min_batch * per_item_bytes) +
                               " bytes; " + std::to_string(free_bytes) + " free, " +
                               std::to_string(headroom) + " kept as headroom");
  }
  return static_cast<int>(std::min<size_t>(fit, static_cast<size_t>(o.max_batch)));
}

AdaptiveBatchRunner::AdaptiveBatchRunner(AdaptiveBatchOptions options, int initial_batch)
    : options_(options) {
  options_.min_batch = std::max(1, options_.min_batch);
  options_.max_batch = std::max(options_.min_batch, options_.max_batch);
  batch_ = std::clamp(initial_batch, options_.min_batch, options_.max_batch);
  ceiling_ = batch_;
}

Status AdaptiveBatchRunner::Run(int64_t item_count,
                                const std::function<Status(int64_t first, int count)>& run) {
  int64_t first = 0;
  while (first < item_count) {
    const int count = static_cast<int>(std::min<int64_t>(batch_, item_count - first));
    Status s = run(first, count);
    if (s.ok()) {
      first += count;
      if (options_.grow_after > 0 && batch_ < ceiling_ && ++streak_ >= options_.grow_after) {
        batch_ = std::min(ceiling_, batch_ * 2);
        streak_ = 0;
      }
      continue;
    }
    const std::string items =
        "items " + std::to_string(first) + ".." + std::to_string(first + count - 1);
    if (s.code() != StatusCode::kOutOfMemory) return s.WithContext("batch of " + items);
    streak_ = 0;
    if (count <= options_.min_batch) {
      return s.WithContext("out of memory at the smallest batch (" + std::to_string(count) +
                           ") for " + items);
    }
    batch_ = std::max(options_.min_batch, count / 2);
    ++oom_retries_;
    LogWarning("out of memory for a batch of " + std::to_string(count) + " (" + items +
               "); retrying them in batches of " + std::to_string(batch_));
  }
  return Status::Ok();
}

}  // namespace vrseg::cuda
