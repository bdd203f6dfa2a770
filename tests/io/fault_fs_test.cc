// FaultFileSystem: crash simulation and error injection, over mem and posix.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "tests/io/fs_test_util.h"

namespace warbler::io::testing {
namespace {

template <typename B>
class FaultFsTest : public FsTest<B> {
 protected:
  FaultFileSystem& fault() { return *this->env_.fault; }

  // Creates `name` durably (file synced, directory synced) with `content`.
  void MakeDurable(const std::string& name, std::string_view content) {
    ASSERT_TRUE(WritePath(this->fs_, this->P(name), content).ok());
    ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  }

  std::vector<std::string> Names() {
    auto names = this->fs_->List(this->env_.root);
    return names.ok() ? *names : std::vector<std::string>{"<error>"};
  }

  // A scenario whose crash outcome depends on the seed: 20 unsynced appends
  // of 50 distinct bytes, then a kKeepRandomPrefix crash.
  static std::string TornOutcome(uint64_t seed) {
    FsEnv env;
    if (!B::SetUp(&env).ok()) return "<setup failed>";
    const std::string path = env.root + "/log";
    {
      auto f = env.fs->Open(path, {.create = true});
      if (!f.ok() || !env.fs->SyncDir(env.root).ok()) return "<open failed>";
      for (int i = 0; i < 20; ++i) {
        if (!(*f)->WriteAt(i * 50, Bytes(std::string(50, static_cast<char>('A' + i)))).ok()) {
          return "<write failed>";
        }
      }
      if (!env.fault->Crash(CrashMode::kKeepRandomPrefix, seed).ok()) return "<crash failed>";
    }
    return ReadPath(env.fs.get(), path);
  }
};

using FaultBackends = ::testing::Types<FaultMemBackend, FaultPosixBackend>;
TYPED_TEST_SUITE(FaultFsTest, FaultBackends, BackendNames);

// ---- crash: data ----

TYPED_TEST(FaultFsTest, CrashDropsUnsyncedWritesAndKeepsSyncedOnes) {
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("synced")).ok());
  ASSERT_TRUE((*f)->Sync().ok());
  ASSERT_TRUE((*f)->WriteAt(6, Bytes("-appended")).ok());
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("SY")).ok());  // overwrite inside synced bytes
  EXPECT_EQ(ReadAll(f->get()), "SYnced-appended");
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "synced");
  EXPECT_EQ(this->fault().counters().crashes, 1u);
}

TYPED_TEST(FaultFsTest, FilesOpenedBeforeACrashFailWithFailedPrecondition) {
  this->MakeDurable("f", "x");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  std::vector<std::byte> buf(1);
  EXPECT_EQ((*f)->ReadAt(0, buf).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*f)->WriteAt(0, Bytes("y")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*f)->Sync().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*f)->Size().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ((*f)->Truncate(0).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*f)->Close().ok());
  auto reopened = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(ReadAll(reopened->get()), "x");
}

TYPED_TEST(FaultFsTest, TruncateAndAllocateAreNotDurableUntilSync) {
  this->MakeDurable("f", "0123456789");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Truncate(3).ok());
  ASSERT_TRUE((*f)->Allocate(0, 100, /*keep_size=*/false).ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "0123456789");

  auto g = this->fs_->Open(this->P("f"), {.truncate = true});  // truncate on open: same rule
  ASSERT_TRUE(g.ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "0123456789");

  auto h = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE((*h)->Truncate(4).ok());
  ASSERT_TRUE((*h)->Sync().ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "0123");
}

TYPED_TEST(FaultFsTest, OnlyWritesCompletedBeforeTheSyncBecomeDurable) {
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  auto a = Bytes("aaaa"), b = Bytes("bbbb");
  std::vector<IoOp> ops = {IoOp::Write(f->get(), 0, a), IoOp::Sync(f->get()),
                           IoOp::Write(f->get(), 4, b)};
  ASSERT_TRUE(this->fs_->Submit(ops).ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "aaaa");
}

TYPED_TEST(FaultFsTest, FailedSyncLeavesWritesUnsynced) {
  this->MakeDurable("f", "old");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("new")).ok());
  this->fault().AddRule({.op = FaultOp::kSync});
  EXPECT_EQ((*f)->Sync().code(), StatusCode::kIOError);
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "old");
}

