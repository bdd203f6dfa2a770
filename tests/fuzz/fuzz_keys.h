// The fixed in-memory key source of the engine fuzz targets (batch_fuzz.cc,
// store_files_fuzz.cc) and their smoke tests: one DEK with id 1, the same in
// every process, so an input a fuzzer saved replays byte for byte. Nonce
// epochs come from a counter and are never persisted: fuzzing only.
// Thread-safety: as KeySource.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/crypto/key.h"
#include "engine/crypto/key_source.h"

namespace warbler::engine {

// The id of the one key FuzzKeys() holds.
inline constexpr uint32_t kFuzzKeyId = 1;

class FuzzKeySource final : public crypto::KeySource {
 public:
  FuzzKeySource() {
    uint8_t b[crypto::kKeySize];
    for (size_t i = 0; i < sizeof b; ++i) b[i] = static_cast<uint8_t>(i * 7 + 1);
    key_ = std::make_shared<const crypto::Key>(std::span<const uint8_t, crypto::kKeySize>(b));
  }
  Result<std::shared_ptr<const crypto::Key>> Lookup(uint32_t id) const override {
    if (id != kFuzzKeyId) return Status::NotFound("no key " + std::to_string(id));
    return key_;
  }
  Result<uint32_t> DekFor(std::string_view) const override { return kFuzzKeyId; }
  Result<uint32_t> ReserveNonceEpochs(uint32_t count) override { return next_.fetch_add(count); }

 private:
  std::shared_ptr<const crypto::Key> key_;
  std::atomic<uint32_t> next_{1};
};

// One FuzzKeySource per process.
inline crypto::KeySource* FuzzKeys() {
  static FuzzKeySource keys;
  return &keys;
}

}  // namespace warbler::engine
