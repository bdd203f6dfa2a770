// sync_probe: what one durable 4 KiB overwrite costs by each write path,
// to choose how the log makes a group durable (docs/benchmarks.md,
// "What a durable write costs by path").
//
// One thread, one write in flight, 4 KiB at successive offsets of a 64 MiB
// file that was zero-filled and synced first (as the log's segments are), so
// every write overwrites written blocks. Paths:
//   posix pwrite + fdatasync        the naive baseline's calls
//   uring write + fdatasync         the log's path: a buffered write and a
//                                   linked fdatasync in one submission
//   uring O_DIRECT write + fdatasync
//   uring O_DIRECT|O_DSYNC write    one request; no page cache, no separate sync
//   posix O_DIRECT|O_DSYNC pwrite
// Per path: ops/s, latency p50/p99, the process's CPU per op and context
// switches per op (getrusage: io_uring's io-wq workers are threads of the
// process), and the whole machine's busy CPU and context switches per op
// (/proc/stat: also counts the kernel workers that complete direct I/O and
// the interrupts). Paths interleave, repeated --reps times.
//
// usage: sync_probe [--dir PATH] [--ops N] [--reps N]
//
// liburing is included here directly (scripts/check_layers allows this one
// file): the point is to compare raw kernel paths, not io/'s backends.
#include <fcntl.h>
#include <liburing.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench/process_cpu.h"

namespace {

using warbler::bench::ProcessUsage;
using warbler::bench::SampleProcess;

constexpr size_t kBlock = 4096;
constexpr size_t kFileBytes = 64u << 20;

[[noreturn]] void Die(const std::string& what, int err) {
  std::fprintf(stderr, "sync_probe: %s: %s\n", what.c_str(), std::strerror(err));
  std::exit(1);
}

uint64_t NowNs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

struct Usage {
  double cpu_us = 0;   // this process, user + system
  long switches = 0;   // this process, voluntary + involuntary
  double busy_us = 0;  // the machine: every CPU's non-idle time
  long machine_switches = 0;
};

Usage Sample() {
  Usage u;
  const ProcessUsage self = SampleProcess();
  u.cpu_us = self.cpu_us;
  u.switches = self.switches;
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) Die("open /proc/stat", errno);
  char line[512];
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long long v[8] = {};
    long c = 0;
    if (std::sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                    &v[4], &v[5], &v[6], &v[7]) == 8) {
      // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
      const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
      u.busy_us = static_cast<double>(busy) * 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    } else if (std::sscanf(line, "ctxt %ld", &c) == 1) {
      u.machine_switches = c;
    }
  }
  std::fclose(f);
  return u;
}

enum class Path { kPosixSync, kUringSync, kUringDirectSync, kUringDirectDsync, kPosixDirectDsync };

struct Case {
  const char* name;
  Path path;
  int open_flags;
};

constexpr Case kCases[] = {
    {"posix pwrite + fdatasync", Path::kPosixSync, 0},
    {"uring write + fdatasync", Path::kUringSync, 0},
    {"uring O_DIRECT write + fdatasync", Path::kUringDirectSync, O_DIRECT},
    {"uring O_DIRECT|O_DSYNC write", Path::kUringDirectDsync, O_DIRECT | O_DSYNC},
    {"posix O_DIRECT|O_DSYNC pwrite", Path::kPosixDirectDsync, O_DIRECT | O_DSYNC},
};

struct Result {
  double ops_s, p50_us, p99_us, cpu_us, switches, busy_us, machine_switches;
};

