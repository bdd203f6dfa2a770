// zstd compression of batch payloads. engine/codec/*.cc are the only files
// that include zstd headers (dictionaries: zstd_dict.h). Contexts are cached
// per thread, so calls are thread-safe and allocation-free in steady state.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "base/status.h"

namespace warbler::engine::codec {

// Appends the zstd frame of `in` to `out` (level 1..19; negative = faster).
Status ZstdCompress(std::span<const std::byte> in, int level, std::string* out);

// Replaces `out` with the decompressed frame. Fails with Corruption when the
// frame is malformed or would decompress to more than `max_out` bytes (so a
// crafted frame cannot make us allocate without bound).
Status ZstdDecompress(std::span<const std::byte> in, size_t max_out, std::string* out);

}  // namespace warbler::engine::codec
