// Store API tests (include/warbler/store.h) on the in-memory and fault file
// systems: sequencing, reads of every kind, idempotency, limits, reopen,
// sealed-segment index files and truncation rollback.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "base/clock.h"
#include "engine/codec/zstd_dict.h"
#include "engine/conv/cix.h"
#include "engine/dict/dictionary_registry.h"
#include "engine/layout.h"
#include "engine/store/store_impl.h"
#include "io/mem_fs.h"
#include "tests/temp_dir.h"
#include "tests/test_keys.h"

namespace warbler::engine {
namespace {

// Bytes zstd cannot shrink, so small segments really fill up and roll.
std::string Incompressible(size_t n) {
  std::string s(n, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::UseTestKek();
    fs_ = io::NewMemFileSystem();
    options_.segment_bytes = 1u << 20;
    options_.partitions = 2;
    // Tests here fill segments with one Incompressible() pad repeated in
    // every body, which a trained dictionary would learn (dictionaries are
    // tested in dictionary_test.cc).
    options_.compression_dictionaries = false;
    Open();
  }
  void Open() {
    StoreInternals in;
    in.fs = fs_.get();
    in.clock = &clock_;
    auto s = OpenStore(options_, "/db", in);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open();
  }
  AppendAck Send(std::string_view conv, std::string_view body, std::string_view client_id = "",
                 std::string_view tenant = "t") {
    AppendRequest r;
    r.conversation = {tenant, conv};
    r.sender = "alice";
    r.body = body;
    r.client_id = client_id;
    auto a = store_->Append(r);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? *a : AppendAck{};
  }
  std::vector<std::string> Bodies(const Result<std::vector<Message>>& r) {
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> out;
    if (r.ok()) {
      for (const Message& m : *r) out.push_back(m.body);
    }
    return out;
  }

  ManualClock clock_;
  std::unique_ptr<io::FileSystem> fs_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, SeqIsPerConversationAndGapFree) {
  EXPECT_EQ(Send("a", "a1").seq, 1u);
  EXPECT_EQ(Send("b", "b1").seq, 1u);
  EXPECT_EQ(Send("a", "a2").seq, 2u);
  AppendAck a3 = Send("a", "a3");
  EXPECT_EQ(a3.seq, 3u);
  EXPECT_FALSE(a3.duplicate);
  auto info = store_->Info({"t", "a"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_seq, 3u);
  EXPECT_EQ(info->count, 3u);
  EXPECT_EQ(info->last_timestamp_us, a3.timestamp_us);
}

TEST_F(StoreTest, ReadsOfEveryKind) {
  for (int i = 1; i <= 10; ++i) Send("c", "m" + std::to_string(i));
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 3)), (std::vector<std::string>{"m8", "m9", "m10"}));
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 50)).size(), 10u);
  EXPECT_EQ(Bodies(store_->Before({"t", "c"}, 4, 2)), (std::vector<std::string>{"m2", "m3"}));
  EXPECT_EQ(Bodies(store_->Before({"t", "c"}, 1, 5)).size(), 0u);
  EXPECT_EQ(Bodies(store_->Before({"t", "c"}, 0, 5)).size(), 0u);
  EXPECT_EQ(Bodies(store_->After({"t", "c"}, 7, 100)), (std::vector<std::string>{"m8", "m9", "m10"}));
  EXPECT_EQ(Bodies(store_->After({"t", "c"}, 0, 2)), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(Bodies(store_->After({"t", "c"}, 10, 5)).size(), 0u);
  auto m = store_->Get({"t", "c"}, 5);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->body, "m5");
  EXPECT_EQ(m->seq, 5u);
  EXPECT_EQ(m->sender, "alice");
  EXPECT_EQ(store_->Get({"t", "c"}, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get({"t", "c"}, 11).status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, EmptyConversation) {
  EXPECT_TRUE(Bodies(store_->Latest({"t", "nobody"}, 10)).empty());
  auto info = store_->Info({"t", "nobody"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_seq, 0u);
  EXPECT_EQ(info->count, 0u);
  EXPECT_EQ(store_->Get({"t", "nobody"}, 1).status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, ReadCountLimits) {
  Send("c", "x");
  EXPECT_EQ(store_->Latest({"t", "c"}, 0).status().code(), StatusCode::kInvalidArgument);
  auto over = store_->Latest({"t", "c"}, 1001);
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().ToString().find("max_read_count"), std::string::npos);
  EXPECT_TRUE(store_->Latest({"t", "c"}, 1000).ok());
}

TEST_F(StoreTest, MessageLimitsNameTheLimit) {
  AppendRequest r;
  r.conversation = {"t", "c"};
  std::string big(options_.max_body_bytes + 1, 'x');
  r.body = big;
  auto a = store_->Append(r);
  EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(a.status().ToString().find("max_body_bytes"), std::string::npos);
  r.body = "ok";
  std::string sender(256, 's');
  r.sender = sender;
  EXPECT_NE(store_->Append(r).status().ToString().find("max_sender_bytes"), std::string::npos);
  r.sender = "";
  std::string cid(65, 'c');
  r.client_id = cid;
  EXPECT_NE(store_->Append(r).status().ToString().find("max_client_id_bytes"), std::string::npos);
  r.client_id = "";
  r.conversation = {"t", ""};
  EXPECT_EQ(store_->Append(r).status().code(), StatusCode::kInvalidArgument);
  std::string long_conv(256, 'c');
  r.conversation = {"t", long_conv};
  EXPECT_EQ(store_->Append(r).status().code(), StatusCode::kInvalidArgument);
  r.conversation = {"", "c"};
  EXPECT_EQ(store_->Append(r).status().code(), StatusCode::kInvalidArgument);
  // Nothing was written.
  EXPECT_EQ(store_->Info({"t", "c"})->last_seq, 0u);
  StoreOptions bad;
  bad.max_body_bytes = (1u << 20) + 1;
  EXPECT_EQ(ValidateStoreOptions(bad).code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, NulBytesAndTenantIsolation) {
  const std::string nul_conv("a\0b", 3), other("a\0c", 3);
  Send(nul_conv, "n1");
  Send(other, "o1");
  Send("room", "t1-1", "", "tenant1");
  Send("room", "t2-1", "", "tenant2");
  Send("room", "t2-2", "", "tenant2");
  EXPECT_EQ(Bodies(store_->Latest({"t", nul_conv}, 10)), std::vector<std::string>{"n1"});
  EXPECT_EQ(Bodies(store_->Latest({"t", other}, 10)), std::vector<std::string>{"o1"});
  EXPECT_EQ(Bodies(store_->Latest({"tenant1", "room"}, 10)), std::vector<std::string>{"t1-1"});
  EXPECT_EQ(Bodies(store_->Latest({"tenant2", "room"}, 10)), (std::vector<std::string>{"t2-1", "t2-2"}));
  // ("ab","c") and ("a","bc") are different conversations.
  Send("c", "x", "", "ab");
  EXPECT_TRUE(Bodies(store_->Latest({"a", "bc"}, 10)).empty());
}

TEST_F(StoreTest, RetryWithClientIdIsIdempotent) {
  AppendAck first = Send("c", "hello", "cid-1");
  Send("c", "other");
  AppendAck retry = Send("c", "hello", "cid-1");
  EXPECT_TRUE(retry.duplicate);
  EXPECT_EQ(retry.seq, first.seq);
  EXPECT_EQ(retry.timestamp_us, first.timestamp_us);
  EXPECT_EQ(retry.offset, first.offset);
  EXPECT_EQ(store_->Info({"t", "c"})->last_seq, 2u);
  // The same client id in another conversation is a different message.
  EXPECT_FALSE(Send("d", "hello", "cid-1").duplicate);
  // It survives a restart.
  Reopen();
  AppendAck again = Send("c", "hello", "cid-1");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, first.seq);
  EXPECT_EQ(Send("c", "next").seq, 3u);
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.duplicates, 1u);  // counted since open
  EXPECT_EQ(st.fdatasyncs, 1u);  // the retry wrote nothing, so it synced nothing
}

TEST_F(StoreTest, DedupWindowExpires) {
  Send("c", "hello", "cid");
  clock_.AdvanceMillis(options_.dedup_window_ms + 1000);
  AppendAck late = Send("c", "hello", "cid");
  EXPECT_FALSE(late.duplicate);
  EXPECT_EQ(late.seq, 2u);
}

TEST_F(StoreTest, BatchAcrossPartitions) {
  std::vector<std::string> convs;
  for (int i = 0; i < 20; ++i) convs.push_back("conv" + std::to_string(i % 5));
  std::vector<AppendRequest> reqs(convs.size());
  std::vector<std::string> bodies;
  for (size_t i = 0; i < convs.size(); ++i) bodies.push_back("b" + std::to_string(i));
  for (size_t i = 0; i < convs.size(); ++i) {
    reqs[i].conversation = {"t", convs[i]};
    reqs[i].body = bodies[i];
  }
  auto acks = store_->AppendBatch(reqs);
  ASSERT_TRUE(acks.ok()) << acks.status().ToString();
  ASSERT_EQ(acks->size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ((*acks)[i].seq, i / 5 + 1) << i;
  EXPECT_EQ(Bodies(store_->Latest({"t", "conv3"}, 10)), (std::vector<std::string>{"b3", "b8", "b13", "b18"}));
}

TEST_F(StoreTest, SealedSegmentsAreIndexedAndSurviveReopen) {
  // ~1.5 KiB bodies over 1 MiB segments: several seals.
  std::map<std::string, uint64_t> last;
  const std::string pad = Incompressible(1500);
  for (int i = 0; i < 4000; ++i) {
    std::string conv = "c" + std::to_string(i % 37);
    AppendAck a = Send(conv, std::to_string(i) + pad);
    EXPECT_EQ(a.seq, ++last[conv]);
  }
  auto check = [&] {
    for (const auto& [conv, n] : last) {
      auto all = store_->After({"t", conv}, 0, 1000);
      ASSERT_TRUE(all.ok()) << all.status().ToString();
      ASSERT_EQ(all->size(), n) << conv;
      for (size_t k = 0; k < all->size(); ++k) EXPECT_EQ((*all)[k].seq, k + 1);
      auto latest = store_->Latest({"t", conv}, 7);
      ASSERT_TRUE(latest.ok());
      EXPECT_EQ(latest->back().seq, n);
      auto before = store_->Before({"t", conv}, n / 2, 3);
      ASSERT_TRUE(before.ok());
      EXPECT_EQ(before->back().seq, n / 2 - 1);
    }
  };
  check();
  Reopen();
  check();
  EXPECT_EQ(Send("c0", "after").seq, last["c0"] + 1);
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.conversations, 37u);
  EXPECT_GT(st.bytes_on_disk, 4000u * 1500 / 4);  // compressed, but there
}

TEST_F(StoreTest, LongRunsEntriesAreReadWhole) {
  // A sealed segment's runs entry is 64 B + 16 B per batch of the
  // conversation, and the first read of one takes 512 B. One message per
  // batch (blocking sends), ~680 per 1 MiB segment: "hot" gets ~340 batches
  // in each segment (entries of ~5.5 KiB), "warm" ~42 (~740 B), "cold" a few.
  const std::string pad = Incompressible(1500);
  std::map<std::string, std::vector<std::string>> sent;
  for (int i = 0; i < 3000; ++i) {
    const std::string conv = i % 2 == 0 ? "hot" : i % 16 == 1 ? "warm" : "cold" + std::to_string(i % 5);
    sent[conv].push_back(std::to_string(i) + pad);
    EXPECT_EQ(Send(conv, sent[conv].back()).seq, sent[conv].size());
  }
  store_.reset();
  options_.recent_cache_bytes = 0;  // every read goes through the .cix entries
  Open();
  for (const auto& [conv, bodies] : sent) {
    auto all = store_->After({"t", conv}, 0, 1000);
    ASSERT_TRUE(all.ok()) << conv << ": " << all.status().ToString();
    const auto first = std::min<std::ptrdiff_t>(1000, std::ssize(bodies));
    EXPECT_EQ(Bodies(all), std::vector<std::string>(bodies.begin(), bodies.begin() + first)) << conv;
    auto latest = store_->Latest({"t", conv}, 50);
    ASSERT_TRUE(latest.ok());
    const auto newest = std::min<std::ptrdiff_t>(50, std::ssize(bodies));
    EXPECT_EQ(Bodies(latest), std::vector<std::string>(bodies.end() - newest, bodies.end())) << conv;
  }
}

TEST_F(StoreTest, TailIndexBudgetSealsSegments) {
  // Small messages over many conversations fill a 64 KiB tail index long
  // before a 1 MiB segment fills: the index budget, not the size, seals.
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  StoreInternals in;
  in.fs = fs_.get();
  in.clock = &clock_;
  in.tail_index_bytes_per_partition = 64u << 10;
  auto opened = OpenStore(options_, "/db", in);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(*opened);
  std::map<std::string, uint64_t> last;
  uint64_t max_tail = 0;
  for (int i = 0; i < 12000; ++i) {
    std::string conv = "c" + std::to_string((i * 7919) % 3000);
    EXPECT_EQ(Send(conv, "m" + std::to_string(i)).seq, ++last[conv]);
    max_tail = std::max(max_tail, store_->Stats().tail_index_bytes);
  }
  // Per partition: the budget plus what one group (one message here) adds,
  // twice while a seal's index is written (the sealed tail index is kept).
  EXPECT_LE(max_tail, 2 * (2 * (64u << 10) + (32u << 10)));
  // Then many appends in flight, so groups are pipelined across seals.
  {
    std::mutex mu;
    std::condition_variable cv;
    size_t inflight = 0;
    Status first_error;
    for (int i = 12000; i < 40000; ++i) {
      std::string conv = "c" + std::to_string((i * 7919) % 3000);
      ++last[conv];
      std::string body = "m" + std::to_string(i);
      AppendRequest r;
      r.conversation = {"t", conv};
      r.sender = "alice";
      r.body = body;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return inflight < 512; });
        ++inflight;
      }
      Status s = store_->AppendAsync(r, [&](const Status& st, const AppendAck&) {
        std::lock_guard lock(mu);
        if (!st.ok() && first_error.ok()) first_error = st;
        --inflight;
        cv.notify_all();
      });
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return inflight == 0; });
    ASSERT_TRUE(first_error.ok()) << first_error.ToString();
  }
  size_t cix = 0, runs_only = 0;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    auto names = fs_->List(layout::PartitionDir("/db", p));
    ASSERT_TRUE(names.ok());
    for (const auto& n : *names) {
      if (!n.ends_with(".cix")) continue;
      ++cix;
      auto f = fs_->Open(layout::PartitionDir("/db", p) + "/" + n, io::OpenOptions{});
      ASSERT_TRUE(f.ok());
      std::vector<std::byte> head(cix::kHeaderSize);
      ASSERT_TRUE((*f)->ReadAt(0, head).ok());
      cix::Header h;
      ASSERT_TRUE(cix::DecodeHeader(head, &h).ok());
      runs_only += h.has_directory ? 0 : 1;
    }
  }
  EXPECT_GE(cix, 4u);  // several seals per partition, none by size
  // Most seals skip the directory snapshot (3,000 conversations: 120 KB of
  // directory against ~60 KB of runs per seal); the reopen below replays them.
  EXPECT_GE(runs_only, 2u);
  EXPECT_LT(runs_only, cix);
  // Each seal waits for its own tail to fill: no segment of a few records
  // right after one (the sealed index stays in the tail index until the
  // next segment's first batch is durable, and must not count for it).
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    auto names = fs_->List(layout::PartitionDir("/db", p));
    ASSERT_TRUE(names.ok());
    std::vector<uint64_t> bases;
    for (const auto& n : *names) {
      if (auto b = layout::ParseSegmentName(n)) bases.push_back(*b);
    }
    std::sort(bases.begin(), bases.end());
    for (size_t i = 1; i < bases.size(); ++i) EXPECT_GE(bases[i] - bases[i - 1], 500u) << "partition " << p;
  }
  auto check = [&] {
    for (const auto& [conv, n] : last) {
      auto all = store_->After({"t", conv}, 0, 1000);
      ASSERT_TRUE(all.ok()) << all.status().ToString();
      ASSERT_EQ(all->size(), n) << conv;
      for (size_t k = 0; k < n; ++k) EXPECT_EQ((*all)[k].seq, k + 1);
      auto latest = store_->Latest({"t", conv}, 2);
      ASSERT_TRUE(latest.ok());
      EXPECT_EQ(latest->back().seq, n);
    }
  };
  check();
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  opened = OpenStore(options_, "/db", in);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store_ = std::move(*opened);
  EXPECT_LE(store_->Stats().tail_index_bytes, 2 * (2 * (64u << 10) + (32u << 10)));
  check();
  EXPECT_EQ(Send("c0", "after").seq, last["c0"] + 1);
}

