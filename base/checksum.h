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

}  // namespace warbler
