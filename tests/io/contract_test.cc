// The FileSystem contract (io/file_system.h), run against every backend.
// A backend is correct when it passes this suite; every Status an I/O call can
// return has a case here that makes it happen.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

#include "base/errno_status.h"
#include "tests/io/fs_test_util.h"

namespace warbler::io::testing {
namespace {

template <typename B>
class ContractTest : public FsTest<B> {};

using Backends =
    ::testing::Types<PosixBackend, MemBackend, UringBackend, FaultMemBackend, FaultPosixBackend,
                     FaultMemOverlapBackend>;
TYPED_TEST_SUITE(ContractTest, Backends, BackendNames);

// ---- open ----

TYPED_TEST(ContractTest, OpenMissingFileOrDirIsNotFound) {
  auto f = this->fs_->Open(this->P("missing"), {});
  EXPECT_EQ(f.status().code(), StatusCode::kNotFound);
  auto g = this->fs_->Open(this->P("no-dir/file"), {.create = true});
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
}

TYPED_TEST(ContractTest, CreateExclusiveOnExistingIsAlreadyExists) {
  auto f = this->fs_->Open(this->P("f"), {.create = true, .exclusive = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  auto again = this->fs_->Open(this->P("f"), {.create = true, .exclusive = true});
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(this->fs_->Open(this->P("f"), {.create = true}).ok());  // not exclusive: fine
}

TYPED_TEST(ContractTest, TruncateOnOpenEmptiesTheFile) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("f"), "hello").ok());
  auto keep = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ(ReadAll(keep->get()), "hello");
  auto trunc = this->fs_->Open(this->P("f"), {.truncate = true});
  ASSERT_TRUE(trunc.ok());
  EXPECT_EQ(*(*trunc)->Size(), 0u);
}

TYPED_TEST(ContractTest, ReadOnlyRefusesWritesWithPermissionDenied) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("f"), "data").ok());
  auto f = this->fs_->Open(this->P("f"), {.read_only = true});
  ASSERT_TRUE(f.ok());
  File* file = f->get();
  EXPECT_EQ(ReadAll(file), "data");
  EXPECT_EQ(file->WriteAt(0, Bytes("x")).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(file->Truncate(0).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(file->Allocate(0, 4096, false).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ReadPath(this->fs_, this->P("f")), "data");
}

// ---- data path ----

TYPED_TEST(ContractTest, WriteReadRoundTrip) {
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  File* file = f->get();
  EXPECT_EQ(file->path(), this->P("f"));
  EXPECT_EQ(file->fs(), this->fs_);
  ASSERT_TRUE(file->WriteAt(0, Bytes("hello world")).ok());
  ASSERT_TRUE(file->WriteAt(6, Bytes("WORLD")).ok());
  ASSERT_TRUE(file->WriteAt(20, Bytes("!")).ok());  // leaves a hole that reads as zeros
  ASSERT_TRUE(file->Sync().ok());
  EXPECT_EQ(ReadAll(file), std::string("hello WORLD") + std::string(9, '\0') + "!");
  std::vector<std::byte> mid(5);
  auto n = file->ReadAt(6, mid);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(Str(mid), "WORLD");
}

// random_access is a hint: every backend accepts it, and files read and
// write as without it (posix_fs_test checks the kernel honours it).
TYPED_TEST(ContractTest, RandomAccessIsOnlyAHint) {
  {
    auto f = this->fs_->Open(this->P("r"), {.create = true, .random_access = true});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, Bytes("scattered reads")).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }
  auto f = this->fs_->Open(this->P("r"), {.read_only = true, .random_access = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  std::vector<std::byte> word(5);
  auto n = (*f)->ReadAt(10, word);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 5u);
  EXPECT_EQ(Str(word), "reads");
  EXPECT_EQ(ReadAll(f->get()), "scattered reads");
}

TYPED_TEST(ContractTest, BatchAcrossFilesWithReadsWritesAndSyncs) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("c"), "ccccc").ok());
  auto a = this->fs_->Open(this->P("a"), {.create = true});
  auto b = this->fs_->Open(this->P("b"), {.create = true});
  auto c = this->fs_->Open(this->P("c"), {.read_only = true});
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  auto a1 = Bytes("a-one"), a2 = Bytes("a-two"), b1 = Bytes("b-one");
  std::vector<std::byte> c_head(3), c_tail(10);
  std::vector<IoOp> ops = {
      IoOp::Write(a->get(), 0, a1),     IoOp::Read(c->get(), 0, c_head),
      IoOp::Write(b->get(), 0, b1),     IoOp::Write(a->get(), 5, a2),
      IoOp::Sync(a->get()),             IoOp::Read(c->get(), 2, c_tail),
      IoOp::Sync(b->get()),
  };
  ASSERT_TRUE(this->fs_->Submit(ops).ok());
  for (const IoOp& op : ops) EXPECT_TRUE(op.status.ok()) << op.status.ToString();
  EXPECT_EQ(ops[0].transferred, 5u);
  EXPECT_EQ(ops[1].transferred, 3u);
  EXPECT_EQ(ops[5].transferred, 3u);  // short only because of EOF
  EXPECT_EQ(Str(c_head), "ccc");
  EXPECT_EQ(Str(std::span(c_tail).first(3)), "ccc");
  EXPECT_EQ(ReadPath(this->fs_, this->P("a")), "a-onea-two");
  EXPECT_EQ(ReadPath(this->fs_, this->P("b")), "b-one");
}

