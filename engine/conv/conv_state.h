// ConvState: the conversation layer of one partition (docs/index.md). It is
// the partition log's AppendHook — assigning per-conversation seqs, answering
// retries from the dedup window, indexing what became durable, writing the
// `.cix` file of each sealed segment, rolling back on failed writes and
// rebuilding on truncation — and it plans history reads.
//
// Thread-safety: the AppendHook methods run on the partition's writer thread
// (Recover before it starts). Plan/Info/stats may be called from any thread:
// they take `mu_` shared; the writer takes it exclusively to publish.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "engine/cache/block_cache.h"
#include "engine/conv/cix.h"
#include "engine/conv/conv_id.h"
#include "engine/conv/dedup_table.h"
#include "engine/conv/dedup_window.h"
#include "engine/conv/directory.h"
#include "engine/conv/read_range.h"
#include "engine/conv/recent_cache.h"
#include "engine/conv/tail_index.h"
#include "engine/log/append_hook.h"
#include "io/file_system.h"

namespace warbler::engine {

struct ConvStateOptions {
  uint32_t partition = 0;
  uint64_t dedup_window_ms = 5 * 60 * 1000;
  size_t dedup_max_entries = 65536;
  Clock* clock = nullptr;  // nullptr = Clock::Real()
  // Recovery at open feeds at most the newest this many records, and this
  // many of their bytes, to the recent cache (engine/conv/warm_stage.h).
  uint64_t recent_warm_records = 0;
  size_t recent_warm_bytes = 0;
  // Budget of the tail index (the in-memory index of the unsealed segment):
  // the log seals the segment when it is reached (index_fill). 0 = none.
  size_t tail_index_max_bytes = 0;
};

// What a read needs: the seq range [lo, hi] (empty when lo > hi) and the
// batches holding it, newest segment first.
struct ReadPlan {
  uint64_t lo = 1;
  uint64_t hi = 0;
  uint64_t generation = 0;  // cache generation the locations belong to
  std::vector<BatchLocation> batches;
  bool empty() const { return lo > hi; }
};

// Cache kinds used in BlockCache keys.
inline constexpr uint32_t kCacheBatch = 0;
inline constexpr uint32_t kCacheRunsEntry = 1;

class ConvState final : public AppendHook {
 public:
  ConvState(io::FileSystem* fs, std::string partition_dir, const ConvStateOptions& options,
            BlockCache* cache, RecentCache* recent);
  ~ConvState() override;

  // ---- AppendHook (writer thread) ----
  Status Recover(PartitionLog* log) override;
  uint64_t max_timestamp_us() const override { return max_ts_; }
  bool NeedsDrain(const std::vector<Record>& records) override;
  void Assign(Record* r, uint64_t offset) override;
  void OnDurable(std::span<const BatchLocation> batches) override;
  void OnAbandon(uint64_t offset) override;
  Status OnSeal(PartitionLog* log, uint64_t segment_base, uint64_t next_offset) override;
  Status OnTruncate(PartitionLog* log, uint64_t offset) override;
  double index_fill() const override {
    // A sealed segment's index stays in tail_ until its seal is published
    // (the next segment's first durable batch): it is not the new segment's.
    if (options_.tail_index_max_bytes == 0 || unpublished_ != nullptr) return 0;
    return static_cast<double>(tail_.used_bytes()) / static_cast<double>(options_.tail_index_max_bytes);
  }

  // ---- reads (any thread) ----
  // Plans a read of `n` messages (kLatest/kBefore/kAfter) or of one (kGet) around `seq`.
  Status Plan(const ConvId& id, ReadKind kind, uint64_t seq, size_t n, ReadPlan* plan);
  // Serves a read from the recent-message cache; false on a miss (then Plan).
  bool ReadRecent(const ConvId& id, ReadKind kind, uint64_t seq, size_t n, std::vector<Message>* out) {
    return recent_->Read(id, kind, seq, n, out);
  }
  // Offers what a planned read returned to the recent-message cache; kept if
  // it still ends at the conversation's last seq in the plan's generation.
  void FillRecent(const ConvId& id, const ReadPlan& plan, std::span<const Message> msgs);
  // Last seq and timestamp; false if the conversation has no message.
  bool Info(const ConvId& id, uint64_t* last_seq, uint64_t* last_ts) const;

