// Helpers shared by the fuzz targets.
//
// Seed inputs for a libFuzzer target: scripts/fuzz runs each target once with
// WARBLER_FUZZ_WRITE_SEEDS=<dir> and -runs=0; a target that has seeds writes
// them there from LLVMFuzzerInitialize, and the fuzzing run reads <dir>
// besides its corpus. Seeds made by the real encoders get a fuzzer past
// magics, lengths and checksums from its first input on.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace warbler {

// Folds a decoded value into a sink, so that reading what a decoder accepted
// is not optimized away and ASan checks the memory it points to.
inline volatile uint64_t g_fuzz_sink = 0;
inline void FuzzTouch(uint64_t v) { g_fuzz_sink = g_fuzz_sink + v; }
inline void FuzzTouch(std::string_view s) {
  uint64_t sum = s.size();
  for (char c : s) sum = sum * 31 + static_cast<uint8_t>(c);
  FuzzTouch(sum);
}

// A smoke test's iteration count: WARBLER_FUZZ_ITERATIONS if set, else `fallback`.
inline uint64_t FuzzIterations(uint64_t fallback) {
  const char* env = std::getenv("WARBLER_FUZZ_ITERATIONS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : fallback;
}

// The byte mutations the smoke tests share; each REQUIRES !f->empty().
inline void FlipRandomBit(std::string* f, std::mt19937_64& rng) {
  (*f)[rng() % f->size()] ^= static_cast<char>(1u << (rng() % 8));
}
inline void TruncateRandomly(std::string* f, std::mt19937_64& rng) { f->resize(rng() % f->size()); }
inline void InsertRandomByte(std::string* f, std::mt19937_64& rng) {
  const size_t at = rng() % (f->size() + 1);
  f->insert(at, 1, static_cast<char>(rng()));
}

// The directory to write seeds to, or nullptr when none was asked for.
inline const char* FuzzSeedDir() {
  const char* dir = std::getenv("WARBLER_FUZZ_WRITE_SEEDS");
  return dir != nullptr && *dir != '\0' ? dir : nullptr;
}

// Writes inputs[i] to <dir>/seed-<i>.
inline void WriteFuzzSeeds(const char* dir, const std::vector<std::string>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::ofstream out(std::string(dir) + "/seed-" + std::to_string(i), std::ios::binary | std::ios::trunc);
    out.write(inputs[i].data(), static_cast<std::streamsize>(inputs[i].size()));
  }
}

}  // namespace warbler
