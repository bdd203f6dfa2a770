// Options of the partition log. Every field: default, unit, limits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/clock.h"
#include "engine/log/batch.h"
#include "engine/log/segment.h"

namespace warbler::engine {

class AppendHook;
namespace crypto {
class KeySource;
}  // namespace crypto
namespace codec {
class DictionarySource;
}  // namespace codec

// When an append is acknowledged (its callback runs / Append returns).
enum class Durability : uint8_t {
  // After the fdatasync that covers it completed. Nothing acknowledged is ever lost.
  kSync,
  // After its write completed; an fdatasync runs at least every sync_interval_ms.
  // A crash (power loss) may lose what was acknowledged in the last
  // sync_interval_ms plus the group in flight. A kill -9 loses nothing (the
  // data is in the page cache).
  kInterval,
  // After its write completed; fdatasync only when a segment is sealed and at Close.
  kNone,
};

// What Open does when it finds damage that is not a torn tail.
enum class RecoveryMode : uint8_t {
  kStrict,      // fail with Corruption naming file and position (default)
  kReadOnly,    // open read-only; the log ends before the damage; nothing is changed
  kQuarantine,  // copy damaged files to <partition>/quarantine/, then cut the log at the damage
};

struct LogOptions {
  // A segment rolls when the next group would pass its capacity: this size,
  // except that a new log's segments ramp up to it — the first is 8 MiB (or
  // this size if smaller), each next one twice the previous — so the first
  // segment can be zero-filled inside Open and the preparer's zero-filling
  // stays proportional to the data written. Default 256 MiB;
  // limits::kMinSegmentBytes (1 MiB) .. limits::kMaxSegmentBytes (4 GiB).
  uint64_t segment_bytes = 256ull << 20;
  // ... or when the active segment is older than this, in ms (0 = never). Default 7 days.
  uint64_t segment_age_ms = 7ull * 24 * 3600 * 1000;
  // How segment space is reserved at creation. Default kZeroFill: an
  // fdatasync that overwrites written blocks commits no extent metadata and
  // costs about half of one into fallocated (unwritten) space on ext4
  // (docs/benchmarks.md). The zeros are written by the background preparer
  // (below); only a new partition's first (8 MiB) segment is zero-filled
  // inside Open. (It used to be fallocated there, so a new store ran its
  // first 256 MiB per partition on the slower syncs.)
  Preallocate preallocate = Preallocate::kZeroFill;
  // Prepare the next segment file (space reserved per `preallocate`, synced)
  // on a background thread once the active one is half full or 3/4 of its
  // age and appends arrive (an idle log, e.g. one opened to be read,
  // prepares nothing), so a roll only writes a header, renames and syncs
  // the directory.
  // A roll that finds no prepared file ready creates one on the writer thread,
  // with kFallocate in place of kZeroFill so it never writes a whole segment
  // there. Default true.
  bool prepare_next_segment = true;
  // Spacing of sparse offset index entries, bytes. Default 32 KiB; 4 KiB .. 16 MiB.
  uint32_t index_interval_bytes = 32u << 10;
  Durability durability = Durability::kSync;
  // kInterval only: longest time between fdatasyncs, ms. Default 10; 1 .. 60000.
  uint32_t sync_interval_ms = 10;
  // Pending append requests per partition; more get ResourceExhausted.
  // Default 65536; 1 .. limits::kMaxAppendQueueDepth.
  size_t queue_capacity = 65536;
  // Bytes of records one write (group) carries at most. Default 4 MiB; 4 KiB .. 8 MiB
  // (limits::kMaxUnsyncedSpanBytes / 2: recovery looks no further than the span).
  size_t group_max_bytes = 4u << 20;
  // Records per batch. Default 1024; 1 .. 65535.
  size_t batch_max_records = 1024;
  // Uncompressed record bytes per batch. Default 256 KiB; at most kMaxBatchPayloadBytes.
  size_t batch_max_bytes = 256u << 10;
  // Wait up to this long for more appends before writing a group, µs. Default 0
  // (group commit happens naturally while the previous sync runs).
  uint32_t linger_us = 0;
  // Groups written but not yet acknowledged (pipelining depth). Default 2; 1 .. 16.
  size_t max_inflight_groups = 2;
  // A group of at least this many record bytes, written while another is in
  // flight, is encoded (compressed, encrypted) on the encoder thread while the
  // writer completes the group in flight; a smaller one is encoded on the
  // writer, where the thread hand-off would cost more than it overlaps.
  // Default 64 KiB; 0 = every group that can overlap (tests).
  size_t encode_offload_min_bytes = 64u << 10;
  BatchOptions batch;  // compression
  RecoveryMode recovery = RecoveryMode::kStrict;
  Clock* clock = nullptr;  // nullptr = Clock::Real()
  // Writer-thread hook of the layer above (engine/log/append_hook.h); not owned,
  // must outlive the log. nullptr = none.
  AppendHook* hook = nullptr;
  // Keys of an encrypted store (the keyring); not owned. With keys every
  // batch read must be encrypted (a plain one is refused as a downgrade).
  const crypto::KeySource* keys = nullptr;
  // zstd dictionaries batches are decoded with (docs/format.md "Dictionary
  // files"); not owned. nullptr = none: a batch that names a dictionary then
  // fails to read with NotSupported. Encoding uses batch.dictionaries.
  const codec::DictionarySource* dictionaries = nullptr;
};

}  // namespace warbler::engine
