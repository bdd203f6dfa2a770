#include "io/posix_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/errno_status.h"
#include "base/limits.h"

namespace warbler::io {

FdFile::~FdFile() { (void)Close(); }

Result<uint64_t> FdFile::Size() {
  int fd = this->fd();
  if (fd < 0) return Status::FailedPrecondition("file closed: " + path_);
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoStatus(errno, "fstat " + path_);
  return static_cast<uint64_t>(st.st_size);
}

Status FdFile::Allocate(uint64_t offset, uint64_t len, bool keep_size) {
  int fd = this->fd();
  if (fd < 0) return Status::FailedPrecondition("file closed: " + path_);
  if (read_only_) return Status::PermissionDenied("file opened read-only: " + path_);
  int mode = keep_size ? FALLOC_FL_KEEP_SIZE : 0;
  while (fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(len)) != 0) {
    if (errno == EINTR) continue;
    return ErrnoStatus(errno, "fallocate " + path_);
  }
  return Status::Ok();
}

Status FdFile::Truncate(uint64_t size) {
  int fd = this->fd();
  if (fd < 0) return Status::FailedPrecondition("file closed: " + path_);
  if (read_only_) return Status::PermissionDenied("file opened read-only: " + path_);
  while (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno == EINTR) continue;
    return ErrnoStatus(errno, "ftruncate " + path_);
  }
  return Status::Ok();
}

Status FdFile::Close() {
  int fd = fd_.exchange(-1, std::memory_order_acq_rel);
  if (fd < 0) return Status::Ok();
  // Never retry close on EINTR: the descriptor is gone either way on Linux.
  if (::close(fd) != 0 && errno != EINTR) return ErrnoStatus(errno, "close " + path_);
  return Status::Ok();
}

Result<std::unique_ptr<File>> PosixFileSystem::Open(const std::string& path,
                                                    const OpenOptions& options) {
  int flags = O_CLOEXEC | (options.read_only ? O_RDONLY : O_RDWR);
  if (options.create) flags |= O_CREAT;
  if (options.create && options.exclusive) flags |= O_EXCL;
  if (options.truncate) flags |= O_TRUNC;
  if (options.direct) flags |= O_DIRECT;
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  if (options.random_access) {
    // A hint: if the kernel refuses it, reads are as correct and only slower.
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
  }
  return std::unique_ptr<File>(
      std::make_unique<FdFile>(this, path, fd, options.direct, options.read_only));
}

Result<int> PosixFileSystem::PrepareOp(const IoOp& op) {
  auto* file = static_cast<FdFile*>(op.file);
  int fd = file->fd();
  if (fd < 0) return Status::FailedPrecondition("file closed: " + file->path());
  if (op.kind == OpKind::kWrite && file->read_only()) {
    return Status::PermissionDenied("file opened read-only: " + file->path());
  }
  if (file->direct()) WB_RETURN_IF_ERROR(CheckDirectAlignment(op));
  return fd;
}

void PosixFileSystem::RunOpSync(IoOp& op) {
  op.transferred = 0;
  auto fd_or = PrepareOp(op);
  if (!fd_or.ok()) {
    op.status = fd_or.status();
    return;
  }
  const int fd = *fd_or;
  const std::string& path = op.file->path();
  int retries = 0;
  if (op.kind == OpKind::kSync) {
    while (fdatasync(fd) != 0) {
      if (errno == EINTR && ++retries < limits::kIoMaxRetries) continue;
      op.status = ErrnoStatus(errno, "fdatasync " + path);
      return;
    }
    op.status = Status::Ok();
    return;
  }
  while (op.transferred < op.len) {
    const off_t off = static_cast<off_t>(op.offset + op.transferred);
    const size_t left = op.len - op.transferred;
    ssize_t n = op.kind == OpKind::kRead ? ::pread(fd, op.buf + op.transferred, left, off)
                                         : ::pwrite(fd, op.buf + op.transferred, left, off);
    if (n < 0) {
      if ((errno == EINTR || errno == EAGAIN) && ++retries < limits::kIoMaxRetries) continue;
      op.status = ErrnoStatus(errno, (op.kind == OpKind::kRead ? "pread " : "pwrite ") + path);
      return;
    }
    if (n == 0) {
      if (op.kind == OpKind::kRead) break;  // EOF
      if (++retries < limits::kIoMaxRetries) continue;
      op.status = Status::IOError("pwrite " + path + ": no progress");
      return;
    }
    op.transferred += static_cast<size_t>(n);
  }
  op.status = Status::Ok();
}

Status PosixFileSystem::Submit(std::span<IoOp> ops) {
  WB_RETURN_IF_ERROR(ValidateBatch(ops, this));
  return RunOpsInOrder(ops, [](IoOp& op) { RunOpSync(op); });
}

Status PosixFileSystem::CreateDirs(const std::string& dir) {
  if (dir.empty()) return Status::InvalidArgument("empty directory path");
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    partial = dir.substr(0, pos);
    if (partial.empty()) continue;
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "mkdir " + partial);
    }
  }
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus(errno, "stat " + dir);
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument("not a directory: " + dir);
  return Status::Ok();
}

Status PosixFileSystem::SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open dir " + dir);
  Status s;
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    s = ErrnoStatus(errno, "fsync dir " + dir);
    break;
  }
  ::close(fd);
  return s;
}

Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(errno, "rename " + from + " -> " + to);
  }
  return Status::Ok();
}

Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink " + path);
  return Status::Ok();
}

Status PosixFileSystem::RemoveDir(const std::string& dir) {
  if (::rmdir(dir.c_str()) != 0) return ErrnoStatus(errno, "rmdir " + dir);
  return Status::Ok();
}

Result<std::vector<std::string>> PosixFileSystem::List(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir " + dir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoStatus(err, "readdir " + dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> PosixFileSystem::Exists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  return ErrnoStatus(errno, "stat " + path);
}

namespace {

class FlockDirLock final : public DirLock {
 public:
  explicit FlockDirLock(int fd) : fd_(fd) {}
  ~FlockDirLock() override { ::close(fd_); }  // releases the flock

 private:
  int fd_;
};

}  // namespace

Result<std::unique_ptr<DirLock>> PosixFileSystem::LockDir(const std::string& dir) {
  const std::string path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open lock file " + path);
  // flock locks belong to the open file description, so a second LockDir in
  // the same process conflicts too, exactly as another process would.
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy("data directory " + dir +
                          " is locked by another Warbler process (lock file " + path + ")");
    }
    return ErrnoStatus(err, "flock " + path);
  }
  return std::unique_ptr<DirLock>(std::make_unique<FlockDirLock>(fd));
}

std::unique_ptr<FileSystem> NewPosixFileSystem() { return std::make_unique<PosixFileSystem>(); }

}  // namespace warbler::io