TYPED_TEST(ContractTest, SyncAfterFailedWriteInBatchIsAborted) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("ro"), "x").ok());
  auto ro = this->fs_->Open(this->P("ro"), {.read_only = true});
  auto ok = this->fs_->Open(this->P("ok"), {.create = true});
  ASSERT_TRUE(ro.ok() && ok.ok());
  auto data = Bytes("data");
  std::vector<IoOp> ops = {IoOp::Write(ro->get(), 0, data), IoOp::Write(ok->get(), 0, data),
                           IoOp::Sync(ro->get()), IoOp::Sync(ok->get())};
  Status s = this->fs_->Submit(ops);
  EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);  // the first failure, in span order
  EXPECT_EQ(ops[0].status.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(ops[1].status.ok());
  EXPECT_EQ(ops[2].status.code(), StatusCode::kAborted);
  EXPECT_TRUE(ops[3].status.ok());  // the ordering rule is per file
  EXPECT_EQ(ReadPath(this->fs_, this->P("ok")), "data");
}

TYPED_TEST(ContractTest, SyncBeforeTheFailedWriteStillRuns) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("ro"), "x").ok());
  auto ro = this->fs_->Open(this->P("ro"), {.read_only = true});
  ASSERT_TRUE(ro.ok());
  auto data = Bytes("data");
  std::vector<IoOp> ops = {IoOp::Sync(ro->get()), IoOp::Write(ro->get(), 0, data)};
  EXPECT_EQ(this->fs_->Submit(ops).code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(ops[0].status.ok());
}

TYPED_TEST(ContractTest, ReadPastEofIsShortAndOk) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("f"), "0123456789").ok());
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  std::vector<std::byte> buf(100);
  auto n = (*f)->ReadAt(4, buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 6u);
  auto at_end = (*f)->ReadAt(10, buf);
  ASSERT_TRUE(at_end.ok());
  EXPECT_EQ(*at_end, 0u);
  auto beyond = (*f)->ReadAt(1000, buf);
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(*beyond, 0u);
}

