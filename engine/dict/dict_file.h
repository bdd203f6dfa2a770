// Dictionary file: one trained zstd dictionary of one tenant, in
// <data>/dicts/NNNNN.zdict (docs/format.md "Dictionary files"). In an
// encrypted store the body (tenant name and dictionary, which is made of
// user text) is sealed with AES-256-GCM under the tenant's current DEK
// (docs/security.md "Compression dictionaries").
//
// Pure functions plus one atomic writer; no state. Thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>

#include "base/status.h"
#include "engine/format.h"
#include "io/file_system.h"

namespace warbler::engine {
namespace crypto {
class KeySource;
}  // namespace crypto

namespace dict {

using StoreId = std::array<uint8_t, format::kStoreUuidSize>;

struct DictFile {
  uint16_t id = 0;          // 1 .. 65535, equals the file name
  std::string tenant;       // whose records it was trained on ("" allowed)
  uint64_t created_us = 0;  // wall clock, µs since the Unix epoch
  uint32_t key_id = 0;      // DEK that sealed the body; 0 = stored in the clear
  std::string dictionary;   // the zstd dictionary (ZDICT_trainFromBuffer output)
};

// The file bytes of `f`. With `keys`, the body is sealed under the current
// DEK of f.tenant (f.key_id is ignored and set from it) with the nonce
// epoch || id, the epoch reserved from `keys` (one keyring write), so the
// nonce is used once ever under that DEK. Errors of `keys` as they are.
Result<std::string> EncodeDictFile(const DictFile& f, const StoreId& store, crypto::KeySource* keys);

// Parses and verifies a dictionary file named for id `id`, checking in order:
//   Corruption          too short or long, bad magic, size ≠ header, checksum,
//                       id ≠ the file name, body that does not parse
//   NotSupported        a newer version; a sealed file and `keys` is nullptr
//   FailedPrecondition  the file belongs to another store
//   Unauthenticated     a clear file while `keys` is given (downgrade), or
//                       the GCM tag fails (tampered, or the wrong DEK)
//   NotFound            the sealing DEK is not in `keys` (destroyed)
Result<DictFile> DecodeDictFile(std::span<const std::byte> bytes, uint16_t id, const StoreId& store,
                                const crypto::KeySource* keys);

// Installs `bytes` as <data_dir>/dicts/NNNNN.zdict atomically: temp file,
// fdatasync, rename, fsync of dicts/ (created, and the data directory
// synced, if missing). On error no temp file is left behind when possible;
// the final name exists only if the rename happened.
Status WriteDictFile(io::FileSystem* fs, const std::string& data_dir, uint16_t id,
                     std::span<const std::byte> bytes);

// Reads a whole dictionary file; Corruption when over kMaxDictionaryFileBytes.
Result<std::string> ReadDictFile(io::FileSystem* fs, const std::string& path);

}  // namespace dict
}  // namespace warbler::engine
