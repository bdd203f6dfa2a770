#include "io/mem_fs.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/errno_status.h"

namespace warbler::io {
namespace {

// The bytes of one file; shared by its directory entry and every open File.
struct MemData {
  std::mutex mu;
  std::vector<std::byte> bytes;
};

struct MemNode {
  bool is_dir = false;
  std::shared_ptr<MemData> data;                             // files only
  std::map<std::string, std::unique_ptr<MemNode>> children;  // directories only
};

// Path components with "." dropped and ".." applied.
std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(std::move(part));
    }
    pos = end + 1;
  }
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

Status CheckGrowth(uint64_t offset, uint64_t len, const std::string& path) {
  if (offset > kMemFileMaxBytes || len > kMemFileMaxBytes - offset) {
    return Status::NoSpace("mem file " + path + " would exceed " +
                           std::to_string(kMemFileMaxBytes) + " bytes");
  }
  return Status::Ok();
}

class MemFile final : public File {
 public:
  MemFile(FileSystem* fs, std::string path, std::shared_ptr<MemData> data, bool direct,
          bool read_only)
      : fs_(fs), path_(std::move(path)), data_(std::move(data)), direct_(direct),
        read_only_(read_only) {}

  const std::string& path() const override { return path_; }
  FileSystem* fs() const override { return fs_; }
  bool direct() const override { return direct_; }

  Result<uint64_t> Size() override {
    if (closed_.load(std::memory_order_acquire)) return Closed();
    std::lock_guard lock(data_->mu);
    return static_cast<uint64_t>(data_->bytes.size());
  }

  Status Allocate(uint64_t offset, uint64_t len, bool keep_size) override {
    WB_RETURN_IF_ERROR(CheckMutable());
    // fallocate(2) refuses an empty range with EINVAL; so do we.
    if (len == 0) return ErrnoStatus(EINVAL, "fallocate " + path_);
    WB_RETURN_IF_ERROR(CheckGrowth(offset, len, path_));
    std::lock_guard lock(data_->mu);
    if (!keep_size && offset + len > data_->bytes.size()) data_->bytes.resize(offset + len);
    return Status::Ok();
  }

  Status Truncate(uint64_t size) override {
    WB_RETURN_IF_ERROR(CheckMutable());
    WB_RETURN_IF_ERROR(CheckGrowth(size, 0, path_));
    std::lock_guard lock(data_->mu);
    data_->bytes.resize(size);
    return Status::Ok();
  }

  Status Close() override {
    closed_.store(true, std::memory_order_release);
    return Status::Ok();
  }

  // Runs one op of a batch; the same checks, in the same order, as FdFile.
  void Run(IoOp& op) {
    op.transferred = 0;
    op.status = Prepare(op);
    if (!op.status.ok() || op.kind == OpKind::kSync) return;
    std::lock_guard lock(data_->mu);
    std::vector<std::byte>& bytes = data_->bytes;
    if (op.kind == OpKind::kRead) {
      if (op.offset >= bytes.size()) return;  // EOF: zero bytes, OK
      op.transferred = std::min<uint64_t>(op.len, bytes.size() - op.offset);
      if (op.transferred > 0) std::memcpy(op.buf, bytes.data() + op.offset, op.transferred);
      return;
    }
    op.status = CheckGrowth(op.offset, op.len, path_);
    if (!op.status.ok() || op.len == 0) return;
    if (op.offset + op.len > bytes.size()) bytes.resize(op.offset + op.len);
    std::memcpy(bytes.data() + op.offset, op.buf, op.len);
    op.transferred = op.len;
  }

 private:
  Status Closed() const { return Status::FailedPrecondition("file closed: " + path_); }

  Status CheckMutable() const {
    if (closed_.load(std::memory_order_acquire)) return Closed();
    if (read_only_) return Status::PermissionDenied("file opened read-only: " + path_);
    return Status::Ok();
  }

  Status Prepare(const IoOp& op) const {
    if (closed_.load(std::memory_order_acquire)) return Closed();
    if (op.kind == OpKind::kWrite && read_only_) {
      return Status::PermissionDenied("file opened read-only: " + path_);
    }
    if (direct_) return CheckDirectAlignment(op);
    return Status::Ok();
  }

  FileSystem* fs_;
  std::string path_;
  std::shared_ptr<MemData> data_;
  bool direct_;
  bool read_only_;
  std::atomic<bool> closed_{false};
};

// Locked directories, shared with the DirLocks so a lock may outlive the fs.
struct LockTable {
  std::mutex mu;
  std::set<std::string> locked;
};

