#include "io/uring_ring.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "base/assert.h"
#include "base/errno_status.h"
#include "base/limits.h"
#include "io/uring_plan.h"

namespace warbler::io {
namespace {

// user_data = ticket << kIndexBits | op index. A stale or foreign CQE then
// fails a map lookup (and asserts) instead of dereferencing a dead pointer.
constexpr int kIndexBits = 16;
static_assert(limits::kIoMaxOpsPerSubmit <= (1u << kIndexBits), "op index must fit user_data");

// Largest length one read/write SQE carries (its length field is 32 bits and
// Linux moves at most ~2 GiB per call). Larger ops go out in several SQEs.
// A multiple of kDirectIoAlignment so O_DIRECT pieces stay aligned.
constexpr size_t kMaxSqeBytes = size_t{1} << 30;
static_assert(kMaxSqeBytes % limits::kDirectIoAlignment == 0);

// Reaped per io_uring_peek_batch_cqe call.
constexpr unsigned kCqeBatch = 64;

uint64_t UserData(uint64_t ticket, uint32_t index) { return ticket << kIndexBits | index; }
// The wake poll's user_data: no group's (tickets stay far below 2^48).
constexpr uint64_t kWakeUserData = ~uint64_t{0};

std::string OpContext(const IoOp& op) {
  switch (op.kind) {
    case OpKind::kRead: return "io_uring read " + op.file->path();
    case OpKind::kWrite: return "io_uring write " + op.file->path();
    case OpKind::kSync: return "io_uring fdatasync " + op.file->path();
  }
  return "io_uring " + op.file->path();
}

}  // namespace

Result<std::unique_ptr<UringRing>> UringRing::Create(const UringRingOptions& options) {
  WB_ASSERT(options.entries > 0 && options.prepare_op != nullptr);
  auto ring = std::make_unique<UringRing>(PassKey(), options);
  const int rc = io_uring_queue_init(options.entries, &ring->ring_, 0);
  if (rc < 0) return ErrnoStatus(-rc, "io_uring_queue_init");
  ring->ring_ready_ = true;
  io_uring_probe* probe = io_uring_get_probe_ring(&ring->ring_);
  const bool has_ops = probe != nullptr && io_uring_opcode_supported(probe, IORING_OP_READ) &&
                       io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
                       io_uring_opcode_supported(probe, IORING_OP_FSYNC);
  if (probe != nullptr) io_uring_free_probe(probe);
  if (!has_ops) {
    return Status::NotSupported("io_uring lacks IORING_OP_READ/WRITE/FSYNC (needs Linux 5.6+)");
  }
  return ring;
}

UringRing::~UringRing() {
  // Buffers named by in-flight SQEs belong to the caller: never tear the ring
  // down under them.
  WaitAll();
  if (wake_armed_) {
    Wake();
    while (wake_armed_) ReapAtLeastOne();
  }
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (ring_ready_) io_uring_queue_exit(&ring_);
}

Status UringRing::EnableWake() {
  if (wake_fd_ >= 0) return Status::Ok();
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) return ErrnoStatus(errno, "eventfd for the io_uring queue's wake-up");
  return Status::Ok();
}

void UringRing::Wake() {
  WB_ASSERT(wake_fd_ >= 0);
  const uint64_t one = 1;
  // EAGAIN only when the counter is saturated: a wake-up is pending anyway.
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void UringRing::ArmWake() {
  if (wake_armed_ || wake_broken_ || in_flight_ >= options_.entries) return;
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) return;  // the SQ is full of unsubmitted SQEs: wait without it this time
  io_uring_prep_poll_add(sqe, wake_fd_, POLLIN);
  io_uring_sqe_set_data64(sqe, kWakeUserData);
  wake_armed_ = true;
  ++in_flight_;
}

bool UringRing::WaitOrWake(uint64_t ticket, Status* status) {
  WB_ASSERT(wake_fd_ >= 0);
  return Reap(ticket, /*wakeable=*/true, status);
}

bool UringRing::Reap(uint64_t ticket, bool wakeable, Status* status) {
  auto it = groups_.find(ticket);
  if (it == groups_.end()) {
    *status = Status::InvalidArgument("unknown io ticket " + std::to_string(ticket) +
                                      " (never started, or already waited for)");
    return true;
  }
  Group& group = *it->second;
  for (;;) {
    Pump();  // may finish chains whose remaining ops need no SQE
    if (group.chains_left == 0) break;
    if (wakeable) {
      if (woken_) {
        woken_ = false;
        return false;
      }
      ArmWake();
    }
    ReapAtLeastOne();
  }
  if (wakeable) woken_ = false;
  *status = FirstError(group.ops);
  groups_.erase(it);
  return true;
}

void UringRing::WaitAll() {
  while (!groups_.empty()) (void)Wait(groups_.begin()->first);
}

