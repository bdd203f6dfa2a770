// Batch and record encoding: round trips, golden vectors, and every way a
// stored batch can be wrong (docs/format.md "Reader rules").
#include "engine/log/batch.h"

#include <gtest/gtest.h>

#include "base/coding.h"
#include "base/rng.h"

namespace warbler::engine {
namespace {

// Golden vector 1: two records, codec none, base offset 42, term 7. These
// bytes are the format; if this test fails, the format changed.
const uint8_t kGoldenBatch[] = {
      0x7c, 0xb4, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x2a, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x40, 0x1e, 0x18, 0x24, 0x0a, 0x06, 0x00, 0xfa, 0x00, 0x00, 0x00,
      0x3e, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xd3, 0x58, 0x0c, 0x42,
      0x00, 0xf5, 0x0d, 0x81, 0x1e, 0x02, 0x00, 0x01, 0x04, 0x61, 0x63, 0x6d,
      0x65, 0x06, 0x72, 0x6f, 0x6f, 0x6d, 0x2d, 0x31, 0x02, 0x63, 0x31, 0x05,
      0x61, 0x6c, 0x69, 0x63, 0x65, 0x05, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x1e,
      0x01, 0xfa, 0x01, 0x02, 0x04, 0x61, 0x63, 0x6d, 0x65, 0x06, 0x72, 0x6f,
      0x6f, 0x6d, 0x2d, 0x31, 0x00, 0x03, 0x62, 0x6f, 0x62, 0x08, 0x68, 0x69,
      0x20, 0x61, 0x6c, 0x69, 0x63, 0x65,
};

Record MakeRecord(uint64_t ts, uint64_t seq, std::string body) {
  Record r;
  r.timestamp_us = ts;
  r.seq = seq;
  r.tenant = "acme";
  r.conversation = "room-1";
  r.sender = "alice";
  r.body = std::move(body);
  return r;
}

std::span<const std::byte> Bytes(const std::string& s) { return AsBytes(s); }

TEST(BatchGoldenTest, DecodesAndReencodesByteForByte) {
  std::string golden(reinterpret_cast<const char*>(kGoldenBatch), sizeof kGoldenBatch);
  auto d = DecodeBatch(Bytes(golden));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->header.base_offset, 42u);
  EXPECT_EQ(d->header.term, 7u);
  EXPECT_EQ(d->header.record_count, 2u);
  EXPECT_EQ(d->header.max_timestamp_us(), 1700000000000250u);
  ASSERT_EQ(d->records.size(), 2u);
  EXPECT_EQ(d->records[0].body, "hello");
  EXPECT_EQ(d->records[0].client_id, "c1");
  EXPECT_EQ(d->records[0].offset, 42u);
  EXPECT_EQ(d->records[1].body, "hi alice");
  EXPECT_EQ(d->records[1].sender, "bob");
  EXPECT_EQ(d->records[1].flags & format::kRecordTombstone, format::kRecordTombstone);
  EXPECT_EQ(d->records[1].offset, 43u);
  EXPECT_EQ(d->records[1].timestamp_us, 1700000000000250u);

  Record a = d->records[0].ToRecord(), b = d->records[1].ToRecord();
  BatchBuilder builder;
  builder.Add(&a);
  builder.Add(&b);
  std::string again;
  BatchOptions raw;
  raw.compress = false;
  ASSERT_TRUE(builder.Finish(42, 7, raw, &again).ok());
  EXPECT_EQ(again, golden);
}

TEST(BatchTest, RoundTripCompressedAndRaw) {
  std::vector<Record> records;
  for (int i = 0; i < 100; ++i) {
    records.push_back(MakeRecord(1000 + i, i + 1, "message body number " + std::to_string(i)));
  }
  for (bool compress : {true, false}) {
    BatchBuilder builder;
    for (auto& r : records) builder.Add(&r);
    std::string out;
    BatchOptions o;
    o.compress = compress;
    auto h = builder.Finish(500, 3, o, &out);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->codec(), compress ? format::kCodecZstd : format::kCodecNone);
    EXPECT_EQ(out.size(), h->total_size());
    auto d = DecodeBatch(Bytes(out));
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_EQ(d->records.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(d->records[i].body, records[i].body);
      EXPECT_EQ(d->records[i].timestamp_us, records[i].timestamp_us);
      EXPECT_EQ(d->records[i].offset, 500 + i);
    }
  }
}

