// Helpers shared by the io_uring backend tests (uring_fs_test.cc,
// uring_queue_test.cc): a scratch directory, aligned buffers, byte patterns,
// and reading files back behind the backend's back (plain POSIX).
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/limits.h"
#include "io/file_system.h"

namespace warbler::io::testing_util {

// A fresh directory under the test temp dir, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = ::testing::TempDir() + "warbler_uring_XXXXXX";
    const char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr) << "mkdtemp " << tmpl;
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Heap bytes aligned for O_DIRECT.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size)
      : size_(size),
        data_(static_cast<std::byte*>(std::aligned_alloc(limits::kDirectIoAlignment,
                                                         RoundUp(size)))) {}
  std::byte* data() const { return data_.get(); }
  size_t size() const { return size_; }
  std::span<std::byte> span() const { return {data_.get(), size_}; }

 private:
  static size_t RoundUp(size_t n) {
    const size_t a = limits::kDirectIoAlignment;
    return (n + a - 1) / a * a + a;
  }
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  size_t size_;
  std::unique_ptr<std::byte, Free> data_;
};

// Deterministic bytes: a different sequence per seed, position-dependent.
inline std::byte PatternByte(uint32_t seed, uint64_t pos) {
  return static_cast<std::byte>((seed * 131u + pos * 7u + (pos >> 9) * 13u) & 0xff);
}

inline void FillPattern(std::span<std::byte> dst, uint32_t seed, uint64_t start_pos) {
  for (size_t i = 0; i < dst.size(); ++i) dst[i] = PatternByte(seed, start_pos + i);
}

inline bool MatchesPattern(std::span<const std::byte> got, uint32_t seed, uint64_t start_pos) {
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != PatternByte(seed, start_pos + i)) return false;
  }
  return true;
}

// The whole file, read with plain POSIX calls.
inline std::vector<std::byte> ReadFileBytes(const std::string& path) {
  std::vector<std::byte> out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << "open " << path;
  if (fd < 0) return out;
  std::byte buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  ::close(fd);
  return out;
}

// Writes `size` pattern bytes to a new file with plain POSIX calls.
inline void WritePatternFile(const std::string& path, uint32_t seed, size_t size) {
  std::vector<std::byte> data(size);
  FillPattern(data, seed, 0);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "open " << path;
  ASSERT_EQ(::write(fd, data.data(), size), static_cast<ssize_t>(size));
  ::close(fd);
}

// Lowers RLIMIT_FSIZE for the process while alive, so writes past `limit`
// fail with EFBIG and writes straddling it come back short: real kernel short
// writes and mid-chain failures. SIGXFSZ is ignored meanwhile.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t limit) {
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    EXPECT_EQ(::getrlimit(RLIMIT_FSIZE, &old_), 0);
    rlimit lowered = old_;
    lowered.rlim_cur = limit;
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &lowered), 0);
  }
  ~FileSizeLimit() {
    EXPECT_EQ(::setrlimit(RLIMIT_FSIZE, &old_), 0);
    ::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  sighandler_t old_handler_ = SIG_DFL;
};

// A numbered file name: Numbered("f", 3) is "f3".
inline std::string Numbered(std::string prefix, int i) {
  prefix += std::to_string(i);
  return prefix;
}

inline OpenOptions CreateOptions(bool direct = false) {
  OpenOptions o;
  o.create = true;
  o.direct = direct;
  return o;
}

}  // namespace warbler::io::testing_util