Result<uint64_t> UringRing::Start(std::span<IoOp> ops, const FileSystem* fs) {
  WB_RETURN_IF_ERROR(ValidateBatch(ops, fs));
  if (groups_.size() >= limits::kUringMaxGroupsInFlight) {
    return Status::ResourceExhausted("io_uring queue has " + std::to_string(groups_.size()) +
                                     " groups in flight (limit kUringMaxGroupsInFlight); "
                                     "wait for one first");
  }
  auto group = std::make_unique<Group>();
  group->ops = ops;
  group->state.resize(ops.size());
  for (IoOp& op : ops) {
    op.transferred = 0;
    op.status = Status::Ok();
  }
  const uint64_t ticket = next_ticket_++;
  for (std::vector<uint32_t>& indices : PlanChains(ops)) {
    const auto chain_index = static_cast<uint32_t>(group->chains.size());
    for (uint32_t i : indices) group->state[i].chain = chain_index;
    group->chains.push_back(Chain{.ops = std::move(indices)});
    ready_.push_back({ticket, chain_index});
  }
  group->chains_left = group->chains.size();
  groups_.emplace(ticket, std::move(group));
  Pump();
  SubmitPending();
  return ticket;
}

Status UringRing::Wait(uint64_t ticket) {
  Status status;
  (void)Reap(ticket, /*wakeable=*/false, &status);
  return status;
}

UringMetrics UringRing::TakeMetrics() {
  UringMetrics taken = metrics_;
  metrics_ = UringMetrics();
  return taken;
}

void UringRing::Pump() {
  // With a free slot, IssueChain always issues an SQE or finishes the chain.
  while (!ready_.empty() && in_flight_ < options_.entries) {
    const ChainRef ref = ready_.front();
    ready_.pop_front();
    IssueChain(ref.ticket, *groups_.at(ref.ticket), ref.chain);
  }
}

void UringRing::IssueChain(uint64_t ticket, Group& group, uint32_t chain_index) {
  Chain& chain = group.chains[chain_index];
  WB_ASSERT(chain.in_flight == 0);
  io_uring_sqe* prev = nullptr;
  for (size_t pos = chain.cursor; pos < chain.ops.size() && in_flight_ < options_.entries;
       ++pos) {
    const uint32_t index = chain.ops[pos];
    IoOp& op = group.ops[index];
    if (group.state[index].done) continue;
    int fd = -1;
    Status status = CheckBeforeIssue(chain, op, &fd);
    if (fd < 0) {
      // Settled without an SQE; only at the head of a round, where every
      // earlier op of the chain has finished and write_failed is final.
      if (prev != nullptr) break;
      Finish(chain, op, group.state[index], std::move(status));
      continue;
    }
    if (prev != nullptr) prev->flags |= IOSQE_IO_LINK;
    const size_t len = SqeBytes(op);
    prev = PrepareSqe(ticket, index, op, fd, len);
    ++chain.in_flight;
    // The kernel sees a partial piece complete in full and would run the
    // next link at once; the remainder must go first, so the chain ends here.
    if (op.kind != OpKind::kSync && len < op.len - op.transferred) break;
  }
  if (chain.in_flight == 0) EndOfRound(ticket, group, chain_index);
}

Status UringRing::CheckBeforeIssue(const Chain& chain, const IoOp& op, int* fd) const {
  *fd = -1;
  if (op.kind == OpKind::kSync && chain.write_failed) {
    return AbortedSyncStatus(*op.file);
  }
  Result<int> prepared = options_.prepare_op(op);
  if (!prepared.ok()) return prepared.status();
  if (op.kind != OpKind::kSync && op.len == 0) return Status::Ok();
  *fd = *prepared;
  return Status::Ok();
}

size_t UringRing::SqeBytes(const IoOp& op) const {
  const size_t cap = options_.max_bytes_per_sqe == 0
                         ? kMaxSqeBytes
                         : std::min(options_.max_bytes_per_sqe, kMaxSqeBytes);
  return std::min(op.len - op.transferred, cap);
}

io_uring_sqe* UringRing::PrepareSqe(uint64_t ticket, uint32_t index, const IoOp& op, int fd,
                                    size_t len) {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  WB_ASSERT_MSG(sqe != nullptr, "SQ full although fewer SQEs than its depth are in flight");
  const uint64_t offset = op.offset + op.transferred;
  std::byte* buf = op.buf + op.transferred;
  switch (op.kind) {
    case OpKind::kRead:
      io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), offset);
      break;
    case OpKind::kWrite:
      io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(len), offset);
      break;
    case OpKind::kSync:
      io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
      break;
  }
  io_uring_sqe_set_data64(sqe, UserData(ticket, index));
  ++in_flight_;
  ++metrics_.sqes;
  return sqe;
}

// The kernel may refuse SQEs for a moment (EAGAIN: no memory for requests,
// EBUSY: CQ backlog, EINTR). Those stay queued in the SQ and go out with the
// next io_uring_enter; any other error is a bug.
void UringRing::SubmitPending() {
  if (io_uring_sq_ready(&ring_) == 0) return;
  const int rc = io_uring_submit(&ring_);
  if (rc > 0) ++metrics_.submissions;
  WB_ASSERT_MSG(rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY,
                "io_uring_submit failed: broken ring");
}

