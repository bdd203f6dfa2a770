// Partition log benchmark (issue 3): durable appends through PartitionLog
// (kSync, zstd on) against the disk's own fdatasync latency and a naive
// pwrite+fdatasync-per-append baseline, on the io_uring and POSIX backends.
//
//   log_bench [--quick] [--dir <path>] [--filter <case name substring>]
//             [--backend uring|posix]
//
// Cases (each runs for a fixed time: 2 s, or 0.3 s with --quick):
//   fsync       4 KiB pwrite + fdatasync appends to a fresh file (and the same
//               overwriting written blocks): median and p99 sync latency, the
//               yardstick for the targets.
//   naive       pwrite + fdatasync per 200 B append: 1 thread, and 32 threads
//               sharing one file at atomically incremented offsets.
//   blocking    N threads each looping Append of one record (200 B or 1 KiB
//               body), N in {1, 8, 32, 128}, per backend, default options
//               (zero-filled segments, the next one prepared in the background).
//   async       one producer keeping 1,024 AppendAsync calls in flight (a
//               counting semaphore refilled from the callback), 200 B, with
//               zero-filled (default) and fallocated segments.
//   prealloc    the 32-appender 200 B case with Preallocate kFallocate and
//               kNone (kZeroFill, the default, is the blocking row).
//   rolls       the 32-appender case with 4 MiB segments, so it rolls several
//               times: zero-fill/fallocate, next segment prepared or not.
//   diagnostics the 32-appender case with max_inflight_groups = 1, and the
//               async case without zstd (to locate the bottlenecks).
// Latency is per append: from the call to the acknowledgement. `cpu us/op`
// is the process's CPU time (user + system, all threads) per append: unlike
// throughput it hardly moves when other work shares the machine.
// Data lives in --dir (default $WARBLER_BENCH_DIR or /var/tmp/warbler_log_bench)
// and is removed afterwards. Results: docs/benchmarks.md.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "bench/process_cpu.h"
#include "engine/log/partition_log.h"
#include "io/file_system.h"

