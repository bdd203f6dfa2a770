// Log: a store's partitioned log — P PartitionLogs under one data directory,
// the directory lock, and the STORE meta file (docs/format.md "STORE").
// Records map to partitions by the caller (the conversation layer hashes
// tenant+conversation); this class only owns and opens them.
// Thread-safety: partition() pointers are stable until Close; all
// PartitionLog methods are thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/log/partition_log.h"
#include "io/file_system.h"

namespace warbler::engine {

struct LogOpenOptions {
  // Number of partitions, fixed at creation. Default 4; 1 .. limits::kMaxPartitions.
  uint32_t partitions = 4;
  // Create the store if the directory holds none. Default true.
  bool create_if_missing = true;
  LogOptions log;
  // Gives partition p its append hook (LogOptions::hook); empty = none.
  std::function<AppendHook*(uint32_t partition)> hook_for;
  // Runs once the store's identity is known (STORE read, or written when
  // `created`) and before any partition opens: the place to open keys the
  // partitions need to read their data. An error fails Open.
  std::function<Status(const StoreUuid& uuid, bool created)> on_meta;
  // Adjusts partition p's LogOptions (e.g. its batch cipher and key source).
  std::function<void(uint32_t partition, LogOptions* options)> customize;
};

class Log {
 public:
  // Locks `dir` (Busy if another process holds it), creates or validates
  // STORE, and opens every partition.
  static Result<std::unique_ptr<Log>> Open(io::FileSystem* fs, const std::string& dir,
                                           const LogOpenOptions& options);
  ~Log();
  // Closes every partition (making acknowledged appends durable), then unlocks.
  Status Close();

  uint32_t partition_count() const { return static_cast<uint32_t>(partitions_.size()); }
  PartitionLog* partition(uint32_t p) { return partitions_.at(p).get(); }
  const StoreUuid& uuid() const { return uuid_; }

 private:
  Log() = default;
  static Status CreateMeta(io::FileSystem* fs, const std::string& dir, uint32_t partitions,
                           StoreUuid* uuid);
  static Status ReadMeta(io::FileSystem* fs, const std::string& dir, uint32_t* partitions,
                         StoreUuid* uuid);

  std::unique_ptr<io::DirLock> lock_;
  StoreUuid uuid_{};
  std::vector<std::unique_ptr<PartitionLog>> partitions_;
};

}  // namespace warbler::engine
