// The .cix encoding (engine/conv/cix.h): header versions and flags, and
// walking a runs section.
#include "engine/conv/cix.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/coding.h"

namespace warbler::engine::cix {
namespace {

std::span<const std::byte> Bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(CixTest, HeaderRoundTripsWithAndWithoutADirectory) {
  for (bool with : {true, false}) {
    Header h;
    h.partition = 3;
    h.ordinal = 7;
    h.segment_base = 100;
    h.segment_next = 250;
    h.runs_bytes = 800;
    h.dir_count = with ? 12 : 0;
    h.dedup_count = 5;
    h.has_directory = with;
    std::string out;
    EncodeHeader(h, &out);
    ASSERT_EQ(out.size(), kHeaderSize);
    Header got;
    ASSERT_TRUE(DecodeHeader(Bytes(out), &got).ok());
    EXPECT_EQ(got.has_directory, with);
    EXPECT_EQ(got.dir_count, h.dir_count);
    EXPECT_EQ(got.file_size(), h.file_size());
  }
}

TEST(CixTest, VersionOneIsReadAndUnknownFlagsAreNot) {
  Header h;
  h.runs_bytes = 64;
  h.dir_count = 1;
  std::string out;
  EncodeHeader(h, &out);
  // The header with its version and flags bytes replaced, checksum redone.
  auto with = [&](uint8_t version, uint16_t flags) {
    std::string s = out;
    s[4] = static_cast<char>(version);
    s[5] = 0;
    s[6] = static_cast<char>(flags & 0xff);
    s[7] = static_cast<char>(flags >> 8);
    EncodeFixed64(reinterpret_cast<std::byte*>(s.data()) + 56, Checksum64(s.data(), 56));
    return s;
  };
  Header got;
  ASSERT_TRUE(DecodeHeader(Bytes(with(1, 0)), &got).ok());  // written before flags existed
  EXPECT_TRUE(got.has_directory);
  EXPECT_EQ(DecodeHeader(Bytes(with(1, kFlagNoDirectory)), &got).code(), StatusCode::kNotSupported);
  EXPECT_EQ(DecodeHeader(Bytes(with(2, 4)), &got).code(), StatusCode::kNotSupported);
  EXPECT_EQ(DecodeHeader(Bytes(with(3, 0)), &got).code(), StatusCode::kNotSupported);
  // No directory yet a directory count: impossible.
  EXPECT_EQ(DecodeHeader(Bytes(with(2, kFlagNoDirectory)), &got).code(), StatusCode::kCorruption);
}

TEST(CixTest, RunsSectionIsWalkedWithPositions) {
  std::string file(kHeaderSize, '\0');
  std::vector<uint32_t> want;
  for (uint64_t i = 1; i <= 3; ++i) {
    RunsEntry e;
    e.id = ConvId{i, i * 7};
    e.first_seq = 10 * i;
    e.last_seq = 10 * i + i;
    e.last_ts = 1000 * i;
    for (uint64_t r = 0; r < i; ++r) e.refs.push_back({10 * i + r, static_cast<uint32_t>(64 * r), 100});
    want.push_back(static_cast<uint32_t>(file.size() / 8));
    AppendRunsEntry(e, &file);
  }
  std::vector<uint32_t> got;
  std::vector<uint64_t> last;
  Status s = DecodeRunsSection(Bytes(file).subspan(kHeaderSize), [&](const RunsEntry& e, uint32_t pos8) {
    got.push_back(pos8);
    last.push_back(e.last_seq);
    RunsEntry again;
    ASSERT_TRUE(DecodeRunsEntry(Bytes(file).subspan(uint64_t{pos8} * 8), &again).ok());
    EXPECT_EQ(again.id, e.id);
  });
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(got, want);
  EXPECT_EQ(last, (std::vector<uint64_t>{11, 22, 33}));
  // A flipped byte in the second entry stops the walk with Corruption.
  file[want[1] * 8 + 20] ^= 1;
  EXPECT_EQ(DecodeRunsSection(Bytes(file).subspan(kHeaderSize), [](const RunsEntry&, uint32_t) {}).code(),
            StatusCode::kCorruption);
}

// Regression (found by tests/fuzz/store_files_fuzz.cc): an empty section
// shorter than its 8-byte checksum read the checksum from past its end. Here
// the bytes past the end are the right checksum, so without the size check
// the truncated section decoded as valid (and under ASan a section at the
// end of its buffer was a heap-buffer-overflow).
TEST(CixTest, SectionShorterThanItsChecksumIsTruncated) {
  std::string buf;
  AppendSectionChecksum(0, &buf);  // the checksum of zero entries
  ASSERT_EQ(buf.size(), 8u);
  for (size_t len = 0; len < 8; ++len) {
    const auto in = Bytes(buf).first(len);
    EXPECT_EQ(DecodeDirSection(in, 0, [](const DirEntry&) { FAIL(); }).code(), StatusCode::kCorruption) << len;
    EXPECT_EQ(DecodeDedupSection(in, 0, [](const DedupEntry&) { FAIL(); }).code(), StatusCode::kCorruption) << len;
  }
  // The whole 8 bytes are a valid empty section.
  EXPECT_TRUE(DecodeDirSection(Bytes(buf), 0, [](const DirEntry&) { FAIL(); }).ok());
  EXPECT_TRUE(DecodeDedupSection(Bytes(buf), 0, [](const DedupEntry&) { FAIL(); }).ok());
}

}  // namespace
}  // namespace warbler::engine::cix
