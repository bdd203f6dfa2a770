#include "io/file_system.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "base/limits.h"

namespace warbler::io {

Status File::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  IoOp op = IoOp::Write(this, offset, data);
  return fs()->Submit({&op, 1});
}

Result<size_t> File::ReadAt(uint64_t offset, std::span<std::byte> data) {
  IoOp op = IoOp::Read(this, offset, data);
  WB_RETURN_IF_ERROR(fs()->Submit({&op, 1}));
  return op.transferred;
}

Status File::Sync() {
  IoOp op = IoOp::Sync(this);
  return fs()->Submit({&op, 1});
}

namespace {

// Runs each group inside Start; Wait hands back the stored status.
class InlineIoQueue final : public IoQueue {
 public:
  explicit InlineIoQueue(FileSystem* fs) : fs_(fs) {}
  Result<uint64_t> Start(std::span<IoOp> ops) override {
    uint64_t ticket = next_ticket_++;
    results_.emplace_back(ticket, fs_->Submit(ops));
    return ticket;
  }
  Status Wait(uint64_t ticket) override {
    for (auto it = results_.begin(); it != results_.end(); ++it) {
      if (it->first == ticket) {
        Status s = std::move(it->second);
        results_.erase(it);
        return s;
      }
    }
    return Status::InvalidArgument("unknown io ticket " + std::to_string(ticket));
  }
  // Start would run the group here anyway: skip the ticket's bookkeeping.
  Status Run(std::span<IoOp> ops) override { return fs_->Submit(ops); }

 private:
  FileSystem* fs_;
  uint64_t next_ticket_ = 1;
  std::vector<std::pair<uint64_t, Status>> results_;
};

class WorkerIoQueue final : public IoQueue {
 public:
  explicit WorkerIoQueue(FileSystem* fs) : fs_(fs), thread_([this] { Loop(); }) {}
  ~WorkerIoQueue() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();  // runs what is pending first
  }
  WorkerIoQueue(const WorkerIoQueue&) = delete;
  WorkerIoQueue& operator=(const WorkerIoQueue&) = delete;

  Result<uint64_t> Start(std::span<IoOp> ops) override {
    if (ops.size() > limits::kIoMaxOpsPerSubmit) {
      return Status::InvalidArgument("io group of " + std::to_string(ops.size()) + " ops exceeds " +
                                     std::to_string(limits::kIoMaxOpsPerSubmit));
    }
    uint64_t ticket;
    {
      std::lock_guard lock(mu_);
      ticket = next_ticket_++;
      pending_.emplace_back(ticket, ops);
    }
    cv_.notify_all();
    return ticket;
  }
  Status Wait(uint64_t ticket) override {
    std::unique_lock lock(mu_);
    if (ticket == 0 || ticket >= next_ticket_) {
      return Status::InvalidArgument("unknown io ticket " + std::to_string(ticket));
    }
    cv_.wait(lock, [&] { return done_.contains(ticket) || !InFlight(ticket); });
    auto it = done_.find(ticket);
    if (it == done_.end()) return Status::InvalidArgument("io ticket " + std::to_string(ticket) + " waited for twice");
    Status s = std::move(it->second);
    done_.erase(it);
    return s;
  }
  bool WaitOrWake(uint64_t ticket, Status* status) override {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return woken_ || done_.contains(ticket) || !InFlight(ticket); });
      if (woken_ && InFlight(ticket)) {
        woken_ = false;
        return false;
      }
      woken_ = false;
    }
    *status = Wait(ticket);
    return true;
  }
  void Wake() override {
    {
      std::lock_guard lock(mu_);
      woken_ = true;
    }
    cv_.notify_all();
  }
  Status Run(std::span<IoOp> ops) override { return fs_->Submit(ops); }
  bool Overlaps() const override { return true; }

 private:
  // Started and not yet run to completion (groups run in ticket order). REQUIRES: mu_ held.
  bool InFlight(uint64_t ticket) const {
    return ticket == running_ || (!pending_.empty() && ticket >= pending_.front().first);
  }

  void Loop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stop_, and nothing left to run
      auto [ticket, ops] = pending_.front();
      pending_.pop_front();
      running_ = ticket;
      lock.unlock();
      Status s = fs_->Submit(ops);
      lock.lock();
      running_ = 0;
      done_.emplace(ticket, std::move(s));
      cv_.notify_all();
    }
  }

  FileSystem* const fs_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<uint64_t, std::span<IoOp>>> pending_;  // started, not yet run
  std::map<uint64_t, Status> done_;                            // run, not yet waited for
  uint64_t running_ = 0;                                       // 0: none
  bool woken_ = false;                                         // Wake called since the last WaitOrWake
  uint64_t next_ticket_ = 1;
  bool stop_ = false;
  std::thread thread_;  // last: starts after the fields it reads
};

}  // namespace

std::unique_ptr<IoQueue> NewWorkerIoQueue(FileSystem* fs) { return std::make_unique<WorkerIoQueue>(fs); }

bool IoQueue::WaitOrWake(uint64_t ticket, Status* status) {
  *status = Wait(ticket);
  return true;
}

Status IoQueue::Run(std::span<IoOp> ops) {
  WB_ASSIGN_OR_RETURN(const uint64_t ticket, Start(ops));
  return Wait(ticket);
}

