// Fuzz target for the batch decoder (docs/format.md "Reader rules"): every
// byte of a segment read back from disk reaches DecodeBatch, with and without
// keys (docs/security.md). The input is decoded as a plain store would and as
// an encrypted store would; neither may crash or read out of bounds.
// libFuzzer build: scripts/fuzz; every test run: batch_fuzz_smoke_test.cc.
#include <cstddef>
#include <cstdint>

#include "engine/log/batch.h"
#include "tests/fuzz/fuzz_keys.h"

namespace warbler::engine {

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
