// ConvDirectory: the resident per-conversation state of one partition — 40
// bytes per conversation in an open-addressing table (linear probing) kept
// 60–90% full, so at most ~67 B and on average ~53 B per conversation
// (docs/index.md "Resident state"). No deletion: the table only grows or is
// cleared (truncation rebuilds it).
// Thread-safety: none; the owner (ConvState) locks.
#pragma once

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

class ConvDirectory {
 public:
  const DirEntry* Find(const ConvId& id) const;
  DirEntry* Find(const ConvId& id) { return const_cast<DirEntry*>(std::as_const(*this).Find(id)); }
  // The entry for `id`, inserted (zeroed, ordinal kNoOrdinal) if absent.
  DirEntry* FindOrInsert(const ConvId& id);
  void Clear();
  void Reserve(size_t n);

  size_t size() const { return size_; }
  size_t memory_bytes() const { return slots_.capacity() * sizeof(DirEntry); }

  template <typename F>
  void ForEach(F&& f) const {
    for (const DirEntry& e : slots_) {
      if (!e.id.empty()) f(e);
    }
  }

 private:
  size_t SlotOf(const ConvId& id) const;
  void Grow(size_t min_capacity);

  std::vector<DirEntry> slots_;
  size_t size_ = 0;
};

}  // namespace warbler::engine
