#include "engine/cache/block_cache.h"

namespace warbler::engine {

size_t BlockCache::KeyHash::operator()(const CacheKey& k) const {
  uint64_t h = k.segment * 0x9E3779B97F4A7C15ull;
  h ^= (k.position + 0x632BE59BD9B4E019ull) * 0xC2B2AE3D27D4EB4Full;
  h ^= (static_cast<uint64_t>(k.partition) << 32 | k.kind) * 0x165667B19E3779F9ull;
  h ^= k.generation * 0x27D4EB2F165667C5ull;
  return static_cast<size_t>(h ^ (h >> 29));
}

BlockCache::BlockCache(size_t capacity_bytes, size_t shards)
    : capacity_(capacity_bytes), shard_capacity_(shards == 0 ? 0 : capacity_bytes / shards) {
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
  Shard& s = ShardOf(key);
  std::lock_guard lock(s.mu);
  if (auto it = s.map.find(key); it != s.map.end()) {
    s.bytes -= it->second->charge;
    s.lru.erase(it->second);
    s.map.erase(it);
  }
  s.lru.push_front(Entry{key, std::move(value), charge});
  s.map.emplace(key, s.lru.begin());
  s.bytes += charge;
  while (s.bytes > shard_capacity_ && !s.lru.empty()) {
    Entry& victim = s.lru.back();
    s.bytes -= victim.charge;
    s.map.erase(victim.key);
    s.lru.pop_back();
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
