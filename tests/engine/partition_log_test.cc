#include "engine/log/partition_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "base/coding.h"
#include "base/log.h"
#include "base/rng.h"
#include "engine/layout.h"
#include "engine/log/log_tail.h"
#include "io/fault_fs.h"
#include "io/mem_fs.h"
#include "tests/engine/log_test_util.h"

namespace warbler::engine {
namespace {

using testing::Msg;
using testing::ReadAllBodies;
using testing::SmallLog;
using testing::TestUuid;

constexpr char kDir[] = "/data/p-0000";

class PartitionLogTest : public ::testing::Test {
 protected:
  std::unique_ptr<PartitionLog> OpenLog(const LogOptions& o = SmallLog()) {
    auto log = PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), o);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }
  std::unique_ptr<io::FileSystem> fs_ = io::NewMemFileSystem();
};

TEST_F(PartitionLogTest, AppendThenReadBack) {
  auto log = OpenLog();
  auto r = log->Append({Msg("a"), Msg("b")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->base_offset, 0u);
  EXPECT_EQ(r->count, 2u);
  EXPECT_GT(r->first_timestamp_us, 0u);
  r = log->Append({Msg("c")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->base_offset, 2u);
  EXPECT_EQ(log->next_offset(), 3u);
  EXPECT_EQ(ReadAllBodies(log.get()), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ReadAllBodies(log.get(), 1), (std::vector<std::string>{"b", "c"}));
  EXPECT_GE(log->metrics().syncs.load(), 2u);
}

TEST_F(PartitionLogTest, ReopenRecoversEverything) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(log->Append({Msg(std::to_string(i))}).ok());
  }
  auto log = OpenLog();
  EXPECT_EQ(log->next_offset(), 100u);
  auto bodies = ReadAllBodies(log.get());
  ASSERT_EQ(bodies.size(), 100u);
  EXPECT_EQ(bodies[99], "99");
  auto r = log->Append({Msg("after")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->base_offset, 100u);
}

TEST_F(PartitionLogTest, TimestampsNeverGoBackwards) {
  ManualClock clock(0, 5'000'000);
  LogOptions o = SmallLog();
  o.clock = &clock;
  auto log = OpenLog(o);
  auto a = log->Append({Msg("a")});
  auto b = log->Append({Msg("b")});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LE(a->last_timestamp_us, b->first_timestamp_us);
}

TEST_F(PartitionLogTest, RollsSegmentsAndReadsAcrossThem) {
  auto log = OpenLog();
  Rng rng(5);
  std::string body(2000, 'x');
  for (int i = 0; i < 1500; ++i) {
    for (char& c : body) c = static_cast<char>('a' + rng.Uniform(26));
    ASSERT_TRUE(log->Append({Msg(body + std::to_string(i))}).ok());
  }
  EXPECT_GE(log->segment_count(), 2u);
  auto bodies = ReadAllBodies(log.get(), 700);
  ASSERT_EQ(bodies.size(), 800u);
  EXPECT_EQ(bodies.back().substr(2000), "1499");
  log.reset();
  auto again = OpenLog();
  EXPECT_EQ(again->next_offset(), 1500u);
  EXPECT_EQ(ReadAllBodies(again.get(), 1499).size(), 1u);
}

TEST_F(PartitionLogTest, MissingIndexIsRebuilt) {
  LogOptions o = SmallLog();
  o.batch.compress = false;
  {
    auto log = OpenLog(o);
    for (int i = 0; i < 700; ++i) ASSERT_TRUE(log->Append({Msg(std::string(2000, 'y'))}).ok());
    ASSERT_GE(log->segment_count(), 2u);
  }
  ASSERT_TRUE(fs_->Remove(layout::IndexPath(kDir, 0)).ok());
  auto log = OpenLog(o);
  EXPECT_EQ(log->next_offset(), 700u);
  EXPECT_TRUE(*fs_->Exists(layout::IndexPath(kDir, 0)));
  EXPECT_EQ(ReadAllBodies(log.get(), 10).size(), 690u);
}

TEST_F(PartitionLogTest, TruncateSuffixAcrossSegmentsIsDurable) {
  LogOptions o = SmallLog();
  o.batch.compress = false;
  auto log = OpenLog(o);
  for (int i = 0; i < 1200; ++i) ASSERT_TRUE(log->Append({Msg(std::string(2000, 'z'))}).ok());
  ASSERT_GE(log->segment_count(), 3u);
  EXPECT_EQ(log->TruncateSuffix(5).code(), StatusCode::kOk);
  EXPECT_EQ(log->next_offset(), 5u);
  EXPECT_EQ(log->segment_count(), 1u);
  auto r = log->Append({Msg("new")});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->base_offset, 5u);
  log.reset();
  auto again = OpenLog(o);
  EXPECT_EQ(again->next_offset(), 6u);
  auto bodies = ReadAllBodies(again.get(), 4);
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[1], "new");
}

