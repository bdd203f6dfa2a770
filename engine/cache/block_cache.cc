#include "engine/cache/block_cache.h"

namespace warbler::engine {

size_t BlockCache::KeyHash::operator()(const CacheKey& k) const {
  uint64_t h = k.segment * 0x9E3779B97F4A7C15ull;
  h ^= (k.position + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  h ^= (static_cast<uint64_t>(k.partition) << 32 | k.kind) * 0x165667B19E3779F9ull;
  h ^= k.generation * 0x27D4EB2F165667C5ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

BlockCache::BlockCache(size_t capacity_bytes, size_t shards, Admission admission)
    : capacity_(capacity_bytes),
      shard_capacity_(shards == 0 ? 0 : capacity_bytes / shards),
      door_(admission == Admission::kSecondOffer && capacity_bytes != 0
                ? std::make_unique<Doorkeeper>(capacity_bytes)
                : nullptr) {
  for (size_t i = 0; i < std::max<size_t>(shards, 1); ++i) shards_.push_back(std::make_unique<Shard>());
}

BlockCache::Shard& BlockCache::ShardOf(const CacheKey& key) {
  return *shards_[KeyHash{}(key) % shards_.size()];
}

std::shared_ptr<const void> BlockCache::Lookup(const CacheKey& key) {
  if (capacity_ == 0) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  Shard& s = ShardOf(key);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second->value;
}

void BlockCache::Insert(const CacheKey& key, std::shared_ptr<const void> value, size_t charge) {
  if (capacity_ == 0 || charge > shard_capacity_) return;
  if (door_ != nullptr) {
    // Bits apart from those that pick the shard and the map bucket. (A
    // block already cached and offered again is left as it is: a key's
    // block never changes.)
    const size_t h = KeyHash{}(key);
    if (!door_->Admit(h >> 20, static_cast<uint32_t>(h >> 40))) return;
  }
  Shard& s = ShardOf(key);
  // Allocation and destruction stay outside the shard lock: the new list
  // node is made before it, and evicted entries leave the shard under it but
  // are destroyed after it (freeing a decoded batch is hundreds of frees);
  // the map node of an evicted entry is reused for the new one. With more
  // readers than cores, a reader preempted while holding the lock stalls
  // the shard, so the lock is held for pointer moves only.
  std::list<Entry> fresh;
  fresh.push_back(Entry{key, std::move(value), charge});
  std::list<Entry> evicted;
  {
    std::lock_guard lock(s.mu);
    decltype(s.map)::node_type spare;
    if (auto it = s.map.find(key); it != s.map.end()) {
      s.bytes -= it->second->charge;
      evicted.splice(evicted.end(), s.lru, it->second);
      spare = s.map.extract(it);
    }
    while (s.bytes + charge > shard_capacity_ && !s.lru.empty()) {
      auto victim = std::prev(s.lru.end());
      s.bytes -= victim->charge;
      auto node = s.map.extract(victim->key);
      if (spare.empty()) spare = std::move(node);
      evicted.splice(evicted.end(), s.lru, victim);
    }
    s.lru.splice(s.lru.begin(), fresh);
    if (spare.empty()) {
      s.map.emplace(key, s.lru.begin());
    } else {
      spare.key() = key;
      spare.mapped() = s.lru.begin();
      s.map.insert(std::move(spare));
    }
    s.bytes += charge;
  }
}

size_t BlockCache::bytes() const {
  size_t total = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s->mu);
    total += s->bytes;
  }
  return total;
}

}  // namespace warbler::engine
