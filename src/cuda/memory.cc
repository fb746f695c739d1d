#include "vrseg/cuda/memory.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <mutex>
#include <unordered_map>

#include "vrseg/cuda/check.h"
#include "vrseg/log.h"

namespace vrseg::cuda {
namespace {

size_t RoundUp(size_t v, size_t a) { return a ? (v + a - 1) / a * a : v; }

size_t NextPow2(size_t v) {
  size_t p = 256;
  while (p < v) p <<= 1;
  return p;
}

std::string Mib(size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string StreamName(cudaStream_t s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%p", static_cast<void*>(s));
  return buf;
}

class PinnedAllocatorImpl final : public HostAllocator {
 public:
  Result<void*> Allocate(size_t bytes) override {
    void* p = nullptr;
    Status s = CudaCheck(cudaHostAlloc(&p, bytes, cudaHostAllocPortable), "cudaHostAlloc", __FILE__,
                         __LINE__);
    if (!s.ok()) return s.WithContext("pinned allocation of " + std::to_string(bytes) + " bytes");
    return p;
  }
  void Free(void* ptr) override { cudaFreeHost(ptr); }
};

class AsyncAllocatorImpl final : public DeviceAllocator {
 public:
  Result<void*> Allocate(size_t bytes, cudaStream_t stream) override {
    void* p = nullptr;
    Status s = CudaCheck(cudaMallocAsync(&p, bytes, stream), "cudaMallocAsync", __FILE__, __LINE__);
    if (!s.ok()) return s.WithContext("device allocation of " + std::to_string(bytes) + " bytes");
    return p;
  }
  void Free(void* ptr, cudaStream_t stream) override {
    if (cudaFreeAsync(ptr, stream) != cudaSuccess) cudaGetLastError();
  }
};

}  // namespace

HostAllocator* CudaPinnedAllocator() {
  static PinnedAllocatorImpl* a = new PinnedAllocatorImpl();
  return a;
}

DeviceAllocator* CudaAsyncAllocator() {
  static AsyncAllocatorImpl* a = new AsyncAllocatorImpl();
  return a;
}

// ---- pinned host pool ---------------------------------------------------------------------------

struct PinnedHostPool::State {
  PinnedPoolOptions options;
  mutable std::mutex mu;
  std::multimap<size_t, void*> cache;                               // capacity -> ptr
  std::unordered_map<void*, std::pair<size_t, std::string>> live;  // ptr -> capacity, tag
  PinnedPoolStats stats;

  ~State() {
    for (auto& [cap, p] : cache) options.allocator->Free(p);
    // Live buffers cannot exist here: each holds a reference to this state.
  }

  void Release(void* p, size_t capacity) {
    std::lock_guard<std::mutex> lock(mu);
    live.erase(p);
    stats.bytes_in_use -= capacity;
    stats.buffers_in_use -= 1;
    cache.emplace(capacity, p);
  }

