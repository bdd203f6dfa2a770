#include "engine/dict/dictionary_registry.h"

#include <algorithm>

#include "base/coding.h"
#include "base/limits.h"
#include "base/log.h"
#include "engine/layout.h"

namespace warbler::engine::dict {
namespace {

// Tenants remembered as "training failed"; beyond this a failing tenant may
// be sampled and trained again (bounded work, bounded memory).
constexpr size_t kMaxGaveUp = 4096;

Status CheckOptions(const RegistryOptions& o) {
  if (o.sample_bytes < (16u << 10) || o.sample_bytes > (16u << 20)) {
    return Status::InvalidArgument("dictionary sample bytes must be within 16 KiB .. 16 MiB");
  }
  if (o.dictionary_bytes < (1u << 10) || o.dictionary_bytes > limits::kMaxDictionaryBytes) {
    return Status::InvalidArgument("dictionary bytes must be within 1 KiB .. 1 MiB");
  }
  if (o.max_count > limits::kMaxDictionaries) {
    return Status::InvalidArgument("dictionary max count must be at most 65535");
  }
  return Status::Ok();
}

}  // namespace

DictionaryRegistry::DictionaryRegistry(io::FileSystem* fs, std::string data_dir,
                                       const StoreId& store, crypto::KeySource* keys,
                                       const RegistryOptions& options)
    : fs_(fs),
      data_dir_(std::move(data_dir)),
      store_(store),
      keys_(keys),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()),
      state_(std::make_shared<const State>()) {}

DictionaryRegistry::~DictionaryRegistry() { Stop(); }

Result<std::unique_ptr<DictionaryRegistry>> DictionaryRegistry::Open(
    io::FileSystem* fs, std::string data_dir, const StoreId& store, crypto::KeySource* keys,
    const RegistryOptions& options) {
  WB_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<DictionaryRegistry> r(
      new DictionaryRegistry(fs, std::move(data_dir), store, keys, options));
  WB_RETURN_IF_ERROR(r->Load());
  return r;
}

Status DictionaryRegistry::Load() {
  const std::string dir = layout::DictDir(data_dir_);
  WB_ASSIGN_OR_RETURN(bool exists, fs_->Exists(dir));
  if (!exists) return Status::Ok();
  WB_ASSIGN_OR_RETURN(auto names, fs_->List(dir));
  State state;
  bool removed = false;
  uint32_t max_id = 0;
  for (const std::string& name : names) {
    if (layout::IsTempName(name)) {
      // An Install that crashed before its rename: no batch names it.
      WB_RETURN_IF_ERROR(fs_->Remove(dir + "/" + name));
      removed = true;
      continue;
    }
    const auto id = layout::ParseDictName(name);
    if (!id) continue;
    max_id = std::max<uint32_t>(max_id, *id);
    const std::string path = layout::DictPath(data_dir_, *id);
    auto bytes = ReadDictFile(fs_, path);
    if (!bytes.ok() && bytes.status().code() != StatusCode::kCorruption) {
      return bytes.status().WithContext(path);  // the world, not the file: retry
    }
    Status s = bytes.status();
    if (s.ok()) {
      auto file = DecodeDictFile(AsBytes(*bytes), *id, store_, keys_);
      s = file.status();
      if (s.ok()) {
        auto d = codec::ZstdDictionary::Load(std::move(file->dictionary), options_.zstd_level);
        if (d.ok()) {
          state.dicts[*id] = std::move(*d);
          state.current[file->tenant] = *id;  // names are sorted: ascending ids
          continue;
        }
        s = Status::Corruption(d.status().message());
      }
    }
    s = s.WithContext("zstd dictionary " + std::to_string(*id) + " (" + path + ")");
    WB_LOG(kWarn, "dictionary_unavailable").Kv("path", path).Kv("error", s.ToString());
    state.unavailable[*id] = s;
  }
  if (removed) WB_RETURN_IF_ERROR(fs_->SyncDir(dir));
  next_id_ = max_id + 1;
  metrics_.loaded.store(state.dicts.size());
  metrics_.unavailable.store(state.unavailable.size());
  state_ = std::make_shared<const State>(std::move(state));
  return Status::Ok();
}

std::shared_ptr<const DictionaryRegistry::State> DictionaryRegistry::Snapshot() const {
  std::lock_guard lock(mu_);
  return state_;
}

Result<std::shared_ptr<const codec::ZstdDictionary>> DictionaryRegistry::Lookup(uint16_t id) const {
  const auto state = Snapshot();
  if (auto it = state->dicts.find(id); it != state->dicts.end()) return it->second;
  if (auto it = state->unavailable.find(id); it != state->unavailable.end()) return it->second;
  return Status::NotFound("zstd dictionary " + std::to_string(id) + " is not in " +
                          layout::DictDir(data_dir_) +
                          " (deleted with its tenant, or lost: restore " +
                          layout::DictPath(data_dir_, id) + " from a backup)");
}

