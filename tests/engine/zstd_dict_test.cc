// zstd dictionaries (engine/codec/zstd_dict.h): training, round trips, and
// that a trained dictionary actually shrinks single chat messages.
#include "engine/codec/zstd_dict.h"

#include <gtest/gtest.h>

#include <vector>

#include "base/coding.h"
#include "base/rng.h"
#include "engine/codec/zstd_codec.h"

namespace warbler::engine::codec {
namespace {

std::vector<std::string> ChatBodies(size_t count, uint64_t seed) {
  static const char* kWords[] = {"the",    "meeting", "today",  "deploy", "review", "thanks",
                                 "please", "ticket",  "build",  "fixed",  "lunch",  "release",
                                 "branch", "merge",   "test",   "green",  "ship",   "customer",
                                 "call",   "draft",   "sounds", "good",   "sure",   "tomorrow"};
  Rng rng(seed);
  std::vector<std::string> out(count);
  for (std::string& body : out) {
    body = "{\"from\":\"user-" + std::to_string(rng.Uniform(1000)) + "\",\"text\":\"";
    while (body.size() < 190) {
      body += kWords[rng.Uniform(std::size(kWords))];
      body += ' ';
    }
    body.resize(198);
    body += "\"}";
  }
  return out;
}

TEST(ZstdDictTest, TrainedDictionaryShrinksSingleMessages) {
  auto dict_bytes = TrainDictionary(ChatBodies(2000, 1), 8 << 10);
  ASSERT_TRUE(dict_bytes.ok()) << dict_bytes.status().ToString();
  EXPECT_LE(dict_bytes->size(), size_t{8} << 10);
  auto dict = ZstdDictionary::Load(*dict_bytes, 1);
  ASSERT_TRUE(dict.ok()) << dict.status().ToString();
  EXPECT_NE((*dict)->id(), 0u);
  size_t plain = 0, with = 0, without = 0;
  for (const std::string& body : ChatBodies(200, 2)) {  // messages not in the sample
    std::string a, b, back;
    ASSERT_TRUE((*dict)->Compress(AsBytes(body), &a).ok());
    ASSERT_TRUE(ZstdCompress(AsBytes(body), 1, &b).ok());
    ASSERT_TRUE((*dict)->Decompress(AsBytes(a), 1 << 20, &back).ok());
    EXPECT_EQ(back, body);
    plain += body.size();
    with += a.size();
    without += b.size();
  }
  EXPECT_LT(with * 10, without * 7)
      << "dictionary: " << with << " bytes, none: " << without << ", plain: " << plain;
}

TEST(ZstdDictTest, ErrorsAreClassified) {
  EXPECT_EQ(TrainDictionary(ChatBodies(3, 1), 8 << 10).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(ZstdDictionary::Load("not a dictionary", 1).status().code(),
            StatusCode::kInvalidArgument);
  auto a = ZstdDictionary::Load(*TrainDictionary(ChatBodies(2000, 1), 4 << 10), 1);
  auto b = ZstdDictionary::Load(*TrainDictionary(ChatBodies(2000, 7), 4 << 10), 1);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_NE((*a)->id(), (*b)->id());
  std::string frame, out;
  ASSERT_TRUE((*a)->Compress(AsBytes(ChatBodies(1, 3)[0]), &frame).ok());
  EXPECT_EQ((*b)->Decompress(AsBytes(frame), 1 << 20, &out).code(), StatusCode::kCorruption);
  EXPECT_EQ((*a)->Decompress(AsBytes(frame), 10, &out).code(), StatusCode::kCorruption);
  EXPECT_EQ((*a)->Decompress(AsBytes(frame).first(3), 1 << 20, &out).code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace warbler::engine::codec
