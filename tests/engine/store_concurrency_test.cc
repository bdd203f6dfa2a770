// Readers and writers on the same conversations at once (run it under TSan:
// the `tsan` preset). Writers append with every API (blocking, async, batch,
// retries of their own client ids); readers check each reply against what was
// acknowledged before it started:
//   - the reply is a contiguous seq range, where the request says it must be;
//   - every message acknowledged before the read started is visible;
//   - Latest never goes backwards for a reader;
//   - each body names the writer and its counter, and after the run every
//     observed (seq, body) pair equals what that writer's ack said.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/rng.h"
#include "engine/store/store_impl.h"
#include "io/mem_fs.h"
#include "tests/test_keys.h"

namespace warbler::engine {
namespace {

constexpr int kWriters = 3;
constexpr int kReaders = 3;
constexpr uint64_t kPerWriter = 600;
constexpr int kConvs = 3;
const std::string kTenant = "t";

std::string ConvName(int c) { return "room" + std::to_string(c); }

// Body: "w<writer>:<counter>:" then incompressible padding (so segments roll).
std::string MakeBody(int writer, uint64_t counter, Rng& rng) {
  std::string s = "w" + std::to_string(writer) + ":" + std::to_string(counter) + ":";
  const size_t pad = 1500 + rng.Uniform(3000);
  for (size_t i = 0; i < pad; ++i) s.push_back(static_cast<char>(rng.Next()));
  return s;
}

bool ParseBody(const std::string& body, int* writer, uint64_t* counter) {
  if (body.empty() || body[0] != 'w') return false;
  const size_t a = body.find(':');
  const size_t b = a == std::string::npos ? a : body.find(':', a + 1);
  if (b == std::string::npos) return false;
  *writer = std::stoi(body.substr(1, a - 1));
  *counter = std::stoull(body.substr(a + 1, b - a - 1));
  return true;
}

struct Seen {
  int conv;
  uint64_t seq;
  int writer;
  uint64_t counter;
};

class StoreConcurrencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = io::NewMemFileSystem();
    StoreOptions o;
    o.partitions = 2;
    o.segment_bytes = 1u << 20;
    o.compress = false;
    o.block_cache_bytes = 256u << 10;  // small: evictions race with reads
    o.recent_cache_bytes = 96u << 10;  // small: fills and evictions race with appends
    StoreInternals in;
    in.fs = fs_.get();
    warbler::testing::UseTestKek();  // encryption is on by default
    auto s = OpenStore(o, "/db", in);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    for (auto& a : acked_max_) a.store(0);
  }

  // Records an ack: (conv, seq) came from (writer, counter).
  void Acked(int writer, uint64_t counter, int conv, const AppendAck& ack) {
    {
      std::lock_guard lock(mu_);
      auto [it, fresh] = acks_.try_emplace({writer, counter}, std::make_pair(conv, ack.seq));
      EXPECT_TRUE(fresh || it->second == std::make_pair(conv, ack.seq)) << "two acks for one message";
    }
    uint64_t prev = acked_max_[conv].load();
    while (prev < ack.seq && !acked_max_[conv].compare_exchange_weak(prev, ack.seq)) {
    }
  }