TEST_F(PartitionLogTest, TruncateRejectsCommittedAndNonBoundaryOffsets) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append({Msg("a"), Msg("b"), Msg("c")}).ok());  // one batch: 0..2
  ASSERT_TRUE(log->Append({Msg("d")}).ok());
  EXPECT_EQ(log->TruncateSuffix(1).code(), StatusCode::kInvalidArgument);  // inside a batch
  EXPECT_EQ(log->TruncateSuffix(9).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(log->SetCommitted(4).ok());
  EXPECT_EQ(log->TruncateSuffix(3).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(log->TruncateSuffix(4).ok());
}

TEST_F(PartitionLogTest, CommittedMarkIsDurableAndLimitsReads) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(log->Append({Msg(std::to_string(i))}).ok());
    ASSERT_TRUE(log->SetCommitted(4).ok());
    EXPECT_EQ(log->SetCommitted(3).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(log->SetCommitted(11).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(log->SetCommitted(6).ok());
  }
  auto log = OpenLog();
  EXPECT_EQ(log->committed(), 6u);
  ReadOptions ro;
  ro.committed_only = true;
  auto batches = log->Read(0, ro);
  ASSERT_TRUE(batches.ok());
  uint64_t last = 0;
  for (auto& b : *batches) last = b.header.next_offset();
  EXPECT_EQ(last, 6u);
}

TEST_F(PartitionLogTest, AsyncAppendsAreAcknowledgedInOrder) {
  auto log = OpenLog();
  std::mutex mu;
  std::vector<uint64_t> acked;
  std::atomic<int> done{0};
  for (int i = 0; i < 2000; ++i) {
    Status s = log->AppendAsync({Msg(std::to_string(i))}, [&](const Status& st, const AppendResult& r) {
      ASSERT_TRUE(st.ok());
      std::lock_guard lock(mu);
      acked.push_back(r.base_offset);
      done.fetch_add(1);
    });
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
  while (done.load() < 2000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  for (size_t i = 0; i < acked.size(); ++i) ASSERT_EQ(acked[i], i);
  EXPECT_LT(log->metrics().groups.load(), 2000u);  // group commit coalesced them
}

TEST_F(PartitionLogTest, FullQueueIsResourceExhausted) {
  LogOptions o = SmallLog();
  o.queue_capacity = 1;
  o.linger_us = 20000;
  auto log = OpenLog(o);
  std::atomic<int> acks{0};
  int rejected = 0;
  for (int i = 0; i < 200; ++i) {
    Status s = log->AppendAsync({Msg("x")}, [&](const Status&, const AppendResult&) { acks++; });
    if (s.code() == StatusCode::kResourceExhausted) ++rejected;
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(log->metrics().queue_full.load(), 0u);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(acks.load() + rejected, 200);
}

TEST_F(PartitionLogTest, InvalidAndClosedAppendsFailClearly) {
  auto log = OpenLog();
  Record big = Msg(std::string((1 << 20) + 1, 'b'));
  EXPECT_EQ(log->Append({big}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(log->Append({}).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(log->Append({Msg("late")}).status().code(), StatusCode::kUnavailable);
}

TEST_F(PartitionLogTest, IntervalAndNoneModesAcknowledgeAndPersistOnClose) {
  for (Durability d : {Durability::kInterval, Durability::kNone}) {
    fs_ = io::NewMemFileSystem();
    LogOptions o = SmallLog();
    o.durability = d;
    o.sync_interval_ms = 5;
    {
      auto log = OpenLog(o);
      for (int i = 0; i < 50; ++i) ASSERT_TRUE(log->Append({Msg("m")}).ok());
    }
    auto log = OpenLog(o);
    EXPECT_EQ(log->next_offset(), 50u);
  }
}

TEST_F(PartitionLogTest, TailWaitSeesNewAppends) {
  auto log = OpenLog();
  EXPECT_FALSE(log->WaitForOffset(0, 1));
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(log->Append({Msg("late")}).ok());
  });
  EXPECT_TRUE(log->WaitForOffset(0, 5000));
  t.join();
}

TEST_F(PartitionLogTest, TailFollowsAppendsInOrder) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append({Msg("0"), Msg("1")}).ok());
  LogTail tail(log.get(), 1);
  std::thread producer([&] {
    for (int i = 2; i < 50; ++i) ASSERT_TRUE(log->Append({Msg(std::to_string(i))}).ok());
  });
  std::vector<std::string> seen;
  while (seen.size() < 49) {
    auto batches = tail.Next(5000);
    ASSERT_TRUE(batches.ok());
    ASSERT_FALSE(batches->empty()) << "tail timed out after " << seen.size();
    for (auto& b : *batches) {
      for (auto& r : b.records) {
        if (r.offset >= 1) seen.emplace_back(r.body);
      }
    }
  }
  producer.join();
  for (size_t i = 0; i < seen.size(); ++i) ASSERT_EQ(seen[i], std::to_string(i + 1));
  EXPECT_EQ(tail.position(), 50u);
  auto none = tail.Next(1);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(PartitionLogTest, SegmentsRollByAge) {
  ManualClock clock(0, 1'800'000'000'000'000);
  LogOptions o = SmallLog();
  o.clock = &clock;
  o.segment_age_ms = 1000;
  auto log = OpenLog(o);
  ASSERT_TRUE(log->Append({Msg("young")}).ok());
  EXPECT_EQ(log->segment_count(), 1u);
  clock.AdvanceMillis(1500);
  ASSERT_TRUE(log->Append({Msg("old enough")}).ok());
  EXPECT_EQ(log->segment_count(), 2u);
  EXPECT_EQ(ReadAllBodies(log.get()), (std::vector<std::string>{"young", "old enough"}));
}

TEST_F(PartitionLogTest, ConcurrentAppendersAndReaders) {
  auto log = OpenLog();
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      uint64_t end = log->next_offset();
      auto bodies = ReadAllBodies(log.get());
      ASSERT_GE(bodies.size(), end);  // never fewer than acknowledged before the read
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&] {
      for (int i = 0; i < 200; ++i) ASSERT_TRUE(log->Append({Msg("w")}).ok());
    });
  }
  for (auto& w : writers) w.join();
  stop = true;
  reader.join();
  EXPECT_EQ(log->next_offset(), 800u);
}

// ---- failures, on the fault-injecting backend ----

class PartitionLogFaultTest : public ::testing::Test {
 protected:
  PartitionLogFaultTest() : fault_(new io::FaultFileSystem(io::NewMemFileSystem(), 1)), fs_(fault_) {}
  std::unique_ptr<PartitionLog> OpenLog(const LogOptions& o = SmallLog()) {
    auto log = PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), o);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(*log) : nullptr;
  }
  io::FaultFileSystem* fault_;
  std::unique_ptr<io::FileSystem> fs_;
};