TEST(BatchTest, IncompressiblePayloadIsStoredRaw) {
  Rng rng(1);
  std::string body(4000, '\0');
  for (char& c : body) c = static_cast<char>(rng.Next());
  Record r = MakeRecord(1, 1, body);
  BatchBuilder builder;
  builder.Add(&r);
  std::string out;
  auto h = builder.Finish(0, 0, BatchOptions{}, &out);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->codec(), format::kCodecNone);
  EXPECT_TRUE(DecodeBatch(Bytes(out)).ok());
}

TEST(BatchTest, EveryFlippedByteIsDetected) {
  std::string golden(reinterpret_cast<const char*>(kGoldenBatch), sizeof kGoldenBatch);
  for (size_t i = 0; i < golden.size(); ++i) {
    std::string bad = golden;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    auto d = DecodeBatch(Bytes(bad));
    ASSERT_FALSE(d.ok()) << "flip at byte " << i << " went undetected";
    EXPECT_TRUE(d.status().code() == StatusCode::kCorruption ||
                d.status().code() == StatusCode::kNotSupported)
        << i << ": " << d.status().ToString();
  }
}

TEST(BatchTest, HeaderErrorsAreClassified) {
  std::string golden(reinterpret_cast<const char*>(kGoldenBatch), sizeof kGoldenBatch);
  BatchHeader h;
  std::string v2 = golden;
  v2[format::kBhVersion] = 2;
  EXPECT_EQ(DecodeBatchHeader(Bytes(v2), &h).code(), StatusCode::kNotSupported);
  std::string flags = golden;
  flags[format::kBhFlags] = static_cast<char>(0x80);
  EXPECT_EQ(DecodeBatchHeader(Bytes(flags), &h).code(), StatusCode::kNotSupported);
  std::string zero_count = golden;
  zero_count[format::kBhRecordCount] = 0;
  EXPECT_EQ(DecodeBatchHeader(Bytes(zero_count), &h).code(), StatusCode::kCorruption);
  EXPECT_EQ(DecodeBatchHeader(Bytes(golden.substr(0, 10)), &h).code(), StatusCode::kCorruption);
  // A length that runs past the data.
  EXPECT_EQ(DecodeBatch(Bytes(golden.substr(0, golden.size() - 1))).status().code(),
            StatusCode::kCorruption);
  std::string zeros(64, '\0');
  EXPECT_TRUE(IsZeroHeader(Bytes(zeros)));
  EXPECT_FALSE(IsZeroHeader(Bytes(golden)));
  // Encrypted batches are refused clearly until a keyring exists.
  std::string enc = golden;
  enc[format::kBhFlags] = format::kFlagEncrypted;
  EncodeFixed64(reinterpret_cast<std::byte*>(enc.data()) + format::kBatchChecksumOffset,
                ComputeBatchChecksum(Bytes(enc).first(64), Bytes(enc).subspan(64)));
  EXPECT_EQ(DecodeBatch(Bytes(enc)).status().code(), StatusCode::kNotSupported);
}

TEST(BatchTest, BuilderEnforcesFormatLimits) {
  Record a = MakeRecord(0, 1, "x");
  Record b = MakeRecord(uint64_t{1} << 33, 2, "y");
  BatchBuilder builder;
  builder.Add(&a);
  builder.Add(&b);
  std::string out;
  EXPECT_EQ(builder.Finish(0, 0, BatchOptions{}, &out).status().code(),
            StatusCode::kInvalidArgument);
  BatchBuilder empty;
  EXPECT_FALSE(empty.Finish(0, 0, BatchOptions{}, &out).ok());
}

TEST(RecordTest, ValidateNamesTheLimit) {
  Record r = MakeRecord(1, 1, "x");
  r.sender.assign(256, 's');
  Status s = ValidateRecord(r);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("sender"), std::string::npos);
  r = MakeRecord(1, 1, std::string((1 << 20) + 1, 'b'));
  EXPECT_NE(ValidateRecord(r).message().find("body"), std::string::npos);
  r = MakeRecord(1, 1, "x");
  r.client_id.assign(65, 'c');
  EXPECT_NE(ValidateRecord(r).message().find("client message id"), std::string::npos);
  r = MakeRecord(1, 1, std::string("nul\0inside", 10));
  r.conversation = std::string("a\0b", 3);
  EXPECT_TRUE(ValidateRecord(r).ok());
}

TEST(RecordTest, RandomGarbageNeverCrashesTheDecoder) {
  Rng rng(99);
  for (int i = 0; i < 20000; ++i) {
    std::string junk(rng.Uniform(200), '\0');
    for (char& c : junk) c = static_cast<char>(rng.Next());
    std::string_view in(junk);
    RecordView v;
    (void)DecodeRecord(&in, 0, &v);
    (void)DecodeBatch(Bytes(junk));
  }
}

}  // namespace
}  // namespace warbler::engine