TYPED_TEST(ContractTest, DirectIoMisalignmentIsInvalidArgument) {
  constexpr size_t kAlign = limits::kDirectIoAlignment;
  auto f = this->fs_->Open(this->P("d"), {.create = true, .direct = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  File* file = f->get();
  EXPECT_TRUE(file->direct());
  AlignedBuffer buf(2 * kAlign);
  EXPECT_EQ(file->WriteAt(1, buf.span().first(kAlign)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(file->WriteAt(0, buf.span().first(kAlign - 1)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(file->WriteAt(0, buf.span().subspan(1, kAlign)).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(file->ReadAt(kAlign / 2, buf.span().first(kAlign)).status().code(),
            StatusCode::kInvalidArgument);
  // A misaligned write aborts the sync after it.
  std::vector<IoOp> ops = {IoOp::Write(file, 1, buf.span().first(kAlign)), IoOp::Sync(file)};
  EXPECT_EQ(this->fs_->Submit(ops).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ops[1].status.code(), StatusCode::kAborted);
  EXPECT_EQ(*file->Size(), 0u);
}

TYPED_TEST(ContractTest, DirectIoAlignedRoundTrip) {
  constexpr size_t kAlign = limits::kDirectIoAlignment;
  auto f = this->fs_->Open(this->P("d"), {.create = true, .direct = true});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  AlignedBuffer out(2 * kAlign), in(2 * kAlign);
  for (size_t i = 0; i < out.len; ++i) out.data[i] = static_cast<std::byte>(i * 7 + 3);
  ASSERT_TRUE((*f)->WriteAt(kAlign, out.span()).ok());
  ASSERT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(*(*f)->Size(), 3 * kAlign);
  auto n = (*f)->ReadAt(kAlign, in.span());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2 * kAlign);
  EXPECT_EQ(std::memcmp(in.data, out.data, out.len), 0);
}

TYPED_TEST(ContractTest, SizeAllocateAndTruncate) {
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  File* file = f->get();
  ASSERT_TRUE(file->WriteAt(0, Bytes("abc")).ok());
  EXPECT_EQ(*file->Size(), 3u);
  ASSERT_TRUE(file->Allocate(0, 8192, /*keep_size=*/true).ok());
  EXPECT_EQ(*file->Size(), 3u);
  ASSERT_TRUE(file->Allocate(0, 8192, /*keep_size=*/false).ok());
  EXPECT_EQ(*file->Size(), 8192u);
  EXPECT_EQ(ReadAll(file), "abc" + std::string(8189, '\0'));
  ASSERT_TRUE(file->Allocate(100, 50, /*keep_size=*/false).ok());  // inside: no change
  EXPECT_EQ(*file->Size(), 8192u);
  ASSERT_TRUE(file->Truncate(2).ok());
  EXPECT_EQ(ReadAll(file), "ab");
  ASSERT_TRUE(file->Truncate(5).ok());
  EXPECT_EQ(ReadAll(file), std::string("ab\0\0\0", 5));
  EXPECT_EQ(file->Allocate(0, 0, false).code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(ContractTest, IoAfterCloseIsFailedPrecondition) {
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  File* file = f->get();
  ASSERT_TRUE(file->Close().ok());
  ASSERT_TRUE(file->Close().ok());  // idempotent
  std::vector<std::byte> buf(4);
  EXPECT_EQ(file->WriteAt(0, Bytes("x")).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(file->ReadAt(0, buf).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(file->Sync().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(file->Size().status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(file->Truncate(0).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(file->Allocate(0, 10, false).code(), StatusCode::kFailedPrecondition);
}

// ---- namespace ----

TYPED_TEST(ContractTest, ListIsSortedNamesOnly) {
  for (const char* name : {"c", "a", "b10", "b2"}) {
    ASSERT_TRUE(WritePath(this->fs_, this->P(name), name).ok());
  }
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("sub")).ok());
  auto names = this->fs_->List(this->env_.root);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b10", "b2", "c", "sub"}));
  auto empty = this->fs_->List(this->P("sub"));
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(this->fs_->List(this->P("missing")).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(this->fs_->List(this->P("a")).status().code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(ContractTest, RenameReplacesTheTarget) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("new"), "new content").ok());
  ASSERT_TRUE(WritePath(this->fs_, this->P("cur"), "old content").ok());
  auto old_handle = this->fs_->Open(this->P("cur"), {.read_only = true});
  ASSERT_TRUE(old_handle.ok());
  ASSERT_TRUE(this->fs_->Rename(this->P("new"), this->P("cur")).ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("cur")), "new content");
  EXPECT_FALSE(*this->fs_->Exists(this->P("new")));
  EXPECT_EQ(ReadAll(old_handle->get()), "old content");  // the replaced inode lives on
  EXPECT_EQ(this->fs_->Rename(this->P("new"), this->P("x")).code(), StatusCode::kNotFound);
  ASSERT_TRUE(this->fs_->SyncDir(this->env_.root).ok());
  auto names = this->fs_->List(this->env_.root);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"cur"});
}

TYPED_TEST(ContractTest, RenameMovesAnOpenFileAndDirectories) {
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("d1")).ok());
  auto f = this->fs_->Open(this->P("d1/f"), {.create = true});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fs_->Rename(this->P("d1"), this->P("d2")).ok());
  ASSERT_TRUE((*f)->WriteAt(0, Bytes("moved")).ok());  // the handle follows the file
  EXPECT_EQ(ReadPath(this->fs_, this->P("d2/f")), "moved");
  EXPECT_FALSE(*this->fs_->Exists(this->P("d1")));
}

TYPED_TEST(ContractTest, RemoveUnlinksButOpenFilesStayReadable) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("f"), "bytes").ok());
  auto f = this->fs_->Open(this->P("f"), {});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(this->fs_->Remove(this->P("f")).ok());
  EXPECT_FALSE(*this->fs_->Exists(this->P("f")));
  EXPECT_EQ(ReadAll(f->get()), "bytes");
  EXPECT_TRUE((*f)->WriteAt(5, Bytes("+")).ok());
  EXPECT_EQ(ReadAll(f->get()), "bytes+");
  EXPECT_EQ(this->fs_->Remove(this->P("f")).code(), StatusCode::kNotFound);
  EXPECT_TRUE(this->fs_->List(this->env_.root)->empty());
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("dir")).ok());
  EXPECT_FALSE(this->fs_->Remove(this->P("dir")).ok());  // Remove is for files
}

