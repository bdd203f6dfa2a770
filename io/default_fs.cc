// NewDefaultFileSystem: picks the backend (io_uring, else POSIX) and says why
// once per process, so an operator can tell from the log which data path runs.
#include "io/default_fs.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "base/log.h"
#include "io/file_system.h"
#include "io/posix_fs.h"
#include "io/uring_fs.h"

namespace warbler::io {
namespace {

constexpr char kBackendEnv[] = "WARBLER_IO";

std::atomic<bool> g_choice_logged{false};

void LogChoiceOnce(std::string_view backend, const std::string& reason) {
  if (g_choice_logged.exchange(true)) return;
  WB_LOG(kInfo, "io_backend_selected").Kv("backend", backend).Kv("reason", reason);
}

}  // namespace

namespace internal {
void ResetBackendLogForTest() { g_choice_logged.store(false); }
}  // namespace internal

Result<std::unique_ptr<FileSystem>> NewDefaultFileSystem(Backend backend) {
  std::string reason = "requested by the caller";
  if (backend == Backend::kAuto) {
    if (const char* env = std::getenv(kBackendEnv); env != nullptr) {
      Result<Backend> parsed = ParseBackend(env);
      if (!parsed.ok()) return parsed.status().WithContext("environment variable WARBLER_IO");
      backend = *parsed;
      reason = std::string(kBackendEnv) + "=" + env;
    }
  }
  switch (backend) {
    case Backend::kPosix:
      LogChoiceOnce("posix", reason);
      return NewPosixFileSystem();
    case Backend::kUring: {
      // Asked for by name: no silent fallback. NewUringFileSystem fails with
      // Unavailable and the reason.
      WB_ASSIGN_OR_RETURN(std::unique_ptr<FileSystem> fs, NewUringFileSystem());
      LogChoiceOnce("uring", reason);
      return fs;
    }
    case Backend::kAuto:
      break;
  }
  Result<std::unique_ptr<FileSystem>> uring = NewUringFileSystem();
  if (uring.ok()) {
    LogChoiceOnce("uring", "io_uring available");
    return uring;
  }
  LogChoiceOnce("posix", "falling back: " + uring.status().message());
  return NewPosixFileSystem();
}

}  // namespace warbler::io
