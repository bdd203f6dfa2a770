// WarmStage (engine/conv/warm_stage.h): which staged runs reach the recent
// cache, and the byte bound that drops the oldest staged records.
#include "engine/conv/warm_stage.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warbler::engine {
namespace {

const ConvId kA = MakeConvId("t", "a");
const ConvId kB = MakeConvId("t", "b");
const ConvId kC = MakeConvId("t", "c");

void Stage(WarmStage& w, const ConvId& id, uint64_t seq, const std::string& body, uint64_t offset) {
  RecordView r;
  r.seq = seq;
  r.timestamp_us = seq * 10;
  r.offset = offset;
  r.sender = "s";
  r.client_id = "cid";
  r.body = body;
  w.Add(id, r);
}

std::vector<uint64_t> Latest(RecentCache& c, const ConvId& id, size_t n) {
  std::vector<Message> out;
  if (!c.Read(id, ReadKind::kLatest, 0, n, &out)) return {};
  std::vector<uint64_t> seqs;
  for (const Message& m : out) seqs.push_back(m.seq);
  return seqs;
}

TEST(WarmStageTest, FeedsWholeConversationsAndLongRunsOnly) {
  WarmStage w(1 << 20, 4);
  uint64_t off = 0;
  // a: seqs 1..2 (whole); b: 10..14 (5 >= 4); c: 7..9 (3 < 4, not from 1). Interleaved.
  for (uint64_t i = 0; i < 5; ++i) {
    if (i < 2) Stage(w, kA, 1 + i, "a" + std::to_string(i), off++);
    Stage(w, kB, 10 + i, "b" + std::to_string(i), off++);
    if (i < 3) Stage(w, kC, 7 + i, "c" + std::to_string(i), off++);
  }
  EXPECT_EQ(w.records(), 10u);
  RecentCache cache(1 << 20);
  w.Feed(&cache);
  EXPECT_EQ(Latest(cache, kA, 2), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(Latest(cache, kB, 5), (std::vector<uint64_t>{10, 11, 12, 13, 14}));
  EXPECT_TRUE(Latest(cache, kC, 1).empty());
  EXPECT_EQ(cache.entries(), 2u);
  std::vector<Message> out;
  ASSERT_TRUE(cache.Read(kB, ReadKind::kGet, 12, 1, &out));
  EXPECT_EQ(out[0].body, "b2");
  EXPECT_EQ(out[0].client_id, "cid");
  EXPECT_EQ(out[0].sender, "s");
  EXPECT_EQ(out[0].offset, 6u);
}

TEST(WarmStageTest, TheByteBoundDropsTheOldestAndMovesARunsStart) {
  // 100-byte bodies (+4 bytes of sender and client id), room for 50 records.
  WarmStage w(50 * 104, 4);
  // 100 bytes that differ per record, so a wrong position reads wrong bytes.
  auto body = [](uint64_t off) { return std::string(97, 'x') + std::to_string(100 + off % 900); };
  uint64_t off = 0;
  for (uint64_t s = 1; s <= 3; ++s, ++off) Stage(w, kA, s, body(off), off);  // dropped later: a no longer starts at 1
  for (uint64_t s = 1; s <= 3; ++s, ++off) Stage(w, kB, s, body(off), off);
  for (uint64_t s = 1; s <= 300; ++s, ++off) Stage(w, kC, s, body(off), off);  // compacts several times
  Stage(w, kA, 4, body(off), off);
  ++off;
  Stage(w, kB, 4, body(off), off);
  EXPECT_EQ(w.records(), 50u);
  EXPECT_EQ(w.bytes(), 50u * 104);
  RecentCache cache(1 << 20);
  w.Feed(&cache);
  EXPECT_TRUE(Latest(cache, kA, 1).empty());  // one record left, not from seq 1
  EXPECT_TRUE(Latest(cache, kB, 1).empty());
  const std::vector<uint64_t> c = Latest(cache, kC, 48);
  ASSERT_EQ(c.size(), 48u);
  EXPECT_EQ(c.front(), 253u);
  EXPECT_EQ(c.back(), 300u);
  std::vector<Message> out;
  ASSERT_TRUE(cache.Read(kC, ReadKind::kAfter, 252, 100, &out));
  ASSERT_EQ(out.size(), 48u);
  for (const Message& m : out) {
    EXPECT_EQ(m.offset, 6u + m.seq - 1);
    EXPECT_EQ(m.body, body(m.offset));
    EXPECT_EQ(m.client_id, "cid");
  }
}

}  // namespace
}  // namespace warbler::engine