TEST_F(StoreTest, MissingIndexFileIsRebuilt) {
  const std::string pad = Incompressible(1500);
  for (int i = 0; i < 3000; ++i) Send("c" + std::to_string(i % 11), std::to_string(i) + pad);
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  int removed = 0;
  for (int p = 0; p < 2; ++p) {
    const std::string dir = "/db/p-000" + std::to_string(p);
    auto names = fs_->List(dir);
    ASSERT_TRUE(names.ok());
    for (const auto& n : *names) {
      if (n.size() > 4 && n.substr(n.size() - 4) == ".cix" && removed++ % 2 == 0) {
        ASSERT_TRUE(fs_->Remove(dir + "/" + n).ok());
      }
    }
  }
  ASSERT_GT(removed, 1);
  Open();
  for (int c = 0; c < 11; ++c) {
    auto all = store_->After({"t", "c" + std::to_string(c)}, 0, 1000);
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    EXPECT_EQ(all->size(), 3000u / 11 + (c < 3000 % 11 ? 1 : 0));
  }
}

TEST_F(StoreTest, TruncationRollsBackSeqIndexAndDedup) {
  options_.partitions = 1;
  store_.reset();
  fs_ = io::NewMemFileSystem();
  Open();
  const std::string pad = Incompressible(1500);
  for (int i = 0; i < 1500; ++i) Send("c" + std::to_string(i % 3), pad);
  const uint64_t cut = PartitionNextOffset(store_.get(), 0);
  auto before_info = *store_->Info({"t", "c1"});
  for (int i = 0; i < 1500; ++i) Send("c" + std::to_string(i % 3), pad, "id" + std::to_string(i));
  ASSERT_TRUE(TruncatePartition(store_.get(), 0, cut).ok());
  auto info = store_->Info({"t", "c1"});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_seq, before_info.last_seq);
  EXPECT_EQ(info->last_timestamp_us, before_info.last_timestamp_us);
  // Seqs continue from the surviving end and the cut client ids are new again.
  AppendAck a = Send("c1", "fresh", "id1");
  EXPECT_FALSE(a.duplicate);
  EXPECT_EQ(a.seq, before_info.last_seq + 1);
  auto latest = store_->Latest({"t", "c1"}, 2);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->back().body, "fresh");
  Reopen();
  EXPECT_EQ(store_->Info({"t", "c1"})->last_seq, before_info.last_seq + 1);
  EXPECT_EQ(store_->After({"t", "c1"}, 0, 1000)->size(), before_info.last_seq + 1);
}