TYPED_TEST(ContractTest, RemoveDirFailsUnlessEmpty) {
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("d")).ok());
  ASSERT_TRUE(WritePath(this->fs_, this->P("d/f"), "x").ok());
  Status s = this->fs_->RemoveDir(this->P("d"));
  EXPECT_EQ(s.code(), ErrnoStatus(ENOTEMPTY, "").code()) << s.ToString();
  ASSERT_TRUE(this->fs_->Remove(this->P("d/f")).ok());
  EXPECT_TRUE(this->fs_->RemoveDir(this->P("d")).ok());
  EXPECT_FALSE(*this->fs_->Exists(this->P("d")));
  EXPECT_EQ(this->fs_->RemoveDir(this->P("d")).code(), StatusCode::kNotFound);
  ASSERT_TRUE(WritePath(this->fs_, this->P("file"), "x").ok());
  EXPECT_EQ(this->fs_->RemoveDir(this->P("file")).code(), StatusCode::kInvalidArgument);
}

TYPED_TEST(ContractTest, ExistsForFilesDirsAndMissing) {
  ASSERT_TRUE(WritePath(this->fs_, this->P("f"), "x").ok());
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("d")).ok());
  EXPECT_TRUE(*this->fs_->Exists(this->P("f")));
  EXPECT_TRUE(*this->fs_->Exists(this->P("d")));
  EXPECT_FALSE(*this->fs_->Exists(this->P("missing")));
  EXPECT_FALSE(*this->fs_->Exists(this->P("missing/deeper")));
}

