#include "engine/log/partition_log.h"

#include <algorithm>
#include <future>

#include "base/coding.h"
#include "base/limits.h"
#include "base/log.h"
#include "base/one_shot.h"
#include "engine/layout.h"
#include "engine/log/writer_types.h"

namespace warbler::engine {
namespace {

Status CheckOptions(const LogOptions& o) {
  if (o.segment_bytes < limits::kMinSegmentBytes || o.segment_bytes > limits::kMaxSegmentBytes) {
    return Status::InvalidArgument("segment_bytes must be within 1 MiB .. 4 GiB");
  }
  if (o.index_interval_bytes < 4096 || o.index_interval_bytes > (16u << 20)) {
    return Status::InvalidArgument("index_interval_bytes must be within 4 KiB .. 16 MiB");
  }
  if (o.queue_capacity < 1 || o.queue_capacity > limits::kMaxAppendQueueDepth) {
    return Status::InvalidArgument("queue_capacity must be within 1 .. kMaxAppendQueueDepth");
  }
  if (o.group_max_bytes < 4096 || o.group_max_bytes > limits::kMaxUnsyncedSpanBytes / 2) {
    return Status::InvalidArgument("group_max_bytes must be within 4 KiB .. kMaxUnsyncedSpanBytes / 2 (8 MiB)");
  }
  if (o.batch_max_records < 1 || o.batch_max_records > limits::kMaxRecordsPerBatch) {
    return Status::InvalidArgument("batch_max_records must be within 1 .. 65535");
  }
  if (o.batch_max_bytes < 1 || o.batch_max_bytes > limits::kMaxBatchPayloadBytes) {
    return Status::InvalidArgument("batch_max_bytes must be within 1 .. kMaxBatchPayloadBytes");
  }
  if (o.max_inflight_groups < 1 || o.max_inflight_groups > 16) {
    return Status::InvalidArgument("max_inflight_groups must be within 1 .. 16");
  }
  if (o.durability == Durability::kInterval &&
      (o.sync_interval_ms < 1 || o.sync_interval_ms > 60000)) {
    return Status::InvalidArgument("sync_interval_ms must be within 1 .. 60000");
  }
  return Status::Ok();
}

// A new log's first segment is made while Open waits, so it is small
// (zero-filling 256 MiB would take ~0.2-1 s per partition, and fallocated
// space costs every fdatasync in it a metadata commit); the segments after
// it double in size up to segment_bytes, so the background preparer's
// zero-filling stays proportional to what was written.
constexpr uint64_t kFirstSegmentBytes = 8u << 20;

}  // namespace

PartitionLog::PartitionLog(io::FileSystem* fs, std::string dir, uint32_t partition,
                           const StoreUuid& uuid, const LogOptions& options)
    : fs_(fs),
      dir_(std::move(dir)),
      partition_(partition),
      uuid_(uuid),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()),
      read_only_(options.recovery == RecoveryMode::kReadOnly) {}

Result<std::unique_ptr<PartitionLog>> PartitionLog::Open(io::FileSystem* fs, std::string dir,
                                                         uint32_t partition,
                                                         const StoreUuid& uuid,
                                                         const LogOptions& options) {
  WB_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<PartitionLog> log(new PartitionLog(fs, std::move(dir), partition, uuid, options));
  const uint64_t start = log->clock_->NowNanos();
  WB_RETURN_IF_ERROR(log->Recover());
  if (options.hook != nullptr) {
    WB_RETURN_IF_ERROR(options.hook->Recover(log.get()));
    log->last_ts_ = std::max(log->last_ts_, options.hook->max_timestamp_us());
  }
  WB_LOG(kInfo, "partition_opened")
      .Kv("dir", log->dir_)
      .Kv("segments", log->segments_.size())
      .Kv("next_offset", log->acked_next_)
      .Kv("committed", log->committed())
      .Kv("open_ms", (log->clock_->NowNanos() - start) / 1e6);
  log->queue_ = std::make_unique<AppendQueue>(options.queue_capacity);
  if (!log->read_only_) {
    WB_ASSIGN_OR_RETURN(log->ioq_, fs->NewQueue());
    if (options.prepare_next_segment) {
      log->preparer_ = std::make_unique<SegmentPreparer>(fs, layout::PreparedSegmentPath(log->dir_),
                                                         options.preallocate);
    }
    log->last_sync_ns_ = log->clock_->NowNanos();
    log->writer_ = std::thread([l = log.get()] { l->WriterLoop(); });
  }
  return log;
}

