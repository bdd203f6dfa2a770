// Batch: the unit of writing, checksumming, compression and encryption
// (docs/format.md "Batch"). A batch is a 64-byte header plus a payload that
// holds `record_count` records with consecutive log offsets.
//
// BatchBuilder turns records into header+payload bytes; DecodeBatch verifies
// and decodes them. Both are values owned by one thread. Encryption
// (docs/security.md) is optional on both sides: a crypto::BatchCipher in
// BatchOptions seals, a crypto::KeySource given to DecodeBatch opens.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/format.h"
#include "engine/log/record.h"

namespace warbler::engine {

namespace crypto {
class BatchCipher;
class KeySource;
}  // namespace crypto
namespace codec {
class DictionarySource;
}  // namespace codec

struct BatchHeader {
  uint8_t version = format::kBatchVersion;
  uint8_t flags = 0;
  uint16_t dict_id = 0;
  uint16_t record_count = 0;
  uint64_t base_offset = 0;
  uint64_t term = 0;
  uint64_t first_timestamp_us = 0;
  uint32_t max_timestamp_delta_us = 0;
  uint32_t payload_len = 0;
  uint32_t key_id = 0;
  std::array<uint8_t, format::kNonceSize> nonce{};
  uint64_t checksum = 0;

  uint64_t next_offset() const { return base_offset + record_count; }
  uint64_t max_timestamp_us() const { return first_timestamp_us + max_timestamp_delta_us; }
  uint64_t total_size() const { return format::kBatchHeaderSize + payload_len; }
  uint8_t codec() const { return flags & format::kCodecMask; }
};

// Writes the 64 header bytes (the checksum field as given in `h`).
void EncodeBatchHeader(const BatchHeader& h, std::byte* out);

// Parses the header fields and checks what can be checked without the
// payload: magic (Corruption), version and flag bits (NotSupported: written
// by a newer Warbler), record count > 0 and payload length within limits
// (Corruption). Does not verify the checksum.
Status DecodeBatchHeader(std::span<const std::byte> in, BatchHeader* h);

// XXH3-64 over header bytes [0,56) followed by the payload.
uint64_t ComputeBatchChecksum(std::span<const std::byte> header, std::span<const std::byte> payload);

// True if all 64 bytes are zero (preallocated space / zeroed tail).
bool IsZeroHeader(std::span<const std::byte> in);

struct BatchOptions {
  bool compress = true;  // zstd; stored raw when it does not shrink
  int zstd_level = 1;
  // Encryption: when set, the (compressed) payload is sealed with AES-256-GCM
  // under a DEK the cipher picks, header bytes 0..55 as AAD. Default nullptr
  // (stored in the clear). Not owned; must outlive every Finish that uses it.
  // One cipher per writer (per partition log, per rewrite job): nonces are
  // unique per cipher (engine/crypto/batch_cipher.h).
  crypto::BatchCipher* cipher = nullptr;
  // Whose DEK seals the batch: "" (default) the store-wide DEK; a tenant name
  // its current DEK (the store-wide one if it has none), and then every
  // record must belong to that tenant (crypto-shredding), else Finish fails
  // with InvalidArgument. At most limits::kMaxTenantBytes bytes.
  std::string tenant;
  // zstd dictionaries (docs/format.md "Dictionary files"): when set and
  // `compress`, the payload is compressed with the current dictionary of
  // `tenant` if it has one (flag bit 3 and the dictionary id in the header),
  // else without and the encoded records are offered to Sample for training.
  // Default nullptr (no dictionaries). Not owned; must outlive every Finish.
  // The caller makes batches of one tenant each (the partition log does).
  codec::DictionarySource* dictionaries = nullptr;
};

class BatchBuilder {
 public:
  // REQUIRES: `r` passed ValidateRecord, outlives Finish, and has a timestamp.
  void Add(const Record* r) { records_.push_back(r); }
  size_t record_count() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  void Clear() { records_.clear(); }

  // Appends header + payload to `out` and returns the header. Clears the builder.
  // InvalidArgument if the batch breaks a format limit (too many records,
  // timestamps spanning more than 2^32 µs, payload over kMaxBatchPayloadBytes)
  // or holds records of another tenant than options.tenant. With a cipher,
  // errors of its KeySource are returned as they are. On error `out` is as
  // it was.
  Result<BatchHeader> Finish(uint64_t base_offset, uint64_t term, const BatchOptions& options,
                             std::string* out);

 private:
  // Compresses plain_ into `out` (after its current end), with a dictionary
  // when options name one; sets the codec bits and dict id of `h`, or leaves
  // `out` as it was when the result would not be smaller.
  Status Compress(const BatchOptions& options, BatchHeader* h, std::string* out);

  std::vector<const Record*> records_;
  std::string plain_;               // scratch, reused
  std::vector<size_t> record_ends_;  // scratch: end of each record in plain_
  std::vector<std::string_view> samples_;  // scratch
};

struct DecodedBatch {
  BatchHeader header;
  std::shared_ptr<const std::string> plain;  // owns the bytes the views point into
  std::vector<RecordView> records;
};

// Verifies the checksum and decodes a whole batch (header + exactly
// payload_len bytes). Errors, in the order they are checked
// (docs/security.md "Batch encryption"):
//   Corruption       the bytes changed since they were written (checksum,
//                    structure) or decode to invalid records
//   NotSupported     newer version or flags; an encrypted batch and `keys` is nullptr
//   NotFound         the batch's key id is not in `keys` (destroyed DEK)
//   Unauthenticated  the GCM tag fails (forged bytes, wrong DEK), or `keys`
//                    is given and the batch is not encrypted (downgrade)
// and then, for a batch compressed with a zstd dictionary (flag bit 3):
//   Corruption       the flag and the dictionary id disagree
//   NotSupported     `dicts` is nullptr
//   as dicts->Lookup the dictionary is missing (NotFound) or damaged (Corruption)
// The dictionary is looked up only after the GCM tag authenticated the header.
Result<DecodedBatch> DecodeBatch(std::span<const std::byte> batch,
                                 const crypto::KeySource* keys = nullptr,
                                 const codec::DictionarySource* dicts = nullptr);

}  // namespace warbler::engine
