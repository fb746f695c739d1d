// Test allocators: plain malloc behind the pool interfaces, with a byte budget that makes them fail
// with kOutOfMemory on demand, and counters that let tests see every allocation and free.
#pragma once

#include <cstdlib>
#include <mutex>
#include <map>
#include <string>

#include "vrseg/cuda/memory.h"

namespace vrseg::cuda::testing {

class FakeHostAllocator : public HostAllocator {
 public:
  explicit FakeHostAllocator(size_t budget = SIZE_MAX) : budget_(budget) {}
  Result<void*> Allocate(size_t bytes) override {
    std::lock_guard<std::mutex> l(mu_);
    if (used_ + bytes > budget_) return Status::OutOfMemory("fake host budget exhausted");
    void* p = std::malloc(bytes);
    used_ += bytes;
    sizes_[p] = bytes;
    ++allocs_;
    return p;
  }
  void Free(void* p) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) { ++bad_frees_; return; }
    used_ -= it->second;
    sizes_.erase(it);
    ++frees_;
    std::free(p);
  }
  size_t used() const { return used_; }
  int allocs() const { return allocs_; }
  int frees() const { return frees_; }
  int bad_frees() const { return bad_frees_; }

 private:
  std::mutex mu_;
  size_t budget_;
  size_t used_ = 0;
  int allocs_ = 0, frees_ = 0, bad_frees_ = 0;
  std::map<void*, size_t> sizes_;
};

class FakeDeviceAllocator : public DeviceAllocator {
 public:
  explicit FakeDeviceAllocator(size_t budget = SIZE_MAX) : budget_(budget) {}
  Result<void*> Allocate(size_t bytes, cudaStream_t) override {
    std::lock_guard<std::mutex> l(mu_);
    if (used_ + bytes > budget_) {
      ++ooms_;
      return Status::OutOfMemory("fake device budget exhausted: " + std::to_string(bytes) +
                                 " bytes asked, " + std::to_string(budget_ - used_) + " left");
    }
    void* p = std::malloc(bytes);
    used_ += bytes;
    sizes_[p] = bytes;
    ++allocs_;
    return p;
  }
  void Free(void* p, cudaStream_t) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) { ++bad_frees_; return; }
    used_ -= it->second;
    sizes_.erase(it);
    ++frees_;
    std::free(p);
  }
  void set_budget(size_t b) { std::lock_guard<std::mutex> l(mu_); budget_ = b; }
  size_t used() const { return used_; }
  int allocs() const { return allocs_; }
  int frees() const { return frees_; }
  int ooms() const { return ooms_; }
  int bad_frees() const { return bad_frees_; }

 private:
  std::mutex mu_;
  size_t budget_;
  size_t used_ = 0;
  int allocs_ = 0, frees_ = 0, ooms_ = 0, bad_frees_ = 0;
  std::map<void*, size_t> sizes_;
};

}  // namespace vrseg::cuda::testing
