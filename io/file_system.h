// FileSystem / File: the only way Warbler touches storage.
//
// One interface, several backends:
//   posix  - pread/pwrite/fdatasync (io/posix_fs.h); always available.
//   uring  - io_uring through liburing (io/uring_fs.h); batches many reads,
//            or many writes plus a linked fdatasync, into one submission.
//   mem    - in-memory, for fast tests (io/mem_fs.h).
//   fault  - wraps any backend; simulates crashes and injects errors (io/fault_fs.h).
// NewDefaultFileSystem() picks uring when it can be set up, else posix.
//
// Batched submission (FileSystem::Submit):
//   - Operations in one call run concurrently, with one ordering rule: a kSync
//     on file F starts only after every kWrite on F that precedes it in the
//     span has completed successfully. If one of those writes failed, the sync
//     is not run and its status is Aborted.
//   - Reads complete fully, except at end of file: `transferred` < `len` with
//     an OK status means EOF was reached. Writes complete fully or fail.
//   - Short transfers, EINTR and EAGAIN are retried inside the backend (bounded
//     by limits::kIoMaxRetries); callers never see them.
//   - Each op gets its own status. Submit returns OK when every op succeeded,
//     otherwise the status of the first failed op (in span order).
//   - REQUIRES: writes in one call do not overlap each other or any read.
//   - A kSync is fdatasync: data plus the metadata needed to read it back
//     (file size). Directory entries are made durable only by SyncDir.
//
// Durability contract: a write is durable only after a kSync on its file that
// was ordered after it has completed OK. Creating, renaming or removing a file
// is durable only after SyncDir on its parent directory.
//
// Thread-safety: FileSystem methods are safe to call concurrently. A File may
// be used by several threads at once through Submit; Close/Truncate/Allocate
// must not race with I/O on the same file. An IoQueue belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace warbler::io {

class FileSystem;

struct OpenOptions {
  bool create = false;     // create the file if it does not exist
  bool exclusive = false;  // with create: AlreadyExists if it exists
  bool truncate = false;   // truncate to 0 on open
  bool read_only = false;  // open O_RDONLY; writes fail with PermissionDenied
  // O_DIRECT: buffers, offsets and lengths must be multiples of
  // limits::kDirectIoAlignment, else InvalidArgument. Backends that cannot do
  // direct I/O (mem) accept the flag and check alignment all the same.
  bool direct = false;
  // The file is read by small reads at scattered offsets (sealed segments,
  // conversation indexes): the kernel's readahead is switched off for it
  // (posix_fadvise POSIX_FADV_RANDOM), so that a 512-byte read does not pull
  // a readahead window (16 KiB and up; this VM's disk allows 8 MiB) off the
  // disk. Large sequential reads (recovery's 4 MiB scan windows) are as
  // fast without it. A hint: backends without a page cache ignore it.
  bool random_access = false;
};

class File {
 public:
  virtual ~File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  virtual const std::string& path() const = 0;
  virtual FileSystem* fs() const = 0;
  virtual bool direct() const = 0;

  // Current size in bytes (as the kernel sees it, synced or not).
  virtual Result<uint64_t> Size() = 0;
  // Reserves space for [offset, offset+len). keep_size=true leaves the file
  // size unchanged (FALLOC_FL_KEEP_SIZE); false extends it with zeros.
  virtual Status Allocate(uint64_t offset, uint64_t len, bool keep_size) = 0;
  // Sets the size; bytes past it are dropped, new bytes read as zero. Not durable until Sync.
  virtual Status Truncate(uint64_t size) = 0;
  // Closes the descriptor. Further I/O fails with FailedPrecondition. Idempotent.
  virtual Status Close() = 0;

  // One-op conveniences over FileSystem::Submit.
  Status WriteAt(uint64_t offset, std::span<const std::byte> data);
  // Reads up to data.size() bytes; returns bytes read (fewer only at EOF).
  Result<size_t> ReadAt(uint64_t offset, std::span<std::byte> data);
  Status Sync();

 protected:
  File() = default;
};

enum class OpKind : uint8_t { kRead, kWrite, kSync };

struct IoOp {
  OpKind kind = OpKind::kRead;
  File* file = nullptr;
  uint64_t offset = 0;
  std::byte* buf = nullptr;  // read destination, or write source (never written)
  size_t len = 0;
  // Results, filled by the backend.
  size_t transferred = 0;
  Status status;

  static IoOp Read(File* f, uint64_t offset, std::span<std::byte> dst) {
    IoOp op;
    op.kind = OpKind::kRead;
    op.file = f;
    op.offset = offset;
    op.buf = dst.data();
    op.len = dst.size();
    return op;
  }
  static IoOp Write(File* f, uint64_t offset, std::span<const std::byte> src) {
    IoOp op;
    op.kind = OpKind::kWrite;
    op.file = f;
    op.offset = offset;
    op.buf = const_cast<std::byte*>(src.data());
    op.len = src.size();
    return op;
  }
  static IoOp Sync(File* f) {
    IoOp op;
    op.kind = OpKind::kSync;
    op.file = f;
    return op;
  }
};

