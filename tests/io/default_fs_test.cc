// NewDefaultFileSystem: WARBLER_IO, the fallback to POSIX when io_uring
// cannot be set up (forced with the WARBLER_IO_FORCE_URING_FAILURE test hook),
// and the one log line per process that says which backend runs and why.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "io/default_fs.h"
#include "io/file_system.h"
#include "io/uring_fs.h"

namespace warbler::io {
namespace {

std::mutex g_lines_mu;
std::vector<std::string> g_lines;

void CaptureLine(std::string_view line) {
  std::lock_guard lock(g_lines_mu);
  g_lines.emplace_back(line);
}

std::vector<std::string> BackendLines() {
  std::lock_guard lock(g_lines_mu);
  std::vector<std::string> out;
  for (const std::string& l : g_lines) {
    if (l.find("event=io_backend_selected") != std::string::npos) out.push_back(l);
  }
  return out;
}

// Sets (or unsets, with nullopt) an environment variable while alive.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = ::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

class DefaultFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kInfo);
    {
      std::lock_guard lock(g_lines_mu);
      g_lines.clear();
    }
    SetLogSink(&CaptureLine);
    internal::ResetBackendLogForTest();
  }
  void TearDown() override { SetLogSink(nullptr); }

  ScopedEnv no_backend_{"WARBLER_IO", std::nullopt};
  ScopedEnv no_force_{"WARBLER_IO_FORCE_URING_FAILURE", std::nullopt};
};

TEST_F(DefaultFsTest, ForcedUringFailureFallsBackToPosixAndLogsWhyOnce) {
  ScopedEnv force("WARBLER_IO_FORCE_URING_FAILURE", "1");
  auto fs = NewDefaultFileSystem();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_EQ((*fs)->name(), "posix");
  auto again = NewDefaultFileSystem();
  ASSERT_TRUE(again.ok());
  std::vector<std::string> lines = BackendLines();
  ASSERT_EQ(lines.size(), 1u) << "the choice is logged once per process";
  EXPECT_NE(lines[0].find("level=info"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("backend=posix"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("reason=\"falling back: io_uring setup forced to fail by "
                          "WARBLER_IO_FORCE_URING_FAILURE=1"),
            std::string::npos)
      << lines[0];
}

TEST_F(DefaultFsTest, AutoPicksUringWhenItCanBeSetUp) {
  auto uring = NewUringFileSystem();
  if (!uring.ok()) GTEST_SKIP() << "io_uring unavailable here: " << uring.status().ToString();
  auto fs = NewDefaultFileSystem(Backend::kAuto);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_EQ((*fs)->name(), "uring");
  std::vector<std::string> lines = BackendLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("backend=uring reason=\"io_uring available\""), std::string::npos)
      << lines[0];
}

TEST_F(DefaultFsTest, WarblerIoPosixPicksPosix) {
  ScopedEnv env("WARBLER_IO", "posix");
  auto fs = NewDefaultFileSystem();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_EQ((*fs)->name(), "posix");
  std::vector<std::string> lines = BackendLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("backend=posix reason=\"WARBLER_IO=posix\""), std::string::npos)
      << lines[0];
}

TEST_F(DefaultFsTest, WarblerIoBogusIsInvalidArgument) {
  ScopedEnv env("WARBLER_IO", "bogus");
  auto fs = NewDefaultFileSystem();
  ASSERT_FALSE(fs.ok());
  EXPECT_EQ(fs.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(fs.status().message().find("WARBLER_IO"), std::string::npos);
  EXPECT_TRUE(BackendLines().empty());
}

TEST_F(DefaultFsTest, ExplicitUringUnderForcedFailureIsUnavailable) {
  ScopedEnv force("WARBLER_IO_FORCE_URING_FAILURE", "1");
  auto fs = NewDefaultFileSystem(Backend::kUring);
  ASSERT_FALSE(fs.ok());
  EXPECT_EQ(fs.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(fs.status().message().find("WARBLER_IO_FORCE_URING_FAILURE"), std::string::npos);
  // Asking through the environment is just as explicit: no silent fallback.
  ScopedEnv env("WARBLER_IO", "uring");
  EXPECT_EQ(NewDefaultFileSystem().status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(BackendLines().empty());
}

TEST_F(DefaultFsTest, ExplicitBackendOverridesEnvironment) {
  ScopedEnv env("WARBLER_IO", "uring");
  ScopedEnv force("WARBLER_IO_FORCE_URING_FAILURE", "1");
  auto fs = NewDefaultFileSystem(Backend::kPosix);
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  EXPECT_EQ((*fs)->name(), "posix");
}

TEST_F(DefaultFsTest, ForceHookMakesNewUringFileSystemUnavailable) {
  ScopedEnv force("WARBLER_IO_FORCE_URING_FAILURE", "1");
  auto fs = NewUringFileSystem();
  ASSERT_FALSE(fs.ok());
  EXPECT_EQ(fs.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(fs.status().message().find("test hook"), std::string::npos);
}

}  // namespace
}  // namespace warbler::io
