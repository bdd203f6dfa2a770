// Runs the fuzz targets on a seeded stream of valid frames with random
// mutations (bit flips, truncations, insertions, length rewrites), so every
// default test run — under ASan/UBSan in CI — exercises the decoders the way
// a fuzzer would, if briefly. WARBLER_FUZZ_ITERATIONS raises the count.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "proto/frame.h"
#include "tests/fuzz/fuzz_util.h"

namespace warbler::proto {
void FuzzFrames(const uint8_t* data, size_t size);
namespace {

std::vector<std::string> Corpus() {
  std::vector<std::string> c;
  auto add = [&](Type t, auto encode) {
    std::string f;
    const size_t start = BeginFrame(t, 7, &f);
    encode(&f);
    FinishFrame(start, &f);
    c.push_back(f);
  };
  add(Type::kHello, [](std::string* o) { EncodeHello(Hello{1, 1, "fuzz"}, o); });
  add(Type::kAppend, [](std::string* o) { EncodeAppend(AppendRequest{{"t", "c"}, "s", "body", "id"}, o); });
  std::vector<AppendRequest> batch(3, AppendRequest{{"t", "c"}, "s", "b", ""});
  add(Type::kAppendBatch, [&](std::string* o) { EncodeAppendBatch(batch, o); });
  add(Type::kLatest, [](std::string* o) { EncodeQuery(Type::kLatest, Query{{"t", "c"}, 0, 50}, o); });
  add(Type::kAfter, [](std::string* o) { EncodeQuery(Type::kAfter, Query{{"t", "c"}, 9, 50}, o); });
  std::vector<Message> msgs(2);
  msgs[0].body = "hello";
  add(Type::kMessages, [&](std::string* o) { EncodeMessages(msgs, o); });
  Events ev;
  ev.events.push_back({1, "t", "c", 1, 2, "s", "", "b"});
  add(Type::kEvents, [&](std::string* o) { EncodeEvents(ev, o); });
  add(Type::kError, [](std::string* o) { EncodeError(ErrorCode::kIoError, "eio", o); });
  add(Type::kSubscribe, [](std::string* o) { EncodeSubscribe({1, 2}, o); });
  std::vector<AppendAck> acks(2);
  add(Type::kAcks, [&](std::string* o) { EncodeAcks(acks, o); });
  return c;
}

TEST(FuzzSmokeTest, MutatedFramesNeverCrashTheDecoders) {
  const uint64_t iterations = FuzzIterations(20000);
  const std::vector<std::string> corpus = Corpus();
  std::mt19937_64 rng(0xF022);
  for (uint64_t i = 0; i < iterations; ++i) {
    std::string f = corpus[rng() % corpus.size()];
    if (rng() % 3 == 0) f += corpus[rng() % corpus.size()];  // a stream of two
    const int mutations = 1 + static_cast<int>(rng() % 4);
    for (int m = 0; m < mutations && !f.empty(); ++m) {
      switch (rng() % 5) {
        case 0: FlipRandomBit(&f, rng); break;
        case 1: TruncateRandomly(&f, rng); break;
        case 2: InsertRandomByte(&f, rng); break;
        case 3: f[rng() % f.size()] = static_cast<char>(0xff); break;
        case 4: if (f.size() >= 4) f[static_cast<size_t>(rng() % 4)] = static_cast<char>(rng()); break;
      }
    }
    FuzzFrames(reinterpret_cast<const uint8_t*>(f.data()), f.size());
  }
  SUCCEED() << iterations << " mutated frame streams decoded without a crash";
}

}  // namespace
}  // namespace warbler::proto
