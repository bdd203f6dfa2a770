// The POSIX backend: pread/pwrite/fdatasync, one system call per operation,
// run in span order (which satisfies the ordering rule of Submit trivially).
// Always available; chosen automatically when io_uring cannot be set up.
//
// PosixFileSystem also implements every metadata operation (open, rename,
// list, lock …) for the io_uring backend, which derives from it and replaces
// only the data path.
// Thread-safety: as FileSystem.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "io/file_system.h"

namespace warbler::io {

// A file backed by a real descriptor. Shared by the posix and uring backends.
class FdFile final : public File {
 public:
  FdFile(FileSystem* fs, std::string path, int fd, bool direct, bool read_only)
      : fs_(fs), path_(std::move(path)), fd_(fd), direct_(direct), read_only_(read_only) {}
  ~FdFile() override;

  const std::string& path() const override { return path_; }
  FileSystem* fs() const override { return fs_; }
  bool direct() const override { return direct_; }
  bool read_only() const { return read_only_; }
  // -1 once closed.
  int fd() const { return fd_.load(std::memory_order_acquire); }

  Result<uint64_t> Size() override;
  Status Allocate(uint64_t offset, uint64_t len, bool keep_size) override;
  Status Truncate(uint64_t size) override;
  Status Close() override;

 private:
  FileSystem* fs_;
  std::string path_;
  std::atomic<int> fd_;
  bool direct_;
  bool read_only_;
};

class PosixFileSystem : public FileSystem {
 public:
  PosixFileSystem() = default;

  std::string_view name() const override { return "posix"; }
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

 protected:
  // Checks an op before it is issued: open descriptor, writable, alignment.
  // Returns the fd on success.
  static Result<int> PrepareOp(const IoOp& op);
  // Runs one op synchronously with retries for EINTR/EAGAIN/short transfers.
  static void RunOpSync(IoOp& op);
};

std::unique_ptr<FileSystem> NewPosixFileSystem();

}  // namespace warbler::io
