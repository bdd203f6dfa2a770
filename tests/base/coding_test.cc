#include "base/coding.h"

#include <gtest/gtest.h>

#include "base/rng.h"

namespace warbler {
namespace {

TEST(CodingTest, FixedLittleEndian) {
  std::string s;
  PutFixed32(&s, 0x04030201);
  PutFixed64(&s, 0x0807060504030201ull);
  PutFixed16(&s, 0xBEEF);
  ASSERT_EQ(s.size(), 14u);
  EXPECT_EQ(s[0], 1);
  EXPECT_EQ(s[3], 4);
  EXPECT_EQ(s[4], 1);
  EXPECT_EQ(s[11], 8);
  Reader r(s);
  uint32_t a;
  uint64_t b;
  uint16_t c;
  ASSERT_TRUE(r.GetFixed32(&a));
  ASSERT_TRUE(r.GetFixed64(&b));
  ASSERT_TRUE(r.GetFixed16(&c));
  EXPECT_EQ(a, 0x04030201u);
  EXPECT_EQ(b, 0x0807060504030201ull);
  EXPECT_EQ(c, 0xBEEF);
  EXPECT_TRUE(r.empty());
  EXPECT_FALSE(r.GetFixed16(&c));
}

TEST(CodingTest, VarintRoundTripAndLength) {
  Rng rng(7);
  std::vector<uint64_t> values = {0, 1, 127, 128, 16383, 16384, UINT32_MAX, UINT64_MAX};
  for (int i = 0; i < 1000; ++i) values.push_back(rng.Next() >> rng.Uniform(64));
  std::string s;
  for (uint64_t v : values) PutVarint64(&s, v);
  Reader r(s);
  for (uint64_t v : values) {
    uint64_t got;
    ASSERT_TRUE(r.GetVarint64(&got));
    EXPECT_EQ(got, v);
  }
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(VarintLength(0), 1u);
  EXPECT_EQ(VarintLength(128), 2u);
  EXPECT_EQ(VarintLength(UINT64_MAX), 10u);
}

TEST(CodingTest, VarintRejectsTruncatedAndOverlong) {
  std::string s;
  PutVarint64(&s, 300);
  Reader truncated(std::string_view(s.data(), 1));
  uint64_t v;
  EXPECT_FALSE(truncated.GetVarint64(&v));
  std::string overlong(11, '\x80');
  Reader r2(overlong);
  EXPECT_FALSE(r2.GetVarint64(&v));
  std::string too_big(9, '\xff');
  too_big += '\x7f';  // would need bits beyond 64
  Reader r3(too_big);
  EXPECT_FALSE(r3.GetVarint64(&v));
  std::string big32;
  PutVarint64(&big32, 1ull << 33);
  Reader r4(big32);
  uint32_t v32;
  EXPECT_FALSE(r4.GetVarint32(&v32));
}

TEST(CodingTest, LengthPrefixedEnforcesMaxAndBounds) {
  std::string s;
  PutLengthPrefixed(&s, "hello");
  std::string_view out;
  Reader ok(s);
  ASSERT_TRUE(ok.GetLengthPrefixed(&out, 5));
  EXPECT_EQ(out, "hello");
  Reader too_long(s);
  EXPECT_FALSE(too_long.GetLengthPrefixed(&out, 4));
  Reader short_input(std::string_view(s.data(), 3));
  EXPECT_FALSE(short_input.GetLengthPrefixed(&out, 100));
}

}  // namespace
}  // namespace warbler
