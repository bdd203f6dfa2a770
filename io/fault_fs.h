// FaultFileSystem ("fault(<inner>)"): wraps any FileSystem to simulate power
// loss and inject I/O errors. The tool behind every crash test.
//
// Durability model (the contract of io/file_system.h, enforced literally):
//   - Data written to a file is durable only once a kSync on that file,
//     started after the write completed, has returned OK. Truncate and
//     Allocate (growing the size) are likewise undone unless synced.
//   - A file created, renamed or removed exists at its new name only once
//     SyncDir has run on the parent directory. A file created and synced but
//     whose directory was never synced vanishes at Crash; an unsynced rename
//     is reverted; an unsynced remove (or a replace by Rename) is undone, with
//     the removed file's durable content.
//   - Files that already existed when first touched through this object, and
//     directories, are durable as they are: CreateDirs, RemoveDir and
//     directory renames are not reverted (entries in a removed directory
//     become durably removed with it).
//   - A file has one durable name: after a rename across directories, syncing
//     the destination makes the new name durable and drops the old one.
//
// How: an undo log per file. Before each write the overwritten range (only
// the part inside the current size; appends need nothing) and the old size are
// saved; truncate saves the bytes it cuts. A successful sync discards the
// records of the writes it covers. Crash undoes records newest first through
// the inner backend, so only unsynced state ever costs memory and the inner
// backend stays the sole owner of the bytes: reads pass straight through, and
// it works unchanged over posix, uring or mem. (A shadow copy of every file's
// durable content would cost memory for all data and a second copy of each
// write.) Removed files are not unlinked: they are renamed to a hidden
// ".faultfs-trash-<n>" entry in the same directory (left out of List) until
// SyncDir makes the removal durable, so open Files keep working and Crash can
// put them back. Names starting with ".faultfs-" are reserved.
//
// Crash(mode, seed) then, atomically with respect to all other calls:
//   1. makes every File opened before it fail with FailedPrecondition (the
//      caller reopens, as a restarted process would) and releases DirLocks;
//   2. per file, in creation order, undoes the unsynced records: all of them
//      (kDropUnsynced), or all but a seeded random prefix in write order whose
//      last kept write is torn at a random byte (kKeepRandomPrefix);
//   3. restores the durable namespace: files without a durable name are
//      deleted, others are moved back to their durable name.
// The same seed and the same call sequence give the same outcome.
//
// Injected faults (AddRule): for I/O on a File they come after the usual
// argument checks (closed file, read-only, O_DIRECT alignment); for namespace
// calls (Open, Rename, Remove, RemoveDir, SyncDir) first. Either way the
// inner backend is not called. A failed
// write may leave a prefix of its bytes in the file (as a real ENOSPC does);
// that prefix is never durable. A failed sync keeps all unsynced writes
// unsynced.
//
// Thread-safety: as FileSystem. Ops hold a shared lock that Crash takes
// exclusively, so a crash happens between ops, never inside one. Writes,
// truncates and allocates on one file are serialized (to pair each with its
// undo record). REQUIRES: Files and DirLocks are destroyed before this object,
// and paths are given in one canonical form (no "//", "./" or trailing '/').
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/rng.h"
#include "io/file_system.h"

namespace warbler::io {

enum class FaultOp : uint8_t {
  kRead,
  kWrite,
  kSync,
  kOpen,
  kRename,
  kRemove,  // Remove and RemoveDir
  kSyncDir,
  kAllocate,
  kTruncate,
};
inline constexpr size_t kFaultOpCount = 9;

enum class FaultTrigger : uint8_t {
  kNth,          // only the n-th matching call (1-based)
  kFromNth,      // the n-th matching call and every later one
  kProbability,  // each matching call with `probability`, from the fs's seeded Rng
};

enum class FaultError : uint8_t {
  kIOError,  // Status::IOError, as EIO
  kNoSpace,  // Status::NoSpace, as ENOSPC
};

struct FaultRule {
  FaultOp op = FaultOp::kWrite;
  // Matches calls whose path contains this substring (Rename: either path);
  // empty matches every path.
  std::string path_filter;
  FaultTrigger trigger = FaultTrigger::kNth;
  uint64_t n = 1;            // kNth, kFromNth
  double probability = 0.0;  // kProbability, in [0, 1]
  FaultError error = FaultError::kIOError;
  // kWrite only: write the first min(write_prefix_bytes, len) bytes before
  // failing (a torn write). The op reports the error with `transferred` set
  // to the prefix; the prefix is in the file but not durable.
  size_t write_prefix_bytes = 0;
};

enum class CrashMode : uint8_t {
  kDropUnsynced,      // every file is reset to exactly its durable state
  kKeepRandomPrefix,  // plus a seeded prefix of its unsynced changes, last write torn
};

struct FaultCounters {
  uint64_t injected = 0;  // faults injected by rules
  std::array<uint64_t, kFaultOpCount> injected_by_op{};
  uint64_t budget_refusals = 0;  // writes/allocates refused by the space budget
  uint64_t crashes = 0;
};

class FaultFileSystem final : public FileSystem {
 public:
  // Owns `inner`. `seed` drives kProbability rules.
  explicit FaultFileSystem(std::unique_ptr<FileSystem> inner, uint64_t seed = 0);
  // Borrows `inner`, which must outlive this object.
  explicit FaultFileSystem(FileSystem* inner, uint64_t seed = 0);
  // Unlinks the hidden copies of removed files (a clean exit, not a crash).
  ~FaultFileSystem() override;

