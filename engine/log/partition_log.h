// PartitionLog: the segmented, group-committed, crash-recovering log of one
// partition. The heart of Warbler; everything else (indexes, encryption,
// Raft) sits on it.
//
// Durability contract:
//   - "appended" (callback run, Append returned OK) means durable under the
//     configured Durability: with kSync (default) the records were written
//     and covered by a completed fdatasync. Acknowledgements are strictly in
//     log order.
//   - Readers see exactly the acknowledged records: never a record whose
//     append has not been acknowledged, always every record acknowledged
//     before the read started.
//   - After a failed write or sync (EIO, ENOSPC) the affected appends get the
//     error, nothing acknowledged is touched, reads keep working, and later
//     appends are tried afresh (the failed range is zeroed first).
//
// Threads: one writer thread per partition drains a bounded queue of append
// requests, builds one group (one or more batches) per round, writes it and a
// linked fdatasync in one io submission, and pipelines up to
// max_inflight_groups groups. Waiting for a group's sync, it is woken early
// when a group's worth of appends arrives (IoQueue::WaitOrWake), which it
// writes beside the one in flight. While it serves about one appender at a time,
// a lone request with nothing in flight and nobody queued is written and
// synced by the writer itself (IoQueue::Run: plain syscalls, two thread
// hand-offs fewer than the ring); with a backend whose queue cannot overlap
// groups (POSIX), every group is, and is acknowledged at once. Two helpers take work off it: an encoder
// thread (created on first use) compresses/encrypts a large group while the
// writer completes the group in flight, and a short-lived preparer thread
// creates the next segment file ahead of the roll (SegmentPreparer). Hook
// calls and callbacks stay on the writer thread. All other methods are
// thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/histogram.h"
#include "base/status.h"
#include "engine/log/append_hook.h"
#include "engine/log/batch.h"
#include "engine/log/committed_mark.h"
#include "engine/log/log_options.h"
#include "engine/log/segment.h"
#include "engine/log/segment_preparer.h"
#include "io/file_system.h"

namespace warbler::engine {

struct AppendResult {
  uint64_t base_offset = 0;  // offset of the first record of the request
  uint32_t count = 0;
  uint64_t first_timestamp_us = 0;
  uint64_t last_timestamp_us = 0;
  // The request's records, with `offset`, `seq`, `timestamp_us` and
  // `duplicate` filled in; valid only during the callback. A duplicate is not
  // written and is not counted in `count`.
  const std::vector<Record>* records = nullptr;
};

// Runs on the writer thread; must be quick and must not call back into the log.
using AppendCallback = std::function<void(const Status&, const AppendResult&)>;

struct ReadOptions {
  size_t max_bytes = 1u << 20;       // stop after this many stored bytes (≥ 1 batch returned)
  bool committed_only = false;       // stop at the committed mark
  uint64_t limit_offset = UINT64_MAX;  // never return batches starting at or after this
};

struct LogMetrics {
  std::atomic<uint64_t> appends{0};       // records acknowledged
  std::atomic<uint64_t> groups{0};        // writes (groups) completed
  std::atomic<uint64_t> batches{0};
  std::atomic<uint64_t> syncs{0};         // fdatasyncs completed
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> write_errors{0};
  std::atomic<uint64_t> segments_rolled{0};
  std::atomic<uint64_t> segments_prepared{0};  // rolls that installed a prepared segment file
  std::atomic<uint64_t> segments_created{0};   // rolls that created their segment on the writer thread
  std::atomic<uint64_t> queue_full{0};    // appends rejected with ResourceExhausted
  std::atomic<uint64_t> inline_groups{0};  // groups the writer wrote and synced itself (IoQueue::Run)
  Histogram commit_latency{kLatencyBuckets};  // seconds from a group's write to its fdatasync's end
  Histogram group_records{kCountBuckets};     // records per group written
};

class PartitionLog {
 public:
  // Opens or creates the partition in `dir`, recovering its active segment.
  static Result<std::unique_ptr<PartitionLog>> Open(io::FileSystem* fs, std::string dir,
                                                    uint32_t partition, const StoreUuid& uuid,
                                                    const LogOptions& options);
  ~PartitionLog();
  PartitionLog(const PartitionLog&) = delete;
  PartitionLog& operator=(const PartitionLog&) = delete;