Result Run(const Case& c, const std::string& file, int ops, io_uring* ring, const char* buf) {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC | c.open_flags);
  if (fd < 0) Die("open " + file, errno);
  std::vector<uint64_t> lat;
  lat.reserve(static_cast<size_t>(ops));
  const Usage u0 = Sample();
  const uint64_t t0 = NowNs();
  for (int i = 0; i < ops; ++i) {
    const off_t off = static_cast<off_t>((static_cast<size_t>(i) * kBlock) % kFileBytes);
    const uint64_t a = NowNs();
    if (c.path == Path::kPosixSync || c.path == Path::kPosixDirectDsync) {
      if (::pwrite(fd, buf, kBlock, off) != static_cast<ssize_t>(kBlock)) Die("pwrite", errno);
      if (c.path == Path::kPosixSync && ::fdatasync(fd) != 0) Die("fdatasync", errno);
    } else {
      io_uring_sqe* sqe = io_uring_get_sqe(ring);
      io_uring_prep_write(sqe, fd, buf, kBlock, static_cast<uint64_t>(off));
      unsigned want = 1;
      if (c.path != Path::kUringDirectDsync) {
        sqe->flags |= IOSQE_IO_LINK;
        sqe = io_uring_get_sqe(ring);
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        want = 2;
      }
      if (int r = io_uring_submit_and_wait(ring, want); r < 0) Die("io_uring_submit_and_wait", -r);
      for (unsigned k = 0; k < want; ++k) {
        io_uring_cqe* cqe = nullptr;
        if (int r = io_uring_wait_cqe(ring, &cqe); r < 0) Die("io_uring_wait_cqe", -r);
        if (cqe->res < 0) Die(c.name, -cqe->res);
        io_uring_cqe_seen(ring, cqe);
      }
    }
    lat.push_back(NowNs() - a);
  }
  const double secs = static_cast<double>(NowNs() - t0) / 1e9;
  const Usage u1 = Sample();
  ::close(fd);
  std::sort(lat.begin(), lat.end());
  const double n = ops;
  return {n / secs,
          static_cast<double>(lat[lat.size() / 2]) / 1e3,
          static_cast<double>(lat[lat.size() * 99 / 100]) / 1e3,
          (u1.cpu_us - u0.cpu_us) / n,
          static_cast<double>(u1.switches - u0.switches) / n,
          (u1.busy_us - u0.busy_us) / n,
          static_cast<double>(u1.machine_switches - u0.machine_switches) / n};
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir =
      std::getenv("WARBLER_BENCH_DIR") != nullptr ? std::getenv("WARBLER_BENCH_DIR") : "/var/tmp";
  int ops = 5000, reps = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool more = i + 1 < argc;
    if (a == "--dir" && more) {
      dir = argv[++i];
    } else if (a == "--ops" && more) {
      ops = std::max(100, std::atoi(argv[++i]));
    } else if (a == "--reps" && more) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else {
      std::fprintf(stderr, "usage: sync_probe [--dir PATH] [--ops N] [--reps N]\n");
      return 2;
    }
  }
  const std::string file = dir + "/sync_probe." + std::to_string(::getpid());
  {  // written and synced first: every probe write overwrites written blocks
    const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) Die("create " + file, errno);
    std::vector<char> zeros(1u << 20, 0);
    for (size_t off = 0; off < kFileBytes; off += zeros.size()) {
      if (::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) !=
          static_cast<ssize_t>(zeros.size())) {
        Die("zero-fill", errno);
      }
    }
    if (::fdatasync(fd) != 0) Die("fdatasync", errno);
    ::close(fd);
  }
  void* mem = nullptr;
  if (int r = ::posix_memalign(&mem, kBlock, kBlock); r != 0) Die("posix_memalign", r);
  std::unique_ptr<char, decltype(&std::free)> buf(static_cast<char*>(mem), &std::free);
  std::memset(buf.get(), 'x', kBlock);
  io_uring ring;
  if (int r = io_uring_queue_init(8, &ring, 0); r < 0) Die("io_uring_queue_init", -r);

  std::printf(
      "sync_probe: %d durable 4 KiB overwrites per path, one in flight, %d interleaved reps, file "
      "in %s\n",
      ops, reps, dir.c_str());
  std::printf("%-34s %9s %9s %9s %12s %10s %14s %12s\n", "path", "ops/s", "p50 us", "p99 us",
              "cpu us/op", "csw/op", "machine us/op", "machine csw");
  std::vector<std::vector<Result>> all(std::size(kCases));
  for (int r = 0; r < reps; ++r) {
    for (size_t k = 0; k < std::size(kCases); ++k)
      all[k].push_back(Run(kCases[k], file, ops, &ring, buf.get()));
  }
  // Medians over the reps, field by field.
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  for (size_t k = 0; k < std::size(kCases); ++k) {
    auto field = [&](double Result::*f) {
      std::vector<double> v;
      for (const Result& x : all[k]) v.push_back(x.*f);
      return median(v);
    };
    std::printf("%-34s %9.0f %9.1f %9.1f %12.1f %10.1f %14.1f %12.1f\n", kCases[k].name,
                field(&Result::ops_s), field(&Result::p50_us), field(&Result::p99_us),
                field(&Result::cpu_us), field(&Result::switches), field(&Result::busy_us),
                field(&Result::machine_switches));
  }
  std::printf(
      "(medians of %d reps; machine columns count every CPU and thread, this probe's included)\n",
      reps);
  io_uring_queue_exit(&ring);
  ::unlink(file.c_str());
  return 0;
}
