// Options of the public Store API, with their defaults and ranges. Every limit
// here is documented in docs/index.md and checked by Store::Open.
#pragma once

#include <cstddef>
#include <cstdint>

namespace warbler {

enum class DurabilityMode : uint8_t {
  kSync,      // default: acknowledged after fdatasync
  kInterval,  // acknowledged after write; fdatasync at least every sync_interval_ms
  kNone,      // acknowledged after write; fdatasync at seal and close only
};

// What Open does when stored data is damaged in a way a crash cannot explain
// (docs/format.md "Reader rules"): a torn or zeroed tail is always cut.
enum class RecoveryMode : uint8_t {
  kStrict,      // default: refuse to open (Corruption naming file and position)
  kQuarantine,  // keep a copy of the damaged file under quarantine/, cut the log there, open
};

enum class IoBackend : uint8_t {
  kAuto,   // io_uring if the kernel allows it, otherwise POSIX (WARBLER_IO overrides)
  kUring,
  kPosix,
};

struct StoreOptions {
  // ---- layout (fixed when the store is created) ----
  uint32_t partitions = 4;            // 1 .. 1024
  bool create_if_missing = true;

  // ---- log ----
  uint64_t segment_bytes = 256ull << 20;  // 1 MiB .. 4 GiB
  DurabilityMode durability = DurabilityMode::kSync;
  uint32_t sync_interval_ms = 10;         // kInterval only; 1 .. 60000
  bool compress = true;                   // zstd per batch
  int zstd_level = 1;
  // zstd dictionaries per tenant (docs/format.md "Dictionary files"): the
  // first dictionary_sample_bytes of a tenant's records are sampled, a
  // dictionary is trained from them in the background and stored in
  // <dir>/dicts/ (encrypted like the batches), and later batches of the
  // tenant are compressed with it. Only with `compress`. Off: nothing is
  // trained and new batches use no dictionary; dictionaries already stored
  // are always loaded, so their batches read either way.
  bool compression_dictionaries = true;
  size_t dictionary_sample_bytes = 256u << 10;  // per tenant; 16 KiB .. 16 MiB
  size_t dictionary_max_bytes = 16u << 10;      // per dictionary; 1 KiB .. 1 MiB
  // Dictionaries the store trains at most; further tenants get none. Each
  // stays resident: ~8 × dictionary_max_bytes (124 KiB for 16 KiB at level
  // 1), so 256 of them take ~31 MiB.
  uint32_t dictionary_max_count = 256;          // 0 .. 65535
  // Memory for the index of the partitions' unsealed segments, bytes across
  // the store (docs/index.md "Resident state"): a partition seals its active
  // segment (writing its .cix) once its tail index reaches its share,
  // tail_index_bytes / partitions, as it would at segment_bytes. Bounds both
  // that memory and what open has to scan. 1 MiB .. 16 GiB.
  size_t tail_index_bytes = 32u << 20;
  size_t queue_capacity = 65536;          // pending appends per partition
  IoBackend io = IoBackend::kAuto;
  RecoveryMode recovery = RecoveryMode::kStrict;

  // ---- message limits (InvalidArgument naming the limit when broken) ----
  size_t max_body_bytes = 64u << 10;     // hard cap 1 MiB
  size_t max_sender_bytes = 255;         // hard cap 255
  size_t max_client_id_bytes = 64;       // hard cap 64
  size_t max_read_count = 1000;          // n per Latest/Before/After; hard cap 10,000

  // ---- idempotency ----
  // A client id is remembered for this long after its message was written...
  uint64_t dedup_window_ms = 5 * 60 * 1000;  // 1 s .. 7 days
  // ...and at most this many client ids per partition (oldest forgotten first).
  size_t dedup_max_entries = 65536;          // 1 .. 16 Mi

  // ---- encryption at rest (docs/security.md) ----
  // On by default: every batch is compressed, then sealed with AES-256-GCM
  // under a data key from the store's keyring (<dir>/KEYRING), which the
  // key-encryption key (KEK) wraps. A new store without a KEK is refused.
  bool encryption = true;
  // The KEK: a file of mode 0600 made by `warbler keygen --kek FILE`, kept
  // outside the data directory; empty = the WARBLER_KEK environment variable.
  std::string kek_file;
  // During a KEK rotation that a crash interrupted: the old KEK's file, so
  // the keyring still opens (and is re-wrapped under kek_file).
  std::string previous_kek_file;

  // ---- caches ----
  // Decoded batches kept for reads, bytes across the store (0 disables).
  size_t block_cache_bytes = 64u << 20;
  // The newest messages (up to 64) of recently read or created conversations,
  // decoded, bytes across the store (0 disables). Serves newest-n and
  // after-seq reads without touching the log (docs/index.md).
  size_t recent_cache_bytes = 64u << 20;
};

}  // namespace warbler
