// Internals of FaultFileSystem shared by fault_fs.cc (namespace, rules,
// crash) and fault_fs_data.cc (files, data path, undo records). Not for use
// outside those two files.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "io/fault_fs.h"

namespace warbler::io {

// Hidden entries of the fault backend start with this; List leaves them out.
inline constexpr std::string_view kFaultReservedPrefix = ".faultfs-";

// The directory holding `path`: "." for a bare name, "/" for "/name".
std::string FaultParentDir(const std::string& path);

// One unsynced change to a file, enough to undo it.
struct UndoRecord {
  uint64_t seq = 0;  // per node, increasing; a sync covers every seq before it started
  bool is_write = true;
  // Write: first byte written. Resize (truncate/allocate): the new size.
  uint64_t offset = 0;
  uint64_t len = 0;          // write: bytes of the write
  uint64_t size_before = 0;  // file size before the change
  // Write: old bytes of [offset, offset + before.size()), the part of the
  // write that landed inside the old size. Truncate: the bytes it cut off,
  // which started at `offset`.
  std::vector<std::byte> before;
};

// One file (an inode) the fault backend has seen. Paths are guarded by the
// fs's mu_; `undo` and `aux` by `mu`, which also serializes the file's
// mutations so each one pairs with its record.
struct FaultFileSystem::Node {
  uint64_t id = 0;
  std::string live_path;     // name callers see; empty once removed
  std::string inner_path;    // where the inner fs has it (live or trash); empty once unlinked
  std::string durable_path;  // name that survives a crash; empty if none
  std::mutex mu;
  uint64_t next_seq = 1;
  std::vector<UndoRecord> undo;  // oldest first
  // Buffered read-write handle of the inner fs, used for before-images,
  // torn-write prefixes and crash restores (no O_DIRECT alignment to obey).
  std::unique_ptr<File> aux;
};

// A DirLock whose inner lock Crash can drop (the process holding it died).
struct FaultFileSystem::LockSlot {
  std::mutex mu;
  std::unique_ptr<DirLock> inner;
};

class FaultFileSystem::FaultFile final : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::string path, std::unique_ptr<File> inner,
            std::shared_ptr<Node> node, uint64_t generation, bool read_only)
      : fs_(fs), path_(std::move(path)), inner_(std::move(inner)), node_(std::move(node)),
        generation_(generation), read_only_(read_only) {}

  const std::string& path() const override { return path_; }
  FileSystem* fs() const override { return fs_; }
  bool direct() const override { return inner_->direct(); }

  Result<uint64_t> Size() override;
  Status Allocate(uint64_t offset, uint64_t len, bool keep_size) override;
  Status Truncate(uint64_t size) override;
  Status Close() override;

  File* inner() const { return inner_.get(); }
  Node& node() const { return *node_; }
  bool read_only() const { return read_only_; }
  // FailedPrecondition if closed or opened before the last Crash.
  // REQUIRES: fs crash_mu_ held (shared).
  Status CheckUsable() const;
  // REQUIRES: CheckUsable() OK; additionally fails on read-only files.
  Status CheckMutable() const;

 private:
  FaultFileSystem* fs_;
  std::string path_;
  std::unique_ptr<File> inner_;
  std::shared_ptr<Node> node_;
  uint64_t generation_;
  bool read_only_;
  std::atomic<bool> closed_{false};
};

// Records and applies a size change of `node` through `target` (a handle of
// the same file). REQUIRES: node.mu held, node.aux open.
Status TruncateTracked(FaultFileSystem::Node& node, File* target, uint64_t size);

}  // namespace warbler::io