TYPED_TEST(ContractTest, CreateDirsMakesParentsAndIsIdempotent) {
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("a/b/c")).ok());
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("a/b/c")).ok());
  ASSERT_TRUE(this->fs_->CreateDirs(this->P("a/b")).ok());
  ASSERT_TRUE(WritePath(this->fs_, this->P("a/b/c/f"), "deep").ok());
  EXPECT_EQ(ReadPath(this->fs_, this->P("a/b/c/f")), "deep");
  EXPECT_TRUE(this->fs_->SyncDir(this->P("a/b/c")).ok());
  EXPECT_EQ(this->fs_->CreateDirs(this->P("a/b/c/f")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->fs_->CreateDirs("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(this->fs_->SyncDir(this->P("nope")).code(), StatusCode::kNotFound);
}

TYPED_TEST(ContractTest, LockDirTwiceIsBusyAndReleasedOnDestroy) {
  auto lock = this->fs_->LockDir(this->env_.root);
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  auto second = this->fs_->LockDir(this->env_.root);
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  lock->reset();
  auto third = this->fs_->LockDir(this->env_.root);
  EXPECT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(this->fs_->LockDir(this->P("missing")).status().code(), StatusCode::kNotFound);
}

// ---- batch validation and queues ----

TYPED_TEST(ContractTest, ValidateBatchRejectsBadBatches) {
  auto f = this->fs_->Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  std::vector<IoOp> too_many(limits::kIoMaxOpsPerSubmit + 1, IoOp::Sync(f->get()));
  EXPECT_EQ(this->fs_->Submit(too_many).code(), StatusCode::kInvalidArgument);
  std::vector<IoOp> null_file = {IoOp::Sync(nullptr)};
  EXPECT_EQ(this->fs_->Submit(null_file).code(), StatusCode::kInvalidArgument);
  auto other_fs = NewMemFileSystem();
  auto foreign = other_fs->Open("/foreign", {.create = true});
  ASSERT_TRUE(foreign.ok());
  std::vector<IoOp> foreign_op = {IoOp::Sync(foreign->get())};
  EXPECT_EQ(this->fs_->Submit(foreign_op).code(), StatusCode::kInvalidArgument);
  std::vector<IoOp> null_buf = {IoOp::Write(f->get(), 0, {static_cast<const std::byte*>(nullptr), 0})};
  null_buf[0].len = 4;
  EXPECT_EQ(this->fs_->Submit(null_buf).code(), StatusCode::kInvalidArgument);
  std::vector<IoOp> max_ok(limits::kIoMaxOpsPerSubmit, IoOp::Sync(f->get()));
  EXPECT_TRUE(this->fs_->Submit(max_ok).ok());
}

TYPED_TEST(ContractTest, QueueKeepsSeveralGroupsInFlight) {
  auto q = this->fs_->NewQueue();
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  constexpr int kGroups = 4;
  std::vector<std::unique_ptr<File>> files;
  std::vector<std::vector<std::byte>> data;
  std::vector<std::vector<IoOp>> groups(kGroups);
  std::vector<uint64_t> tickets;
  for (int g = 0; g < kGroups; ++g) {
    auto f = this->fs_->Open(this->P("q" + std::to_string(g)), {.create = true});
    ASSERT_TRUE(f.ok());
    files.push_back(std::move(*f));
    data.push_back(Bytes("group-" + std::to_string(g)));
  }
  for (int g = 0; g < kGroups; ++g) {
    groups[g] = {IoOp::Write(files[g].get(), 0, data[g]), IoOp::Sync(files[g].get())};
    auto t = (*q)->Start(groups[g]);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tickets.push_back(*t);
  }
  for (int g = kGroups - 1; g >= 0; --g) EXPECT_TRUE((*q)->Wait(tickets[g]).ok());
  for (int g = 0; g < kGroups; ++g) {
    EXPECT_EQ(ReadAll(files[g].get()), "group-" + std::to_string(g));
  }
}

// Run completes a group on the calling thread, beside a group in flight,
// and reports errors as Submit does.
TYPED_TEST(ContractTest, QueueRunsAGroupToCompletion) {
  auto q = this->fs_->NewQueue();
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  // Only the ring's groups overlap, and a fault backend's when asked to.
  constexpr bool kOverlapping = std::is_same_v<TypeParam, FaultMemOverlapBackend>;
  EXPECT_EQ((*q)->Overlaps(), this->fs_->name() == "uring" || kOverlapping);
  auto a = this->fs_->Open(this->P("a"), {.create = true});
  auto b = this->fs_->Open(this->P("b"), {.create = true});
  ASSERT_TRUE(a.ok() && b.ok());
  const auto first = Bytes("started"), second = Bytes("run now"), more = Bytes(", and more");
  std::vector<IoOp> started = {IoOp::Write(a->get(), 0, first), IoOp::Sync(a->get())};
  auto ticket = (*q)->Start(started);
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  std::vector<IoOp> run = {IoOp::Write(b->get(), 0, second), IoOp::Write(b->get(), second.size(), more),
                           IoOp::Sync(b->get())};
  ASSERT_TRUE((*q)->Run(run).ok()) << FirstError(run).ToString();
  for (const IoOp& op : run) EXPECT_EQ(op.transferred, op.len);
  EXPECT_EQ(ReadAll(b->get()), "run now, and more");
  ASSERT_TRUE((*q)->Wait(*ticket).ok());
  EXPECT_EQ(ReadAll(a->get()), "started");

  ASSERT_TRUE(this->fs_->Open(this->P("ro"), {.create = true}).ok());
  auto ro = this->fs_->Open(this->P("ro"), {.read_only = true});
  ASSERT_TRUE(ro.ok());
  std::vector<IoOp> refused = {IoOp::Write(ro->get(), 0, first), IoOp::Sync(ro->get())};
  EXPECT_EQ((*q)->Run(refused).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(refused[1].status.code(), StatusCode::kAborted);
}

TYPED_TEST(ContractTest, ConcurrentSubmittersOnSeparateFiles) {
  constexpr int kThreads = 4;
  constexpr int kWrites = 64;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto f = this->fs_->Open(this->P("t" + std::to_string(t)), {.create = true});
      if (!f.ok()) return (void)++failures;
      auto rec = Bytes(std::string(16, static_cast<char>('a' + t)));
      for (int i = 0; i < kWrites; ++i) {
        std::vector<IoOp> ops = {IoOp::Write(f->get(), uint64_t(i) * rec.size(), rec),
                                 IoOp::Sync(f->get())};
        if (!this->fs_->Submit(ops).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(ReadPath(this->fs_, this->P("t" + std::to_string(t))),
              std::string(16 * kWrites, static_cast<char>('a' + t)));
  }
}

// ---- injected errors (through a fault layer over the backend) ----

TYPED_TEST(ContractTest, InjectedIoErrorAndNoSpaceReachTheCaller) {
  FaultFileSystem fault(this->fs_, /*seed=*/1);
  auto f = fault.Open(this->P("f"), {.create = true});
  ASSERT_TRUE(f.ok());
  fault.AddRule({.op = FaultOp::kWrite, .error = FaultError::kIOError});
  fault.AddRule({.op = FaultOp::kSync, .error = FaultError::kNoSpace});
  EXPECT_EQ((*f)->WriteAt(0, Bytes("x")).code(), StatusCode::kIOError);
  EXPECT_EQ((*f)->Sync().code(), StatusCode::kNoSpace);
  EXPECT_TRUE((*f)->WriteAt(0, Bytes("y")).ok());  // kNth fired once only
  EXPECT_TRUE((*f)->Sync().ok());
  EXPECT_EQ(ReadAll(f->get()), "y");
  EXPECT_EQ(fault.counters().injected, 2u);
}

}  // namespace
}  // namespace warbler::io::testing