namespace warbler::bench {
namespace {

using engine::AppendResult;
using engine::LogOptions;
using engine::PartitionLog;
using engine::Preallocate;
using engine::Record;
using Clock = std::chrono::steady_clock;

constexpr int kInflightAsync = 1024;
constexpr int kTargetAppenders = 32;
constexpr size_t kBodyPool = 1024;

struct Config {
  std::chrono::nanoseconds duration{std::chrono::seconds(2)};
  std::string dir;
  std::string filter;  // run only cases whose name contains this (for profiling)
  std::string backend;  // run only this backend ("" = both)
  bool Want(const std::string& name) const { return name.find(filter) != std::string::npos; }
};

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "log_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

[[noreturn]] void DieErrno(const std::string& what) {
  std::fprintf(stderr, "log_bench: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// Latency percentiles, µs.
struct Latency {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;
};

Latency Percentiles(std::vector<uint64_t> ns) {
  Latency l;
  if (ns.empty()) return l;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    size_t i = std::min(ns.size() - 1, static_cast<size_t>(q * static_cast<double>(ns.size())));
    return static_cast<double>(ns[i]) / 1000.0;
  };
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.p999 = at(0.999);
  l.max = static_cast<double>(ns.back()) / 1000.0;
  return l;
}

struct Row {
  std::string name;
  std::string backend;
  double per_s = 0;         // appends (or syncs) per second
  Latency lat;
  double per_sync = 0;      // records per fdatasync (log rows only)
  double cpu_us = 0;        // process CPU time per op, µs
};

// Text-like bodies (zstd finds some redundancy, as in chat), generated once
// per size class. A function-local static is initialized once even when 32
// appender threads get here first (a filtered run has no single-threaded
// case before them); the lazily filled vector it replaces raced there.
std::vector<std::string> MakeBodies(size_t bytes) {
  static constexpr char kWords[][8] = {"the ", "chat ", "is ", "ok ", "see ", "you ", "at ",
                                       "nine ", "lunch ", "sure ", "why ", "not "};
  std::vector<std::string> pool;
  Rng rng(bytes);
  for (size_t i = 0; i < kBodyPool; ++i) {
    std::string b;
    while (b.size() < bytes) {
      b += kWords[rng.Uniform(std::size(kWords))];
      if (rng.OneIn(4)) b += std::to_string(rng.Next() % 100000);
    }
    b.resize(bytes);
    pool.push_back(std::move(b));
  }
  return pool;
}

const std::vector<std::string>& Bodies(size_t bytes) {
  static const std::vector<std::string> small = MakeBodies(200);
  static const std::vector<std::string> large = MakeBodies(1024);
  return bytes <= 200 ? small : large;
}

Record MakeRecord(size_t bytes, uint64_t i) {
  Record r;
  r.tenant = "acme";
  r.conversation = "conv-" + std::to_string(i % 64);
  r.sender = "user-" + std::to_string(i % 997);
  r.body = Bodies(bytes)[i % kBodyPool];
  return r;
}

class CaseDir {
 public:
  CaseDir(const Config& cfg, const std::string& name) : path_(cfg.dir + "/" + name) {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    std::filesystem::create_directories(path_, ec);
    if (ec) {
      std::fprintf(stderr, "log_bench: create %s: %s\n", path_.c_str(), ec.message().c_str());
      std::exit(1);
    }
  }
  ~CaseDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Default options (kSync, zstd, 256 MiB segments) with `pre`.
LogOptions Options(Preallocate pre) {
  LogOptions o;
  o.preallocate = pre;
  return o;
}

std::unique_ptr<PartitionLog> OpenLog(io::FileSystem* fs, const std::string& dir, const LogOptions& o) {
  engine::StoreUuid uuid{};
  uuid[0] = 1;
  auto log = PartitionLog::Open(fs, dir + "/p-0000", 0, uuid, o);
  if (!log.ok()) Die("open log in " + dir, log.status());
  return std::move(*log);
}

double PerSync(const PartitionLog& log) {
  const uint64_t syncs = log.metrics().syncs.load();
  return syncs == 0 ? 0 : static_cast<double>(log.metrics().appends.load()) / static_cast<double>(syncs);
}

Row RunBlocking(const Config& cfg, io::FileSystem* fs, size_t bytes, int threads, const LogOptions& o,
                const std::string& name) {
  CaseDir dir(cfg, "blocking");
  auto log = OpenLog(fs, dir.path(), o);
  std::vector<std::vector<uint64_t>> lat(threads);
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  const double cpu0 = ProcessCpuUs();
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = static_cast<uint64_t>(t) * 7919; !stop.load(std::memory_order_relaxed); ++i) {
        std::vector<Record> one;
        one.push_back(MakeRecord(bytes, i));
        const uint64_t t0 = NowNs();
        Result<AppendResult> r = log->Append(std::move(one));
        if (!r.ok()) Die("Append", r.status());
        lat[t].push_back(NowNs() - t0);
      }
    });
  }
  std::this_thread::sleep_for(cfg.duration);
  stop = true;
  for (auto& w : workers) w.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = ProcessCpuUs() - cpu0;
  std::vector<uint64_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  Row row{name, fs->name().data(), static_cast<double>(all.size()) / secs, Percentiles(all),
          PerSync(*log), cpu / static_cast<double>(std::max<size_t>(1, all.size()))};
  if (Status s = log->Close(); !s.ok()) Die("Close", s);
  return row;
}

Row RunAsync(const Config& cfg, io::FileSystem* fs, size_t bytes, const LogOptions& o,
             const std::string& name) {
  CaseDir dir(cfg, "async");
  auto log = OpenLog(fs, dir.path(), o);
  // What the callbacks touch, behind one pointer: with the start time the
  // capture is 16 bytes, which std::function stores without allocating (the
  // driver should not add a malloc/free pair per append to what is measured).
  struct Shared {
    std::counting_semaphore<kInflightAsync> slots{kInflightAsync};
    std::vector<uint64_t> lat;  // only the writer thread (callbacks) appends to it
    std::atomic<uint64_t> failed{0};
  } shared;
  auto& slots = shared.slots;
  auto& lat = shared.lat;
  auto& failed = shared.failed;
  lat.reserve(1u << 22);
  const double cpu0 = ProcessCpuUs();
  const auto start = Clock::now();
  const auto deadline = start + cfg.duration;
  uint64_t i = 0;
  while (Clock::now() < deadline) {
    slots.acquire();
    std::vector<Record> one;
    one.push_back(MakeRecord(bytes, i++));
    const uint64_t t0 = NowNs();
    Status s = log->AppendAsync(std::move(one), [sh = &shared, t0](const Status& st, const AppendResult&) {
      if (!st.ok()) sh->failed.fetch_add(1);
      sh->lat.push_back(NowNs() - t0);
      sh->slots.release();
    });
    if (!s.ok()) Die("AppendAsync", s);
  }
  for (int k = 0; k < kInflightAsync; ++k) slots.acquire();  // drain
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = ProcessCpuUs() - cpu0;
  if (failed.load() != 0) Die("async appends failed", Status::IOError(std::to_string(failed.load())));
  Row row{name, fs->name().data(), static_cast<double>(lat.size()) / secs, Percentiles(lat),
          PerSync(*log), cpu / static_cast<double>(std::max<size_t>(1, lat.size()))};
  if (Status s = log->Close(); !s.ok()) Die("Close", s);
  return row;
}

