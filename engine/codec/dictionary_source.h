// DictionarySource: what batch encoding and decoding need from the store's
// zstd dictionaries (docs/format.md "Dictionary files"), so engine/log
// depends on this interface and not on the dictionary files (tests supply a
// fixed dictionary through it; production uses dict::DictionaryRegistry).
// Thread-safety: implementations are safe to call concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "base/status.h"
#include "engine/codec/zstd_dict.h"

namespace warbler::engine::codec {

// The dictionary new batches of one tenant are compressed with.
struct ActiveDictionary {
  uint16_t id = 0;                             // 0 = none
  std::shared_ptr<const ZstdDictionary> dict;  // nullptr = none
};

class DictionarySource {
 public:
  virtual ~DictionarySource() = default;

  // Decoding: the dictionary a batch header names (1 .. 65535). The pointer
  // stays valid as long as the caller holds it. Errors:
  //   NotFound     the store has no dictionary `id` (its file is missing:
  //                deleted with its tenant, or lost), or the DEK that seals
  //                it was destroyed (crypto-shredded tenant)
  //   Corruption   its file is damaged (checksum, structure)
  //   others       as the dictionary file's load reported them
  virtual Result<std::shared_ptr<const ZstdDictionary>> Lookup(uint16_t id) const = 0;

  // Encoding: the current dictionary of `tenant` ("" is a tenant like any
  // other here), or {0, nullptr} when it has none yet.
  virtual ActiveDictionary Current(std::string_view tenant) const = 0;

  // Offers the encoded records of one batch of `tenant` for training, when
  // Current gave none. Copies what it keeps; cheap once enough is sampled.
  virtual void Sample(std::string_view tenant, std::span<const std::string_view> records) = 0;
};

}  // namespace warbler::engine::codec
