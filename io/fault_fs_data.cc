// FaultFileSystem: files, the data path and the undo log (see fault_fs.h).
#include <algorithm>
#include <shared_mutex>

#include "base/assert.h"
#include "io/fault_fs_internal.h"

namespace warbler::io {
namespace {

// Reads [offset, offset+len) clipped to the current size, through `file`.
Result<std::vector<std::byte>> ReadRange(File* file, uint64_t offset, uint64_t len,
                                         uint64_t size) {
  std::vector<std::byte> bytes;
  if (offset >= size) return bytes;
  bytes.resize(std::min(len, size - offset));
  WB_ASSIGN_OR_RETURN(size_t n, file->ReadAt(offset, bytes));
  bytes.resize(n);
  return bytes;
}

// Puts `bytes` back at `offset` (a no-op for an empty range).
Status WriteBack(File* file, uint64_t offset, std::span<const std::byte> bytes) {
  if (bytes.empty()) return Status::Ok();
  return file->WriteAt(offset, bytes);
}

// Undoes one record completely. Later records must be undone already.
Status UndoFull(File* file, const UndoRecord& rec) {
  if (rec.is_write) {
    WB_RETURN_IF_ERROR(WriteBack(file, rec.offset, rec.before));
    WB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    if (size > rec.size_before) WB_RETURN_IF_ERROR(file->Truncate(rec.size_before));
    return Status::Ok();
  }
  WB_RETURN_IF_ERROR(file->Truncate(rec.size_before));
  return WriteBack(file, rec.offset, rec.before);  // bytes a shrinking truncate cut
}

// Keeps the first `kept` bytes of a write and undoes the rest: the write
// was torn by the power loss. Later records must be undone already.
Status TearWrite(File* file, const UndoRecord& rec, uint64_t kept) {
  if (kept < rec.before.size()) {
    std::span<const std::byte> tail(rec.before);
    WB_RETURN_IF_ERROR(WriteBack(file, rec.offset + kept, tail.subspan(kept)));
  }
  WB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  const uint64_t torn_size = std::max(rec.size_before, rec.offset + kept);
  if (torn_size < size) WB_RETURN_IF_ERROR(file->Truncate(torn_size));
  return Status::Ok();
}

// Saves what a write of [offset, offset+len) will overwrite. REQUIRES: node.mu held.
Status RecordWrite(FaultFileSystem::Node& node, uint64_t offset, uint64_t len) {
  WB_ASSIGN_OR_RETURN(uint64_t size, node.aux->Size());
  UndoRecord rec;
  rec.seq = node.next_seq++;
  rec.offset = offset;
  rec.len = len;
  rec.size_before = size;
  WB_ASSIGN_OR_RETURN(rec.before, ReadRange(node.aux.get(), offset, len, size));
  node.undo.push_back(std::move(rec));
  return Status::Ok();
}

}  // namespace

Status TruncateTracked(FaultFileSystem::Node& node, File* target, uint64_t size) {
  WB_ASSIGN_OR_RETURN(uint64_t old_size, node.aux->Size());
  UndoRecord rec;
  rec.seq = node.next_seq++;
  rec.is_write = false;
  rec.offset = size;
  rec.size_before = old_size;
  if (size < old_size) {
    WB_ASSIGN_OR_RETURN(rec.before, ReadRange(node.aux.get(), size, old_size - size, old_size));
  }
  // Recorded before the change: if it fails halfway, undoing is still right.
  node.undo.push_back(std::move(rec));
  return target->Truncate(size);
}

// ---- FaultFile ----

Status FaultFileSystem::FaultFile::CheckUsable() const {
  if (generation_ != fs_->generation_) {
    return Status::FailedPrecondition("file " + path_ + " was opened before a simulated crash");
  }
  if (closed_.load(std::memory_order_acquire)) {
    return Status::FailedPrecondition("file closed: " + path_);
  }
  return Status::Ok();
}

Status FaultFileSystem::FaultFile::CheckMutable() const {
  if (read_only_) return Status::PermissionDenied("file opened read-only: " + path_);
  return Status::Ok();
}

Result<uint64_t> FaultFileSystem::FaultFile::Size() {
  std::shared_lock crash_lock = fs_->OpLock();
  WB_RETURN_IF_ERROR(CheckUsable());
  return inner_->Size();
}

Status FaultFileSystem::FaultFile::Allocate(uint64_t offset, uint64_t len, bool keep_size) {
  std::shared_lock crash_lock = fs_->OpLock();
  WB_RETURN_IF_ERROR(CheckUsable());
  WB_RETURN_IF_ERROR(CheckMutable());
  WB_RETURN_IF_ERROR(fs_->MaybeInject(FaultOp::kAllocate, path_));
  if (fs_->TakeBudget(len, /*consume=*/false) < len) {
    return Status::NoSpace("fallocate " + path_ + ": space budget exhausted (injected)");
  }
  std::lock_guard node_lock(node_->mu);
  WB_ASSIGN_OR_RETURN(uint64_t size, node_->aux->Size());
  if (!keep_size && offset + len > size) {
    UndoRecord rec;
    rec.seq = node_->next_seq++;
    rec.is_write = false;
    rec.offset = offset + len;
    rec.size_before = size;
    node_->undo.push_back(std::move(rec));
  }
  return inner_->Allocate(offset, len, keep_size);
}

Status FaultFileSystem::FaultFile::Truncate(uint64_t size) {
  std::shared_lock crash_lock = fs_->OpLock();
  WB_RETURN_IF_ERROR(CheckUsable());
  WB_RETURN_IF_ERROR(CheckMutable());
  WB_RETURN_IF_ERROR(fs_->MaybeInject(FaultOp::kTruncate, path_));
  std::lock_guard node_lock(node_->mu);
  return TruncateTracked(*node_, inner_.get(), size);
}

Status FaultFileSystem::FaultFile::Close() {
  closed_.store(true, std::memory_order_release);
  return inner_->Close();
}

// ---- data path ----

void FaultFileSystem::RunOp(IoOp& op) {
  auto& file = static_cast<FaultFile&>(*op.file);
  op.transferred = 0;
  op.status = file.CheckUsable();
  if (op.status.ok() && op.kind == OpKind::kWrite) op.status = file.CheckMutable();
  if (op.status.ok() && file.direct()) op.status = CheckDirectAlignment(op);
  if (!op.status.ok()) return;
  switch (op.kind) {
    case OpKind::kRead: {
      op.status = MaybeInject(FaultOp::kRead, file.path());
      if (!op.status.ok()) return;
      IoOp inner_op = op;
      inner_op.file = file.inner();
      op.status = inner_->Submit({&inner_op, 1});
      op.transferred = inner_op.transferred;
      return;
    }
    case OpKind::kWrite:
      return RunWrite(file, op);
    case OpKind::kSync:
      return RunSync(file, op);
  }
}

void FaultFileSystem::RunWrite(FaultFile& file, IoOp& op) {
  size_t allowed = op.len;
  Status injected = MaybeInject(FaultOp::kWrite, file.path(), "", &allowed);
  if (injected.ok()) {
    allowed = TakeBudget(op.len, /*consume=*/true);
    if (allowed < op.len) {
      injected = Status::NoSpace("pwrite " + file.path() + ": space budget exhausted (injected)");
    }
  } else {
    allowed = std::min(allowed, op.len);
  }
  Node& node = file.node();
  std::lock_guard node_lock(node.mu);
  // Recorded even if the write fails: a failed write may leave bytes behind.
  op.status = RecordWrite(node, op.offset, op.len);
  if (!op.status.ok()) return;
  if (injected.ok()) {
    IoOp inner_op = op;
    inner_op.file = file.inner();
    op.status = inner_->Submit({&inner_op, 1});
    op.transferred = inner_op.transferred;
    return;
  }
  // A torn write: the prefix goes through the buffered handle, so it need not
  // be O_DIRECT-aligned.
  if (allowed > 0 && node.aux->WriteAt(op.offset, {op.buf, allowed}).ok()) {
    op.transferred = allowed;
  }
  op.status = std::move(injected);
}

void FaultFileSystem::RunSync(FaultFile& file, IoOp& op) {
  op.status = MaybeInject(FaultOp::kSync, file.path());
  if (!op.status.ok()) return;
  Node& node = file.node();
  uint64_t covered_below;  // records with a smaller seq completed before this sync
  {
    std::lock_guard node_lock(node.mu);
    covered_below = node.next_seq;
  }
  IoOp inner_op = op;
  inner_op.file = file.inner();
  op.status = inner_->Submit({&inner_op, 1});
  if (!op.status.ok()) return;  // a failed sync makes nothing durable
  std::lock_guard node_lock(node.mu);
  auto first_uncovered = std::find_if(node.undo.begin(), node.undo.end(),
                                      [&](const UndoRecord& r) { return r.seq >= covered_below; });
  node.undo.erase(node.undo.begin(), first_uncovered);
}

Status FaultFileSystem::EnsureAux(Node& node) {
  std::lock_guard node_lock(node.mu);
  if (node.aux != nullptr) return Status::Ok();
  WB_ASSIGN_OR_RETURN(node.aux, inner_->Open(node.inner_path, {}));
  return Status::Ok();
}

Status FaultFileSystem::UndoUnsynced(Node& node, CrashMode mode, Rng& rng) {
  std::lock_guard node_lock(node.mu);
  const size_t n = node.undo.size();
  const size_t keep = mode == CrashMode::kDropUnsynced ? 0 : rng.Uniform(n + 1);
  if (n == 0) return Status::Ok();
  WB_ASSERT(node.aux != nullptr);  // records exist only after a writable open
  File* file = node.aux.get();
  for (size_t i = n; i-- > keep;) WB_RETURN_IF_ERROR(UndoFull(file, node.undo[i]));
  if (keep > 0 && node.undo[keep - 1].is_write) {
    const UndoRecord& last = node.undo[keep - 1];
    WB_RETURN_IF_ERROR(TearWrite(file, last, rng.Uniform(last.len + 1)));
  }
  node.undo.clear();
  return Status::Ok();
}

}  // namespace warbler::io