PartitionLog::~PartitionLog() { (void)Close(); }

Status PartitionLog::Close() {
  std::lock_guard lock(close_mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  if (queue_) queue_->Close();
  stopping_.store(true);
  if (writer_.joinable()) writer_.join();
  // An unused prepared file is not worth keeping: the next Open removes temp files anyway.
  if (preparer_ != nullptr) preparer_->Discard();
  encoder_.reset();
  appended_cv_.notify_all();
  return Status::Ok();
}

// ---- recovery ----

Status PartitionLog::Recover() {
  if (!read_only_) WB_RETURN_IF_ERROR(fs_->CreateDirs(dir_));
  WB_ASSIGN_OR_RETURN(auto names, fs_->List(dir_));
  std::vector<uint64_t> bases;
  for (const std::string& name : names) {
    if (auto base = layout::ParseSegmentName(name)) {
      bases.push_back(*base);
    } else if (layout::IsTempName(name) && !read_only_) {
      WB_RETURN_IF_ERROR(fs_->Remove(dir_ + "/" + name));  // an interrupted atomic write
    }
  }
  std::sort(bases.begin(), bases.end());
  WB_ASSIGN_OR_RETURN(committed_,
                      CommittedMark::Open(fs_, layout::CommittedPath(dir_), read_only_));
  if (bases.empty()) {
    if (read_only_) return Status::NotFound("no segments in " + dir_);
    WB_RETURN_IF_ERROR(CreateSegment(0, options_.preallocate, NextCapacity()));
  }
  for (size_t i = 0; !bases.empty() && i + 1 < bases.size(); ++i) {
    std::shared_ptr<Segment> seg;
    WB_RETURN_IF_ERROR(OpenSealed(bases[i], &seg));
    if (seg->next_offset != bases[i + 1]) {
      return Status::Corruption(seg->path() + " ends at offset " +
                                std::to_string(seg->next_offset) + " but the next segment starts at " +
                                std::to_string(bases[i + 1]));
    }
    segments_.push_back(std::move(seg));
  }
  bool removed = false;
  if (!bases.empty()) WB_RETURN_IF_ERROR(OpenActive(bases.back(), &removed));
  if (removed) {
    // A torn roll: the new segment never got its header. The previous one is active again.
    if (segments_.empty()) {
      WB_RETURN_IF_ERROR(CreateSegment(bases.back(), options_.preallocate, NextCapacity()));
    } else {
      std::shared_ptr<Segment> prev = segments_.back();
      segments_.pop_back();
      WB_RETURN_IF_ERROR(OpenActive(prev->base_offset(), &removed));
    }
  }
  if (!read_only_) WB_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  const Segment& active = *segments_.back();
  write_pos_ = dirty_end_ = active.data_end;
  WB_RETURN_IF_ERROR(MeasureActiveCapacity());
  next_offset_ = acked_next_ = active.next_offset;
  if (committed() > acked_next_) {
    return Status::Corruption(dir_ + ": committed mark " + std::to_string(committed()) +
                              " is past the end of the log " + std::to_string(acked_next_));
  }
  return Status::Ok();
}

Status PartitionLog::OpenSealed(uint64_t base, std::shared_ptr<Segment>* out) {
  const std::string path = layout::SegmentPath(dir_, base);
  SegmentMeta expect{partition_, base, uuid_, 0};
  WB_ASSIGN_OR_RETURN(auto seg, Segment::Open(fs_, path, expect, read_only_,
                                              options_.index_interval_bytes));
  seg->sealed = true;
  WB_ASSIGN_OR_RETURN(uint64_t size, seg->file()->Size());
  const std::string idx_path = layout::IndexPath(dir_, base);
  io::OpenOptions ro;
  ro.read_only = true;
  if (auto idx_file = fs_->Open(idx_path, ro); idx_file.ok()) {
    WB_ASSIGN_OR_RETURN(uint64_t idx_size, (*idx_file)->Size());
    std::string bytes(idx_size, '\0');
    WB_ASSIGN_OR_RETURN(size_t got, (*idx_file)->ReadAt(0, {reinterpret_cast<std::byte*>(bytes.data()), bytes.size()}));
    bytes.resize(got);
    uint64_t next = 0, end = 0;
    auto idx = OffsetIndex::Decode(bytes, base, options_.index_interval_bytes, &next, &end);
    if (idx.ok() && end == size) {
      seg->index = std::move(*idx);
      seg->next_offset = next;
      seg->data_end = end;
      *out = std::move(seg);
      return Status::Ok();
    }
    WB_LOG(kWarn, "segment_index_rebuilt").Kv("path", idx_path).Kv("reason",
        idx.ok() ? "data end does not match the segment size" : idx.status().ToString());
  }
  // No usable index: scan. A sealed segment may have a zeroed tail only when
  // its seal was interrupted; anything else that is not clean is damage.
  WB_ASSIGN_OR_RETURN(ScanResult scan, seg->Scan([&](const BatchHeader& h, uint64_t pos) {
    seg->index.OnBatch(h.base_offset, pos);
  }));
  if (scan.dirty_end > scan.data_end && scan.damage.ok()) {
    scan.damage = Status::Corruption(path + " at position " + std::to_string(scan.data_end) +
                                     ": sealed segment has a damaged tail");
    scan.damage_position = scan.data_end;
  }
  seg->next_offset = scan.next_offset;
  seg->data_end = scan.data_end;
  seg->last_term = scan.last_term;
  if (!scan.damage.ok()) WB_RETURN_IF_ERROR(HandleDamage(seg.get(), scan));
  if (!read_only_) {
    WB_RETURN_IF_ERROR(seg->file()->Truncate(seg->data_end));
    WB_RETURN_IF_ERROR(seg->file()->Sync());
    WB_RETURN_IF_ERROR(WriteIndex(seg.get()));
  }
  *out = std::move(seg);
  return Status::Ok();
}

Status PartitionLog::OpenActive(uint64_t base, bool* removed_torn_roll) {
  *removed_torn_roll = false;
  const std::string path = layout::SegmentPath(dir_, base);
  SegmentMeta expect{partition_, base, uuid_, 0};
  auto opened = Segment::Open(fs_, path, expect, read_only_, options_.index_interval_bytes);
  if (!opened.ok()) {
    // A header that never made it to disk is a roll interrupted by a crash: the
    // segment holds no data. Anything else is real damage.
    io::OpenOptions ro;
    ro.read_only = true;
    WB_ASSIGN_OR_RETURN(auto f, fs_->Open(path, ro));
    std::vector<std::byte> head(format::kSegmentHeaderSize + format::kBatchHeaderSize);
    WB_ASSIGN_OR_RETURN(size_t got, f->ReadAt(0, head));
    bool blank = std::all_of(head.begin(), head.begin() + got, [](std::byte b) { return b == std::byte{0}; });
    if (!blank || read_only_) return opened.status();
    WB_LOG(kWarn, "torn_segment_removed").Kv("path", path).Kv("reason", opened.status().ToString());
    WB_RETURN_IF_ERROR(fs_->Remove(path));
    *removed_torn_roll = true;
    return Status::Ok();
  }
  std::shared_ptr<Segment> seg = std::move(*opened);
  if (!read_only_) {
    auto idx = layout::IndexPath(dir_, base);
    WB_ASSIGN_OR_RETURN(bool has_idx, fs_->Exists(idx));
    if (has_idx) WB_RETURN_IF_ERROR(fs_->Remove(idx));  // the active segment is never indexed on disk
  }
  // Open time follows the data, not the preallocated size: past the last valid
  // batch only the span unacknowledged writes can reach is examined.
  WB_ASSIGN_OR_RETURN(ScanResult scan, seg->Scan([&](const BatchHeader& h, uint64_t pos) {
    seg->index.OnBatch(h.base_offset, pos);
  }, limits::kMaxUnsyncedSpanBytes + (1u << 20)));
  seg->next_offset = scan.next_offset;
  seg->data_end = scan.data_end;
  seg->last_term = scan.last_term;
  if (!scan.damage.ok()) WB_RETURN_IF_ERROR(HandleDamage(seg.get(), scan));
  if (scan.dirty_end > scan.data_end && !read_only_) {
    WB_RETURN_IF_ERROR(io::WriteZeros(seg->file(), scan.data_end, scan.dirty_end));
    WB_RETURN_IF_ERROR(seg->file()->Sync());
    WB_LOG(kWarn, "torn_tail_dropped")
        .Kv("path", path)
        .Kv("position", scan.data_end)
        .Kv("bytes", scan.dirty_end - scan.data_end);
  }
  last_ts_ = std::max(last_ts_, scan.last_timestamp_us);
  segments_.push_back(std::move(seg));
  return Status::Ok();
}

Status PartitionLog::HandleDamage(Segment* seg, const ScanResult& scan) {
  if (scan.damage.code() == StatusCode::kNotSupported || options_.recovery == RecoveryMode::kStrict) {
    return scan.damage;
  }
  WB_LOG(kError, "log_damage").Kv("path", seg->path()).Kv("position", scan.damage_position)
      .Kv("mode", read_only_ ? "read_only" : "quarantine").Kv("error", scan.damage.ToString());
  if (read_only_) return Status::Ok();
  // Quarantine: keep a full copy of the damaged file, then cut the log at the damage.
  const std::string qdir = layout::QuarantineDir(dir_);
  WB_RETURN_IF_ERROR(fs_->CreateDirs(qdir));
  const std::string copy = qdir + "/" + std::to_string(clock_->WallMicros()) + "-" +
                           seg->path().substr(seg->path().rfind('/') + 1);
  io::OpenOptions create;
  create.create = true;
  create.truncate = true;
  WB_ASSIGN_OR_RETURN(auto out, fs_->Open(copy, create));
  WB_ASSIGN_OR_RETURN(uint64_t size, seg->file()->Size());
  std::vector<std::byte> buf(1u << 20);
  for (uint64_t pos = 0; pos < size; pos += buf.size()) {
    WB_ASSIGN_OR_RETURN(size_t got, seg->file()->ReadAt(pos, buf));
    WB_RETURN_IF_ERROR(out->WriteAt(pos, {buf.data(), got}));
  }
  WB_RETURN_IF_ERROR(out->Sync());
  WB_RETURN_IF_ERROR(fs_->SyncDir(qdir));
  WB_RETURN_IF_ERROR(io::WriteZeros(seg->file(), scan.data_end, size));
  return seg->file()->Sync();
}

Status PartitionLog::WriteIndex(Segment* seg) {
  const std::string path = layout::IndexPath(dir_, seg->base_offset());
  const std::string bytes = seg->index.Encode(seg->next_offset, seg->data_end);
  // The directory is synced by the caller (the roll, or Recover after a rebuild).
  return io::WriteFileAtomically(fs_, path, layout::TempPath(path), AsBytes(bytes), "");
}

Status PartitionLog::CreateSegment(uint64_t base, Preallocate prealloc, uint64_t bytes) {
  SegmentMeta meta{partition_, base, uuid_, clock_->WallMicros()};
  WB_ASSIGN_OR_RETURN(auto seg, Segment::Create(fs_, layout::SegmentPath(dir_, base), meta, bytes, prealloc,
                                                options_.index_interval_bytes));
  std::lock_guard lock(mu_);
  segments_.push_back(std::move(seg));
  active_capacity_ = bytes;
  return Status::Ok();
}

uint64_t PartitionLog::NextCapacity() const {
  if (active_capacity_ == 0) return std::min(options_.segment_bytes, kFirstSegmentBytes);
  return std::min(options_.segment_bytes, 2 * active_capacity_);
}

Status PartitionLog::MeasureActiveCapacity() {
  // Reserved space past the data is the capacity the segment was made with
  // (at least the first segment's). A file that ends at its data (no
  // preallocation, or a sealed segment reopened by a truncation) or a little
  // after it (a torn tail that open zeroed) grows up to segment_bytes.
  WB_ASSIGN_OR_RETURN(uint64_t size, segments_.back()->file()->Size());
  const bool reserved = size > write_pos_ && size >= std::min(options_.segment_bytes, kFirstSegmentBytes);
  active_capacity_ = reserved ? std::min(size, options_.segment_bytes) : options_.segment_bytes;
  return Status::Ok();
}

// ---- appends ----

Status PartitionLog::AppendAsync(std::vector<Record> records, AppendCallback done) {
  if (read_only_) return Status::FailedPrecondition(dir_ + " is open read-only");
  if (records.empty()) return Status::InvalidArgument("append of zero records");
  if (records.size() > limits::kMaxRecordsPerBatch) {
    return Status::InvalidArgument("append of more than 65535 records in one request");
  }
  size_t bytes = 0;
  for (const Record& r : records) {
    WB_RETURN_IF_ERROR(ValidateRecord(r));
    bytes += r.body.size() + r.sender.size() + r.client_id.size() + r.tenant.size() + r.conversation.size() + 32;
  }
  if (bytes > limits::kMaxAppendRequestBytes) {
    return Status::InvalidArgument("append request of about " + std::to_string(bytes) +
                                   " bytes exceeds kMaxAppendRequestBytes (8 MiB); split it");
  }
  Request req{std::move(records), std::move(done), nullptr, nullptr};
  Status s = queue_->Push(req);
  if (s.code() == StatusCode::kResourceExhausted) metrics_.queue_full.fetch_add(1);
  if (s.code() == StatusCode::kUnavailable) return Status::Unavailable(dir_ + " is closed");
  return s;
}

Result<AppendResult> PartitionLog::Append(std::vector<Record> records) {
  OneShot<AppendResult> w;
  WB_RETURN_IF_ERROR(AppendAsync(std::move(records), w.Setter()));
  return w.Wait();
}

Status PartitionLog::TruncateSuffix(uint64_t offset) {
  if (read_only_) return Status::FailedPrecondition(dir_ + " is open read-only");
  std::promise<Status> promise;
  auto future = promise.get_future();
  Request req;
  req.control = [this, offset] { return RunTruncate(offset); };
  req.control_done = [&](const Status& s) { promise.set_value(s); };
  // Control requests must not be refused for backpressure: wait for room.
  for (int i = 0;; ++i) {
    Status s = queue_->Push(req);
    if (s.ok()) break;
    if (s.code() != StatusCode::kResourceExhausted || i > 100000) return s;
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return future.get();
}

Status PartitionLog::SetCommitted(uint64_t offset) {
  if (read_only_) return Status::FailedPrecondition(dir_ + " is open read-only");
  if (offset > next_offset()) {
    return Status::InvalidArgument("committed offset " + std::to_string(offset) +
                                   " is past the end of the log " + std::to_string(next_offset()));
  }
  if (offset < committed()) {
    return Status::InvalidArgument("committed mark cannot move backwards");
  }
  return committed_->Store(offset);
}

// ---- reads ----

uint64_t PartitionLog::start_offset() const {
  std::lock_guard lock(mu_);
  return segments_.front()->base_offset();
}

uint64_t PartitionLog::next_offset() const {
  std::lock_guard lock(mu_);
  return acked_next_;
}

uint64_t PartitionLog::last_term() const {
  std::lock_guard lock(mu_);
  return segments_.back()->last_term;
}

std::vector<PartitionLog::SegmentInfo> PartitionLog::segments() const {
  std::lock_guard lock(mu_);
  std::vector<SegmentInfo> out;
  out.reserve(segments_.size());
  for (const auto& seg : segments_) {
    out.push_back({seg->base_offset(), seg->next_offset, seg->data_end, seg->sealed});
  }
  return out;
}

Status PartitionLog::ReadBatchesAt(std::span<const BatchLocation> locations,
                                   std::vector<std::string>* out) {
  std::vector<std::shared_ptr<Segment>> segs(locations.size());
  {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < locations.size(); ++i) {
      const BatchLocation& loc = locations[i];
      auto it = std::lower_bound(segments_.begin(), segments_.end(), loc.segment_base,
                                 [](const std::shared_ptr<Segment>& s, uint64_t base) {
                                   return s->base_offset() < base;
                                 });
      if (it == segments_.end() || (*it)->base_offset() != loc.segment_base ||
          loc.position + loc.size > (*it)->data_end) {
        return Status::Aborted(dir_ + ": batch at segment " + std::to_string(loc.segment_base) +
                               " position " + std::to_string(loc.position) +
                               " is no longer in the log (truncated during the read)");
      }
      segs[i] = *it;
    }
  }
  const size_t first = out->size();
  out->resize(first + locations.size());
  std::vector<io::IoOp> ops;
  ops.reserve(std::min(locations.size(), limits::kIoMaxOpsPerSubmit));
  for (size_t i = 0; i < locations.size();) {
    ops.clear();
    const size_t begin = i;
    for (; i < locations.size() && ops.size() < limits::kIoMaxOpsPerSubmit; ++i) {
      std::string& buf = (*out)[first + i];
      buf.resize(locations[i].size);
      ops.push_back(io::IoOp::Read(segs[i]->file(), locations[i].position,
                                   {reinterpret_cast<std::byte*>(buf.data()), buf.size()}));
    }
    WB_RETURN_IF_ERROR(fs_->Submit(ops));
    for (size_t k = 0; k < ops.size(); ++k) {
      if (ops[k].transferred != ops[k].len) {
        return Status::Corruption(segs[begin + k]->path() + " at position " +
                                  std::to_string(ops[k].offset) + ": short read of a batch");
      }
    }
  }
  return Status::Ok();
}

Status PartitionLog::ForEachBatch(
    uint64_t from_segment_base,
    const std::function<Status(const BatchLocation&, const DecodedBatch&)>& fn) {
  std::vector<std::shared_ptr<Segment>> segs;
  std::vector<std::pair<uint64_t, uint64_t>> ends;  // data end, next offset
  {
    std::lock_guard lock(mu_);
    for (const auto& seg : segments_) {
      if (seg->base_offset() < from_segment_base) continue;
      segs.push_back(seg);
      ends.emplace_back(seg->data_end, seg->next_offset);
    }
  }
  constexpr size_t kChunkBytes = 8u << 20;
  std::vector<std::string> raw;
  for (size_t i = 0; i < segs.size(); ++i) {
    uint64_t pos = format::kSegmentHeaderSize, offset = segs[i]->base_offset();
    while (pos < ends[i].first) {
      raw.clear();
      WB_RETURN_IF_ERROR(segs[i]->ReadBatches(pos, ends[i].first, offset, ends[i].second,
                                              kChunkBytes, &raw));
      if (raw.empty()) break;
      for (const std::string& r : raw) {
        auto d = DecodeBatch(AsBytes(r), options_.keys, options_.dictionaries);
        if (!d.ok()) return d.status().WithContext(segs[i]->path() + " at position " + std::to_string(pos));
        BatchLocation loc{segs[i]->base_offset(), pos, static_cast<uint32_t>(r.size()),
                          d->header.base_offset, d->header.record_count};
        WB_RETURN_IF_ERROR(fn(loc, *d));
        pos += r.size();
        offset = d->header.next_offset();
      }
    }
  }
  return Status::Ok();
}

size_t PartitionLog::queue_depth() const { return queue_ ? queue_->size() : 0; }

size_t PartitionLog::segment_count() const {
  std::lock_guard lock(mu_);
  return segments_.size();
}

bool PartitionLog::WaitForOffset(uint64_t offset, uint64_t timeout_ms) {
  std::unique_lock lock(mu_);
  return appended_cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                               [&] { return acked_next_ > offset || stopping_.load(); });
}

