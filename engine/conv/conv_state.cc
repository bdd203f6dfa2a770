#include "engine/conv/conv_state.h"

#include <algorithm>

#include "base/assert.h"
#include "base/coding.h"
#include "base/log.h"
#include "engine/conv/warm_stage.h"
#include "engine/layout.h"
#include "engine/log/partition_log.h"

namespace warbler::engine {
namespace {

// First read of a runs entry: 64 B + 16 B per batch, so 512 B holds a
// conversation's entry with up to 28 batches in the segment; a longer one
// takes a second read of its exact size. (4 KiB cost a copy of 4 KiB per
// entry: IM-1-large's warm history ran 11% slower, docs/benchmarks.md.)
constexpr size_t kEntryReadBytes = 512;

Result<std::string> ReadRange(io::File* f, uint64_t pos, size_t len) {
  std::string buf(len, '\0');
  WB_ASSIGN_OR_RETURN(size_t got, f->ReadAt(pos, {reinterpret_cast<std::byte*>(buf.data()), len}));
  buf.resize(got);
  return buf;
}

}  // namespace

ConvState::ConvState(io::FileSystem* fs, std::string partition_dir, const ConvStateOptions& options,
                     BlockCache* cache, RecentCache* recent)
    : fs_(fs),
      dir_(std::move(partition_dir)),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()),
      cache_(cache),
      recent_(recent) {}

ConvState::~ConvState() {
  // A seal still being written (a store destroyed without Close): its .cix
  // is complete or absent (atomic write); either way open finds what it needs.
  WaitForSeal();
}

// ---- sequencing ----

bool ConvState::NeedsDrain(const std::vector<Record>& records) {
  if (pending_dedup_.size() == 0) return false;
  for (const Record& r : records) {
    if (r.client_id.empty()) continue;
    if (pending_dedup_.Find(MakeDedupId(MakeConvId(r.tenant, r.conversation), r.client_id)) != nullptr) {
      return true;
    }
  }
  return false;
}

void ConvState::Assign(Record* r, uint64_t offset) {
  const ConvId id = MakeConvId(r->tenant, r->conversation);
  ConvId dedup;
  if (!r->client_id.empty()) {
    dedup = MakeDedupId(id, r->client_id);
    auto answer = [&](uint64_t seq, uint64_t ts, uint64_t orig_offset) {
      r->duplicate = true;
      r->seq = seq;
      r->timestamp_us = ts;
      r->offset = orig_offset;
      duplicates_.fetch_add(1, std::memory_order_relaxed);
    };
    if (const DedupValue* p = pending_dedup_.Find(dedup)) {
      return answer(p->seq, p->ts, p->offset);  // a retry inside the same group: it shares the original's fate
    }
    if (const DedupWindow::Entry* d = dedup_.Find(dedup);
        d != nullptr && d->ts + options_.dedup_window_ms * 1000 >= r->timestamp_us) {
      return answer(d->seq, d->ts, d->offset);
    }
  }
  uint64_t last_seq = 0, last_ts = 0;
  if (const DedupValue* p = pending_last_.Find(id)) {
    last_seq = p->seq;
    last_ts = p->ts;
  } else if (const DirEntry* e = directory_.Find(id)) {
    last_seq = e->last_seq;
    last_ts = e->last_ts;
  }
  r->seq = last_seq + 1;
  r->timestamp_us = std::max(r->timestamp_us, last_ts);
  pending_last_.Put(id, {r->seq, r->timestamp_us, offset});
  pending_.push_back({id, r->seq, r->timestamp_us, offset, dedup, r});
  if (!dedup.empty()) pending_dedup_.Put(dedup, {r->seq, r->timestamp_us, offset});
}

