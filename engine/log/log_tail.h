// LogTail: follows a partition log from an offset, returning batches as they
// are acknowledged (the broker side: push services follow the log).
// Owned by one thread; the PartitionLog must outlive it.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/log/partition_log.h"

namespace warbler::engine {

class LogTail {
 public:
  LogTail(PartitionLog* log, uint64_t from, ReadOptions options = {})
      : log_(log), next_(from), options_(options) {}

  // The next acknowledged batches at or after position(), waiting up to
  // `timeout_ms` for one to arrive. Empty on timeout or when the log closes.
  // Records before position() inside the first batch are still included;
  // callers skip them by offset.
  Result<std::vector<DecodedBatch>> Next(uint64_t timeout_ms) {
    if (log_->next_offset() <= next_ && !log_->WaitForOffset(next_, timeout_ms)) {
      return std::vector<DecodedBatch>{};
    }
    WB_ASSIGN_OR_RETURN(auto batches, log_->Read(next_, options_));
    if (!batches.empty()) next_ = batches.back().header.next_offset();
    return batches;
  }

  uint64_t position() const { return next_; }

 private:
  PartitionLog* log_;
  uint64_t next_;
  ReadOptions options_;
};

}  // namespace warbler::engine