  void Writer(int w) {
    Rng rng(1000 + w);
    std::atomic<int>& inflight = inflight_[w];  // a member: callbacks may outlive an early return
    for (uint64_t i = 0; i < kPerWriter && !HasFailure();) {
      const int conv = static_cast<int>(rng.Uniform(kConvs));
      const std::string cname = ConvName(conv);
      const uint64_t mode = rng.Uniform(4);
      if (mode == 0) {  // a batch of up to 4, across conversations
        const size_t n = std::min<uint64_t>(1 + rng.Uniform(4), kPerWriter - i);
        std::vector<std::string> bodies, names;
        std::vector<int> convs;
        for (size_t k = 0; k < n; ++k) {
          convs.push_back(static_cast<int>(rng.Uniform(kConvs)));
          names.push_back(ConvName(convs.back()));
          bodies.push_back(MakeBody(w, i + k, rng));
        }
        std::vector<AppendRequest> reqs(n);
        for (size_t k = 0; k < n; ++k) {
          reqs[k].conversation = {kTenant, names[k]};
          reqs[k].body = bodies[k];
        }
        auto acks = store_->AppendBatch(reqs);
        ASSERT_TRUE(acks.ok()) << acks.status().ToString();
        for (size_t k = 0; k < n; ++k) Acked(w, i + k, convs[k], (*acks)[k]);
        i += n;
        continue;
      }
      const std::string body = MakeBody(w, i, rng);
      const std::string cid = "w" + std::to_string(w) + "-" + std::to_string(i);
      AppendRequest r;
      r.conversation = {kTenant, cname};
      r.body = body;
      r.client_id = cid;
      if (mode == 1) {  // async, a few in flight
        while (inflight.load() >= 8) std::this_thread::yield();
        inflight.fetch_add(1);
        Status s = store_->AppendAsync(r, [this, w, i, conv, &inflight](const Status& st, const AppendAck& a) {
          EXPECT_TRUE(st.ok()) << st.ToString();
          if (st.ok()) Acked(w, i, conv, a);
          inflight.fetch_sub(1);
        });
        if (!s.ok()) {
          ADD_FAILURE() << s.ToString();
          inflight.fetch_sub(1);
          break;
        }
      } else {
        auto a = store_->Append(r);
        ASSERT_TRUE(a.ok()) << a.status().ToString();
        ASSERT_FALSE(a->duplicate);
        Acked(w, i, conv, *a);
        if (rng.OneIn(8)) {  // the client did not hear the ack and retries
          auto again = store_->Append(r);
          ASSERT_TRUE(again.ok()) << again.status().ToString();
          EXPECT_TRUE(again->duplicate);
          EXPECT_EQ(again->seq, a->seq);
          EXPECT_EQ(again->timestamp_us, a->timestamp_us);
        }
      }
      ++i;
    }
    while (inflight.load() > 0) std::this_thread::yield();
  }

  // Checks one reply: seqs contiguous from `lo` (if nonzero), bodies well-formed.
  void CheckReply(int conv, const std::vector<Message>& msgs, uint64_t lo, std::vector<Seen>* seen) {
    for (size_t k = 0; k < msgs.size(); ++k) {
      if (k > 0) {
        ASSERT_EQ(msgs[k].seq, msgs[k - 1].seq + 1) << "reply is not a contiguous range";
      }
      if (lo != 0) {
        ASSERT_EQ(msgs[k].seq, lo + k);
      }
      Seen s{conv, msgs[k].seq, 0, 0};
      ASSERT_TRUE(ParseBody(msgs[k].body, &s.writer, &s.counter)) << "garbled body at seq " << msgs[k].seq;
      seen->push_back(s);
    }
  }

  void Reader(int id, std::vector<Seen>* seen) {
    Rng rng(2000 + id);
    uint64_t latest_seen[kConvs] = {};
    while (!writers_done_.load() && !HasFailure()) {
      const int conv = static_cast<int>(rng.Uniform(kConvs));
      const std::string name = ConvName(conv);
      const ConversationRef c{kTenant, name};
      const uint64_t before = acked_max_[conv].load();  // acknowledged before the read starts
      const size_t n = 1 + rng.Uniform(60);
      switch (rng.Uniform(4)) {
        case 0: {
          auto r = store_->Latest(c, n);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          const uint64_t last = r->empty() ? 0 : r->back().seq;
          ASSERT_GE(last, before) << "an acknowledged message is not visible";
          ASSERT_GE(last, latest_seen[conv]) << "Latest went backwards";
          latest_seen[conv] = last;
          if (before > 0) {
            ASSERT_EQ(r->size(), std::min<uint64_t>(n, last));
          }
          CheckReply(conv, *r, last == 0 ? 0 : last - r->size() + 1, seen);
          break;
        }
        case 1: {  // page back from just past the acknowledged end
          if (before == 0) break;
          const uint64_t from = 1 + rng.Uniform(before + 1);
          auto r = store_->Before(c, from, n);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          const uint64_t want = std::min<uint64_t>(n, from - 1);
          ASSERT_EQ(r->size(), want);
          CheckReply(conv, *r, from - want, seen);
          break;
        }
        case 2: {  // sync from a point inside the acknowledged range
          const uint64_t from = rng.Uniform(before + 1);
          auto r = store_->After(c, from, n);
          ASSERT_TRUE(r.ok()) << r.status().ToString();
          ASSERT_GE(r->size(), std::min<uint64_t>(n, before - from));
          CheckReply(conv, *r, from + 1, seen);
          break;
        }
        default: {
          auto info = store_->Info(c);
          ASSERT_TRUE(info.ok());
          ASSERT_GE(info->last_seq, before);
          if (before == 0) break;
          auto m = store_->Get(c, before);
          ASSERT_TRUE(m.ok()) << m.status().ToString();
          CheckReply(conv, {*m}, before, seen);
        }
      }
    }
  }

