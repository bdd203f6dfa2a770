// On-disk format constants, version 1. The byte grammar is docs/format.md;
// this header is its only mirror in code. Changing a value here changes the
// format: bump the version and add golden vectors.
#pragma once

#include <cstddef>
#include <cstdint>

namespace warbler::engine::format {

inline constexpr uint16_t kFormatVersion = 1;

// ---- STORE meta file ----
inline constexpr uint32_t kStoreMagic = 0x524F5453;  // "STOR"
inline constexpr size_t kStoreMetaSize = 64;
inline constexpr size_t kStoreUuidSize = 16;

// ---- segment header ----
inline constexpr uint32_t kSegmentMagic = 0x47455357;  // "WSEG"
inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr size_t kSegmentHeaderChecksumOffset = 56;

// ---- batch header ----
inline constexpr uint16_t kBatchMagic = 0xB47C;
inline constexpr uint8_t kBatchVersion = 1;
inline constexpr size_t kBatchHeaderSize = 64;
inline constexpr size_t kBatchChecksumOffset = 56;  // checksum covers [0,56) + payload
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;

// Batch header field offsets.
inline constexpr size_t kBhMagic = 0;
inline constexpr size_t kBhVersion = 2;
inline constexpr size_t kBhFlags = 3;
inline constexpr size_t kBhDictId = 4;
inline constexpr size_t kBhRecordCount = 6;
inline constexpr size_t kBhBaseOffset = 8;
inline constexpr size_t kBhTerm = 16;
inline constexpr size_t kBhFirstTimestamp = 24;
inline constexpr size_t kBhMaxTimestampDelta = 32;
inline constexpr size_t kBhPayloadLen = 36;
inline constexpr size_t kBhKeyId = 40;
inline constexpr size_t kBhNonce = 44;
static_assert(kBhNonce + kNonceSize == kBatchChecksumOffset);

// Batch flags.
inline constexpr uint8_t kCodecMask = 0x03;
inline constexpr uint8_t kCodecNone = 0;
inline constexpr uint8_t kCodecZstd = 1;
inline constexpr uint8_t kFlagEncrypted = 1 << 2;
inline constexpr uint8_t kFlagDictionary = 1 << 3;
inline constexpr uint8_t kFlagControl = 1 << 4;
inline constexpr uint8_t kKnownFlags = kCodecMask | kFlagEncrypted | kFlagDictionary | kFlagControl;

// Record flags.
inline constexpr uint8_t kRecordTombstone = 1 << 0;
inline constexpr uint8_t kRecordHasClientId = 1 << 1;
inline constexpr uint8_t kKnownRecordFlags = kRecordTombstone | kRecordHasClientId;

// ---- sparse offset index ----
inline constexpr uint32_t kIndexMagic = 0x58444957;  // "WIDX"
inline constexpr size_t kIndexHeaderSize = 40;
inline constexpr size_t kIndexEntrySize = 8;

// ---- COMMITTED mark ----
inline constexpr uint32_t kCommittedMagic = 0x544D4F43;  // "COMT"
inline constexpr size_t kCommittedSlotSize = 32;

// ---- KEYRING (docs/security.md "The keyring file") ----
inline constexpr uint32_t kKeyringMagic = 0x474B5257;  // "WRKG"
inline constexpr uint16_t kKeyringVersion = 1;
inline constexpr size_t kKeyringHeaderSize = 64;  // the GCM AAD
inline constexpr size_t kKhMagic = 0;
inline constexpr size_t kKhVersion = 4;
inline constexpr size_t kKhStoreUuid = 8;
inline constexpr size_t kKhGeneration = 24;
inline constexpr size_t kKhNextKeyId = 32;
inline constexpr size_t kKhNextNonceEpoch = 36;
inline constexpr size_t kKhBodyLen = 40;
inline constexpr size_t kKhNonce = 44;
static_assert(kKhNonce + kNonceSize + 8 == kKeyringHeaderSize);
// header + body + GCM tag + XXH3-64 of everything before it.
inline constexpr size_t kKeyringMinSize = kKeyringHeaderSize + kGcmTagSize + 8;
// One keyring entry without its tenant bytes: key id, tenant length,
// reserved, creation time, DEK.
inline constexpr size_t kKeyringEntryFixedSize = 4 + 1 + 1 + 8 + 32;

// ---- dictionary file (docs/format.md "Dictionary files") ----
inline constexpr uint32_t kDictMagic = 0x43494457;  // "WDIC"
inline constexpr uint16_t kDictVersion = 1;
inline constexpr size_t kDictHeaderSize = 64;  // the GCM AAD when sealed
inline constexpr size_t kDhMagic = 0;
inline constexpr size_t kDhVersion = 4;
inline constexpr size_t kDhDictId = 6;
inline constexpr size_t kDhStoreUuid = 8;
inline constexpr size_t kDhCreated = 24;
inline constexpr size_t kDhKeyId = 32;
inline constexpr size_t kDhBodyLen = 36;
inline constexpr size_t kDhNonce = 40;
static_assert(kDhNonce + kNonceSize + 12 == kDictHeaderSize);
// Header + checksum; a sealed file also has the GCM tag.
inline constexpr size_t kDictMinSize = kDictHeaderSize + 8;

}  // namespace warbler::engine::format
