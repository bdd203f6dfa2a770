// DedupTable (engine/conv/dedup_table.h) against std::unordered_map under
// random puts, overwrites, conditional erases and growth, with ids chosen to
// collide (same home slot) so backward-shift deletion is exercised.
#include "engine/conv/dedup_table.h"

#include <gtest/gtest.h>

#include <unordered_map>

#include "base/rng.h"

namespace warbler::engine {
namespace {

TEST(DedupTableTest, MatchesAMapUnderRandomOperations) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    Rng rng(seed);
    DedupTable t;
    std::unordered_map<ConvId, DedupTable::Value, ConvIdHash> model;
    // Few distinct `hi` values: many ids share a home slot and long runs form.
    auto random_id = [&] { return ConvId{rng.Uniform(500) + 1, rng.Uniform(seed % 4 == 0 ? 8 : 5000)}; };
    for (int op = 0; op < 6000; ++op) {
      const ConvId id = random_id();
      if (rng.OneIn(3)) {
        auto it = model.find(id);
        // Erase by the right offset (removes) or a wrong one (keeps).
        const uint64_t offset = it != model.end() && rng.OneIn(2) ? it->second.offset : rng.Next();
        t.EraseIfOffset(id, offset);
        if (it != model.end() && it->second.offset == offset) model.erase(it);
      } else {
        const DedupTable::Value v{rng.Next(), rng.Next(), rng.Next()};
        t.Put(id, v);
        model[id] = v;
      }
      if (op % 997 == 0) {
        ASSERT_EQ(t.size(), model.size());
        for (const auto& [k, v] : model) {
          const DedupTable::Value* got = t.Find(k);
          ASSERT_NE(got, nullptr);
          ASSERT_EQ(got->offset, v.offset);
          ASSERT_EQ(got->seq, v.seq);
        }
      }
      const DedupTable::Value* got = t.Find(id);
      auto it = model.find(id);
      ASSERT_EQ(got != nullptr, it != model.end());
      if (got != nullptr) {
        ASSERT_EQ(got->ts, it->second.ts);
      }
    }
    EXPECT_LE(t.size() * 4, t.memory_bytes() / 40 * 3) << "at most 3/4 full";
    t.Clear();
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.Find(ConvId{1, 1}), nullptr);
  }
}

TEST(DedupTableTest, ReserveAvoidsGrowth) {
  DedupTable t;
  t.Reserve(1000);
  const size_t bytes = t.memory_bytes();
  for (uint64_t i = 1; i <= 1000; ++i) t.Put(ConvId{i, i * 0x9E3779B97F4A7C15ull}, {i, i, i});
  EXPECT_EQ(t.memory_bytes(), bytes);
  EXPECT_EQ(t.size(), 1000u);
  EXPECT_EQ(t.Find(ConvId{7, 7 * 0x9E3779B97F4A7C15ull})->seq, 7u);
}

}  // namespace
}  // namespace warbler::engine