  // Completes every queued append, makes everything durable, stops the writer.
  // Later appends fail with Unavailable. Idempotent.
  Status Close();

  // Queues `records`; `done` runs once they are durable or failed. On an
  // immediate error (invalid record, queue full → ResourceExhausted, closed →
  // Unavailable, read-only → FailedPrecondition) returns it and never calls `done`.
  Status AppendAsync(std::vector<Record> records, AppendCallback done);
  // Blocking form of AppendAsync.
  Result<AppendResult> Append(std::vector<Record> records);

  // Decoded batches overlapping [from, …), in order, up to the acknowledged end.
  Result<std::vector<DecodedBatch>> Read(uint64_t from, const ReadOptions& options = {});
  // The same as raw stored batches (for replication and tools).
  Status ReadRaw(uint64_t from, const ReadOptions& options, std::vector<std::string>* out);
  // Blocks until the acknowledged end passes `offset` or the timeout ends; true if it did.
  bool WaitForOffset(uint64_t offset, uint64_t timeout_ms);

  // Reads the given stored batches (raw bytes, verified by DecodeBatch later)
  // in one batched submission. Aborted if a location is no longer readable
  // (the log was truncated meanwhile).
  Status ReadBatchesAt(std::span<const BatchLocation> locations, std::vector<std::string>* out);
  // Calls `fn` for every acknowledged batch of the segments with base ≥
  // `from_segment_base`, in log order, with its location (recovery scans).
  Status ForEachBatch(uint64_t from_segment_base,
                      const std::function<Status(const BatchLocation&, const DecodedBatch&)>& fn);
  struct SegmentInfo {
    uint64_t base = 0;
    uint64_t next_offset = 0;
    uint64_t data_end = 0;
    bool sealed = false;
  };
  std::vector<SegmentInfo> segments() const;

  uint64_t start_offset() const;  // first offset still in the log
  uint64_t next_offset() const;   // offset after the last acknowledged record
  uint64_t last_term() const;

  // Drops every batch from `offset` on (a batch boundary, ≥ committed mark),
  // durably, even across segments. Waits for appends queued before it.
  Status TruncateSuffix(uint64_t offset);
  // Durably records that offsets < `offset` are committed. REQUIRES offset ≤ next_offset().
  Status SetCommitted(uint64_t offset);
  uint64_t committed() const { return committed_->value(); }

  const LogMetrics& metrics() const { return metrics_; }
  size_t segment_count() const;
  // Append requests queued and not yet taken by the writer.
  size_t queue_depth() const;
  const std::string& dir() const { return dir_; }
  uint32_t partition() const { return partition_; }

 private:
  struct Request;
  struct Group;
  class Encoder;
  class AppendQueue;
  PartitionLog(io::FileSystem* fs, std::string dir, uint32_t partition, const StoreUuid& uuid,
               const LogOptions& options);

  // ---- recovery (partition_log.cc) ----
  Status Recover();
  Status OpenSealed(uint64_t base, std::shared_ptr<Segment>* out);
  Status OpenActive(uint64_t base, bool* removed_torn_roll);
  Status HandleDamage(Segment* seg, const ScanResult& scan);
  Status WriteIndex(Segment* seg);
  // Creates segment `base` with `bytes` of space reserved per `prealloc`; it
  // becomes the active one, of that capacity.
  Status CreateSegment(uint64_t base, Preallocate prealloc, uint64_t bytes);
  // The capacity of the next segment: segments of a new log ramp up from
  // kFirstSegmentBytes, each twice the previous, to segment_bytes.
  uint64_t NextCapacity() const;
  // The active segment's capacity from its file (after open or truncation).
  Status MeasureActiveCapacity();

