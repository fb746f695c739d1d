// Pools: the logic runs everywhere over fake allocators; one test uses the real CUDA allocators
// and skips without a device.
#include "vrseg/cuda/memory.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "cuda/fake_allocators.h"
#include "cuda/gpu_test_util.h"

namespace vrseg::cuda {
namespace {

using testing::FakeDeviceAllocator;
using testing::FakeHostAllocator;

cudaStream_t S(uintptr_t v) { return reinterpret_cast<cudaStream_t>(v); }

std::unique_ptr<PinnedHostPool> MakePinned(FakeHostAllocator* a, size_t max_bytes) {
  PinnedPoolOptions o;
  o.allocator = a;
  o.max_bytes = max_bytes;
  auto r = PinnedHostPool::Create(o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

TEST(PinnedHostPoolTest, ReusesReturnedBuffersAndCounts) {
  FakeHostAllocator alloc;
  auto pool = MakePinned(&alloc, 8 << 20);
  void* first = nullptr;
  {
    auto b = pool->Acquire(100000, "upload");
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_EQ(b->size(), 100000u);
    EXPECT_EQ(b->capacity(), 131072u);  // two 64 KiB granules
    std::memset(b->data(), 7, b->size());
    first = b->data();
    EXPECT_EQ(pool->stats().buffers_in_use, 1);
  }
  auto b2 = pool->Acquire(90000, "upload");
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(b2->data(), first);
  PinnedPoolStats s = pool->stats();
  EXPECT_EQ(s.acquires, 2);
  EXPECT_EQ(s.reuses, 1);
  EXPECT_EQ(s.buffers_held, 1);
  EXPECT_EQ(s.bytes_in_use, 131072u);
  EXPECT_EQ(alloc.allocs(), 1);
}

TEST(PinnedHostPoolTest, DoesNotHandOutBuffersMoreThanTwiceTooBig) {
  FakeHostAllocator alloc;
  auto pool = MakePinned(&alloc, 64 << 20);
  { auto b = pool->Acquire(4 << 20); ASSERT_TRUE(b.ok()); }
  auto small = pool->Acquire(100 << 10);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(pool->stats().reuses, 0);
  EXPECT_EQ(alloc.allocs(), 2);
}

TEST(PinnedHostPoolTest, RefusesPastTheBoundAndNamesTheTag) {
  FakeHostAllocator alloc;
  auto pool = MakePinned(&alloc, 1 << 20);
  auto a = pool->Acquire(600 << 10, "frame 1");
  ASSERT_TRUE(a.ok());
  auto b = pool->Acquire(600 << 10, "frame 2");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(b.status().message().find("frame 2"), std::string::npos) << b.status().message();
  EXPECT_EQ(pool->stats().failures, 1);
  auto too_big = pool->Acquire(2 << 20, "huge");
  EXPECT_EQ(too_big.status().code(), StatusCode::kOutOfMemory);
}

TEST(PinnedHostPoolTest, FreesCachedBuffersToStayUnderTheBound) {
  FakeHostAllocator alloc;
  auto pool = MakePinned(&alloc, 1 << 20);
  { auto a = pool->Acquire(600 << 10); ASSERT_TRUE(a.ok()); }
  auto b = pool->Acquire(700 << 10);  // 640 KiB cached is too small: freed to make room
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(alloc.frees(), 1);
  EXPECT_LE(pool->stats().bytes_held, size_t{1} << 20);
  EXPECT_LE(alloc.used(), size_t{1} << 20);
}

TEST(PinnedHostPoolTest, BadInputAndAllocatorFailure) {
  FakeHostAllocator alloc(100 << 10);
  auto pool = MakePinned(&alloc, 8 << 20);
  EXPECT_EQ(pool->Acquire(0).status().code(), StatusCode::kInvalidArgument);
  auto r = pool->Acquire(1 << 20, "big");
  EXPECT_EQ(r.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(r.status().message().find("big"), std::string::npos);
  PinnedPoolOptions bad;
  bad.max_bytes = 0;
  EXPECT_EQ(PinnedHostPool::Create(bad).status().code(), StatusCode::kInvalidArgument);
}

TEST(PinnedHostPoolTest, LeakReportAndBuffersOutlivingThePool) {
  FakeHostAllocator alloc;
  PinnedBuffer keep;
  {
    auto pool = MakePinned(&alloc, 8 << 20);
    auto r = pool->Acquire(1000, "download mask 7");
    ASSERT_TRUE(r.ok());
    keep = std::move(r).value();
    auto lines = pool->LeakReport();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("download mask 7"), std::string::npos);
  }  // pool destroyed, buffer alive: no free yet
  EXPECT_EQ(alloc.frees(), 0);
  keep.Reset();
  EXPECT_EQ(alloc.frees(), alloc.allocs());
  EXPECT_EQ(alloc.used(), 0u);
  EXPECT_EQ(alloc.bad_frees(), 0);
}

TEST(PinnedHostPoolTest, ManyThreadsKeepTheCountsRight) {
  FakeHostAllocator alloc;
  auto pool = MakePinned(&alloc, 4 << 20);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        auto b = pool->Acquire(static_cast<size_t>(((i + t) % 5 + 1) * 50000));
        if (b.ok()) b->data()[0] = static_cast<uint8_t>(i);
      }
    });
  }
  for (auto& t : ts) t.join();
  PinnedPoolStats s = pool->stats();
  EXPECT_EQ(s.buffers_in_use, 0);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.acquires + s.failures, 2000);
  EXPECT_LE(s.peak_bytes_held, size_t{4} << 20);
  EXPECT_EQ(alloc.used(), s.bytes_held);
  pool->Trim();
  EXPECT_EQ(alloc.used(), 0u);
}