TEST_F(StoreTest, RecentCacheServesReadsIsWarmedAtOpenAndDroppedByTruncation) {
  options_.partitions = 1;
  store_.reset();
  fs_ = io::NewMemFileSystem();
  Open();
  for (int i = 1; i <= 10; ++i) Send("c", "m" + std::to_string(i));
  const uint64_t block_misses = store_->Stats().cache_misses;
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 3)), (std::vector<std::string>{"m8", "m9", "m10"}));
  EXPECT_EQ(Bodies(store_->After({"t", "c"}, 8, 10)), (std::vector<std::string>{"m9", "m10"}));
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.recent_hits, 2u);
  EXPECT_EQ(st.cache_misses, block_misses) << "served without touching the log";
  EXPECT_EQ(st.recent_conversations, 1u);
  EXPECT_GT(st.recent_bytes, 0u);

  Reopen();  // recovery feeds the tail to the cache
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 2)), (std::vector<std::string>{"m9", "m10"}));
  EXPECT_EQ(store_->Stats().recent_hits, 1u);

  const uint64_t cut = PartitionNextOffset(store_.get(), 0);
  for (int i = 11; i <= 15; ++i) Send("c", "m" + std::to_string(i));
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 1)), (std::vector<std::string>{"m15"}));
  ASSERT_TRUE(TruncatePartition(store_.get(), 0, cut).ok());
  EXPECT_EQ(store_->Stats().recent_conversations, 0u);
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 2)), (std::vector<std::string>{"m9", "m10"}));
  EXPECT_EQ(Send("c", "after").seq, 11u);
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 2)), (std::vector<std::string>{"m10", "after"}));
  EXPECT_EQ(Bodies(store_->After({"t", "c"}, 9, 10)), (std::vector<std::string>{"m10", "after"}));
}

