#include "io/uring_fs.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "base/assert.h"
#include "base/limits.h"
#include "base/log.h"
#include "io/uring_ring.h"

namespace warbler::io {
namespace {

constexpr char kDisabledSysctl[] = "/proc/sys/kernel/io_uring_disabled";
constexpr char kForceFailureEnv[] = "WARBLER_IO_FORCE_URING_FAILURE";

// kernel.io_uring_disabled: 0 allowed, 1 only for kernel.io_uring_group or
// CAP_SYS_ADMIN, 2 nobody. -1 when absent (kernels before 6.6 lack the knob).
int ReadIoUringDisabled() {
  std::ifstream in(kDisabledSysctl);
  int value = -1;
  if (in >> value) return value;
  return -1;
}

bool ForcedFailure() {
  const char* env = std::getenv(kForceFailureEnv);
  return env != nullptr && std::strcmp(env, "1") == 0;
}

}  // namespace

// An IoQueue with a ring of its own: groups overlap in the kernel.
class UringFileSystem::Queue final : public IoQueue {
 public:
  Queue(UringFileSystem* fs, std::unique_ptr<UringRing> ring) : fs_(fs), ring_(std::move(ring)) {}
  ~Queue() override {
    ring_->WaitAll();  // as ~UringRing would, but counted
    Publish();
    fs_->RetireQueue(this);
  }

  Result<uint64_t> Start(std::span<IoOp> ops) override {
    Result<uint64_t> ticket = ring_->Start(ops, fs_);
    Publish();
    return ticket;
  }
  Status Wait(uint64_t ticket) override {
    Status status = ring_->Wait(ticket);
    Publish();
    return status;
  }
  bool WaitOrWake(uint64_t ticket, Status* status) override {
    const bool done = ring_->WaitOrWake(ticket, status);
    Publish();
    return done;
  }
  void Wake() override { ring_->Wake(); }
  // Through the ring, a buffered write and its fdatasync are punted to an
  // io-wq worker (ext4 cannot do either without blocking) and the caller is
  // woken when they complete; as syscalls on this thread they cost two
  // context switches fewer (docs/benchmarks.md, "Partition log", 18:40).
  Status Run(std::span<IoOp> ops) override { return fs_->PosixFileSystem::Submit(ops); }
  bool Overlaps() const override { return true; }

  // The ring's counters as of the last Start or Wait; any thread.
  UringMetrics published() const {
    UringMetrics m;
    m.submissions = published_.submissions.load(std::memory_order_relaxed);
    m.sqes = published_.sqes.load(std::memory_order_relaxed);
    m.short_transfers = published_.short_transfers.load(std::memory_order_relaxed);
    m.canceled = published_.canceled.load(std::memory_order_relaxed);
    m.retries = published_.retries.load(std::memory_order_relaxed);
    return m;
  }

 private:
  // The ring is not thread-safe, so only the owner thread reads its counters;
  // it moves them here, where metrics() on another thread can read them.
  void Publish() {
    const UringMetrics m = ring_->TakeMetrics();
    published_.submissions.fetch_add(m.submissions, std::memory_order_relaxed);
    published_.sqes.fetch_add(m.sqes, std::memory_order_relaxed);
    published_.short_transfers.fetch_add(m.short_transfers, std::memory_order_relaxed);
    published_.canceled.fetch_add(m.canceled, std::memory_order_relaxed);
    published_.retries.fetch_add(m.retries, std::memory_order_relaxed);
  }

  struct Published {
    std::atomic<uint64_t> submissions{0};
    std::atomic<uint64_t> sqes{0};
    std::atomic<uint64_t> short_transfers{0};
    std::atomic<uint64_t> canceled{0};
    std::atomic<uint64_t> retries{0};
  };

  UringFileSystem* fs_;
  std::unique_ptr<UringRing> ring_;
  Published published_;
};

// Returns the borrowed ring to the pool on every way out of Submit.
class UringFileSystem::RingLease {
 public:
  explicit RingLease(UringFileSystem* fs) : fs_(fs), ring_(fs->AcquireRing()) {}
  ~RingLease() { fs_->ReleaseRing(std::move(ring_)); }
  RingLease(const RingLease&) = delete;
  RingLease& operator=(const RingLease&) = delete;
  UringRing* operator->() const { return ring_.get(); }

