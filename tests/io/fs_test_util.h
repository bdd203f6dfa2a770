// Backends and helpers shared by the io tests: each backend type sets up a
// fresh file system with an empty root directory (POSIX ones in a new mkdtemp
// directory under /tmp, removed afterwards).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "base/assert.h"
#include "base/limits.h"
#include "io/fault_fs.h"
#include "io/file_system.h"
#include "io/mem_fs.h"
#include "io/posix_fs.h"
#include "io/uring_fs.h"

namespace warbler::io::testing {

// A directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/warbler-io-XXXXXX";
    char* made = ::mkdtemp(templ.data());
    WB_ASSERT(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct FsEnv {
  std::unique_ptr<TempDir> tmp;  // declared first: removed after the fs is gone
  std::unique_ptr<FileSystem> fs;
  FaultFileSystem* fault = nullptr;  // fs, when it is a fault backend
  std::string root;
};

inline Status SetUpPosix(FsEnv* env) {
  env->tmp = std::make_unique<TempDir>();
  env->root = env->tmp->path();
  env->fs = NewPosixFileSystem();
  return Status::Ok();
}

inline Status SetUpMem(FsEnv* env) {
  env->root = "/test-root";
  env->fs = NewMemFileSystem();
  return env->fs->CreateDirs(env->root);
}

inline Status SetUpFault(FsEnv* env) {
  auto fault = std::make_unique<FaultFileSystem>(std::move(env->fs), /*seed=*/42);
  env->fault = fault.get();
  env->fs = std::move(fault);
  return Status::Ok();
}

struct PosixBackend {
  static Status SetUp(FsEnv* env) { return SetUpPosix(env); }
};
struct MemBackend {
  static Status SetUp(FsEnv* env) { return SetUpMem(env); }
};
struct UringBackend {
  static Status SetUp(FsEnv* env) {
    env->tmp = std::make_unique<TempDir>();
    env->root = env->tmp->path();
    WB_ASSIGN_OR_RETURN(env->fs, NewUringFileSystem());
    return Status::Ok();
  }
};
struct FaultMemBackend {
  static Status SetUp(FsEnv* env) {
    WB_RETURN_IF_ERROR(SetUpMem(env));
    return SetUpFault(env);
  }
};
// fault(mem) whose queues overlap groups (FaultFileSystem::set_overlapping_queues).
struct FaultMemOverlapBackend {
  static Status SetUp(FsEnv* env) {
    WB_RETURN_IF_ERROR(SetUpMem(env));
    WB_RETURN_IF_ERROR(SetUpFault(env));
    env->fault->set_overlapping_queues(true);
    return Status::Ok();
  }
};
struct FaultPosixBackend {
  static Status SetUp(FsEnv* env) {
    WB_RETURN_IF_ERROR(SetUpPosix(env));
    return SetUpFault(env);
  }
};

// Names the backend in test names: "ContractTest/Posix.WriteRead…".
struct BackendNames {
  template <typename T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, PosixBackend>) return "Posix";
    if constexpr (std::is_same_v<T, MemBackend>) return "Mem";
    if constexpr (std::is_same_v<T, UringBackend>) return "Uring";
    if constexpr (std::is_same_v<T, FaultMemBackend>) return "FaultOverMem";
    if constexpr (std::is_same_v<T, FaultPosixBackend>) return "FaultOverPosix";
    if constexpr (std::is_same_v<T, FaultMemOverlapBackend>) return "FaultOverMemOverlapping";
    return "Unknown";
  }
};

// A fresh file system of backend B per test; skipped when B is Unavailable.
template <typename B>
class FsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status s = B::SetUp(&env_);
    if (s.code() == StatusCode::kUnavailable) GTEST_SKIP() << "backend unavailable: " << s.ToString();
    ASSERT_TRUE(s.ok()) << s.ToString();
    fs_ = env_.fs.get();
  }

  std::string P(std::string_view name) const { return env_.root + "/" + std::string(name); }

  FsEnv env_;
  FileSystem* fs_ = nullptr;
};

inline std::vector<std::byte> Bytes(std::string_view s) {
  std::vector<std::byte> out(s.size());
  for (size_t i = 0; i < s.size(); ++i) out[i] = static_cast<std::byte>(s[i]);
  return out;
}

inline std::string Str(std::span<const std::byte> b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

// The whole content of `file`, or "<error: ...>".
inline std::string ReadAll(File* file) {
  Result<uint64_t> size = file->Size();
  if (!size.ok()) return "<error: " + size.status().ToString() + ">";
  std::vector<std::byte> buf(*size);
  Result<size_t> n = file->ReadAt(0, buf);
  if (!n.ok()) return "<error: " + n.status().ToString() + ">";
  buf.resize(*n);
  return Str(buf);
}

// Content of the file at `path`, or "<error: ...>" (e.g. NotFound).
inline std::string ReadPath(FileSystem* fs, const std::string& path) {
  Result<std::unique_ptr<File>> f = fs->Open(path, {.read_only = true});
  if (!f.ok()) return "<error: " + f.status().ToString() + ">";
  return ReadAll(f->get());
}

// Creates or replaces `path` with `content`, synced (the entry is not).
inline Status WritePath(FileSystem* fs, const std::string& path, std::string_view content) {
  WB_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                      fs->Open(path, {.create = true, .truncate = true}));
  WB_RETURN_IF_ERROR(f->WriteAt(0, Bytes(content)));
  return f->Sync();
}

// Memory aligned for O_DIRECT.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t size)
      : data(static_cast<std::byte*>(std::aligned_alloc(limits::kDirectIoAlignment, size))),
        len(size) {}
  ~AlignedBuffer() { std::free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  std::span<std::byte> span() const { return {data, len}; }
  std::byte* data;
  size_t len;
};

}  // namespace warbler::io::testing