void UringRing::ReapAtLeastOne() {
  WB_ASSERT(in_flight_ > 0);
  for (int attempt = 0;; ++attempt) {
    const bool had_pending = io_uring_sq_ready(&ring_) > 0;
    const int rc = io_uring_submit_and_wait(&ring_, 1);
    if (rc >= 0) {
      if (had_pending && rc > 0) ++metrics_.submissions;
      break;
    }
    WB_ASSERT_MSG(rc == -EINTR || rc == -EAGAIN || rc == -EBUSY,
                  "io_uring_submit_and_wait failed: broken ring");
    if (io_uring_cq_ready(&ring_) > 0) break;
    // Queued SQEs name the caller's buffers and cannot be withdrawn, so a
    // group cannot be failed safely; a ring that never recovers is fatal.
    WB_ASSERT_MSG(attempt < limits::kIoMaxRetries, "io_uring_enter made no progress");
    if (rc != -EINTR) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  io_uring_cqe* cqes[kCqeBatch];
  while (unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, kCqeBatch)) {
    uint64_t user_data[kCqeBatch];
    int res[kCqeBatch];
    for (unsigned i = 0; i < n; ++i) {
      user_data[i] = io_uring_cqe_get_data64(cqes[i]);
      res[i] = cqes[i]->res;
    }
    io_uring_cq_advance(&ring_, n);
    for (unsigned i = 0; i < n; ++i) OnCompletion(user_data[i], res[i]);
  }
}

void UringRing::OnCompletion(uint64_t user_data, int res) {
  if (user_data == kWakeUserData) {
    WB_ASSERT(wake_armed_ && in_flight_ > 0);
    wake_armed_ = false;
    --in_flight_;
    uint64_t count;
    (void)!::read(wake_fd_, &count, sizeof(count));  // reset the counter (EAGAIN if a read raced: fine)
    // An error (the poll could not be set up) counts as a wake-up — the
    // caller looks for work and waits again, never sleeping through one —
    // and turns the poll off, so the waits that follow are plain ones.
    if (res < 0) wake_broken_ = true;
    woken_ = true;
    return;
  }
  const uint64_t ticket = user_data >> kIndexBits;
  const auto index = static_cast<uint32_t>(user_data & ((uint64_t{1} << kIndexBits) - 1));
  auto it = groups_.find(ticket);
  WB_ASSERT_MSG(it != groups_.end(), "CQE for a group that is not in flight");
  Group& group = *it->second;
  WB_ASSERT(index < group.ops.size());
  OpState& state = group.state[index];
  Chain& chain = group.chains[state.chain];
  WB_ASSERT(chain.in_flight > 0 && in_flight_ > 0 && !state.done);
  --chain.in_flight;
  --in_flight_;
  ApplyResult(chain, group.ops[index], state, res);
  if (chain.in_flight == 0) EndOfRound(ticket, group, state.chain);
}

void UringRing::ApplyResult(Chain& chain, IoOp& op, OpState& state, int res) {
  // Not done yet: the op is issued again at the chain's next round.
  if (res == -ECANCELED || res == -EINTR || res == -EAGAIN) {
    ++(res == -ECANCELED ? metrics_.canceled : metrics_.retries);
    if (++state.retries < limits::kIoMaxRetries) return;
  }
  if (res < 0) return Finish(chain, op, state, ErrnoStatus(-res, OpContext(op)));
  if (op.kind == OpKind::kSync) return Finish(chain, op, state, Status::Ok());
  if (res == 0) {
    if (op.kind == OpKind::kRead) return Finish(chain, op, state, Status::Ok());  // EOF
    if (++state.retries < limits::kIoMaxRetries) return;
    return Finish(chain, op, state, Status::IOError(OpContext(op) + ": no progress"));
  }
  WB_ASSERT(static_cast<size_t>(res) <= op.len - op.transferred);
  op.transferred += static_cast<size_t>(res);
  if (op.transferred == op.len) return Finish(chain, op, state, Status::Ok());
  ++metrics_.short_transfers;  // the remainder goes out at the next round
}

void UringRing::Finish(Chain& chain, IoOp& op, OpState& state, Status status) {
  if (op.kind == OpKind::kWrite && !status.ok()) chain.write_failed = true;
  op.status = std::move(status);
  state.done = true;
}

void UringRing::EndOfRound(uint64_t ticket, Group& group, uint32_t chain_index) {
  Chain& chain = group.chains[chain_index];
  while (chain.cursor < chain.ops.size() && group.state[chain.ops[chain.cursor]].done) {
    ++chain.cursor;
  }
  if (chain.cursor == chain.ops.size()) {
    --group.chains_left;
    return;
  }
  ready_.push_back({ticket, chain_index});
}

}  // namespace warbler::io
