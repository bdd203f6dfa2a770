// Segment: one `*.log` file of a partition (docs/format.md "Segment file").
//
// A segment is created with its header and preallocated space, appended to
// only by its partition's writer while it is the active segment, then sealed
// (trimmed to its data end, `*.idx` written) and immutable from then on.
//
// Ownership: held by shared_ptr in the PartitionLog's segment list, so a
// reader can finish with a segment that a truncation has just removed.
// Thread-safety: the I/O methods are safe to call concurrently (they only
// read the file or the immutable header). The in-memory state (data end,
// next offset, index, sealed) is guarded by the owning PartitionLog's mutex.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/format.h"
#include "engine/log/batch.h"
#include "engine/log/offset_index.h"
#include "io/file_system.h"

namespace warbler::engine {

using StoreUuid = std::array<uint8_t, format::kStoreUuidSize>;

struct SegmentMeta {
  uint32_t partition = 0;
  uint64_t base_offset = 0;
  StoreUuid store_uuid{};
  uint64_t created_wall_us = 0;
};

enum class Preallocate : uint8_t {
  kNone,       // grow the file as batches are appended
  kFallocate,  // fallocate the whole segment up front (unwritten extents)
  kZeroFill,   // write zeros over the whole segment up front (fastest fdatasync later)
};

// Zero-fill writes this much, then syncs it, before the next chunk: a file
// being prepared in the background never puts more writeback than this in
// front of the writer's fdatasyncs. 8 MiB chunks held a sync behind ~8 ms of
// disk writes (p99 6-7 ms at 1,024 appends in flight); 256 KiB keeps it
// near 2 ms (docs/benchmarks.md, "Partition log", 2026-11-29 18:00).
inline constexpr uint64_t kZeroFillChunkBytes = 256u << 10;

// How a scan of a segment ended.
struct ScanResult {
  uint64_t data_end = format::kSegmentHeaderSize;  // position after the last valid batch
  uint64_t next_offset = 0;                        // offset after the last valid batch
  uint64_t last_term = 0;
  uint64_t last_timestamp_us = 0;
  // Bytes after data_end that are not zero (a torn tail to clear), as [data_end, dirty_end).
  uint64_t dirty_end = format::kSegmentHeaderSize;
  // Non-OK when damage is followed by a valid batch (Corruption at `damage_position`)
  // or a batch of an unknown version/flags was met (NotSupported).
  Status damage;
  uint64_t damage_position = 0;
};

class Segment {
 public:
  // Creates the file (exclusive), writes the header, preallocates and syncs the file.
  // The caller syncs the directory.
  static Result<std::shared_ptr<Segment>> Create(io::FileSystem* fs, const std::string& path,
                                                 const SegmentMeta& meta, uint64_t segment_bytes,
                                                 Preallocate prealloc, uint32_t index_interval);

  // The space of a future segment: creates `path` (exclusive), reserves
  // `segment_bytes` per `prealloc` (zero-fill covers the header too) and
  // syncs the file. No header: an all-zero head reads as "no segment" (a
  // torn roll) should the file ever be found under a segment name. Polls
  // `cancel` between zero-fill chunks (Aborted). On error the file is removed.
  static Result<std::unique_ptr<io::File>> CreateSpace(io::FileSystem* fs, const std::string& path,
                                                       uint64_t segment_bytes, Preallocate prealloc,
                                                       const std::atomic<bool>* cancel = nullptr);
  // Makes `space` (a CreateSpace file) the segment at `path`: writes and syncs
  // the header, then renames the file into place. The caller syncs the
  // directory before any append into the segment is acknowledged. On error
  // the file is removed from both names.
  static Result<std::shared_ptr<Segment>> Install(io::FileSystem* fs, std::unique_ptr<io::File> space,
                                                  const std::string& path, const SegmentMeta& meta,
                                                  uint32_t index_interval);
  // Opens an existing segment and checks its header against `expect`
  // (partition, base offset, store uuid).
  static Result<std::shared_ptr<Segment>> Open(io::FileSystem* fs, const std::string& path,
                                               const SegmentMeta& expect, bool read_only,
                                               uint32_t index_interval);

  // Decodes a 64-byte segment header; Corruption / NotSupported on failure.
  static Status DecodeHeader(std::span<const std::byte> in, SegmentMeta* meta);
  static std::array<std::byte, format::kSegmentHeaderSize> EncodeHeader(const SegmentMeta& meta);

  // Scans batches from the header on, calling `on_batch(header, position)` for
  // each valid one, and classifies what follows the last (docs/format.md
  // "Reader rules").
  // After the last valid batch, at most `tail_scan_bytes` are examined (a
  // preallocated segment is mostly zeros; writes never reach further, see
  // limits::kMaxUnsyncedSpanBytes).
  Result<ScanResult> Scan(const std::function<void(const BatchHeader&, uint64_t)>& on_batch,
                          uint64_t tail_scan_bytes = UINT64_MAX);

  // Reads whole raw batches overlapping [from_offset, limit_offset), starting
  // at file position `start` and not reading past `end` (the readable end).
  // Stops after `max_bytes` (at least one batch is returned if any overlaps).
  Status ReadBatches(uint64_t start, uint64_t end, uint64_t from_offset, uint64_t limit_offset,
                     size_t max_bytes, std::vector<std::string>* out);

  // Position of the batch whose base offset is `offset`, walking headers from
  // `start` (a position at or before it); also the term of the batch before it
  // (0 if none was passed). InvalidArgument if `offset` is not a batch boundary.
  Result<uint64_t> FindBatchPosition(uint64_t offset, uint64_t start, uint64_t end,
                                     uint64_t* prev_term);

  const std::string& path() const { return path_; }
  const SegmentMeta& meta() const { return meta_; }
  uint64_t base_offset() const { return meta_.base_offset; }
  io::File* file() const { return file_.get(); }

  // ---- in-memory state; guarded by the owning PartitionLog ----
  uint64_t data_end = format::kSegmentHeaderSize;  // readable/durable end position
  uint64_t next_offset = 0;                        // offset after the last durable batch
  uint64_t last_term = 0;
  bool sealed = false;
  OffsetIndex index;

  Segment(std::string path, const SegmentMeta& meta, std::unique_ptr<io::File> file,
          uint32_t index_interval)
      : index(meta.base_offset, index_interval),
        path_(std::move(path)),
        meta_(meta),
        file_(std::move(file)) {
    next_offset = meta.base_offset;
  }

 private:
  // Looks past a bad position for a valid batch with base offset >= expected
  // and finds the last non-zero byte. Sets result.damage if a batch is found.
  Status ClassifyTail(uint64_t bad_pos, uint64_t expected, uint64_t file_size, ScanResult* result);

  std::string path_;
  SegmentMeta meta_;
  std::unique_ptr<io::File> file_;
};

}  // namespace warbler::engine
