#include "base/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/assert.h"

namespace warbler {

uint64_t Checksum64(std::span<const std::byte> data) {
  return XXH3_64bits(data.data(), data.size());
}

uint64_t Checksum64(const void* data, size_t len) { return XXH3_64bits(data, len); }

uint64_t Checksum64(std::span<const std::byte> first, std::span<const std::byte> second) {
  XXH3_state_t state;
  WB_ASSERT(XXH3_64bits_reset(&state) == XXH_OK);
  WB_ASSERT(XXH3_64bits_update(&state, first.data(), first.size()) == XXH_OK);
  WB_ASSERT(XXH3_64bits_update(&state, second.data(), second.size()) == XXH_OK);
  return XXH3_64bits_digest(&state);
}

Hash128 Checksum128(std::span<const std::byte> data) {
  XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
  return {h.low64, h.high64};
}

}  // namespace warbler