TEST_F(StoreTest, ReadsAreTheSameWithAndWithoutTheRecentCache) {
  for (int i = 0; i < 400; ++i) Send("c" + std::to_string(i % 7), "m" + std::to_string(i));
  auto all = [&] {
    std::vector<std::vector<std::string>> out;
    for (int c = 0; c < 7; ++c) {
      const std::string name = "c" + std::to_string(c);
      const ConversationRef ref{"t", name};
      for (size_t n : {1, 5, 50, 100}) out.push_back(Bodies(store_->Latest(ref, n)));
      for (uint64_t q : {0, 1, 20, 57, 58, 99}) {
        out.push_back(Bodies(store_->After(ref, q, 10)));
        out.push_back(Bodies(store_->Before(ref, q, 10)));
      }
    }
    return out;
  };
  const auto cached = all();
  EXPECT_GT(store_->Stats().recent_hits, 0u);
  store_.reset();
  options_.recent_cache_bytes = 0;
  Open();
  EXPECT_EQ(all(), cached);
  EXPECT_EQ(store_->Stats().recent_hits, 0u);
}

TEST_F(StoreTest, DataIsEncryptedAtRest) {
  const std::string secret = "the launch code is 0000";
  Send("c", secret);
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  for (int p = 0; p < 2; ++p) {
    const std::string dir = "/db/p-000" + std::to_string(p);
    auto names = fs_->List(dir);
    ASSERT_TRUE(names.ok());
    for (const auto& n : *names) {
      auto f = fs_->Open(dir + "/" + n, io::OpenOptions{.read_only = true});
      ASSERT_TRUE(f.ok());
      std::string bytes(*(*f)->Size(), '\0');
      ASSERT_TRUE((*f)->ReadAt(0, {reinterpret_cast<std::byte*>(bytes.data()), bytes.size()}).ok());
      EXPECT_EQ(bytes.find("launch code"), std::string::npos) << n << " holds plaintext";
    }
  }
  Open();
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 1)), std::vector<std::string>{secret});
}

