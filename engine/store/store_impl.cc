#include "engine/store/store_impl.h"

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <mutex>

#include "base/coding.h"
#include "base/histogram.h"
#include "base/limits.h"
#include "base/one_shot.h"
#include "engine/cache/block_cache.h"
#include "engine/conv/conv_state.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/kek.h"
#include "engine/crypto/keyring.h"
#include "engine/dict/dictionary_registry.h"
#include "engine/layout.h"
#include "engine/log/log.h"
#include "engine/store/store_metrics.h"

namespace warbler::engine {
namespace {

constexpr size_t kMaxReadCountCap = 10000;
constexpr uint64_t kMaxDedupWindowMs = 7ull * 24 * 3600 * 1000;
constexpr size_t kMaxDedupEntries = 16u << 20;
// A partition's tail index budget is at least this, whatever the partition
// count: below it, segments would seal every few groups.
constexpr size_t kMinTailIndexBytesPerPartition = 256u << 10;

Status CheckName(std::string_view what, std::string_view v) {
  if (v.empty() || v.size() > 255) {
    return Status::InvalidArgument(std::string(what) + " must be 1..255 bytes (got " +
                                   std::to_string(v.size()) + ")");
  }
  return Status::Ok();
}

Status CheckConversation(const ConversationRef& c) {
  WB_RETURN_IF_ERROR(CheckName("tenant", c.tenant));
  return CheckName("conversation", c.conversation);
}

AppendAck AckOf(const Record& r, uint32_t partition) {
  return AppendAck{r.seq, r.timestamp_us, r.offset, partition, r.duplicate};
}

class StoreImpl final : public Store {
 public:
  StoreImpl(const StoreOptions& options, std::unique_ptr<io::FileSystem> owned_fs,
            io::FileSystem* fs)
      : options_(options),
        owned_fs_(std::move(owned_fs)),
        fs_(fs),
        // Admits a block on its second offer: IM-1-large's reads of one-off
        // conversations made every read insert and evict (docs/index.md).
        cache_(options.block_cache_bytes, BlockCache::kDefaultShards, BlockCache::Admission::kSecondOffer),
        recent_(options.recent_cache_bytes) {}

  ~StoreImpl() override { (void)Close(); }

  Status Init(const std::string& dir, const StoreInternals& internals) {
    if (options_.encryption) WB_RETURN_IF_ERROR(LoadKeys(dir));
    LogOpenOptions lo;
    lo.partitions = options_.partitions;
    lo.create_if_missing = options_.create_if_missing;
    lo.log.segment_bytes = options_.segment_bytes;
    lo.log.durability = options_.durability == DurabilityMode::kSync       ? Durability::kSync
                        : options_.durability == DurabilityMode::kInterval ? Durability::kInterval
                                                                           : Durability::kNone;
    lo.log.sync_interval_ms = options_.sync_interval_ms;
    lo.log.queue_capacity = options_.queue_capacity;
    lo.log.batch.compress = options_.compress;
    lo.log.batch.zstd_level = options_.zstd_level;
    lo.log.recovery = options_.recovery == warbler::RecoveryMode::kQuarantine ? engine::RecoveryMode::kQuarantine
                                                                               : engine::RecoveryMode::kStrict;
    lo.log.linger_us = internals.linger_us;
    lo.log.max_inflight_groups = internals.max_inflight_groups;
    lo.log.encode_offload_min_bytes = internals.encode_offload_min_bytes;
    lo.log.clock = internals.clock;
    // The partition count of an existing store wins; states are made lazily per partition.
    lo.hook_for = [this, dir, internals](uint32_t p) {
      ConvStateOptions co;
      co.partition = p;
      co.dedup_window_ms = options_.dedup_window_ms;
      co.dedup_max_entries = options_.dedup_max_entries;
      co.clock = internals.clock;
      const size_t parts = std::max<uint32_t>(options_.partitions, 1);
      co.tail_index_max_bytes = internals.tail_index_bytes_per_partition != 0
                                    ? internals.tail_index_bytes_per_partition
                                    : std::max(options_.tail_index_bytes / parts, kMinTailIndexBytesPerPartition);
      // The warm-up at open: this partition's share of the recent cache, and
      // as many records as it holds at about 256 bytes each (IM-1's size).
      co.recent_warm_bytes = options_.recent_cache_bytes / parts;
      co.recent_warm_records = co.recent_warm_bytes / 256;
      states_.push_back(std::make_unique<ConvState>(fs_, layout::PartitionDir(dir, p), co, &cache_, &recent_));
      return states_.back().get();
    };
    lo.on_meta = [this, dir, internals](const StoreUuid& uuid, bool created) {
      WB_RETURN_IF_ERROR(OpenKeyring(dir, uuid, created, internals.clock));
      return OpenDictionaries(dir, uuid, internals.clock);
    };
    lo.customize = [this](uint32_t p, LogOptions* o) {
      o->dictionaries = dicts_.get();
      if (options_.compress && options_.compression_dictionaries) o->batch.dictionaries = dicts_.get();
      if (keyring_ == nullptr) return;
      o->keys = keyring_.get();
      o->batch.cipher = ciphers_[p].get();
    };
    WB_ASSIGN_OR_RETURN(log_, Log::Open(fs_, dir, lo));
    return Status::Ok();
  }

