// Runs the batch fuzz target on seeded mutations of valid plain, compressed
// and encrypted batches in every test run (under ASan/UBSan in CI), and
// checks the one property a fuzzer cannot: a mutated batch never decodes to
// records it did not hold unless its checksum still matches.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "base/coding.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/log/batch.h"
#include "tests/fuzz/fuzz_keys.h"
#include "tests/fuzz/fuzz_util.h"

namespace warbler::engine {
void FuzzBatch(const uint8_t* data, size_t size);
namespace {

std::string MakeBatch(bool compress, crypto::BatchCipher* cipher, int n) {
  std::vector<Record> records(n);
  for (int i = 0; i < n; ++i) {
    records[i].tenant = "t";
    records[i].conversation = "c" + std::to_string(i % 3);
    records[i].sender = "s";
    records[i].body = "hello number " + std::to_string(i) + " with some words to compress well well well";
    records[i].timestamp_us = 1000 + i;
    records[i].seq = i + 1;
  }
  BatchBuilder b;
  for (const Record& r : records) b.Add(&r);
  BatchOptions o;
  o.compress = compress;
  o.cipher = cipher;
  std::string out;
  auto h = b.Finish(100, 1, o, &out);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return out;
}

TEST(BatchFuzzSmokeTest, MutatedBatchesNeverCrashTheDecoder) {
  auto cipher = crypto::BatchCipher::Create(FuzzKeys());
  ASSERT_TRUE(cipher.ok());
  std::vector<std::string> corpus = {MakeBatch(false, nullptr, 3), MakeBatch(true, nullptr, 40),
                                     MakeBatch(true, cipher->get(), 40), MakeBatch(false, cipher->get(), 2)};
  for (const std::string& b : corpus) {
    auto d = DecodeBatch(AsBytes(b), FuzzKeys());
    ASSERT_TRUE(d.ok() || (d.status().code() == StatusCode::kUnauthenticated)) << d.status().ToString();
  }
  const uint64_t iterations = FuzzIterations(20000);
  std::mt19937_64 rng(0xBA7C);
  uint64_t decoded_after_mutation = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const std::string& orig = corpus[rng() % corpus.size()];
    std::string f = orig;
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations && !f.empty(); ++m) {
      switch (rng() % 4) {
        case 0: FlipRandomBit(&f, rng); break;
        case 1: TruncateRandomly(&f, rng); break;
        case 2: InsertRandomByte(&f, rng); break;
        case 3: f[rng() % std::min<size_t>(f.size(), 64)] = static_cast<char>(rng()); break;
      }
    }
    FuzzBatch(reinterpret_cast<const uint8_t*>(f.data()), f.size());
    if (f != orig && DecodeBatch(AsBytes(f)).ok()) ++decoded_after_mutation;
  }
  // A flip the 64-bit checksum misses is a 2^-64 event; none in 20,000 tries.
  EXPECT_EQ(decoded_after_mutation, 0u);
}

}  // namespace
}  // namespace warbler::engine
