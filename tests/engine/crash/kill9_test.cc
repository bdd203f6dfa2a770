// Real crash test: a child process (log_crash_child) appends to a partition log
// on the real file system and is killed with SIGKILL at a random moment; the
// test then reopens the log and checks that nothing acknowledged was lost.
//
// Per backend (io_uring, POSIX), R rounds on the same directory, so later
// rounds recover a log that has crashed several times (mid-append, mid-roll,
// mid-recovery). After every kill:
//   - every offset the child printed an ack for is in the log with exactly
//     the acknowledged body (XXH3 of the body matches);
//   - offsets run contiguously from 0 to next_offset();
//   - every record decodes and its body passes its own check;
//   - each appender thread's records appear in counter order, without gaps
//     or duplicates (at most its one unacknowledged append is missing).
//
// Replay: WARBLER_CRASH_SEED=<seed> (printed on failure). More rounds:
// WARBLER_CRASH_ROUNDS=<n>. Data lives under $WARBLER_CRASH_DIR (default
// /var/tmp), is removed on success and kept on failure.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "engine/log/partition_log.h"
#include "io/file_system.h"
#include "tests/engine/crash/crash_body.h"

extern char** environ;

namespace warbler::engine {
namespace {

#ifndef LOG_CRASH_CHILD_PATH
#error "LOG_CRASH_CHILD_PATH must name the log_crash_child binary"
#endif

constexpr int kDefaultRounds = 5;
constexpr uint64_t kMinRunMs = 50;
constexpr uint64_t kMaxRunMs = 400;

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t BaseSeed() {
  static const uint64_t seed = EnvU64("WARBLER_CRASH_SEED", std::random_device{}());
  return seed;
}

struct Child {
  pid_t pid = -1;
  int out_fd = -1;  // read end of the child's stdout
};

Child Spawn(const std::string& dir, const char* backend, uint64_t seed, uint32_t threads) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);  // dup2 clears CLOEXEC
  const std::string seed_arg = std::to_string(seed), threads_arg = std::to_string(threads);
  std::vector<char*> argv = {const_cast<char*>(LOG_CRASH_CHILD_PATH), const_cast<char*>(dir.c_str()),
                             const_cast<char*>(backend), const_cast<char*>(seed_arg.c_str()),
                             const_cast<char*>(threads_arg.c_str()), nullptr};
  Child child;
  const int rc = posix_spawn(&child.pid, LOG_CRASH_CHILD_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  if (rc != 0) {
    ::close(fds[0]);
    return {};
  }
  child.out_fd = fds[0];
  return child;
}

// Collects "ack <offset> <hash>" lines; a malformed line means lines were torn.
class AckReader {
 public:
  explicit AckReader(int fd) : fd_(fd) {}

  // Reads until `deadline` (or EOF if `until_eof`). False on EOF.
  bool ReadUntil(std::chrono::steady_clock::time_point deadline, bool until_eof) {
    char buf[65536];
    while (true) {
      int timeout_ms = -1;
      if (!until_eof) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return true;
        timeout_ms = static_cast<int>(left.count());
      }
      pollfd p{fd_, POLLIN, 0};
      const int pr = ::poll(&p, 1, timeout_ms);
      if (pr < 0 && errno == EINTR) continue;
      if (pr == 0) return true;
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      pending_.append(buf, static_cast<size_t>(n));
      ParseLines();
    }
  }

  const std::vector<std::pair<uint64_t, uint64_t>>& acks() const { return acks_; }
  const std::vector<std::string>& bad_lines() const { return bad_lines_; }
  const std::string& leftover() const { return pending_; }

 private:
  void ParseLines() {
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string line = pending_.substr(start, nl - start);
      unsigned long long offset = 0, hash = 0;
      char tail = 0;
      if (std::sscanf(line.c_str(), "ack %llu %llx%c", &offset, &hash, &tail) == 2) {
        acks_.emplace_back(offset, hash);
      } else {
        bad_lines_.push_back(line);
      }
    }
    pending_.erase(0, start);
  }

  int fd_;
  std::string pending_;
  std::vector<std::pair<uint64_t, uint64_t>> acks_;
  std::vector<std::string> bad_lines_;
};

