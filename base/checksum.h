// XXH3-64 checksums. This file's .cc is the only place that includes xxhash.h.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace warbler {

// XXH3-64 of `data` with seed 0.
uint64_t Checksum64(std::span<const std::byte> data);
uint64_t Checksum64(const void* data, size_t len);

// XXH3-64 of the concatenation of `first` and `second`, without copying them
// together (the hashing state lives on the stack; no allocation).
uint64_t Checksum64(std::span<const std::byte> first, std::span<const std::byte> second);

// XXH3-128 of `data` with seed 0, as two 64-bit halves.
struct Hash128 {
  uint64_t lo = 0;
  uint64_t hi = 0;
};
Hash128 Checksum128(std::span<const std::byte> data);

}  // namespace warbler
