// The io_uring backend: the data path of FileSystem through liburing, the
// metadata path (open, rename, list, lock …) inherited from PosixFileSystem.
//
// One Submit is one batch of SQEs: reads run concurrently; the writes of a
// file before a kSync on it are linked (IOSQE_IO_LINK) into a chain that ends
// in fdatasync (IORING_FSYNC_DATASYNC), so the contract of file_system.h holds
// without waiting in user space between the writes and their sync. How chains
// are planned, resubmitted after short transfers and split across rounds is
// described in io/uring_plan.h and io/uring_ring.h. A Submit of one read
// alone (File::ReadAt) is a pread: nothing to batch, and the caller waits.
//
// Rings: a pool of up to limits::kUringMaxRings, created on demand, each of
// limits::kUringQueueDepth entries. Submit borrows one for the batch (waiting
// when all are busy and the pool is full), so concurrent submitters never
// share a ring. NewQueue returns a queue that owns a ring of its own.
//
// Metrics: metrics() counts every ring the file system created. A pooled
// ring's counters are added to the totals when it returns to the pool; a
// queue publishes its ring's counters to atomics after each Start and Wait
// (on its own thread, the only one touching the ring), metrics() adds those
// of the live queues, and a queue being destroyed folds them into the totals.
//
// Thread-safety: as FileSystem. Submit, NewQueue and metrics() may be called
// from any thread; each IoQueue belongs to one thread. Every queue must be
// destroyed before the file system.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "io/posix_fs.h"
#include "io/uring_metrics.h"

namespace warbler::io {

class UringRing;

struct UringOptions {
  // Test only (0 = off): caps the bytes of each read/write SQE so that every
  // larger op completes short and the remainder must be resubmitted by the
  // real resubmission code. With O_DIRECT files, use a multiple of
  // limits::kDirectIoAlignment.
  size_t test_max_bytes_per_sqe = 0;
};

class UringFileSystem final : public PosixFileSystem {
  struct PassKey {
    explicit PassKey() = default;
  };

 public:
  // Sets up the first ring (kept for the life of the file system);
  // Unavailable, saying why, when io_uring cannot be used here. See
  // NewUringFileSystem.
  static Result<std::unique_ptr<UringFileSystem>> Create(const UringOptions& options);
  // Use Create.
  UringFileSystem(PassKey, const UringOptions& options);
  ~UringFileSystem() override;

  std::string_view name() const override { return "uring"; }
  Status Submit(std::span<IoOp> ops) override;
  Result<std::unique_ptr<IoQueue>> NewQueue() override;

  // Sum of the counters of every ring: the pooled ones (as of their last
  // return to the pool), and those of the queues from NewQueue, live (as of
  // their last Start or Wait) or destroyed. Each counter only grows.
  UringMetrics metrics() const;

 private:
  class RingLease;
  class Queue;

  // A queue leaving: its final counters join metrics_, and metrics() stops
  // reading it.
  void RetireQueue(const Queue* queue);

  Result<std::unique_ptr<UringRing>> NewRing() const;
  std::unique_ptr<UringRing> AcquireRing();
  void ReleaseRing(std::unique_ptr<UringRing> ring);

  const UringOptions options_;
  mutable std::mutex mu_;
  std::condition_variable ring_freed_;
  std::vector<std::unique_ptr<UringRing>> idle_rings_;  // guarded by mu_
  size_t rings_ = 0;                                    // created, idle or lent out; guarded by mu_
  std::vector<const Queue*> queues_;                    // live queues from NewQueue; guarded by mu_
  // Of rings returned to the pool and of destroyed queues; guarded by mu_.
  UringMetrics metrics_;
};

// The io_uring file system, or Unavailable with the reason when io_uring
// cannot be set up: kernel.io_uring_disabled is 2 (or 1 and this process is
// not allowed), io_uring_queue_init fails (ENOSYS/EPERM under seccomp, …) or
// the kernel lacks the opcodes (before Linux 5.6).
//
// Test hook: WARBLER_IO_FORCE_URING_FAILURE=1 in the environment makes it
// fail with Unavailable, so tests can exercise the POSIX fallback of
// NewDefaultFileSystem. Test-only; never set it in production.
Result<std::unique_ptr<FileSystem>> NewUringFileSystem();
Result<std::unique_ptr<FileSystem>> NewUringFileSystem(const UringOptions& options);

}  // namespace warbler::io