class Kill9Test : public ::testing::TestWithParam<io::Backend> {
 protected:
  void SetUp() override {
    SetLogLevel(LogLevel::kWarn);
    auto fs = io::NewDefaultFileSystem(GetParam());
    if (!fs.ok() && fs.status().code() == StatusCode::kUnavailable) {
      GTEST_SKIP() << "backend unavailable: " << fs.status().ToString();
    }
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(*fs);
    const char* base = std::getenv("WARBLER_CRASH_DIR");
    std::string tmpl = std::string(base != nullptr ? base : "/var/tmp") + "/warbler_kill9_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << "mkdtemp " << tmpl;
    root_ = tmpl;
    dir_ = root_ + "/p-0000";
  }
  void TearDown() override {
    if (root_.empty()) return;
    if (HasFailure()) {
      std::fprintf(stderr, "kill9_test: data kept in %s\n", root_.c_str());
    } else {
      std::error_code ec;
      std::filesystem::remove_all(root_, ec);
    }
  }

  // Spawns the child, lets it run `run_ms`, kills it, returns what it acked.
  void RunAndKill(uint64_t child_seed, uint32_t threads, uint64_t run_ms, AckReader** out);
  // Reopens the log and checks it against every ack so far.
  void Verify();

  const char* backend_name() const { return GetParam() == io::Backend::kUring ? "uring" : "posix"; }

  std::unique_ptr<io::FileSystem> fs_;
  std::string root_, dir_;
  std::map<uint64_t, uint64_t> acked_;  // offset -> body hash, over all rounds
  std::vector<std::unique_ptr<AckReader>> readers_;
  uint64_t records_checked_ = 0;
  size_t segments_ = 0;
};