  std::unique_ptr<io::FileSystem> fs_;
  std::unique_ptr<Store> store_;
  std::mutex mu_;
  std::map<std::pair<int, uint64_t>, std::pair<int, uint64_t>> acks_;  // (writer, counter) -> (conv, seq)
  std::atomic<uint64_t> acked_max_[kConvs];
  std::atomic<bool> writers_done_{false};
  std::atomic<int> inflight_[kWriters] = {};
};

TEST_F(StoreConcurrencyTest, ReadersSeeAcknowledgedPrefixWhileWritersAppend) {
  std::vector<std::vector<Seen>> seen(kReaders);
  std::vector<std::thread> readers, writers;
  for (int r = 0; r < kReaders; ++r) readers.emplace_back([this, r, &seen] { Reader(r, &seen[r]); });
  for (int w = 0; w < kWriters; ++w) writers.emplace_back([this, w] { Writer(w); });
  for (auto& t : writers) t.join();
  writers_done_ = true;
  for (auto& t : readers) t.join();
  ASSERT_FALSE(HasFailure());

  // Every message: acked exactly once, seqs per conversation 1..N with no gap.
  ASSERT_EQ(acks_.size(), kWriters * kPerWriter);
  std::map<std::pair<int, uint64_t>, std::pair<int, uint64_t>> by_seq;  // (conv, seq) -> (writer, counter)
  for (const auto& [who, where] : acks_) ASSERT_TRUE(by_seq.emplace(where, who).second) << "seq given twice";
  for (int c = 0; c < kConvs; ++c) {
    auto info = store_->Info({kTenant, ConvName(c)});
    ASSERT_TRUE(info.ok());
    ASSERT_EQ(info->last_seq, acked_max_[c].load());
    for (uint64_t s = 1; s <= info->last_seq; ++s) ASSERT_TRUE(by_seq.contains({c, s})) << "gap at " << s;
  }
  // Every reply held exactly the message its seq was acknowledged for.
  size_t observed = 0;
  for (const auto& list : seen) {
    for (const Seen& s : list) {
      auto it = by_seq.find({s.conv, s.seq});
      ASSERT_NE(it, by_seq.end()) << "read a seq that was never acknowledged";
      ASSERT_EQ(it->second, std::make_pair(s.writer, s.counter)) << "conv " << s.conv << " seq " << s.seq;
      ++observed;
    }
  }
  EXPECT_GT(observed, 0u);
  const StoreStats st = store_->Stats();
  EXPECT_GT(st.recent_hits, 0u) << "the recent cache served some reads";
  EXPECT_GT(st.recent_misses, 0u) << "and the index the others";
  ASSERT_TRUE(store_->Close().ok());
  // Segments were sealed (and indexed) while readers were reading.
  size_t sealed = 0;
  for (const char* dir : {"/db/p-0000", "/db/p-0001"}) {
    auto names = fs_->List(dir);
    ASSERT_TRUE(names.ok()) << names.status().ToString();
    for (const auto& n : *names) sealed += n.ends_with(".cix") ? 1 : 0;
  }
  EXPECT_GE(sealed, 1u);
}

}  // namespace
}  // namespace warbler::engine
