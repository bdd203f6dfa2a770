// The conversation index file of a sealed segment (`*.cix`, docs/index.md
// "Conversation index file"): encoding and decoding. Pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/conv/conv_id.h"
#include "engine/conv/directory.h"

namespace warbler::engine::cix {

inline constexpr uint32_t kMagic = 0x58434257;  // "WBCX"
// Version 2 adds the flags field (version 1: 0); both are read.
inline constexpr uint16_t kVersion = 2;
// The directory section is empty: the directory at this segment's end is the
// newest earlier snapshot's, updated by the runs sections written since.
inline constexpr uint16_t kFlagNoDirectory = 1;
inline constexpr size_t kHeaderSize = 64;
inline constexpr size_t kRunsEntryFixed = 56;  // bytes of a runs entry before its refs
inline constexpr size_t kRefSize = 16;
inline constexpr size_t kDirEntrySize = 40;
inline constexpr size_t kDedupEntrySize = 40;

struct Header {
  uint32_t partition = 0;
  uint32_t ordinal = 0;
  uint64_t segment_base = 0;
  uint64_t segment_next = 0;
  uint64_t runs_bytes = 0;
  uint64_t dir_count = 0;
  uint64_t dedup_count = 0;
  bool has_directory = true;  // false: kFlagNoDirectory (dir_count is 0)

  uint64_t dir_offset() const { return kHeaderSize + runs_bytes; }
  uint64_t dedup_offset() const { return dir_offset() + dir_count * kDirEntrySize + 8; }
  uint64_t file_size() const { return dedup_offset() + dedup_count * kDedupEntrySize + 8; }
};

// A conversation's records in one batch: they start at `first_seq` (and run
// up to the next ref's first seq, or the entry's last seq).
struct BatchRef {
  uint64_t first_seq = 0;
  uint32_t position = 0;
  uint32_t size = 0;
};

struct RunsEntry {
  ConvId id;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t last_ts = 0;
  uint32_t prev_ordinal = kNoOrdinal;
  uint32_t prev_pos8 = 0;
  std::vector<BatchRef> refs;
};

struct DedupEntry {
  ConvId id;  // dedup id
  uint64_t seq = 0;
  uint64_t ts = 0;
  uint64_t offset = 0;
};

void EncodeHeader(const Header& h, std::string* out);  // appends 64 bytes
// Corruption (bad magic or checksum) or NotSupported (newer version).
Status DecodeHeader(std::span<const std::byte> in, Header* h);

size_t RunsEntrySize(size_t refs);
// Appends the entry; REQUIRES out->size() % 8 == 0.
void AppendRunsEntry(const RunsEntry& e, std::string* out);
// Reads the ref count from the first kRunsEntryFixed bytes (to size a read).
Result<uint32_t> PeekRefCount(std::span<const std::byte> in);
// Decodes and verifies one entry starting at in[0].
Status DecodeRunsEntry(std::span<const std::byte> in, RunsEntry* e);
// Decodes a whole runs section (the `runs_bytes` after the header), calling
// `fn` with each entry and its position in the file / 8.
Status DecodeRunsSection(std::span<const std::byte> in,
                         const std::function<void(const RunsEntry&, uint32_t pos8)>& fn);

void AppendDirEntry(const DirEntry& e, std::string* out);
void AppendDedupEntry(const DedupEntry& e, std::string* out);
// Appends the XXH3-64 of out[from, end) (section trailers).
void AppendSectionChecksum(size_t from, std::string* out);
// Verifies a section of n fixed-size entries followed by its checksum and calls
// `fn` on each decoded entry.
Status DecodeDirSection(std::span<const std::byte> in, uint64_t n,
                        const std::function<void(const DirEntry&)>& fn);
Status DecodeDedupSection(std::span<const std::byte> in, uint64_t n,
                          const std::function<void(const DedupEntry&)>& fn);

}  // namespace warbler::engine::cix