  // The KEK, before anything on disk is touched: a store that would be
  // created without one is refused with the command that makes one.
  Status LoadKeys(const std::string& dir) {
    auto kek = crypto::LoadKek(options_.kek_file);
    if (!kek.ok()) {
      WB_ASSIGN_OR_RETURN(bool exists, fs_->Exists(layout::StoreMetaPath(dir)));
      if (!exists && kek.status().code() == StatusCode::kNotFound) {
        return Status::FailedPrecondition(
            "encryption at rest is on but no key-encryption key is configured for the new store in " + dir +
            ": " + kek.status().message());
      }
      return kek.status().WithContext("loading the key-encryption key");
    }
    kek_ = std::make_unique<crypto::Key>(*kek);
    if (!options_.previous_kek_file.empty()) {
      WB_ASSIGN_OR_RETURN(auto prev, crypto::LoadKekFile(options_.previous_kek_file));
      previous_kek_ = std::make_unique<crypto::Key>(prev);
    }
    return Status::Ok();
  }

  Status OpenKeyring(const std::string& dir, const StoreUuid& uuid, bool created, Clock* clock) {
    WB_ASSIGN_OR_RETURN(bool has_keyring, fs_->Exists(layout::KeyringPath(dir)));
    if (!options_.encryption) {
      if (has_keyring) {
        return Status::FailedPrecondition(dir + " is an encrypted store: open it with encryption on and its KEK");
      }
      return Status::Ok();
    }
    // A keyring is only ever created together with the store (or, after a
    // crash between the two, before any partition exists).
    WB_ASSIGN_OR_RETURN(bool has_partitions, fs_->Exists(layout::PartitionDir(dir, 0)));
    if (has_keyring) {
      WB_ASSIGN_OR_RETURN(keyring_, crypto::Keyring::Open(fs_, dir, uuid, *kek_, previous_kek_.get(), clock));
    } else if (created || !has_partitions) {
      WB_ASSIGN_OR_RETURN(keyring_, crypto::Keyring::Create(fs_, dir, uuid, *kek_, clock));
    } else {
      return Status::FailedPrecondition(dir + " holds data but no KEYRING: it was created without encryption "
                                        "(open it with encryption off) or its keyring was lost (restore " +
                                        layout::KeyringPath(dir) + " from a backup)");
    }
    WB_ASSIGN_OR_RETURN(ciphers_, crypto::BatchCipher::CreateMany(keyring_.get(), options_.partitions));
    return Status::Ok();
  }

