#include <gtest/gtest.h>

#include "base/histogram.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "base/bounded_queue.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/rng.h"
#include "base/strong_id.h"

namespace warbler {
namespace {

TEST(BoundedQueueTest, PushFailsWithResourceExhaustedWhenFull) {
  BoundedQueue<int> q(2);
  EXPECT_TRUE(q.Push(1).ok());
  EXPECT_TRUE(q.Push(2).ok());
  int three = 3;
  Status s = q.Push(three);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(three, 3);  // untouched on failure
  std::vector<int> out;
  EXPECT_EQ(q.DrainTo(&out, 10), 2u);
  EXPECT_EQ(out, (std::vector<int>{1, 2}));
  EXPECT_TRUE(q.Push(3).ok());
}

TEST(BoundedQueueTest, CloseRejectsPushButDrains) {
  BoundedQueue<int> q(4);
  ASSERT_TRUE(q.Push(1).ok());
  q.Close();
  EXPECT_EQ(q.Push(2).code(), StatusCode::kUnavailable);
  auto v = q.PopWait(std::chrono::milliseconds(0));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, 1);
  EXPECT_FALSE(q.PopWait(std::chrono::milliseconds(0)).has_value());
}

TEST(BoundedQueueTest, ConcurrentProducersConsumer) {
  BoundedQueue<int> q(64);
  std::atomic<int> rejected{0};
  std::vector<std::thread> producers;
  for (int t = 0; t < 4; ++t) {
    producers.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) {
        int v = t * 1000 + i;
        while (!q.Push(v).ok()) {
          rejected.fetch_add(1);
          std::this_thread::yield();
        }
      }
    });
  }
  std::vector<int> got;
  while (got.size() < 4000) {
    q.WaitNonEmpty(std::chrono::milliseconds(10));
    q.DrainTo(&got, 100);
  }
  for (auto& p : producers) p.join();
  std::sort(got.begin(), got.end());
  for (int i = 0; i < 4000; ++i) ASSERT_EQ(got[i], i);
}

TEST(RngTest, SameSeedSameSequence) {
  Rng a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    differs |= x != c.Next();
  }
  EXPECT_TRUE(differs);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(a.Uniform(7), 7u);
    uint64_t r = a.Range(3, 5);
    EXPECT_GE(r, 3u);
    EXPECT_LE(r, 5u);
  }
}

TEST(ClockTest, ManualClockAdvancesOnlyWhenTold) {
  ManualClock clock(100);
  EXPECT_EQ(clock.NowNanos(), 100u);
  clock.AdvanceMillis(2);
  EXPECT_EQ(clock.NowNanos(), 2000100u);
  EXPECT_EQ(clock.NowMillis(), 2u);
  uint64_t a = Clock::Real()->NowNanos();
  uint64_t b = Clock::Real()->NowNanos();
  EXPECT_LE(a, b);
  EXPECT_GT(Clock::Real()->WallMicros(), 1'600'000'000'000'000ull);
}

TEST(StrongIdTest, TypedAndOrdered) {
  LogOffset a(5);
  LogOffset b = a.Next(3);
  EXPECT_EQ(b.value(), 8u);
  EXPECT_LT(a, b);
  static_assert(!std::is_convertible_v<LogOffset, Seq>);
  static_assert(sizeof(Seq) == sizeof(uint64_t));
}

std::vector<std::string>* g_lines = nullptr;
void CaptureLine(std::string_view line) { g_lines->emplace_back(line); }

TEST(LogTest, StructuredKeyValueLine) {
  std::vector<std::string> lines;
  g_lines = &lines;
  SetLogSink(&CaptureLine);
  WB_LOG(kInfo, "segment_rolled").Kv("partition", 3).Kv("path", "a b").Kv("ok", true);
  WB_LOG(kDebug, "hidden");
  SetLogSink(nullptr);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("level=info event=segment_rolled partition=3 path=\"a b\" ok=true"),
            std::string::npos);
  EXPECT_EQ(lines[0].rfind("ts=", 0), 0u);
}

}  // namespace
TEST(HistogramTest, CumulativeBucketsSumAndCount) {
  const double bounds[] = {1, 10, 100};
  Histogram h(bounds);
  for (double v : {0.5, 1.0, 5.0, 50.0, 500.0}) h.Observe(v);
  std::string out;
  h.Render("x", "p=\"1\"", &out);
  EXPECT_NE(out.find("x_bucket{p=\"1\",le=\"1\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{p=\"1\",le=\"10\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{p=\"1\",le=\"100\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_bucket{p=\"1\",le=\"+Inf\"} 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_sum{p=\"1\"} 556.5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_count{p=\"1\"} 5\n"), std::string::npos) << out;
}

}  // namespace warbler
