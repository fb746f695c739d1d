// vrseg/cuda/memory.h — pinned host and stream-ordered device memory pools.
//
// Nothing is allocated per frame once a pipeline is warm: buffers come from these pools and go
// back to them when their RAII handle (PinnedBuffer, DeviceBuffer) is destroyed. Both pools are
// built over an allocator interface so that tests can inject one that fails on demand (see
// adaptive_batch.h) and so that the pool logic itself is tested without a GPU.
//
// Ownership: a pool is owned by a unique_ptr from Create(). Each buffer keeps the pool's shared
// state alive, so a buffer may outlive its pool object; memory is then freed when the buffer goes.
// Buffers still alive when the pool is destroyed are reported as leaks (LeakReport, and a warning
// log line naming each one's tag and size).
//
// Thread safety: pools are thread-safe (one mutex each). A buffer handle is used by one thread at a
// time; handing it to another thread is fine.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vrseg/status.h"

namespace vrseg::cuda {

// ---- allocators ---------------------------------------------------------------------------------

// Page-locked host memory. Allocate returns kOutOfMemory (naming the size) when it cannot.
class HostAllocator {
 public:
  virtual ~HostAllocator() = default;
  virtual Result<void*> Allocate(size_t bytes) = 0;
  virtual void Free(void* ptr) = 0;
};
// cudaHostAlloc / cudaFreeHost. Process-wide, never destroyed.
HostAllocator* CudaPinnedAllocator();

// Device memory, stream-ordered: memory freed on stream s may be reused by work later on s.
class DeviceAllocator {
 public:
  virtual ~DeviceAllocator() = default;
  virtual Result<void*> Allocate(size_t bytes, cudaStream_t stream) = 0;
  virtual void Free(void* ptr, cudaStream_t stream) = 0;
};
// cudaMallocAsync / cudaFreeAsync on the current device. Process-wide, never destroyed.
DeviceAllocator* CudaAsyncAllocator();

// ---- pinned host pool ---------------------------------------------------------------------------

struct PinnedPoolOptions {
  size_t max_bytes = size_t{512} << 20;  // bound on memory held (in use + cached); default 512 MiB
  size_t granularity = size_t{64} << 10;  // allocations are rounded up to this (default 64 KiB)
  HostAllocator* allocator = nullptr;     // null: CudaPinnedAllocator()
};

struct PinnedPoolStats {
  size_t bytes_held = 0;      // in use + cached
  size_t bytes_in_use = 0;
  size_t peak_bytes_held = 0;
  int64_t buffers_held = 0;   // in use + cached
  int64_t buffers_in_use = 0;
  int64_t acquires = 0;       // successful Acquire calls
  int64_t reuses = 0;         // of which served from the cache
  int64_t failures = 0;       // Acquire calls refused (over the bound or allocator failure)
};

class PinnedBuffer;

class PinnedHostPool {
 public:
  static Result<std::unique_ptr<PinnedHostPool>> Create(PinnedPoolOptions options = {});
  ~PinnedHostPool();
  PinnedHostPool(const PinnedHostPool&) = delete;
  PinnedHostPool& operator=(const PinnedHostPool&) = delete;

  // A buffer of at least `bytes` (> 0). Reuses a cached buffer of capacity in [bytes, 2*bytes];
  // otherwise allocates, first freeing cached buffers if the bound would be passed. kOutOfMemory
  // when the bound cannot be met (message names the request and the pool's use) or the allocator
  // fails; kInvalidArgument for 0 bytes.
  Result<PinnedBuffer> Acquire(size_t bytes, std::string tag = {});
  // Frees every cached (not in use) buffer.
  void Trim();
  PinnedPoolStats stats() const;
  // One line per buffer in use ("tag: N bytes"); empty when none.
  std::vector<std::string> LeakReport() const;

  struct State;  // private