TEST_F(PartitionLogFaultTest, EioAndEnospcFailOnlyAffectedAppendsAndResume) {
  auto log = OpenLog();
  ASSERT_TRUE(log->Append({Msg("before")}).ok());
  for (io::FaultError err : {io::FaultError::kIOError, io::FaultError::kNoSpace}) {
    io::FaultRule rule;
    rule.op = io::FaultOp::kWrite;
    rule.path_filter = ".log";
    rule.trigger = io::FaultTrigger::kNth;
    rule.error = err;
    rule.write_prefix_bytes = 70;  // a torn write: part of the batch lands
    uint64_t id = fault_->AddRule(rule);
    auto failed = log->Append({Msg("doomed")});
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(),
              err == io::FaultError::kIOError ? StatusCode::kIOError : StatusCode::kNoSpace);
    fault_->RemoveRule(id);
    EXPECT_EQ(ReadAllBodies(log.get()).front(), "before");  // reads keep working
  }
  io::FaultRule sync_rule;
  sync_rule.op = io::FaultOp::kSync;
  sync_rule.path_filter = ".log";
  uint64_t id = fault_->AddRule(sync_rule);
  EXPECT_EQ(log->Append({Msg("sync fails")}).status().code(), StatusCode::kIOError);
  fault_->RemoveRule(id);
  auto ok = log->Append({Msg("after")});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->base_offset, 1u);  // failed appends left no hole
  EXPECT_EQ(ReadAllBodies(log.get()), (std::vector<std::string>{"before", "after"}));
  log.reset();
  ASSERT_TRUE(fault_->Crash(io::CrashMode::kDropUnsynced, 3).ok());
  auto again = OpenLog();
  EXPECT_EQ(ReadAllBodies(again.get()), (std::vector<std::string>{"before", "after"}));
}

TEST_F(PartitionLogFaultTest, DiskFullFailsAppendsThenResumes) {
  LogOptions o = SmallLog();
  o.batch.compress = false;
  o.preallocate = Preallocate::kFallocate;
  auto log = OpenLog(o);
  std::string body(4000, 'q');
  int ok = 0;
  fault_->SetSpaceBudget(300000);  // then writes fail NoSpace part-way (a torn write)
  Status last;
  for (int i = 0; i < 400 && last.ok(); ++i) {
    auto r = log->Append({Msg(body)});
    if (r.ok()) ++ok;
    last = r.status();
  }
  EXPECT_EQ(last.code(), StatusCode::kNoSpace) << last.ToString();
  EXPECT_GT(ok, 0);
  fault_->ClearSpaceBudget();
  auto r = log->Append({Msg("resumed")});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->base_offset, static_cast<uint64_t>(ok));
  EXPECT_EQ(ReadAllBodies(log.get()).size(), static_cast<size_t>(ok) + 1);
}

