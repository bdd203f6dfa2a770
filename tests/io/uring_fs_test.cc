// The io_uring backend's blocking Submit path: batching, the ordering rule as
// link chains, resubmission after short transfers (kernel-made and forced by
// the test-only SQE cap), preconditions, batches larger than the SQ, and the
// ring pool under concurrent submitters. The shared FileSystem contract is
// covered by contract_test.cc; these tests target what only uring does.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "io/posix_fs.h"
#include "io/uring_fs.h"
#include "io/uring_plan.h"
#include "tests/io/uring_test_util.h"

namespace warbler::io {
namespace {

using testing_util::AlignedBuffer;
using testing_util::CreateOptions;
using testing_util::FileSizeLimit;
using testing_util::FillPattern;
using testing_util::MatchesPattern;
using testing_util::Numbered;
using testing_util::ReadFileBytes;
using testing_util::ScratchDir;
using testing_util::WritePatternFile;

constexpr size_t k4K = 4096;

class UringFsTest : public ::testing::Test {
 protected:
  void SetUp() override { Make({}); }

  void Make(const UringOptions& options) {
    auto fs = UringFileSystem::Create(options);
    if (!fs.ok() && fs.status().code() == StatusCode::kUnavailable) {
      GTEST_SKIP() << "io_uring unavailable here: " << fs.status().ToString();
    }
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(*fs);
  }

  std::unique_ptr<File> Open(const std::string& name, OpenOptions options = CreateOptions()) {
    auto f = fs_->Open(dir_.File(name), options);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(*f) : nullptr;
  }

