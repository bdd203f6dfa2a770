// RecentCache (engine/conv/recent_cache.h): which reads it serves whole, how
// entries start, extend, trim and are refused, fills, and eviction with a
// second chance for entries read lately.
#include "engine/conv/recent_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warbler::engine {
namespace {

const ConvId kA = MakeConvId("t", "a");
const ConvId kB = MakeConvId("t", "b");

std::string Body(uint64_t seq) { return "body-" + std::to_string(seq) + std::string(seq % 7, '.'); }

void Put(RecentCache& c, const ConvId& id, uint64_t seq, bool anywhere = false) {
  const std::string body = Body(seq);
  c.Append(id, {seq, seq * 10, seq * 100, "sender", "cid-" + std::to_string(seq), body}, anywhere);
}

std::vector<uint64_t> Seqs(const std::vector<Message>& v) {
  std::vector<uint64_t> s;
  for (const Message& m : v) s.push_back(m.seq);
  return s;
}

std::vector<uint64_t> Range(uint64_t lo, uint64_t hi) {
  std::vector<uint64_t> s;
  for (uint64_t q = lo; q <= hi; ++q) s.push_back(q);
  return s;
}

std::vector<Message> Msgs(uint64_t lo, uint64_t hi) {
  std::vector<Message> v;
  for (uint64_t q = lo; q <= hi; ++q) v.push_back({q, q * 10, q * 100, "sender", "cid-" + std::to_string(q), Body(q)});
  return v;
}

TEST(RecentCacheTest, NewConversationIsServedWholeWithEveryField) {
  RecentCache c(1 << 20);
  for (uint64_t q = 1; q <= 5; ++q) Put(c, kA, q);
  std::vector<Message> out;
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 50, &out));
  EXPECT_EQ(Seqs(out), Range(1, 5));
  EXPECT_EQ(out[2].timestamp_us, 30u);
  EXPECT_EQ(out[2].offset, 300u);
  EXPECT_EQ(out[2].sender, "sender");
  EXPECT_EQ(out[2].client_id, "cid-3");
  EXPECT_EQ(out[2].body, Body(3));
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 2, &out));
  EXPECT_EQ(Seqs(out), Range(4, 5));
  ASSERT_TRUE(c.Read(kA, ReadKind::kAfter, 2, 10, &out));
  EXPECT_EQ(Seqs(out), Range(3, 5));
  ASSERT_TRUE(c.Read(kA, ReadKind::kAfter, 5, 10, &out));  // nothing newer: a hit, empty
  EXPECT_TRUE(out.empty());
  ASSERT_TRUE(c.Read(kA, ReadKind::kBefore, 4, 2, &out));
  EXPECT_EQ(Seqs(out), Range(2, 3));
  ASSERT_TRUE(c.Read(kA, ReadKind::kGet, 3, 1, &out));
  EXPECT_EQ(Seqs(out), Range(3, 3));
  ASSERT_TRUE(c.Read(kA, ReadKind::kGet, 9, 1, &out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(c.Read(kB, ReadKind::kLatest, 0, 50, &out));  // unknown: a miss
  EXPECT_EQ(c.hits(), 7u);
  EXPECT_EQ(c.misses(), 1u);
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_GT(c.bytes(), RecentCache::kEntryOverhead);
}

TEST(RecentCacheTest, OnlyAConversationsStartOrRecoveryStartsAnEntry) {
  RecentCache c(1 << 20);
  Put(c, kA, 7);  // the older messages are unknown
  std::vector<Message> out;
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, 1, &out));
  Put(c, kA, 7, /*anywhere=*/true);
  Put(c, kA, 8);
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 2, &out));
  EXPECT_EQ(Seqs(out), Range(7, 8));
  // Newest 3 would need seq 6: a miss, not a short answer.
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, 3, &out));
  EXPECT_FALSE(c.Read(kA, ReadKind::kAfter, 5, 10, &out));
  EXPECT_FALSE(c.Read(kA, ReadKind::kGet, 6, 1, &out));
}

TEST(RecentCacheTest, AGapDropsTheEntryAndARepeatIsIgnored) {
  RecentCache c(1 << 20);
  for (uint64_t q = 1; q <= 3; ++q) Put(c, kA, q);
  Put(c, kA, 3);  // already held (a fill got there first)
  std::vector<Message> out;
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 10, &out));
  EXPECT_EQ(Seqs(out), Range(1, 3));
  Put(c, kA, 5);  // seq 4 never came: the entry can no longer be trusted
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, 1, &out));
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(RecentCacheTest, TrimsToTheNewestMaxMessages) {
  RecentCache c(8 << 20);
  const uint64_t n = 3 * RecentCache::kMaxMessages;
  for (uint64_t q = 1; q <= n; ++q) Put(c, kA, q);
  std::vector<Message> out;
  // At most kMaxMessages + a quarter are held; the newest kMaxMessages always.
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, RecentCache::kMaxMessages, &out));
  EXPECT_EQ(Seqs(out), Range(n - RecentCache::kMaxMessages + 1, n));
  EXPECT_EQ(out.back().body, Body(n));
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, RecentCache::kMaxMessages + RecentCache::kMaxMessages / 4, &out));
  EXPECT_FALSE(c.Read(kA, ReadKind::kAfter, 0, 10, &out));
}

