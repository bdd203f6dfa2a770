// The seq range a history read asks for, given the conversation's last seq.
// One definition shared by the index planner and the recent-message cache.
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace warbler::engine {

enum class ReadKind : uint8_t { kLatest, kBefore, kAfter, kGet };

struct SeqRange {
  uint64_t lo = 1;
  uint64_t hi = 0;
  bool empty() const { return lo > hi; }
};

// kLatest: the newest n; kBefore: the n below `seq`; kAfter: the n above
// `seq`; kGet: `seq` itself. Empty when nothing qualifies.
inline SeqRange RangeFor(ReadKind kind, uint64_t seq, size_t n, uint64_t last) {
  SeqRange r;
  switch (kind) {
    case ReadKind::kLatest:
      r.hi = last;
      r.lo = last > n ? last - n + 1 : 1;
      break;
    case ReadKind::kBefore:
      r.hi = std::min(seq == 0 ? 0 : seq - 1, last);
      r.lo = r.hi > n ? r.hi - n + 1 : 1;
      break;
    case ReadKind::kAfter:
      // seq + 1 and seq + n would wrap for seq near UINT64_MAX.
      if (seq >= last) break;
      r.lo = seq + 1;
      r.hi = seq + std::min<uint64_t>(n, last - seq);
      break;
    case ReadKind::kGet:
      r.lo = seq == 0 ? 1 : seq;
      r.hi = std::min(seq, last);
      break;
  }
  if (r.lo > r.hi) r = SeqRange{};
  return r;
}

}  // namespace warbler::engine