  FileSystem* inner() const { return inner_; }

  // ---- crash simulation ----
  // Simulates power loss; see the header comment. An error means the inner
  // backend failed while restoring (the test should fail).
  Status Crash(CrashMode mode, uint64_t seed);

  // ---- error injection ----
  // Returns an id for RemoveRule. Rules are checked in the order added; each
  // matching rule counts the call, the first one that triggers decides.
  uint64_t AddRule(FaultRule rule);
  void RemoveRule(uint64_t id);
  void ClearRules();
  // Disk full: after `bytes` more bytes are written, writes fail with NoSpace
  // (a write that crosses the limit writes the bytes that fit, then fails),
  // and Allocate of more than what is left fails. Bytes are counted as
  // written, overwrites included. ClearSpaceBudget lifts the limit.
  void SetSpaceBudget(uint64_t bytes);
  void ClearSpaceBudget();
  FaultCounters counters() const;

  // ---- pipelining ----
  // When on, NewQueue returns a queue whose groups overlap (NewWorkerIoQueue:
  // Start returns before the group has run), as io_uring's do, so a caller's
  // pipelined path runs under injected faults and crashes. Off (the default):
  // each group runs inside Start, as on POSIX. Queues made earlier keep theirs.
  void set_overlapping_queues(bool on) { overlapping_queues_.store(on); }

  // ---- FileSystem ----
  std::string_view name() const override { return name_; }
  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& options) override;
  Status Submit(std::span<IoOp> ops) override;
  Result<std::unique_ptr<IoQueue>> NewQueue() override;
  Status CreateDirs(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status RemoveDir(const std::string& dir) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Result<bool> Exists(const std::string& path) override;
  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override;

  // Internal types, defined in io/fault_fs_internal.h.
  struct Node;
  struct LockSlot;
  class FaultFile;

 private:
  struct RuleEntry {
    uint64_t id;
    FaultRule rule;
    uint64_t matches = 0;
  };

  // Checks the rules for one call; OK or the injected error. For writes,
  // `*write_prefix` gets the number of bytes to write before failing.
  Status MaybeInject(FaultOp op, const std::string& path, const std::string& path2 = "",
                     size_t* write_prefix = nullptr);
  // Takes up to `len` bytes of the space budget; returns how many fit.
  uint64_t TakeBudget(uint64_t len, bool consume);

  // Data path (fault_fs_data.cc). REQUIRES: crash_mu_ held shared.
  void RunOp(IoOp& op);
  void RunWrite(FaultFile& file, IoOp& op);
  void RunSync(FaultFile& file, IoOp& op);
  // Opens the node's writable, buffered handle if it has none. REQUIRES: mu_ held.
  Status EnsureAux(Node& node);
  // Undoes a node's unsynced records for Crash. REQUIRES: crash_mu_ held exclusively.
  Status UndoUnsynced(Node& node, CrashMode mode, Rng& rng);

  // Namespace helpers. REQUIRES: mu_ held.
  std::shared_ptr<Node> Track(const std::string& path);
  std::string TrashPath(const std::string& path, uint64_t id) const;
  Status MoveToTrash(const std::shared_ptr<Node>& node);
  Status Unlink(const std::shared_ptr<Node>& node);
  void RenameTree(const std::string& from, const std::string& to);
  Status RestoreNamespace();

  std::unique_ptr<FileSystem> owned_;
  FileSystem* inner_;
  std::string name_;

  // Held shared by every op (taken through OpLock) and exclusively by Crash.
  // Crash holds gate_mu_ while it waits, so a stream of new ops cannot starve
  // it (glibc's rwlock prefers readers).
  std::shared_lock<std::shared_mutex> OpLock() const;
  mutable std::mutex gate_mu_;
  mutable std::shared_mutex crash_mu_;
  uint64_t generation_ = 0;  // bumped by Crash; guarded by crash_mu_

  // Namespace state. Lock order: crash_mu_, mu_, Node::mu, rules_mu_.
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::shared_ptr<Node>> nodes_;    // tracked files, by id
  std::unordered_map<std::string, Node*> by_path_;     // tracked files, by live path
  std::vector<std::weak_ptr<LockSlot>> locks_;

  mutable std::mutex rules_mu_;
  Rng rng_;
  uint64_t next_rule_id_ = 1;
  std::vector<RuleEntry> rules_;
  bool budget_set_ = false;
  uint64_t budget_left_ = 0;
  FaultCounters counters_;
  std::atomic<bool> overlapping_queues_{false};
};

}  // namespace warbler::io