  ScratchDir dir_;
  std::unique_ptr<UringFileSystem> fs_;
};

TEST_F(UringFsTest, NameIsUring) { EXPECT_EQ(fs_->name(), "uring"); }

// Four files, each 32 writes + a sync, interleaved with 64 reads of older
// data: one submission, one SQE per op, every op checked.
TEST_F(UringFsTest, ManyWritesSyncAndReadsOnSeveralFilesInOneSubmission) {
  constexpr int kFiles = 4, kWrites = 32, kReads = 16;
  constexpr size_t kOld = 64 * 1024;
  std::vector<std::unique_ptr<File>> files;
  for (int f = 0; f < kFiles; ++f) {
    WritePatternFile(dir_.File(Numbered("f", f)), 100 + f, kOld);
    files.push_back(Open(Numbered("f", f)));
  }
  AlignedBuffer wbuf(kFiles * kWrites * k4K), rbuf(kFiles * kReads * k4K);
  std::vector<IoOp> ops;
  for (int f = 0; f < kFiles; ++f) {
    for (int i = 0; i < kWrites; ++i) {
      std::span<std::byte> src = wbuf.span().subspan((f * kWrites + i) * k4K, k4K);
      FillPattern(src, f, kOld + i * k4K);
      ops.push_back(IoOp::Write(files[f].get(), kOld + i * k4K, src));
      if (i % 2 == 0) {
        const int r = i / 2;
        ops.push_back(IoOp::Read(files[f].get(), r * k4K,
                                 rbuf.span().subspan((f * kReads + r) * k4K, k4K)));
      }
    }
    ops.push_back(IoOp::Sync(files[f].get()));
  }
  ASSERT_TRUE(fs_->Submit(ops).ok()) << FirstError(ops).ToString();

  for (const IoOp& op : ops) {
    ASSERT_TRUE(op.status.ok()) << op.status.ToString();
    EXPECT_EQ(op.transferred, op.len);
  }
  for (int f = 0; f < kFiles; ++f) {
    for (int r = 0; r < kReads; ++r) {
      EXPECT_TRUE(MatchesPattern(rbuf.span().subspan((f * kReads + r) * k4K, k4K), 100 + f,
                                 r * k4K));
    }
    std::vector<std::byte> got = ReadFileBytes(dir_.File(Numbered("f", f)));
    ASSERT_EQ(got.size(), kOld + kWrites * k4K);
    EXPECT_TRUE(MatchesPattern(std::span(got).first(kOld), 100 + f, 0));
    EXPECT_TRUE(MatchesPattern(std::span(got).subspan(kOld), f, kOld));
  }
  const UringMetrics m = fs_->metrics();
  EXPECT_EQ(m.sqes, ops.size());
  EXPECT_EQ(m.submissions, 1u);
  EXPECT_EQ(m.short_transfers + m.canceled + m.retries, 0u);
}

// The ordering rule as chains: per file, its writes and syncs up to its last
// sync are linked in span order; reads and trailing writes stand alone.
TEST_F(UringFsTest, PlanLinksEachFilesWritesUpToItsLastSync) {
  auto a = Open("a"), b = Open("b"), c = Open("c");
  std::byte buf[16];
  std::vector<IoOp> ops = {
      IoOp::Read(a.get(), 0, buf),   // 0: read, alone
      IoOp::Write(a.get(), 0, buf),  // 1: a's chain
      IoOp::Write(b.get(), 0, buf),  // 2: b's chain
      IoOp::Sync(a.get()),           // 3: a's chain
      IoOp::Write(a.get(), 16, buf), // 4: a's chain (a syncs again at 9)
      IoOp::Read(b.get(), 0, buf),   // 5: read, alone
      IoOp::Sync(b.get()),           // 6: b's chain ends
      IoOp::Write(b.get(), 16, buf), // 7: after b's last sync, alone
      IoOp::Write(c.get(), 0, buf),  // 8: c never syncs, alone
      IoOp::Sync(a.get()),           // 9: a's chain ends
  };
  std::vector<std::vector<uint32_t>> want = {{0}, {1, 3, 4, 9}, {2, 6}, {5}, {7}, {8}};
  EXPECT_EQ(PlanChains(ops), want);
}

// A write that fails in the kernel (EFBIG past RLIMIT_FSIZE) breaks its
// chain: every later sync of that file is Aborted and never run, later writes
// still run, other files are untouched. Same statuses as the posix backend.
TEST_F(UringFsTest, FailedWriteAbortsEveryLaterSyncOfItsFileOnly) {
  constexpr uint64_t kLimit = 1 << 20;
  std::byte data[k4K];
  FillPattern(data, 7, 0);
  auto run = [&](FileSystem* fs, const std::string& prefix) {
    auto a = fs->Open(dir_.File(prefix + "a"), CreateOptions());
    auto b = fs->Open(dir_.File(prefix + "b"), CreateOptions());
    EXPECT_TRUE(a.ok() && b.ok());
    std::vector<IoOp> ops = {
        IoOp::Write(a->get(), 2 * kLimit, data), IoOp::Write(b->get(), 0, data),
        IoOp::Sync(a->get()),                    IoOp::Write(a->get(), 0, data),
        IoOp::Sync(a->get()),                    IoOp::Sync(b->get()),
    };
    FileSizeLimit limit(kLimit);
    Status s = fs->Submit(ops);
    EXPECT_EQ(s.code(), ops[0].status.code());
    std::vector<StatusCode> codes;
    for (const IoOp& op : ops) codes.push_back(op.status.code());
    return codes;
  };
  const std::vector<StatusCode> want = {StatusCode::kIOError, StatusCode::kOk,
                                        StatusCode::kAborted, StatusCode::kOk,
                                        StatusCode::kAborted, StatusCode::kOk};
  EXPECT_EQ(run(fs_.get(), "u_"), want);
  PosixFileSystem posix;
  EXPECT_EQ(run(&posix, "p_"), want);
  std::vector<std::byte> got = ReadFileBytes(dir_.File("u_a"));
  ASSERT_EQ(got.size(), k4K);  // only the write at 0 landed
  EXPECT_TRUE(MatchesPattern(got, 7, 0));
  EXPECT_GE(fs_->metrics().canceled, 2u);
}

// A real short write inside a linked chain: the write straddles
// RLIMIT_FSIZE, so the kernel writes the part below it and cancels the rest
// of the chain. The remainder is resubmitted (and fails, EFBIG), the canceled
// write is resubmitted (and succeeds), and the sync is Aborted, not run.
TEST_F(UringFsTest, KernelShortWriteInChainResubmitsRemainderThenRestOfChain) {
  constexpr uint64_t kLimit = 1 << 20;
  auto a = Open("a");
  std::byte straddle[2 * k4K], head[k4K];
  FillPattern(straddle, 1, kLimit - k4K);
  FillPattern(head, 2, 0);
  std::vector<IoOp> ops = {IoOp::Write(a.get(), kLimit - k4K, straddle),
                           IoOp::Write(a.get(), 0, head), IoOp::Sync(a.get())};
  {
    FileSizeLimit limit(kLimit);
    EXPECT_EQ(fs_->Submit(ops).code(), StatusCode::kIOError);
  }
  EXPECT_EQ(ops[0].status.code(), StatusCode::kIOError);
  EXPECT_NE(ops[0].status.message().find("File too large"), std::string::npos)
      << ops[0].status.ToString();
  EXPECT_EQ(ops[0].transferred, k4K);
  EXPECT_TRUE(ops[1].status.ok()) << ops[1].status.ToString();
  EXPECT_EQ(ops[1].transferred, k4K);
  EXPECT_EQ(ops[2].status.code(), StatusCode::kAborted);

  std::vector<std::byte> got = ReadFileBytes(dir_.File("a"));
  ASSERT_EQ(got.size(), kLimit);
  EXPECT_TRUE(MatchesPattern(std::span(got).first(k4K), 2, 0));
  EXPECT_TRUE(MatchesPattern(std::span(got).last(k4K), 1, kLimit - k4K));
  const UringMetrics m = fs_->metrics();
  EXPECT_EQ(m.short_transfers, 1u);
  EXPECT_GE(m.canceled, 2u);  // the write at 0 and the sync, at least once each
}

// The test-only SQE cap: every read/write larger than 4 KiB completes short
// and the real resubmission code must send the remainder, piece by piece,
// with the sync linked only behind the last piece.
TEST(UringFsCapTest, CappedSqesAreResubmittedAndTheLinkedSyncRunsLast) {
  ScratchDir dir;
  auto fs = UringFileSystem::Create(UringOptions{.test_max_bytes_per_sqe = k4K});
  if (!fs.ok() && fs.status().code() == StatusCode::kUnavailable) GTEST_SKIP();
  ASSERT_TRUE(fs.ok()) << fs.status().ToString();
  WritePatternFile(dir.File("c"), 9, 20000);
  auto a = (*fs)->Open(dir.File("a"), CreateOptions());
  auto b = (*fs)->Open(dir.File("b"), CreateOptions());
  auto c = (*fs)->Open(dir.File("c"), CreateOptions());
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  std::vector<std::byte> w1(64 * 1024), w2(64 * 1024), w3(10000), r(32 * 1024);
  FillPattern(w1, 1, 0);
  FillPattern(w2, 1, w1.size());
  FillPattern(w3, 3, 0);
  std::vector<IoOp> ops = {IoOp::Write(a->get(), 0, w1), IoOp::Write(b->get(), 0, w3),
                           IoOp::Read(c->get(), 0, r), IoOp::Write(a->get(), w1.size(), w2),
                           IoOp::Sync(b->get()), IoOp::Sync(a->get())};
  ASSERT_TRUE((*fs)->Submit(ops).ok()) << FirstError(ops).ToString();
  EXPECT_EQ(ops[0].transferred, w1.size());
  EXPECT_EQ(ops[1].transferred, w3.size());
  EXPECT_EQ(ops[2].transferred, 20000u);  // EOF: short with OK status
  EXPECT_TRUE(MatchesPattern(std::span(r).first(20000), 9, 0));
  EXPECT_EQ(ops[3].transferred, w2.size());
  EXPECT_TRUE(MatchesPattern(ReadFileBytes(dir.File("a")), 1, 0));
  std::vector<std::byte> got_b = ReadFileBytes(dir.File("b"));
  ASSERT_EQ(got_b.size(), w3.size());
  EXPECT_TRUE(MatchesPattern(got_b, 3, 0));

  const UringMetrics m = (*fs)->metrics();
  // a: 16 + 16 pieces + sync; b: 3 pieces + sync; c: 4 full pieces, 3616
  // bytes, then 0 (EOF).
  EXPECT_EQ(m.sqes, 33u + 4u + 6u);
  EXPECT_EQ(m.short_transfers, 30u + 2u + 5u);
}

// A lone read (File::ReadAt) is a pread, not a ring round trip; two reads
// in one Submit are one batch of SQEs. Both honour the same contract.
TEST_F(UringFsTest, ALoneReadIsAPreadAndABatchUsesTheRing) {
  WritePatternFile(dir_.File("lone"), 8, 3 * k4K);
  auto f = Open("lone");
  std::byte one[k4K], two[k4K];
  auto n = f->ReadAt(k4K, one);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, k4K);
  EXPECT_TRUE(MatchesPattern(one, 8, k4K));
  auto tail = f->ReadAt(3 * k4K - 100, one);  // short at EOF, OK status
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, 100u);
  EXPECT_EQ(fs_->metrics().sqes, 0u);
  std::vector<IoOp> ops = {IoOp::Read(f.get(), 0, one), IoOp::Read(f.get(), 2 * k4K, two)};
  ASSERT_TRUE(fs_->Submit(ops).ok()) << FirstError(ops).ToString();
  EXPECT_TRUE(MatchesPattern(one, 8, 0));
  EXPECT_TRUE(MatchesPattern(two, 8, 2 * k4K));
  EXPECT_EQ(fs_->metrics().sqes, 2u);
  f.reset();
  auto closed = Open("lone");
  ASSERT_TRUE(closed->Close().ok());
  EXPECT_EQ(closed->ReadAt(0, one).status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(UringFsTest, ReadsPastEndOfFileAreShortWithOkStatus) {
  WritePatternFile(dir_.File("r"), 4, 6000);
  auto f = Open("r");
  std::byte buf[8192];
  std::vector<IoOp> ops = {IoOp::Read(f.get(), 4096, buf),
                           IoOp::Read(f.get(), 10000, std::span(buf).first(100))};
  ASSERT_TRUE(fs_->Submit(ops).ok());
  EXPECT_EQ(ops[0].transferred, 6000u - 4096u);
  EXPECT_TRUE(MatchesPattern(std::span(buf).first(6000 - 4096), 4, 4096));
  EXPECT_EQ(ops[1].transferred, 0u);
}

// O_DIRECT: misaligned offset, length or buffer -> InvalidArgument per op,
// before anything reaches the kernel; a misaligned write aborts its sync;
// aligned ops in the same batch still run.
TEST_F(UringFsTest, DirectIoMisalignmentIsInvalidArgument) {
  auto f = Open("d", CreateOptions(/*direct=*/true));
  ASSERT_NE(f, nullptr);
  AlignedBuffer buf(4 * k4K);
  FillPattern(buf.span(), 5, 0);
  std::vector<IoOp> ops = {
      IoOp::Write(f.get(), 0, buf.span().first(2 * k4K)),            // fine
      IoOp::Write(f.get(), 512, buf.span().subspan(2 * k4K, k4K)),   // offset
      IoOp::Read(f.get(), 0, buf.span().subspan(3 * k4K, 100)),      // length
      IoOp::Read(f.get(), 0, buf.span().subspan(2 * k4K + 1, k4K)),  // buffer
      IoOp::Sync(f.get()),
  };
  EXPECT_EQ(fs_->Submit(ops).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(ops[0].status.ok()) << ops[0].status.ToString();
  EXPECT_NE(ops[1].status.message().find("offset"), std::string::npos);
  EXPECT_NE(ops[2].status.message().find("length"), std::string::npos);
  EXPECT_NE(ops[3].status.message().find("buffer"), std::string::npos);
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(ops[i].status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ops[4].status.code(), StatusCode::kAborted);

  AlignedBuffer back(2 * k4K);
  auto n = f->ReadAt(0, back.span());
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 2 * k4K);
  EXPECT_TRUE(MatchesPattern(back.span(), 5, 0));
  EXPECT_TRUE(f->Sync().ok());
}

TEST_F(UringFsTest, ReadOnlyWriteIsPermissionDeniedAndClosedFileFailedPrecondition) {
  WritePatternFile(dir_.File("ro"), 6, k4K);
  OpenOptions ro;
  ro.read_only = true;
  auto r = Open("ro", ro);
  auto w = Open("w");
  std::byte buf[k4K];
  ASSERT_TRUE(w->Close().ok());
  std::vector<IoOp> ops = {IoOp::Write(r.get(), 0, buf), IoOp::Read(r.get(), 0, buf),
                           IoOp::Write(w.get(), 0, buf), IoOp::Sync(w.get())};
  EXPECT_EQ(fs_->Submit(ops).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ops[0].status.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(ops[1].status.ok());
  EXPECT_TRUE(MatchesPattern(buf, 6, 0));
  EXPECT_EQ(ops[2].status.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ops[3].status.code(), StatusCode::kAborted);  // its write failed
}

TEST_F(UringFsTest, RejectsForeignFilesAndAcceptsEmptyBatches) {
  PosixFileSystem posix;
  auto foreign = posix.Open(dir_.File("x"), CreateOptions());
  ASSERT_TRUE(foreign.ok());
  std::byte buf[8];
  IoOp op = IoOp::Write(foreign->get(), 0, buf);
  EXPECT_EQ(fs_->Submit({&op, 1}).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs_->Submit({}).ok());
}

// 1000 ops (4 files x (200 writes + sync), 196 reads) do not fit a 256-entry
// SQ: they go out in several rounds and every op still completes in order.
TEST_F(UringFsTest, BatchLargerThanQueueDepthRunsInRounds) {
  constexpr int kFiles = 4, kWrites = 200, kReads = 196;
  constexpr size_t kLen = 1024;
  WritePatternFile(dir_.File("src"), 50, kReads * kLen);
  auto src = Open("src");
  std::vector<std::unique_ptr<File>> files;
  for (int f = 0; f < kFiles; ++f) files.push_back(Open(Numbered("w", f)));
  std::vector<std::byte> wbuf(kFiles * kWrites * kLen), rbuf(kReads * kLen);
  std::vector<IoOp> ops;
  for (int i = 0; i < kWrites; ++i) {
    for (int f = 0; f < kFiles; ++f) {
      std::span<std::byte> s = std::span(wbuf).subspan((f * kWrites + i) * kLen, kLen);
      FillPattern(s, f, i * kLen);
      ops.push_back(IoOp::Write(files[f].get(), i * kLen, s));
    }
    if (i < kReads) {
      ops.push_back(IoOp::Read(src.get(), i * kLen, std::span(rbuf).subspan(i * kLen, kLen)));
    }
  }
  for (int f = 0; f < kFiles; ++f) ops.push_back(IoOp::Sync(files[f].get()));
  ASSERT_EQ(ops.size(), 1000u);
  ASSERT_GT(ops.size(), limits::kUringQueueDepth);
  ASSERT_TRUE(fs_->Submit(ops).ok()) << FirstError(ops).ToString();
  for (const IoOp& op : ops) EXPECT_EQ(op.transferred, op.len);
  EXPECT_TRUE(MatchesPattern(rbuf, 50, 0));
  for (int f = 0; f < kFiles; ++f) {
    EXPECT_TRUE(MatchesPattern(ReadFileBytes(dir_.File(Numbered("w", f))), f, 0));
  }
  const UringMetrics m = fs_->metrics();
  EXPECT_EQ(m.sqes, 1000u);
  EXPECT_GE(m.submissions, 4u);  // at most 256 SQEs in flight at a time
}

// One chain of 600 writes + a sync cannot be in the SQ at once; it is issued
// in pieces, each after the previous completed, the sync last.
TEST_F(UringFsTest, ChainLongerThanQueueDepthKeepsSyncLast) {
  constexpr int kWrites = 600;
  constexpr size_t kLen = 512;
  auto f = Open("long");
  std::vector<std::byte> data(kWrites * kLen);
  FillPattern(data, 11, 0);
  std::vector<IoOp> ops;
  for (int i = 0; i < kWrites; ++i) {
    ops.push_back(IoOp::Write(f.get(), i * kLen, std::span(data).subspan(i * kLen, kLen)));
  }
  ops.push_back(IoOp::Sync(f.get()));
  ASSERT_TRUE(fs_->Submit(ops).ok()) << FirstError(ops).ToString();
  EXPECT_TRUE(MatchesPattern(ReadFileBytes(dir_.File("long")), 11, 0));
  EXPECT_EQ(fs_->metrics().sqes, kWrites + 1u);
}

// Many threads submit at once; each Submit borrows its own ring from the pool.
TEST_F(UringFsTest, ConcurrentSubmittersShareTheRingPool) {
  constexpr int kThreads = 8, kBatches = 40, kWrites = 8;
  constexpr size_t kLen = 512;
  std::vector<std::thread> threads;
  std::vector<Status> failures(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto f = fs_->Open(dir_.File(Numbered("t", t)), CreateOptions());
      if (!f.ok()) return void(failures[t] = f.status());
      std::vector<std::byte> data(kBatches * kWrites * kLen);
      FillPattern(data, t, 0);
      for (int b = 0; b < kBatches; ++b) {
        std::vector<IoOp> ops;
        for (int w = 0; w < kWrites; ++w) {
          const size_t pos = (b * kWrites + w) * kLen;
          ops.push_back(IoOp::Write(f->get(), pos, std::span(data).subspan(pos, kLen)));
        }
        ops.push_back(IoOp::Sync(f->get()));
        if (Status s = fs_->Submit(ops); !s.ok()) return void(failures[t] = s);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(failures[t].ok()) << failures[t].ToString();
    std::vector<std::byte> got = ReadFileBytes(dir_.File(Numbered("t", t)));
    ASSERT_EQ(got.size(), kBatches * kWrites * kLen);
    EXPECT_TRUE(MatchesPattern(got, t, 0));
  }
  EXPECT_EQ(fs_->metrics().sqes, uint64_t{kThreads} * kBatches * (kWrites + 1));
}

}  // namespace
}  // namespace warbler::io
