// pipeline/latency_histogram.h — fixed-memory latency histogram (private).
//
// Log-linear buckets: values below 64 ns are exact; above, each power of two is split into 64
// buckets, so a reported percentile is within 1/64 (1.6%) of the true sample value. Memory is
// fixed (about 30 KB) whatever the number of samples: recording never allocates, so a long run
// keeps a flat RSS. Min, max and mean are exact.
//
// Thread safety: not thread-safe; the owner serialises Record and the queries.
#pragma once

#include <cstdint>
#include <vector>

namespace vrseg::pipeline {

class LatencyHistogram {
 public:
  LatencyHistogram();
  void Record(int64_t ns);
  void Clear();
  int64_t count() const { return count_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The nearest-rank q-quantile (q in [0,1]): the smallest recorded value v such that at least
  // q*count samples are <= v, to within one bucket (reported as the bucket's midpoint, clamped to
  // [min, max]). 0 when empty.
  int64_t Percentile(double q) const;

  static int BucketOf(int64_t ns);
  static int64_t BucketLow(int bucket);
  static int64_t BucketHigh(int bucket);  // exclusive

 private:
  std::vector<int64_t> buckets_;
  int64_t count_ = 0;
  int64_t sum_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

}  // namespace vrseg::pipeline