TEST_F(StoreTest, KeysAreRequiredAndChecked) {
  store_.reset();
  unsetenv("WARBLER_KEK");
  StoreInternals in;
  in.fs = fs_.get();
  // A new store without a KEK is refused, with the command that makes one, and nothing is created.
  auto none = OpenStore(options_, "/fresh", in);
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(none.status().ToString().find("warbler keygen"), std::string::npos) << none.status().ToString();
  EXPECT_FALSE(*fs_->Exists("/fresh/STORE"));
  // The wrong KEK: a clear error, nothing changed.
  setenv("WARBLER_KEK", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", 1);
  auto wrong = OpenStore(options_, "/db", in);
  EXPECT_EQ(wrong.status().code(), StatusCode::kUnauthenticated) << wrong.status().ToString();
  // Encryption off on an encrypted store is refused too.
  StoreOptions plain = options_;
  plain.encryption = false;
  EXPECT_EQ(OpenStore(plain, "/db", in).status().code(), StatusCode::kFailedPrecondition);
  testing::UseTestKek();
  Open();
  EXPECT_TRUE(store_->Info({"t", "c"}).ok());
}

TEST_F(StoreTest, DataKeyRotationKeepsOldMessagesReadable) {
  Send("c", "before");
  ASSERT_TRUE(store_->RotateDataKey("").ok());
  ASSERT_TRUE(store_->RotateDataKey("t").ok());
  Send("c", "after");
  Reopen();
  EXPECT_EQ(Bodies(store_->Latest({"t", "c"}, 5)), (std::vector<std::string>{"before", "after"}));
  EXPECT_EQ(store_->RotateDataKey(std::string(300, 'x')).code(), StatusCode::kInvalidArgument);
}

TEST_F(StoreTest, ClosedStoreRefuses) {
  ASSERT_TRUE(store_->Close().ok());
  AppendRequest r;
  r.conversation = {"t", "c"};
  EXPECT_EQ(store_->Append(r).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(store_->Latest({"t", "c"}, 1).status().code(), StatusCode::kUnavailable);
}

// The store's Prometheus text names its I/O backend and carries the
// dictionary registry's families; on a file system that is not io_uring
// (here the in-memory one) the warbler_uring_* families are absent.
TEST_F(StoreTest, MetricsNameTheBackendAndCountDictionaries) {
  Send("c", "hello");
  const std::string text = store_->PrometheusMetrics();
  EXPECT_NE(text.find("# TYPE warbler_io_backend_info gauge\n"
                      "warbler_io_backend_info{backend=\"mem\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("warbler_uring_"), std::string::npos) << text;
  for (const char* line :
       {"# TYPE warbler_dictionaries gauge\nwarbler_dictionaries 0\n",
        "# TYPE warbler_dictionaries_memory_bytes gauge\nwarbler_dictionaries_memory_bytes 0\n",
        "# TYPE warbler_dictionaries_loaded_total counter\nwarbler_dictionaries_loaded_total 0\n",
        "# TYPE warbler_dictionaries_unavailable_total counter\n"
        "warbler_dictionaries_unavailable_total 0\n",
        "# TYPE warbler_dictionaries_trained_total counter\nwarbler_dictionaries_trained_total 0\n",
        "# TYPE warbler_dictionaries_training_failures_total counter\n"
        "warbler_dictionaries_training_failures_total 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nnot in:\n" << text;
  }

  // An installed dictionary is counted, with its memory.
  std::vector<std::string> samples;
  for (uint32_t i = 0; i < 2000; ++i) {
    samples.push_back("{\"user\":\"user-" + std::to_string(i * 7919 % 1000) +
                      "\",\"room\":\"room-" + std::to_string(i * 31 % 50) +
                      "\",\"text\":\"see you at " + std::to_string(i % 24) + " o'clock, bring " +
                      std::to_string(i % 7) + " friends\"}");
  }
  auto trained = codec::TrainDictionary(samples, 8 << 10);
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ASSERT_TRUE(StoreDictionaries(store_.get())->Install("t", *trained).ok());
  const std::string after = store_->PrometheusMetrics();
  EXPECT_NE(after.find("\nwarbler_dictionaries 1\n"), std::string::npos) << after;
  EXPECT_NE(after.find("\nwarbler_dictionaries_loaded_total 1\n"), std::string::npos) << after;
  EXPECT_EQ(after.find("\nwarbler_dictionaries_memory_bytes 0\n"), std::string::npos) << after;
}

// A store on one io backend in a fresh temporary directory, for the
// backend metrics tests; closes the store and removes the directory.
class StoreBackendMetricsTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Store>> OpenOn(IoBackend io, uint32_t partitions) {
    testing::UseTestKek();
    dir_ = testing::MakeTempDir("warbler-store-backend-metrics");
    StoreOptions o;
    o.partitions = partitions;
    o.segment_bytes = 1u << 20;
    o.io = io;
    return Store::Open(o, dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  std::string dir_;
};

// With the io_uring backend the warbler_uring_* counters are exported and
// count the partition logs' rings (queues from NewQueue) too.
TEST_F(StoreBackendMetricsTest, UringBackendExportsItsCounters) {
  auto store = OpenOn(IoBackend::kUring, 2);
  if (!store.ok() && store.status().code() == StatusCode::kUnavailable) {
    GTEST_SKIP() << "io_uring unavailable here: " << store.status().ToString();
  }
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  AppendRequest r;
  r.conversation = {"t", "c"};
  r.sender = "alice";
  r.body = "hello";
  ASSERT_TRUE((*store)->Append(r).ok());
  const std::string text = (*store)->PrometheusMetrics();
  EXPECT_NE(text.find("warbler_io_backend_info{backend=\"uring\"} 1\n"), std::string::npos) << text;
  for (const char* family : {"warbler_uring_submissions_total", "warbler_uring_sqes_total",
                             "warbler_uring_short_transfers_total", "warbler_uring_canceled_total",
                             "warbler_uring_retries_total"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " counter\n" + family + " "),
              std::string::npos)
        << family << " not in:\n"
        << text;
  }
  ASSERT_TRUE((*store)->Close().ok());
}

// The POSIX backend names itself and exports no io_uring counters.
TEST_F(StoreBackendMetricsTest, PosixBackendHasNoUringCounters) {
  auto store = OpenOn(IoBackend::kPosix, 1);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  const std::string text = (*store)->PrometheusMetrics();
  EXPECT_NE(text.find("warbler_io_backend_info{backend=\"posix\"} 1\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("warbler_uring_"), std::string::npos) << text;
  ASSERT_TRUE((*store)->Close().ok());
}

}  // namespace
}  // namespace warbler::engine
