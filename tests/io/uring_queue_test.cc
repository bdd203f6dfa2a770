// The io_uring IoQueue: Start returns without waiting, several groups are in
// flight on one ring, they complete in any order, Wait reaps until its own
// group is done, and destroying the queue waits for what is still in flight.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "io/uring_fs.h"
#include "tests/io/uring_test_util.h"

namespace warbler::io {
namespace {

using testing_util::CreateOptions;
using testing_util::FillPattern;
using testing_util::MatchesPattern;
using testing_util::Numbered;
using testing_util::ReadFileBytes;
using testing_util::ScratchDir;

class UringQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fs = NewUringFileSystem();
    if (!fs.ok() && fs.status().code() == StatusCode::kUnavailable) {
      GTEST_SKIP() << "io_uring unavailable here: " << fs.status().ToString();
    }
    ASSERT_TRUE(fs.ok()) << fs.status().ToString();
    fs_ = std::move(*fs);
    uring_ = dynamic_cast<UringFileSystem*>(fs_.get());
    ASSERT_NE(uring_, nullptr);
    auto queue = fs_->NewQueue();
    ASSERT_TRUE(queue.ok()) << queue.status().ToString();
    queue_ = std::move(*queue);
  }

  std::unique_ptr<File> Open(const std::string& name) {
    auto f = fs_->Open(dir_.File(name), CreateOptions());
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(*f) : nullptr;
  }

  // A FIFO opened read-write through the file system: a read on it stays in
  // flight until the test writes into the FIFO, which makes "still running"
  // observable.
  std::unique_ptr<File> OpenFifo(const std::string& name) {
    EXPECT_EQ(::mkfifo(dir_.File(name).c_str(), 0644), 0);
    return Open(name);
  }

  // A read of a FIFO nobody has fed yet, started on queue_: a group that
  // stays in flight until FeedFifo(dir_.File(name), ...). Kept in the test
  // body, since the queue writes into it until the group completes.
  struct FifoRead {
    std::unique_ptr<File> fifo;
    char got[5] = {};
    IoOp read;
    uint64_t ticket = 0;
  };
  void StartFifoRead(const std::string& name, size_t len, FifoRead* r) {
    r->fifo = OpenFifo(name);
    r->read = IoOp::Read(r->fifo.get(), 0, std::as_writable_bytes(std::span(r->got, len)));
    auto ticket = queue_->Start({&r->read, 1});
    ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
    r->ticket = *ticket;
  }

  static void FeedFifo(const std::string& path, std::string_view bytes) {
    int fd = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ::close(fd);
  }

  ScratchDir dir_;
  std::unique_ptr<FileSystem> fs_;
  UringFileSystem* uring_ = nullptr;  // fs_
  std::unique_ptr<IoQueue> queue_;
};

// Group 1 (a FIFO read) cannot finish until the test feeds the FIFO; group 2
// (writes + sync) starts after it and completes first. Start must not block.
TEST_F(UringQueueTest, GroupsCompleteOutOfOrder) {
  FifoRead first;
  ASSERT_NO_FATAL_FAILURE(StartFifoRead("fifo", 5, &first));
  auto file = Open("data");

  std::vector<std::byte> data(64 * 1024);
  FillPattern(data, 3, 0);
  std::vector<IoOp> writes = {IoOp::Write(file.get(), 0, std::span(data).first(32 * 1024)),
                              IoOp::Write(file.get(), 32 * 1024, std::span(data).subspan(32 * 1024)),
                              IoOp::Sync(file.get())};
  auto second = queue_->Start(writes);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_NE(first.ticket, *second);
  ASSERT_TRUE(queue_->Wait(*second).ok()) << FirstError(writes).ToString();
  EXPECT_TRUE(MatchesPattern(ReadFileBytes(dir_.File("data")), 3, 0));
  EXPECT_EQ(first.read.transferred, 0u);  // group 1 still in flight

  FeedFifo(dir_.File("fifo"), "hello");
  ASSERT_TRUE(queue_->Wait(first.ticket).ok()) << first.read.status.ToString();
  EXPECT_EQ(first.read.transferred, 5u);
  EXPECT_EQ(std::string_view(first.got, 5), "hello");
}

