// Every hard limit in Warbler, in one place. Options may lower a limit; none
// may exceed it. Related limits are checked against each other below.
#pragma once

#include <cstddef>
#include <cstdint>

namespace warbler::limits {

// ---- io ----
// Largest number of operations one FileSystem::Submit call accepts.
inline constexpr size_t kIoMaxOpsPerSubmit = 4096;
// Submission queue entries of each io_uring ring.
inline constexpr unsigned kUringQueueDepth = 256;
// io_uring rings kept by one UringFileSystem (one per concurrent submitter).
inline constexpr size_t kUringMaxRings = 64;
// Groups one io_uring ring (an IoQueue) may have started and not yet waited for.
inline constexpr size_t kUringMaxGroupsInFlight = 64;
// Retries of one operation after EINTR/EAGAIN/short transfers before giving up.
inline constexpr int kIoMaxRetries = 1000;
// Alignment required by O_DIRECT buffers, offsets and lengths.
inline constexpr size_t kDirectIoAlignment = 4096;

// ---- messages (hard caps; options choose lower defaults) ----
inline constexpr size_t kMaxBodyBytes = 1 << 20;          // 1 MiB
inline constexpr size_t kMaxSenderBytes = 255;
inline constexpr size_t kMaxClientMessageIdBytes = 64;
inline constexpr size_t kMaxTenantBytes = 255;
inline constexpr size_t kMaxConversationBytes = 255;

// ---- log ----
inline constexpr uint32_t kMaxPartitions = 1024;
inline constexpr uint32_t kMaxRecordsPerBatch = 65536;
// Largest encoded batch payload; a batch never exceeds it.
inline constexpr size_t kMaxBatchPayloadBytes = 16u << 20;  // 16 MiB
// Largest encoded record (body + ids + framing).
inline constexpr size_t kMaxRecordBytes =
    kMaxBodyBytes + kMaxSenderBytes + kMaxClientMessageIdBytes + kMaxTenantBytes +
    kMaxConversationBytes + 128;
inline constexpr uint64_t kMinSegmentBytes = 1u << 20;            // 1 MiB
inline constexpr uint64_t kMaxSegmentBytes = 4ull << 30;          // 4 GiB
// Pending appends per partition before Append returns ResourceExhausted.
inline constexpr size_t kMaxAppendQueueDepth = 1 << 20;
// Largest append request (one call's records, estimated encoded bytes).
inline constexpr size_t kMaxAppendRequestBytes = 8u << 20;  // 8 MiB (Kafka's max.request.size is 1 MB)
// Unacknowledged writes never reach further than this past the durable end of
// the active segment, so recovery looks only this far past the last valid
// batch for a valid batch after damage (docs/format.md "Reader rules").
inline constexpr uint64_t kMaxUnsyncedSpanBytes = 16u << 20;  // 16 MiB
static_assert(kMaxAppendRequestBytes * 2 <= kMaxUnsyncedSpanBytes, "a lone request fits the span");

// ---- keys (docs/security.md) ----
// DEKs one keyring holds (all owners, all rotations).
inline constexpr size_t kMaxKeyringEntries = 65536;
// Largest keyring file; an entry is at most 4 + 1 + 255 + 1 + 8 + 32 bytes.
inline constexpr size_t kMaxKeyringBytes = 32u << 20;  // 32 MiB

// ---- zstd dictionaries (docs/format.md "Dictionary files") ----
// Dictionaries one store holds: ids are the 16-bit batch header field, never reused.
inline constexpr uint32_t kMaxDictionaries = 65535;
// Largest dictionary (StoreOptions::dictionary_max_bytes is at most this).
inline constexpr size_t kMaxDictionaryBytes = 1u << 20;  // 1 MiB
// Largest dictionary file: 64-byte header, tenant, dictionary, GCM tag, checksum.
inline constexpr size_t kMaxDictionaryFileBytes = 64 + 1 + kMaxTenantBytes + kMaxDictionaryBytes + 16 + 8;
// Tenants whose records are sampled for training at the same time; with
// StoreOptions::dictionary_sample_bytes this bounds the sampling memory.
inline constexpr size_t kMaxDictionarySamplingTenants = 16;

static_assert(kMaxRecordBytes < kMaxBatchPayloadBytes, "a record must fit in a batch");
static_assert(kMaxBatchPayloadBytes < kMinSegmentBytes * 32, "batches must fit in segments");
static_assert(kMaxSegmentBytes < (1ull << 32) * 4096, "segment positions fit 32-bit pages");
static_assert(kMaxKeyringEntries * (4 + 1 + kMaxTenantBytes + 1 + 8 + 32) + 4 + 88 <=
                  kMaxKeyringBytes,
              "a full keyring fits the keyring size limit");

}  // namespace warbler::limits
