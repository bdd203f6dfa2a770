#include "engine/conv/directory.h"

#include <algorithm>
#include <utility>

namespace warbler::engine {
namespace {

constexpr size_t kMinCapacity = 64;
// Grow when more than 9/10 full; grow by half, so the table is ≥ 60% full after.
bool OverLoad(size_t size, size_t capacity) { return size * 10 > capacity * 9; }

}  // namespace

size_t ConvDirectory::SlotOf(const ConvId& id) const {
  // The id is already a uniform hash: map its high half onto [0, capacity).
  return static_cast<size_t>((static_cast<unsigned __int128>(id.hi) * slots_.size()) >> 64);
}

const DirEntry* ConvDirectory::Find(const ConvId& id) const {
  if (slots_.empty()) return nullptr;
  for (size_t i = SlotOf(id);; i = (i + 1 == slots_.size() ? 0 : i + 1)) {
    const DirEntry& e = slots_[i];
    if (e.id == id) return &e;
    if (e.id.empty()) return nullptr;
  }
}

DirEntry* ConvDirectory::FindOrInsert(const ConvId& id) {
  if (DirEntry* e = Find(id)) return e;
  if (slots_.empty() || OverLoad(size_ + 1, slots_.size())) {
    Grow(std::max(kMinCapacity, slots_.size() + slots_.size() / 2));
  }
  for (size_t i = SlotOf(id);; i = (i + 1 == slots_.size() ? 0 : i + 1)) {
    DirEntry& e = slots_[i];
    if (e.id.empty()) {
      e = DirEntry{};
      e.id = id;
      ++size_;
      return &e;
    }
  }
}

void ConvDirectory::Grow(size_t min_capacity) {
  std::vector<DirEntry> old;
  old.swap(slots_);
  slots_.assign(min_capacity, DirEntry{});
  slots_.shrink_to_fit();
  size_ = 0;
  for (const DirEntry& e : old) {
    if (e.id.empty()) continue;
    *FindOrInsert(e.id) = e;
  }
}

void ConvDirectory::Reserve(size_t n) {
  size_t cap = kMinCapacity;
  while (OverLoad(n, cap)) cap += cap / 2;
  if (cap > slots_.size()) Grow(cap);
}

void ConvDirectory::Clear() {
  std::vector<DirEntry>().swap(slots_);
  size_ = 0;
}

}  // namespace warbler::engine