// Run neither waits for nor disturbs a group started before it that is
// still in flight (a FIFO read nobody has fed yet).
TEST_F(UringQueueTest, RunCompletesBesideAGroupInFlight) {
  FifoRead first;
  ASSERT_NO_FATAL_FAILURE(StartFifoRead("fifo", 5, &first));
  auto file = Open("data");

  std::vector<std::byte> data(16 * 1024);
  FillPattern(data, 5, 0);
  std::vector<IoOp> ops = {IoOp::Write(file.get(), 0, data), IoOp::Sync(file.get())};
  ASSERT_TRUE(queue_->Run(ops).ok()) << FirstError(ops).ToString();
  EXPECT_TRUE(MatchesPattern(ReadFileBytes(dir_.File("data")), 5, 0));
  EXPECT_EQ(first.read.transferred, 0u);  // still in flight

  FeedFifo(dir_.File("fifo"), "hello");
  ASSERT_TRUE(queue_->Wait(first.ticket).ok()) << first.read.status.ToString();
  EXPECT_EQ(std::string_view(first.got, 5), "hello");
}

// WaitOrWake returns false, the group still in flight, when Wake is called
// from another thread during the wait, or was called before it (the wake-up
// is kept, once); true with the group's status once it completes.
TEST_F(UringQueueTest, WaitOrWakeEndsEarlyOnWakeAndCompletesLater) {
  FifoRead first;
  ASSERT_NO_FATAL_FAILURE(StartFifoRead("fifo", 5, &first));
  Status status;
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    queue_->Wake();
  });
  EXPECT_FALSE(queue_->WaitOrWake(first.ticket, &status));
  waker.join();
  EXPECT_EQ(first.read.transferred, 0u);  // still in flight

  queue_->Wake();  // nobody waits: kept for the next WaitOrWake
  queue_->Wake();  // and counted once
  EXPECT_FALSE(queue_->WaitOrWake(first.ticket, &status));

  FeedFifo(dir_.File("fifo"), "hello");
  ASSERT_TRUE(queue_->WaitOrWake(first.ticket, &status));
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(std::string_view(first.got, 5), "hello");

  // A plain Wait is not ended by a wake-up; the wake-up is still kept.
  FifoRead second;
  ASSERT_NO_FATAL_FAILURE(StartFifoRead("fifo2", 5, &second));
  queue_->Wake();
  std::thread feeder([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    FeedFifo(dir_.File("fifo2"), "again");
  });
  ASSERT_TRUE(queue_->Wait(second.ticket).ok()) << second.read.status.ToString();
  feeder.join();
  EXPECT_EQ(std::string_view(second.got, 5), "again");
}

// Eight groups (16 writes + sync each) in flight at once, waited for in
// reverse order of starting.
TEST_F(UringQueueTest, SeveralGroupsInFlightWaitedInReverse) {
  constexpr int kGroups = 8, kWrites = 16;
  constexpr size_t kLen = 4096;
  std::vector<std::unique_ptr<File>> files;
  std::vector<std::vector<std::byte>> data(kGroups);
  std::vector<std::vector<IoOp>> groups(kGroups);
  std::vector<uint64_t> tickets;
  for (int g = 0; g < kGroups; ++g) {
    files.push_back(Open(Numbered("g", g)));
    data[g].resize(kWrites * kLen);
    FillPattern(data[g], g, 0);
    for (int w = 0; w < kWrites; ++w) {
      groups[g].push_back(
          IoOp::Write(files[g].get(), w * kLen, std::span(data[g]).subspan(w * kLen, kLen)));
    }
    groups[g].push_back(IoOp::Sync(files[g].get()));
    auto ticket = queue_->Start(groups[g]);
    ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
    tickets.push_back(*ticket);
  }
  for (int g = kGroups - 1; g >= 0; --g) {
    ASSERT_TRUE(queue_->Wait(tickets[g]).ok()) << FirstError(groups[g]).ToString();
    for (const IoOp& op : groups[g]) EXPECT_EQ(op.transferred, op.len);
    EXPECT_TRUE(MatchesPattern(ReadFileBytes(dir_.File(Numbered("g", g))), g, 0));
  }
}

TEST_F(UringQueueTest, WaitReportsTheGroupsFirstError) {
  auto file = Open("e");
  std::byte buf[16];
  ASSERT_TRUE(file->Close().ok());
  std::vector<IoOp> ops = {IoOp::Write(file.get(), 0, buf), IoOp::Sync(file.get())};
  auto ticket = queue_->Start(ops);
  ASSERT_TRUE(ticket.ok());
  EXPECT_EQ(queue_->Wait(*ticket).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ops[1].status.code(), StatusCode::kAborted);
}

TEST_F(UringQueueTest, UnknownOrRepeatedTicketIsInvalidArgument) {
  EXPECT_EQ(queue_->Wait(12345).code(), StatusCode::kInvalidArgument);
  auto ticket = queue_->Start({});
  ASSERT_TRUE(ticket.ok());
  EXPECT_TRUE(queue_->Wait(*ticket).ok());
  EXPECT_EQ(queue_->Wait(*ticket).code(), StatusCode::kInvalidArgument);
}

