// RecentCache: the newest messages of recently used conversations, decoded,
// so that the reads an IM client makes most — the newest n on opening a
// conversation, everything after a recent seq on reconnect — are one lookup
// and a copy rather than one batch fetched and decoded per message
// (docs/index.md "Recent-message cache").
//
// An entry holds a gap-free run [first, last] of one conversation's messages
// and always ends at the conversation's last durable seq. The owner keeps it
// so (ConvState): Append is called on the writer thread for every message
// that became durable, before any of them is acknowledged; Fill is called
// only after checking that the index still ends where the filled messages
// end, with the index locked against the writer until Fill returns; Clear
// follows a truncation. An entry is trimmed back to its newest kMaxMessages
// once it reaches kMaxMessages * 5 / 4; the cache holds at most
// `capacity_bytes` (entries' buffer capacities plus a fixed overhead each),
// evicting the least recently written or filled conversation not read since
// it was last passed over (second chance, as in CLOCK: reads only set a
// flag, so they share the shard lock).
//
// Thread-safety: all methods are thread-safe (one reader-writer lock per
// shard; Read takes it shared, so readers never wait for each other).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/cache/doorkeeper.h"
#include "engine/conv/conv_id.h"
#include "engine/conv/read_range.h"
#include "warbler/types.h"

namespace warbler::engine {

class RecentCache {
 public:
  // Messages kept per conversation: covers the usual "newest 50" page.
  static constexpr size_t kMaxMessages = 64;
  // Bytes charged per entry on top of its buffer (map and list nodes).
  static constexpr size_t kEntryOverhead = 160;

  struct MessageRef {
    uint64_t seq = 0;
    uint64_t timestamp_us = 0;
    uint64_t offset = 0;
    std::string_view sender;
    std::string_view client_id;
    std::string_view body;
  };

  // capacity_bytes = 0 disables the cache (every read misses, nothing is kept).
  // shards = 0: one per MiB of capacity, 1..256 (a shard must hold enough
  // conversations that their sizes average out; readers share a shard's lock).
  explicit RecentCache(size_t capacity_bytes, size_t shards = 0);

  bool enabled() const { return capacity_ != 0; }

  // Writer: `m` of `id` became durable. Extends the entry that ends at
  // m.seq - 1, starts one when m.seq == 1 (the whole conversation is then
  // known) or `start_anywhere` (recovery, which goes on to feed every later
  // message of the log in order), and drops an entry that does not line up.
  void Append(const ConvId& id, const MessageRef& m, bool start_anywhere = false);

  // Serves a read if the entry of `id` holds all of it: returns true with
  // `out` set (ascending seq; empty when nothing qualifies). False: a miss.
  bool Read(const ConvId& id, ReadKind kind, uint64_t seq, size_t n, std::vector<Message>* out);

  // Keeps the newest kMaxMessages of `msgs` (ascending, gap-free, a read's
  // result that ends at the conversation's last durable seq: see above) if
  // they reach further back than the entry already held. A conversation
  // without an entry is admitted only on its second fill within the
  // doorkeeper's memory (TinyLFU's doorkeeper: one 32-bit fingerprint per
  // slot, a slot per 256 bytes of capacity), so reads spread over far more
  // conversations than fit do not churn the cache with one-off entries.
  void Fill(const ConvId& id, std::span<const Message> msgs);

  // Drops every entry (after a truncation).
  void Clear();

  uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  uint64_t misses() const { return misses_.load(std::memory_order_relaxed); }
  size_t bytes() const { return Sum(&Shard::bytes); }
  size_t entries() const { return Sum(&Shard::entries); }
  size_t capacity() const { return capacity_; }

 private:
  // buf: per message a 32-byte header (seq, timestamp, offset: u64; sender
  // and client id lengths: u16; body length: u32) and the three byte strings.
  struct Entry {
    explicit Entry(const ConvId& c) : id(c) {}
    ConvId id;
    uint64_t first = 0;  // seq of the first message in buf
    uint32_t count = 0;
    std::vector<char> buf;  // not std::string: its reserve() doubles, and the slack is charged
    size_t charge = 0;
    std::atomic<bool> referenced{false};  // read since it was last moved to the front
  };
  struct Shard {
    std::shared_mutex mu;
    std::list<Entry> lru;  // front = most recently written, filled or given a second chance
    std::unordered_map<ConvId, std::list<Entry>::iterator, ConvIdHash> map;
    size_t bytes = 0;
    size_t entries = 0;
  };
  size_t Sum(size_t Shard::*field) const;  // over the shards, each under its lock
  Shard& ShardOf(const ConvId& id) { return *shards_[(id.hi ^ id.lo >> 17) % shards_.size()]; }
  static void Put(Entry* e, const MessageRef& m);
  static void TrimFront(Entry* e, size_t keep);
  // Re-charges `it` after a change and evicts from the back until the shard fits.
  void Settle(Shard& s, std::list<Entry>::iterator it);
  void Erase(Shard& s, std::list<Entry>::iterator it);

  const size_t capacity_;
  const size_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> hits_{0};
  std::atomic<uint64_t> misses_{0};
  // True if `id` was offered before (then forgotten), else remembers it.
  bool Admit(const ConvId& id);
  Doorkeeper door_;
};

}  // namespace warbler::engine
