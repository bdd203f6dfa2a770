// io layer benchmark (issue 2): the io_uring backend against the POSIX one,
// side by side, through the same FileSystem::Submit calls the engine makes.
//
//   RandomRead4K      32 random 4 KiB O_DIRECT reads over a 1 GiB file per
//                     iteration: one io_uring submission (queue depth 32) vs
//                     32 pread calls (depth 1). O_DIRECT so the page cache
//                     does not turn a disk benchmark into a memcpy benchmark.
//   DurableAppend64K  one 64 KiB append made durable per iteration: write
//                     linked to fdatasync in one submission vs pwrite + fdatasync.
//   BatchedAppend64K  16 such appends, then one fdatasync.
//   PipelinedAppend64K  the batches of BatchedAppend64K through an IoQueue with
//                     two groups in flight: batch N+1 is written while the
//                     fdatasync of batch N runs (posix's inline queue cannot
//                     overlap; it is there as the baseline).
//
// The data files live in $WARBLER_BENCH_DIR (default /var/tmp/warbler_io_bench).
// The 1 GiB read file is written once and reused while its size is right.
// Run: io_bench --benchmark_min_time=1 (see docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/limits.h"
#include "io/file_system.h"
#include "io/posix_fs.h"
#include "io/uring_fs.h"