  // Every store loads its dictionaries (old batches need them to read);
  // only training depends on the options.
  Status OpenDictionaries(const std::string& dir, const StoreUuid& uuid, Clock* clock) {
    dict::RegistryOptions ro;
    ro.train = options_.compress && options_.compression_dictionaries;
    ro.sample_bytes = options_.dictionary_sample_bytes;
    ro.dictionary_bytes = options_.dictionary_max_bytes;
    ro.max_count = options_.dictionary_max_count;
    ro.zstd_level = options_.zstd_level;
    ro.clock = clock;
    WB_ASSIGN_OR_RETURN(dicts_, dict::DictionaryRegistry::Open(fs_, dir, uuid, keyring_.get(), ro));
    return Status::Ok();
  }

  dict::DictionaryRegistry* dictionaries() { return dicts_.get(); }

  Status RotateDataKey(std::string_view tenant) override {
    WB_RETURN_IF_ERROR(CheckOpen());
    if (keyring_ == nullptr) return Status::FailedPrecondition("the store is not encrypted");
    if (tenant.size() > 255) return Status::InvalidArgument("tenant must be at most 255 bytes");
    return keyring_->RotateDek(tenant).status();
  }

  Status RotateKek(const std::string& new_kek_file) override {
    WB_RETURN_IF_ERROR(CheckOpen());
    if (keyring_ == nullptr) return Status::FailedPrecondition("the store is not encrypted");
    WB_ASSIGN_OR_RETURN(crypto::Key kek, crypto::LoadKekFile(new_kek_file));
    return keyring_->RotateKek(kek);
  }

  Status Close() override {
    std::lock_guard lock(close_mu_);
    if (log_ == nullptr) return Status::Ok();
    Status s = log_->Close();
    for (auto& state : states_) state->WaitForSeal();  // nor a .cix
    if (dicts_ != nullptr) dicts_->Stop();  // no dictionary file is written after Close
    closed_.store(true);
    return s;
  }

  Status AppendAsync(const AppendRequest& req, AppendCallback done) override {
    WB_RETURN_IF_ERROR(CheckOpen());
    WB_RETURN_IF_ERROR(Validate(req));
    const uint32_t p = PartitionOf(MakeConvId(req.conversation.tenant, req.conversation.conversation),
                                   log_->partition_count());
    std::vector<Record> records(1);
    Fill(req, &records[0]);
    return log_->partition(p)->AppendAsync(
        std::move(records), [p, done = std::move(done)](const Status& s, const AppendResult& r) {
          if (!s.ok()) {
            done(s, AppendAck{});
          } else {
            done(s, AckOf((*r.records)[0], p));
          }
        });
  }

  Result<AppendAck> Append(const AppendRequest& req) override {
    OneShot<AppendAck> w;
    WB_RETURN_IF_ERROR(AppendAsync(req, w.Setter()));
    return w.Wait();
  }

