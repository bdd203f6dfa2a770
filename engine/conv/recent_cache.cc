#include "engine/conv/recent_cache.h"

#include <algorithm>
#include <cstring>

#include "base/assert.h"

namespace warbler::engine {
namespace {

constexpr size_t kHeader = 32;

struct Header {
  uint64_t seq;
  uint64_t ts;
  uint64_t offset;
  uint16_t sender_len;
  uint16_t client_len;
  uint32_t body_len;
};
static_assert(sizeof(Header) == kHeader);

template <typename Buf>
Header HeaderAt(const Buf& buf, size_t pos) {
  Header h;
  std::memcpy(&h, buf.data() + pos, kHeader);
  return h;
}

size_t Span(const Header& h) { return kHeader + h.sender_len + h.client_len + h.body_len; }

size_t ShardCount(size_t capacity, size_t shards) {
  return shards != 0 ? shards : std::clamp<size_t>(capacity / (1u << 20), 1, 256);
}

}  // namespace

RecentCache::RecentCache(size_t capacity_bytes, size_t shards)
    : capacity_(capacity_bytes),
      shard_capacity_(capacity_bytes / ShardCount(capacity_bytes, shards)),
      door_(capacity_bytes) {
  for (size_t i = 0; i < ShardCount(capacity_bytes, shards); ++i) shards_.push_back(std::make_unique<Shard>());
}

bool RecentCache::Admit(const ConvId& id) {
  // Bits apart from those that pick the shard and the map bucket.
  return door_.Admit(id.lo >> 20, static_cast<uint32_t>(id.hi >> 32));
}

void RecentCache::Put(Entry* e, const MessageRef& m) {
  const Header h{m.seq, m.timestamp_us, m.offset, static_cast<uint16_t>(m.sender.size()),
                 static_cast<uint16_t>(m.client_id.size()), static_cast<uint32_t>(m.body.size())};
  const size_t need = e->buf.size() + Span(h);
  // Grow by an eighth, not double: the slack is charged to the budget.
  if (need > e->buf.capacity()) e->buf.reserve(std::max(need, e->buf.size() + e->buf.size() / 8));
  const char* hp = reinterpret_cast<const char*>(&h);
  e->buf.insert(e->buf.end(), hp, hp + kHeader);
  e->buf.insert(e->buf.end(), m.sender.begin(), m.sender.end());
  e->buf.insert(e->buf.end(), m.client_id.begin(), m.client_id.end());
  e->buf.insert(e->buf.end(), m.body.begin(), m.body.end());
  if (e->count == 0) e->first = m.seq;
  ++e->count;
}

void RecentCache::TrimFront(Entry* e, size_t keep) {
  if (e->count <= keep) return;
  size_t pos = 0;
  for (uint32_t i = 0; i < e->count - keep; ++i) pos += Span(HeaderAt(e->buf, pos));
  e->buf.erase(e->buf.begin(), e->buf.begin() + static_cast<std::ptrdiff_t>(pos));
  e->first += e->count - keep;
  e->count = static_cast<uint32_t>(keep);
}

void RecentCache::Erase(Shard& s, std::list<Entry>::iterator it) {
  s.bytes -= it->charge;
  --s.entries;
  s.map.erase(it->id);
  s.lru.erase(it);
}

void RecentCache::Settle(Shard& s, std::list<Entry>::iterator it) {
  const size_t charge = it->buf.capacity() + kEntryOverhead;
  s.bytes = s.bytes - it->charge + charge;
  it->charge = charge;
  if (charge > shard_capacity_) {
    Erase(s, it);
    return;
  }
  while (s.bytes > shard_capacity_) {
    auto victim = std::prev(s.lru.end());
    // `it` alone fits, so another entry goes; each is passed over at most
    // once (its flag is cleared), so this ends.
    if (victim == it || victim->referenced.exchange(false, std::memory_order_relaxed)) {
      s.lru.splice(s.lru.begin(), s.lru, victim);  // read lately: a second chance
      continue;
    }
    Erase(s, victim);
  }
}

void RecentCache::Append(const ConvId& id, const MessageRef& m, bool start_anywhere) {
  if (capacity_ == 0) return;
  Shard& s = ShardOf(id);
  std::unique_lock lock(s.mu);
  auto found = s.map.find(id);
  if (found == s.map.end()) {
    if (m.seq != 1 && !start_anywhere) return;  // else only a new conversation is known from its start
    s.lru.emplace_front(id);
    s.map.emplace(id, s.lru.begin());
    ++s.entries;
    found = s.map.find(id);
  }
  auto it = found->second;
  if (it->count != 0 && m.seq >= it->first && m.seq < it->first + it->count) return;  // a Fill got there first
  if (it->count != 0 && it->first + it->count != m.seq) {
    Erase(s, it);  // does not line up (cannot happen while the owner keeps its contract)
    return;
  }
  Put(&*it, m);
  // Trim in steps of a quarter so the front is not moved on every append.
  if (it->count >= kMaxMessages + kMaxMessages / 4) {
    TrimFront(&*it, kMaxMessages);
    it->buf.shrink_to_fit();
  }
  s.lru.splice(s.lru.begin(), s.lru, it);
  Settle(s, it);
}

bool RecentCache::Read(const ConvId& id, ReadKind kind, uint64_t seq, size_t n, std::vector<Message>* out) {
  out->clear();
  if (capacity_ == 0) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // Only the wanted bytes are copied under the shard lock; the messages are
  // built (and allocated) after it is released, so a reader preempted while
  // allocating never holds up the shard.
  thread_local std::string scratch;
  uint64_t lo, hi;
  {
    Shard& s = ShardOf(id);
    std::shared_lock lock(s.mu);
    auto found = s.map.find(id);
    if (found == s.map.end()) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    Entry& e = *found->second;
    const SeqRange r = RangeFor(kind, seq, n, e.first + e.count - 1);
    if (!r.empty() && r.lo < e.first) {
      misses_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (!e.referenced.load(std::memory_order_relaxed)) e.referenced.store(true, std::memory_order_relaxed);
    hits_.fetch_add(1, std::memory_order_relaxed);
    if (r.empty()) return true;
    size_t pos = 0;
    for (uint64_t q = e.first; q < r.lo; ++q) pos += Span(HeaderAt(e.buf, pos));
    size_t end = pos;
    for (uint64_t q = r.lo; q <= r.hi; ++q) end += Span(HeaderAt(e.buf, end));
    scratch.assign(e.buf.data() + pos, end - pos);
    lo = r.lo;
    hi = r.hi;
  }
  out->reserve(hi - lo + 1);
  size_t pos = 0;
  for (uint64_t q = lo; q <= hi; ++q) {
    const Header h = HeaderAt(scratch, pos);
    const char* p = scratch.data() + pos + kHeader;
    Message& m = out->emplace_back();
    m.seq = h.seq;
    m.timestamp_us = h.ts;
    m.offset = h.offset;
    m.sender.assign(p, h.sender_len);
    m.client_id.assign(p + h.sender_len, h.client_len);
    m.body.assign(p + h.sender_len + h.client_len, h.body_len);
    pos += Span(h);
  }
  if (scratch.capacity() > (1u << 20)) std::string().swap(scratch);  // bound what a thread keeps
  return true;
}

void RecentCache::Fill(const ConvId& id, std::span<const Message> msgs) {
  if (capacity_ == 0 || msgs.empty()) return;
  if (msgs.size() > kMaxMessages) msgs = msgs.subspan(msgs.size() - kMaxMessages);
  Shard& s = ShardOf(id);
  std::unique_lock lock(s.mu);
  auto found = s.map.find(id);
  if (found != s.map.end() && found->second->first <= msgs.front().seq) return;  // already reaches as far
  if (found == s.map.end() && !Admit(id)) return;  // a first miss: remembered, not kept
  Entry e(id);
  size_t bytes = 0;
  for (const Message& m : msgs) bytes += kHeader + m.sender.size() + m.client_id.size() + m.body.size();
  e.buf.reserve(bytes);
  for (const Message& m : msgs) Put(&e, {m.seq, m.timestamp_us, m.offset, m.sender, m.client_id, m.body});
  std::list<Entry>::iterator it;
  if (found != s.map.end()) {
    it = found->second;
    it->first = e.first;
    it->count = e.count;
    it->buf = std::move(e.buf);
    s.lru.splice(s.lru.begin(), s.lru, it);
  } else {
    it = s.lru.emplace(s.lru.begin(), id);
    it->first = e.first;
    it->count = e.count;
    it->buf = std::move(e.buf);
    s.map.emplace(id, it);
    ++s.entries;
  }
  Settle(s, it);
}

void RecentCache::Clear() {
  for (auto& s : shards_) {
    std::unique_lock lock(s->mu);
    s->map.clear();
    s->lru.clear();
    s->bytes = 0;
    s->entries = 0;
  }
}

size_t RecentCache::Sum(size_t Shard::*field) const {
  size_t total = 0;
  for (const auto& s : shards_) {
    std::shared_lock lock(s->mu);
    total += (*s).*field;
  }
  return total;
}

}  // namespace warbler::engine