Status PartitionLog::ReadRaw(uint64_t from, const ReadOptions& options,
                             std::vector<std::string>* out) {
  struct Piece {
    std::shared_ptr<Segment> seg;
    uint64_t start, end;
  };
  std::vector<Piece> pieces;
  uint64_t limit;
  {
    std::lock_guard lock(mu_);
    limit = std::min(options.limit_offset, acked_next_);
    if (options.committed_only) limit = std::min(limit, committed());
    if (from < segments_.front()->base_offset()) {
      return Status::NotFound("offset " + std::to_string(from) + " is before the log start " +
                              std::to_string(segments_.front()->base_offset()));
    }
    for (const auto& seg : segments_) {
      if (seg->next_offset <= from || seg->base_offset() >= limit) continue;
      pieces.push_back({seg, seg->index.Lookup(from), seg->data_end});
    }
  }
  size_t bytes = 0;
  for (const Piece& p : pieces) {
    const size_t before = out->size();
    WB_RETURN_IF_ERROR(p.seg->ReadBatches(p.start, p.end, from, limit,
                                          options.max_bytes - std::min(bytes, options.max_bytes - 1),
                                          out));
    for (size_t i = before; i < out->size(); ++i) bytes += (*out)[i].size();
    if (bytes >= options.max_bytes) break;
  }
  return Status::Ok();
}

Result<std::vector<DecodedBatch>> PartitionLog::Read(uint64_t from, const ReadOptions& options) {
  std::vector<std::string> raw;
  WB_RETURN_IF_ERROR(ReadRaw(from, options, &raw));
  std::vector<DecodedBatch> out;
  out.reserve(raw.size());
  for (const std::string& r : raw) {
    auto d = DecodeBatch(AsBytes(r), options_.keys, options_.dictionaries);
    if (!d.ok()) return d.status().WithContext(dir_);
    out.push_back(std::move(*d));
  }
  return out;
}

}  // namespace warbler::engine
