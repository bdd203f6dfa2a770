// DictionaryRegistry: the zstd dictionaries of one store (docs/format.md
// "Dictionary files", docs/security.md "Compression dictionaries").
//
// - Open loads every <data>/dicts/NNNNN.zdict (unsealing it with the
//   keyring in an encrypted store) and removes leftover temp files. A file
//   that does not load (damaged, sealed under a destroyed DEK, another
//   store's) does not fail Open: it is logged, counted, and Lookup of its id
//   returns the reason, so only the batches that need it fail to read.
// - Lookup(id) serves DecodeBatch; Current(tenant) picks the dictionary new
//   batches of a tenant are compressed with (the tenant's highest id).
// - Training: Sample keeps a copy of the first `sample_bytes` of encoded
//   records of up to limits::kMaxDictionarySamplingTenants tenants at a
//   time; once a tenant's sample is full, a background thread trains a
//   dictionary (ZDICT_trainFromBuffer), writes its file durably and only
//   then makes it current. A tenant whose training fails is not retried
//   until the store reopens. Memory: at most kMaxDictionarySamplingTenants ×
//   sample_bytes of samples, plus the loaded dictionaries (memory_bytes()).
//
// Thread-safety: all methods may be called concurrently. Readers copy a
// pointer to an immutable state under a short mutex (as crypto::Keyring);
// Install is serialized and publishes a new state after the file is durable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "engine/codec/dictionary_source.h"
#include "engine/dict/dict_file.h"
#include "io/file_system.h"

namespace warbler::engine::dict {

struct RegistryOptions {
  // Sample records and train dictionaries. false: load and look up only
  // (every store loads its dictionaries, so batches written with one always
  // read). Default true.
  bool train = true;
  // Encoded record bytes sampled per tenant before training. Default 256 KiB;
  // 16 KiB .. 16 MiB. A record contributes at most kMaxSampleRecordBytes.
  size_t sample_bytes = 256u << 10;
  // Capacity of a trained dictionary. Default 16 KiB; 1 KiB .. limits::kMaxDictionaryBytes.
  size_t dictionary_bytes = 16u << 10;
  // Dictionaries trained at most (across tenants, counting loaded ones), to
  // bound their memory (measured: 124 KiB for a 16 KiB dictionary at level
  // 1, i.e. ~8 × dictionary_bytes, CDict and DDict included).
  // Default 256; 0 .. limits::kMaxDictionaries.
  uint32_t max_count = 256;
  // zstd level the dictionaries compress at (StoreOptions::zstd_level).
  int zstd_level = 1;
  Clock* clock = nullptr;  // creation times; nullptr = Clock::Real()
};

// Counters; read at any time.
struct DictionaryMetrics {
  std::atomic<uint64_t> loaded{0};             // dictionaries usable since Open
  std::atomic<uint64_t> unavailable{0};        // files that did not load at Open
  std::atomic<uint64_t> trained{0};            // dictionaries trained and installed
  std::atomic<uint64_t> training_failures{0};  // training or install failed
};

class DictionaryRegistry final : public codec::DictionarySource {
 public:
  // Size of a single sample kept from one record.
  static constexpr size_t kMaxSampleRecordBytes = 4096;

  // Loads <data_dir>/dicts. `keys` (nullptr for a store without encryption)
  // unseals the files and seals new ones; it must outlive the registry.
  // Errors: I/O errors listing or reading the directory (retryable), and
  // InvalidArgument for options out of range. Damaged files do not fail Open.
  static Result<std::unique_ptr<DictionaryRegistry>> Open(io::FileSystem* fs, std::string data_dir,
                                                         const StoreId& store,
                                                         crypto::KeySource* keys,
                                                         const RegistryOptions& options);
  ~DictionaryRegistry() override;
  DictionaryRegistry(const DictionaryRegistry&) = delete;
  DictionaryRegistry& operator=(const DictionaryRegistry&) = delete;

  // ---- DictionarySource ----
  Result<std::shared_ptr<const codec::ZstdDictionary>> Lookup(uint16_t id) const override;
  codec::ActiveDictionary Current(std::string_view tenant) const override;
  void Sample(std::string_view tenant, std::span<const std::string_view> records) override;

  // Makes `dictionary` (zstd dictionary bytes) the current dictionary of
  // `tenant` under a new id, durably: the file and its directory are synced
  // before Current can return it, so no batch names a dictionary that a crash
  // could lose. Errors: InvalidArgument (not a zstd dictionary, too large),
  // ResourceExhausted (max_count or 65535 ids used), key and I/O errors as
  // they are. An id is never handed out twice, even after a failed Install.
  Result<uint16_t> Install(std::string_view tenant, std::string dictionary);

  // Blocks until no training is queued or running (tests, benchmarks).
  void WaitIdle();
  // Stops the training thread: a training in progress finishes, queued ones
  // are dropped and Sample keeps nothing more. Idempotent.
  void Stop();

  size_t count() const;         // usable dictionaries
  size_t memory_bytes() const;  // resident bytes of the usable dictionaries
  const DictionaryMetrics& metrics() const { return metrics_; }

 private:
  struct State {
    std::map<uint16_t, std::shared_ptr<const codec::ZstdDictionary>> dicts;
    std::map<uint16_t, Status> unavailable;  // files that did not load, and why
    std::map<std::string, uint16_t, std::less<>> current;  // tenant -> highest id
  };
  struct Sampling {
    std::vector<std::string> samples;
    size_t bytes = 0;
    bool queued = false;
  };

  DictionaryRegistry(io::FileSystem* fs, std::string data_dir, const StoreId& store,
                     crypto::KeySource* keys, const RegistryOptions& options);
  Status Load();
  std::shared_ptr<const State> Snapshot() const;
  void TrainLoop();

  io::FileSystem* const fs_;
  const std::string data_dir_;
  const StoreId store_;
  crypto::KeySource* const keys_;
  const RegistryOptions options_;
  Clock* const clock_;
  DictionaryMetrics metrics_;

  std::mutex install_mu_;  // serializes Install; held across the file write
  uint32_t next_id_ = 1;   // guarded by install_mu_

  mutable std::mutex mu_;               // guards the pointer state_
  std::shared_ptr<const State> state_;  // immutable once published

  std::mutex sample_mu_;  // guards everything below
  std::condition_variable work_cv_, idle_cv_;
  std::map<std::string, Sampling, std::less<>> sampling_;  // ≤ kMaxDictionarySamplingTenants
  std::set<std::string, std::less<>> gave_up_;             // training failed; bounded
  std::deque<std::string> jobs_;                           // tenants ready to train
  bool busy_ = false;
  bool stopping_ = false;
  std::thread trainer_;  // started by the first job
};

}  // namespace warbler::engine::dict
