// vrseg/cuda/adaptive_batch.h — the largest batch that fits, and halving on out-of-memory.
//
// ChooseBatchSize picks the largest batch whose memory fits in the free device memory less a
// headroom. AdaptiveBatchRunner runs a list of items in batches of its current size; when a batch
// fails with kOutOfMemory it halves the size and runs the same items again, so no item is lost or
// run twice to completion (a failed attempt must leave no visible effect, which is the caller's
// contract for `run`). Below min_batch it gives up with the out-of-memory status.
//
// Thread safety: ChooseBatchSize is pure. A runner is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "vrseg/status.h"

namespace vrseg::cuda {

struct AdaptiveBatchOptions {
  int max_batch = 32;            // never more than this
  int min_batch = 1;             // never less; OOM at this size is returned to the caller
  double headroom_fraction = 0.10;        // of the free memory, kept free (default 10%)
  size_t headroom_bytes = size_t{256} << 20;  // and at least this much (default 256 MiB)
  // After this many batches in a row without OOM at a halved size, try doubling again (up to
  // the size chosen at first); 0 never grows back.
  int grow_after = 0;
};

// Largest b in [min_batch, max_batch] with fixed_bytes + b * per_item_bytes <= usable, where
// usable = free_bytes - max(headroom_bytes, headroom_fraction * free_bytes). kOutOfMemory (naming
// the numbers) when not even min_batch fits; kInvalidArgument for bad options or per_item_bytes 0.
Result<int> ChooseBatchSize(size_t free_bytes, size_t per_item_bytes, size_t fixed_bytes,
                            const AdaptiveBatchOptions& options);

class AdaptiveBatchRunner {
 public:
  // `initial_batch` is clamped to [min_batch, max_batch].
  AdaptiveBatchRunner(AdaptiveBatchOptions options, int initial_batch);

  // Runs items [0, item_count) through `run(first, count)` in order, count <= current batch.
  // On kOutOfMemory from `run`, halves the batch and retries the same `first`. Any other error is
  // returned at once, with context naming the items. OK when every item ran.
  Status Run(int64_t item_count, const std::function<Status(int64_t first, int count)>& run);

  int batch() const { return batch_; }
  int64_t oom_retries() const { return oom_retries_; }  // batches re-run after OOM, in total

 private:
  AdaptiveBatchOptions options_;
  int ceiling_;  // the size chosen at first (growth never passes it)
  int batch_;
  int streak_ = 0;
  int64_t oom_retries_ = 0;
};

}  // namespace vrseg::cuda
