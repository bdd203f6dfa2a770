// Conversation and dedup ids: 128-bit hashes naming a conversation and a
// client message id in resident state (docs/index.md "Identity").
// Thread-safety: pure values and functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace warbler::engine {

struct ConvId {
  uint64_t lo = 0;
  uint64_t hi = 0;

  bool empty() const { return lo == 0 && hi == 0; }
  friend bool operator==(const ConvId&, const ConvId&) = default;
  friend auto operator<=>(const ConvId&, const ConvId&) = default;
};

struct ConvIdHash {
  size_t operator()(const ConvId& c) const { return static_cast<size_t>(c.lo ^ (c.hi * 0x9E3779B97F4A7C15ull)); }
};

// XXH3-128 of u8 len(tenant) | tenant | u8 len(conversation) | conversation.
// Never empty(). REQUIRES: both at most 255 bytes.
ConvId MakeConvId(std::string_view tenant, std::string_view conversation);
// XXH3-128 of the conversation id's 16 bytes | client message id. Never empty().
ConvId MakeDedupId(const ConvId& conversation, std::string_view client_id);
// The partition of a conversation among `partitions`: low 64 bits mod P.
inline uint32_t PartitionOf(const ConvId& id, uint32_t partitions) {
  return static_cast<uint32_t>(id.lo % partitions);
}

}  // namespace warbler::engine
