// Record: one chat message as stored in the log (docs/format.md "Records").
// Record owns its bytes (what appenders hand to the log); RecordView points
// into a decoded batch buffer (what readers get). Values; no thread-safety.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warbler::engine {

struct Record {
  uint8_t flags = 0;          // format::kRecordTombstone …; kRecordHasClientId is derived
  uint64_t timestamp_us = 0;  // server time; 0 = let the log assign it
  uint64_t seq = 0;           // per-conversation sequence (0 = none)
  std::string tenant;
  std::string conversation;
  std::string client_id;      // optional client message id (idempotency)
  std::string sender;
  std::string body;

  // Not stored; set on the writer thread while appending. `offset` is the
  // record's log offset. `duplicate` marks a retry found by the append hook:
  // it carries the original's seq, timestamp and offset and is not written.
  uint64_t offset = 0;
  bool duplicate = false;
};

struct RecordView {
  uint8_t flags = 0;
  uint64_t timestamp_us = 0;
  uint64_t seq = 0;
  uint64_t offset = 0;  // log offset
  std::string_view tenant;
  std::string_view conversation;
  std::string_view client_id;
  std::string_view sender;
  std::string_view body;

  Record ToRecord() const;
};

// Checks a record against the hard limits in base/limits.h; InvalidArgument
// naming the limit otherwise.
Status ValidateRecord(const Record& r);

// Bytes EncodeRecord will append (exact).
size_t EncodedRecordSize(const Record& r, uint64_t first_timestamp_us);

// Appends the encoding of `r` to `out`. REQUIRES: r.timestamp_us >= first_timestamp_us.
void EncodeRecord(const Record& r, uint64_t first_timestamp_us, std::string* out);

// Decodes one record from `in` (advancing it). Corruption on malformed input.
Status DecodeRecord(std::string_view* in, uint64_t first_timestamp_us, RecordView* out);

}  // namespace warbler::engine