class MemDirLock final : public DirLock {
 public:
  MemDirLock(std::shared_ptr<LockTable> table, std::string key)
      : table_(std::move(table)), key_(std::move(key)) {}
  ~MemDirLock() override {
    std::lock_guard lock(table_->mu);
    table_->locked.erase(key_);
  }

 private:
  std::shared_ptr<LockTable> table_;
  std::string key_;
};

class MemFileSystem final : public FileSystem {
 public:
  MemFileSystem() { root_.is_dir = true; }

  std::string_view name() const override { return "mem"; }
  Result<std::unique_ptr<File>> Open(const std::string& path, const OpenOptions& options) override;
  Status Submit(std::span<IoOp> ops) override;
  Status CreateDirs(const std::string& dir) override;
  Status SyncDir(const std::string& dir) override;
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status RemoveDir(const std::string& dir) override;
  Result<std::vector<std::string>> List(const std::string& dir) override;
  Result<bool> Exists(const std::string& path) override;
  Result<std::unique_ptr<DirLock>> LockDir(const std::string& dir) override;

 private:
  // The directory that holds the last component of `parts`. REQUIRES: mu_ held.
  Result<MemNode*> FindDir(const std::vector<std::string>& parts, size_t count,
                           const std::string& context);
  // The node named by `path`. REQUIRES: mu_ held.
  Result<MemNode*> Find(const std::string& path, const std::string& context);

  std::mutex mu_;
  MemNode root_;
  std::shared_ptr<LockTable> locks_ = std::make_shared<LockTable>();
};

Result<MemNode*> MemFileSystem::FindDir(const std::vector<std::string>& parts, size_t count,
                                        const std::string& context) {
  MemNode* node = &root_;
  for (size_t i = 0; i < count; ++i) {
    auto it = node->children.find(parts[i]);
    if (it == node->children.end()) return ErrnoStatus(ENOENT, context);
    node = it->second.get();
    if (!node->is_dir) return ErrnoStatus(ENOTDIR, context);
  }
  return node;
}

Result<MemNode*> MemFileSystem::Find(const std::string& path, const std::string& context) {
  std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return &root_;
  WB_ASSIGN_OR_RETURN(MemNode * dir, FindDir(parts, parts.size() - 1, context));
  auto it = dir->children.find(parts.back());
  if (it == dir->children.end()) return ErrnoStatus(ENOENT, context);
  return it->second.get();
}

Result<std::unique_ptr<File>> MemFileSystem::Open(const std::string& path,
                                                  const OpenOptions& options) {
  const std::string context = "open " + path;
  std::vector<std::string> parts = SplitPath(path);
  std::lock_guard lock(mu_);
  if (parts.empty()) return ErrnoStatus(EISDIR, context);
  WB_ASSIGN_OR_RETURN(MemNode * dir, FindDir(parts, parts.size() - 1, context));
  auto it = dir->children.find(parts.back());
  std::shared_ptr<MemData> data;
  if (it == dir->children.end()) {
    if (!options.create) return ErrnoStatus(ENOENT, context);
    auto node = std::make_unique<MemNode>();
    node->data = std::make_shared<MemData>();
    data = node->data;
    dir->children.emplace(parts.back(), std::move(node));
  } else {
    if (options.create && options.exclusive) return ErrnoStatus(EEXIST, context);
    if (it->second->is_dir) return ErrnoStatus(EISDIR, context);
    data = it->second->data;
    if (options.truncate) {
      std::lock_guard data_lock(data->mu);
      data->bytes.clear();
    }
  }
  return std::unique_ptr<File>(std::make_unique<MemFile>(this, path, std::move(data),
                                                         options.direct, options.read_only));
}

Status MemFileSystem::Submit(std::span<IoOp> ops) {
  WB_RETURN_IF_ERROR(ValidateBatch(ops, this));
  return RunOpsInOrder(ops, [](IoOp& op) { static_cast<MemFile*>(op.file)->Run(op); });
}

Status MemFileSystem::CreateDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("empty directory path");
  std::lock_guard lock(mu_);
  MemNode* node = &root_;
  for (const std::string& part : SplitPath(dir)) {
    if (!node->is_dir) return ErrnoStatus(ENOTDIR, "mkdir " + dir);
    std::unique_ptr<MemNode>& child = node->children[part];
    if (child == nullptr) {
      child = std::make_unique<MemNode>();
      child->is_dir = true;
    }
    node = child.get();
  }
  if (!node->is_dir) return Status::InvalidArgument("not a directory: " + dir);
  return Status::Ok();
}

Status MemFileSystem::SyncDir(const std::string& dir) {
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(MemNode * node, Find(dir, "open dir " + dir));
  if (!node->is_dir) return ErrnoStatus(ENOTDIR, "open dir " + dir);
  return Status::Ok();
}

