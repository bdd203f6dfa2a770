// zstd dictionaries for small chat messages (issue 5, "Dictionary
// compression"): training from a sample of messages and compressing /
// decompressing with a trained dictionary. With zstd_codec.cc, the only place
// that includes zstd headers.
//
// A ZstdDictionary is immutable once loaded and holds the digested forms
// (CDict for compression at one level, DDict for decompression), so the
// per-call cost is the same as compressing without a dictionary.
// Thread-safety: a loaded ZstdDictionary may be used by any number of threads;
// contexts are per thread, as in zstd_codec.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"

namespace warbler::engine::codec {

// Trains a dictionary of at most `capacity_bytes` (e.g. 16 KiB) from
// `samples` (ZDICT_trainFromBuffer). InvalidArgument when the samples are
// too few or too small to train on (zstd wants hundreds of samples, in total
// about 100 times the capacity).
Result<std::string> TrainDictionary(std::span<const std::string> samples, size_t capacity_bytes);

class ZstdDictionary {
 public:
  // Digests `bytes` (a trained dictionary) for compression at `level`.
  // InvalidArgument when `bytes` is not a zstd dictionary.
  static Result<std::unique_ptr<ZstdDictionary>> Load(std::string bytes, int level);
  ~ZstdDictionary();
  ZstdDictionary(const ZstdDictionary&) = delete;
  ZstdDictionary& operator=(const ZstdDictionary&) = delete;

  // The id zstd stored in the dictionary (also written into each frame).
  uint32_t id() const { return id_; }
  const std::string& bytes() const { return bytes_; }
  // Resident bytes: the dictionary plus its digested forms (CDict, DDict).
  size_t memory_bytes() const;

  // Appends the zstd frame of `in`, compressed with this dictionary, to `out`.
  Status Compress(std::span<const std::byte> in, std::string* out) const;
  // Replaces `out` with the decompressed frame; Corruption as ZstdDecompress,
  // and when the frame names another dictionary.
  Status Decompress(std::span<const std::byte> in, size_t max_out, std::string* out) const;

 private:
  struct Digested;
  ZstdDictionary(std::string bytes, uint32_t id, std::unique_ptr<Digested> d);

  std::string bytes_;
  uint32_t id_;
  std::unique_ptr<Digested> digested_;
};

}  // namespace warbler::engine::codec
