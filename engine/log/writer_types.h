// Internal to PartitionLog: what travels through its queue and its pipeline.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/log/partition_log.h"

namespace warbler::engine {

struct PartitionLog::Request {
  std::vector<Record> records;
  AppendCallback done;
  // A control request (truncation, barrier) runs on the writer thread once
  // everything queued before it is acknowledged; `control_done` gets its status.
  std::function<Status()> control;
  std::function<void(const Status&)> control_done;
};

struct PartitionLog::Group {
  std::vector<Request> requests;
  std::vector<AppendResult> results;  // one per request
  std::string buf;                    // encoded batches
  std::vector<std::pair<BatchHeader, uint64_t>> batches;  // header, file position
  std::shared_ptr<Segment> segment;
  uint64_t start_pos = 0;
  uint64_t end_pos = 0;
  uint64_t zero_end = 0;  // stale bytes up to here are zeroed by this group
  uint64_t base_offset = 0;
  uint64_t next_offset = 0;
  uint64_t last_term = 0;
  bool synced = false;
  std::vector<io::IoOp> ops;
  uint64_t ticket = 0;
};

}  // namespace warbler::engine
