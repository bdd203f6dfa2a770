// OffsetIndex: the sparse "log offset -> file position" index of one segment
// (docs/format.md "Sparse offset index"). In memory for every segment
// (8 bytes per entry; with the default 32 KiB interval a full 256 MiB segment
// costs 64 KiB), persisted as `*.idx` when the segment is sealed.
// Thread-safety: none; the owning Segment guards it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace warbler::engine {

class OffsetIndex {
 public:
  struct Entry {
    uint32_t relative_offset;  // offset - segment base
    uint32_t position;         // file position of a batch header
  };

  OffsetIndex(uint64_t base_offset, uint32_t interval_bytes)
      : base_offset_(base_offset), interval_bytes_(interval_bytes) {}

  // Called for every batch in log order; records an entry when the batch
  // starts at least interval_bytes after the previous entry (and for the first).
  void OnBatch(uint64_t base_offset, uint64_t position);
  // Drops entries at or after `position` (suffix truncation).
  void TruncateAt(uint64_t position);
  // Position of the last indexed batch whose base offset <= `offset`
  // (the segment's first batch position if none).
  uint64_t Lookup(uint64_t offset) const;

  // Serialises with the segment's next offset and data end, checksummed.
  std::string Encode(uint64_t next_offset, uint64_t data_end) const;
  // Parses an .idx file; Corruption on any mismatch.
  static Result<OffsetIndex> Decode(std::string_view bytes, uint64_t expected_base,
                                    uint32_t interval_bytes, uint64_t* next_offset,
                                    uint64_t* data_end);

  const std::vector<Entry>& entries() const { return entries_; }
  size_t memory_bytes() const { return entries_.capacity() * sizeof(Entry); }

 private:
  uint64_t base_offset_;
  uint32_t interval_bytes_;
  std::vector<Entry> entries_;
};

}  // namespace warbler::engine
