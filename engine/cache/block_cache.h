// BlockCache: a sharded LRU of immutable decoded blocks (decoded batches and
// conversation-index entries), bounded by a byte budget across all shards.
// Values are shared_ptrs: an entry evicted while a reader holds it stays
// alive until the reader drops it (so the budget bounds the cache, and
// readers' working sets come on top).
// Thread-safety: all methods are thread-safe (one mutex per shard).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/cache/doorkeeper.h"

namespace warbler::engine {

struct CacheKey {
  uint32_t partition = 0;
  uint32_t kind = 0;          // what the block is (the caller's numbering)
  uint64_t generation = 0;    // bumped when positions may be reused (truncation)
  uint64_t segment = 0;
  uint64_t position = 0;
  friend bool operator==(const CacheKey&, const CacheKey&) = default;
};

class BlockCache {
 public:
  // Which inserted blocks are kept. kSecondOffer: a block not cached is
  // kept only when inserted a second time while the doorkeeper
  // (engine/cache/doorkeeper.h; 4 bytes per 256 bytes of capacity) still
  // remembers the first, so blocks read once — most of them when reads
  // spread over far more data than fits — pass by instead of evicting
  // blocks that are read again.
  enum class Admission { kAll, kSecondOffer };

  static constexpr size_t kDefaultShards = 16;

  // capacity_bytes = 0 disables caching (every lookup misses, inserts are dropped).
  explicit BlockCache(size_t capacity_bytes, size_t shards = kDefaultShards,
                      Admission admission = Admission::kAll);

  std::shared_ptr<const void> Lookup(const CacheKey& key);
  // Keeps `value` under the admission policy and within the budget. With
  // kAll it replaces the key's block if one is cached; with kSecondOffer a
  // cached block is left as it is when the doorkeeper turns the offer down
  // (a key's block never changes).
  void Insert(const CacheKey& key, std::shared_ptr<const void> value, size_t charge);

  template <typename T>
  std::shared_ptr<const T> Get(const CacheKey& key) {
    return std::static_pointer_cast<const T>(Lookup(key));
  }

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  size_t bytes() const;
  size_t capacity() const { return capacity_; }

 private:
  struct KeyHash {
    size_t operator()(const CacheKey& k) const;
  };
  struct Entry {
    CacheKey key;
    std::shared_ptr<const void> value;
    size_t charge;
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // front = most recently used
    std::unordered_map<CacheKey, std::list<Entry>::iterator, KeyHash> map;
    size_t bytes = 0;
  };
  Shard& ShardOf(const CacheKey& key);

  const size_t capacity_;
  const size_t shard_capacity_;
  std::unique_ptr<Doorkeeper> door_;  // kSecondOffer only
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
};

}  // namespace warbler::engine
