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
#include <span>
#include <string>
#include <thread>
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
    // tail_ is the active segment's alone: a sealing one's moved to sealing_.
    if (options_.tail_index_max_bytes == 0) return 0;
    return static_cast<double>(tail_.used_bytes()) / static_cast<double>(options_.tail_index_max_bytes);
  }

  // Waits for a seal's .cix being written (the store's Close: no file is
  // written after it). Call once the log's writer has stopped.
  void WaitForSeal() {
    if (sealing_ != nullptr && sealing_->thread.joinable()) sealing_->thread.join();
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
    uint64_t runs_bytes = 0;
    bool has_directory = true;
    std::unique_ptr<io::File> file;
  };
  struct IndexFile {
    cix::Header header;
    std::shared_ptr<CixHandle> handle;
  };
  static constexpr uint64_t kNoSnapshot = UINT64_MAX;
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
  // Recovery's synchronous seal; the log's rolls go through OnSeal.
  Status SealTail(uint64_t next_offset, bool lock);
  // Writes the .cix of segment `base` from its tail index, the directory and
  // dedup window as they were at its end; sets each tail slot's sealed_pos8.
  // Reads nothing else of the state (runs on the seal thread too).
  Result<std::shared_ptr<CixHandle>> WriteIndexFile(TailIndex* tail, const ConvDirectory& directory,
                                                    std::span<const cix::DedupEntry> dedup, uint64_t base,
                                                    uint64_t next_offset, uint32_t ordinal, bool with_directory);
  // Makes a written .cix the readers' view: the directory points into it and
  // `tail`'s refs are dropped. Caller holds mu_ exclusively.
  void PublishSeal(const TailIndex& tail, std::shared_ptr<CixHandle> handle);
  std::vector<cix::DedupEntry> DedupSnapshot();
  // Publishes the confirmed seal's .cix once its thread is done; the write's
  // error if it failed (OnSeal rewrites it first). Caller holds mu_ exclusively.
  Status FinishSeal();
  // Drops a seal whose roll failed: its tail index is the active one again.
  void UndoSeal();
  // Loads the directory and dedup window as of the end of files.back(), the
  // newest of a run of index files of consecutive sealed segments.
  Status LoadSnapshot(std::span<const IndexFile> files);
  // Whether the next .cix carries a directory snapshot: once the runs
  // sections written since the last one reach the directory's size, so that
  // open reads at most about twice the directory (docs/index.md).
  bool WantsSnapshot() const {
    return runs_since_snapshot_ == kNoSnapshot || runs_since_snapshot_ >= directory_.size() * cix::kDirEntrySize;
  }
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
  // A roll's seal (OnSeal): the sealed segment's tail index, frozen, and
  // copies of the directory and dedup window at its end, from which a thread
  // of its own writes the .cix while the writer goes on in the next segment
  // (at a million conversations that takes ~60-160 ms per partition). Reads
  // use the frozen tail index meanwhile. Published at the first durable batch
  // after the thread is done, once a batch of the next segment is durable
  // (the roll went through); undone if the old segment grows instead (the
  // roll failed after OnSeal). At most one: the next seal finishes it first,
  // since its runs entries link to this one's.
  struct SealJob {
    TailIndex tail;
    uint64_t base = 0;         // the sealed segment
    uint64_t next_offset = 0;  // its end: the next segment's base
    uint32_t ordinal = 0;
    bool with_directory = true;
    ConvDirectory directory;
    std::vector<cix::DedupEntry> dedup;
    bool confirmed = false;  // a batch of the next segment is durable
    bool failure_logged = false;
    std::atomic<bool> done{false};
    Result<std::shared_ptr<CixHandle>> result{Status::Aborted("not written")};
    std::thread thread;
  };
  std::unique_ptr<SealJob> sealing_;  // guarded by mu_; mutated by the writer only
  DedupWindow dedup_;
  // Runs bytes of the .cix files published since the newest one with a
  // directory snapshot (kNoSnapshot: none yet).
  uint64_t runs_since_snapshot_ = kNoSnapshot;
  uint64_t max_ts_ = 0;
  bool recovered_once_ = false;  // the first Recover (at open) warms the recent cache

  std::atomic<size_t> dedup_count_{0};
  std::atomic<uint64_t> duplicates_{0};
};

}  // namespace warbler::engine
