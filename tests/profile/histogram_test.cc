// LatencyHistogram against a naive reference: sorted samples for percentiles, two-pass mean/std.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "vrseg/profiler.h"

namespace vrseg {
namespace {

// Nearest-rank percentile of sorted samples, with integer arithmetic for integer p.
int64_t NaivePercentile(const std::vector<int64_t>& sorted, int p) {
  const int64_t n = static_cast<int64_t>(sorted.size());
  int64_t rank = (static_cast<int64_t>(p) * n + 99) / 100;
  rank = std::clamp<int64_t>(rank, 1, n);
  return sorted[rank - 1];
}

void ExpectMatchesNaive(std::vector<int64_t> samples) {
  LatencyHistogram h;
  for (int64_t v : samples) h.Add(v);
  std::sort(samples.begin(), samples.end());
  const double n = static_cast<double>(samples.size());
  double sum = 0;
  for (int64_t v : samples) sum += static_cast<double>(v);
  const double mean = sum / n;
  double ss = 0;
  for (int64_t v : samples) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / n);

  ASSERT_EQ(h.count(), static_cast<int64_t>(samples.size()));
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_NEAR(h.mean(), mean, 1e-9 * std::max(1.0, mean));
  EXPECT_NEAR(h.stddev(), sd, 1e-6 * std::max(1.0, sd));
  for (int p : {0, 1, 10, 25, 50, 75, 90, 95, 99, 100}) {
    const int64_t exact = NaivePercentile(samples, p);
    const int64_t got = h.Percentile(p);
    // The documented bound: within 1/128 of the exact value (exact below 64 ns).
    EXPECT_LE(std::abs(static_cast<double>(got - exact)), static_cast<double>(exact) / 128.0)
        << "p" << p << " exact " << exact << " got " << got;
  }
  const LatencyStats s = h.Stats();
  EXPECT_EQ(s.count, h.count());
  EXPECT_EQ(s.p50_ns, h.Percentile(50));
  EXPECT_EQ(s.p90_ns, h.Percentile(90));
  EXPECT_EQ(s.p99_ns, h.Percentile(99));
  EXPECT_EQ(s.max_ns, samples.back());
}

TEST(LatencyHistogram, BucketsTileTheRange) {
  EXPECT_EQ(LatencyHistogram::BucketIndex(-5), 0);
  int64_t expected_lower = 0;
  for (int i = 0; i < LatencyHistogram::kBuckets; ++i) {
    const int64_t lo = LatencyHistogram::BucketLower(i);
    const int64_t hi = LatencyHistogram::BucketUpper(i);
    ASSERT_EQ(lo, expected_lower) << "bucket " << i;
    ASSERT_GT(hi, lo);
    EXPECT_EQ(LatencyHistogram::BucketIndex(lo), i);
    EXPECT_EQ(LatencyHistogram::BucketIndex(hi - 1), i);
    // Relative width at most 1/64 past the exact region.
    if (lo >= 64) {
      EXPECT_LE((hi - lo) * 64, lo) << "bucket " << i;
    }
    expected_lower = hi;
  }
  EXPECT_EQ(LatencyHistogram::BucketIndex(INT64_MAX), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0);
  EXPECT_EQ(h.Percentile(50), 0);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), 0);
  EXPECT_EQ(h.stddev(), 0);
  EXPECT_TRUE(h.Bins().empty());
}

TEST(LatencyHistogram, SmallValuesAreExact) {
  std::vector<int64_t> v;
  for (int i = 0; i < 64; ++i) v.push_back((i * 37) % 64);
  LatencyHistogram h;
  for (int64_t x : v) h.Add(x);
  std::sort(v.begin(), v.end());
  for (int p = 0; p <= 100; ++p) EXPECT_EQ(h.Percentile(p), NaivePercentile(v, p)) << p;
}

TEST(LatencyHistogram, NegativeCountsAsZero) {
  LatencyHistogram h;
  h.Add(-100);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.Percentile(50), 0);
}

TEST(LatencyHistogram, UniformRandomMatchesNaive) {
  std::mt19937_64 rng(1234);
  std::uniform_int_distribution<int64_t> d(0, 5'000'000);
  std::vector<int64_t> v(20000);
  for (auto& x : v) x = d(rng);
  ExpectMatchesNaive(v);
}

TEST(LatencyHistogram, LogNormalRandomMatchesNaive) {
  std::mt19937_64 rng(99);
  std::lognormal_distribution<double> d(12.0, 1.5);  // around 160 us, long tail
  std::vector<int64_t> v(30000);
  for (auto& x : v) x = static_cast<int64_t>(d(rng));
  ExpectMatchesNaive(v);
}

TEST(LatencyHistogram, FewSamplesAndDuplicates) {
  ExpectMatchesNaive({1000});
  ExpectMatchesNaive({5, 5, 5, 5, 1'000'000'000});
  ExpectMatchesNaive({7'000'000, 3, 90'000, 90'000, 12'345'678, 64, 63, 65});
}

TEST(LatencyHistogram, MergeEqualsOneHistogram) {
  std::mt19937_64 rng(7);
  std::exponential_distribution<double> d(1e-5);
  LatencyHistogram all, a, b, empty;
  for (int i = 0; i < 5000; ++i) {
    const auto x = static_cast<int64_t>(d(rng));
    all.Add(x);
    (i % 3 ? a : b).Add(x);
  }
  LatencyHistogram m;
  m.Merge(empty);
  m.Merge(a);
  m.Merge(b);
  EXPECT_EQ(m.count(), all.count());
  EXPECT_EQ(m.min(), all.min());
  EXPECT_EQ(m.max(), all.max());
  EXPECT_NEAR(m.mean(), all.mean(), 1e-9 * all.mean());
  EXPECT_NEAR(m.stddev(), all.stddev(), 1e-9 * all.stddev());
  for (int p : {1, 50, 90, 99, 100}) EXPECT_EQ(m.Percentile(p), all.Percentile(p));
  m.Clear();
  EXPECT_EQ(m.count(), 0);
}

TEST(LatencyHistogram, BinsCoverAllSamplesInOrder) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> d(10.0, 2.0);
  LatencyHistogram h;
  for (int i = 0; i < 10000; ++i) h.Add(static_cast<int64_t>(d(rng)));
  for (int max_bins : {1, 7, 40}) {
    const auto bins = h.Bins(max_bins);
    ASSERT_FALSE(bins.empty());
    EXPECT_LE(static_cast<int>(bins.size()), max_bins);
    int64_t total = 0;
    for (size_t i = 0; i < bins.size(); ++i) {
      EXPECT_LT(bins[i].lower_ns, bins[i].upper_ns);
      EXPECT_GT(bins[i].count, 0);
      if (i > 0) {
        EXPECT_LE(bins[i - 1].upper_ns, bins[i].lower_ns);
      }
      total += bins[i].count;
    }
    EXPECT_EQ(total, h.count());
    EXPECT_LE(bins.front().lower_ns, h.min());
    EXPECT_GT(bins.back().upper_ns, h.max());
  }
}

}  // namespace
}  // namespace vrseg