TEST(RecentCacheTest, FillKeepsAReadsSuffixIfItReachesFurtherBack) {
  RecentCache c(1 << 20);
  std::vector<Message> out;
  c.Fill(kA, Msgs(11, 30));  // a first miss is only remembered (doorkeeper)
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, 1, &out));
  c.Fill(kA, Msgs(11, 30));
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 20, &out));
  EXPECT_EQ(Seqs(out), Range(11, 30));
  EXPECT_EQ(out[0].client_id, "cid-11");
  // A shorter read does not replace it; a longer one does.
  c.Fill(kA, Msgs(21, 30));
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 20, &out));
  EXPECT_EQ(Seqs(out), Range(11, 30));
  c.Fill(kA, Msgs(1, 30));
  ASSERT_TRUE(c.Read(kA, ReadKind::kLatest, 0, 30, &out));
  EXPECT_EQ(Seqs(out), Range(1, 30));
  // A fill longer than an entry may hold keeps its newest kMaxMessages.
  c.Fill(kB, Msgs(1, 100));
  c.Fill(kB, Msgs(1, 100));
  EXPECT_FALSE(c.Read(kB, ReadKind::kLatest, 0, RecentCache::kMaxMessages + 1, &out));
  ASSERT_TRUE(c.Read(kB, ReadKind::kLatest, 0, RecentCache::kMaxMessages, &out));
  EXPECT_EQ(out.front().seq, 100 - RecentCache::kMaxMessages + 1);
  // And the writer extends a filled entry.
  Put(c, kB, 101);
  ASSERT_TRUE(c.Read(kB, ReadKind::kAfter, 99, 10, &out));
  EXPECT_EQ(Seqs(out), Range(100, 101));
}

TEST(RecentCacheTest, EvictsTheLeastRecentlyUsedButGivesReadEntriesASecondChance) {
  // One shard, room for a few small conversations.
  RecentCache c(4 * (RecentCache::kEntryOverhead + 64), /*shards=*/1);
  std::vector<ConvId> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(MakeConvId("t", "c" + std::to_string(i)));
    Put(c, ids.back(), 1);
  }
  std::vector<Message> out;
  ASSERT_TRUE(c.Read(ids[0], ReadKind::kLatest, 0, 1, &out));  // oldest, but read
  for (int i = 3; i < 6; ++i) {
    ids.push_back(MakeConvId("t", "c" + std::to_string(i)));
    Put(c, ids.back(), 1);
  }
  EXPECT_LE(c.bytes(), c.capacity());
  EXPECT_TRUE(c.Read(ids[0], ReadKind::kLatest, 0, 1, &out)) << "read lately: kept";
  EXPECT_FALSE(c.Read(ids[1], ReadKind::kLatest, 0, 1, &out)) << "never read, oldest: evicted";
  EXPECT_TRUE(c.Read(ids[5], ReadKind::kLatest, 0, 1, &out));
}

TEST(RecentCacheTest, ChargesAboutWhatItHolds) {
  // Growth is by an eighth (std::string would double): 20 messages of 264
  // bytes each are charged at most ~1/8 over what they take.
  RecentCache c(64 << 20);
  const std::string sender(16, 's'), cid(16, 'c'), body(200, 'b');
  const size_t held = 20 * (32 + 16 + 16 + 200);
  for (uint64_t q = 1; q <= 20; ++q) c.Append(kA, {q, q, q, sender, cid, body});
  EXPECT_GE(c.bytes(), held + RecentCache::kEntryOverhead);
  EXPECT_LE(c.bytes(), held + held / 8 + RecentCache::kEntryOverhead);
}

TEST(RecentCacheTest, AnEntryLargerThanAShardIsNotKept) {
  RecentCache c(64 << 10, /*shards=*/4);
  const std::string big(32 << 10, 'x');
  c.Append(kA, {1, 1, 1, "s", "", big});
  std::vector<Message> out;
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, 1, &out));
  EXPECT_EQ(c.bytes(), 0u);
}

TEST(RecentCacheTest, OneOffReadsDoNotDisplaceWhatIsCached) {
  // Room for about 8 conversations in one shard; 8 written ones are cached.
  RecentCache c(8 * (RecentCache::kEntryOverhead + 2 * 80), /*shards=*/1);
  std::vector<ConvId> written;
  for (int i = 0; i < 8; ++i) {
    written.push_back(MakeConvId("t", "w" + std::to_string(i)));
    Put(c, written.back(), 1);
  }
  const size_t kept = c.entries();
  // 1,000 other conversations read once each: none is admitted.
  for (int i = 0; i < 1000; ++i) c.Fill(MakeConvId("t", "r" + std::to_string(i)), Msgs(1, 2));
  EXPECT_EQ(c.entries(), kept);
  std::vector<Message> out;
  for (const ConvId& id : written) EXPECT_TRUE(c.Read(id, ReadKind::kLatest, 0, 1, &out));
  // One read twice is.
  const ConvId hot = MakeConvId("t", "hot");
  c.Fill(hot, Msgs(1, 2));
  c.Fill(hot, Msgs(1, 2));
  EXPECT_TRUE(c.Read(hot, ReadKind::kLatest, 0, 2, &out));
}

TEST(RecentCacheTest, ClearAndDisabled) {
  RecentCache c(1 << 20);
  Put(c, kA, 1);
  c.Clear();
  std::vector<Message> out;
  EXPECT_FALSE(c.Read(kA, ReadKind::kLatest, 0, 1, &out));
  EXPECT_EQ(c.bytes(), 0u);
  RecentCache off(0);
  EXPECT_FALSE(off.enabled());
  Put(off, kA, 1);
  off.Fill(kB, Msgs(1, 3));
  EXPECT_FALSE(off.Read(kA, ReadKind::kLatest, 0, 1, &out));
  EXPECT_FALSE(off.Read(kB, ReadKind::kLatest, 0, 1, &out));
  EXPECT_EQ(off.entries(), 0u);
}

}  // namespace
}  // namespace warbler::engine
