// Doorkeeper: TinyLFU's doorkeeper, the admission filter of the engine's
// caches (BlockCache, RecentCache). It remembers keys offered once, one
// 32-bit fingerprint per slot, so that a cache admits a key only when it is
// offered a second time while still remembered: a stream of one-off reads
// over far more keys than fit then passes by instead of churning the cache.
// A slot holds the newest key offered to it; a collision makes it forget the
// older (which is then admitted one offer later), and a matching fingerprint
// of another key admits early — both only cost efficiency.
//
// Memory: 4 bytes per slot, one slot per 256 bytes of the capacity it is
// built for (1 MiB for 64 MiB), between 1,024 and 4M slots.
// Thread-safety: all methods (relaxed atomics: a lost update only forgets).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace warbler::engine {

class Doorkeeper {
 public:
  // One slot per 256 bytes of `capacity_bytes`, a power of two in [1024, 4M].
  explicit Doorkeeper(size_t capacity_bytes) {
    size_t slots = 1024;
    while (slots < capacity_bytes / 256 && slots < kMaxSlots) slots *= 2;
    slots_ = std::make_unique<std::atomic<uint32_t>[]>(slots);
    for (size_t i = 0; i < slots; ++i) slots_[i].store(0, std::memory_order_relaxed);
    mask_ = slots - 1;
  }

  // True if the key (`where` picks its slot, `fingerprint` tells it apart
  // there; take them from different bits of its hash) was offered before and
  // is still remembered; it is then forgotten. Otherwise remembers it.
  bool Admit(uint64_t where, uint32_t fingerprint) {
    std::atomic<uint32_t>& slot = slots_[where & mask_];
    const uint32_t fp = fingerprint | 1;  // never 0 (an empty slot)
    if (slot.load(std::memory_order_relaxed) == fp) {
      slot.store(0, std::memory_order_relaxed);
      return true;
    }
    slot.store(fp, std::memory_order_relaxed);
    return false;
  }

 private:
  static constexpr size_t kMaxSlots = size_t{1} << 22;
  std::unique_ptr<std::atomic<uint32_t>[]> slots_;
  size_t mask_ = 0;
};

}  // namespace warbler::engine