TEST_F(UringQueueTest, GroupsInFlightAreBounded) {
  std::vector<uint64_t> tickets;
  for (size_t i = 0; i < limits::kUringMaxGroupsInFlight; ++i) {
    auto t = queue_->Start({});
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tickets.push_back(*t);
  }
  EXPECT_EQ(queue_->Start({}).status().code(), StatusCode::kResourceExhausted);
  ASSERT_TRUE(queue_->Wait(tickets.front()).ok());
  auto again = queue_->Start({});
  ASSERT_TRUE(again.ok());
  tickets.front() = *again;
  for (uint64_t t : tickets) EXPECT_TRUE(queue_->Wait(t).ok());
}

// The buffers of an in-flight group belong to the caller; the queue's
// destructor must not return before the group is done with them.
TEST_F(UringQueueTest, DestructorWaitsForGroupsInFlight) {
  FifoRead pending;
  ASSERT_NO_FATAL_FAILURE(StartFifoRead("fifo", 3, &pending));
  const auto start = std::chrono::steady_clock::now();
  std::thread feeder([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    FeedFifo(dir_.File("fifo"), "abc");
  });
  queue_.reset();
  const auto waited = std::chrono::steady_clock::now() - start;
  feeder.join();
  EXPECT_GE(waited, std::chrono::milliseconds(150));
  EXPECT_TRUE(pending.read.status.ok()) << pending.read.status.ToString();
  EXPECT_EQ(pending.read.transferred, 3u);
  EXPECT_EQ(std::string_view(pending.got, 3), "abc");
}

// The file system's metrics count the rings of its queues (the partition
// logs' writes and fdatasyncs go through them): while the queue lives, and
// after it is destroyed.
TEST_F(UringQueueTest, FileSystemMetricsCountQueueRings) {
  auto file = Open("data");
  const UringMetrics before = uring_->metrics();
  std::vector<std::byte> data(64 * 1024);
  FillPattern(data, 7, 0);
  std::vector<IoOp> ops = {IoOp::Write(file.get(), 0, std::span(data).first(32 * 1024)),
                           IoOp::Write(file.get(), 32 * 1024, std::span(data).subspan(32 * 1024)),
                           IoOp::Sync(file.get())};
  auto ticket = queue_->Start(ops);
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  ASSERT_TRUE(queue_->Wait(*ticket).ok()) << FirstError(ops).ToString();

  const UringMetrics live = uring_->metrics();
  EXPECT_EQ(live.sqes, before.sqes + 3);  // two writes and the fdatasync, linked
  EXPECT_GT(live.submissions, before.submissions);
  EXPECT_EQ(live.short_transfers, before.short_transfers);

  queue_.reset();
  const UringMetrics after = uring_->metrics();
  EXPECT_EQ(after.sqes, live.sqes);
  EXPECT_EQ(after.submissions, live.submissions);

  // A second queue adds to the totals the first one left.
  auto queue = fs_->NewQueue();
  ASSERT_TRUE(queue.ok()) << queue.status().ToString();
  auto second = (*queue)->Start(ops);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  ASSERT_TRUE((*queue)->Wait(*second).ok()) << FirstError(ops).ToString();
  EXPECT_EQ(uring_->metrics().sqes, after.sqes + 3);
}

// metrics() from another thread while the queue's thread runs groups (the
// admin endpoint scraping while a partition log writes): every counter only
// grows, and none is lost. Meant for TSan too.
TEST_F(UringQueueTest, MetricsReadFromAnotherThreadWhileQueueRuns) {
  constexpr int kGroups = 200;
  auto file = Open("data");
  const UringMetrics before = uring_->metrics();
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t last = before.sqes;
    while (!done.load()) {
      const uint64_t sqes = uring_->metrics().sqes;
      EXPECT_GE(sqes, last);
      last = sqes;
    }
  });
  std::vector<std::byte> data(4096);
  FillPattern(data, 9, 0);
  for (int g = 0; g < kGroups; ++g) {
    std::vector<IoOp> ops = {IoOp::Write(file.get(), 0, data), IoOp::Sync(file.get())};
    auto ticket = queue_->Start(ops);
    const Status status = ticket.ok() ? queue_->Wait(*ticket) : ticket.status();
    if (!status.ok()) {
      ADD_FAILURE() << "group " << g << ": " << status.ToString();
      break;  // the reader still gets joined
    }
  }
  queue_.reset();  // retiring the queue races the reader too
  done.store(true);
  reader.join();
  EXPECT_EQ(uring_->metrics().sqes, before.sqes + 2u * kGroups);
}

}  // namespace
}  // namespace warbler::io