namespace warbler::io {
namespace {

constexpr uint64_t kReadFileBytes = uint64_t{1} << 30;
constexpr size_t kReadBytes = 4096;
constexpr int kReadsPerBatch = 32;
constexpr size_t kAppendBytes = 64 * 1024;
constexpr int kAppendsPerSync = 16;
// The append file starts over (truncated, outside the timing) at this size.
constexpr uint64_t kAppendFileMax = uint64_t{256} << 20;

std::string BenchDir() {
  const char* env = std::getenv("WARBLER_BENCH_DIR");
  return env != nullptr ? env : "/var/tmp/warbler_io_bench";
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "io_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

// One file system per backend for the whole run, as a server would have.
FileSystem* Fs(Backend backend) {
  static std::unique_ptr<FileSystem> posix = NewPosixFileSystem();
  static std::unique_ptr<FileSystem> uring = [] {
    auto fs = NewUringFileSystem();
    if (!fs.ok()) Die("io_uring backend", fs.status());
    return std::move(*fs);
  }();
  return backend == Backend::kUring ? uring.get() : posix.get();
}

struct AlignedFree {
  void operator()(std::byte* p) const { std::free(p); }
};
using AlignedBytes = std::unique_ptr<std::byte, AlignedFree>;

AlignedBytes AllocAligned(size_t n) {
  return AlignedBytes(static_cast<std::byte*>(std::aligned_alloc(limits::kDirectIoAlignment, n)));
}

// Creates (or reuses) the 1 GiB read file, filled with non-zero bytes so no
// file system can answer reads from holes.
std::string EnsureReadFile() {
  FileSystem* fs = Fs(Backend::kPosix);
  const std::string dir = BenchDir();
  if (Status s = fs->CreateDirs(dir); !s.ok()) Die("create " + dir, s);
  const std::string path = dir + "/read_1g.dat";
  OpenOptions options;
  options.create = true;
  options.direct = true;
  auto file = fs->Open(path, options);
  if (!file.ok()) Die("open " + path, file.status());
  auto size = (*file)->Size();
  if (size.ok() && *size == kReadFileBytes) return path;
  std::fprintf(stderr, "io_bench: writing %s (1 GiB, once)\n", path.c_str());
  constexpr size_t kChunk = 1 << 20;
  AlignedBytes chunk = AllocAligned(kChunk);
  std::mt19937_64 rng(42);
  for (uint64_t off = 0; off < kReadFileBytes; off += kChunk) {
    for (size_t i = 0; i < kChunk; i += 8) {
      const uint64_t v = rng() | 1;
      std::memcpy(chunk.get() + i, &v, 8);
    }
    if (Status s = (*file)->WriteAt(off, {chunk.get(), kChunk}); !s.ok()) Die("fill", s);
  }
  if (Status s = (*file)->Sync(); !s.ok()) Die("sync", s);
  return path;
}

void SetPerOpCounters(benchmark::State& state, double ops_per_iteration, double bytes_per_op) {
  const double ops = static_cast<double>(state.iterations()) * ops_per_iteration;
  state.SetItemsProcessed(static_cast<int64_t>(ops));
  state.SetBytesProcessed(static_cast<int64_t>(ops * bytes_per_op));
  state.counters["IOPS"] = benchmark::Counter(ops, benchmark::Counter::kIsRate);
  // Wall time per op, shown in seconds with an SI prefix (e.g. 52.1u).
  state.counters["s_per_op"] = benchmark::Counter(ops, benchmark::Counter::kIsRate |
                                                           benchmark::Counter::kInvert);
}

void BM_RandomRead4K(benchmark::State& state, Backend backend) {
  const std::string path = EnsureReadFile();
  FileSystem* fs = Fs(backend);
  OpenOptions options;
  options.read_only = true;
  options.direct = true;
  auto file = fs->Open(path, options);
  if (!file.ok()) Die("open " + path, file.status());
  AlignedBytes buf = AllocAligned(kReadsPerBatch * kReadBytes);
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> block(0, kReadFileBytes / kReadBytes - 1);
  std::vector<IoOp> ops(kReadsPerBatch);
  for (auto _ : state) {
    for (int i = 0; i < kReadsPerBatch; ++i) {
      ops[i] = IoOp::Read(file->get(), block(rng) * kReadBytes,
                          {buf.get() + i * kReadBytes, kReadBytes});
    }
    if (Status s = fs->Submit(ops); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  SetPerOpCounters(state, kReadsPerBatch, kReadBytes);
}

// An append-only file that starts over (truncated, outside the timing) when
// it reaches kAppendFileMax; removed when done.
class AppendFile {
 public:
  AppendFile(FileSystem* fs, const std::string& name) : fs_(fs) {
    const std::string dir = BenchDir();
    if (Status s = fs->CreateDirs(dir); !s.ok()) Die("create " + dir, s);
    path_ = dir + "/" + name + "_" + std::string(fs->name()) + ".dat";
    OpenOptions options;
    options.create = true;
    options.truncate = true;
    auto file = fs->Open(path_, options);
    if (!file.ok()) Die("open " + path_, file.status());
    file_ = std::move(*file);
  }
  ~AppendFile() {
    (void)file_->Close();
    (void)fs_->Remove(path_);
  }

  // Fills `ops` with appends of `data` in kAppendBytes pieces, then a sync.
  void Fill(benchmark::State& state, const std::vector<std::byte>& data, std::vector<IoOp>& ops) {
    if (end_ + data.size() > kAppendFileMax) {
      state.PauseTiming();
      if (Status s = file_->Truncate(0); !s.ok()) Die("truncate", s);
      end_ = 0;
      state.ResumeTiming();
    }
    const size_t appends = data.size() / kAppendBytes;
    for (size_t i = 0; i < appends; ++i) {
      ops[i] = IoOp::Write(file_.get(), end_, {data.data() + i * kAppendBytes, kAppendBytes});
      end_ += kAppendBytes;
    }
    ops[appends] = IoOp::Sync(file_.get());
  }

 private:
  FileSystem* fs_;
  std::string path_;
  std::unique_ptr<File> file_;
  uint64_t end_ = 0;
};

// `appends` 64 KiB appends and one fdatasync per iteration, one Submit each.
void RunAppends(benchmark::State& state, Backend backend, int appends, const char* name) {
  FileSystem* fs = Fs(backend);
  AppendFile file(fs, name);
  std::vector<std::byte> data(kAppendBytes * appends, std::byte{0x5a});
  std::vector<IoOp> ops(appends + 1);
  for (auto _ : state) {
    file.Fill(state, data, ops);
    if (Status s = fs->Submit(ops); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  SetPerOpCounters(state, appends, kAppendBytes);
}

// Batches of kAppendsPerSync appends + fdatasync, two groups in flight.
void BM_PipelinedAppend64K(benchmark::State& state, Backend backend) {
  FileSystem* fs = Fs(backend);
  auto queue = fs->NewQueue();
  if (!queue.ok()) Die("NewQueue", queue.status());
  AppendFile file(fs, "pipelined");
  std::vector<std::byte> data(kAppendBytes * kAppendsPerSync, std::byte{0x5a});
  std::vector<IoOp> ops[2] = {std::vector<IoOp>(kAppendsPerSync + 1),
                              std::vector<IoOp>(kAppendsPerSync + 1)};
  std::optional<uint64_t> in_flight;
  int cur = 0;
  for (auto _ : state) {
    file.Fill(state, data, ops[cur]);
    auto ticket = (*queue)->Start(ops[cur]);
    if (!ticket.ok()) Die("Start", ticket.status());
    if (in_flight) {
      if (Status s = (*queue)->Wait(*in_flight); !s.ok()) Die("Wait", s);
    }
    in_flight = *ticket;
    cur ^= 1;
  }
  if (in_flight) {
    if (Status s = (*queue)->Wait(*in_flight); !s.ok()) Die("Wait", s);
  }
  SetPerOpCounters(state, kAppendsPerSync, kAppendBytes);
}

void BM_DurableAppend64K(benchmark::State& state, Backend backend) {
  RunAppends(state, backend, 1, "append1");
}

void BM_BatchedAppend64K(benchmark::State& state, Backend backend) {
  RunAppends(state, backend, kAppendsPerSync, "append16");
}

BENCHMARK_CAPTURE(BM_RandomRead4K, uring_qd32, Backend::kUring)->UseRealTime();
BENCHMARK_CAPTURE(BM_RandomRead4K, posix_pread, Backend::kPosix)->UseRealTime();
BENCHMARK_CAPTURE(BM_DurableAppend64K, uring_linked, Backend::kUring)->UseRealTime();
BENCHMARK_CAPTURE(BM_DurableAppend64K, posix, Backend::kPosix)->UseRealTime();
BENCHMARK_CAPTURE(BM_BatchedAppend64K, uring_linked, Backend::kUring)->UseRealTime();
BENCHMARK_CAPTURE(BM_BatchedAppend64K, posix, Backend::kPosix)->UseRealTime();
BENCHMARK_CAPTURE(BM_PipelinedAppend64K, uring_queue, Backend::kUring)->UseRealTime();
BENCHMARK_CAPTURE(BM_PipelinedAppend64K, posix_inline_queue, Backend::kPosix)->UseRealTime();

}  // namespace
}  // namespace warbler::io

BENCHMARK_MAIN();