// set_overlapping_queues: groups run off the caller's thread, in the order
// started, each reported (injected errors included) by its own Wait.
TYPED_TEST(FaultFsTest, OverlappingQueueRunsGroupsInOrderAndReportsEach) {
  auto plain = this->fs_->NewQueue();
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)->Overlaps());
  this->fault().set_overlapping_queues(true);
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  const auto a = Bytes("aaaa"), b = Bytes("bbbb"), c = Bytes("cccc");
  std::vector<IoOp> g1 = {IoOp::Write(f->get(), 0, a), IoOp::Sync(f->get())};
  std::vector<IoOp> g2 = {IoOp::Write(f->get(), 4, b), IoOp::Sync(f->get())};
  std::vector<IoOp> g3 = {IoOp::Write(f->get(), 8, c), IoOp::Sync(f->get())};
  {
    auto q = this->fs_->NewQueue();
    ASSERT_TRUE(q.ok());
    EXPECT_TRUE((*q)->Overlaps());
    EXPECT_FALSE((*plain)->Overlaps());  // made before: keeps running groups inside Start
    auto t1 = (*q)->Start(g1);
    auto t2 = (*q)->Start(g2);
    ASSERT_TRUE(t1.ok() && t2.ok());
    EXPECT_TRUE((*q)->Wait(*t2).ok());  // any order
    EXPECT_TRUE((*q)->Wait(*t1).ok());
    EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "aaaabbbb");
    EXPECT_EQ((*q)->Wait(*t1).code(), StatusCode::kInvalidArgument);  // waited for twice
    EXPECT_EQ((*q)->Wait(*t2 + 100).code(), StatusCode::kInvalidArgument);  // never started

    this->fault().AddRule({.op = FaultOp::kSync});
    auto t3 = (*q)->Start(g3);
    ASSERT_TRUE(t3.ok());
    EXPECT_EQ((*q)->Wait(*t3).code(), StatusCode::kIOError);
    EXPECT_TRUE(g3[0].status.ok());
    EXPECT_EQ(g3[1].status.code(), StatusCode::kIOError);
    // A group never waited for still runs before the queue is gone.
    g1 = {IoOp::Write(f->get(), 12, a), IoOp::Sync(f->get())};
    ASSERT_TRUE((*q)->Start(g1).ok());
  }
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "aaaabbbbccccaaaa");
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "aaaabbbbccccaaaa");  // the last group's sync covered c
}

// A file system whose Submit blocks until the test opens the gate (and
// does nothing else): a group on NewWorkerIoQueue over it stays in flight.
class GateFs final : public FileSystem {
 public:
  void Release() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  std::string_view name() const override { return "gate"; }
  Result<std::unique_ptr<File>> Open(const std::string&, const OpenOptions&) override { return Unsupported(); }
  Status Submit(std::span<IoOp>) override {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return open_; });
    return Status::Ok();
  }
  Status CreateDirs(const std::string&) override { return Unsupported(); }
  Status SyncDir(const std::string&) override { return Unsupported(); }
  Status Rename(const std::string&, const std::string&) override { return Unsupported(); }
  Status Remove(const std::string&) override { return Unsupported(); }
  Status RemoveDir(const std::string&) override { return Unsupported(); }
  Result<std::vector<std::string>> List(const std::string&) override { return Unsupported(); }
  Result<bool> Exists(const std::string&) override { return Unsupported(); }
  Result<std::unique_ptr<DirLock>> LockDir(const std::string&) override { return Unsupported(); }

 private:
  static Status Unsupported() { return Status::NotSupported("gate file system"); }
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// The worker queue's WaitOrWake (the overlapping queue of the fault backend):
// a group still in flight is left so by a Wake from another thread, or by
// one made before the wait (kept, once); true with its status once it ran.
TEST(WorkerIoQueueTest, WaitOrWakeEndsEarlyOnWakeAndCompletesLater) {
  GateFs gate;
  auto q = NewWorkerIoQueue(&gate);
  EXPECT_TRUE(q->Overlaps());
  IoOp op = IoOp::Sync(nullptr);
  auto ticket = q->Start({&op, 1});
  ASSERT_TRUE(ticket.ok());
  Status status;
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    q->Wake();
  });
  EXPECT_FALSE(q->WaitOrWake(*ticket, &status));
  waker.join();
  q->Wake();
  q->Wake();
  EXPECT_FALSE(q->WaitOrWake(*ticket, &status));
  std::thread opener([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    gate.Release();
  });
  EXPECT_TRUE(q->WaitOrWake(*ticket, &status));  // the second Wake counted once
  opener.join();
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TYPED_TEST(FaultFsTest, TornPrefixModeKeepsAPrefixTornAtAByte) {
  std::string full;
  for (int i = 0; i < 20; ++i) full += std::string(50, static_cast<char>('A' + i));
  std::set<size_t> sizes;
  bool torn_inside_a_write = false;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    const std::string got = this->TornOutcome(seed);
    ASSERT_LE(got.size(), full.size()) << "seed " << seed << ": " << got;
    EXPECT_EQ(got, full.substr(0, got.size())) << "seed " << seed;
    sizes.insert(got.size());
    if (got.size() % 50 != 0) torn_inside_a_write = true;
  }
  EXPECT_GT(sizes.size(), 10u);  // the prefix length really varies with the seed
  EXPECT_TRUE(torn_inside_a_write);
}

