// WarmStage: how an open warms the recent-message cache (docs/index.md
// "Recent-message cache"). Recovery decodes the unsealed tail anyway; its
// newest records are staged here in log order — fields in one vector, bytes
// in one buffer, at most `max_bytes` of them (older ones fall off the front)
// — and counted per conversation. At the end, only conversations whose
// staged run can serve a history page go to the cache: those whose run
// starts at seq 1 (the whole conversation) or holds at least `min_run`
// messages. Feeding every run and dropping the short ones afterwards would
// leave the heap full of holes between the survivors (with a million
// conversations of two messages, nearly every run is a single message that
// no newest-50 read can use), and those pages stay resident.
// Thread-safety: none (the recovering writer thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/conv/conv_id.h"
#include "engine/conv/directory.h"
#include "engine/conv/recent_cache.h"
#include "engine/log/record.h"

namespace warbler::engine {

class WarmStage {
 public:
  WarmStage(size_t max_bytes, size_t min_run) : max_bytes_(max_bytes), min_run_(min_run) {}

  // The next record in log order, of conversation `id`.
  void Add(const ConvId& id, const RecordView& r) {
    const size_t size = r.sender.size() + r.client_id.size() + r.body.size();
    if (size > max_bytes_) return Reset();  // cannot be kept, and a run may not skip it
    staged_.push_back({id, r.seq, r.timestamp_us, r.offset, dropped_prefix_ + bytes_.size(),
                       static_cast<uint32_t>(r.sender.size()),
                       static_cast<uint32_t>(r.client_id.size()), static_cast<uint32_t>(r.body.size())});
    bytes_.append(r.sender).append(r.client_id).append(r.body);
    Count* c = counts_.FindOrInsert(id);
    if (c->n++ == 0) c->first = r.seq;
    while (bytes_.size() - dead_bytes_ > max_bytes_) DropOldest();
    if (dead_bytes_ > bytes_.size() / 2) Compact();  // moves at most what it frees: amortized O(1)
  }

  // Appends the staged records of every qualifying conversation to `cache`, in log order.
  void Feed(RecentCache* cache) const {
    for (size_t k = begin_; k < staged_.size(); ++k) {
      const Staged& s = staged_[k];
      const Count* c = counts_.Find(s.id);
      if (c == nullptr || (c->first != 1 && c->n < min_run_)) continue;
      const char* p = bytes_.data() + (s.at - dropped_prefix_);
      cache->Append(s.id,
                    {s.seq, s.ts, s.offset, {p, s.sender_len}, {p + s.sender_len, s.client_id_len},
                     {p + s.sender_len + s.client_id_len, s.body_len}},
                    /*start_anywhere=*/true);
    }
  }

  size_t records() const { return staged_.size() - begin_; }
  size_t bytes() const { return bytes_.size() - dead_bytes_; }

 private:
  struct Staged {
    ConvId id;
    uint64_t seq, ts, offset;
    size_t at;  // position in the bytes ever staged (bytes_ starts at dropped_prefix_)
    uint32_t sender_len, client_id_len, body_len;
  };
  struct Count {
    ConvId id;
    uint64_t first = 0;  // seq of its oldest staged record
    uint64_t n = 0;      // staged records
  };

  void DropOldest() {
    const Staged& s = staged_[begin_++];
    dead_bytes_ += s.sender_len + s.client_id_len + s.body_len;
    Count* c = counts_.Find(s.id);
    --c->n;
    c->first = s.seq + 1;  // a conversation's records come in seq order, gap-free
  }

  void Compact() {
    bytes_.erase(0, dead_bytes_);
    dropped_prefix_ += dead_bytes_;
    dead_bytes_ = 0;
    staged_.erase(staged_.begin(), staged_.begin() + static_cast<std::ptrdiff_t>(begin_));
    begin_ = 0;
  }

  void Reset() {
    staged_.clear();
    bytes_.clear();
    counts_.Clear();
    begin_ = dead_bytes_ = dropped_prefix_ = 0;
  }

  const size_t max_bytes_;
  const size_t min_run_;
  std::vector<Staged> staged_;  // [begin_, end) are live
  size_t begin_ = 0;
  std::string bytes_;
  size_t dead_bytes_ = 0;      // at the front of bytes_, of dropped records
  size_t dropped_prefix_ = 0;  // bytes compacted away before bytes_[0]
  IdTable<Count> counts_;
};

}  // namespace warbler::engine
