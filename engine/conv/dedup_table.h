// DedupTable: a map from a 128-bit id to (seq, timestamp, offset), for
// ConvState's pending assignments (by conversation id and by dedup id).
// Open addressing with linear probing and backward-shift deletion in
// 40-byte slots, at most 3/4 full: no allocation per entry (the node-based
// maps it replaces allocated and freed one per append).
// Thread-safety: none; the owner (ConvState's writer thread) uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/conv/conv_id.h"

namespace warbler::engine {

class DedupTable {
 public:
  struct Value {
    uint64_t seq = 0;
    uint64_t ts = 0;
    uint64_t offset = 0;
  };

  const Value* Find(const ConvId& id) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
      if (slots_[i].id == id) return &slots_[i].value;
      if (slots_[i].id.empty()) return nullptr;
    }
  }

  // Inserts, or overwrites the value of an id already present (the newest wins).
  void Put(const ConvId& id, const Value& v) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Rehash(slots_.empty() ? 64 : slots_.size() * 2);
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
      if (slots_[i].id == id) {
        slots_[i].value = v;
        return;
      }
      if (slots_[i].id.empty()) {
        slots_[i] = {id, v};
        ++size_;
        return;
      }
    }
  }

  // Removes `id` if its value is the one at `offset` (a newer original of the
  // same id stays).
  void EraseIfOffset(const ConvId& id, uint64_t offset) {
    if (slots_.empty()) return;
    for (size_t i = Home(id);; i = (i + 1) & mask_) {
      if (slots_[i].id.empty()) return;
      if (slots_[i].id == id) {
        if (slots_[i].value.offset == offset) EraseAt(i);
        return;
      }
    }
  }

  void Reserve(size_t n) {
    size_t cap = 64;
    while (n * 4 > cap * 3) cap *= 2;
    if (cap > slots_.size()) Rehash(cap);
  }

  void Clear() {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
    mask_ = 0;
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

 private:
  struct Slot {
    ConvId id;  // empty: free
    Value value;
  };
  static_assert(sizeof(Slot) == 40);

  size_t Home(const ConvId& id) const { return static_cast<size_t>(id.hi) & mask_; }

  // Backward-shift deletion: every later slot of the probe run that may move
  // closer to its home moves into the hole, so lookups never need tombstones.
  void EraseAt(size_t hole) {
    for (size_t j = (hole + 1) & mask_; !slots_[j].id.empty(); j = (j + 1) & mask_) {
      const size_t home = Home(slots_[j].id);
      // Slot j stays if its home lies cyclically in (hole, j].
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  void Rehash(size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
    for (const Slot& s : old) {
      if (!s.id.empty()) Put(s.id, s.value);
    }
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace warbler::engine