  Status AppendBatchAsync(std::span<const AppendRequest> requests, BatchCallback done) override {
    WB_RETURN_IF_ERROR(CheckOpen());
    if (requests.empty()) return Status::InvalidArgument("append batch of zero messages");
    if (requests.size() > limits::kMaxRecordsPerBatch) {
      return Status::InvalidArgument("append batch of more than 65535 messages");
    }
    const uint32_t parts = log_->partition_count();
    std::vector<std::vector<size_t>> index(parts);  // request positions per partition
    for (size_t i = 0; i < requests.size(); ++i) {
      WB_RETURN_IF_ERROR(Validate(requests[i]));
      const AppendRequest& r = requests[i];
      index[PartitionOf(MakeConvId(r.conversation.tenant, r.conversation.conversation), parts)].push_back(i);
    }
    struct Shared {
      std::mutex mu;
      std::vector<AppendAck> acks;
      Status status;
      size_t remaining = 0;
      BatchCallback done;
    };
    auto shared = std::make_shared<Shared>();
    shared->acks.resize(requests.size());
    shared->done = std::move(done);
    for (uint32_t p = 0; p < parts; ++p) shared->remaining += index[p].empty() ? 0 : 1;
    // Partitions are queued one by one; if one refuses (queue full), those
    // already queued still complete and the caller hears the first error once.
    const size_t queued_parts = shared->remaining;
    size_t queued = 0;
    for (uint32_t p = 0; p < parts; ++p) {
      if (index[p].empty()) continue;
      std::vector<Record> records(index[p].size());
      for (size_t k = 0; k < index[p].size(); ++k) Fill(requests[index[p][k]], &records[k]);
      Status s = log_->partition(p)->AppendAsync(
          std::move(records), [p, shared, pos = index[p]](const Status& st, const AppendResult& r) {
            BatchCallback cb;
            {
              std::lock_guard lock(shared->mu);
              if (!st.ok() && shared->status.ok()) shared->status = st;
              if (st.ok()) {
                for (size_t k = 0; k < pos.size(); ++k) shared->acks[pos[k]] = AckOf((*r.records)[k], p);
              }
              if (--shared->remaining == 0) cb = std::move(shared->done);
            }
            if (cb) cb(shared->status, shared->status.ok() ? std::move(shared->acks) : std::vector<AppendAck>{});
          });
      if (!s.ok()) {
        if (queued == 0) return s;  // nothing queued: an immediate error, done never runs
        BatchCallback cb;
        {
          std::lock_guard lock(shared->mu);
          if (shared->status.ok()) shared->status = s;
          shared->remaining -= queued_parts - queued;
          if (shared->remaining == 0) cb = std::move(shared->done);
        }
        if (cb) cb(shared->status, {});
        return Status::Ok();
      }
      ++queued;
    }
    return Status::Ok();
  }

  Result<std::vector<AppendAck>> AppendBatch(std::span<const AppendRequest> requests) override {
    OneShot<std::vector<AppendAck>> w;
    WB_RETURN_IF_ERROR(AppendBatchAsync(requests, w.Setter()));
    return w.Wait();
  }

  Result<std::vector<Message>> Latest(ConversationRef c, size_t n) override {
    return Read(c, ReadKind::kLatest, 0, n);
  }
  Result<std::vector<Message>> Before(ConversationRef c, uint64_t seq, size_t n) override {
    return Read(c, ReadKind::kBefore, seq, n);
  }
  Result<std::vector<Message>> After(ConversationRef c, uint64_t seq, size_t n) override {
    return Read(c, ReadKind::kAfter, seq, n);
  }
  Result<Message> Get(ConversationRef c, uint64_t seq) override {
    WB_ASSIGN_OR_RETURN(auto msgs, Read(c, ReadKind::kGet, seq, 1));
    if (msgs.empty()) return Status::NotFound("no message " + std::to_string(seq) + " in the conversation");
    return std::move(msgs[0]);
  }

  Result<ConversationInfo> Info(ConversationRef c) override {
    WB_RETURN_IF_ERROR(CheckOpen());
    WB_RETURN_IF_ERROR(CheckConversation(c));
    const ConvId id = MakeConvId(c.tenant, c.conversation);
    ConversationInfo info;
    if (states_[PartitionOf(id, log_->partition_count())]->Info(id, &info.last_seq, &info.last_timestamp_us)) {
      info.count = info.last_seq;
    }
    return info;
  }

  Log* log() { return log_.get(); }

  uint32_t partitions() const override { return log_->partition_count(); }

  Result<std::vector<LogMessage>> ReadLog(uint32_t partition, uint64_t from, size_t max_bytes,
                                          uint64_t* next) override {
    WB_RETURN_IF_ERROR(CheckOpen());
    if (partition >= log_->partition_count()) {
      return Status::InvalidArgument("partition " + std::to_string(partition) + " does not exist (the store has " +
                                     std::to_string(log_->partition_count()) + ")");
    }
    ReadOptions ro;
    ro.max_bytes = std::max<size_t>(max_bytes, 1);
    WB_ASSIGN_OR_RETURN(auto batches, log_->partition(partition)->Read(from, ro));
    std::vector<LogMessage> out;
    *next = from;
    for (const DecodedBatch& b : batches) {
      for (const RecordView& r : b.records) {
        if (r.offset < from) continue;
        LogMessage m;
        m.offset = r.offset;
        m.tenant.assign(r.tenant);
        m.conversation.assign(r.conversation);
        m.message.seq = r.seq;
        m.message.timestamp_us = r.timestamp_us;
        m.message.offset = r.offset;
        m.message.sender.assign(r.sender);
        m.message.client_id.assign(r.client_id);
        m.message.body.assign(r.body);
        out.push_back(std::move(m));
      }
      *next = std::max(*next, b.header.next_offset());
    }
    return out;
  }