  // ---- writer (log_writer.cc) ----
  void WriterLoop();
  void ProcessRequests(std::vector<Request>& requests);
  // Gives the records of requests [begin, end) their offsets, timestamps and
  // (through the hook) seqs, and cuts them into batches. Nothing is encoded.
  void AssignGroup(std::vector<Request>& requests, size_t begin, size_t end, Group* g);
  // Encodes g's batches into g->buf with `builder`. Runs on the writer or the encoder thread.
  Status EncodeGroup(Group* g, BatchBuilder* builder) const;
  // Encodes g; a large group on the encoder thread while this thread
  // completes the groups in flight (which may fail and void g: see ProcessRequests).
  Status Encode(Group* g, size_t bytes);
  Status StartGroup(Group* g, bool sync);
  // The status of g's write and sync, waiting for them unless g ran inline. Once per group.
  Status WaitIo(Group* g);
  void CompleteOldest();
  // As CompleteOldest, but returns at once, leaving the group in flight,
  // when `enough` appends are queued, or once they are (the writer then
  // drains them: a group of its own, written while the older one syncs).
  void CompleteOldestUnlessQueued(size_t enough);
  // Queued appends that make a group worth a sync of its own beside the
  // newest group in flight: half its requests, at most kOwnGroupRequests.
  size_t GroupWorthASync() const;
  void CompleteAll();
  void FailPipeline(const Status& first_error);
  Status MaybeRoll(uint64_t incoming_bytes);
  Status Roll(const char* reason);  // reason: "size", "age" or "index" (for the log line)
  // Makes the segment at `base` the active one: the prepared file if one is
  // ready, else a file created here. The caller syncs the directory.
  Status InstallNextSegment(uint64_t base);
  Status RunTruncate(uint64_t offset);
  Status SyncIfDue(bool force);
  uint64_t NextTimestamp();

  io::FileSystem* const fs_;
  const std::string dir_;
  const uint32_t partition_;
  const StoreUuid uuid_;
  const LogOptions options_;
  Clock* const clock_;
  const bool read_only_;

  mutable std::mutex mu_;  // guards segments_ and every Segment's in-memory state
  std::condition_variable appended_cv_;
  std::vector<std::shared_ptr<Segment>> segments_;
  uint64_t acked_next_ = 0;  // guarded by mu_

  std::unique_ptr<CommittedMark> committed_;
  std::unique_ptr<AppendQueue> queue_;
  std::thread writer_;
  std::mutex close_mu_;
  bool closed_ = false;
  std::atomic<bool> stopping_{false};
  LogMetrics metrics_;

  // ---- writer-thread state ----
  std::unique_ptr<io::IoQueue> ioq_;
  std::unique_ptr<SegmentPreparer> preparer_;  // nullptr: read-only or !prepare_next_segment
  std::deque<std::unique_ptr<Group>> inflight_;
  std::vector<Request> spare_requests_;  // empty; the capacity of a completed group, for reuse
  uint64_t write_pos_ = 0;    // where the next group goes in the active segment
  uint64_t active_capacity_ = 0;  // the active segment rolls before passing this
  uint64_t next_offset_ = 0;  // offset the next record gets
  uint64_t dirty_end_ = 0;    // [write_pos_, dirty_end_) holds stale bytes to zero
  uint64_t last_ts_ = 0;
  uint64_t last_sync_ns_ = 0;
  uint64_t term_ = 0;        // term stamped on new batches (0 until replication)
  bool unsynced_ = false;     // written bytes not yet covered by an fdatasync
  uint64_t pipeline_failures_ = 0;  // FailPipeline calls
  Status pipeline_error_;           // the error of the last FailPipeline
  BatchBuilder builder_;
  double requests_per_group_ = 2;  // moving average, for StartGroup's choice to run a group inline
  std::unique_ptr<Encoder> encoder_;  // created on first use
  BatchBuilder encoder_builder_;      // used by encoder_'s thread only
};

}  // namespace warbler::engine