Result<std::unique_ptr<IoQueue>> FileSystem::NewQueue() {
  return std::unique_ptr<IoQueue>(std::make_unique<InlineIoQueue>(this));
}

Result<Backend> ParseBackend(std::string_view name) {
  if (name == "auto" || name.empty()) return Backend::kAuto;
  if (name == "uring" || name == "io_uring") return Backend::kUring;
  if (name == "posix") return Backend::kPosix;
  return Status::InvalidArgument("unknown io backend '" + std::string(name) +
                                 "' (expected auto, uring or posix)");
}

Status CheckDirectAlignment(const IoOp& op) {
  if (op.kind == OpKind::kSync) return Status::Ok();
  constexpr uint64_t kAlign = limits::kDirectIoAlignment;
  if (op.offset % kAlign != 0) {
    return Status::InvalidArgument("O_DIRECT offset " + std::to_string(op.offset) +
                                   " not aligned to " + std::to_string(kAlign));
  }
  if (op.len % kAlign != 0) {
    return Status::InvalidArgument("O_DIRECT length " + std::to_string(op.len) +
                                   " not a multiple of " + std::to_string(kAlign));
  }
  if (reinterpret_cast<uintptr_t>(op.buf) % kAlign != 0) {
    return Status::InvalidArgument("O_DIRECT buffer not aligned to " + std::to_string(kAlign));
  }
  return Status::Ok();
}

Status ValidateBatch(std::span<const IoOp> ops, const FileSystem* fs) {
  if (ops.size() > limits::kIoMaxOpsPerSubmit) {
    return Status::InvalidArgument("batch of " + std::to_string(ops.size()) +
                                   " ops exceeds kIoMaxOpsPerSubmit " +
                                   std::to_string(limits::kIoMaxOpsPerSubmit));
  }
  for (const IoOp& op : ops) {
    if (op.file == nullptr) return Status::InvalidArgument("io op without a file");
    if (op.file->fs() != fs) {
      return Status::InvalidArgument("file " + op.file->path() + " belongs to another file system");
    }
    if (op.kind != OpKind::kSync && op.len > 0 && op.buf == nullptr) {
      return Status::InvalidArgument("io op with null buffer");
    }
  }
  return Status::Ok();
}

namespace {
constexpr size_t kZeroChunk = 1u << 20;
constexpr size_t kZeroWritesPerSubmit = 64;
const std::byte* ZeroBlock() {
  static const std::vector<std::byte> zeros(kZeroChunk, std::byte{0});
  return zeros.data();
}
}  // namespace

void AppendZeroWrites(File* file, uint64_t from, uint64_t to, std::vector<IoOp>* ops) {
  for (uint64_t pos = from; pos < to; pos += kZeroChunk) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, to - pos));
    ops->push_back(IoOp::Write(file, pos, {ZeroBlock(), n}));
  }
}

Status WriteFileAtomically(FileSystem* fs, const std::string& path, const std::string& tmp,
                           std::span<const std::byte> bytes, const std::string& sync_dir) {
  Status s = [&]() -> Status {
    OpenOptions create;
    create.create = true;
    create.truncate = true;
    WB_ASSIGN_OR_RETURN(auto f, fs->Open(tmp, create));
    IoOp ops[2] = {IoOp::Write(f.get(), 0, bytes), IoOp::Sync(f.get())};
    WB_RETURN_IF_ERROR(fs->Submit(ops));
    return f->Close();
  }();
  if (s.ok()) s = fs->Rename(tmp, path);
  if (!s.ok()) {
    (void)fs->Remove(tmp);
    return s.WithContext("writing " + path);
  }
  if (sync_dir.empty()) return Status::Ok();
  return fs->SyncDir(sync_dir).WithContext("syncing " + sync_dir);
}

Status WriteZeros(File* file, uint64_t from, uint64_t to) {
  std::vector<IoOp> ops;
  for (uint64_t pos = from; pos < to; pos += kZeroChunk * kZeroWritesPerSubmit) {
    ops.clear();
    AppendZeroWrites(file, pos, std::min(to, pos + kZeroChunk * kZeroWritesPerSubmit), &ops);
    WB_RETURN_IF_ERROR(file->fs()->Submit(ops));
  }
  return Status::Ok();
}

Status AbortedSyncStatus(const File& file) {
  return Status::Aborted("fdatasync " + file.path() +
                         " not run: an earlier write in the batch failed");
}

Status RunOpsInOrder(std::span<IoOp> ops, const std::function<void(IoOp&)>& run_one) {
  // Files with a failed write earlier in this batch; batches are small, so a
  // linear scan beats a hash set.
  std::vector<const File*> failed_writes;
  for (IoOp& op : ops) {
    if (op.kind == OpKind::kSync &&
        std::find(failed_writes.begin(), failed_writes.end(), op.file) != failed_writes.end()) {
      op.transferred = 0;
      op.status = AbortedSyncStatus(*op.file);
      continue;
    }
    run_one(op);
    if (op.kind == OpKind::kWrite && !op.status.ok()) failed_writes.push_back(op.file);
  }
  return FirstError(ops);
}

Status FirstError(std::span<const IoOp> ops) {
  for (const IoOp& op : ops) {
    if (!op.status.ok()) return op.status;
  }
  return Status::Ok();
}

}  // namespace warbler::io