TEST_F(PartitionLogFaultTest, TornTailIsDroppedAndLogged) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->Append({Msg("kept")}).ok());
  }
  // Append raw garbage past the end, as a torn unsynced write would leave.
  {
    io::OpenOptions oo;
    auto f = fs_->Open(layout::SegmentPath(kDir, 0), oo);
    ASSERT_TRUE(f.ok());
    uint64_t size = *(*f)->Size();
    std::string junk = "\x7c\xb4\x01garbage-half-batch";
    ASSERT_TRUE((*f)->WriteAt(size, AsBytes(junk)).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  static std::vector<std::string> lines;
  lines.clear();
  SetLogSink([](std::string_view l) { lines.emplace_back(l); });
  auto log = OpenLog();
  SetLogSink(nullptr);
  EXPECT_EQ(log->next_offset(), 20u);
  bool logged = false;
  for (auto& l : lines) logged |= l.find("torn_tail_dropped") != std::string::npos;
  EXPECT_TRUE(logged);
  ASSERT_TRUE(log->Append({Msg("next")}).ok());
  EXPECT_EQ(ReadAllBodies(log.get()).back(), "next");
}

// Flips one byte in the first batch of segment `base`.
void DamageFirstBatch(io::FileSystem* fs, uint64_t base) {
  io::OpenOptions oo;
  auto f = fs->Open(layout::SegmentPath(kDir, base), oo);
  ASSERT_TRUE(f.ok());
  std::byte b[1];
  ASSERT_EQ(*(*f)->ReadAt(100, b), 1u);
  b[0] ^= std::byte{0xff};
  ASSERT_TRUE((*f)->WriteAt(100, b).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

TEST_F(PartitionLogFaultTest, DamageBeforeValidBatchesIsCorruptionNotTruncation) {
  {
    auto log = OpenLog();
    for (int i = 0; i < 20; ++i) ASSERT_TRUE(log->Append({Msg("v" + std::to_string(i))}).ok());
  }
  DamageFirstBatch(fs_.get(), 0);
  auto strict = PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), SmallLog());
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(strict.status().code(), StatusCode::kCorruption);
  EXPECT_NE(strict.status().message().find("00000000000000000000.log"), std::string::npos);
  EXPECT_NE(strict.status().message().find("position 64"), std::string::npos);

  LogOptions ro = SmallLog();
  ro.recovery = RecoveryMode::kReadOnly;
  auto read_only = PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), ro);
  ASSERT_TRUE(read_only.ok()) << read_only.status().ToString();
  EXPECT_EQ((*read_only)->Append({Msg("x")}).status().code(), StatusCode::kFailedPrecondition);
  read_only->reset();

  // Nothing was changed by the failed or read-only opens: strict still fails.
  EXPECT_FALSE(PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), SmallLog()).ok());

  LogOptions q = SmallLog();
  q.recovery = RecoveryMode::kQuarantine;
  auto quarantined = PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), q);
  ASSERT_TRUE(quarantined.ok()) << quarantined.status().ToString();
  auto names = fs_->List(layout::QuarantineDir(kDir));
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 1u);
}

TEST_F(PartitionLogFaultTest, SegmentOfAnotherStoreIsRejected) {
  { auto log = OpenLog(); ASSERT_TRUE(log->Append({Msg("a")}).ok()); }
  StoreUuid other = TestUuid();
  other[0] ^= 1;
  auto log = PartitionLog::Open(fs_.get(), kDir, 0, other, SmallLog());
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("another store"), std::string::npos);
}

TEST_F(PartitionLogFaultTest, UnknownBatchVersionIsNotSupportedAndUntouched) {
  { auto log = OpenLog(); ASSERT_TRUE(log->Append({Msg("a")}).ok()); }
  io::OpenOptions oo;
  auto f = fs_->Open(layout::SegmentPath(kDir, 0), oo);
  std::byte v[1] = {std::byte{9}};
  ASSERT_TRUE((*f)->WriteAt(64 + format::kBhVersion, v).ok());
  auto log = PartitionLog::Open(fs_.get(), kDir, 0, TestUuid(), SmallLog());
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), StatusCode::kNotSupported);
}

}  // namespace
}  // namespace warbler::engine