  size_t conversations() const;
  size_t directory_bytes() const;
  size_t tail_bytes() const;
  size_t dedup_entries() const { return dedup_count_.load(std::memory_order_relaxed); }
  uint64_t duplicates() const { return duplicates_.load(std::memory_order_relaxed); }
  uint64_t index_file_bytes() const;

 private:
  struct CixHandle {
    uint64_t segment_base = 0;
    uint32_t ordinal = 0;
    uint64_t size = 0;
    std::unique_ptr<io::File> file;
  };
  struct Pending {
    ConvId id;
    uint64_t seq;
    uint64_t ts;
    uint64_t offset;
    ConvId dedup;  // empty: no client id
    // For the recent-message cache; alive until OnDurable/OnAbandon (AppendHook).
    const Record* record = nullptr;
  };
  using DedupValue = DedupTable::Value;

  // Applies one durable record (writer thread; caller holds mu_ exclusively).
  void ApplyDurable(const ConvId& id, uint64_t seq, uint64_t ts, uint64_t offset,
                    const ConvId& dedup, const BatchLocation& loc);
  void AddDedup(const ConvId& dedup, uint64_t seq, uint64_t ts, uint64_t offset);
  void ExpireDedup(uint64_t now_us);
  // Writes the .cix of the tail segment [tail_base_, next_offset) (no lock
  // needed: only the writer mutates what it reads), then publishes it.
  Status SealTail(uint64_t next_offset, bool lock);
  // SealTail's halves. Write leaves the state as it was (each tail entry's
  // sealed_pos8 aside); Publish makes the new index the reader's view.
  Result<std::shared_ptr<CixHandle>> WriteTailIndex(uint64_t next_offset);
  void PublishSeal(std::shared_ptr<CixHandle> handle, uint64_t next_offset);
  Status LoadSnapshot(const CixHandle& h, const cix::Header& header);
  Result<std::shared_ptr<const cix::RunsEntry>> LoadEntry(const std::shared_ptr<CixHandle>& h,
                                                          uint32_t pos8, uint64_t generation);
  void ResetLocked();

  io::FileSystem* const fs_;
  const std::string dir_;
  const ConvStateOptions options_;
  Clock* const clock_;
  BlockCache* const cache_;
  RecentCache* const recent_;  // shared by the store's partitions

  mutable std::shared_mutex mu_;
  ConvDirectory directory_;
  TailIndex tail_;
  uint64_t tail_base_ = 0;
  std::map<uint32_t, std::shared_ptr<CixHandle>> cix_;  // by ordinal
  uint32_t next_ordinal_ = 0;
  uint64_t generation_ = 0;

  // ---- writer-thread only ----
  std::deque<Pending> pending_;
  std::vector<Pending> durable_;  // OnDurable's scratch: applied, for the recent cache
  // Flat tables, no allocation per append: a conversation's newest pending
  // assignment (seq, timestamp, offset), and the pending client ids.
  DedupTable pending_last_;
  DedupTable pending_dedup_;
  // A seal whose .cix is written (OnSeal) but not yet published: the log may
  // still fail to create the next segment and stay on this one. Published when
  // the first batch of the next segment becomes durable, dropped if the old
  // segment grows instead.
  std::shared_ptr<CixHandle> unpublished_;
  uint64_t unpublished_next_ = 0;
  DedupWindow dedup_;
  uint64_t max_ts_ = 0;
  bool recovered_once_ = false;  // the first Recover (at open) warms the recent cache

  std::atomic<size_t> dedup_count_{0};
  std::atomic<uint64_t> duplicates_{0};
};

}  // namespace warbler::engine
