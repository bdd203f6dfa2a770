// The implementation of warbler::Store (include/warbler/store.h) over the
// partitioned log and the per-partition conversation state. Internal: tests
// use OpenStore to inject a file system (fault injection) and a clock.
#pragma once

#include <memory>
#include <string>

#include "base/clock.h"
#include "io/file_system.h"
#include "warbler/store.h"

namespace warbler::engine {
namespace dict {
class DictionaryRegistry;
}  // namespace dict

struct StoreInternals {
  io::FileSystem* fs = nullptr;  // not owned; nullptr = the default (io_uring or POSIX)
  Clock* clock = nullptr;        // nullptr = Clock::Real()
  // Overrides of log tuning not exposed in StoreOptions (tests, benchmarks).
  uint32_t linger_us = 0;
  size_t max_inflight_groups = 2;
  size_t encode_offload_min_bytes = 64u << 10;  // LogOptions::encode_offload_min_bytes
  // Tail index budget per partition, bytes, in place of the share of
  // StoreOptions::tail_index_bytes (and its floor); 0 = that share.
  size_t tail_index_bytes_per_partition = 0;
};

// Checks every option against its documented range (docs/index.md).
Status ValidateStoreOptions(const StoreOptions& options);

Result<std::unique_ptr<Store>> OpenStore(const StoreOptions& options, const std::string& dir,
                                         const StoreInternals& internals);

// Drops every message of `partition` from log offset `offset` on (a batch
// boundary at or above the committed mark), rolling back seqs, the index and
// the dedup window exactly. For replication (Raft) and tests.
// REQUIRES: `store` was opened by OpenStore / Store::Open.
Status TruncatePartition(Store* store, uint32_t partition, uint64_t offset);
// The next log offset of a partition (where the next append lands).
uint64_t PartitionNextOffset(Store* store, uint32_t partition);
// The store's zstd dictionaries (engine/dict/dictionary_registry.h), e.g. to
// wait for training in tests. Valid until the store is destroyed.
dict::DictionaryRegistry* StoreDictionaries(Store* store);

}  // namespace warbler::engine