  // Frees cached buffers, largest first, until `needed` more bytes fit (or the cache is empty).
  void FreeCacheFor(size_t needed) {
    while (!cache.empty() && stats.bytes_held + needed > options.max_bytes) {
      auto it = std::prev(cache.end());
      options.allocator->Free(it->second);
      stats.bytes_held -= it->first;
      stats.buffers_held -= 1;
      cache.erase(it);
    }
  }
};

PinnedHostPool::PinnedHostPool(std::shared_ptr<State> state) : state_(std::move(state)) {}

PinnedHostPool::~PinnedHostPool() {
  std::vector<std::string> leaks = LeakReport();
  for (const auto& l : leaks) LogWarning("pinned host pool destroyed with a buffer in use: " + l);
}

Result<std::unique_ptr<PinnedHostPool>> PinnedHostPool::Create(PinnedPoolOptions options) {
  if (options.max_bytes == 0) return Status::InvalidArgument("PinnedPoolOptions.max_bytes is 0");
  if (options.granularity == 0) options.granularity = 1;
  if (!options.allocator) options.allocator = CudaPinnedAllocator();
  auto state = std::make_shared<State>();
  state->options = options;
  return std::unique_ptr<PinnedHostPool>(new PinnedHostPool(std::move(state)));
}

Result<PinnedBuffer> PinnedHostPool::Acquire(size_t bytes, std::string tag) {
  if (bytes == 0) return Status::InvalidArgument("PinnedHostPool::Acquire of 0 bytes (" + tag + ")");
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  PinnedBuffer buf;
  auto it = st.cache.lower_bound(bytes);
  if (it != st.cache.end() && it->first <= 2 * bytes) {
    buf.ptr_ = it->second;
    buf.capacity_ = it->first;
    st.cache.erase(it);
    st.stats.reuses += 1;
  } else {
    const size_t cap = RoundUp(bytes, st.options.granularity);
    if (cap > st.options.max_bytes) {
      st.stats.failures += 1;
      return Status::OutOfMemory("pinned host pool: '" + tag + "' asks for " + Mib(cap) +
                                 ", over the pool's bound of " + Mib(st.options.max_bytes));
    }
    st.FreeCacheFor(cap);
    if (st.stats.bytes_held + cap > st.options.max_bytes) {
      st.stats.failures += 1;
      return Status::OutOfMemory("pinned host pool: '" + tag + "' asks for " + Mib(cap) + " with " +
                                 Mib(st.stats.bytes_in_use) + " in use of a bound of " +
                                 Mib(st.options.max_bytes));
    }
    Result<void*> p = st.options.allocator->Allocate(cap);
    if (!p.ok()) {
      st.stats.failures += 1;
      return p.status().WithContext("pinned host pool: '" + tag + "'");
    }
    buf.ptr_ = *p;
    buf.capacity_ = cap;
    st.stats.bytes_held += cap;
    st.stats.buffers_held += 1;
    st.stats.peak_bytes_held = std::max(st.stats.peak_bytes_held, st.stats.bytes_held);
  }
  buf.size_ = bytes;
  buf.pool_ = state_;
  st.stats.acquires += 1;
  st.stats.bytes_in_use += buf.capacity_;
  st.stats.buffers_in_use += 1;
  st.live[buf.ptr_] = {buf.capacity_, tag.empty() ? std::string("(untagged)") : std::move(tag)};
  return buf;
}

void PinnedHostPool::Trim() {
  std::lock_guard<std::mutex> lock(state_->mu);
  for (auto& [cap, p] : state_->cache) {
    state_->options.allocator->Free(p);
    state_->stats.bytes_held -= cap;
    state_->stats.buffers_held -= 1;
  }
  state_->cache.clear();
}

PinnedPoolStats PinnedHostPool::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

std::vector<std::string> PinnedHostPool::LeakReport() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& [p, info] : state_->live) {
    out.push_back(info.second + ": " + std::to_string(info.first) + " bytes");
  }
  std::sort(out.begin(), out.end());
  return out;
}

PinnedBuffer::PinnedBuffer(PinnedBuffer&& o) noexcept
    : pool_(std::move(o.pool_)), ptr_(o.ptr_), size_(o.size_), capacity_(o.capacity_) {
  o.ptr_ = nullptr;
  o.size_ = o.capacity_ = 0;
}

PinnedBuffer& PinnedBuffer::operator=(PinnedBuffer&& o) noexcept {
  if (this != &o) {
    Reset();
    pool_ = std::move(o.pool_);
    ptr_ = o.ptr_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    o.ptr_ = nullptr;
    o.size_ = o.capacity_ = 0;
  }
  return *this;
}

PinnedBuffer::~PinnedBuffer() { Reset(); }

void PinnedBuffer::Reset() {
  if (ptr_ && pool_) pool_->Release(ptr_, capacity_);
  pool_.reset();
  ptr_ = nullptr;
  size_ = capacity_ = 0;
}

// ---- device pool --------------------------------------------------------------------------------

struct DevicePool::State {
  struct Cached {
    void* ptr;
    cudaStream_t stream;
  };
  struct Live {
    size_t capacity;
    cudaStream_t stream;
    std::string tag;
  };
  DevicePoolOptions options;
  mutable std::mutex mu;
  std::multimap<size_t, Cached> cache;       // capacity -> block
  std::unordered_map<uint64_t, Live> live;   // id -> info
  uint64_t next_id = 1;
  DevicePoolStats stats;

  ~State() {
    for (auto& [cap, c] : cache) options.allocator->Free(c.ptr, c.stream);
  }

  size_t BlockSize(size_t bytes) const {
    if (bytes <= options.small_limit) return NextPow2(bytes);
    return RoundUp(bytes, options.granularity);
  }

  size_t held() const { return stats.bytes_in_use + stats.bytes_cached; }

  // Frees one cached block; returns the iterator after it.
  std::multimap<size_t, Cached>::iterator FreeCached(std::multimap<size_t, Cached>::iterator it) {
    options.allocator->Free(it->second.ptr, it->second.stream);
    stats.bytes_cached -= it->first;
    return cache.erase(it);
  }

  // Frees cached blocks until `needed` more bytes fit under the bound: blocks of other streams
  // first, then any, largest first.
  void FreeCacheFor(size_t needed, cudaStream_t stream) {
    if (options.max_bytes == 0) return;
    for (int pass = 0; pass < 2; ++pass) {
      auto it = cache.end();
      while (it != cache.begin() && held() + needed > options.max_bytes) {
        --it;
        if (pass == 0 && it->second.stream == stream) continue;
        it = FreeCached(it);  // the element after; the next --it visits the one before
      }
    }
  }

  void FreeAllCached() {
    while (!cache.empty()) FreeCached(cache.begin());
  }

