// Fuzz target for the batch decoder (docs/format.md "Reader rules"): every
// byte of a segment read back from disk reaches DecodeBatch, with and without
// keys (docs/security.md). The input is decoded as a plain store would and as
// an encrypted store would; neither may crash or read out of bounds.
// libFuzzer build: scripts/fuzz; every test run: fuzz_smoke_test.cc.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/key_source.h"
#include "engine/log/batch.h"

namespace warbler::engine {
namespace {

// One fixed key with id 1; epochs from a counter (never persisted: fuzzing only).
class FixedKeys final : public crypto::KeySource {
 public:
  FixedKeys() {
    uint8_t b[crypto::kKeySize];
    for (size_t i = 0; i < sizeof b; ++i) b[i] = static_cast<uint8_t>(i * 7 + 1);
    key_ = std::make_shared<const crypto::Key>(std::span<const uint8_t, crypto::kKeySize>(b));
  }
  Result<std::shared_ptr<const crypto::Key>> Lookup(uint32_t id) const override {
    if (id != 1) return Status::NotFound("no key " + std::to_string(id));
    return key_;
  }
  Result<uint32_t> DekFor(std::string_view) const override { return 1u; }
  Result<uint32_t> ReserveNonceEpochs(uint32_t count) override {
    const uint32_t first = next_;
    next_ += count;
    return first;
  }

 private:
  std::shared_ptr<const crypto::Key> key_;
  uint32_t next_ = 1;
};

}  // namespace

crypto::KeySource* FuzzKeys() {
  static FixedKeys keys;
  return &keys;
}

void FuzzBatch(const uint8_t* data, size_t size) {
  std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  BatchHeader h;
  if (in.size() >= format::kBatchHeaderSize) (void)DecodeBatchHeader(in.first(format::kBatchHeaderSize), &h);
  if (auto d = DecodeBatch(in); d.ok()) {
    for (const RecordView& r : d->records) (void)r.body.size();
  }
  if (auto d = DecodeBatch(in, FuzzKeys()); d.ok()) {
    for (const RecordView& r : d->records) (void)r.body.size();
  }
}

}  // namespace warbler::engine

#ifdef WARBLER_LIBFUZZER
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  warbler::engine::FuzzBatch(data, size);
  return 0;
}
#endif