 private:
  explicit PinnedHostPool(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// Move-only handle to a pinned buffer; returns it to its pool when destroyed.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  PinnedBuffer(PinnedBuffer&& other) noexcept;
  PinnedBuffer& operator=(PinnedBuffer&& other) noexcept;
  ~PinnedBuffer();
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;

  uint8_t* data() const { return static_cast<uint8_t*>(ptr_); }
  size_t size() const { return size_; }          // what was asked for
  size_t capacity() const { return capacity_; }  // what is there
  bool empty() const { return ptr_ == nullptr; }
  // Returns the buffer to its pool now (no-op when empty).
  void Reset();

 private:
  friend class PinnedHostPool;
  std::shared_ptr<PinnedHostPool::State> pool_;
  void* ptr_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// ---- device pool --------------------------------------------------------------------------------

struct DevicePoolOptions {
  size_t max_bytes = 0;                  // bound on memory held (in use + cached); 0: no bound
  size_t granularity = size_t{2} << 20;  // block sizes are rounded up to this (default 2 MiB)
  // Blocks under this are rounded up to a power of two instead (default 1 MiB), so small scratch
  // buffers of varying size still hit the cache.
  size_t small_limit = size_t{1} << 20;
  DeviceAllocator* allocator = nullptr;  // null: CudaAsyncAllocator()
};

struct DevicePoolStats {
  size_t bytes_in_use = 0;     // sum of capacities of live buffers
  size_t peak_bytes_in_use = 0;
  size_t bytes_cached = 0;     // freed blocks kept for reuse
  int64_t allocations = 0;     // successful Allocate calls
  int64_t cache_hits = 0;      // of which served from the cache
  int64_t live_buffers = 0;
  int64_t failures = 0;        // Allocate calls that returned an error
  double hit_rate() const {
    return allocations ? static_cast<double>(cache_hits) / static_cast<double>(allocations) : 0.0;
  }
};

class DeviceBuffer;

// A caching, stream-ordered pool. A block freed on stream s is reused only by a later Allocate on
// the same stream s (stream order makes that safe without events); blocks cached on other streams
// are released first when the bound is reached. On an allocator kOutOfMemory the pool frees its
// whole cache and tries once more before failing.
class DevicePool {
 public:
  static Result<std::unique_ptr<DevicePool>> Create(DevicePoolOptions options = {});
  ~DevicePool();  // releases the cache; logs a warning naming each buffer still alive
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  // A block of at least `bytes` (> 0) usable by work on `stream` (and on other streams only once
  // ordered after `stream` by the caller). `tag` names the buffer in the leak report and in errors.
  // kOutOfMemory (naming the tag, the size and the pool's use) when it cannot be had.
  Result<DeviceBuffer> Allocate(size_t bytes, cudaStream_t stream, std::string tag = {});
  // Frees every cached block (stream-ordered on the stream it was freed on).
  void Trim();
  DevicePoolStats stats() const;
  // One line per live buffer: "tag: N bytes on stream 0x..."; empty when none.
  std::vector<std::string> LeakReport() const;

  struct State;  // private

 private:
  explicit DevicePool(std::shared_ptr<State> state);
  std::shared_ptr<State> state_;
};

// Move-only handle to device memory from a DevicePool.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return ptr_; }
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  cudaStream_t stream() const { return stream_; }
  bool empty() const { return ptr_ == nullptr; }
  // Moves the buffer's stream: it will be freed (and reused) in the order of `stream`. The caller
  // makes sure all work on the old stream that touches the buffer is ordered before `stream`.
  void set_stream(cudaStream_t stream) { stream_ = stream; }
  // Returns the block to its pool now (no-op when empty).
  void Reset();

 private:
  friend class DevicePool;
  std::shared_ptr<DevicePool::State> pool_;
  void* ptr_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  cudaStream_t stream_ = nullptr;
  uint64_t id_ = 0;
};

}  // namespace vrseg::cuda