void ConvState::OnDurable(std::span<const BatchLocation> batches) {
  WB_ASSERT(!batches.empty());
  const uint64_t end = batches.back().base_offset + batches.back().count;
  durable_.clear();
  std::unique_lock lock(mu_);
  if (sealing_ != nullptr) {
    if (!sealing_->confirmed) {
      // The roll that OnSeal saw either went through (this is the next
      // segment) or failed, and the log went on with the old segment.
      if (batches.front().segment_base == sealing_->next_offset) {
        sealing_->confirmed = true;
      } else {
        UndoSeal();
      }
    }
    if (sealing_ != nullptr && sealing_->confirmed && sealing_->done.load(std::memory_order_acquire)) {
      if (sealing_->result.ok()) {
        const Status published = FinishSeal();  // nothing left that can fail
        WB_ASSERT(published.ok());
      } else if (!sealing_->failure_logged) {
        // Kept (reads use its tail index); the next seal writes it first.
        sealing_->failure_logged = true;
        WB_LOG(kWarn, "conversation_index_write_failed")
            .Kv("dir", dir_)
            .Kv("segment", sealing_->base)
            .Kv("error", sealing_->result.status().ToString());
      }
    }
  }
  size_t b = 0;
  while (!pending_.empty() && pending_.front().offset < end) {
    const Pending& p = pending_.front();
    while (batches[b].base_offset + batches[b].count <= p.offset) ++b;
    ApplyDurable(p.id, p.seq, p.ts, p.offset, p.dedup, batches[b]);
    if (!p.dedup.empty()) pending_dedup_.EraseIfOffset(p.dedup, p.offset);
    pending_last_.EraseIfOffset(p.id, p.offset);  // unless a newer one of the conversation is pending
    if (recent_->enabled()) durable_.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  ExpireDedup(max_ts_);
  // Into the cache in the same critical section as the index (lock order:
  // mu_, then a cache shard), before any of these is acknowledged (so a read
  // that starts after an ack finds it in the cache). Appended after the
  // unlock, a reader could see seq N through the index and then N - 1 from
  // a cache hit: Latest going backwards (StoreConcurrencyTest saw it once).
  // A FillRecent holds mu_ shared, so it runs wholly before or after this.
  for (const Pending& p : durable_) {
    recent_->Append(p.id, {p.seq, p.ts, p.offset, p.record->sender, p.record->client_id, p.record->body});
  }
}

void ConvState::FillRecent(const ConvId& id, const ReadPlan& plan, std::span<const Message> msgs) {
  if (!recent_->enabled() || msgs.empty()) return;
  // Held until the fill is in, so the writer cannot publish a newer message
  // in between (it appends to the cache only after publishing). Lock order:
  // mu_, then a cache shard (as in Recover); the writer never holds both.
  std::shared_lock lock(mu_);
  const DirEntry* e = directory_.Find(id);
  if (generation_ != plan.generation || e == nullptr || e->last_seq != msgs.back().seq) return;
  recent_->Fill(id, msgs);
}

void ConvState::OnAbandon(uint64_t offset) {
  while (!pending_.empty() && pending_.back().offset >= offset) {
    if (!pending_.back().dedup.empty()) pending_dedup_.EraseIfOffset(pending_.back().dedup, pending_.back().offset);
    pending_.pop_back();
  }
  pending_last_.Clear();
  for (const Pending& p : pending_) pending_last_.Put(p.id, {p.seq, p.ts, p.offset});
}

void ConvState::ApplyDurable(const ConvId& id, uint64_t seq, uint64_t ts, uint64_t offset,
                             const ConvId& dedup, const BatchLocation& loc) {
  WB_ASSERT(loc.segment_base == tail_base_);
  DirEntry* e = directory_.FindOrInsert(id);
  e->last_seq = seq;
  e->last_ts = ts;
  tail_.Add(id, seq, static_cast<uint32_t>(loc.position), loc.size);
  max_ts_ = std::max(max_ts_, ts);
  if (!dedup.empty()) AddDedup(dedup, seq, ts, offset);
}

void ConvState::AddDedup(const ConvId& dedup, uint64_t seq, uint64_t ts, uint64_t offset) {
  // The count bound at once (so the ring never outgrows it); age at ExpireDedup.
  if (dedup_.size() >= options_.dedup_max_entries) dedup_.PopFront();
  dedup_.Push({dedup, seq, ts, offset});  // an expired id used again: the newest wins
}

void ConvState::ExpireDedup(uint64_t now_us) {
  const uint64_t window_us = options_.dedup_window_ms * 1000;
  while (!dedup_.empty() &&
         (dedup_.size() > options_.dedup_max_entries || dedup_.front().ts + window_us < now_us)) {
    dedup_.PopFront();
  }
  dedup_count_.store(dedup_.size(), std::memory_order_relaxed);
}

// ---- sealing ----

Status ConvState::OnSeal(PartitionLog* /*log*/, uint64_t segment_base, uint64_t next_offset) {
  if (sealing_ != nullptr) {
    // The previous seal's .cix first: this one's runs entries link to it.
    // Waited for (and rewritten if its thread failed) without the lock:
    // readers need not wait for either.
    WaitForSeal();
    SealJob& j = *sealing_;
    if (j.confirmed && !j.result.ok()) {
      WB_LOG(kWarn, "conversation_index_retry").Kv("dir", dir_).Kv("error", j.result.status().ToString());
      j.result = WriteIndexFile(&j.tail, j.directory, j.dedup, j.base, j.next_offset, j.ordinal, j.with_directory);
    }
    std::unique_lock lock(mu_);
    if (!j.confirmed) {
      UndoSeal();  // its roll failed and nothing was appended since
    } else {
      WB_RETURN_IF_ERROR(FinishSeal());
    }
  }
  WB_ASSERT(pending_.empty() && segment_base == tail_base_);
  // Copies of what the .cix snapshots, made without the lock (only this
  // thread mutates them): ~40 B per conversation, a few ms at a million.
  auto job = std::make_unique<SealJob>();
  job->base = tail_base_;
  job->next_offset = next_offset;
  job->ordinal = next_ordinal_;
  job->with_directory = WantsSnapshot();
  job->directory = directory_;
  job->dedup = DedupSnapshot();
  {
    std::unique_lock lock(mu_);
    job->tail = std::move(tail_);
    tail_ = TailIndex();
    tail_base_ = next_offset;
    sealing_ = std::move(job);
  }
  SealJob* j = sealing_.get();
  j->thread = std::thread([this, j] {
    j->result =
        WriteIndexFile(&j->tail, j->directory, j->dedup, j->base, j->next_offset, j->ordinal, j->with_directory);
    j->done.store(true, std::memory_order_release);
  });
  return Status::Ok();
}

void ConvState::UndoSeal() {
  WaitForSeal();
  SealJob& j = *sealing_;
  WB_ASSERT(tail_.refs() == 0);
  if (j.result.ok()) (void)fs_->Remove(layout::CixPath(dir_, j.base));  // not sealed after all
  tail_ = std::move(j.tail);
  tail_base_ = j.base;
  sealing_.reset();
}

Status ConvState::FinishSeal() {
  WaitForSeal();
  SealJob& j = *sealing_;
  WB_RETURN_IF_ERROR(j.result.status());
  PublishSeal(j.tail, std::move(*j.result));
  sealing_.reset();
  return Status::Ok();
}

std::vector<cix::DedupEntry> ConvState::DedupSnapshot() {
  ExpireDedup(clock_->WallMicros());
  std::vector<cix::DedupEntry> out;
  out.reserve(dedup_.size());
  dedup_.ForEach([&](const cix::DedupEntry& d) { out.push_back(d); });
  return out;
}

Status ConvState::SealTail(uint64_t next_offset, bool lock) {
  const std::vector<cix::DedupEntry> dedup = DedupSnapshot();
  WB_ASSIGN_OR_RETURN(auto handle,
                      WriteIndexFile(&tail_, directory_, dedup, tail_base_, next_offset, next_ordinal_,
                                     WantsSnapshot()));
  std::unique_lock<std::shared_mutex> guard(mu_, std::defer_lock);
  if (lock) guard.lock();
  PublishSeal(tail_, std::move(handle));
  tail_.Clear();
  tail_base_ = next_offset;
  return Status::Ok();
}

Result<std::shared_ptr<ConvState::CixHandle>> ConvState::WriteIndexFile(
    TailIndex* tail, const ConvDirectory& directory, std::span<const cix::DedupEntry> dedup, uint64_t base,
    uint64_t next_offset, uint32_t ordinal, bool with_directory) {
  std::vector<TailIndex::Slot*> convs;
  convs.reserve(tail->conversations());
  tail->ForEach([&](TailIndex::Slot& t) { convs.push_back(&t); });
  std::sort(convs.begin(), convs.end(), [](const auto* a, const auto* b) { return a->id < b->id; });

  std::string buf(cix::kHeaderSize, '\0');
  buf.reserve(cix::kHeaderSize + tail->conversations() * cix::kRunsEntryFixed + tail->refs() * cix::kRefSize +
              directory.size() * cix::kDirEntrySize + dedup.size() * cix::kDedupEntrySize + 64);
  cix::RunsEntry e;
  for (TailIndex::Slot* t : convs) {
    const DirEntry* d = directory.Find(t->id);
    WB_ASSERT(d != nullptr);
    tail->RefsOldestFirst(*t, &e.refs);
    WB_ASSERT(!e.refs.empty());
    e.id = t->id;
    e.first_seq = e.refs.front().first_seq;
    e.last_seq = d->last_seq;  // the tail is the newest segment
    e.last_ts = d->last_ts;
    e.prev_ordinal = d->ordinal;
    e.prev_pos8 = d->entry_pos8;
    t->sealed_pos8 = static_cast<uint32_t>(buf.size() / 8);
    cix::AppendRunsEntry(e, &buf);
  }
  cix::Header h;
  h.partition = options_.partition;
  h.ordinal = ordinal;
  h.segment_base = base;
  h.segment_next = next_offset;
  h.runs_bytes = buf.size() - cix::kHeaderSize;
  h.has_directory = with_directory;
  h.dir_count = with_directory ? directory.size() : 0;
  size_t start = buf.size();
  if (with_directory) directory.ForEach([&](const DirEntry& d) {
    if (const TailIndex::Slot* t = tail->Find(d.id)) {
      DirEntry copy = d;
      copy.ordinal = ordinal;
      copy.entry_pos8 = t->sealed_pos8;
      cix::AppendDirEntry(copy, &buf);
    } else {
      cix::AppendDirEntry(d, &buf);
    }
  });
  cix::AppendSectionChecksum(start, &buf);
  h.dedup_count = dedup.size();
  start = buf.size();
  for (const cix::DedupEntry& d : dedup) cix::AppendDedupEntry(d, &buf);
  cix::AppendSectionChecksum(start, &buf);
  std::string header;
  cix::EncodeHeader(h, &header);
  buf.replace(0, cix::kHeaderSize, header);
  WB_ASSERT(buf.size() == h.file_size());

  // A seal at open is covered by the directory sync that ends recovery, the
  // seal thread's by the next roll's. A crash before that may lose the file:
  // open then rescans that segment and those after it (the snapshot is the
  // newest .cix of the prefix of sealed segments that all have one).
  const std::string path = layout::CixPath(dir_, base);
  WB_RETURN_IF_ERROR(io::WriteFileAtomically(fs_, path, layout::TempPath(path), AsBytes(buf), ""));
  io::OpenOptions ro;
  ro.read_only = true;
  ro.random_access = true;  // read one runs entry at a time
  auto handle = std::make_shared<CixHandle>();
  handle->segment_base = base;
  handle->ordinal = ordinal;
  handle->size = buf.size();
  handle->runs_bytes = h.runs_bytes;
  handle->has_directory = with_directory;
  WB_ASSIGN_OR_RETURN(handle->file, fs_->Open(path, ro));
  return handle;
}

void ConvState::PublishSeal(const TailIndex& tail, std::shared_ptr<CixHandle> handle) {
  WB_ASSERT(handle->ordinal == next_ordinal_);
  tail.ForEach([&](const TailIndex::Slot& t) {
    DirEntry* d = directory_.Find(t.id);
    d->ordinal = handle->ordinal;
    d->entry_pos8 = t.sealed_pos8;
  });
  next_ordinal_ = handle->ordinal + 1;
  if (handle->has_directory) {
    runs_since_snapshot_ = 0;
  } else if (runs_since_snapshot_ != kNoSnapshot) {
    runs_since_snapshot_ += handle->runs_bytes;
  }
  cix_[handle->ordinal] = std::move(handle);
}

// ---- recovery ----

void ConvState::ResetLocked() {
  directory_.Clear();
  if (sealing_ != nullptr) {
    // Recovery reads what is on disk: the .cix, if the thread wrote it, is
    // used or removed like any other.
    WaitForSeal();
    sealing_.reset();
  }
  tail_.Clear();
  cix_.clear();
  next_ordinal_ = 0;
  runs_since_snapshot_ = kNoSnapshot;
  ++generation_;
  pending_.clear();
  pending_last_.Clear();
  pending_dedup_.Clear();
  dedup_.Clear();
  dedup_count_.store(0);
  max_ts_ = 0;
}

Status ConvState::LoadSnapshot(std::span<const IndexFile> files) {
  // The directory of the newest file that has one...
  size_t base = files.size();
  while (base > 0 && !files[base - 1].header.has_directory) --base;
  if (base == 0) return Status::Corruption("no conversation index before it holds a directory snapshot");
  const IndexFile& snap = files[base - 1];
  const uint64_t dir_bytes = snap.header.dedup_offset() - snap.header.dir_offset();
  WB_ASSIGN_OR_RETURN(std::string bytes, ReadRange(snap.handle->file.get(), snap.header.dir_offset(), dir_bytes));
  if (bytes.size() != dir_bytes) return Status::Corruption("conversation index is truncated");
  directory_.Reserve(snap.header.dir_count);
  WB_RETURN_IF_ERROR(cix::DecodeDirSection(AsBytes(bytes), snap.header.dir_count, [&](const DirEntry& e) {
    *directory_.FindOrInsert(e.id) = e;
    max_ts_ = std::max(max_ts_, e.last_ts);
  }));
  // ...updated by the runs sections of those after it (each entry is its
  // conversation's state at the end of that segment)...
  runs_since_snapshot_ = 0;
  for (size_t i = base; i < files.size(); ++i) {
    const IndexFile& f = files[i];
    WB_ASSIGN_OR_RETURN(bytes, ReadRange(f.handle->file.get(), cix::kHeaderSize, f.header.runs_bytes));
    if (bytes.size() != f.header.runs_bytes) return Status::Corruption("conversation index is truncated");
    WB_RETURN_IF_ERROR(cix::DecodeRunsSection(AsBytes(bytes), [&](const cix::RunsEntry& e, uint32_t pos8) {
      DirEntry* d = directory_.FindOrInsert(e.id);
      d->last_seq = e.last_seq;
      d->last_ts = e.last_ts;
      d->ordinal = f.header.ordinal;
      d->entry_pos8 = pos8;
      max_ts_ = std::max(max_ts_, e.last_ts);
    }));
    runs_since_snapshot_ += f.header.runs_bytes;
  }
  // ...and the dedup window of the newest.
  const IndexFile& last = files.back();
  const uint64_t dedup_bytes = last.header.file_size() - last.header.dedup_offset();
  WB_ASSIGN_OR_RETURN(bytes, ReadRange(last.handle->file.get(), last.header.dedup_offset(), dedup_bytes));
  if (bytes.size() != dedup_bytes) return Status::Corruption("conversation index is truncated");
  const uint64_t now = clock_->WallMicros();
  return cix::DecodeDedupSection(AsBytes(bytes), last.header.dedup_count, [&](const cix::DedupEntry& d) {
    if (d.ts + options_.dedup_window_ms * 1000 >= now) AddDedup(d.id, d.seq, d.ts, d.offset);
  });
}

Status ConvState::Recover(PartitionLog* log) {
  std::unique_lock lock(mu_);
  ResetLocked();
  // Until the scan ends, client ids only go through the window's ring
  // (bounded by count and age as they come); the index is built once at the
  // end from the entries that survive — not updated for every record of a
  // large tail. (Nothing looks ids up before: appends start after Recover.)
  dedup_.SetIndexed(false);
  struct Reindex {
    DedupWindow* window;
    ~Reindex() {
      if (!window->indexed()) window->SetIndexed(true);  // an early error return
    }
  } reindex{&dedup_};
  const std::vector<PartitionLog::SegmentInfo> segs = log->segments();
  WB_ASSERT(!segs.empty());
  std::map<uint64_t, const PartitionLog::SegmentInfo*> sealed;
  for (const auto& s : segs) {
    if (s.sealed) sealed[s.base] = &s;
  }
  // Valid index files of sealed segments; anything else is stale and removed.
  std::map<uint64_t, IndexFile> found;
  WB_ASSIGN_OR_RETURN(auto names, fs_->List(dir_));
  for (const std::string& name : names) {
    auto base = layout::ParseCixName(name);
    if (!base) continue;
    const std::string path = dir_ + "/" + name;
    io::OpenOptions ro;
    ro.read_only = true;
    ro.random_access = true;  // read one runs entry at a time
    Status why;
    IndexFile f;
    f.handle = std::make_shared<CixHandle>();
    auto file = fs_->Open(path, ro);
    if (!file.ok()) return file.status();
    f.handle->file = std::move(*file);
    WB_ASSIGN_OR_RETURN(std::string head, ReadRange(f.handle->file.get(), 0, cix::kHeaderSize));
    WB_ASSIGN_OR_RETURN(uint64_t size, f.handle->file->Size());
    why = cix::DecodeHeader(AsBytes(head), &f.header);
    auto it = sealed.find(*base);
    if (why.ok() && it == sealed.end()) why = Status::FailedPrecondition("its segment is not sealed");
    if (why.ok() && (f.header.partition != options_.partition || f.header.segment_base != *base ||
                     f.header.segment_next != it->second->next_offset || f.header.file_size() != size)) {
      why = Status::Corruption("it does not match its segment");
    }
    if (!why.ok()) {
      WB_LOG(kWarn, "conversation_index_dropped").Kv("path", path).Kv("reason", why.ToString());
      f.handle->file.reset();
      WB_RETURN_IF_ERROR(fs_->Remove(path));
      continue;
    }
    f.handle->segment_base = *base;
    f.handle->ordinal = f.header.ordinal;
    f.handle->size = size;
    f.handle->runs_bytes = f.header.runs_bytes;
    f.handle->has_directory = f.header.has_directory;
    found.emplace(*base, std::move(f));
  }
  // The state comes from the newest index such that every older sealed
  // segment has one too (with increasing ordinals); the rest is rescanned.
  std::vector<IndexFile> prefix;
  for (const auto& [base, info] : sealed) {
    auto it = found.find(base);
    if (it == found.end()) break;
    if (!prefix.empty() && it->second.header.ordinal <= prefix.back().header.ordinal) break;
    prefix.push_back(it->second);
  }
  const IndexFile* snapshot = prefix.empty() ? nullptr : &prefix.back();
  uint64_t scan_from = segs.front().base;
  if (snapshot != nullptr) {
    Status s = LoadSnapshot(prefix);
    if (!s.ok()) {
      // A damaged snapshot: start over from the log (its index is rewritten).
      WB_LOG(kWarn, "conversation_snapshot_damaged")
          .Kv("dir", dir_)
          .Kv("segment", snapshot->header.segment_base)
          .Kv("error", s.ToString());
      directory_.Clear();
      dedup_.Clear();
      max_ts_ = 0;
      runs_since_snapshot_ = kNoSnapshot;
      snapshot = nullptr;
    }
  }
  if (snapshot != nullptr) {
    for (const auto& [base, f] : found) {
      if (base > snapshot->header.segment_base) break;
      cix_[f.header.ordinal] = f.handle;
    }
    next_ordinal_ = snapshot->header.ordinal + 1;
    scan_from = snapshot->header.segment_next;
  }
  tail_base_ = scan_from;
  // Rescan what the snapshot does not cover: sealed segments without an index
  // (they get one) and the unsealed tail.
  uint64_t records = 0;
  const bool warm_recent = !recovered_once_ && recent_->enabled();
  recovered_once_ = true;
  // Only the newest records can stay in the cache; feeding older ones would
  // just evict them again (and slow a large reopen).
  const uint64_t end = log->next_offset();
  const uint64_t warm_from = end > options_.recent_warm_records ? end - options_.recent_warm_records : 0;
  WarmStage warm(options_.recent_warm_bytes, RecentCache::kMaxMessages / 2);
  Status s = log->ForEachBatch(scan_from, [&](const BatchLocation& loc, const DecodedBatch& batch) {
    if (loc.segment_base != tail_base_) WB_RETURN_IF_ERROR(SealTail(loc.segment_base, false));
    for (const RecordView& r : batch.records) {
      const ConvId id = MakeConvId(r.tenant, r.conversation);
      const DirEntry* e = directory_.Find(id);
      const uint64_t expect = (e != nullptr ? e->last_seq : 0) + 1;
      if (r.seq != expect) {
        return Status::Corruption(dir_ + ": record at offset " + std::to_string(r.offset) + " has seq " +
                                  std::to_string(r.seq) + " but its conversation expects " +
                                  std::to_string(expect));
      }
      ApplyDurable(id, r.seq, r.timestamp_us, r.offset,
                   r.client_id.empty() ? ConvId{} : MakeDedupId(id, r.client_id), loc);
      // At open (no reader yet; later Recovers are truncations and clear the
      // cache), the scan warms the recent cache with the log's newest messages.
      if (warm_recent && r.offset >= warm_from) warm.Add(id, r);
      ++records;
    }
    // Keep the window at its bounds while scanning (an entry older than the
    // log's newest timestamp by the window would expire at the end anyway):
    // otherwise a large tail holds every client id until the scan ends.
    ExpireDedup(max_ts_);
    return Status::Ok();
  });
  dedup_.SetIndexed(true);
  WB_RETURN_IF_ERROR(s);
  if (warm_recent) warm.Feed(recent_);
  if (tail_base_ != segs.back().base) WB_RETURN_IF_ERROR(SealTail(segs.back().base, false));
  ExpireDedup(clock_->WallMicros());
  WB_LOG(kInfo, "conversations_recovered")
      .Kv("dir", dir_)
      .Kv("conversations", directory_.size())
      .Kv("snapshot_segment", snapshot != nullptr ? std::to_string(snapshot->header.segment_base) : "none")
      .Kv("records_scanned", records)
      .Kv("dedup_entries", dedup_.size());
  return Status::Ok();
}

Status ConvState::OnTruncate(PartitionLog* log, uint64_t /*offset*/) {
  // The log now ends at `offset`: rebuilding exactly as at open drops the
  // index files of segments that are no longer sealed and everything past it.
  Status s = Recover(log);
  // Every partition's entries go (truncation is rare: a Raft leader change).
  // A Fill checks the generation under mu_, so one that got in before
  // Recover bumped it is in the cache by now and goes too.
  recent_->Clear();
  return s;
}

// ---- reads ----

Result<std::shared_ptr<const cix::RunsEntry>> ConvState::LoadEntry(
    const std::shared_ptr<CixHandle>& h, uint32_t pos8, uint64_t generation) {
  const CacheKey key{options_.partition, kCacheRunsEntry, generation, h->segment_base, pos8};
  if (auto hit = cache_->Get<cix::RunsEntry>(key)) return hit;
  const uint64_t pos = uint64_t{pos8} * 8;
  if (pos + cix::kRunsEntryFixed > h->size) {
    return Status::Corruption(layout::CixPath(dir_, h->segment_base) + ": entry position " +
                              std::to_string(pos) + " is past the end");
  }
  WB_ASSIGN_OR_RETURN(std::string bytes,
                      ReadRange(h->file.get(), pos, std::min<uint64_t>(kEntryReadBytes, h->size - pos)));
  WB_ASSIGN_OR_RETURN(uint32_t n, cix::PeekRefCount(AsBytes(bytes)));
  if (cix::RunsEntrySize(n) > bytes.size()) {
    if (pos + cix::RunsEntrySize(n) > h->size) {
      return Status::Corruption(layout::CixPath(dir_, h->segment_base) + ": entry runs past the end");
    }
    WB_ASSIGN_OR_RETURN(bytes, ReadRange(h->file.get(), pos, cix::RunsEntrySize(n)));
  }
  auto entry = std::make_shared<cix::RunsEntry>();
  Status s = cix::DecodeRunsEntry(AsBytes(bytes), entry.get());
  if (!s.ok()) return s.WithContext(layout::CixPath(dir_, h->segment_base) + " at " + std::to_string(pos));
  cache_->Insert(key, entry, cix::RunsEntrySize(n));
  return std::shared_ptr<const cix::RunsEntry>(std::move(entry));
}

Status ConvState::Plan(const ConvId& id, ReadKind kind, uint64_t seq, size_t n, ReadPlan* plan) {
  plan->batches.clear();
  plan->lo = 1;
  plan->hi = 0;
  uint32_t ordinal, pos8;
  {
    std::shared_lock lock(mu_);
    plan->generation = generation_;
    const DirEntry* e = directory_.Find(id);
    if (e == nullptr) return Status::Ok();
    const SeqRange r = RangeFor(kind, seq, n, e->last_seq);
    if (r.empty()) return Status::Ok();
    const uint64_t lo = r.lo, hi = r.hi;
    plan->lo = lo;
    plan->hi = hi;
    // In-memory refs newest first — the active segment's, then those of a
    // segment whose seal is still being written; each one's run ends where
    // the next newer starts.
    uint64_t newer_first = e->last_seq + 1;
    uint64_t oldest_first = UINT64_MAX;  // first seq of the oldest ref visited
    auto walk = [&](const TailIndex& tail, uint64_t base) {
      const TailIndex::Slot* t = tail.Find(id);
      if (t == nullptr) return true;
      for (uint32_t i = t->head; i != TailIndex::kNoRef; i = tail.ref(i).prev) {
        const TailIndex::Ref& r = tail.ref(i);
        oldest_first = r.first_seq;
        if (newer_first - 1 < lo) return false;  // this run and all older end below lo
        if (r.first_seq <= hi) plan->batches.push_back({base, r.position, r.size, 0, 0});
        newer_first = r.first_seq;
      }
      return true;
    };
    if (walk(tail_, tail_base_) && sealing_ != nullptr) walk(sealing_->tail, sealing_->base);
    if (lo >= oldest_first) return Status::Ok();
    ordinal = e->ordinal;
    pos8 = e->entry_pos8;
  }
  // Sealed history: follow the chain newest → oldest until `lo` is covered.
  while (ordinal != kNoOrdinal) {
    std::shared_ptr<CixHandle> h;
    {
      std::shared_lock lock(mu_);
      if (generation_ != plan->generation) {
        return Status::Aborted(dir_ + ": the log was truncated during the read");
      }
      if (auto it = cix_.find(ordinal); it != cix_.end()) h = it->second;
    }
    if (h == nullptr) {
      return Status::Corruption(dir_ + ": conversation index of sealed segment #" +
                                std::to_string(ordinal) + " is missing");
    }
    WB_ASSIGN_OR_RETURN(auto entry, LoadEntry(h, pos8, plan->generation));
    if (entry->id != id) {
      return Status::Corruption(layout::CixPath(dir_, h->segment_base) + ": entry at " +
                                std::to_string(uint64_t{pos8} * 8) + " belongs to another conversation");
    }
    for (size_t i = entry->refs.size(); i-- > 0;) {
      const uint64_t first = entry->refs[i].first_seq;
      const uint64_t end = i + 1 < entry->refs.size() ? entry->refs[i + 1].first_seq - 1 : entry->last_seq;
      if (end < plan->lo) break;
      if (first <= plan->hi) {
        plan->batches.push_back({h->segment_base, entry->refs[i].position, entry->refs[i].size, 0, 0});
      }
    }
    if (plan->lo >= entry->first_seq) break;
    ordinal = entry->prev_ordinal;
    pos8 = entry->prev_pos8;
  }
  return Status::Ok();
}

bool ConvState::Info(const ConvId& id, uint64_t* last_seq, uint64_t* last_ts) const {
  std::shared_lock lock(mu_);
  const DirEntry* e = directory_.Find(id);
  if (e == nullptr) return false;
  *last_seq = e->last_seq;
  *last_ts = e->last_ts;
  return true;
}

size_t ConvState::conversations() const {
  std::shared_lock lock(mu_);
  return directory_.size();
}

size_t ConvState::directory_bytes() const {
  std::shared_lock lock(mu_);
  return directory_.memory_bytes();
}

size_t ConvState::tail_bytes() const {
  std::shared_lock lock(mu_);
  return tail_.memory_bytes() + (sealing_ != nullptr ? sealing_->tail.memory_bytes() : 0);
}

uint64_t ConvState::index_file_bytes() const {
  std::shared_lock lock(mu_);
  uint64_t total = 0;
  for (const auto& [ordinal, h] : cix_) total += h->size;
  return total;
}

}  // namespace warbler::engine