TYPED_TEST(FaultFsTest, SameSeedReplaysTheSameCrash) {
  for (uint64_t seed : {7u, 8u, 9u}) {
    EXPECT_EQ(this->TornOutcome(seed), this->TornOutcome(seed)) << "seed " << seed;
  }
  EXPECT_NE(this->TornOutcome(7), this->TornOutcome(8));
}

TYPED_TEST(FaultFsTest, TornOverwriteRestoresTheOldBytesPastTheTear) {
  // 100 synced 's', then 100 unsynced 'u' at offset 50 (overwrite + extend).
  // Whatever the seed: 50 's', a prefix of the 'u's, then the old 's' bytes.
  bool torn_inside_old_bytes = false;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    const std::string name = "f" + std::to_string(seed);
    this->MakeDurable(name, std::string(100, 's'));
    {
      auto f = this->fs_->Open(this->P(name), {});
      ASSERT_TRUE(f.ok());
      ASSERT_TRUE((*f)->WriteAt(50, Bytes(std::string(100, 'u'))).ok());
    }
    ASSERT_TRUE(this->fault().Crash(CrashMode::kKeepRandomPrefix, seed).ok());
    const std::string got = ReadPath(this->fs_, this->P(name));
    size_t kept = 0;
    while (50 + kept < got.size() && got[50 + kept] == 'u') ++kept;
    const std::string expect = std::string(50, 's') + std::string(kept, 'u') +
                               (kept < 50 ? std::string(50 - kept, 's') : "");
    ASSERT_EQ(got, expect) << "seed " << seed;
    if (kept > 0 && kept < 50) torn_inside_old_bytes = true;
  }
  EXPECT_TRUE(torn_inside_old_bytes);
}

// ---- crash: directory entries ----

TYPED_TEST(FaultFsTest, CreatedFileVanishesUnlessItsDirectoryIsSynced) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("lost"), "synced data").ok());  // file synced only
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_FALSE(*this->fs_->Exists(this->P("lost")));

  ASSERT_TRUE(WritePath(this->fs_, this->P("kept"), "synced data").ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("kept")), "synced data");
}

TYPED_TEST(FaultFsTest, RenameWithoutSyncDirIsReverted) {
  this->MakeDurable("a", "A");
  this->MakeDurable("b", "B");
  ASSERT_TRUE(this->fs_->Rename(this->P("a"), this->P("b")).ok());
  EXPECT_EQ(this->Names(), std::vector<std::string>{"b"});
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("a")), "A");
  EXPECT_EQ(ReadPath(this->fs_, this->P("b")), "B");

  ASSERT_TRUE(this->fs_->Rename(this->P("a"), this->P("b")).ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(this->Names(), std::vector<std::string>{"b"});
  EXPECT_EQ(ReadPath(this->fs_, this->P("b")), "A");
}

TYPED_TEST(FaultFsTest, SwappedNamesAreRestored) {
  this->MakeDurable("a", "A");
  this->MakeDurable("b", "B");
  ASSERT_TRUE(this->fs_->Rename(this->P("a"), this->P("tmp")).ok());
  ASSERT_TRUE(this->fs_->Rename(this->P("b"), this->P("a")).ok());
  ASSERT_TRUE(this->fs_->Rename(this->P("tmp"), this->P("b")).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("a")), "B");
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(this->Names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ReadPath(this->fs_, this->P("a")), "A");
  EXPECT_EQ(ReadPath(this->fs_, this->P("b")), "B");
}

TYPED_TEST(FaultFsTest, RemoveWithoutSyncDirIsRevertedWithDurableContent) {
  this->MakeDurable("f", "durable");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("UNSYNCED")).ok());
  ASSERT_TRUE(this->fs_->Remove(this->P("f")).ok());
  EXPECT_FALSE(*this->fs_->Exists(this->P("f")));
  EXPECT_TRUE(this->Names().empty());  // the hidden copy is not listed
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "durable");

  ASSERT_TRUE(this->fs_->Remove(this->P("f")).ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_FALSE(*this->fs_->Exists(this->P("f")));
  EXPECT_TRUE(this->fault().inner()->List(this->env_.root)->empty());  // no leftovers
}