  void Release(uint64_t id, void* ptr, cudaStream_t stream) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = live.find(id);
    if (it == live.end()) return;
    const size_t cap = it->second.capacity;
    live.erase(it);
    stats.bytes_in_use -= cap;
    stats.live_buffers -= 1;
    stats.bytes_cached += cap;
    cache.emplace(cap, Cached{ptr, stream});
  }
};

DevicePool::DevicePool(std::shared_ptr<State> state) : state_(std::move(state)) {}

DevicePool::~DevicePool() {
  for (const auto& l : LeakReport()) LogWarning("device pool destroyed with a buffer in use: " + l);
  Trim();
}

Result<std::unique_ptr<DevicePool>> DevicePool::Create(DevicePoolOptions options) {
  if (options.granularity == 0) options.granularity = 1;
  if (!options.allocator) options.allocator = CudaAsyncAllocator();
  auto state = std::make_shared<State>();
  state->options = options;
  return std::unique_ptr<DevicePool>(new DevicePool(std::move(state)));
}

Result<DeviceBuffer> DevicePool::Allocate(size_t bytes, cudaStream_t stream, std::string tag) {
  if (tag.empty()) tag = "(untagged)";
  if (bytes == 0) return Status::InvalidArgument("DevicePool::Allocate of 0 bytes for '" + tag + "'");
  State& st = *state_;
  std::lock_guard<std::mutex> lock(st.mu);
  const size_t cap = st.BlockSize(bytes);
  DeviceBuffer buf;
  // Cache: same stream, capacity in [cap, 2*cap].
  for (auto it = st.cache.lower_bound(cap); it != st.cache.end() && it->first <= 2 * cap; ++it) {
    if (it->second.stream != stream) continue;
    buf.ptr_ = it->second.ptr;
    buf.capacity_ = it->first;
    st.stats.bytes_cached -= it->first;
    st.cache.erase(it);
    st.stats.cache_hits += 1;
    break;
  }
  if (!buf.ptr_) {
    if (st.options.max_bytes) {
      st.FreeCacheFor(cap, stream);
      if (st.held() + cap > st.options.max_bytes) {
        st.stats.failures += 1;
        return Status::OutOfMemory("device pool: '" + tag + "' asks for " + Mib(cap) + " with " +
                                   Mib(st.stats.bytes_in_use) + " in use of a bound of " +
                                   Mib(st.options.max_bytes));
      }
    }
    Result<void*> p = st.options.allocator->Allocate(cap, stream);
    if (!p.ok() && p.status().code() == StatusCode::kOutOfMemory && !st.cache.empty()) {
      st.FreeAllCached();
      p = st.options.allocator->Allocate(cap, stream);
    }
    if (!p.ok()) {
      st.stats.failures += 1;
      return p.status().WithContext("device pool: '" + tag + "' (" + Mib(cap) + ", " +
                                    Mib(st.stats.bytes_in_use) + " in use)");
    }
    buf.ptr_ = *p;
    buf.capacity_ = cap;
  }
  buf.size_ = bytes;
  buf.stream_ = stream;
  buf.pool_ = state_;
  buf.id_ = st.next_id++;
  st.stats.allocations += 1;
  st.stats.live_buffers += 1;
  st.stats.bytes_in_use += buf.capacity_;
  st.stats.peak_bytes_in_use = std::max(st.stats.peak_bytes_in_use, st.stats.bytes_in_use);
  st.live[buf.id_] = State::Live{buf.capacity_, stream, std::move(tag)};
  return buf;
}

void DevicePool::Trim() {
  std::lock_guard<std::mutex> lock(state_->mu);
  state_->FreeAllCached();
}

DevicePoolStats DevicePool::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

std::vector<std::string> DevicePool::LeakReport() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  std::vector<std::string> out;
  for (const auto& [id, l] : state_->live) {
    out.push_back(l.tag + ": " + std::to_string(l.capacity) + " bytes on stream " +
                  StreamName(l.stream));
  }
  std::sort(out.begin(), out.end());
  return out;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : pool_(std::move(o.pool_)),
      ptr_(o.ptr_),
      size_(o.size_),
      capacity_(o.capacity_),
      stream_(o.stream_),
      id_(o.id_) {
  o.ptr_ = nullptr;
  o.size_ = o.capacity_ = 0;
  o.id_ = 0;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    Reset();
    pool_ = std::move(o.pool_);
    ptr_ = o.ptr_;
    size_ = o.size_;
    capacity_ = o.capacity_;
    stream_ = o.stream_;
    id_ = o.id_;
    o.ptr_ = nullptr;
    o.size_ = o.capacity_ = 0;
    o.id_ = 0;
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() { Reset(); }

void DeviceBuffer::Reset() {
  if (ptr_ && pool_) pool_->Release(id_, ptr_, stream_);
  pool_.reset();
  ptr_ = nullptr;
  size_ = capacity_ = 0;
  id_ = 0;
}

}  // namespace vrseg::cuda
