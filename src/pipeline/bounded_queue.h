// pipeline/bounded_queue.h — a fixed-capacity blocking FIFO between pipeline stages (private).
//
// Capacity is in items (frames or batches) and fixed at construction: the ring is allocated once,
// Push/Pop never allocate. Push blocks while the queue is full (backpressure: a slow consumer holds
// its producers back); Pop blocks while it is empty.
//
// Shutdown: Close() ends intake — Push fails at once, Pop keeps returning the items left and fails
// once the queue is empty (a drain). Cancel() abandons it — Push and Pop fail at once and the items
// left stay inside (TakeAll() hands them out for accounting).
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace vrseg::pipeline {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(int capacity) : ring_(capacity > 0 ? capacity : 1) {}
  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Appends `item`, waiting while the queue is full. Returns false (item not taken) once the
  // queue is closed or cancelled.
  bool Push(T item) {
    std::unique_lock<std::mutex> lock(mu_);
    if (count_ == ring_.size() && !closed_) {
      ++blocked_pushes_;
      not_full_.wait(lock, [&] { return count_ < ring_.size() || closed_; });
    }
    if (closed_) return false;
    ring_[(head_ + count_) % ring_.size()] = std::move(item);
    ++count_;
    if (count_ > high_water_) high_water_ = count_;
    lock.unlock();
    not_empty_.notify_one();
    return true;
  }

  // Removes the oldest item into `*out`, waiting while the queue is empty. Returns false when
  // the queue is cancelled, or closed and drained.
  bool Pop(T* out) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return count_ > 0 || closed_; });
    if (cancelled_ || count_ == 0) return false;
    *out = std::move(ring_[head_]);
    head_ = (head_ + 1) % ring_.size();
    --count_;
    lock.unlock();
    not_full_.notify_one();
    return true;
  }

  // Ends intake; consumers drain what is left.
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  // Ends intake and consumption at once; the items left stay until TakeAll().
  void Cancel() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
      cancelled_ = true;
    }
    not_full_.notify_all();
    not_empty_.notify_all();
  }

  // Moves every item still queued into `out` (appended), oldest first.
  void TakeAll(std::vector<T>* out) {
    std::lock_guard<std::mutex> lock(mu_);
    while (count_ > 0) {
      out->push_back(std::move(ring_[head_]));
      head_ = (head_ + 1) % ring_.size();
      --count_;
    }
  }

  int capacity() const { return static_cast<int>(ring_.size()); }
  int size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(count_);
  }
  // The largest number of items ever queued at once.
  int high_water() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(high_water_);
  }
  // How many Push calls had to wait for room (backpressure events).
  int64_t blocked_pushes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return blocked_pushes_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::vector<T> ring_;
  size_t head_ = 0;
  size_t count_ = 0;
  size_t high_water_ = 0;
  int64_t blocked_pushes_ = 0;
  bool closed_ = false;
  bool cancelled_ = false;
};

}  // namespace vrseg::pipeline