std::unique_ptr<DevicePool> MakeDevice(FakeDeviceAllocator* a, size_t max_bytes = 0) {
  DevicePoolOptions o;
  o.allocator = a;
  o.max_bytes = max_bytes;
  auto r = DevicePool::Create(o);
  EXPECT_TRUE(r.ok());
  return std::move(r).value();
}

TEST(DevicePoolTest, ReusesOnTheSameStreamOnly) {
  FakeDeviceAllocator alloc;
  auto pool = MakeDevice(&alloc);
  void* p = nullptr;
  {
    auto b = pool->Allocate(3 << 20, S(1), "prob");
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->capacity(), size_t{4} << 20);  // 2 MiB granules
    p = b->data();
  }
  {
    auto other = pool->Allocate(3 << 20, S(2), "prob");
    ASSERT_TRUE(other.ok());
    EXPECT_NE(other->data(), p);  // cached on stream 1: not safe for stream 2
  }
  auto same = pool->Allocate(3 << 20, S(1), "prob");
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->data(), p);
  DevicePoolStats s = pool->stats();
  EXPECT_EQ(s.allocations, 3);
  EXPECT_EQ(s.cache_hits, 1);
  EXPECT_NEAR(s.hit_rate(), 1.0 / 3, 1e-9);
  EXPECT_EQ(s.bytes_in_use, size_t{4} << 20);
  EXPECT_EQ(s.peak_bytes_in_use, size_t{4} << 20);
  EXPECT_EQ(s.bytes_cached, size_t{4} << 20);
  EXPECT_EQ(s.live_buffers, 1);
}

TEST(DevicePoolTest, SmallBlocksRoundToPowersOfTwo) {
  FakeDeviceAllocator alloc;
  auto pool = MakeDevice(&alloc);
  { auto b = pool->Allocate(1000, S(1)); ASSERT_TRUE(b.ok()); EXPECT_EQ(b->capacity(), 1024u); }
  auto b = pool->Allocate(700, S(1));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(pool->stats().cache_hits, 1);
  EXPECT_EQ(alloc.allocs(), 1);
}

TEST(DevicePoolTest, BoundFreesOtherStreamsCacheFirst) {
  FakeDeviceAllocator alloc;
  auto pool = MakeDevice(&alloc, 8 << 20);
  { auto a = pool->Allocate(4 << 20, S(1)); auto b = pool->Allocate(2 << 20, S(2)); }
  // 6 MiB cached; 4 MiB more on stream 2 needs 2 MiB freed: stream 1's block goes, stream 2's stays.
  auto c = pool->Allocate(4 << 20, S(2));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(pool->stats().bytes_cached, size_t{2} << 20);
  auto d = pool->Allocate(2 << 20, S(2));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(pool->stats().cache_hits, 1);
  auto e = pool->Allocate(4 << 20, S(3), "too much");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(e.status().message().find("too much"), std::string::npos);
}