// Keeps several groups of operations in flight from one thread (pipelining:
// write batch N+1 while the fdatasync of batch N runs). Groups may complete in
// any order; the ordering rule of Submit holds inside each group only.
class IoQueue {
 public:
  virtual ~IoQueue() = default;
  // Starts `ops`. REQUIRES: `ops` and the buffers they name stay valid until
  // Wait returns for the ticket. Returns a ticket for Wait.
  virtual Result<uint64_t> Start(std::span<IoOp> ops) = 0;
  // Blocks until the group completes; returns as Submit would. Each ticket is
  // waited for exactly once; destroying the queue waits for all groups.
  virtual Status Wait(uint64_t ticket) = 0;
  // Runs `ops` to completion on the calling thread, the cheapest way the
  // backend has, and returns as Submit would: for a group the caller has
  // nothing to overlap with. Groups in flight are unaffected. The default
  // is Start then Wait; the io_uring queue issues plain pwrite/fdatasync
  // calls, two thread hand-offs fewer than a round trip through the ring.
  virtual Status Run(std::span<IoOp> ops);
  // True when Start returns before its group completes, so groups overlap;
  // false for a queue that runs each group inside Start (the default, and
  // the POSIX backend's), where Run costs the same and completes at once.
  virtual bool Overlaps() const { return false; }
  // Waits like Wait, but returns false early, with the group still in flight
  // (wait for it again later), once Wake has been called since the last
  // WaitOrWake returned; true once the group completed, with *status as Wait
  // returns it. A caller can so sleep on its I/O and on other work (new
  // requests) at once. The default cannot be woken: it is Wait.
  virtual bool WaitOrWake(uint64_t ticket, Status* status);
  // Ends the WaitOrWake in progress, or the next one, early. Any thread; the
  // only IoQueue method that is thread-safe. The default does nothing.
  virtual void Wake() {}
};

// A queue whose groups overlap over any backend: Start hands the group to a
// worker thread of the queue's own, which runs groups one at a time through
// fs->Submit in the order started; Overlaps() is true. It lets the log's
// pipelined path (several groups in flight, completed in order) run over the
// in-memory and fault-injecting backends, whose own queues run each group
// inside Start. Run submits on the calling thread. Destroying it waits for
// every group started. Thread-safety: as IoQueue (one thread calls it).
std::unique_ptr<IoQueue> NewWorkerIoQueue(FileSystem* fs);

// Exclusive lock on a directory, held until destroyed. A second holder (in
// this or another process) gets Busy.
class DirLock {
 public:
  virtual ~DirLock() = default;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // "uring", "posix", "mem", "fault(<inner>)".
  virtual std::string_view name() const = 0;

  virtual Result<std::unique_ptr<File>> Open(const std::string& path,
                                             const OpenOptions& options) = 0;
  // Runs a batch of operations; see the contract at the top of this file.
  // REQUIRES: ops.size() <= limits::kIoMaxOpsPerSubmit, every op.file was
  // opened by this FileSystem.
  virtual Status Submit(std::span<IoOp> ops) = 0;
  // A queue for pipelined submission. The default runs each group to
  // completion inside Start (correct, without overlap).
  virtual Result<std::unique_ptr<IoQueue>> NewQueue();

  // Creates `dir` and missing parents; OK if it exists.
  virtual Status CreateDirs(const std::string& dir) = 0;
  // fsync on the directory, making entries created/renamed/removed in it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  virtual Status RemoveDir(const std::string& dir) = 0;  // must be empty
  // Names (not paths) of the entries of `dir`, sorted, without "." and "..".
  virtual Result<std::vector<std::string>> List(const std::string& dir) = 0;
  virtual Result<bool> Exists(const std::string& path) = 0;
  virtual Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) = 0;
};

enum class Backend : uint8_t { kAuto, kUring, kPosix };

// Parses "auto", "uring" or "posix".
Result<Backend> ParseBackend(std::string_view name);

// The real file system. kAuto means: the WARBLER_IO environment variable
// ("uring" or "posix") if set, else io_uring if it can be set up, else POSIX.
// An explicit kUring fails with Unavailable when io_uring cannot be set up.
// The choice (and why) is logged once per process.
Result<std::unique_ptr<FileSystem>> NewDefaultFileSystem(Backend backend = Backend::kAuto);

// Helpers shared by the backends.
// Checks O_DIRECT alignment of one op; InvalidArgument naming the field if not.
Status CheckDirectAlignment(const IoOp& op);
// Validates a batch before it runs (size, null files, foreign files).
Status ValidateBatch(std::span<const IoOp> ops, const FileSystem* fs);
// First failed op's status, or OK.
Status FirstError(std::span<const IoOp> ops);
// Appends writes of zeros covering [from, to) to `ops`, 1 MiB each, all from
// one shared static buffer (no allocation per call beyond the vector).
void AppendZeroWrites(File* file, uint64_t from, uint64_t to, std::vector<IoOp>* ops);
// Writes zeros over [from, to) through file->fs(), at most 64 writes per
// submission. Not synced.
Status WriteZeros(File* file, uint64_t from, uint64_t to);
// Replaces `path` with `bytes` atomically: writes `tmp` (created or
// truncated), fdatasyncs it in the same submission, closes it and renames it
// over `path`; then fsyncs `sync_dir` unless it is empty (a caller renaming
// several files syncs the directory once itself). A failure before the rename
// removes `tmp`. Every metadata file of a store is written this way.
Status WriteFileAtomically(FileSystem* fs, const std::string& path, const std::string& tmp,
                           std::span<const std::byte> bytes, const std::string& sync_dir);
// The status of a sync that was not run because an earlier write to its file
// in the same batch failed.
Status AbortedSyncStatus(const File& file);
// Runs `ops` one at a time in span order with `run_one`, which satisfies the
// ordering rule trivially; a sync whose file had a failed write earlier in the
// batch gets AbortedSyncStatus instead. Returns FirstError(ops). For backends
// without real concurrency (posix, mem, fault).
Status RunOpsInOrder(std::span<IoOp> ops, const std::function<void(IoOp&)>& run_one);

}  // namespace warbler::io
