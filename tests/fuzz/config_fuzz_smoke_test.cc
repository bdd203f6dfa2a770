// Runs the config fuzz target on seeded mutations (bit flips, truncations,
// insertions of TOML syntax, values rewritten to out-of-range or mistyped
// ones) of valid configurations, in every test run (under ASan/UBSan in
// CI), after checking that the valid ones are accepted.
// WARBLER_FUZZ_ITERATIONS raises the count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "server/config.h"
#include "tests/fuzz/fuzz_util.h"

namespace warbler::server {
bool FuzzConfig(const uint8_t* data, size_t size);
std::vector<std::string> ConfigSeeds();
namespace {

bool RunTarget(const std::string& in) { return FuzzConfig(reinterpret_cast<const uint8_t*>(in.data()), in.size()); }

TEST(ConfigFuzzSmokeTest, ValidConfigurationsAreAccepted) {
  for (const std::string& c : ConfigSeeds()) EXPECT_TRUE(RunTarget(c)) << c;
  // And the target does reject: an unknown key, a value out of range, a bad address.
  EXPECT_FALSE(RunTarget(std::string(DefaultConfigToml()) + "colour = \"blue\"\n"));
  EXPECT_FALSE(RunTarget(std::string(DefaultConfigToml()) + '\0' + "WARBLER_STORE_PARTITIONS=0"));
  EXPECT_FALSE(RunTarget(std::string(DefaultConfigToml()) + '\0' + "WARBLER_SERVER_WORKER_THREADS=x"));
  // A table header that does not start a key: toml++ 3.3 built with its
  // assertions aborts here (scripts/fuzz); the library warblerd links returns
  // a parse error.
  EXPECT_FALSE(RunTarget("[@"));
}

TEST(ConfigFuzzSmokeTest, MutatedConfigurationsNeverCrashTheParser) {
  const uint64_t iterations = FuzzIterations(2000);
  const std::vector<std::string> corpus = ConfigSeeds();
  static const char kSyntax[] = "[]{}\"'=.,#\n\\ \t0-+:";
  static const char* const kValues[] = {"-1", "0", "9223372036854775807", "9223372036854775808",
                                        "-9223372036854775808", "4294967296", "1e400", "nan", "inf",
                                        "0x7fffffff", "\"\"", "\"\\u0000\"", "true", "[1, [2]]", "{ a = 1 }",
                                        "1979-05-27T07:32:00Z", "\"[::1\"", "\":\"", "\"h:99999\""};
  std::mt19937_64 rng(0xC0F16);
  uint64_t accepted = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    std::string f = corpus[rng() % corpus.size()];
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations && !f.empty(); ++m) {
      switch (rng() % 5) {
        case 0: FlipRandomBit(&f, rng); break;
        case 1: TruncateRandomly(&f, rng); break;
        case 2: f.insert(rng() % (f.size() + 1), 1, kSyntax[rng() % (sizeof kSyntax - 1)]); break;
        case 3: InsertRandomByte(&f, rng); break;
        case 4: {  // a value rewritten: `key = <value>` up to the end of its line
          const size_t eq = f.find('=', rng() % f.size());
          if (eq == std::string::npos) break;
          const size_t end = std::min(f.find_first_of(std::string("\n\0", 2), eq), f.size());
          f.replace(eq + 1, end - eq - 1, std::string(" ") + kValues[rng() % std::size(kValues)]);
          break;
        }
      }
    }
    if (RunTarget(f)) ++accepted;
  }
  SUCCEED() << iterations << " mutated configurations, " << accepted << " accepted";
}

}  // namespace
}  // namespace warbler::server