Status MemFileSystem::Rename(const std::string& from, const std::string& to) {
  const std::string context = "rename " + from + " -> " + to;
  std::vector<std::string> src = SplitPath(from);
  std::vector<std::string> dst = SplitPath(to);
  // Renaming the root, or a directory into its own subtree, is EINVAL/EBUSY.
  if (src.empty() || dst.empty()) return ErrnoStatus(EBUSY, context);
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(MemNode * src_dir, FindDir(src, src.size() - 1, context));
  auto src_it = src_dir->children.find(src.back());
  if (src_it == src_dir->children.end()) return ErrnoStatus(ENOENT, context);
  WB_ASSIGN_OR_RETURN(MemNode * dst_dir, FindDir(dst, dst.size() - 1, context));
  if (src == dst) return Status::Ok();
  const bool src_is_dir = src_it->second->is_dir;
  if (src_is_dir && dst.size() > src.size() && std::equal(src.begin(), src.end(), dst.begin())) {
    return ErrnoStatus(EINVAL, context);
  }
  auto dst_it = dst_dir->children.find(dst.back());
  if (dst_it != dst_dir->children.end()) {
    const MemNode& target = *dst_it->second;
    if (!src_is_dir && target.is_dir) return ErrnoStatus(EISDIR, context);
    if (src_is_dir && !target.is_dir) return ErrnoStatus(ENOTDIR, context);
    if (target.is_dir && !target.children.empty()) return ErrnoStatus(ENOTEMPTY, context);
  }
  std::unique_ptr<MemNode> node = std::move(src_it->second);
  src_dir->children.erase(src_it);
  dst_dir->children[dst.back()] = std::move(node);  // replaces the target, if any
  return Status::Ok();
}

Status MemFileSystem::Remove(const std::string& path) {
  const std::string context = "unlink " + path;
  std::vector<std::string> parts = SplitPath(path);
  if (parts.empty()) return ErrnoStatus(EISDIR, context);
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(MemNode * dir, FindDir(parts, parts.size() - 1, context));
  auto it = dir->children.find(parts.back());
  if (it == dir->children.end()) return ErrnoStatus(ENOENT, context);
  if (it->second->is_dir) return ErrnoStatus(EISDIR, context);
  dir->children.erase(it);  // open Files keep the bytes alive
  return Status::Ok();
}

Status MemFileSystem::RemoveDir(const std::string& dir) {
  const std::string context = "rmdir " + dir;
  std::vector<std::string> parts = SplitPath(dir);
  if (parts.empty()) return ErrnoStatus(EBUSY, context);
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(MemNode * parent, FindDir(parts, parts.size() - 1, context));
  auto it = parent->children.find(parts.back());
  if (it == parent->children.end()) return ErrnoStatus(ENOENT, context);
  if (!it->second->is_dir) return ErrnoStatus(ENOTDIR, context);
  if (!it->second->children.empty()) return ErrnoStatus(ENOTEMPTY, context);
  parent->children.erase(it);
  return Status::Ok();
}

Result<std::vector<std::string>> MemFileSystem::List(const std::string& dir) {
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(MemNode * node, Find(dir, "opendir " + dir));
  if (!node->is_dir) return ErrnoStatus(ENOTDIR, "opendir " + dir);
  std::vector<std::string> names;
  names.reserve(node->children.size());
  for (const auto& [name, child] : node->children) names.push_back(name);  // map: sorted
  return names;
}

Result<bool> MemFileSystem::Exists(const std::string& path) {
  std::lock_guard lock(mu_);
  Result<MemNode*> node = Find(path, "stat " + path);
  if (node.ok()) return true;
  if (node.status().code() == StatusCode::kNotFound) return false;
  return node.status();
}

Result<std::unique_ptr<DirLock>> MemFileSystem::LockDir(const std::string& dir) {
  const std::string lock_path = dir + "/LOCK";
  {
    // Like the POSIX backend, the lock is a LOCK file in the directory.
    WB_ASSIGN_OR_RETURN(std::unique_ptr<File> file, Open(lock_path, {.create = true}));
    (void)file->Close();
  }
  const std::string key = JoinPath(SplitPath(dir));
  std::lock_guard lock(locks_->mu);
  if (!locks_->locked.insert(key).second) {
    return Status::Busy("data directory " + dir +
                        " is locked by another Warbler process (lock file " + lock_path + ")");
  }
  return std::unique_ptr<DirLock>(std::make_unique<MemDirLock>(locks_, key));
}

}  // namespace

std::unique_ptr<FileSystem> NewMemFileSystem() { return std::make_unique<MemFileSystem>(); }

}  // namespace warbler::io
