// LatencyHistogram: fixed-memory log-linear histogram with exact count, mean, std, min and max.
#include <algorithm>
#include <bit>
#include <cmath>

#include "vrseg/profiler.h"

namespace vrseg {

namespace {
constexpr int kSub = 1 << LatencyHistogram::kSubBits;
}  // namespace

LatencyHistogram::LatencyHistogram() : buckets_(kBuckets, 0) {}

int LatencyHistogram::BucketIndex(int64_t value_ns) {
  if (value_ns < kSub) return value_ns < 0 ? 0 : static_cast<int>(value_ns);
  const auto v = static_cast<uint64_t>(value_ns);
  const int e = std::bit_width(v) - 1;  // >= kSubBits
  if (e > kMaxExponent) return kBuckets - 1;
  const int sub = static_cast<int>(v >> (e - kSubBits)) - kSub;
  return kSub + (e - kSubBits) * kSub + sub;
}

int64_t LatencyHistogram::BucketLower(int index) {
  if (index < kSub) return index;
  const int k = index - kSub;
  const int shift = k / kSub;  // e - kSubBits
  const int sub = k % kSub;
  return static_cast<int64_t>(kSub + sub) << shift;
}

int64_t LatencyHistogram::BucketUpper(int index) {
  if (index < kSub) return index + 1;
  const int shift = (index - kSub) / kSub;
  return BucketLower(index) + (int64_t{1} << shift);
}

void LatencyHistogram::Add(int64_t value_ns) {
  if (value_ns < 0) value_ns = 0;
  ++buckets_[BucketIndex(value_ns)];
  if (count_ == 0) {
    min_ = max_ = value_ns;
  } else {
    min_ = std::min(min_, value_ns);
    max_ = std::max(max_, value_ns);
  }
  ++count_;
  const double x = static_cast<double>(value_ns);
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (x - mean_);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  if (count_ == 0) {
    min_ = other.min_;
    max_ = other.max_;
    mean_ = other.mean_;
    m2_ = other.m2_;
    count_ = other.count_;
    return;
  }
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  const double na = static_cast<double>(count_);
  const double nb = static_cast<double>(other.count_);
  const double n = na + nb;
  const double delta = other.mean_ - mean_;
  mean_ += delta * nb / n;
  m2_ += other.m2_ + delta * delta * na * nb / n;
  count_ += other.count_;
}

void LatencyHistogram::Clear() {
  std::fill(buckets_.begin(), buckets_.end(), 0);
  count_ = min_ = max_ = 0;
  mean_ = m2_ = 0;
}

double LatencyHistogram::stddev() const {
  if (count_ == 0) return 0;
  return std::sqrt(std::max(0.0, m2_ / static_cast<double>(count_)));
}

int64_t LatencyHistogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Nearest rank: the ceil(p/100 * n)-th smallest sample (at least the first). The tiny
  // subtraction keeps 99 * 100 / 100 from rounding up to rank 100.
  auto rank = static_cast<int64_t>(std::ceil(p * static_cast<double>(count_) / 100.0 - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, count_);
  int64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      const int64_t lo = BucketLower(i);
      const int64_t mid = lo + (BucketUpper(i) - 1 - lo) / 2;
      return std::clamp(mid, min_, max_);
    }
  }
  return max_;
}

LatencyStats LatencyHistogram::Stats() const {
  LatencyStats s;
  s.count = count_;
  s.mean_ns = mean_;
  s.std_ns = stddev();
  s.min_ns = min();
  s.max_ns = max();
  s.p50_ns = Percentile(50);
  s.p90_ns = Percentile(90);
  s.p99_ns = Percentile(99);
  return s;
}

std::vector<HistogramBin> LatencyHistogram::Bins(int max_bins) const {
  std::vector<HistogramBin> out;
  if (count_ == 0 || max_bins <= 0) return out;
  int first = 0;
  while (buckets_[first] == 0) ++first;
  int last = kBuckets - 1;
  while (buckets_[last] == 0) --last;
  const double lo = static_cast<double>(std::max<int64_t>(1, BucketLower(first)));
  const double hi = static_cast<double>(BucketUpper(last));
  const double span = std::log(hi / lo);
  std::vector<HistogramBin> bars(max_bins);
  std::vector<bool> used(max_bins, false);
  for (int i = first; i <= last; ++i) {
    if (buckets_[i] == 0) continue;
    int bar = 0;
    if (span > 0) {
      const double x = std::log(std::max(1.0, static_cast<double>(BucketLower(i))) / lo) / span;
      bar = std::clamp(static_cast<int>(x * max_bins), 0, max_bins - 1);
    }
    // Bars are made of whole buckets; the bar index never decreases as the buckets ascend.
    HistogramBin& b = bars[bar];
    if (!used[bar]) {
      b.lower_ns = BucketLower(i);
      used[bar] = true;
    }
    b.upper_ns = BucketUpper(i);
    b.count += buckets_[i];
  }
  for (int i = 0; i < max_bins; ++i) {
    if (used[i]) out.push_back(bars[i]);
  }
  return out;
}

}  // namespace vrseg
