// Crash harness on the fault-injecting file system.
//
// Each seed: open a partition log with seeded options, run concurrent
// appenders, crash the "machine" (drop unsynced data, or keep a seeded prefix
// of it torn at a random byte) at a seeded moment, reopen and check:
//   - every acknowledged append is present, at its offset, byte-exact;
//   - offsets are contiguous from the log start to its end;
//   - every batch in the log decodes (nothing half-visible);
// then append and crash again, several cycles per seed.
//
// WARBLER_CRASH_SEEDS=N runs N seeds (default 200; the `slow` test runs 3000).
// WARBLER_CRASH_SEED=S runs seed S only; WARBLER_CRASH_STATS=1 prints per-seed counts. The seed fixes every random choice
// (options, sizes, crash point, crash mode, torn byte); thread interleaving is
// the one thing it cannot pin, so a replay re-runs the same scenario.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "base/log.h"
#include "base/rng.h"
#include "engine/log/partition_log.h"
#include "io/fault_fs.h"
#include "io/mem_fs.h"
#include "tests/engine/log_test_util.h"

namespace warbler::engine {
namespace {

constexpr char kDir[] = "/crash/p-0000";

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

LogOptions SeededOptions(Rng& rng) {
  LogOptions o = testing::SmallLog();
  const Preallocate pre[] = {Preallocate::kNone, Preallocate::kFallocate, Preallocate::kZeroFill};
  o.preallocate = pre[rng.Uniform(3)];
  // Mostly with the next segment prepared in the background, so crashes land
  // during preparation and during the install at the roll too.
  o.prepare_next_segment = !rng.OneIn(4);
  o.max_inflight_groups = 1 + rng.Uniform(3);
  o.batch_max_records = 1 + rng.Uniform(64);
  o.batch.compress = rng.OneIn(2);
  o.index_interval_bytes = 4096;
  return o;
}

struct Acked {
  std::mutex mu;
  std::map<uint64_t, std::string> bodies;  // offset -> body
};

// Appends from `threads` threads until `stop`; records every acknowledgement.
void RunAppenders(PartitionLog* log, uint64_t seed, int threads, std::atomic<bool>* stop,
                  Acked* acked) {
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([=] {
      Rng rng(seed * 131 + t);
      for (uint64_t i = 0; !stop->load(); ++i) {
        std::vector<Record> batch;
        const size_t n = 1 + rng.Uniform(3);
        for (size_t k = 0; k < n; ++k) {
          std::string body = "t" + std::to_string(t) + "-" + std::to_string(i) + "-" +
                             std::to_string(k) + ":" + std::string(rng.Uniform(3000), 'a' + t);
          batch.push_back(testing::Msg(body));
        }
        std::vector<std::string> bodies;
        for (auto& r : batch) bodies.push_back(r.body);
        auto r = log->Append(std::move(batch));
        if (!r.ok()) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
          continue;
        }
        std::lock_guard lock(acked->mu);
        for (size_t k = 0; k < bodies.size(); ++k) acked->bodies[r->base_offset + k] = bodies[k];
      }
    });
  }
  for (auto& w : workers) w.join();
}

// Reads the whole log and checks it against the acknowledged set.
void Verify(PartitionLog* log, const Acked& acked, uint64_t seed, int cycle) {
  SCOPED_TRACE("seed " + std::to_string(seed) + " cycle " + std::to_string(cycle));
  uint64_t next = log->start_offset();
  std::map<uint64_t, std::string> present;
  while (next < log->next_offset()) {
    auto batches = log->Read(next);
    ASSERT_TRUE(batches.ok()) << batches.status().ToString();
    ASSERT_FALSE(batches->empty());
    for (const auto& b : *batches) {
      ASSERT_EQ(b.header.base_offset, next) << "offsets not contiguous";
      for (const auto& r : b.records) present[r.offset] = std::string(r.body);
      next = b.header.next_offset();
    }
  }
  for (const auto& [offset, body] : acked.bodies) {
    auto it = present.find(offset);
    ASSERT_NE(it, present.end()) << "acknowledged offset " << offset << " lost";
    ASSERT_EQ(it->second, body) << "acknowledged offset " << offset << " changed";
  }
}

