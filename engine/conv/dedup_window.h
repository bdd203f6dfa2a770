// DedupWindow: one partition's dedup window (docs/index.md "Resident state")
// — the dedup ids of the newest durable client-id messages, oldest first,
// each with the (seq, timestamp, offset) a retry is answered with.
//
// One copy of each entry: a ring of 40-byte entries in arrival order (what
// expiry pops and a .cix snapshot lists), and an open-addressing index of
// 8-byte slots, at most half full, holding ring positions (absolute counts
// + 1; 0 = free). A FIFO beside a table of full entries held every entry
// twice (~93–147 B each); this is 40 B + 16–32 B. An id pushed again while
// its older entry is still in the ring is found at the newer one; popping
// the older one leaves the index alone.
// Thread-safety: none; the owner (ConvState's writer thread) uses it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/conv/cix.h"
#include "engine/conv/conv_id.h"

namespace warbler::engine {

class DedupWindow {
 public:
  using Entry = cix::DedupEntry;

  size_t size() const { return static_cast<size_t>(tail_ - head_); }
  bool empty() const { return head_ == tail_; }
  const Entry& front() const { return ring_[head_ & ring_mask_]; }
  bool indexed() const { return indexed_; }
  size_t memory_bytes() const { return ring_.capacity() * sizeof(Entry) + index_.capacity() * sizeof(uint64_t); }

  // The newest entry of `id`, or nullptr. REQUIRES: indexed().
  const Entry* Find(const ConvId& id) const {
    if (index_.empty()) return nullptr;
    for (size_t i = Home(id);; i = (i + 1) & index_mask_) {
      if (index_[i] == 0) return nullptr;
      const Entry& e = at(index_[i] - 1);
      if (e.id == id) return &e;
    }
  }

  // Appends the newest entry (and indexes it when indexed()).
  void Push(const Entry& e) {
    if (size() == ring_.size()) GrowRing();
    ring_[tail_ & ring_mask_] = e;
    ++tail_;
    if (indexed_) Index(tail_ - 1);
  }

  // Drops the oldest entry. REQUIRES: !empty().
  void PopFront() {
    if (indexed_) Unindex(head_);
    ++head_;
  }

  // Off: pushes and pops skip the index (a recovery scan that pushes and
  // expires many entries); on: it is rebuilt once from the ring.
  void SetIndexed(bool on) {
    indexed_ = on;
    std::vector<uint64_t>().swap(index_);
    index_mask_ = 0;
    index_count_ = 0;
    if (!on) return;
    size_t cap = 64;
    while (size() * 2 > cap) cap *= 2;
    Rehash(cap);
  }

  // Visits every entry, oldest first.
  template <typename F>
  void ForEach(F&& f) const {
    for (uint64_t k = head_; k != tail_; ++k) f(at(k));
  }

  void Clear() {
    std::vector<Entry>().swap(ring_);
    std::vector<uint64_t>().swap(index_);
    ring_mask_ = index_mask_ = 0;
    head_ = tail_ = 0;
    index_count_ = 0;
  }

 private:
  const Entry& at(uint64_t k) const { return ring_[k & ring_mask_]; }
  size_t Home(const ConvId& id) const { return static_cast<size_t>(id.hi) & index_mask_; }

  void GrowRing() {
    const size_t cap = ring_.empty() ? 64 : ring_.size() * 2;
    std::vector<Entry> next(cap);
    for (uint64_t k = head_; k != tail_; ++k) next[k & (cap - 1)] = at(k);
    ring_.swap(next);
    ring_mask_ = cap - 1;  // positions are absolute: the index stays valid
  }

  // The id of entry k now finds entry k (the newest wins).
  void Index(uint64_t k) {
    if ((index_count_ + 1) * 2 > index_.size()) Rehash(index_.empty() ? 64 : index_.size() * 2);
    const ConvId& id = at(k).id;
    for (size_t i = Home(id);; i = (i + 1) & index_mask_) {
      if (index_[i] == 0) {
        index_[i] = k + 1;
        ++index_count_;
        return;
      }
      if (at(index_[i] - 1).id == id) {
        index_[i] = k + 1;
        return;
      }
    }
  }

  // Removes entry k's id from the index if it still finds entry k.
  void Unindex(uint64_t k) {
    if (index_.empty()) return;
    const ConvId& id = at(k).id;
    size_t hole = Home(id);
    for (;; hole = (hole + 1) & index_mask_) {
      if (index_[hole] == 0) return;
      if (at(index_[hole] - 1).id == id) break;
    }
    if (index_[hole] != k + 1) return;  // a newer entry of the id
    // Backward-shift deletion: later slots of the run that may move closer
    // to their home fill the hole, so lookups need no tombstones.
    for (size_t j = (hole + 1) & index_mask_; index_[j] != 0; j = (j + 1) & index_mask_) {
      const size_t home = Home(at(index_[j] - 1).id);
      const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!stays) {
        index_[hole] = index_[j];
        hole = j;
      }
    }
    index_[hole] = 0;
    --index_count_;
  }

  void Rehash(size_t capacity) {
    std::vector<uint64_t> old;
    old.swap(index_);
    index_.assign(capacity, 0);
    index_mask_ = capacity - 1;
    index_count_ = 0;
    if (old.empty()) {
      // SetIndexed: index the ring oldest first, so each id ends at its newest entry.
      for (uint64_t k = head_; k != tail_; ++k) Index(k);
      return;
    }
    for (uint64_t v : old) {
      if (v != 0) Index(v - 1);
    }
  }

  std::vector<Entry> ring_;     // power-of-two capacity; entry k at ring_[k & ring_mask_]
  std::vector<uint64_t> index_;  // power-of-two capacity; k + 1, 0 = free
  size_t ring_mask_ = 0;
  size_t index_mask_ = 0;
  uint64_t head_ = 0;  // absolute position of the oldest entry
  uint64_t tail_ = 0;  // one past the newest
  size_t index_count_ = 0;
  bool indexed_ = true;
};

}  // namespace warbler::engine