codec::ActiveDictionary DictionaryRegistry::Current(std::string_view tenant) const {
  const auto state = Snapshot();
  auto it = state->current.find(tenant);
  if (it == state->current.end()) return {};
  return {it->second, state->dicts.at(it->second)};
}

size_t DictionaryRegistry::count() const { return Snapshot()->dicts.size(); }

size_t DictionaryRegistry::memory_bytes() const {
  // Hold the snapshot: the temporary of `for (… : Snapshot()->dicts)` dies
  // before the loop runs (C++20), and a concurrent Install may free it.
  const std::shared_ptr<const State> state = Snapshot();
  size_t n = 0;
  for (const auto& [id, d] : state->dicts) n += d->memory_bytes();
  return n;
}

Result<uint16_t> DictionaryRegistry::Install(std::string_view tenant, std::string dictionary) {
  if (tenant.size() > limits::kMaxTenantBytes || dictionary.size() > limits::kMaxDictionaryBytes) {
    return Status::InvalidArgument("dictionary install: tenant or dictionary too large");
  }
  WB_ASSIGN_OR_RETURN(auto loaded, codec::ZstdDictionary::Load(dictionary, options_.zstd_level));
  std::lock_guard install(install_mu_);
  if (next_id_ > limits::kMaxDictionaries || Snapshot()->dicts.size() >= options_.max_count) {
    return Status::ResourceExhausted("the store holds its maximum number of zstd dictionaries");
  }
  // Taken before the write: a failed write may still have left the file.
  const auto id = static_cast<uint16_t>(next_id_++);
  DictFile f;
  f.id = id;
  f.tenant = std::string(tenant);
  f.created_us = clock_->WallMicros();
  f.dictionary = std::move(dictionary);
  WB_ASSIGN_OR_RETURN(std::string bytes, EncodeDictFile(f, store_, keys_));
  WB_RETURN_IF_ERROR(WriteDictFile(fs_, data_dir_, id, AsBytes(bytes)));
  auto next = std::make_shared<State>(*Snapshot());
  next->dicts[id] = std::shared_ptr<const codec::ZstdDictionary>(std::move(loaded));
  next->current[f.tenant] = id;
  {
    std::lock_guard lock(mu_);
    state_ = std::move(next);
  }
  metrics_.loaded.fetch_add(1);
  WB_LOG(kInfo, "dictionary_installed").Kv("id", id).Kv("bytes", f.dictionary.size());
  return id;
}

void DictionaryRegistry::Sample(std::string_view tenant, std::span<const std::string_view> records) {
  if (!options_.train) return;
  std::lock_guard lock(sample_mu_);
  if (stopping_ || gave_up_.contains(tenant)) return;
  auto it = sampling_.find(tenant);
  if (it == sampling_.end()) {
    if (sampling_.size() >= limits::kMaxDictionarySamplingTenants) return;
    if (Current(tenant).dict != nullptr) return;  // installed since the caller looked
    it = sampling_.emplace(std::string(tenant), Sampling{}).first;
  }
  Sampling& s = it->second;
  if (s.queued) return;
  for (const std::string_view r : records) {
    if (s.bytes >= options_.sample_bytes) break;
    const std::string_view kept = r.substr(0, kMaxSampleRecordBytes);
    s.samples.emplace_back(kept);
    s.bytes += kept.size();
  }
  if (s.bytes < options_.sample_bytes) return;
  s.queued = true;
  jobs_.push_back(it->first);
  if (!trainer_.joinable()) trainer_ = std::thread([this] { TrainLoop(); });
  work_cv_.notify_one();
}

void DictionaryRegistry::TrainLoop() {
  std::unique_lock lock(sample_mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) break;
    const std::string tenant = std::move(jobs_.front());
    jobs_.pop_front();
    std::vector<std::string> samples = std::move(sampling_[tenant].samples);
    busy_ = true;
    lock.unlock();
    auto trained = codec::TrainDictionary(samples, options_.dictionary_bytes);
    samples.clear();
    Status s = trained.ok() ? Install(tenant, std::move(*trained)).status() : trained.status();
    lock.lock();
    sampling_.erase(tenant);
    if (s.ok()) {
      metrics_.trained.fetch_add(1);
    } else {
      metrics_.training_failures.fetch_add(1);
      if (gave_up_.size() < kMaxGaveUp) gave_up_.insert(tenant);
      WB_LOG(kWarn, "dictionary_training_failed").Kv("error", s.ToString());
    }
    busy_ = false;
    idle_cv_.notify_all();
  }
  busy_ = false;
  idle_cv_.notify_all();
}

void DictionaryRegistry::WaitIdle() {
  std::unique_lock lock(sample_mu_);
  idle_cv_.wait(lock, [this] { return stopping_ || (jobs_.empty() && !busy_); });
}

void DictionaryRegistry::Stop() {
  {
    std::lock_guard lock(sample_mu_);
    stopping_ = true;
    jobs_.clear();
    sampling_.clear();
    work_cv_.notify_all();
    idle_cv_.notify_all();
  }
  if (trainer_.joinable()) trainer_.join();
}

}  // namespace warbler::engine::dict
