// XXH3-64 checksums. This file's .cc is the only place that includes xxhash.h.
// Thread-safety: Checksum64 is pure; Xxh3Stream is a value owned by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace warbler {

// XXH3-64 of `data` with seed 0.
uint64_t Checksum64(std::span<const std::byte> data);
uint64_t Checksum64(const void* data, size_t len);

// Incremental XXH3-64 over several pieces; equals Checksum64 of their concatenation.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;

  void Update(std::span<const std::byte> data);
  void Update(const void* data, size_t len);
  uint64_t Digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace warbler
