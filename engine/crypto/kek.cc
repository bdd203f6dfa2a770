#include "engine/crypto/kek.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/errno_status.h"

namespace warbler::engine::crypto {
namespace {

// Closes a descriptor on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error of close(2).
  Status Close(const std::string& path) {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus(errno, "close " + path);
    return Status::Ok();
  }

 private:
  int fd_;
};

// The hex text of a key with its trailing newline, wiped on destruction.
struct HexBuffer {
  std::array<char, 2 * kKeySize + 2> bytes{};
  size_t len = 0;
  ~HexBuffer() { Wipe(bytes.data(), bytes.size()); }
};

Status ParentDirSync(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(errno, "open directory " + dir);
  if (::fsync(fd.get()) != 0) return ErrnoStatus(errno, "fsync directory " + dir);
  return fd.Close(dir);
}

std::string ModeString(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

}  // namespace

std::string KeygenHint() {
  return "create one with `warbler keygen --out <file>` or "
         "`(umask 077; openssl rand -hex 32 > <file>)`, then pass the file as the key file "
         "or its content in " +
         std::string(kKekEnvVar);
}

Result<Key> LoadKekFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    if (errno == ELOOP) {
      return Status::PermissionDenied("key file " + path +
                                      " is a symbolic link; name the file itself");
    }
    return ErrnoStatus(errno, "open key file " + path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus(errno, "fstat key file " + path);
  if (!S_ISREG(st.st_mode)) {
    return Status::PermissionDenied("key file " + path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    return Status::PermissionDenied("key file " + path + " has mode " + ModeString(st.st_mode) +
                                    "; it must be accessible by its owner only (chmod 600 " + path +
                                    ")");
  }
  HexBuffer hex;
  // Read one byte more than a key with its newline, to notice longer files.
  while (hex.len < hex.bytes.size()) {
    const ssize_t n = ::read(fd.get(), hex.bytes.data() + hex.len, hex.bytes.size() - hex.len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read key file " + path);
    if (n == 0) break;
    hex.len += static_cast<size_t>(n);
  }
  size_t len = hex.len;
  if (len == 2 * kKeySize + 1 && hex.bytes[len - 1] == '\n') --len;
  auto key = Key::FromHex({hex.bytes.data(), len});
  if (!key.ok()) return key.status().WithContext("key file " + path);
  return key;
}

Result<Key> LoadKekFromEnv() {
  const char* v = std::getenv(kKekEnvVar);
  if (v == nullptr || *v == '\0') {
    return Status::NotFound(std::string(kKekEnvVar) + " is not set");
  }
  auto key = Key::FromHex(v);
  if (!key.ok()) return key.status().WithContext(kKekEnvVar);
  return key;
}

Result<Key> LoadKek(const std::string& key_file) {
  if (!key_file.empty()) return LoadKekFile(key_file);
  auto key = LoadKekFromEnv();
  if (key.ok() || key.status().code() != StatusCode::kNotFound) return key;
  return Status::NotFound("no key-encryption key configured (no key file, " +
                          std::string(kKekEnvVar) + " unset); " + KeygenHint());
}

Status GenerateKekFile(const std::string& path) {
  WB_ASSIGN_OR_RETURN(Key key, Key::Random());
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return ErrnoStatus(errno, "create key file " + path);
  // The umask can only clear bits; fchmod makes 0600 exact whatever it is.
  if (::fchmod(fd.get(), 0600) != 0) return ErrnoStatus(errno, "chmod key file " + path);
  HexBuffer hex;
  static const char kDigits[] = "0123456789abcdef";
  for (uint8_t b : key.bytes()) {
    hex.bytes[hex.len++] = kDigits[b >> 4];
    hex.bytes[hex.len++] = kDigits[b & 0xf];
  }
  hex.bytes[hex.len++] = '\n';
  size_t done = 0;
  while (done < hex.len) {
    const ssize_t n = ::write(fd.get(), hex.bytes.data() + done, hex.len - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::unlink(path.c_str());
      return ErrnoStatus(err, "write key file " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    const int err = errno;
    ::unlink(path.c_str());
    return ErrnoStatus(err, "fsync key file " + path);
  }
  WB_RETURN_IF_ERROR(fd.Close(path));
  return ParentDirSync(path);
}

}  // namespace warbler::engine::crypto
