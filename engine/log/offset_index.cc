#include "engine/log/offset_index.h"

#include <algorithm>

#include "base/checksum.h"
#include "base/coding.h"
#include "engine/format.h"

namespace warbler::engine {

void OffsetIndex::OnBatch(uint64_t base_offset, uint64_t position) {
  if (!entries_.empty() && position < entries_.back().position + uint64_t{interval_bytes_}) return;
  entries_.push_back({static_cast<uint32_t>(base_offset - base_offset_),
                      static_cast<uint32_t>(position)});
}

void OffsetIndex::TruncateAt(uint64_t position) {
  while (!entries_.empty() && entries_.back().position >= position) entries_.pop_back();
}

uint64_t OffsetIndex::Lookup(uint64_t offset) const {
  if (entries_.empty() || offset < base_offset_) return format::kSegmentHeaderSize;
  const uint64_t rel = offset - base_offset_;
  auto it = std::upper_bound(entries_.begin(), entries_.end(), rel,
                             [](uint64_t v, const Entry& e) { return v < e.relative_offset; });
  if (it == entries_.begin()) return format::kSegmentHeaderSize;
  return std::prev(it)->position;
}

std::string OffsetIndex::Encode(uint64_t next_offset, uint64_t data_end) const {
  std::string out;
  out.reserve(format::kIndexHeaderSize + entries_.size() * format::kIndexEntrySize + 8);
  PutFixed32(&out, format::kIndexMagic);
  PutFixed16(&out, format::kFormatVersion);
  PutFixed16(&out, 0);
  PutFixed64(&out, base_offset_);
  PutFixed64(&out, next_offset);
  PutFixed64(&out, data_end);
  PutFixed32(&out, static_cast<uint32_t>(entries_.size()));
  PutFixed32(&out, 0);
  for (const Entry& e : entries_) {
    PutFixed32(&out, e.relative_offset);
    PutFixed32(&out, e.position);
  }
  PutFixed64(&out, Checksum64(out.data(), out.size()));
  return out;
}

Result<OffsetIndex> OffsetIndex::Decode(std::string_view bytes, uint64_t expected_base,
                                        uint32_t interval_bytes, uint64_t* next_offset,
                                        uint64_t* data_end) {
  if (bytes.size() < format::kIndexHeaderSize + 8) return Status::Corruption("index truncated");
  const size_t body = bytes.size() - 8;
  Reader tail(bytes.substr(body));
  uint64_t stored;
  (void)tail.GetFixed64(&stored);
  if (Checksum64(bytes.data(), body) != stored) return Status::Corruption("index checksum mismatch");
  Reader r(bytes.substr(0, body));
  uint32_t magic, count, reserved32;
  uint16_t version, reserved16;
  uint64_t base;
  if (!r.GetFixed32(&magic) || !r.GetFixed16(&version) || !r.GetFixed16(&reserved16) ||
      !r.GetFixed64(&base) || !r.GetFixed64(next_offset) || !r.GetFixed64(data_end) ||
      !r.GetFixed32(&count) || !r.GetFixed32(&reserved32)) {
    return Status::Corruption("index header truncated");
  }
  if (magic != format::kIndexMagic) return Status::Corruption("bad index magic");
  if (version != format::kFormatVersion) {
    return Status::NotSupported("index version " + std::to_string(version));
  }
  if (base != expected_base) return Status::Corruption("index base offset mismatch");
  if (r.remaining() != uint64_t{count} * format::kIndexEntrySize) {
    return Status::Corruption("index entry count mismatch");
  }
  OffsetIndex index(base, interval_bytes);
  index.entries_.resize(count);
  for (Entry& e : index.entries_) {
    (void)r.GetFixed32(&e.relative_offset);
    (void)r.GetFixed32(&e.position);
  }
  return index;
}

}  // namespace warbler::engine
