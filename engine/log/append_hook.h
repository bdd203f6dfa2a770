// AppendHook: lets the layer above the log (the conversation index) take part
// in appends on the partition's writer thread — assign per-conversation
// sequence numbers, answer retries, index what became durable, and roll all
// of it back exactly when writes fail or the log is truncated.
//
// Every method runs on the writer thread of one partition (Recover runs in
// PartitionLog::Open before that thread starts), never concurrently with
// another method of the same hook. A hook must not call back into the log's
// append or truncate methods.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "engine/log/record.h"

namespace warbler::engine {

class PartitionLog;

// Where one stored batch is: segment, file position and stored size.
struct BatchLocation {
  uint64_t segment_base = 0;
  uint64_t position = 0;
  uint32_t size = 0;
  uint64_t base_offset = 0;  // first record offset
  uint32_t count = 0;        // records
};

class AppendHook {
 public:
  virtual ~AppendHook() = default;

  // Rebuilds the hook's state from the opened log (no appends run yet).
  virtual Status Recover(PartitionLog* log) = 0;
  // Largest timestamp the hook has seen (the log never stamps below it).
  virtual uint64_t max_timestamp_us() const = 0;

  // True if some record repeats a client id whose original is still pending
  // (assigned but not yet durable): the log then completes every group in
  // flight before it assigns these records.
  virtual bool NeedsDrain(const std::vector<Record>& records) = 0;
  // Called for each record before it is encoded, in log order. Either assigns
  // `r->seq` (and may raise `r->timestamp_us`) for a record that will get log
  // offset `offset`, or marks it `duplicate` with the original's seq,
  // timestamp and offset (then it is not written and does not use `offset`).
  // `*r` stays alive and unchanged until the OnDurable or OnAbandon that
  // covers `offset` has returned (the hook may keep the pointer till then).
  virtual void Assign(Record* r, uint64_t offset) = 0;
  // Every pending record with offset < the end of `batches` is durable in
  // these batches of the active segment. Runs before the appenders' callbacks.
  virtual void OnDurable(std::span<const BatchLocation> batches) = 0;
  // Every pending assignment at or after `offset` is void (its write failed).
  virtual void OnAbandon(uint64_t offset) = 0;
  // The active segment [base, next_offset) is sealed and synced; called before
  // the next segment is created. An error keeps the log on the old segment.
  virtual Status OnSeal(PartitionLog* log, uint64_t segment_base, uint64_t next_offset) = 0;
  // How full the hook's resident index of the active segment is against its
  // budget (0 = no budget). From 1 on, the log seals the segment before its
  // next group, as it does at the segment's size or age; from 1/2 on, it
  // prepares the next segment file. Writer thread.
  virtual double index_fill() const { return 0; }
  // The log was cut at `offset`; the state must become that of a log that
  // never held anything from `offset` on.
  virtual Status OnTruncate(PartitionLog* log, uint64_t offset) = 0;
};

}  // namespace warbler::engine