TYPED_TEST(FaultFsTest, SyncThroughAnOpenHandleAfterRemoveUpdatesTheRestoredFile) {
  this->MakeDurable("f", "v1");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fs_->Remove(this->P("f")).ok());
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("v2")).ok());
  ASSERT_TRUE((*f)->Sync().ok());  // the remove is not durable, this data is
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "v2");
}

TYPED_TEST(FaultFsTest, RemoveDirMakesRemovalsInsideDurable) {
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("d")).ok());
  ASSERT_TRUE(WritePath(this->fs_, this->P("d/f"), "x").ok());
  ASSERT_TRUE(this->fs_->SyncDir(this->P("d")).ok());
  ASSERT_TRUE(this->fs_->Remove(this->P("d/f")).ok());
  ASSERT_TRUE(this->fs_->RemoveDir(this->P("d")).ok());  // hidden copy does not block it
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_FALSE(*this->fs_->Exists(this->P("d")));
}

TYPED_TEST(FaultFsTest, CrashReleasesDirLocks) {
  auto lock = this->fs_->LockDir(this->env_.root);
  ASSERT_TRUE(lock.ok());
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  auto again = this->fs_->LockDir(this->env_.root);
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

// ---- injected errors ----

TYPED_TEST(FaultFsTest, EveryOpKindCanFailWithIoError) {
  this->MakeDurable("f", "data");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  File* file = f->get();
  std::vector<std::byte> buf(4);
  auto check = [&](FaultOp op, auto call) {
    this->fault().AddRule({.op = op, .path_filter = this->env_.root});
    Status s = call();
    EXPECT_EQ(s.code(), StatusCode::kIOError) << static_cast<int>(op) << ": " << s.ToString();
    this->fault().ClearRules();
  };
  check(FaultOp::kRead, [&] { return file->ReadAt(0, buf).status(); });
  check(FaultOp::kWrite, [&] { return file->WriteAt(0, Bytes("x")); });
  check(FaultOp::kSync, [&] { return file->Sync(); });
  check(FaultOp::kOpen, [&] { return this->fs_->Open(this->P("f"), {}).status(); });
  check(FaultOp::kRename, [&] { return this->fs_->Rename(this->P("f"), this->P("g")); });
  check(FaultOp::kRemove, [&] { return this->fs_->Remove(this->P("f")); });
  check(FaultOp::kSyncDir, [&] { return this->fs_->SyncDir(this->env_.root); });
  check(FaultOp::kAllocate, [&] { return file->Allocate(0, 10, false); });
  check(FaultOp::kTruncate, [&] { return file->Truncate(0); });
  const FaultCounters c = this->fault().counters();
  EXPECT_EQ(c.injected, kFaultOpCount);
  for (size_t i = 0; i < kFaultOpCount; ++i) EXPECT_EQ(c.injected_by_op[i], 1u) << i;
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "data");  // nothing ran
}

TYPED_TEST(FaultFsTest, ShortWriteLeavesAPrefixInTheFile) {
  this->MakeDurable("f", "");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  this->fault().AddRule(
      {.op = FaultOp::kWrite, .error = FaultError::kNoSpace, .write_prefix_bytes = 4});
  auto data = Bytes("0123456789");
  std::vector<IoOp> ops = {IoOp::Write(f->get(), 0, data), IoOp::Sync(f->get())};
  EXPECT_EQ(this->fs_->Submit(ops).code(), StatusCode::kNoSpace);
  EXPECT_EQ(ops[0].transferred, 4u);
  EXPECT_EQ(ops[1].status.code(), StatusCode::kAborted);
  EXPECT_EQ(ReadAll(f->get()), "0123");
  ASSERT_TRUE((*f)->Sync().ok());  // a later sync makes the torn prefix durable
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "0123");
}

TYPED_TEST(FaultFsTest, UnsyncedShortWriteIsDroppedAtCrash) {
  this->MakeDurable("f", "");
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  this->fault().AddRule({.op = FaultOp::kWrite, .write_prefix_bytes = 3});
  EXPECT_EQ((*f)->WriteAt(0, Bytes("abcdef")).code(), StatusCode::kIOError);
  EXPECT_EQ(ReadAll(f->get()), "abc");
  ASSERT_TRUE(this->fault().Crash(CrashMode::kDropUnsynced, 1).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "");
}

