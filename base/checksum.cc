#include "base/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "base/assert.h"

namespace warbler {

uint64_t Checksum64(std::span<const std::byte> data) {
  return XXH3_64bits(data.data(), data.size());
}

uint64_t Checksum64(const void* data, size_t len) { return XXH3_64bits(data, len); }

struct Xxh3Stream::State {
  XXH3_state_t s;
};

Xxh3Stream::Xxh3Stream() : state_(std::make_unique<State>()) {
  WB_ASSERT(XXH3_64bits_reset(&state_->s) == XXH_OK);
}

Xxh3Stream::~Xxh3Stream() = default;

void Xxh3Stream::Update(std::span<const std::byte> data) { Update(data.data(), data.size()); }

void Xxh3Stream::Update(const void* data, size_t len) {
  WB_ASSERT(XXH3_64bits_update(&state_->s, data, len) == XXH_OK);
}

uint64_t Xxh3Stream::Digest() const { return XXH3_64bits_digest(&state_->s); }

}  // namespace warbler
