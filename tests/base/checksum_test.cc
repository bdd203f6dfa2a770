#include "base/checksum.h"

#include <gtest/gtest.h>

#include <string>

namespace warbler {
namespace {

TEST(ChecksumTest, KnownVectors) {
  // XXH3-64, seed 0 (reference values from xxhash's own test suite).
  EXPECT_EQ(Checksum64("", 0), 0x2D06800538D394C2ull);
  std::string abc = "abc";
  EXPECT_EQ(Checksum64(abc.data(), abc.size()), 0x78AF5F94892F3950ull);
}

TEST(ChecksumTest, TwoPiecesEqualOneShot) {
  std::string data(10000, 'x');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  auto bytes = std::as_bytes(std::span(data));
  for (size_t cut : {size_t{0}, size_t{17}, size_t{5017}, data.size()}) {
    EXPECT_EQ(Checksum64(bytes.first(cut), bytes.subspan(cut)),
              Checksum64(data.data(), data.size()))
        << "cut at " << cut;
  }
}

TEST(ChecksumTest, DetectsEveryFlippedBit) {
  std::string data = "the quick brown fox jumps over the lazy dog";
  const uint64_t base = Checksum64(data.data(), data.size());
  for (size_t i = 0; i < data.size() * 8; ++i) {
    std::string copy = data;
    copy[i / 8] = static_cast<char>(copy[i / 8] ^ (1 << (i % 8)));
    EXPECT_NE(Checksum64(copy.data(), copy.size()), base) << "bit " << i;
  }
}

}  // namespace
}  // namespace warbler