TYPED_TEST(FaultFsTest, TriggersNthFromNthPathFilterAndProbability) {
  this->MakeDurable("seg", "s");
  this->MakeDurable("other", "o");
  auto seg = this->fs_->Open(this->P("seg"), {});
  auto other = this->fs_->Open(this->P("other"), {});
  ASSERT_TRUE(seg.ok() && other.ok());
  const uint64_t id = this->fault().AddRule(
      {.op = FaultOp::kSync, .path_filter = "/seg", .trigger = FaultTrigger::kFromNth, .n = 3});
  std::vector<bool> failed;
  for (int i = 0; i < 5; ++i) {
    failed.push_back(!(*seg)->Sync().ok());
    EXPECT_TRUE((*other)->Sync().ok());  // filtered out
  }
  EXPECT_EQ(failed, (std::vector<bool>{false, false, true, true, true}));
  this->fault().RemoveRule(id);
  EXPECT_TRUE((*seg)->Sync().ok());

  auto pattern = [&](uint64_t seed) {
    FaultFileSystem probe(this->fs_, seed);
    auto f = probe.Open(this->P("other"), {});
    probe.AddRule({.op = FaultOp::kSync, .trigger = FaultTrigger::kProbability,
                   .probability = 0.5});
    std::string out;
    for (int i = 0; i < 64; ++i) out += (*f)->Sync().ok() ? '.' : 'x';
    return out;
  };
  const std::string p1 = pattern(5);
  EXPECT_EQ(p1, pattern(5));  // seeded: replays exactly
  EXPECT_NE(p1, pattern(6));
  EXPECT_NE(p1.find('x'), std::string::npos);
  EXPECT_NE(p1.find('.'), std::string::npos);
}

TYPED_TEST(FaultFsTest, SpaceBudgetFillsTheDiskAndClearingItResumesAppends) {
  auto f = this->fs_->Open(this->P("log"), {.create = true});
  ASSERT_TRUE(f.ok());
  this->fault().SetSpaceBudget(10);
  EXPECT_TRUE((*f)->WriteAt(0, Bytes("012345")).ok());
  auto data = Bytes("6789AB");
  IoOp op = IoOp::Write(f->get(), 6, data);
  EXPECT_EQ(this->fs_->Submit({&op, 1}).code(), StatusCode::kNoSpace);
  EXPECT_EQ(op.transferred, 4u);  // what fit
  EXPECT_EQ((*f)->WriteAt(10, Bytes("x")).code(), StatusCode::kNoSpace);
  EXPECT_EQ((*f)->Allocate(0, 4096, false).code(), StatusCode::kNoSpace);
  EXPECT_EQ(this->fault().counters().budget_refusals, 3u);
  this->fault().ClearSpaceBudget();
  ASSERT_TRUE((*f)->WriteAt(10, Bytes("AB")).ok());  // the append resumes
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(ReadAll(f->get()), "0123456789AB");
}

// ---- threads ----

TYPED_TEST(FaultFsTest, CrashWhileWritersRunKeepsEveryAcknowledgedSync) {
  constexpr int kThreads = 3;
  constexpr size_t kRecord = 32;
  std::vector<std::unique_ptr<File>> files;
  for (int t = 0; t < kThreads; ++t) {
    auto f = this->fs_->Open(this->P("w" + std::to_string(t)), {.create = true});
    ASSERT_TRUE(f.ok());
    files.push_back(std::move(*f));
  }
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  std::atomic<uint64_t> acked[kThreads] = {};
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto rec = Bytes(std::string(kRecord, static_cast<char>('a' + t)));
      ++started;
      for (uint64_t i = 0;; ++i) {
        std::vector<IoOp> ops = {IoOp::Write(files[t].get(), i * kRecord, rec),
                                 IoOp::Sync(files[t].get())};
        if (i % 3 == 2) ops.pop_back();  // some writes stay unsynced
        if (!this->fs_->Submit(ops).ok()) return;  // the crash happened
        if (ops.size() == 2) acked[t] = (i + 1) * kRecord;
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((started.load() < kThreads || acked[kThreads - 1].load() < 10 * kRecord) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_GE(acked[kThreads - 1].load(), 10 * kRecord);
  ASSERT_TRUE(this->fault().Crash(CrashMode::kKeepRandomPrefix, 11).ok());
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const std::string got = ReadPath(this->fs_, this->P("w" + std::to_string(t)));
    EXPECT_GE(got.size(), acked[t].load()) << "thread " << t;
    EXPECT_EQ(got, std::string(got.size(), static_cast<char>('a' + t)));
  }
}

}  // namespace
}  // namespace warbler::io::testing
