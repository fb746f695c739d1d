#include "pipeline/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace vrseg::pipeline {
namespace {
constexpr int kSubBits = 6;
constexpr int kSub = 1 << kSubBits;            // 64 buckets per power of two
constexpr int kBuckets = kSub + (63 - kSubBits) * kSub;
}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

int LatencyHistogram::BucketOf(int64_t ns) {
  if (ns < 0) ns = 0;
  if (ns < kSub) return static_cast<int>(ns);
  const int e = 63 - std::countl_zero(static_cast<uint64_t>(ns));  // floor(log2), >= kSubBits
  const int sub = static_cast<int>((ns >> (e - kSubBits)) & (kSub - 1));
  return kSub + (e - kSubBits) * kSub + sub;
}

int64_t LatencyHistogram::BucketLow(int b) {
  if (b < kSub) return b;
  const int e = (b - kSub) / kSub + kSubBits;
  const int sub = (b - kSub) % kSub;
  return (int64_t{1} << e) + (static_cast<int64_t>(sub) << (e - kSubBits));
}

int64_t LatencyHistogram::BucketHigh(int b) {
  if (b < kSub) return b + 1;
  const int e = (b - kSub) / kSub + kSubBits;
  return BucketLow(b) + (int64_t{1} << (e - kSubBits));
}

void LatencyHistogram::Record(int64_t ns) {
  if (ns < 0) ns = 0;
  ++buckets_[BucketOf(ns)];
  if (count_ == 0 || ns < min_) min_ = ns;
  if (ns > max_) max_ = ns;
  ++count_;
  sum_ += ns;
}

void LatencyHistogram::Clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = sum_ = min_ = max_ = 0;
}

int64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * count_)));
  int64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += buckets_[b];
    if (seen >= rank) {
      const int64_t mid = (BucketLow(b) + BucketHigh(b) - 1) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

}  // namespace vrseg::pipeline
