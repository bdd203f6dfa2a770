// The store-files fuzz target (store_files_fuzz.cc): the decoders of every
// file a store reads back from its data directory (docs/format.md,
// docs/index.md, docs/security.md). Shared by the target and its smoke test
// (store_files_fuzz_smoke_test.cc), which builds inputs the target accepts.
//
// Input: byte 0 picks the decoder ((byte & 0x7f) % kStoreFileCount) and
// whether to reseal (bit 7); the rest are the file's bytes. Without reseal
// the bytes reach the decoder as they are, which is what a damaged disk
// does, and a fuzzer rarely gets past a checksum or a GCM tag. With reseal
// the target first recomputes every checksum and GCM tag it can locate from
// the input's own length fields (and seals the body, given as plaintext,
// under the fixed keys), so the fuzzer explores what the decoders do with
// well-sealed but malformed contents: a writer's bug, or a forger with the
// keys.
// Thread-safety: none needed (one input at a time).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/crypto/key.h"
#include "engine/format.h"

namespace warbler::engine {

enum class StoreFile : uint8_t {
  kCixHeader,           // cix::DecodeHeader
  kCixRunsEntry,        // cix::PeekRefCount, cix::DecodeRunsEntry
  kCixRunsSection,      // cix::DecodeRunsSection
  kCixDirSection,       // cix::DecodeDirSection: 2 bytes of entry count (CixSectionCount), then the section
  kCixDedupSection,     // cix::DecodeDedupSection: as kCixDirSection
  kSegmentHeader,       // Segment::DecodeHeader
  kOffsetIndex,         // OffsetIndex::Decode, expecting base kFuzzIndexBase
  kDictFile,            // DecodeDictFile without keys (a plain store), then zstd loads the dictionary
  kDictFileWithKeys,    // DecodeDictFile with FuzzKeys() (an encrypted store); reseal seals under key 1
  kKeyring,             // Keyring::Open (in-memory file system); reseal wraps under FuzzKek()
  kKeyringPreviousKek,  // Keyring::Open; reseal wraps under FuzzPreviousKek() (an unfinished KEK rotation)
  kCommittedMark,       // CommittedMark::Open, read-only (in-memory file system)
  kFileName,            // layout::Parse{Segment,Index,Cix,Dict}Name, IsTempName (names listed from a directory)
};
inline constexpr uint8_t kStoreFileCount = static_cast<uint8_t>(StoreFile::kFileName) + 1;
inline constexpr uint8_t kResealFlag = 0x80;

// What the files are checked against: the store they must belong to, the
// name of the dictionary file, the base offset of the index's segment.
inline constexpr std::array<uint8_t, format::kStoreUuidSize> kFuzzStore = {
    0x57, 0x42, 0x46, 0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
inline constexpr uint16_t kFuzzDictId = 7;
inline constexpr uint64_t kFuzzIndexBase = 1000;

// The section entry count of kCixDirSection / kCixDedupSection from its two
// input bytes (little-endian v): v below 0x8000 as it is, otherwise
// UINT64_MAX - (v & 0x7fff), so counts near 2^64 (overflow) are reached too.
inline uint64_t CixSectionCount(uint8_t lo, uint8_t hi) {
  const uint64_t v = lo | (uint64_t{hi} << 8);
  return v < 0x8000 ? v : UINT64_MAX - (v & 0x7fff);
}

// The key-encryption keys the keyring is opened with (current, previous).
const crypto::Key& FuzzKek();
const crypto::Key& FuzzPreviousKek();

// Runs the decoder byte 0 names; true when it accepted the file (for the
// mark: a slot decoded to a nonzero offset; for names: one parsed).
bool FuzzStoreFiles(const uint8_t* data, size_t size);

// A valid file of one kind, made by the real encoders (store_files_seeds.cc).
struct StoreFileSeed {
  enum Form : uint8_t {
    kAsWritten,  // the file as its encoder wrote it
    kSealed,     // ... with a GCM-sealed body (resealing it would seal the ciphertext again)
    kPlaintext,  // a sealed file with its body decrypted: valid once the target reseals it
  };
  StoreFile which;
  std::string file;
  Form form = kAsWritten;

  // The target's input for it: byte 0 (with kResealFlag for kPlaintext), then the file.
  std::string Input() const;
};

// At least one seed of every kind. Deterministic but for the keyrings' DEKs
// and nonces (random, as Keyring::Create makes them).
std::vector<StoreFileSeed> StoreFileSeeds();

}  // namespace warbler::engine