// pwrite + fdatasync per append; `threads` share one file at atomic offsets.
Row RunNaive(const Config& cfg, size_t bytes, int threads, const std::string& name) {
  CaseDir dir(cfg, "naive");
  const std::string path = dir.path() + "/naive.dat";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) DieErrno("open " + path);
  std::atomic<uint64_t> next_pos{0};
  std::atomic<bool> stop{false};
  std::vector<std::vector<uint64_t>> lat(threads);
  std::vector<std::thread> workers;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const std::string& body = Bodies(bytes)[i % kBodyPool];
        const uint64_t t0 = NowNs();
        const uint64_t pos = next_pos.fetch_add(bytes);
        if (::pwrite(fd, body.data(), bytes, static_cast<off_t>(pos)) != static_cast<ssize_t>(bytes)) {
          DieErrno("pwrite");
        }
        if (::fdatasync(fd) != 0) DieErrno("fdatasync");
        lat[t].push_back(NowNs() - t0);
      }
    });
  }
  std::this_thread::sleep_for(cfg.duration);
  stop = true;
  for (auto& w : workers) w.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  std::vector<uint64_t> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  return Row{name, "syscall", static_cast<double>(all.size()) / secs, Percentiles(all), 1.0};
}

// 4 KiB pwrite + fdatasync, appending to a fresh file or overwriting written blocks.
Row RunFsync(const Config& cfg, bool overwrite, const std::string& name) {
  CaseDir dir(cfg, "fsync");
  const std::string path = dir.path() + "/fsync.dat";
  const int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
  if (fd < 0) DieErrno("open " + path);
  constexpr size_t kBlock = 4096;
  constexpr uint64_t kOverwriteSpan = 64ull << 20;
  std::vector<char> block(kBlock, 'w');
  if (overwrite) {
    std::vector<char> chunk(1u << 20, 'z');
    for (uint64_t pos = 0; pos < kOverwriteSpan; pos += chunk.size()) {
      if (::pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(pos)) < 0) DieErrno("pwrite");
    }
    if (::fsync(fd) != 0) DieErrno("fsync");
  }
  std::vector<uint64_t> lat;
  const auto start = Clock::now();
  for (uint64_t pos = 0; Clock::now() - start < cfg.duration; pos += kBlock) {
    if (overwrite && pos >= kOverwriteSpan) pos = 0;
    const uint64_t t0 = NowNs();
    if (::pwrite(fd, block.data(), kBlock, static_cast<off_t>(pos)) != kBlock) DieErrno("pwrite");
    if (::fdatasync(fd) != 0) DieErrno("fdatasync");
    lat.push_back(NowNs() - t0);
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  return Row{name, "syscall", static_cast<double>(lat.size()) / secs, Percentiles(lat), 1.0};
}

void PrintRow(const Row& r) {
  std::printf("%-34s %-8s %12.0f %9.1f %9.1f %9.1f %9.1f", r.name.c_str(), r.backend.c_str(),
              r.per_s, r.lat.p50, r.lat.p99, r.lat.p999, r.lat.max);
  if (r.per_sync > 0 && r.backend != "syscall") {
    std::printf(" %9.1f %10.2f\n", r.per_sync, r.cpu_us);
  } else {
    std::printf(" %9s %10s\n", "-", "-");
  }
  std::fflush(stdout);
}

void PrintHeader(const char* title) {
  std::printf("\n%s\n%-34s %-8s %12s %9s %9s %9s %9s %9s %10s\n", title, "case", "backend",
              "ops/s", "p50 us", "p99 us", "p999 us", "max us", "recs/sync", "cpu us/op");
}

class Report {
 public:
  void Add(Row r) {
    PrintRow(r);
    rows_.push_back(std::move(r));
  }
  const Row* Find(const std::string& name, const std::string& backend) const {
    for (const Row& r : rows_) {
      if (r.name == name && r.backend == backend) return &r;
    }
    return nullptr;
  }
  const std::vector<Row>& rows() const { return rows_; }

 private:
  std::vector<Row> rows_;
};

std::string BlockingName(size_t bytes, int threads) {
  return "append " + std::string(bytes == 200 ? "200B" : "1KiB") + " x" + std::to_string(threads);
}

