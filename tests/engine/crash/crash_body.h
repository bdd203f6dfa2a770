// The self-checking record body shared by log_crash_child (which appends it)
// and kill9_test (which verifies it after the child was killed).
//
// Body layout (little-endian):
//   [0,8)   child seed     - which child run appended it
//   [8,12)  thread id      - appender thread inside that child
//   [12,20) counter        - per-thread sequence, 0, 1, 2, …
//   [20,28) check          - XXH3-64 of the body without these 8 bytes
//   [28,…)  payload        - seeded pseudo-random bytes (incompressible)
// The ack line the child prints carries XXH3-64 of the whole body.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/checksum.h"
#include "base/rng.h"
#include "engine/log/log_options.h"
#include "engine/log/segment.h"

namespace warbler::engine::crash {

inline constexpr size_t kBodyHeaderBytes = 28;
inline constexpr size_t kCheckPos = 20;

// The store uuid both processes open the partition with.
inline StoreUuid CrashUuid() {
  StoreUuid u{};
  for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<uint8_t>(0xc0 + i);
  return u;
}

// Default options, but 4 MiB segments so rolls (and crashes during them) happen.
inline LogOptions CrashLogOptions() {
  LogOptions o;
  o.segment_bytes = 4u << 20;
  o.preallocate = Preallocate::kFallocate;
  return o;
}

struct BodyId {
  uint64_t seed = 0;
  uint32_t thread = 0;
  uint64_t counter = 0;
};

inline uint64_t BodyCheck(std::string_view body) {
  auto bytes = std::as_bytes(std::span(body.data(), body.size()));
  return Checksum64(bytes.first(kCheckPos), bytes.subspan(kBodyHeaderBytes));
}

inline uint64_t BodyHash(std::string_view body) { return Checksum64(body.data(), body.size()); }

// Builds a body of `size` bytes (at least kBodyHeaderBytes) for `id`.
inline std::string MakeBody(const BodyId& id, size_t size, Rng* rng) {
  if (size < kBodyHeaderBytes) size = kBodyHeaderBytes;
  std::string body(size, '\0');
  std::memcpy(body.data(), &id.seed, 8);
  std::memcpy(body.data() + 8, &id.thread, 4);
  std::memcpy(body.data() + 12, &id.counter, 8);
  for (size_t i = kBodyHeaderBytes; i < size; i += 8) {
    const uint64_t v = rng->Next();
    std::memcpy(body.data() + i, &v, std::min<size_t>(8, size - i));
  }
  const uint64_t check = BodyCheck(body);
  std::memcpy(body.data() + kCheckPos, &check, 8);
  return body;
}

// The id of an intact body; nullopt if it is too short or its check fails.
inline std::optional<BodyId> ParseBody(std::string_view body) {
  if (body.size() < kBodyHeaderBytes) return std::nullopt;
  uint64_t check = 0;
  std::memcpy(&check, body.data() + kCheckPos, 8);
  if (check != BodyCheck(body)) return std::nullopt;
  BodyId id;
  std::memcpy(&id.seed, body.data(), 8);
  std::memcpy(&id.thread, body.data() + 8, 4);
  std::memcpy(&id.counter, body.data() + 12, 8);
  return id;
}

}  // namespace warbler::engine::crash