 private:
  UringFileSystem* fs_;
  std::unique_ptr<UringRing> ring_;
};

Result<std::unique_ptr<UringFileSystem>> UringFileSystem::Create(const UringOptions& options) {
  if (ForcedFailure()) {
    return Status::Unavailable(std::string("io_uring setup forced to fail by ") +
                               kForceFailureEnv + "=1 (test hook)");
  }
  const int disabled = ReadIoUringDisabled();
  if (disabled == 2) {
    return Status::Unavailable("io_uring is disabled on this host (kernel.io_uring_disabled=2)");
  }
  auto fs = std::make_unique<UringFileSystem>(PassKey(), options);
  Result<std::unique_ptr<UringRing>> ring = fs->NewRing();
  if (!ring.ok()) {
    std::string why = "io_uring cannot be set up: " + ring.status().ToString();
    if (disabled == 1) {
      why += " (kernel.io_uring_disabled=1 allows only members of kernel.io_uring_group "
             "and CAP_SYS_ADMIN)";
    }
    return Status::Unavailable(std::move(why));
  }
  {
    std::lock_guard lock(fs->mu_);
    fs->rings_ = 1;
  }
  fs->ReleaseRing(std::move(*ring));
  return fs;
}

UringFileSystem::UringFileSystem(PassKey, const UringOptions& options) : options_(options) {}

UringFileSystem::~UringFileSystem() {
  std::lock_guard lock(mu_);
  WB_ASSERT_MSG(idle_rings_.size() == rings_, "UringFileSystem destroyed during a Submit");
  WB_ASSERT_MSG(queues_.empty(), "UringFileSystem destroyed before a queue from NewQueue");
}

Status UringFileSystem::Submit(std::span<IoOp> ops) {
  // A lone read has nothing to batch and its caller waits for it: pread
  // does the same work without leasing a ring (the pool's lock, twice),
  // io_uring_enter and reaping the completion. The store's reads of index
  // entries are all lone reads; IM-1-large's warm history ran 13% faster.
  if (ops.size() == 1 && ops[0].kind == OpKind::kRead) return PosixFileSystem::Submit(ops);
  RingLease ring(this);
  WB_ASSIGN_OR_RETURN(const uint64_t ticket, ring->Start(ops, this));
  return ring->Wait(ticket);
}

Result<std::unique_ptr<IoQueue>> UringFileSystem::NewQueue() {
  Result<std::unique_ptr<UringRing>> ring = NewRing();
  if (!ring.ok()) return ring.status().WithContext("io_uring queue");
  WB_RETURN_IF_ERROR((*ring)->EnableWake());
  auto queue = std::make_unique<Queue>(this, std::move(*ring));
  {
    std::lock_guard lock(mu_);
    queues_.push_back(queue.get());
  }
  return std::unique_ptr<IoQueue>(std::move(queue));
}

UringMetrics UringFileSystem::metrics() const {
  std::lock_guard lock(mu_);
  UringMetrics sum = metrics_;
  for (const Queue* queue : queues_) sum += queue->published();
  return sum;
}

void UringFileSystem::RetireQueue(const Queue* queue) {
  std::lock_guard lock(mu_);
  auto it = std::find(queues_.begin(), queues_.end(), queue);
  WB_ASSERT(it != queues_.end());
  metrics_ += queue->published();
  queues_.erase(it);
}

Result<std::unique_ptr<UringRing>> UringFileSystem::NewRing() const {
  UringRingOptions ring_options;
  ring_options.entries = limits::kUringQueueDepth;
  ring_options.prepare_op = &PrepareOp;
  ring_options.max_bytes_per_sqe = options_.test_max_bytes_per_sqe;
  return UringRing::Create(ring_options);
}

std::unique_ptr<UringRing> UringFileSystem::AcquireRing() {
  std::unique_lock lock(mu_);
  if (idle_rings_.empty() && rings_ < limits::kUringMaxRings) {
    ++rings_;
    lock.unlock();
    Result<std::unique_ptr<UringRing>> ring = NewRing();
    if (ring.ok()) return std::move(*ring);
    // The pool cannot grow now (e.g. memory); the first ring always exists,
    // so waiting for a lent one to come back always ends.
    WB_LOG(kWarn, "uring_ring_create_failed").Kv("error", ring.status().ToString());
    lock.lock();
    --rings_;
  }
  ring_freed_.wait(lock, [this] { return !idle_rings_.empty(); });
  std::unique_ptr<UringRing> ring = std::move(idle_rings_.back());
  idle_rings_.pop_back();
  return ring;
}

void UringFileSystem::ReleaseRing(std::unique_ptr<UringRing> ring) {
  WB_ASSERT(ring != nullptr);
  {
    std::lock_guard lock(mu_);
    metrics_ += ring->TakeMetrics();
    idle_rings_.push_back(std::move(ring));
    WB_ASSERT(idle_rings_.size() <= rings_);
  }
  ring_freed_.notify_one();
}

Result<std::unique_ptr<FileSystem>> NewUringFileSystem() { return NewUringFileSystem({}); }

Result<std::unique_ptr<FileSystem>> NewUringFileSystem(const UringOptions& options) {
  WB_ASSIGN_OR_RETURN(std::unique_ptr<UringFileSystem> fs, UringFileSystem::Create(options));
  return std::unique_ptr<FileSystem>(std::move(fs));
}

}  // namespace warbler::io
