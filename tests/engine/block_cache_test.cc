#include "engine/cache/block_cache.h"

#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

namespace warbler::engine {
namespace {

CacheKey Key(uint64_t position, uint64_t segment = 0) {
  CacheKey k;
  k.segment = segment;
  k.position = position;
  return k;
}

std::shared_ptr<const int> Value(int v) { return std::make_shared<const int>(v); }

TEST(BlockCacheTest, MissThenHitAndCounters) {
  BlockCache cache(1000, 1);
  EXPECT_EQ(cache.Get<int>(Key(1)), nullptr);
  cache.Insert(Key(1), Value(7), 10);
  auto hit = cache.Get<int>(Key(1));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(*hit, 7);
  EXPECT_EQ(cache.Get<int>(Key(1, /*segment=*/1)), nullptr);  // another segment, another block
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(cache.bytes(), 10u);
}

TEST(BlockCacheTest, InsertingAKeyAgainReplacesItsValueAndCharge) {
  BlockCache cache(1000, 1);
  cache.Insert(Key(1), Value(1), 100);
  cache.Insert(Key(1), Value(2), 30);
  EXPECT_EQ(*cache.Get<int>(Key(1)), 2);
  EXPECT_EQ(cache.bytes(), 30u);
}

TEST(BlockCacheTest, EvictsTheLeastRecentlyUsedToStayWithinBudget) {
  BlockCache cache(300, 1);
  cache.Insert(Key(1), Value(1), 100);
  cache.Insert(Key(2), Value(2), 100);
  cache.Insert(Key(3), Value(3), 100);
  ASSERT_NE(cache.Get<int>(Key(1)), nullptr);  // 1 is now the most recent; 2 the least
  cache.Insert(Key(4), Value(4), 100);
  EXPECT_EQ(cache.Get<int>(Key(2)), nullptr);
  EXPECT_NE(cache.Get<int>(Key(1)), nullptr);
  EXPECT_NE(cache.Get<int>(Key(3)), nullptr);
  EXPECT_NE(cache.Get<int>(Key(4)), nullptr);
  EXPECT_EQ(cache.bytes(), 300u);
  // One large block evicts as many as it needs.
  cache.Insert(Key(5), Value(5), 250);
  EXPECT_EQ(cache.bytes(), 250u);
  EXPECT_NE(cache.Get<int>(Key(5)), nullptr);
  for (uint64_t k = 1; k <= 4; ++k) EXPECT_EQ(cache.Get<int>(Key(k)), nullptr) << k;
  // Keys reused after eviction (their map nodes are recycled) still resolve.
  for (uint64_t k = 10; k < 40; ++k) cache.Insert(Key(k), Value(static_cast<int>(k)), 100);
  EXPECT_EQ(cache.bytes(), 300u);
  for (uint64_t k = 37; k < 40; ++k) EXPECT_EQ(*cache.Get<int>(Key(k)), static_cast<int>(k));
  EXPECT_EQ(cache.Get<int>(Key(36)), nullptr);
}

TEST(BlockCacheTest, AnEvictedValueLivesWhileAReaderHoldsIt) {
  BlockCache cache(100, 1);
  cache.Insert(Key(1), Value(1), 100);
  auto held = cache.Get<int>(Key(1));
  cache.Insert(Key(2), Value(2), 100);
  EXPECT_EQ(cache.Get<int>(Key(1)), nullptr);
  EXPECT_EQ(*held, 1);
  EXPECT_EQ(held.use_count(), 1);  // the cache let go of it
}

TEST(BlockCacheTest, OversizeBlocksAndAZeroCapacityKeepNothing) {
  BlockCache cache(100, 1);
  cache.Insert(Key(1), Value(1), 101);
  EXPECT_EQ(cache.Get<int>(Key(1)), nullptr);
  EXPECT_EQ(cache.bytes(), 0u);
  BlockCache off(0);
  off.Insert(Key(1), Value(1), 1);
  EXPECT_EQ(off.Get<int>(Key(1)), nullptr);
  EXPECT_EQ(off.misses(), 1u);
}

TEST(BlockCacheTest, SecondOfferAdmissionKeepsBlocksOfferedTwice) {
  BlockCache cache(300, 1, BlockCache::Admission::kSecondOffer);
  cache.Insert(Key(1), Value(1), 100);
  EXPECT_EQ(cache.Get<int>(Key(1)), nullptr);  // offered once: remembered, not kept
  EXPECT_EQ(cache.bytes(), 0u);
  cache.Insert(Key(1), Value(1), 100);
  ASSERT_NE(cache.Get<int>(Key(1)), nullptr);  // offered twice: kept
  EXPECT_EQ(cache.bytes(), 100u);
  // Blocks read once pass by: what is cached stays.
  for (uint64_t k = 100; k < 200; ++k) cache.Insert(Key(k), Value(static_cast<int>(k)), 100);
  EXPECT_NE(cache.Get<int>(Key(1)), nullptr);
  EXPECT_EQ(cache.bytes(), 100u);
  // A cached block offered again stays as it is.
  cache.Insert(Key(1), Value(1), 100);
  EXPECT_EQ(cache.bytes(), 100u);
  // Blocks offered twice fill the budget and evict by LRU as with kAll.
  for (uint64_t k = 2; k <= 4; ++k) {
    cache.Insert(Key(k), Value(static_cast<int>(k)), 100);
    cache.Insert(Key(k), Value(static_cast<int>(k)), 100);
  }
  EXPECT_EQ(cache.bytes(), 300u);
  EXPECT_EQ(cache.Get<int>(Key(1)), nullptr);
  for (uint64_t k = 2; k <= 4; ++k) EXPECT_EQ(*cache.Get<int>(Key(k)), static_cast<int>(k));
}

TEST(BlockCacheTest, ConcurrentInsertsAndLookupsStayWithinBudget) {
  BlockCache cache(64 * 100, 4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 20000; ++i) {
        const CacheKey k = Key(i % 500, static_cast<uint64_t>(t % 2));
        if (auto v = cache.Get<int>(k)) {
          EXPECT_EQ(*v, static_cast<int>(k.position));
        } else {
          cache.Insert(k, Value(static_cast<int>(k.position)), 100);
          // Read back at once, so that hits do not depend on how the
          // threads happen to interleave (a loaded machine may run them
          // one after the other, and a 500-key cycle never hits a 64-entry LRU).
          if (auto again = cache.Get<int>(k)) {
            EXPECT_EQ(*again, static_cast<int>(k.position));
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.bytes(), 64u * 100);
  EXPECT_GT(cache.hits(), 0u);
}

}  // namespace
}  // namespace warbler::engine
