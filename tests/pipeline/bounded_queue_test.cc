#include "pipeline/bounded_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <vector>


namespace vrseg::pipeline {
namespace {

TEST(BoundedQueue, FifoAndHighWater) {
  BoundedQueue<int> q(3);
  EXPECT_EQ(q.capacity(), 3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(q.Push(i));
  EXPECT_EQ(q.size(), 3);
  int v = -1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(q.Pop(&v));
    EXPECT_EQ(v, i);
  }
  for (int round = 0; round < 10; ++round) {  // wrap around the ring
    ASSERT_TRUE(q.Push(round));
    ASSERT_TRUE(q.Pop(&v));
    EXPECT_EQ(v, round);
  }
  EXPECT_EQ(q.high_water(), 3);
}

TEST(BoundedQueue, FullQueueBlocksTheProducerUntilAPop) {
  BoundedQueue<int> q(2);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(q.Push(3));
    pushed = true;
  });
  while (q.blocked_pushes() == 0) std::this_thread::yield();  // the producer is waiting
  EXPECT_FALSE(pushed.load());
  EXPECT_EQ(q.size(), 2);
  int v = 0;
  ASSERT_TRUE(q.Pop(&v));
  EXPECT_EQ(v, 1);
  producer.join();
  EXPECT_TRUE(pushed.load());
  ASSERT_TRUE(q.Pop(&v));
  EXPECT_EQ(v, 2);
  ASSERT_TRUE(q.Pop(&v));
  EXPECT_EQ(v, 3);
}

TEST(BoundedQueue, CloseDrainsThenFails) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.Push(1));
  ASSERT_TRUE(q.Push(2));
  q.Close();
  EXPECT_FALSE(q.Push(3));
  int v = 0;
  ASSERT_TRUE(q.Pop(&v));
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(q.Pop(&v));
  EXPECT_EQ(v, 2);
  EXPECT_FALSE(q.Pop(&v));
}

TEST(BoundedQueue, CloseWakesBlockedConsumersAndProducers) {
  BoundedQueue<int> empty(1);
  std::thread consumer([&] {
    int v;
    EXPECT_FALSE(empty.Pop(&v));
  });
  BoundedQueue<int> full(1);
  ASSERT_TRUE(full.Push(0));
  std::thread producer([&] { EXPECT_FALSE(full.Push(1)); });
  while (full.blocked_pushes() == 0) std::this_thread::yield();
  empty.Close();
  full.Close();
  consumer.join();
  producer.join();
}

TEST(BoundedQueue, CancelKeepsItemsForTakeAll) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.Push(5));
  ASSERT_TRUE(q.Push(6));
  q.Cancel();
  int v = 0;
  EXPECT_FALSE(q.Pop(&v));
  EXPECT_FALSE(q.Push(7));
  std::vector<int> left;
  q.TakeAll(&left);
  EXPECT_EQ(left, (std::vector<int>{5, 6}));
}

TEST(BoundedQueue, ManyProducersAndConsumersLoseNothing) {
  BoundedQueue<int> q(3);
  constexpr int kProducers = 3, kPer = 2000;
  std::vector<std::thread> threads;
  std::vector<std::vector<int>> got(2);
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPer; ++i) ASSERT_TRUE(q.Push(p * kPer + i));
    });
  }
  std::vector<std::thread> consumers;
  for (int c = 0; c < 2; ++c) {
    consumers.emplace_back([&, c] {
      int v;
      while (q.Pop(&v)) got[c].push_back(v);
    });
  }
  for (auto& t : threads) t.join();
  q.Close();
  for (auto& t : consumers) t.join();
  std::vector<int> all = got[0];
  all.insert(all.end(), got[1].begin(), got[1].end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kProducers * kPer));
  for (int i = 0; i < kProducers * kPer; ++i) ASSERT_EQ(all[i], i);
  // Each producer's items reach each consumer in the order they were pushed.
  for (const auto& g : got) {
    std::vector<int> last(kProducers, -1);
    for (int v : g) {
      ASSERT_GT(v, last[v / kPer]);
      last[v / kPer] = v;
    }
  }
}

}  // namespace
}  // namespace vrseg::pipeline