void PrintRatios(const Report& rep, const std::vector<io::FileSystem*>& fss) {
  std::printf("\nRatios (throughput; p99 latency)\n");
  if (fss.size() == 2) {
    for (const Row& r : rep.rows()) {
      if (r.backend != "uring") continue;
      const Row* p = rep.Find(r.name, "posix");
      if (p == nullptr) continue;
      std::printf("  uring/posix   %-34s %6.2fx   p99 %6.2fx\n", r.name.c_str(), r.per_s / p->per_s,
                  r.lat.p99 / p->lat.p99);
    }
  }
  for (io::FileSystem* fs : fss) {
    for (int threads : {1, kTargetAppenders}) {
      const Row* w = rep.Find(BlockingName(200, threads), std::string(fs->name()));
      const Row* n = rep.Find("naive 200B x" + std::to_string(threads), "syscall");
      if (w == nullptr || n == nullptr) continue;
      std::printf("  warbler/naive %-34s %6.2fx   p99 %6.2fx   (%s)\n", w->name.c_str(),
                  w->per_s / n->per_s, w->lat.p99 / n->lat.p99, w->backend.c_str());
    }
  }
}

void PrintTargets(const Report& rep, const std::vector<io::FileSystem*>& fss) {
  const Row* fsync = rep.Find("fsync 4K append", "syscall");
  if (fsync == nullptr) return;
  const double target_tput = kTargetAppenders / (fsync->lat.p50 / 1e6);
  std::printf("\nTargets (fdatasync median %.1f us, p99 %.1f us => 32 / median = %.0f appends/s)\n",
              fsync->lat.p50, fsync->lat.p99, target_tput);
  for (io::FileSystem* fs : fss) {
    const std::string b(fs->name());
    const Row* r32 = rep.Find(BlockingName(200, kTargetAppenders), b);
    const Row* as = rep.Find("async 200B 1024 in flight", b);
    if (r32 == nullptr || as == nullptr) continue;
    const double a = r32->per_s / target_tput;
    std::printf("  [%s] 32 appenders >= 60%% of 32/median fsync: %.0f/s = %.0f%% of %.0f -> %s\n",
                b.c_str(), r32->per_s, a * 100, target_tput, a >= 0.6 ? "MET" : "MISSED");
    std::printf("  [%s] 1,024 in flight >= 1,000,000/s: %.0f/s = %.1f%% -> %s\n", b.c_str(), as->per_s,
                as->per_s / 1e4, as->per_s >= 1e6 ? "MET" : "MISSED");
    const double p = r32->lat.p99 / (2 * fsync->lat.p99);
    std::printf("  [%s] p99 at 32 appenders < 2 x p99 fsync: %.1f us vs %.1f us (%.2fx of limit) -> %s\n",
                b.c_str(), r32->lat.p99, 2 * fsync->lat.p99, p, p < 1 ? "MET" : "MISSED");
  }
}

