// BoundedQueue<T>: a multi-producer, multi-consumer FIFO with a hard capacity.
//
// Push never waits: when the queue is full it returns ResourceExhausted
// (backpressure is an error code, never a hang). Consumers may block, with a
// deadline, for the next item or drain everything pending in one call, which
// is how batching loops take a whole group at once.
// Thread-safety: all methods are safe to call concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/assert.h"
#include "base/status.h"

namespace warbler {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) { WB_ASSERT(capacity > 0); }

  BoundedQueue(const BoundedQueue&) = delete;
  BoundedQueue& operator=(const BoundedQueue&) = delete;

  // Enqueues `item`, or fails with ResourceExhausted (full) / Unavailable (closed).
  // On failure `item` is left untouched so the caller can complete it.
  Status Push(T& item) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return Status::Unavailable("queue closed");
      if (items_.size() >= capacity_) {
        return Status::ResourceExhausted("queue full (capacity " + std::to_string(capacity_) +
                                         ")");
      }
      items_.push_back(std::move(item));
    }
    cv_.notify_one();
    return Status::Ok();
  }
  Status Push(T&& item) { return Push(item); }

  // Waits up to `timeout` for an item. nullopt on timeout or when closed and empty.
  template <typename Rep, typename Period>
  std::optional<T> PopWait(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  // Moves up to `max_items` pending items into `out` without waiting; returns how many.
  size_t DrainTo(std::vector<T>* out, size_t max_items) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    while (n < max_items && !items_.empty()) {
      out->push_back(std::move(items_.front()));
      items_.pop_front();
      ++n;
    }
    return n;
  }

  // Waits up to `timeout` until at least one item is pending (or closed).
  template <typename Rep, typename Period>
  bool WaitNonEmpty(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); }) &&
           !items_.empty();
  }

  // After Close, Push fails with Unavailable; pending items can still be drained.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }

  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  size_t size() const {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace warbler
