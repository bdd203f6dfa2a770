// CommittedMark: the durable "committed up to" offset of a partition
// (docs/format.md "COMMITTED"). Two checksummed slots written alternately, so
// a torn write never loses the previous mark.
// Thread-safety: Store and value() may be called concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "io/file_system.h"

namespace warbler::engine {

class CommittedMark {
 public:
  // Opens (creating if missing) the mark file; a missing or unreadable file means 0.
  static Result<std::unique_ptr<CommittedMark>> Open(io::FileSystem* fs, const std::string& path,
                                                     bool read_only);
  uint64_t value() const { return value_.load(std::memory_order_acquire); }
  // Writes and fdatasyncs the mark. REQUIRES: not opened read-only.
  Status Store(uint64_t offset);

  CommittedMark(std::unique_ptr<io::File> file, uint64_t value, uint64_t generation)
      : file_(std::move(file)), value_(value), generation_(generation) {}

 private:
  std::mutex mu_;
  std::unique_ptr<io::File> file_;
  std::atomic<uint64_t> value_;
  uint64_t generation_;
};

}  // namespace warbler::engine
