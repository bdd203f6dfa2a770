// IdTable: an open-addressing table (linear probing) of fixed-size slots keyed
// by ConvId, kept 60–90% full. No deletion: it only grows or is cleared.
// ConvDirectory — the resident per-conversation state of one partition — is
// an IdTable of 40-byte DirEntry slots: at most ~67 B and on average ~53 B
// per conversation (docs/index.md "Resident state"). The tail index keys its
// conversations with one too (engine/conv/tail_index.h).
// Thread-safety: none; the owner (ConvState) locks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "engine/conv/conv_id.h"

namespace warbler::engine {

inline constexpr uint32_t kNoOrdinal = 0xFFFFFFFFu;

struct DirEntry {
  ConvId id;
  uint64_t last_seq = 0;
  uint64_t last_ts = 0;
  uint32_t ordinal = kNoOrdinal;  // newest sealed segment holding the conversation
  uint32_t entry_pos8 = 0;        // its runs entry's position in that segment's .cix, / 8
};
static_assert(sizeof(DirEntry) == 40, "the directory budget is 40 bytes per slot");

// Slot: default-constructible with an empty `id` (a free slot).
template <typename Slot>
class IdTable {
 public:
  const Slot* Find(const ConvId& id) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = SlotOf(id);; i = (i + 1 == slots_.size() ? 0 : i + 1)) {
      const Slot& e = slots_[i];
      if (e.id == id) return &e;
      if (e.id.empty()) return nullptr;
    }
  }
  Slot* Find(const ConvId& id) { return const_cast<Slot*>(std::as_const(*this).Find(id)); }

  // The slot for `id`, inserted (default values) if absent.
  Slot* FindOrInsert(const ConvId& id) {
    if (Slot* e = Find(id)) return e;
    if (slots_.empty() || OverLoad(size_ + 1, slots_.size())) {
      Grow(std::max(kMinCapacity, slots_.size() + slots_.size() / 2));
    }
    for (size_t i = SlotOf(id);; i = (i + 1 == slots_.size() ? 0 : i + 1)) {
      Slot& e = slots_[i];
      if (e.id.empty()) {
        e = Slot{};
        e.id = id;
        ++size_;
        return &e;
      }
    }
  }

  void Clear() {
    std::vector<Slot>().swap(slots_);
    size_ = 0;
  }

  void Reserve(size_t n) {
    size_t cap = kMinCapacity;
    while (OverLoad(n, cap)) cap += cap / 2;
    if (cap > slots_.size()) Grow(cap);
  }

  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(Slot); }

  template <typename F>
  void ForEach(F&& f) const {
    for (const Slot& e : slots_) {
      if (!e.id.empty()) f(e);
    }
  }
  template <typename F>
  void ForEach(F&& f) {
    for (Slot& e : slots_) {
      if (!e.id.empty()) f(e);
    }
  }

 private:
  static constexpr size_t kMinCapacity = 64;
  // Grow when more than 9/10 full; grow by half, so the table is ≥ 60% full after.
  static bool OverLoad(size_t size, size_t capacity) { return size * 10 > capacity * 9; }

  size_t SlotOf(const ConvId& id) const {
    // The id is already a uniform hash: map its high half onto [0, capacity).
    return static_cast<size_t>((static_cast<unsigned __int128>(id.hi) * slots_.size()) >> 64);
  }

  void Grow(size_t min_capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(min_capacity, Slot{});
    slots_.shrink_to_fit();
    size_ = 0;
    for (const Slot& e : old) {
      if (e.id.empty()) continue;
      *FindOrInsert(e.id) = e;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

using ConvDirectory = IdTable<DirEntry>;

}  // namespace warbler::engine