int Main(int argc, char** argv) {
  Config cfg;
  const char* env_dir = std::getenv("WARBLER_BENCH_DIR");
  cfg.dir = env_dir != nullptr ? env_dir : "/var/tmp/warbler_log_bench";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      cfg.duration = std::chrono::milliseconds(300);
    } else if (a == "--dir" && i + 1 < argc) {
      cfg.dir = argv[++i];
    } else if (a == "--filter" && i + 1 < argc) {
      cfg.filter = argv[++i];
    } else if (a == "--backend" && i + 1 < argc) {
      cfg.backend = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: log_bench [--quick] [--dir <path>] [--filter <case substring>] "
                   "[--backend uring|posix]\n");
      return 2;
    }
  }
  SetLogLevel(LogLevel::kWarn);
  auto posix = io::NewDefaultFileSystem(io::Backend::kPosix);
  if (!posix.ok()) Die("posix backend", posix.status());
  auto uring = io::NewDefaultFileSystem(io::Backend::kUring);
  std::vector<io::FileSystem*> fss;
  if (uring.ok()) {
    if (cfg.backend != "posix") fss.push_back(uring->get());
  } else {
    std::printf("io_uring unavailable (%s): POSIX only\n", uring.status().ToString().c_str());
  }
  if (cfg.backend != "uring") fss.push_back(posix->get());
  std::printf(
      "log_bench: %.1f s per case, data in %s, %u cpus, kSync + zstd, 256 MiB zero-filled segments\n",
      std::chrono::duration<double>(cfg.duration).count(), cfg.dir.c_str(),
      std::thread::hardware_concurrency());

  Report rep;
  PrintHeader("Disk yardstick and naive baseline (one pwrite + fdatasync per op)");
  if (cfg.Want("fsync 4K append")) rep.Add(RunFsync(cfg, false, "fsync 4K append"));
  if (cfg.Want("fsync 4K overwrite")) rep.Add(RunFsync(cfg, true, "fsync 4K overwrite"));
  if (cfg.Want("naive 200B x1")) rep.Add(RunNaive(cfg, 200, 1, "naive 200B x1"));
  if (cfg.Want("naive 200B x32")) rep.Add(RunNaive(cfg, 200, kTargetAppenders, "naive 200B x32"));

  PrintHeader("PartitionLog, blocking appenders (Append of one record per call), zero-fill");
  for (size_t bytes : {size_t{200}, size_t{1024}}) {
    for (int threads : {1, 8, 32, 128}) {
      if (!cfg.Want(BlockingName(bytes, threads))) continue;
      for (io::FileSystem* fs : fss) {
        rep.Add(RunBlocking(cfg, fs, bytes, threads, Options(Preallocate::kZeroFill),
                            BlockingName(bytes, threads)));
      }
    }
  }
  PrintHeader("PartitionLog, one producer, 1,024 AppendAsync in flight");
  for (io::FileSystem* fs : fss) {
    if (cfg.Want("async 200B 1024 in flight")) {
      rep.Add(RunAsync(cfg, fs, 200, Options(Preallocate::kZeroFill), "async 200B 1024 in flight"));
    }
    if (cfg.Want("async 200B 1024 in flight fallocate")) {
      rep.Add(RunAsync(cfg, fs, 200, Options(Preallocate::kFallocate), "async 200B 1024 in flight fallocate"));
    }
  }

  PrintHeader("PartitionLog, 32 appenders 200 B, preallocation (zero-fill is the row above)");
  for (io::FileSystem* fs : fss) {
    if (cfg.Want("append 200B x32 fallocate")) {
      rep.Add(RunBlocking(cfg, fs, 200, kTargetAppenders, Options(Preallocate::kFallocate),
                          "append 200B x32 fallocate"));
    }
    if (cfg.Want("append 200B x32 none")) {
      rep.Add(RunBlocking(cfg, fs, 200, kTargetAppenders, Options(Preallocate::kNone),
                          "append 200B x32 none"));
    }
  }
  // Diagnostics for the group-commit gap: one group in flight instead of two
  // (every appender waiting during a sync joins the next group).
  PrintHeader("Diagnostics: 32 appenders 200 B, max_inflight_groups = 1");
  for (io::FileSystem* fs : fss) {
    LogOptions o = Options(Preallocate::kZeroFill);
    o.max_inflight_groups = 1;
    if (cfg.Want("append 200B x32 inflight1")) {
      rep.Add(RunBlocking(cfg, fs, 200, kTargetAppenders, o, "append 200B x32 inflight1"));
    }
  }
  // Rolls under load: small segments so a 2 s run rolls several times; the
  // max latency shows what a roll costs the appenders waiting behind it.
  PrintHeader("Segment rolls: 32 appenders 200 B, 4 MiB segments (a roll every ~0.1-0.5 s)");
  for (io::FileSystem* fs : fss) {
    struct Variant {
      const char* name;
      Preallocate pre;
      bool prepare;
    };
    for (const Variant& v : {Variant{"roll4M zerofill prepared", Preallocate::kZeroFill, true},
                             Variant{"roll4M zerofill inline", Preallocate::kZeroFill, false},
                             Variant{"roll4M fallocate prepared", Preallocate::kFallocate, true},
                             Variant{"roll4M fallocate inline", Preallocate::kFallocate, false}}) {
      const std::string name = std::string("append 200B x32 ") + v.name;
      if (!cfg.Want(name)) continue;
      LogOptions o = Options(v.pre);
      o.segment_bytes = 4u << 20;
      o.prepare_next_segment = v.prepare;
      rep.Add(RunBlocking(cfg, fs, 200, kTargetAppenders, o, name));
    }
  }
  // ... and the async case without zstd, to show how much of its time is compression.
  PrintHeader("Diagnostics: 1,024 in flight 200 B, batch.compress = false");
  for (io::FileSystem* fs : fss) {
    LogOptions o = Options(Preallocate::kZeroFill);
    o.batch.compress = false;
    if (cfg.Want("async 200B 1024 in flight nozstd")) {
      rep.Add(RunAsync(cfg, fs, 200, o, "async 200B 1024 in flight nozstd"));
    }
  }
  PrintRatios(rep, fss);
  PrintTargets(rep, fss);
  std::error_code ec;
  std::filesystem::remove(cfg.dir, ec);
  return 0;
}

}  // namespace
}  // namespace warbler::bench

int main(int argc, char** argv) { return warbler::bench::Main(argc, argv); }