void RunSeed(uint64_t seed) {
  Rng rng(seed);
  auto* fault = new io::FaultFileSystem(io::NewMemFileSystem(), seed);
  std::unique_ptr<io::FileSystem> fs(fault);
  // Half the seeds pipeline as on io_uring (groups overlap: writes past a
  // group still in flight, encoding beside it), half run each group inline
  // as on POSIX. Drawn apart from `rng`, so the other choices stay as they were.
  Rng pipelining(seed ^ 0x6f7665726c6170);
  fault->set_overlapping_queues(pipelining.OneIn(2));
  // ... and one in three encodes every group that overlaps on the encoder
  // thread (not only groups of 64 KiB and more), beside the completions.
  const bool offload_all = pipelining.OneIn(3);
  LogOptions options = SeededOptions(rng);
  if (offload_all) options.encode_offload_min_bytes = 0;
  Acked acked;
  const int cycles = 1 + static_cast<int>(rng.Uniform(3));
  for (int cycle = 0; cycle < cycles; ++cycle) {
    auto log = PartitionLog::Open(fs.get(), kDir, 0, testing::TestUuid(), options);
    ASSERT_TRUE(log.ok()) << "seed " << seed << " cycle " << cycle << ": "
                          << log.status().ToString();
    Verify(log->get(), acked, seed, cycle);
    if (::testing::Test::HasFatalFailure()) return;
    std::atomic<bool> stop{false};
    const int threads = 1 + static_cast<int>(rng.Uniform(4));
    // Mostly early crashes; one seed in four runs long enough to roll segments.
    const size_t crash_after = rng.OneIn(4) ? rng.Uniform(1500) : rng.Uniform(100);
    const auto mode = rng.OneIn(2) ? io::CrashMode::kDropUnsynced : io::CrashMode::kKeepRandomPrefix;
    const uint64_t crash_seed = rng.Next();
    std::thread appenders(RunAppenders, log->get(), seed * 7 + cycle, threads, &stop, &acked);
    for (int spin = 0; spin < 20000; ++spin) {
      {
        std::lock_guard lock(acked.mu);
        if (acked.bodies.size() >= crash_after) break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    ASSERT_TRUE(fault->Crash(mode, crash_seed).ok());
    stop = true;
    appenders.join();
    log->reset();  // the dead process's handles are gone
  }
  auto log = PartitionLog::Open(fs.get(), kDir, 0, testing::TestUuid(), options);
  ASSERT_TRUE(log.ok()) << "seed " << seed << " final: " << log.status().ToString();
  if (std::getenv("WARBLER_CRASH_STATS")) {
    std::printf("seed %llu cycles %d acked %zu end %llu crashes %llu\n", (unsigned long long)seed, cycles,
                acked.bodies.size(), (unsigned long long)(*log)->next_offset(),
                (unsigned long long)fault->counters().crashes);
  }
  Verify(log->get(), acked, seed, cycles);
}

TEST(FaultCrashTest, AcknowledgedAppendsSurviveCrashes) {
  SetLogLevel(LogLevel::kError);
  const uint64_t only = EnvOr("WARBLER_CRASH_SEED", UINT64_MAX);
  const uint64_t seeds = only != UINT64_MAX ? 1 : EnvOr("WARBLER_CRASH_SEEDS", 200);
  for (uint64_t i = 0; i < seeds; ++i) {
    const uint64_t seed = only != UINT64_MAX ? only : i + 1;
    RunSeed(seed);
    if (HasFatalFailure()) {
      ADD_FAILURE() << "replay with WARBLER_CRASH_SEED=" << seed;
      return;
    }
  }
  SetLogLevel(LogLevel::kInfo);
}

}  // namespace
}  // namespace warbler::engine
