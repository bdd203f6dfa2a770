// The writer side of PartitionLog: group commit, pipelining, failure
// handling, segment rolls and suffix truncation. Everything here runs on the
// partition's writer thread, which alone mutates the active segment.
#include <algorithm>

#include "base/coding.h"
#include "base/limits.h"
#include "base/log.h"
#include "engine/layout.h"
#include "engine/log/partition_log.h"
#include "engine/log/writer_types.h"

namespace warbler::engine {
namespace {

// Requests taken from the queue per round; groups are cut from them by size.
constexpr size_t kMaxRequestsPerRound = 4096;
// Idle wake-up period, for age-based rolls and interval syncs.
constexpr uint64_t kIdleWaitMs = 50;
// Requests that are always worth a group (and a sync) of their own, even
// when a much larger group is in flight (many appends in flight).
constexpr size_t kOwnGroupRequests = 256;
// While the log serves about one appender at a time (a moving average of
// requests per group below this), a lone request with no other group in
// flight and nobody queued behind it has nothing to overlap its write and
// fdatasync with: the writer runs them itself (IoQueue::Run), which through
// io_uring saves two thread hand-offs. One appender: 4.5k -> 6.8-7.0k
// appends/s, p50 205 -> 135 us. With more appenders the writer must not
// block: lone requests inline at 8 appenders per partition cost IM-1's write
// phase 6% (docs/benchmarks.md, "Partition log", 18:40).
constexpr double kInlineMaxRequestsPerGroup = 1.5;

size_t EstimateBytes(const std::vector<Record>& records) {
  size_t n = 0;
  for (const Record& r : records) {
    n += r.body.size() + r.sender.size() + r.client_id.size() + r.tenant.size() +
         r.conversation.size() + 32;
  }
  return n;
}

}  // namespace

uint64_t PartitionLog::NextTimestamp() {
  // One clock read per group: the records of a group share a server timestamp.
  last_ts_ = std::max(clock_->WallMicros(), last_ts_);
  return last_ts_;
}

void PartitionLog::WriterLoop() {
  std::vector<Request> requests;
  while (true) {
    if (inflight_.empty()) {
      uint64_t wait_ms = kIdleWaitMs;
      if (options_.durability == Durability::kInterval && unsynced_) {
        wait_ms = std::min<uint64_t>(wait_ms, options_.sync_interval_ms);
      }
      queue_->WaitNonEmpty(std::chrono::milliseconds(wait_ms));
      (void)SyncIfDue(false);
    }
    requests.clear();
    if (queue_->DrainTo(&requests, kMaxRequestsPerRound) == 0) {
      if (!inflight_.empty()) {
        CompleteOldestUnlessQueued(kOwnGroupRequests);
        continue;
      }
      if (queue_->closed()) break;
      if (Status s = MaybeRoll(0); !s.ok()) WB_LOG(kError, "segment_roll_failed").Kv("error", s.ToString());
      continue;
    }
    // A second group in flight pays only if it is worth a sync of its own:
    // otherwise wait for the one in flight and take everyone who queued
    // meanwhile — unless enough for a group of its own queue first.
    while (!inflight_.empty() && requests.size() < GroupWorthASync()) {
      CompleteOldestUnlessQueued(kOwnGroupRequests - requests.size());
      queue_->DrainTo(&requests, kMaxRequestsPerRound - requests.size());
    }
    if (options_.linger_us > 0 && requests.size() < options_.batch_max_records) {
      std::this_thread::sleep_for(std::chrono::microseconds(options_.linger_us));
      queue_->DrainTo(&requests, kMaxRequestsPerRound - requests.size());
    }
    ProcessRequests(requests);
  }
  CompleteAll();
  if (dirty_end_ > write_pos_) {
    // Bytes of a failed write past the end were never acknowledged: zero them
    // before the final sync makes them durable (a reopen would read them as
    // data, or as damage followed by a valid batch).
    if (Status z = io::WriteZeros(segments_.back()->file(), write_pos_, dirty_end_); z.ok()) {
      dirty_end_ = write_pos_;
      unsynced_ = true;
    } else {
      WB_LOG(kError, "stale_tail_zeroing_failed").Kv("dir", dir_).Kv("error", z.ToString());
    }
  }
  if (Status s = SyncIfDue(true); !s.ok()) {
    WB_LOG(kError, "final_sync_failed").Kv("dir", dir_).Kv("error", s.ToString());
  }
}

void PartitionLog::ProcessRequests(std::vector<Request>& requests) {
  size_t i = 0;
  while (i < requests.size()) {
    if (requests[i].control) {
      CompleteAll();
      Status s = requests[i].control();
      requests[i].control_done(s);
      ++i;
      continue;
    }
    size_t j = i, bytes = 0;
    while (j < requests.size() && !requests[j].control) {
      size_t b = EstimateBytes(requests[j].records);
      if (j > i && bytes + b > options_.group_max_bytes) break;
      bytes += b;
      ++j;
    }
    if (options_.hook != nullptr && !inflight_.empty()) {
      for (size_t k = i; k < j; ++k) {
        if (options_.hook->NeedsDrain(requests[k].records)) {
          CompleteAll();
          break;
        }
      }
    }
    // Keep every unacknowledged byte within kMaxUnsyncedSpanBytes of the durable
    // end (recovery looks no further for valid batches after damage); the
    // estimate is doubled for batch headers, tags and varints.
    if (!inflight_.empty() && write_pos_ + 2 * bytes + 65536 >
                                  segments_.back()->data_end + limits::kMaxUnsyncedSpanBytes) {
      CompleteAll();
    }
    auto g = std::make_unique<Group>();
    Status s = MaybeRoll(bytes);
    const uint64_t failures = pipeline_failures_;
    if (s.ok()) {
      AssignGroup(requests, i, j, g.get());
      s = Encode(g.get(), bytes);
    }
    // A group in flight failed while g was encoded: g was built on top of it and is void
    // (FailPipeline reset the write position and abandoned g's offsets already).
    const bool voided = pipeline_failures_ != failures;
    if (voided) s = pipeline_error_;
    if (s.ok() && g->buf.empty()) {
      // Every record was a retry answered by the hook: nothing to write.
      for (size_t k = 0; k < g->requests.size(); ++k) g->requests[k].done(Status::Ok(), g->results[k]);
      i = j;
      continue;
    }
    if (s.ok()) {
      const bool sync = options_.durability == Durability::kSync ||
                        (options_.durability == Durability::kInterval &&
                         clock_->NowNanos() - last_sync_ns_ >= options_.sync_interval_ms * 1000000ull);
      s = StartGroup(g.get(), sync);
    }
    if (!s.ok()) {
      if (g->requests.empty()) {
        for (size_t k = i; k < j; ++k) g->requests.push_back(std::move(requests[k]));
      } else if (!voided) {
        write_pos_ = g->start_pos;
        next_offset_ = g->base_offset;
        if (options_.hook != nullptr) options_.hook->OnAbandon(g->base_offset);
      }
      metrics_.write_errors.fetch_add(1);
      for (Request& r : g->requests) r.done(s, AppendResult{});
    } else {
      inflight_.push_back(std::move(g));
      // A group that ran inline is complete already: acknowledge it now.
      while (!inflight_.empty() &&
             (inflight_.size() >= options_.max_inflight_groups || inflight_.front()->ran_inline)) {
        CompleteOldest();
      }
    }
    i = j;
  }
}

void PartitionLog::AssignGroup(std::vector<Request>& requests, size_t begin, size_t end, Group* g) {
  g->segment = segments_.back();
  g->start_pos = write_pos_;
  g->base_offset = next_offset_;
  g->last_term = term_;
  uint64_t next = next_offset_;
  const uint64_t group_ts = NextTimestamp();
  size_t batch_bytes = 0, batch_records = 0;
  if (begin == 0 && end == requests.size() && g->requests.empty()) {
    // The whole round is one group (the common case): swap, and hand the
    // capacity of a completed group back to the round (and so to the queue).
    g->requests.swap(spare_requests_);
    g->requests.swap(requests);
  } else {
    g->requests.reserve(end - begin);
    for (size_t k = begin; k < end; ++k) g->requests.push_back(std::move(requests[k]));
  }
  g->results.resize(g->requests.size());
  g->records.reserve(g->requests.size());
  AppendHook* const hook = options_.hook;
  for (size_t k = 0; k < g->requests.size(); ++k) {
    AppendResult& res = g->results[k];
    res.base_offset = next;
    res.records = &g->requests[k].records;
    for (Record& r : g->requests[k].records) {
      if (r.timestamp_us == 0) r.timestamp_us = group_ts;
      if (hook != nullptr) hook->Assign(&r, next);
      if (r.duplicate) continue;
      r.offset = next;
      if (res.count++ == 0) {
        res.base_offset = next;
        res.first_timestamp_us = r.timestamp_us;
      }
      res.last_timestamp_us = r.timestamp_us;
      // Encrypted batches hold one tenant each, sealed under that tenant's
      // data key when it has one (crypto-shredding, docs/security.md).
      // So do batches compressed with a tenant's dictionary (it is trained
      // on, and so discloses, that tenant's records only).
      if ((options_.batch.cipher != nullptr || options_.batch.dictionaries != nullptr) && batch_records > 0 &&
          g->records.back()->tenant != r.tenant) {
        g->batch_ends.push_back(g->records.size());
        batch_bytes = batch_records = 0;
      }
      g->records.push_back(&r);
      batch_bytes += r.body.size() + r.sender.size() + r.conversation.size() + 32;
      ++next;
      if (++batch_records >= options_.batch_max_records || batch_bytes >= options_.batch_max_bytes) {
        g->batch_ends.push_back(g->records.size());
        batch_bytes = batch_records = 0;
      }
    }
  }
  if (batch_records > 0) g->batch_ends.push_back(g->records.size());
  g->next_offset = next;
}

Status PartitionLog::EncodeGroup(Group* g, BatchBuilder* builder) const {
  size_t first = 0;
  BatchOptions batch_options = options_.batch;
  for (const size_t end : g->batch_ends) {
    for (size_t k = first; k < end; ++k) builder->Add(g->records[k]);
    const uint64_t pos = g->start_pos + g->buf.size();
    if (batch_options.cipher != nullptr || batch_options.dictionaries != nullptr) {
      batch_options.tenant = g->records[first]->tenant;
    }
    auto h = builder->Finish(g->records[first]->offset, g->last_term, batch_options, &g->buf);
    if (!h.ok()) {
      builder->Clear();
      return h.status();
    }
    g->batches.emplace_back(*h, pos);
    first = end;
  }
  g->end_pos = g->start_pos + g->buf.size();
  return Status::Ok();
}

Status PartitionLog::Encode(Group* g, size_t bytes) {
  g->end_pos = g->start_pos;
  if (g->batch_ends.empty()) return Status::Ok();
  // Only worth a thread hand-off when there is a completion to overlap it with.
  const bool overlap = !inflight_.empty() && inflight_.size() + 1 >= options_.max_inflight_groups;
  if (!overlap || bytes < options_.encode_offload_min_bytes) return EncodeGroup(g, &builder_);
  if (encoder_ == nullptr) encoder_ = std::make_unique<Encoder>();
  encoder_->Start([this, g] { return EncodeGroup(g, &encoder_builder_); });
  while (!inflight_.empty() && inflight_.size() + 1 >= options_.max_inflight_groups) CompleteOldest();
  return encoder_->Wait();
}

Status PartitionLog::StartGroup(Group* g, bool sync) {
  io::File* file = g->segment->file();
  g->ops.push_back(io::IoOp::Write(file, g->start_pos, AsBytes(g->buf)));
  // Stale bytes of an earlier failed write past our end are zeroed in the same
  // submission, so a recovery scan can never mistake them for log data.
  io::AppendZeroWrites(file, g->end_pos, dirty_end_, &g->ops);
  if (sync) g->ops.push_back(io::IoOp::Sync(file));
  g->synced = sync;
  g->start_ns = clock_->NowNanos();
  requests_per_group_ = 0.75 * requests_per_group_ + 0.25 * static_cast<double>(g->requests.size());
  const bool lone = g->requests.size() == 1 && requests_per_group_ < kInlineMaxRequestsPerGroup &&
                    inflight_.empty() && queue_->size() == 0;
  // A queue without overlap runs the group inside Start anyway: run it
  // inline and acknowledge it at once, not after the next group's I/O.
  if (lone || !ioq_->Overlaps()) {
    // Its failure is reported as the ring's would be, by CompleteOldest.
    g->ran_inline = g->io_done = true;
    g->io_status = ioq_->Run(g->ops);
    metrics_.inline_groups.fetch_add(1);
  } else {
    WB_ASSIGN_OR_RETURN(g->ticket, ioq_->Start(g->ops));
  }
  g->zero_end = std::max(dirty_end_, g->end_pos);
  write_pos_ = dirty_end_ = g->end_pos;
  next_offset_ = g->next_offset;
  return Status::Ok();
}

Status PartitionLog::WaitIo(Group* g) {
  if (g->io_done) return std::move(g->io_status);
  return ioq_->Wait(g->ticket);
}

void PartitionLog::CompleteOldest() {
  Group* g = inflight_.front().get();
  Status s = WaitIo(g);
  if (!s.ok()) {
    FailPipeline(s);
    return;
  }
  std::unique_ptr<Group> done = std::move(inflight_.front());
  inflight_.pop_front();
  if (g->synced) {
    last_sync_ns_ = clock_->NowNanos();
    metrics_.commit_latency.ObserveNanos(last_sync_ns_ - g->start_ns);
    metrics_.syncs.fetch_add(1);
    unsynced_ = !inflight_.empty();
  } else {
    unsynced_ = true;
  }
  {
    std::lock_guard lock(mu_);
    Segment* seg = g->segment.get();
    for (const auto& [h, pos] : g->batches) seg->index.OnBatch(h.base_offset, pos);
    seg->data_end = g->end_pos;
    seg->next_offset = g->next_offset;
    seg->last_term = g->last_term;
    acked_next_ = g->next_offset;
  }
  if (options_.hook != nullptr) {
    std::vector<BatchLocation> locs;
    locs.reserve(g->batches.size());
    for (const auto& [h, pos] : g->batches) {
      locs.push_back({g->segment->base_offset(), pos, static_cast<uint32_t>(h.total_size()),
                      h.base_offset, h.record_count});
    }
    options_.hook->OnDurable(locs);
  }
  appended_cv_.notify_all();
  uint64_t records = g->next_offset - g->base_offset;
  metrics_.group_records.Observe(static_cast<double>(records));
  metrics_.appends.fetch_add(records);
  metrics_.groups.fetch_add(1);
  metrics_.batches.fetch_add(g->batches.size());
  metrics_.bytes_written.fetch_add(g->buf.size());
  for (size_t k = 0; k < g->requests.size(); ++k) g->requests[k].done(Status::Ok(), g->results[k]);
  done->requests.clear();
  if (done->requests.capacity() > spare_requests_.capacity()) spare_requests_.swap(done->requests);
}

size_t PartitionLog::GroupWorthASync() const {
  if (inflight_.empty()) return 1;
  return std::clamp<size_t>((inflight_.back()->requests.size() + 1) / 2, 1, kOwnGroupRequests);
}

void PartitionLog::CompleteOldestUnlessQueued(size_t enough) {
  Group* g = inflight_.front().get();
  if (!g->io_done) {  // (a queue without overlap runs every group inline: io_done)
    if (!queue_->ArmWake(ioq_.get(), enough)) {
      if (queue_->size() >= enough) return;  // go take them
      // Closed: wait as CompleteOldest does.
    } else {
      Status s;
      const bool done = ioq_->WaitOrWake(g->ticket, &s);
      queue_->DisarmWake();
      if (!done) return;  // enough appends arrived first; g is still in flight
      g->io_done = true;
      g->io_status = std::move(s);
    }
  }
  CompleteOldest();
}

void PartitionLog::CompleteAll() {
  while (!inflight_.empty()) CompleteOldest();
}

void PartitionLog::FailPipeline(const Status& first_error) {
  // Everything after the failed group was written past it: it fails too, and
  // the whole range is rewritten (and its stale bytes zeroed) by later groups.
  std::vector<std::unique_ptr<Group>> failed;
  uint64_t dirty = dirty_end_;
  while (!inflight_.empty()) {
    if (!failed.empty()) (void)WaitIo(inflight_.front().get());
    failed.push_back(std::move(inflight_.front()));
    inflight_.pop_front();
    dirty = std::max(dirty, failed.back()->zero_end);
  }
  write_pos_ = failed.front()->start_pos;
  next_offset_ = failed.front()->base_offset;
  dirty_end_ = dirty;
  // Zero the failed range at once (best effort: the disk may still be
  // failing; then the next group zeroes it in its own submission). Until it
  // is zeroed, a crash could leave a torn batch followed by a valid but
  // never-acknowledged one, which a strict open refuses (docs/format.md).
  Status outcome = first_error;
  if (dirty_end_ > write_pos_) {
    io::File* file = failed.front()->segment->file();
    Status z = io::WriteZeros(file, write_pos_, dirty_end_);
    if (z.ok()) z = file->Sync();
    if (z.ok()) {
      dirty_end_ = write_pos_;
    } else {
      // Some of the failed bytes may be in the file, unsynced: page cache
      // writeback could still make them durable, and a reopen would read
      // them as records. The appenders must not be told they were not
      // written (the next group erases them, if no crash comes first).
      outcome = Status::Indeterminate(first_error.ToString() + "; the failed write could not be erased (" +
                                      z.ToString() +
                                      "), so its messages may appear after a restart: retry with the same "
                                      "client message id");
    }
  }
  ++pipeline_failures_;
  pipeline_error_ = first_error;
  if (options_.hook != nullptr) options_.hook->OnAbandon(next_offset_);
  metrics_.write_errors.fetch_add(1);
  WB_LOG(kError, "log_write_failed")
      .Kv("dir", dir_)
      .Kv("position", write_pos_)
      .Kv("groups", failed.size())
      .Kv("error", first_error.ToString());
  for (auto& g : failed) {
    for (Request& r : g->requests) r.done(outcome, AppendResult{});
  }
}

Status PartitionLog::SyncIfDue(bool force) {
  if (!unsynced_ || !inflight_.empty()) return Status::Ok();
  if (!force && (options_.durability != Durability::kInterval ||
                 clock_->NowNanos() - last_sync_ns_ < options_.sync_interval_ms * 1000000ull)) {
    return Status::Ok();
  }
  WB_RETURN_IF_ERROR(segments_.back()->file()->Sync());
  last_sync_ns_ = clock_->NowNanos();
  metrics_.syncs.fetch_add(1);
  unsynced_ = false;
  return Status::Ok();
}

Status PartitionLog::MaybeRoll(uint64_t incoming_bytes) {
  const Segment& active = *segments_.back();
  const bool has_data = write_pos_ > format::kSegmentHeaderSize;
  const bool full = write_pos_ + incoming_bytes > active_capacity_;
  const uint64_t age_us = clock_->WallMicros() - std::min(clock_->WallMicros(), active.meta().created_wall_us);
  const bool old = options_.segment_age_ms > 0 && age_us >= options_.segment_age_ms * 1000;
  const double index_fill = options_.hook != nullptr ? options_.hook->index_fill() : 0;
  const bool index_full = index_fill >= 1;
  // The next segment is prepared only while appends arrive (incoming_bytes
  // > 0), not from the idle wake-up: a log opened to be read, or a quiet
  // partition, must not write a segment's worth of zeros (for a 128 MiB
  // segment at kZeroFill that took a quarter of the CPU of IM-1-large's
  // history readers, and the disk from their cold reads). A roll with
  // nothing prepared makes its file itself (InstallNextSegment).
  if (preparer_ != nullptr && incoming_bytes > 0 && !preparer_->started() &&
      (write_pos_ + incoming_bytes >= active_capacity_ / 2 || index_fill >= 0.5 ||
       (options_.segment_age_ms > 0 && age_us >= options_.segment_age_ms * 750))) {
    preparer_->Start(NextCapacity());  // the next segment, ready long before this one is full or old
  }
  if (!has_data || (!full && !old && !index_full)) return Status::Ok();
  CompleteAll();
  if (write_pos_ <= format::kSegmentHeaderSize) return Status::Ok();
  return Roll(full ? "size" : old ? "age" : "index");
}

Status PartitionLog::Roll(const char* reason) {
  std::shared_ptr<Segment> old = segments_.back();
  const uint64_t old_capacity = active_capacity_;
  const uint64_t start_ns = clock_->NowNanos();
  // Seal: cut preallocated space and stale bytes, make everything durable, write the index.
  WB_RETURN_IF_ERROR(old->file()->Truncate(write_pos_));
  WB_RETURN_IF_ERROR(old->file()->Sync());
  dirty_end_ = write_pos_;
  unsynced_ = false;
  WB_RETURN_IF_ERROR(WriteIndex(old.get()));
  Status s = options_.hook != nullptr
                 ? options_.hook->OnSeal(this, old->base_offset(), next_offset_)
                 : Status::Ok();
  if (s.ok()) s = InstallNextSegment(next_offset_);
  // The new segment's name is durable before anything appended to it is acknowledged.
  if (s.ok()) s = fs_->SyncDir(dir_);
  if (!s.ok()) {
    // Stay on the old segment; it is not sealed, so its index must go.
    (void)fs_->Remove(layout::IndexPath(dir_, old->base_offset()));
    std::lock_guard lock(mu_);
    if (segments_.back() != old) {
      (void)fs_->Remove(segments_.back()->path());
      segments_.pop_back();
    }
    active_capacity_ = old_capacity;
    return s.WithContext("rolling segment of " + dir_);
  }
  {
    std::lock_guard lock(mu_);
    old->sealed = true;
  }
  write_pos_ = dirty_end_ = format::kSegmentHeaderSize;
  metrics_.segments_rolled.fetch_add(1);
  WB_LOG(kInfo, "segment_rolled")
      .Kv("dir", dir_)
      .Kv("sealed", old->path())
      .Kv("reason", reason)
      .Kv("bytes", old->data_end)
      .Kv("next_offset", next_offset_)
      .Kv("ms", static_cast<double>(clock_->NowNanos() - start_ns) / 1e6);  // appends wait this long
  return Status::Ok();
}

Status PartitionLog::InstallNextSegment(uint64_t base) {
  std::unique_ptr<io::File> space = preparer_ != nullptr ? preparer_->TakeReady() : nullptr;
  if (space == nullptr) {
    // Not prepared (yet): never zero-fill a whole segment on the writer thread
    // when a preparer is at work; the next roll gets its zero-filled file.
    const Preallocate p = preparer_ != nullptr && options_.preallocate == Preallocate::kZeroFill
                              ? Preallocate::kFallocate
                              : options_.preallocate;
    WB_RETURN_IF_ERROR(CreateSegment(base, p, NextCapacity()));
    metrics_.segments_created.fetch_add(1);
    return Status::Ok();
  }
  SegmentMeta meta{partition_, base, uuid_, clock_->WallMicros()};
  WB_ASSIGN_OR_RETURN(auto seg, Segment::Install(fs_, std::move(space), layout::SegmentPath(dir_, base),
                                                 meta, options_.index_interval_bytes));
  {
    std::lock_guard lock(mu_);
    segments_.push_back(std::move(seg));
  }
  active_capacity_ = preparer_->bytes();
  metrics_.segments_prepared.fetch_add(1);
  return Status::Ok();
}

Status PartitionLog::RunTruncate(uint64_t offset) {
  if (offset < committed()) {
    return Status::FailedPrecondition("cannot truncate at " + std::to_string(offset) +
                                      ": offsets below " + std::to_string(committed()) +
                                      " are committed");
  }
  if (offset > next_offset_) {
    return Status::InvalidArgument("truncation offset " + std::to_string(offset) +
                                   " is past the end of the log " + std::to_string(next_offset_));
  }
  if (offset == next_offset_) {
    // Nothing to cut, but bytes of a failed write past the end that could
    // not be erased then would still come back after a crash: a truncation
    // promises that nothing from `offset` on survives, so erase them now.
    if (dirty_end_ > write_pos_) {
      io::File* file = segments_.back()->file();
      WB_RETURN_IF_ERROR(io::WriteZeros(file, write_pos_, dirty_end_));
      WB_RETURN_IF_ERROR(file->Sync());
      dirty_end_ = write_pos_;
    }
    return Status::Ok();
  }
  if (offset < segments_.front()->base_offset()) {
    return Status::InvalidArgument("truncation offset is before the start of the log");
  }
  // Remove whole segments newest-first; each removal is durable before the
  // next, so a crash leaves a contiguous prefix of the old log.
  while (segments_.size() > 1 && segments_.back()->base_offset() >= offset) {
    std::shared_ptr<Segment> gone = segments_.back();
    WB_RETURN_IF_ERROR(fs_->Remove(gone->path()));
    WB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
    std::lock_guard lock(mu_);
    segments_.pop_back();
    acked_next_ = std::min(acked_next_, gone->base_offset());
  }
  std::shared_ptr<Segment> seg = segments_.back();
  uint64_t pos, prev_term = 0;
  if (offset == seg->next_offset) {
    pos = seg->data_end;
  } else {
    const uint64_t start = seg->index.Lookup(offset > seg->base_offset() ? offset - 1 : offset);
    WB_ASSIGN_OR_RETURN(pos, seg->FindBatchPosition(offset, start, seg->data_end, &prev_term));
  }
  if (seg->sealed) {
    const std::string idx = layout::IndexPath(dir_, seg->base_offset());
    WB_ASSIGN_OR_RETURN(bool has_idx, fs_->Exists(idx));
    if (has_idx) WB_RETURN_IF_ERROR(fs_->Remove(idx));
  }
  WB_RETURN_IF_ERROR(io::WriteZeros(seg->file(), pos, std::max(seg->data_end, dirty_end_)));
  WB_RETURN_IF_ERROR(seg->file()->Sync());
  {
    std::lock_guard lock(mu_);
    if (offset != seg->next_offset) seg->last_term = prev_term;
    seg->sealed = false;
    seg->data_end = pos;
    seg->next_offset = offset;
    seg->index.TruncateAt(pos);
    acked_next_ = offset;
  }
  write_pos_ = dirty_end_ = pos;
  next_offset_ = offset;
  WB_RETURN_IF_ERROR(MeasureActiveCapacity());
  WB_LOG(kWarn, "log_truncated").Kv("dir", dir_).Kv("offset", offset).Kv("position", pos);
  if (options_.hook != nullptr) return options_.hook->OnTruncate(this, offset);
  return Status::Ok();
}

}  // namespace warbler::engine
