// log_crash_child: the process tests/engine/crash/kill9_test.cc kills with SIGKILL.
//
//   log_crash_child <data dir> <uring|posix> <seed> <appender threads>
//
// Opens (recovering) a PartitionLog in <data dir> on the real file system, then
// every appender thread loops blocking Appends of self-checking bodies
// (tests/engine/crash/crash_body.h) and, after each acknowledged Append, writes
// one line per record to stdout:
//
//   ack <offset> <xxh3 of the body, 16 hex digits>\n
//
// with a single write(2), so a line on the pipe proves the record was
// acknowledged before the kill. Runs until killed; exits by itself after
// kMaxRunSeconds so a lost parent never leaves it running. Exit codes:
// 0 time cap reached, 2 bad arguments, 3 open failed, 4 append failed,
// 5 stdout failed.
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "engine/log/partition_log.h"
#include "io/file_system.h"
#include "tests/engine/crash/crash_body.h"

namespace warbler::engine {
namespace {

constexpr int kMaxRunSeconds = 60;
constexpr uint32_t kMaxThreads = 64;

[[noreturn]] void Fail(int code, const std::string& what) {
  std::fprintf(stderr, "log_crash_child: %s\n", what.c_str());
  std::_Exit(code);
}

// Mostly chat-sized bodies, one in eight large, so 4 MiB segments roll often.
size_t BodySize(Rng* rng) {
  if (rng->OneIn(8)) return rng->Range(8u << 10, 128u << 10);
  return rng->Range(crash::kBodyHeaderBytes, 1024);
}

void WriteAck(uint64_t offset, uint64_t hash) {
  char line[64];
  const int n = std::snprintf(line, sizeof(line), "ack %llu %016llx\n",
                              static_cast<unsigned long long>(offset),
                              static_cast<unsigned long long>(hash));
  // A pipe write of at most PIPE_BUF bytes is atomic: lines never interleave.
  if (::write(STDOUT_FILENO, line, static_cast<size_t>(n)) != n) Fail(5, "write to stdout failed");
}

void AppendLoop(PartitionLog* log, uint64_t seed, uint32_t thread,
                std::chrono::steady_clock::time_point deadline) {
  Rng rng(seed * 0x9e3779b97f4a7c15ull + thread + 1);
  uint64_t counter = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    // Mostly one record per request; sometimes a few, so multi-record
    // requests are covered by the crash check too.
    const size_t n = rng.OneIn(16) ? rng.Range(2, 4) : 1;
    std::vector<Record> records(n);
    std::vector<uint64_t> hashes(n);
    for (size_t i = 0; i < n; ++i) {
      records[i].tenant = "crash";
      records[i].conversation = "c" + std::to_string(thread);
      records[i].sender = "child";
      records[i].body = crash::MakeBody({seed, thread, counter++}, BodySize(&rng), &rng);
      hashes[i] = crash::BodyHash(records[i].body);
    }
    Result<AppendResult> r = log->Append(std::move(records));
    if (!r.ok()) Fail(4, "append failed: " + r.status().ToString());
    for (size_t i = 0; i < n; ++i) WriteAck(r->base_offset + i, hashes[i]);
  }
}

int Main(int argc, char** argv) {
  if (argc != 5) Fail(2, "usage: log_crash_child <dir> <uring|posix> <seed> <threads>");
  // Die with the test, never outlive it.
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
  SetLogLevel(LogLevel::kWarn);
  const std::string dir = argv[1];
  Result<io::Backend> backend = io::ParseBackend(argv[2]);
  if (!backend.ok()) Fail(2, backend.status().ToString());
  const uint64_t seed = std::strtoull(argv[3], nullptr, 10);
  const auto threads = static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10));
  if (threads == 0 || threads > kMaxThreads) Fail(2, "threads must be 1..64");

  auto fs = io::NewDefaultFileSystem(*backend);
  if (!fs.ok()) Fail(3, "file system: " + fs.status().ToString());
  auto log = PartitionLog::Open(fs->get(), dir, 0, crash::CrashUuid(), crash::CrashLogOptions());
  if (!log.ok()) Fail(3, "open: " + log.status().ToString());

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kMaxRunSeconds);
  std::vector<std::thread> appenders;
  for (uint32_t t = 0; t < threads; ++t) {
    appenders.emplace_back(AppendLoop, log->get(), seed, t, deadline);
  }
  for (auto& t : appenders) t.join();
  if (Status s = (*log)->Close(); !s.ok()) Fail(4, "close: " + s.ToString());
  return 0;
}

}  // namespace
}  // namespace warbler::engine

int main(int argc, char** argv) { return warbler::engine::Main(argc, argv); }
