// TailIndex: for each conversation with records in a partition's unsealed
// segment, the batches holding them — what the .cix runs entry of the
// segment will say once it seals (docs/index.md "Tail index"). Flat, so a
// million conversations cost tens of MiB rather than a node-based map's
// hundreds, and rebuilding it at open is appends to two arrays:
//   - a 24-byte IdTable slot per conversation (its newest ref; a scratch word
//     for sealing);
//   - a 24-byte ref per (conversation, batch): the first seq of the
//     conversation in that batch, the batch's position and size, and a link
//     to the conversation's previous ref — in chunks of 1024, so growing
//     never copies and never holds twice the memory.
// The conversation's last seq is the directory's (the tail is the newest
// segment), so a ref's run ends where the next newer one starts.
// Thread-safety: none; the owner (ConvState) locks.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/conv/cix.h"
#include "engine/conv/conv_id.h"
#include "engine/conv/directory.h"

namespace warbler::engine {

class TailIndex {
 public:
  static constexpr uint32_t kNoRef = 0xFFFFFFFFu;
  static constexpr size_t kChunkRefs = 1024;  // 24 KiB

  struct Ref {
    uint64_t first_seq = 0;
    uint32_t position = 0;
    uint32_t size = 0;
    uint32_t prev = kNoRef;  // the conversation's next older ref
  };
  struct Slot {
    ConvId id;
    uint32_t head = kNoRef;    // newest ref
    uint32_t sealed_pos8 = 0;  // scratch while sealing
  };
  static_assert(sizeof(Slot) == 24 && sizeof(Ref) == 24);

  // Record `seq` of `id` is in the batch at `position` (`size` bytes); records
  // come in log order, so a conversation's refs are added oldest first.
  void Add(const ConvId& id, uint64_t seq, uint32_t position, uint32_t size) {
    Slot* s = slots_.FindOrInsert(id);
    if (s->head != kNoRef && ref(s->head).position == position) return;
    if (count_ == chunks_.size() * kChunkRefs) chunks_.push_back(std::make_unique<Ref[]>(kChunkRefs));
    const auto i = static_cast<uint32_t>(count_++);
    at(i) = Ref{seq, position, size, s->head};
    s->head = i;
  }

  const Slot* Find(const ConvId& id) const { return slots_.Find(id); }
  const Ref& ref(uint32_t i) const { return chunks_[i / kChunkRefs][i % kChunkRefs]; }

  // The refs of `slot`, oldest first (as a runs entry lists them).
  void RefsOldestFirst(const Slot& slot, std::vector<cix::BatchRef>* out) const {
    out->clear();
    for (uint32_t i = slot.head; i != kNoRef; i = ref(i).prev) {
      out->push_back({ref(i).first_seq, ref(i).position, ref(i).size});
    }
    std::reverse(out->begin(), out->end());
  }

  template <typename F>
  void ForEach(F&& f) {
    slots_.ForEach(f);
  }
  template <typename F>
  void ForEach(F&& f) const {
    slots_.ForEach(f);
  }

  size_t conversations() const { return slots_.size(); }
  size_t refs() const { return count_; }
  size_t memory_bytes() const { return slots_.memory_bytes() + chunks_.size() * kChunkRefs * sizeof(Ref); }
  // memory_bytes() but for the unused part of the last chunk (what a budget counts).
  size_t used_bytes() const { return slots_.memory_bytes() + count_ * sizeof(Ref); }

  void Clear() {
    slots_.Clear();
    chunks_.clear();
    count_ = 0;
  }

 private:
  Ref& at(uint32_t i) { return chunks_[i / kChunkRefs][i % kChunkRefs]; }

  IdTable<Slot> slots_;
  std::vector<std::unique_ptr<Ref[]>> chunks_;
  size_t count_ = 0;
};

}  // namespace warbler::engine