void Kill9Test::RunAndKill(uint64_t child_seed, uint32_t threads, uint64_t run_ms, AckReader** out) {
  Child child = Spawn(dir_, backend_name(), child_seed, threads);
  ASSERT_GT(child.pid, 0) << "cannot spawn " << LOG_CRASH_CHILD_PATH;
  auto reader = std::make_unique<AckReader>(child.out_fd);
  const bool open = reader->ReadUntil(std::chrono::steady_clock::now() + std::chrono::milliseconds(run_ms),
                                      /*until_eof=*/false);
  ASSERT_EQ(::kill(child.pid, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(child.pid, &wstatus, 0), child.pid);
  // Lines still in the pipe were written (so acknowledged) before the kill.
  reader->ReadUntil({}, /*until_eof=*/true);
  ::close(child.out_fd);
  EXPECT_TRUE(open) << "child closed its stdout before it was killed";
  ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "child ended on its own, wait status " << wstatus
      << (WIFEXITED(wstatus) ? " exit code " + std::to_string(WEXITSTATUS(wstatus)) : "");
  EXPECT_TRUE(reader->bad_lines().empty()) << "torn ack line: " << reader->bad_lines().front();
  EXPECT_TRUE(reader->leftover().empty()) << "partial ack line: " << reader->leftover();
  for (const auto& [offset, hash] : reader->acks()) {
    auto [it, inserted] = acked_.emplace(offset, hash);
    EXPECT_TRUE(inserted) << "offset " << offset << " acknowledged twice";
  }
  *out = reader.get();
  readers_.push_back(std::move(reader));
}

void Kill9Test::Verify() {
  auto opened = PartitionLog::Open(fs_.get(), dir_, 0, crash::CrashUuid(), crash::CrashLogOptions());
  ASSERT_TRUE(opened.ok()) << "recovery failed: " << opened.status().ToString();
  std::unique_ptr<PartitionLog> log = std::move(*opened);
  const uint64_t end = log->next_offset();
  ASSERT_EQ(log->start_offset(), 0u);
  if (!acked_.empty()) {
    ASSERT_GT(end, acked_.rbegin()->first) << "acknowledged records past the recovered end";
  }
  std::map<std::pair<uint64_t, uint32_t>, uint64_t> next_counter;  // (seed, thread) -> counter
  uint64_t expect = 0;
  auto ack = acked_.begin();
  while (expect < end) {
    auto batches = log->Read(expect);
    ASSERT_TRUE(batches.ok()) << "read at " << expect << ": " << batches.status().ToString();
    ASSERT_FALSE(batches->empty()) << "no batch at offset " << expect << " of " << end;
    for (const DecodedBatch& b : *batches) {
      for (const RecordView& r : b.records) {
        if (r.offset < expect) continue;
        ASSERT_EQ(r.offset, expect) << "offsets not contiguous";
        std::optional<crash::BodyId> id = crash::ParseBody(r.body);
        ASSERT_TRUE(id.has_value()) << "record " << r.offset << " fails its body check";
        uint64_t& want = next_counter[{id->seed, id->thread}];
        ASSERT_EQ(id->counter, want) << "record " << r.offset << ": child seed " << id->seed
                                     << " thread " << id->thread << " out of order or duplicated";
        ++want;
        if (ack != acked_.end() && ack->first == r.offset) {
          ASSERT_EQ(crash::BodyHash(r.body), ack->second)
              << "acknowledged record " << r.offset << " has another body";
          ++ack;
        }
        ++expect;
      }
    }
  }
  EXPECT_EQ(ack, acked_.end()) << "acknowledged offset " << ack->first << " missing (end " << end << ")";
  records_checked_ = expect;
  segments_ = log->segment_count();
  ASSERT_TRUE(log->Close().ok());
}

TEST_P(Kill9Test, AcknowledgedAppendsSurviveSigkill) {
  const uint64_t seed = BaseSeed();
  const int rounds = static_cast<int>(EnvU64("WARBLER_CRASH_ROUNDS", kDefaultRounds));
  SCOPED_TRACE("replay with WARBLER_CRASH_SEED=" + std::to_string(seed) + " (backend " +
               backend_name() + ")");
  Rng rng(seed ^ (GetParam() == io::Backend::kUring ? 0x75 : 0x70));
  uint64_t total_acks = 0;
  for (int round = 0; round < rounds; ++round) {
    const uint64_t child_seed = rng.Next() >> 1;
    const auto threads = static_cast<uint32_t>(1u << rng.Uniform(4));  // 1, 2, 4 or 8
    const uint64_t run_ms = rng.Range(kMinRunMs, kMaxRunMs);
    SCOPED_TRACE("round " + std::to_string(round) + ": child seed " + std::to_string(child_seed) +
                 ", " + std::to_string(threads) + " threads, killed after " + std::to_string(run_ms) +
                 " ms");
    AckReader* reader = nullptr;
    ASSERT_NO_FATAL_FAILURE(RunAndKill(child_seed, threads, run_ms, &reader));
    total_acks += reader->acks().size();
    ASSERT_NO_FATAL_FAILURE(Verify());
    std::fprintf(stderr, "kill9[%s] round %d: %zu acks, log has %llu records in %zu segments\n",
                 backend_name(), round, reader->acks().size(),
                 static_cast<unsigned long long>(records_checked_), segments_);
  }
  // The check must have had something to check.
  EXPECT_GT(total_acks, 0u);
  EXPECT_GE(records_checked_, total_acks);
}

INSTANTIATE_TEST_SUITE_P(Backends, Kill9Test, ::testing::Values(io::Backend::kUring, io::Backend::kPosix),
                         [](const ::testing::TestParamInfo<io::Backend>& info) {
                           return std::string(info.param == io::Backend::kUring ? "Uring" : "Posix");
                         });

}  // namespace
}  // namespace warbler::engine
