// Internal to PartitionLog: what travels through its queue and its pipeline.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/log/partition_log.h"

namespace warbler::engine {

struct PartitionLog::Request {
  std::vector<Record> records;
  AppendCallback done;
  // A control request (truncation, barrier) runs on the writer thread once
  // everything queued before it is acknowledged; `control_done` gets its status.
  std::function<Status()> control;
  std::function<void(const Status&)> control_done;
};

// The partition's append queue: bounded (full → ResourceExhausted, never a
// wait), many producers, one consumer (the writer). Unlike BoundedQueue's
// deque, which allocates a node every few pushes (under its lock, on the
// producer) and frees it on the writer, producers append to a vector whose
// capacity the writer hands back by swapping: a hand-off moves no elements
// and, once warm, allocates nothing. Thread-safety: all methods.
class PartitionLog::AppendQueue {
 public:
  explicit AppendQueue(size_t capacity) : capacity_(capacity) {}

  // Enqueues `item`; ResourceExhausted (full) / Unavailable (closed) leave it untouched.
  Status Push(Request& item) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return Status::Unavailable("queue closed");
      if (items_.size() >= capacity_) {
        return Status::ResourceExhausted("queue full (capacity " + std::to_string(capacity_) + ")");
      }
      items_.push_back(std::move(item));
      if (waker_ != nullptr && items_.size() >= wake_at_) {
        // Under the lock: the writer disarms (and may then close and free
        // its queue) only after this returns.
        waker_->Wake();
        waker_ = nullptr;
      }
    }
    cv_.notify_one();
    return Status::Ok();
  }

  // Moves up to `max_items` pending items, oldest first, to the end of `out`; how many.
  size_t DrainTo(std::vector<Request>* out, size_t max_items) {
    std::lock_guard lock(mu_);
    const size_t n = std::min(max_items, items_.size());
    if (n == 0) return 0;
    if (out->empty() && n == items_.size()) {
      out->swap(items_);  // the common case: take everything, give back an empty buffer
      return n;
    }
    for (size_t i = 0; i < n; ++i) out->push_back(std::move(items_[i]));
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(n));
    return n;
  }

  // Waits up to `timeout` until an item is pending or the queue is closed.
  template <typename Rep, typename Period>
  void WaitNonEmpty(std::chrono::duration<Rep, Period> timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || !items_.empty(); });
  }

  // Until DisarmWake, the push that makes `n` (≥ 1) items pending calls
  // q->Wake() (once), so the writer can sleep in q->WaitOrWake on its I/O
  // and on arrivals at once. False (nothing armed) if `n` are pending
  // already or the queue is closed.
  bool ArmWake(io::IoQueue* q, size_t n) {
    std::lock_guard lock(mu_);
    if (closed_ || items_.size() >= n) return false;
    waker_ = q;
    wake_at_ = n;
    return true;
  }
  void DisarmWake() {
    std::lock_guard lock(mu_);
    waker_ = nullptr;
  }

  // Later pushes fail with Unavailable; pending items can still be drained.
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

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> items_;
  io::IoQueue* waker_ = nullptr;  // ArmWake's queue, until the push that wakes it or DisarmWake
  size_t wake_at_ = 1;
  bool closed_ = false;
};

struct PartitionLog::Group {
  std::vector<Request> requests;
  std::vector<AppendResult> results;  // one per request
  // What AssignGroup decided and EncodeGroup encodes: the records to write
  // (duplicates left out), in log order, and where each batch ends in it.
  std::vector<const Record*> records;
  std::vector<size_t> batch_ends;
  std::string buf;                    // encoded batches
  std::vector<std::pair<BatchHeader, uint64_t>> batches;  // header, file position
  std::shared_ptr<Segment> segment;
  uint64_t start_pos = 0;
  uint64_t end_pos = 0;
  uint64_t zero_end = 0;  // stale bytes up to here are zeroed by this group
  uint64_t base_offset = 0;
  uint64_t next_offset = 0;
  uint64_t last_term = 0;
  bool synced = false;
  std::vector<io::IoOp> ops;
  uint64_t ticket = 0;         // of ioq_, unless ran_inline
  bool ran_inline = false;     // written (and synced) by IoQueue::Run: see StartGroup
  bool io_done = false;        // its write and sync completed (inline, or reaped by WaitOrWake)
  Status io_status;            // their status, once io_done
  uint64_t start_ns = 0;  // when its write was submitted
};

// The writer's helper for large groups: runs one job at a time (encoding a
// group — zstd, encryption, checksums) on its own thread while the writer
// completes the group in flight. Created on first use; used by the writer
// thread only.
class PartitionLog::Encoder {
 public:
  Encoder() : thread_([this] { Run(); }) {}
  ~Encoder() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Encoder(const Encoder&) = delete;
  Encoder& operator=(const Encoder&) = delete;

  // REQUIRES: no job started and not yet waited for.
  void Start(std::function<Status()> job) {
    {
      std::lock_guard lock(mu_);
      job_ = std::move(job);
      done_ = false;
    }
    cv_.notify_all();
  }
  // Waits for the job started last; its status.
  Status Wait() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return done_; });
    return result_;
  }

 private:
  void Run() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stop_ || job_ != nullptr; });
      if (stop_) return;
      std::function<Status()> job = std::move(job_);
      job_ = nullptr;
      lock.unlock();
      Status s = job();
      lock.lock();
      result_ = std::move(s);
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::function<Status()> job_;
  Status result_;
  bool done_ = true;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the fields it reads
};

}  // namespace warbler::engine