TEST(DevicePoolTest, AllocatorOomReleasesTheCacheAndRetries) {
  FakeDeviceAllocator alloc(6 << 20);
  auto pool = MakeDevice(&alloc);
  { auto a = pool->Allocate(4 << 20, S(1)); ASSERT_TRUE(a.ok()); }
  auto b = pool->Allocate(4 << 20, S(2));  // 4 cached + 4 > 6: cache released, then fits
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(alloc.ooms(), 1);
  EXPECT_EQ(pool->stats().bytes_cached, 0u);
  auto c = pool->Allocate(4 << 20, S(2), "second");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kOutOfMemory);
  EXPECT_NE(c.status().message().find("second"), std::string::npos);
  EXPECT_EQ(pool->stats().failures, 1);
}

TEST(DevicePoolTest, LeakReportNamesLiveBuffers) {
  FakeDeviceAllocator alloc;
  DeviceBuffer leaked;
  {
    auto pool = MakeDevice(&alloc);
    auto a = pool->Allocate(10, S(7), "rvm state r1");
    ASSERT_TRUE(a.ok());
    leaked = std::move(a).value();
    { auto tmp = pool->Allocate(10, S(7), "temp"); }
    auto lines = pool->LeakReport();
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("rvm state r1"), std::string::npos);
    EXPECT_NE(lines[0].find("0x7"), std::string::npos);
    EXPECT_EQ(pool->Allocate(0, S(1)).status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(alloc.used(), 256u);  // the live one (small blocks are at least 256 bytes)
  leaked.Reset();
  EXPECT_EQ(alloc.used(), 0u);
  EXPECT_EQ(alloc.bad_frees(), 0);
}

TEST(DevicePoolTest, RealCudaAllocatorRoundTrip) {
  VRSEG_REQUIRE_GPU();
  auto pool = DevicePool::Create();
  ASSERT_TRUE(pool.ok());
  cudaStream_t s;
  ASSERT_CUDA(cudaStreamCreate(&s));
  {
    auto b = (*pool)->Allocate(5 << 20, s, "gpu test");
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    std::vector<uint8_t> host(5 << 20, 3), back(5 << 20, 0);
    ASSERT_CUDA(cudaMemcpyAsync(b->data(), host.data(), host.size(), cudaMemcpyHostToDevice, s));
    ASSERT_CUDA(cudaMemcpyAsync(back.data(), b->data(), back.size(), cudaMemcpyDeviceToHost, s));
    ASSERT_CUDA(cudaStreamSynchronize(s));
    EXPECT_EQ(back, host);
  }
  (*pool)->Trim();
  ASSERT_CUDA(cudaStreamSynchronize(s));
  auto pinned = PinnedHostPool::Create();
  ASSERT_TRUE(pinned.ok());
  auto pb = (*pinned)->Acquire(1 << 20);
  ASSERT_TRUE(pb.ok()) << pb.status().ToString();
  cudaPointerAttributes attr{};
  ASSERT_CUDA(cudaPointerGetAttributes(&attr, pb->data()));
  EXPECT_EQ(attr.type, cudaMemoryTypeHost);
  cudaStreamDestroy(s);
}

TEST(CudaCheckTest, NamesCallFileAndLine) {
  Status s = CudaCheck(cudaErrorMemoryAllocation, "cudaMalloc(&p, n)", "x.cc", 42);
  EXPECT_EQ(s.code(), StatusCode::kOutOfMemory);
  EXPECT_NE(s.message().find("cudaMalloc(&p, n)"), std::string::npos);
  EXPECT_NE(s.message().find("x.cc:42"), std::string::npos);
  EXPECT_TRUE(CudaCheck(cudaSuccess, "x", "y", 1).ok());
  EXPECT_EQ(CudaCheck(cudaErrorNoDevice, "x", "y", 1).code(), StatusCode::kUnavailable);
  EXPECT_EQ(CudaCheck(cudaErrorLaunchFailure, "x", "y", 1).code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace vrseg::cuda
