// Runs the store-files fuzz target on seeded mutations (bit flips,
// truncations, insertions, length-field rewrites) of valid files made by the
// real encoders, in every test run (under ASan/UBSan in CI). It also checks
// what a fuzzer cannot: every valid file is accepted, sealed as written and
// as plaintext for the target to reseal, and a mutated file whose bytes are
// all under a checksum is never accepted unless resealed.
// WARBLER_FUZZ_ITERATIONS raises the count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/coding.h"
#include "base/log.h"
#include "tests/fuzz/store_files_fuzz.h"
#include "tests/fuzz/fuzz_util.h"

namespace warbler::engine {
namespace {

using Seed = StoreFileSeed;

bool RunTarget(StoreFile which, bool reseal, const std::string& file) {
  std::string in(1, static_cast<char>(static_cast<uint8_t>(which) | (reseal ? kResealFlag : 0)));
  in += file;
  return FuzzStoreFiles(reinterpret_cast<const uint8_t*>(in.data()), in.size());
}

// True when every byte the decoder of `which` reads is covered by a
// checksum (or, for a header, its first 64 bytes are), so a change there
// must be rejected. Runs sections and cix dir/dedup sections may end early
// by design (their sizes come from the cix header), and the mark and names
// have no checksum to fail.
bool Covered(StoreFile which, const std::string& orig, const std::string& mutated) {
  switch (which) {
    case StoreFile::kCixHeader:
    case StoreFile::kSegmentHeader: return mutated.substr(0, 64) != orig.substr(0, 64);
    case StoreFile::kOffsetIndex:
    case StoreFile::kDictFile:
    case StoreFile::kDictFileWithKeys:
    case StoreFile::kKeyring:
    case StoreFile::kKeyringPreviousKek: return mutated != orig;
    default: return false;
  }
}

LogLevel CurrentLogLevel() {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn}) {
    if (LogEnabled(l)) return l;
  }
  return LogLevel::kError;
}

class StoreFilesFuzzSmokeTest : public ::testing::Test {
 protected:
  // Opening a keyring under the previous KEK logs its re-wrap.
  void SetUp() override { SetLogLevel(LogLevel::kWarn); }
  void TearDown() override { SetLogLevel(saved_); }

  const LogLevel saved_ = CurrentLogLevel();
};

TEST_F(StoreFilesFuzzSmokeTest, EveryValidFileIsAccepted) {
  const std::vector<Seed> corpus = StoreFileSeeds();
  std::vector<bool> kinds(kStoreFileCount);
  for (const Seed& s : corpus) {
    kinds[static_cast<size_t>(s.which)] = true;
    // As libFuzzer starts from it (scripts/fuzz).
    const std::string in = s.Input();
    EXPECT_TRUE(FuzzStoreFiles(reinterpret_cast<const uint8_t*>(in.data()), in.size()))
        << "seed of kind " << static_cast<int>(s.which) << (s.form == Seed::kPlaintext ? " (plaintext)" : "");
    if (s.form == Seed::kAsWritten) {
      // Resealing a valid file writes the checksums it already has.
      EXPECT_TRUE(RunTarget(s.which, true, s.file)) << "seed of kind " << static_cast<int>(s.which) << " resealed";
    }
    if (s.form == Seed::kPlaintext) {
      EXPECT_FALSE(RunTarget(s.which, false, s.file)) << "plaintext seed of kind " << static_cast<int>(s.which);
    }
  }
  for (size_t k = 0; k < kinds.size(); ++k) EXPECT_TRUE(kinds[k]) << "no seed of kind " << k;
}

TEST_F(StoreFilesFuzzSmokeTest, MutatedFilesNeverCrashTheDecoders) {
  const uint64_t iterations = FuzzIterations(20000);
  const std::vector<Seed> corpus = StoreFileSeeds();
  std::mt19937_64 rng(0x5F11E5);
  uint64_t forged = 0, accepted_resealed = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const Seed& seed = corpus[rng() % corpus.size()];
    std::string f = seed.file;
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations && !f.empty(); ++m) {
      switch (rng() % 5) {
        case 0: FlipRandomBit(&f, rng); break;
        case 1: TruncateRandomly(&f, rng); break;
        case 2: InsertRandomByte(&f, rng); break;
        case 3: f[rng() % std::min<size_t>(f.size(), 64)] = static_cast<char>(rng()); break;
        case 4: {  // a length or count field (all are 4-aligned in the first 64 bytes)
          const size_t at = 4 * (rng() % 16);
          if (at + 4 > f.size()) break;
          static const uint32_t kValues[] = {0, 1, 7, 0x7fffffff, 0x80000000, 0xffffffff};
          uint32_t v = kValues[rng() % std::size(kValues)];
          if (rng() % 2 == 0) v = static_cast<uint32_t>(f.size() + rng() % 33 - 16);
          std::byte b[4];
          EncodeFixed32(b, v);
          std::memcpy(f.data() + at, b, 4);
          break;
        }
      }
    }
    // Half of the runs on files as written reseal: the decoders then see
    // well-sealed nonsense. Sealed files never do; their plaintext always does.
    const bool reseal =
        seed.form == Seed::kPlaintext || (seed.form == Seed::kAsWritten && rng() % 2 == 0);
    const bool accepted = RunTarget(seed.which, reseal, f);
    if (accepted && !reseal && Covered(seed.which, seed.file, f)) ++forged;
    if (accepted && reseal && f != seed.file) ++accepted_resealed;
  }
  // A change a 64-bit checksum misses is a 2^-64 event; none in 20,000 tries.
  EXPECT_EQ(forged, 0u);
  // Resealed mutations get past the checksums and are sometimes well formed,
  // so the decoders' checks beyond the checksums are exercised too.
  if (iterations >= 1000) {
    EXPECT_GT(accepted_resealed, 0u);
  }
}

}  // namespace
}  // namespace warbler::engine
