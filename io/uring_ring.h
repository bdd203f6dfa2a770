// UringRing: one io_uring instance and the groups of IoOps in flight on it.
// It is the engine under both data paths of UringFileSystem: a blocking
// Submit borrows a pooled ring and runs Start then Wait; the IoQueue from
// NewQueue owns a ring and calls Start and Wait itself.
//
// How a group runs. PlanChains (io/uring_plan.h) cuts it into chains. A chain
// is issued from its first unfinished op, its SQEs linked with IOSQE_IO_LINK.
// The kernel stops a linked chain at the first op that fails or moves fewer
// bytes than asked; the ops after it complete with -ECANCELED. Once every SQE
// of a chain has been reaped, the chain is issued again from its first
// unfinished op: the remainder of a short transfer, then the canceled ops.
// So a sync is issued only after every earlier write of its chain finished;
// if one failed, the sync is never issued and gets Aborted (as in posix_fs).
//
// SQEs in flight never exceed the SQ depth (and so never overflow the CQ,
// which is twice as large). A chain that does not fit is issued in pieces,
// each piece after the previous one completed, so ordering still holds.
//
// Thread-safety: none. One thread uses a ring at a time (the pool lends it to
// one Submit; an IoQueue belongs to one thread).
#pragma once

#include <liburing.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "io/file_system.h"
#include "io/uring_metrics.h"

namespace warbler::io {

struct UringRingOptions {
  unsigned entries = 0;  // SQ depth; the CQ gets twice as many
  // Checks one op before it is issued and returns its descriptor
  // (PosixFileSystem::PrepareOp: open fd, writable, O_DIRECT alignment).
  Result<int> (*prepare_op)(const IoOp& op) = nullptr;
  // Test only (0 = off): at most this many bytes per read/write SQE, so every
  // larger op completes short and must be resubmitted. A capped SQE ends its
  // link chain: the kernel sees it complete in full, so nothing may be linked
  // behind it until the code has issued the remainder.
  size_t max_bytes_per_sqe = 0;
};

class UringRing {
  struct PassKey {
    explicit PassKey() = default;
  };

 public:
  // Fails with the errno of io_uring_queue_init (e.g. ENOSYS, EPERM under
  // seccomp or kernel.io_uring_disabled), or NotSupported when the kernel
  // lacks the read/write/fsync opcodes.
  static Result<std::unique_ptr<UringRing>> Create(const UringRingOptions& options);
  // Waits for every group still in flight, then tears the ring down.
  ~UringRing();
  UringRing(const UringRing&) = delete;
  UringRing& operator=(const UringRing&) = delete;
  // Use Create.
  UringRing(PassKey, const UringRingOptions& options) : options_(options) {}

  // Validates and starts a group, submitting what fits without waiting.
  // REQUIRES: ops and their buffers stay valid until Wait returns.
  // ResourceExhausted when limits::kUringMaxGroupsInFlight groups are waiting.
  Result<uint64_t> Start(std::span<IoOp> ops, const FileSystem* fs);
  // Reaps completions (of any group) until `ticket`'s group is complete.
  // Returns as FileSystem::Submit does; InvalidArgument for an unknown ticket.
  Status Wait(uint64_t ticket);
  // Waits for every group still in flight, dropping their statuses (the
  // destructor's drain; an owner calls it first to count what it submits).
  void WaitAll();

  // Makes Wake usable (an eventfd the ring polls while WaitOrWake runs).
  Status EnableWake();
  // IoQueue::WaitOrWake. REQUIRES: EnableWake succeeded.
  bool WaitOrWake(uint64_t ticket, Status* status);
  // IoQueue::Wake: any thread. REQUIRES: EnableWake succeeded.
  void Wake();

  // Returns the counters gathered since the last call and resets them.
  UringMetrics TakeMetrics();

 private:
  struct OpState {
    uint32_t chain = 0;
    int retries = 0;
    bool done = false;
  };
  struct Chain {
    std::vector<uint32_t> ops;  // indices into Group::ops, in span order
    size_t cursor = 0;          // first op not done
    uint32_t in_flight = 0;     // SQEs issued whose CQE is not reaped yet
    bool write_failed = false;  // a write of this chain failed: syncs abort
  };
  struct Group {
    std::span<IoOp> ops;
    std::vector<OpState> state;
    std::vector<Chain> chains;
    size_t chains_left = 0;
  };
  struct ChainRef {
    uint64_t ticket;
    uint32_t chain;
  };

  // Issues ready chains while SQ slots are free.
  void Pump();
  // Issues one round of a chain: linked SQEs from its cursor, as many as fit.
  void IssueChain(uint64_t ticket, Group& group, uint32_t chain_index);
  // Sets *fd to the descriptor to issue `op` on; or leaves it -1 and returns
  // the op's final status when it needs no SQE (a sync behind a failed write,
  // a failed precondition, an empty read or write).
  Status CheckBeforeIssue(const Chain& chain, const IoOp& op, int* fd) const;
  // Bytes the next SQE of a read/write carries.
  size_t SqeBytes(const IoOp& op) const;
  io_uring_sqe* PrepareSqe(uint64_t ticket, uint32_t index, const IoOp& op, int fd, size_t len);
  void SubmitPending();
  void ReapAtLeastOne();
  void OnCompletion(uint64_t user_data, int res);
  // Puts a poll of wake_fd_ in the ring unless one is there (or no SQE is free).
  void ArmWake();
  // Wait and WaitOrWake: reaps until `ticket`'s group is done (true, *status
  // set) or, if `wakeable`, a wake-up came first (false).
  bool Reap(uint64_t ticket, bool wakeable, Status* status);
  void ApplyResult(Chain& chain, IoOp& op, OpState& state, int res);
  void Finish(Chain& chain, IoOp& op, OpState& state, Status status);
  void EndOfRound(uint64_t ticket, Group& group, uint32_t chain_index);

  UringRingOptions options_;
  io_uring ring_{};
  bool ring_ready_ = false;
  unsigned in_flight_ = 0;  // SQEs queued or in the kernel, CQE not reaped
  uint64_t next_ticket_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Group>> groups_;
  std::deque<ChainRef> ready_;  // chains waiting to be issued, FIFO across groups
  UringMetrics metrics_;
  int wake_fd_ = -1;         // eventfd written by Wake; -1 until EnableWake
  bool wake_armed_ = false;  // a poll of wake_fd_ is in the ring (counted in in_flight_)
  bool woken_ = false;       // its poll completed since the last WaitOrWake returned
  bool wake_broken_ = false;  // a poll failed: WaitOrWake no longer polls (waits as Wait)
};

}  // namespace warbler::io
