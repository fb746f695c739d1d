#include "vrseg/cuda/adaptive_batch.h"

#include <gtest/gtest.h>

#include <vector>

#include "cuda/fake_allocators.h"
#include "vrseg/cuda/memory.h"

namespace vrseg::cuda {
namespace {

constexpr size_t kMiB = size_t{1} << 20;

TEST(ChooseBatchSizeTest, LargestThatFitsWithHeadroom) {
  AdaptiveBatchOptions o;
  o.max_batch = 64;
  o.headroom_fraction = 0.10;
  o.headroom_bytes = 100 * kMiB;
  // 2000 MiB free: headroom max(100, 200) = 200 → 1800 usable, minus 300 fixed → 1500 / 100 = 15.
  auto b = ChooseBatchSize(2000 * kMiB, 100 * kMiB, 300 * kMiB, o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, 15);
  // Naive check of the same rule over many sizes.
  for (size_t free_mib = 400; free_mib < 5000; free_mib += 37) {
    for (size_t item = 7; item < 400; item += 53) {
      auto r = ChooseBatchSize(free_mib * kMiB, item * kMiB, 50 * kMiB, o);
      int best = 0;
      for (int k = 1; k <= o.max_batch; ++k) {
        double headroom = std::max(100.0, 0.10 * free_mib);
        if (50.0 + k * static_cast<double>(item) <= free_mib - headroom) best = k;
      }
      if (best == 0) {
        EXPECT_EQ(r.status().code(), StatusCode::kOutOfMemory) << free_mib << " " << item;
      } else {
        ASSERT_TRUE(r.ok()) << free_mib << " " << item;
        EXPECT_EQ(*r, best) << free_mib << " " << item;
      }
    }
  }
}

TEST(ChooseBatchSizeTest, ClampsAndRejectsBadOptions) {
  AdaptiveBatchOptions o;
  o.max_batch = 8;
  o.headroom_bytes = 0;
  o.headroom_fraction = 0;
  EXPECT_EQ(*ChooseBatchSize(1 << 30, 1, 0, o), 8);
  EXPECT_EQ(ChooseBatchSize(100, 0, 0, o).status().code(), StatusCode::kInvalidArgument);
  o.min_batch = 9;
  EXPECT_EQ(ChooseBatchSize(100, 1, 0, o).status().code(), StatusCode::kInvalidArgument);
  o.min_batch = 0;
  EXPECT_EQ(ChooseBatchSize(100, 1, 0, o).status().code(), StatusCode::kInvalidArgument);
  o.min_batch = 1;
  o.headroom_fraction = 1.5;
  EXPECT_EQ(ChooseBatchSize(100, 1, 0, o).status().code(), StatusCode::kInvalidArgument);
  o.headroom_fraction = 0;
  auto none = ChooseBatchSize(100, 200, 0, o);
  EXPECT_EQ(none.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(none.status().message().find("100 free"), std::string::npos) << none.status().message();
}

// The forced failure: a device pool over an allocator with a budget; each batch allocates
// count * item bytes from the pool. When the budget is cut, the runner halves and reruns the same
// items; every item runs exactly once to completion, in order.
TEST(AdaptiveBatchRunnerTest, HalvesOnOomAndLosesNoFrame) {
  testing::FakeDeviceAllocator alloc(64 * kMiB);
  DevicePoolOptions po;
  po.allocator = &alloc;
  po.granularity = kMiB;
  auto pool = std::move(DevicePool::Create(po)).value();
  AdaptiveBatchOptions o;
  o.max_batch = 16;
  AdaptiveBatchRunner runner(o, 16);
  std::vector<int> done(100, 0);
  std::vector<int> sizes;
  int calls = 0;
  Status s = runner.Run(100, [&](int64_t first, int count) -> Status {
    ++calls;
    if (calls == 3) {  // memory shrinks under us (another process), and our cache is trimmed
      alloc.set_budget(10 * kMiB);
      pool->Trim();
    }
    auto buf = pool->Allocate(static_cast<size_t>(count) * 2 * kMiB, nullptr, "batch");
    if (!buf.ok()) return buf.status();
    sizes.push_back(count);
    for (int i = 0; i < count; ++i) done[first + i] += 1;
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(done[i], 1) << "item " << i;
  EXPECT_EQ(runner.batch(), 4);  // 16 → 8 → 4: 4 * 2 MiB fits in 10 MiB
  EXPECT_EQ(runner.oom_retries(), 2);
  ASSERT_GE(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], 16);
  EXPECT_EQ(sizes[1], 16);
  EXPECT_EQ(sizes[2], 4);
  EXPECT_GT(alloc.ooms(), 0);
}

TEST(AdaptiveBatchRunnerTest, GivesUpAtTheSmallestBatchAndPassesOtherErrors) {
  AdaptiveBatchOptions o;
  o.max_batch = 8;
  AdaptiveBatchRunner runner(o, 8);
  int64_t last_first = -1;
  Status s = runner.Run(20, [&](int64_t first, int) -> Status {
    last_first = first;
    return Status::OutOfMemory("always");
  });
  EXPECT_EQ(s.code(), StatusCode::kOutOfMemory);
  EXPECT_NE(s.message().find("items 0..0"), std::string::npos) << s.message();
  EXPECT_EQ(last_first, 0);
  EXPECT_EQ(runner.batch(), 1);

  AdaptiveBatchRunner r2(o, 4);
  Status e = r2.Run(10, [&](int64_t first, int) -> Status {
    return first == 4 ? Status::DataLoss("bad frame") : Status::Ok();
  });
  EXPECT_EQ(e.code(), StatusCode::kDataLoss);
  EXPECT_NE(e.message().find("items 4..7"), std::string::npos) << e.message();
}

TEST(AdaptiveBatchRunnerTest, GrowsBackAfterAStreak) {
  AdaptiveBatchOptions o;
  o.max_batch = 8;
  o.grow_after = 2;
  AdaptiveBatchRunner runner(o, 8);
  int calls = 0;
  std::vector<int> sizes;
  Status s = runner.Run(40, [&](int64_t, int count) -> Status {
    if (++calls == 1) return Status::OutOfMemory("once");
    sizes.push_back(count);
    return Status::Ok();
  });
  ASSERT_TRUE(s.ok());
  ASSERT_GE(sizes.size(), 3u);
  EXPECT_EQ(sizes[0], 4);
  EXPECT_EQ(sizes[1], 4);
  EXPECT_EQ(sizes[2], 8);
  int total = 0;
  for (int c : sizes) total += c;
  EXPECT_EQ(total, 40);
}

}  // namespace
}  // namespace vrseg::cuda