  bool WaitLog(uint32_t partition, uint64_t offset, uint64_t timeout_ms) override {
    if (closed_.load() || partition >= log_->partition_count()) return false;
    return log_->partition(partition)->WaitForOffset(offset, timeout_ms);
  }

  std::string PrometheusMetrics() override {
    std::string out;
    if (closed_.load()) return out;
    const StoreStats st = Stats();
    auto gauge = [&](const char* name, const char* help, double v) {
      AppendMetricHeader(name, "gauge", help, &out);
      AppendMetricLine(name, "", v, &out);
    };
    auto counter = [&](const char* name, const char* help, double v) {
      AppendMetricHeader(name, "counter", help, &out);
      AppendMetricLine(name, "", v, &out);
    };
    gauge("warbler_store_conversations", "Conversations known to the store.", st.conversations);
    counter("warbler_store_duplicates_total", "Retries answered from the dedup window.", st.duplicates);
    counter("warbler_block_cache_hits_total", "Block cache hits.", st.cache_hits);
    counter("warbler_block_cache_misses_total", "Block cache misses.", st.cache_misses);
    gauge("warbler_block_cache_bytes", "Bytes held by the block cache.", st.cache_bytes);
    counter("warbler_recent_cache_hits_total", "Reads served whole by the recent-message cache.", st.recent_hits);
    counter("warbler_recent_cache_misses_total", "Reads the recent-message cache could not serve.",
            st.recent_misses);
    gauge("warbler_recent_cache_bytes", "Bytes held by the recent-message cache.", st.recent_bytes);
    gauge("warbler_recent_cache_conversations", "Conversations in the recent-message cache.",
          st.recent_conversations);
    gauge("warbler_directory_bytes", "Resident bytes of the conversation directory.", st.directory_bytes);
    gauge("warbler_tail_index_bytes", "Resident bytes indexing unsealed segments.", st.tail_index_bytes);
    gauge("warbler_dedup_entries", "Client message ids in the dedup window.", st.dedup_entries);
    gauge("warbler_disk_bytes", "Bytes of segments and index files on disk.", st.bytes_on_disk);
    AppendIoBackendMetrics(*fs_, &out);
    if (dicts_ != nullptr) AppendDictionaryMetrics(*dicts_, &out);
    struct Family {
      const char* name;
      const char* type;
      const char* help;
      std::function<double(PartitionLog*)> value;
    };
    const Family families[] = {
        {"warbler_log_appends_total", "counter", "Records acknowledged by the partition log.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().appends.load()); }},
        {"warbler_log_fdatasyncs_total", "counter", "fdatasyncs completed.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().syncs.load()); }},
        {"warbler_log_batches_total", "counter", "Batches written.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().batches.load()); }},
        {"warbler_log_written_bytes_total", "counter", "Bytes written to segments.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().bytes_written.load()); }},
        {"warbler_log_inline_groups_total", "counter",
         "Groups the writer wrote and synced on its own thread (nothing to overlap them with, or POSIX I/O).",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().inline_groups.load()); }},
        {"warbler_log_write_errors_total", "counter", "Failed group writes or syncs.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().write_errors.load()); }},
        {"warbler_log_segments_rolled_total", "counter", "Segments sealed.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().segments_rolled.load()); }},
        {"warbler_log_queue_full_total", "counter", "Appends refused because the queue was full.",
         [](PartitionLog* l) { return static_cast<double>(l->metrics().queue_full.load()); }},
        {"warbler_log_queue_depth", "gauge", "Append requests waiting for the writer.",
         [](PartitionLog* l) { return static_cast<double>(l->queue_depth()); }},
        {"warbler_log_next_offset", "gauge", "Offset one past the last acknowledged record.",
         [](PartitionLog* l) { return static_cast<double>(l->next_offset()); }},
    };
    for (const Family& f : families) {
      AppendMetricHeader(f.name, f.type, f.help, &out);
      for (uint32_t p = 0; p < log_->partition_count(); ++p) {
        AppendMetricLine(f.name, "partition=\"" + std::to_string(p) + "\"", f.value(log_->partition(p)), &out);
      }
    }
    AppendMetricHeader("warbler_log_commit_seconds", "histogram",
                       "Group commit latency: write submitted to fdatasync done.", &out);
    for (uint32_t p = 0; p < log_->partition_count(); ++p) {
      log_->partition(p)->metrics().commit_latency.Render("warbler_log_commit_seconds",
                                                          "partition=\"" + std::to_string(p) + "\"", &out);
    }
    AppendMetricHeader("warbler_log_group_records", "histogram", "Records per group commit.", &out);
    for (uint32_t p = 0; p < log_->partition_count(); ++p) {
      log_->partition(p)->metrics().group_records.Render("warbler_log_group_records",
                                                         "partition=\"" + std::to_string(p) + "\"", &out);
    }
    return out;
  }

  StoreStats Stats() override {
    StoreStats st;
    if (closed_.load()) return st;
    for (uint32_t p = 0; p < log_->partition_count(); ++p) {
      const ConvState& cs = *states_[p];
      st.conversations += cs.conversations();
      st.directory_bytes += cs.directory_bytes();
      st.tail_index_bytes += cs.tail_bytes();
      st.dedup_entries += cs.dedup_entries();
      st.duplicates += cs.duplicates();
      st.bytes_on_disk += cs.index_file_bytes();
      PartitionLog* part = log_->partition(p);
      st.appends += part->metrics().appends.load();
      st.fdatasyncs += part->metrics().syncs.load();
      for (const auto& seg : part->segments()) st.bytes_on_disk += seg.data_end;
    }
    st.recent_hits = recent_.hits();
    st.recent_misses = recent_.misses();
    st.recent_bytes = recent_.bytes();
    st.recent_conversations = recent_.entries();
    st.cache_hits = cache_.hits();
    st.cache_misses = cache_.misses();
    st.cache_bytes = cache_.bytes();
    return st;
  }

 private:
  Status CheckOpen() const {
    if (closed_.load()) return Status::Unavailable("the store is closed");
    return Status::Ok();
  }

  Status Validate(const AppendRequest& r) const {
    WB_RETURN_IF_ERROR(CheckConversation(r.conversation));
    if (r.body.size() > options_.max_body_bytes) {
      return Status::InvalidArgument("body of " + std::to_string(r.body.size()) +
                                     " bytes exceeds max_body_bytes (" +
                                     std::to_string(options_.max_body_bytes) + ")");
    }
    if (r.sender.size() > options_.max_sender_bytes) {
      return Status::InvalidArgument("sender of " + std::to_string(r.sender.size()) +
                                     " bytes exceeds max_sender_bytes (" +
                                     std::to_string(options_.max_sender_bytes) + ")");
    }
    if (r.client_id.size() > options_.max_client_id_bytes) {
      return Status::InvalidArgument("client message id of " + std::to_string(r.client_id.size()) +
                                     " bytes exceeds max_client_id_bytes (" +
                                     std::to_string(options_.max_client_id_bytes) + ")");
    }
    return Status::Ok();
  }

  static void Fill(const AppendRequest& req, Record* r) {
    r->tenant.assign(req.conversation.tenant);
    r->conversation.assign(req.conversation.conversation);
    r->sender.assign(req.sender);
    r->body.assign(req.body);
    r->client_id.assign(req.client_id);
  }

  Result<std::vector<Message>> Read(ConversationRef c, ReadKind kind, uint64_t seq, size_t n) {
    WB_RETURN_IF_ERROR(CheckOpen());
    WB_RETURN_IF_ERROR(CheckConversation(c));
    if (n == 0 || n > options_.max_read_count) {
      return Status::InvalidArgument("n = " + std::to_string(n) + " is outside 1..max_read_count (" +
                                     std::to_string(options_.max_read_count) + ")");
    }
    const ConvId id = MakeConvId(c.tenant, c.conversation);
    const uint32_t p = PartitionOf(id, log_->partition_count());
    std::vector<Message> out;
    if (states_[p]->ReadRecent(id, kind, seq, n, &out)) return out;
    ReadPlan plan;
    WB_RETURN_IF_ERROR(states_[p]->Plan(id, kind, seq, n, &plan));
    if (plan.empty()) return out;
    // Cached batches first; every miss is read in one batched submission.
    std::vector<std::shared_ptr<const DecodedBatch>> batches(plan.batches.size());
    std::vector<BatchLocation> missing;
    std::vector<size_t> missing_at;
    for (size_t i = 0; i < plan.batches.size(); ++i) {
      const BatchLocation& loc = plan.batches[i];
      batches[i] = cache_.Get<DecodedBatch>({p, kCacheBatch, plan.generation, loc.segment_base, loc.position});
      if (batches[i] == nullptr) {
        missing.push_back(loc);
        missing_at.push_back(i);
      }
    }
    if (!missing.empty()) {
      std::vector<std::string> raw;
      WB_RETURN_IF_ERROR(log_->partition(p)->ReadBatchesAt(missing, &raw));
      for (size_t k = 0; k < missing.size(); ++k) {
        auto decoded = DecodeBatch(AsBytes(raw[k]), keyring_.get(), dicts_.get());
        if (!decoded.ok()) {
          return decoded.status().WithContext(layout::SegmentPath(log_->partition(p)->dir(), missing[k].segment_base) +
                                              " at position " + std::to_string(missing[k].position));
        }
        auto shared = std::make_shared<const DecodedBatch>(std::move(*decoded));
        cache_.Insert({p, kCacheBatch, plan.generation, missing[k].segment_base, missing[k].position}, shared,
                      shared->plain->size() + shared->records.size() * sizeof(RecordView));
        batches[missing_at[k]] = std::move(shared);
      }
    }
    out.reserve(plan.hi - plan.lo + 1);
    for (const auto& b : batches) {
      for (const RecordView& r : b->records) {
        if (r.seq < plan.lo || r.seq > plan.hi || r.conversation != c.conversation || r.tenant != c.tenant) {
          continue;
        }
        Message m;
        m.seq = r.seq;
        m.timestamp_us = r.timestamp_us;
        m.offset = r.offset;
        m.sender.assign(r.sender);
        m.client_id.assign(r.client_id);
        m.body.assign(r.body);
        out.push_back(std::move(m));
      }
    }
    std::sort(out.begin(), out.end(), [](const Message& a, const Message& b) { return a.seq < b.seq; });
    if (out.size() != plan.hi - plan.lo + 1) {
      return Status::Corruption("partition " + std::to_string(p) + ": the conversation index promises seqs " +
                                std::to_string(plan.lo) + ".." + std::to_string(plan.hi) + " but the log holds " +
                                std::to_string(out.size()) + " of them");
    }
    states_[p]->FillRecent(id, plan, out);
    return out;
  }

  const StoreOptions options_;
  std::unique_ptr<io::FileSystem> owned_fs_;
  io::FileSystem* const fs_;
  BlockCache cache_;
  RecentCache recent_;
  std::unique_ptr<crypto::Key> kek_;
  std::unique_ptr<crypto::Key> previous_kek_;
  std::unique_ptr<crypto::Keyring> keyring_;                 // outlives log_ and ciphers_
  std::vector<std::unique_ptr<crypto::BatchCipher>> ciphers_;  // one per partition; outlive log_
  std::unique_ptr<dict::DictionaryRegistry> dicts_;            // outlives log_; uses keyring_
  std::vector<std::unique_ptr<ConvState>> states_;  // outlive log_ (hooks)
  std::unique_ptr<Log> log_;
  std::mutex close_mu_;
  std::atomic<bool> closed_{false};
};

}  // namespace

Status ValidateStoreOptions(const StoreOptions& o) {
  if (o.partitions < 1 || o.partitions > limits::kMaxPartitions) {
    return Status::InvalidArgument("partitions must be within 1..1024");
  }
  if (o.max_body_bytes > limits::kMaxBodyBytes) {
    return Status::InvalidArgument("max_body_bytes may not exceed the hard cap of 1 MiB");
  }
  if (o.max_sender_bytes > limits::kMaxSenderBytes) {
    return Status::InvalidArgument("max_sender_bytes may not exceed the hard cap of 255");
  }
  if (o.max_client_id_bytes > limits::kMaxClientMessageIdBytes) {
    return Status::InvalidArgument("max_client_id_bytes may not exceed the hard cap of 64");
  }
  if (o.max_read_count < 1 || o.max_read_count > kMaxReadCountCap) {
    return Status::InvalidArgument("max_read_count must be within 1..10000");
  }
  if (o.dedup_window_ms < 1000 || o.dedup_window_ms > kMaxDedupWindowMs) {
    return Status::InvalidArgument("dedup_window_ms must be within 1 s .. 7 days");
  }
  if (o.dedup_max_entries < 1 || o.dedup_max_entries > kMaxDedupEntries) {
    return Status::InvalidArgument("dedup_max_entries must be within 1..16777216");
  }
  if (o.tail_index_bytes < (1u << 20) || o.tail_index_bytes > (16ull << 30)) {
    return Status::InvalidArgument("tail_index_bytes must be within 1 MiB .. 16 GiB");
  }
  if (o.dictionary_sample_bytes < (16u << 10) || o.dictionary_sample_bytes > (16u << 20)) {
    return Status::InvalidArgument("dictionary_sample_bytes must be within 16 KiB .. 16 MiB");
  }
  if (o.dictionary_max_bytes < (1u << 10) || o.dictionary_max_bytes > limits::kMaxDictionaryBytes) {
    return Status::InvalidArgument("dictionary_max_bytes must be within 1 KiB .. 1 MiB");
  }
  if (o.dictionary_max_count > limits::kMaxDictionaries) {
    return Status::InvalidArgument("dictionary_max_count must be at most 65535");
  }
  return Status::Ok();
}

Status TruncatePartition(Store* store, uint32_t partition, uint64_t offset) {
  Log* log = static_cast<StoreImpl*>(store)->log();
  if (partition >= log->partition_count()) return Status::InvalidArgument("no such partition");
  return log->partition(partition)->TruncateSuffix(offset);
}

dict::DictionaryRegistry* StoreDictionaries(Store* store) {
  return static_cast<StoreImpl*>(store)->dictionaries();
}

uint64_t PartitionNextOffset(Store* store, uint32_t partition) {
  return static_cast<StoreImpl*>(store)->log()->partition(partition)->next_offset();
}

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options, const std::string& dir,
                                         const StoreInternals& internals) {
  WB_RETURN_IF_ERROR(ValidateStoreOptions(options));
  std::unique_ptr<io::FileSystem> owned;
  io::FileSystem* fs = internals.fs;
  if (fs == nullptr) {
    const io::Backend b = options.io == IoBackend::kUring   ? io::Backend::kUring
                          : options.io == IoBackend::kPosix ? io::Backend::kPosix
                                                            : io::Backend::kAuto;
    WB_ASSIGN_OR_RETURN(owned, io::NewDefaultFileSystem(b));
    fs = owned.get();
  }
  auto store = std::make_unique<StoreImpl>(options, std::move(owned), fs);
  WB_RETURN_IF_ERROR(store->Init(dir, internals));
  // Recovery decoded the tail on one thread per partition; give what those
  // threads' malloc arenas no longer hold back to the system.
  ::malloc_trim(0);
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace warbler::engine

namespace warbler {

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options, const std::string& dir) {
  return engine::OpenStore(options, dir, {});
}

}  // namespace warbler
