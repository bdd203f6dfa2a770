// Helpers shared by the partition-log tests.
#pragma once

#include <string>
#include <vector>

#include "engine/log/partition_log.h"

namespace warbler::engine::testing {

inline StoreUuid TestUuid() {
  StoreUuid u{};
  for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<uint8_t>(i + 1);
  return u;
}

inline Record Msg(const std::string& body, const std::string& conv = "c") {
  Record r;
  r.tenant = "t";
  r.conversation = conv;
  r.sender = "s";
  r.body = body;
  return r;
}

// Small segments so rolls happen in tests.
inline LogOptions SmallLog() {
  LogOptions o;
  o.segment_bytes = 1u << 20;
  o.preallocate = Preallocate::kNone;
  o.index_interval_bytes = 4096;
  return o;
}

// Every record body from `from` to the end, in order.
inline std::vector<std::string> ReadAllBodies(PartitionLog* log, uint64_t from = 0) {
  std::vector<std::string> out;
  uint64_t next = from;
  while (next < log->next_offset()) {
    auto batches = log->Read(next);
    if (!batches.ok() || batches->empty()) break;
    for (const auto& b : *batches) {
      for (const auto& r : b.records) {
        if (r.offset >= next) out.emplace_back(r.body);
      }
      next = b.header.next_offset();
    }
  }
  return out;
}

}  // namespace warbler::engine::testing
