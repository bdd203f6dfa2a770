// The store's control plane under traffic (run it under TSan: the `tsan`
// preset): stats and metrics scraped, data keys rotated, the log tailed
// (ReadLog/WaitLog, as subscriptions do), a partition truncated and the store
// closed while appends and history reads are running. Each test asserts only
// what must hold whatever the interleaving; the races are TSan's to find.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "engine/conv/conv_id.h"
#include "engine/store/store_impl.h"
#include "io/mem_fs.h"
#include "tests/test_keys.h"

namespace warbler::engine {
namespace {

using namespace std::chrono_literals;

class StoreRaceTest : public ::testing::Test {
 protected:
  void Open(bool compress) {
    fs_ = io::NewMemFileSystem();
    StoreOptions o;
    o.partitions = 2;
    o.segment_bytes = 1u << 20;  // the minimum: rolls and seals while everything runs
    o.compress = compress;
    o.dictionary_sample_bytes = 16u << 10;  // train early
    o.block_cache_bytes = 128u << 10;
    StoreInternals in;
    in.fs = fs_.get();
    warbler::testing::UseTestKek();
    auto s = OpenStore(o, "/db", in);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  static std::string Body(int i) {
    std::string b = "message " + std::to_string(i) + " ";
    while (b.size() < 600) b += "lorem ipsum dolor sit amet " + std::to_string(i * 7 % 13);
    return b;
  }
  // Appends (blocking, async and batched) to a few conversations of two tenants.
  void Writer(int w, const std::atomic<bool>& stop, std::atomic<uint64_t>* acked) {
    std::atomic<int> pending{0};
    for (int i = 0; !stop.load(); ++i) {
      const std::string room = "room" + std::to_string(i % 3);  // the ref holds views
      const ConversationRef c{w % 2 == 0 ? "acme" : "globex", room};
      if (i % 3 == 0) {
        const std::string body = Body(i);
        if (store_->Append({c, "s", body, ""}).ok()) acked->fetch_add(1);
      } else if (i % 3 == 1) {
        pending.fetch_add(1);
        const std::string body = Body(i), id = "w" + std::to_string(w) + "-" + std::to_string(i);
        Status s = store_->AppendAsync({c, "s", body, id},
                                       [&](const Status& st, const AppendAck&) {
                                         if (st.ok()) acked->fetch_add(1);
                                         pending.fetch_sub(1);
                                       });
        if (!s.ok()) pending.fetch_sub(1);
      } else {
        const std::string b0 = Body(i), b1 = Body(i + 1);  // requests hold views
        std::vector<AppendRequest> batch = {{c, "s", b0, ""}, {{"acme", "batch"}, "s", b1, ""}};
        if (store_->AppendBatch(batch).ok()) acked->fetch_add(2);
      }
    }
    while (pending.load() > 0) std::this_thread::sleep_for(1ms);
  }
  void Reader(const std::atomic<bool>& stop) {
    for (int i = 0; !stop.load(); ++i) {
      const std::string room = "room" + std::to_string(i % 3);
      const ConversationRef c{i % 2 == 0 ? "acme" : "globex", room};
      (void)store_->Latest(c, 10);
      (void)store_->Before(c, 5, 3);
      (void)store_->Info(c);
    }
  }
  void Tailer(uint32_t partition, const std::atomic<bool>& stop) {
    uint64_t from = 0;
    while (!stop.load()) {
      uint64_t next = from;
      auto r = store_->ReadLog(partition, from, 64u << 10, &next);
      if (!r.ok()) break;
      if (r->empty()) {
        (void)store_->WaitLog(partition, from, 5);
        continue;
      }
      from = next;
    }
  }

  std::unique_ptr<io::FileSystem> fs_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreRaceTest, StatsMetricsAndKeyRotationDuringTraffic) {
  ASSERT_NO_FATAL_FAILURE(Open(/*compress=*/true));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 3; ++w) threads.emplace_back([&, w] { Writer(w, stop, &acked); });
  threads.emplace_back([&] { Reader(stop); });
  for (uint32_t p = 0; p < 2; ++p) threads.emplace_back([&, p] { Tailer(p, stop); });
  threads.emplace_back([&] {
    while (!stop.load()) {
      (void)store_->Stats();
      EXPECT_FALSE(store_->PrometheusMetrics().empty());
      std::this_thread::sleep_for(1ms);
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop.load(); ++i) {
      EXPECT_TRUE(store_->RotateDataKey(i % 2 == 0 ? "acme" : "").ok());
      std::this_thread::sleep_for(20ms);
    }
  });
  std::this_thread::sleep_for(1500ms);
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_GT(acked.load(), 0u);
  // Everything acknowledged reads back after all that.
  auto latest = store_->Latest({"acme", "batch"}, 5);
  EXPECT_TRUE(latest.ok()) << latest.status().ToString();
  ASSERT_TRUE(store_->Close().ok());
}

TEST_F(StoreRaceTest, TruncateWhileReadersAndTailersRun) {
  ASSERT_NO_FATAL_FAILURE(Open(/*compress=*/false));
  const std::string body = Body(1);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(store_->Append({{"acme", "room0"}, "s", body, ""}).ok());
  const uint32_t p = static_cast<uint32_t>(
      PartitionOf(MakeConvId("acme", "room0"), store_->partitions()));
  const uint64_t cut = PartitionNextOffset(store_.get(), p);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(store_->Append({{"acme", "room0"}, "s", body, ""}).ok());
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] { Reader(stop); });
  threads.emplace_back([&] { Reader(stop); });
  threads.emplace_back([&] { Tailer(p, stop); });
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(TruncatePartition(store_.get(), p, cut).ok());
  EXPECT_EQ(PartitionNextOffset(store_.get(), p), cut);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store_->Append({{"acme", "room0"}, "s", body, ""}).ok());
  std::this_thread::sleep_for(100ms);
  stop.store(true);
  for (auto& t : threads) t.join();
  auto info = store_->Info({"acme", "room0"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_seq, 250u);
  ASSERT_TRUE(store_->Close().ok());
}

TEST_F(StoreRaceTest, CloseWhileAppendsReadsAndTailersRun) {
  ASSERT_NO_FATAL_FAILURE(Open(/*compress=*/true));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> acked{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) threads.emplace_back([&, w] { Writer(w, stop, &acked); });
  threads.emplace_back([&] { Reader(stop); });
  threads.emplace_back([&] { Tailer(0, stop); });
  threads.emplace_back([&] {
    while (!stop.load()) (void)store_->Stats();
  });
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(store_->Close().ok());
  // After Close every call fails cleanly (Unavailable) and nothing hangs.
  std::this_thread::sleep_for(50ms);
  stop.store(true);
  for (auto& t : threads) t.join();
  EXPECT_EQ(store_->Append({{"acme", "x"}, "s", "m", ""}).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Latest({"acme", "room0"}, 1).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace warbler::engine
