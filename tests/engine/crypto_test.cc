// AES-256-GCM, nonce derivation, KEK loading and encrypted batches
// (docs/security.md): known-answer and golden vectors, round trips, and every
// way a stored encrypted batch can be damaged or forged.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "base/coding.h"
#include "base/rng.h"
#include "engine/crypto/aead.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/kek.h"
#include "engine/crypto/key_source.h"
#include "engine/log/batch.h"

namespace warbler::engine::crypto {
namespace {

std::vector<std::byte> Hex(std::string_view hex) {
  std::vector<std::byte> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

std::string ToHex(std::span<const std::byte> b) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::byte x : b) {
    s += kDigits[static_cast<uint8_t>(x) >> 4];
    s += kDigits[static_cast<uint8_t>(x) & 0xf];
  }
  return s;
}

// Golden vectors, in hex (see the tests that use them). These bytes are the
// format: if a test comparing against them fails, the format changed.
const char kGoldenCiphertext[] = "9c46a78725d0f9b33e3336dc8e6a";
const char kGoldenTag[] = "b6fcdd8ccc1ae5621c00ae61c0e73b3f";
// 64-byte header (flags 0x04 encrypted, key id 3, nonce = epoch 9 || offset
// 42), 62 bytes of ciphertext, 16-byte tag.
const char kGoldenBatch[] =
    "7cb40104000002002a00000000000000070000000000000000401e18240a0600"
    "fa0000004e00000003000000090000002a00000000000000b0e4aa293b5d9221"
    "fc039171f9b7c65cc894eacc67aa57a16f0699c8c394843bc445b1b2f96ae8c0"
    "09173ef9bebb78c860fd183cd2d066b672f2990de09609d1df8871d9df96c598"
    "7d391f44db8a545fba0ed1068529";

Key KeyOf(std::string_view hex) { return *Key::FromHex(hex); }

Key CountingKey(uint8_t start) {
  std::array<uint8_t, kKeySize> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(start + i);
  return Key(b);
}

// Fixed DEKs and an in-memory epoch counter: golden vectors need a key source
// whose keys and epochs are known.
class FixedKeySource final : public KeySource {
 public:
  void Add(uint32_t id, const Key& key, const std::string& tenant = "") {
    keys_[id] = std::make_shared<const Key>(key);
    current_[tenant] = id;
  }
  Result<std::shared_ptr<const Key>> Lookup(uint32_t id) const override {
    auto it = keys_.find(id);
    if (it == keys_.end()) return Status::NotFound("key id " + std::to_string(id));
    return it->second;
  }
  Result<uint32_t> DekFor(std::string_view tenant) const override {
    auto it = current_.find(std::string(tenant));
    return it != current_.end() ? it->second : current_.at("");
  }
  Result<uint32_t> ReserveNonceEpochs(uint32_t count) override {
    if (fail_reserve) return Status::IOError("injected");
    const uint32_t first = next_epoch;
    next_epoch += count;
    return first;
  }
  uint32_t next_epoch = 1;
  bool fail_reserve = false;

 private:
  std::map<uint32_t, std::shared_ptr<const Key>> keys_;
  std::map<std::string, uint32_t> current_;
};

// ---- AES-256-GCM ----

// NIST GCM specification (McGrew & Viega), test case 16: AES-256, 60-byte
// plaintext, 20-byte AAD. An independent known answer for our EVP wrapper.
TEST(AeadTest, NistTestCase16) {
  const Key key = KeyOf("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  Nonce nonce{};
  auto iv = Hex("cafebabefacedbaddecaf888");
  std::memcpy(nonce.data(), iv.data(), nonce.size());
  auto aad = Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto data = Hex(
      "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6"
      "b525b16aedf5aa0de657ba637b39");
  const auto plain = data;
  std::array<std::byte, kTagSize> tag{};
  ASSERT_TRUE(Seal(key, nonce, aad, data, tag).ok());
  EXPECT_EQ(
      ToHex(data),
      "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056"
      "828838c5f61e6393ba7a0abcc9f662");
  EXPECT_EQ(ToHex(tag), "76fc6ece0f4e1768cddf8853bb2d551b");
  std::vector<std::byte> back(data.size());
  ASSERT_TRUE(Open(key, nonce, aad, data, tag, back).ok());
  EXPECT_EQ(back, plain);
}

// Warbler's own vector: key 00..1f, the nonce of epoch 7 / offset 42.
TEST(AeadTest, GoldenVectorWithBatchNonce) {
  const Nonce nonce = BatchNonce(7, 42);
  EXPECT_EQ(ToHex(std::as_bytes(std::span(nonce))), "070000002a00000000000000");
  std::string text = "hello, warbler";
  auto data = std::as_writable_bytes(std::span(text));
  std::array<std::byte, kTagSize> tag{};
  ASSERT_TRUE(Seal(CountingKey(0), nonce, AsBytes("aad"), data, tag).ok());
  EXPECT_EQ(ToHex(data), kGoldenCiphertext);
  EXPECT_EQ(ToHex(tag), kGoldenTag);
}

TEST(AeadTest, AnyChangeFailsAuthentication) {
  const Key key = CountingKey(1);
  const Nonce nonce = BatchNonce(1, 1);
  std::string text(300, 'x');
  auto data = std::as_writable_bytes(std::span(text));
  std::array<std::byte, kTagSize> tag{};
  ASSERT_TRUE(Seal(key, nonce, AsBytes("header"), data, tag).ok());
  std::vector<std::byte> out(data.size());
  ASSERT_TRUE(Open(key, nonce, AsBytes("header"), data, tag, out).ok());
  EXPECT_EQ(Open(CountingKey(2), nonce, AsBytes("header"), data, tag, out).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(Open(key, BatchNonce(1, 2), AsBytes("header"), data, tag, out).code(),
            StatusCode::kUnauthenticated);
  EXPECT_EQ(Open(key, nonce, AsBytes("headex"), data, tag, out).code(),
            StatusCode::kUnauthenticated);
  auto bad_tag = tag;
  bad_tag[15] ^= std::byte{1};
  EXPECT_EQ(Open(key, nonce, AsBytes("header"), data, bad_tag, out).code(),
            StatusCode::kUnauthenticated);
  // No plaintext is left behind after a failed open.
  EXPECT_EQ(std::count(out.begin(), out.end(), std::byte{0}), static_cast<long>(out.size()));
  data[0] ^= std::byte{1};
  EXPECT_EQ(Open(key, nonce, AsBytes("header"), data, tag, out).code(),
            StatusCode::kUnauthenticated);
}

// A Key keeps its expanded schedule (made on first use): a copy makes its
// own, and an assignment drops the old bytes' schedule.
TEST(AeadTest, ACopiedOrReassignedKeySealsWithItsOwnBytes) {
  const Nonce nonce = BatchNonce(7, 42);
  auto seal = [&](const Key& k) {
    std::string text = "hello, warbler";
    auto data = std::as_writable_bytes(std::span(text));
    std::array<std::byte, kTagSize> tag{};
    EXPECT_TRUE(Seal(k, nonce, AsBytes("aad"), data, tag).ok());
    return ToHex(data) + "/" + ToHex(tag);
  };
  const std::string golden = std::string(kGoldenCiphertext) + "/" + kGoldenTag;
  Key a = CountingKey(0);
  EXPECT_EQ(seal(a), golden);
  Key b = a;  // a's schedule exists; b makes its own
  EXPECT_EQ(seal(b), golden);
  b = CountingKey(1);  // b's schedule was of key 0
  const std::string other = seal(b);
  EXPECT_NE(other, golden);
  EXPECT_EQ(seal(CountingKey(1)), other);
  EXPECT_EQ(seal(a), golden);
  a = b;
  EXPECT_EQ(seal(a), other);
}

// Threads share one Key (its schedule made by whichever comes first) and
// each thread's context goes from key to key: every result must equal what
// a fresh key gives on one thread.
TEST(AeadTest, ThreadsShareOneKeysSchedule) {
  const auto k1 = std::make_shared<const Key>(CountingKey(3));
  const auto k2 = std::make_shared<const Key>(CountingKey(4));
  constexpr int kThreads = 6, kRounds = 150;
  auto seal = [](const Key& k, uint64_t offset, std::string* text) {
    auto data = std::as_writable_bytes(std::span(*text));
    std::array<std::byte, kTagSize> tag{};
    EXPECT_TRUE(Seal(k, BatchNonce(9, offset), AsBytes("hdr"), data, tag).ok());
    return tag;
  };
  // Expected ciphertexts and tags, from separate keys on this thread.
  std::vector<std::string> want_text(kRounds);
  std::vector<std::array<std::byte, kTagSize>> want_tag(kRounds);
  for (int i = 0; i < kRounds; ++i) {
    want_text[i] = "message " + std::to_string(i) + std::string(static_cast<size_t>(i), 'm');
    want_tag[i] = seal(i % 2 == 0 ? CountingKey(3) : CountingKey(4), static_cast<uint64_t>(i), &want_text[i]);
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const int i = (r + t * 7) % kRounds;
        const Key& k = i % 2 == 0 ? *k1 : *k2;
        std::string text = "message " + std::to_string(i) + std::string(static_cast<size_t>(i), 'm');
        const auto tag = seal(k, static_cast<uint64_t>(i), &text);
        if (text != want_text[i] || tag != want_tag[i]) failures.fetch_add(1);
        std::string back(text.size(), '\0');
        const Status s = Open(k, BatchNonce(9, static_cast<uint64_t>(i)), AsBytes("hdr"), AsBytes(text), tag,
                              std::as_writable_bytes(std::span(back)));
        if (!s.ok() || back != "message " + std::to_string(i) + std::string(static_cast<size_t>(i), 'm')) {
          failures.fetch_add(1);
        }
        // The other key must not open it: the context holds no stale schedule.
        const Key& wrong = i % 2 == 0 ? *k2 : *k1;
        if (Open(wrong, BatchNonce(9, static_cast<uint64_t>(i)), AsBytes("hdr"), AsBytes(text), tag,
                 std::as_writable_bytes(std::span(back)))
                .code() != StatusCode::kUnauthenticated) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(KeyTest, HexParsingAndRandomKeys) {
  EXPECT_TRUE(Key::FromHex(std::string(64, 'A')).ok());
  EXPECT_EQ(Key::FromHex(std::string(63, 'a')).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Key::FromHex(std::string(63, 'a') + "g").status().code(), StatusCode::kInvalidArgument);
  auto a = Key::Random(), b = Key::Random();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->Equals(*b));
  Key c = *a;
  EXPECT_TRUE(c.Equals(*a));
}

// ---- nonces ----

Record Rec(uint64_t ts, std::string body, std::string tenant = "acme") {
  Record r;
  r.timestamp_us = ts;
  r.tenant = std::move(tenant);
  r.conversation = "room-1";
  r.sender = "alice";
  r.body = std::move(body);
  return r;
}

TEST(NonceTest, OneCipherNeverReusesAnOffsetInItsEpoch) {
  FixedKeySource keys;
  keys.Add(1, CountingKey(0));
  auto cipher = BatchCipher::Create(&keys);
  ASSERT_TRUE(cipher.ok());
  std::set<Nonce> seen;
  auto plan = [&](uint64_t base, uint32_t count) {
    auto p = (*cipher)->Plan("", base, count);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_TRUE(seen.insert(p->nonce).second) << "nonce reused at offset " << base;
    return *p;
  };
  const uint32_t e = (*cipher)->epoch();
  EXPECT_EQ(plan(0, 10).nonce, BatchNonce(e, 0));
  EXPECT_EQ(plan(10, 5).nonce, BatchNonce(e, 10));
  EXPECT_EQ(plan(20, 1).nonce, BatchNonce(e, 20));  // gaps are fine
  // A failed write is redone at offset 10 with other records: new epoch.
  EXPECT_NE(plan(10, 3).nonce, BatchNonce(e, 10));
  EXPECT_NE((*cipher)->epoch(), e);
  EXPECT_EQ(plan(13, 1).nonce, BatchNonce((*cipher)->epoch(), 13));
  // A failed reservation fails the plan rather than reuse a nonce.
  keys.fail_reserve = true;
  EXPECT_EQ((*cipher)->Plan("", 0, 1).status().code(), StatusCode::kIOError);
}

TEST(NonceTest, RewriteOfTheSameOffsetGetsADifferentNonce) {
  FixedKeySource keys;
  keys.Add(1, CountingKey(0));
  Record r = Rec(1000, "same body");
  auto seal = [&](BatchCipher* c) {
    BatchBuilder b;
    b.Add(&r);
    BatchOptions o;
    o.cipher = c;
    std::string out;
    auto h = b.Finish(100, 1, o, &out);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return std::make_pair(*h, out);
  };
  auto writer = BatchCipher::Create(&keys);
  auto rewrite = BatchCipher::Create(&keys);  // a compaction job: its own generation
  ASSERT_TRUE(writer.ok() && rewrite.ok());
  auto [h1, b1] = seal(writer->get());
  auto [h2, b2] = seal(rewrite->get());
  EXPECT_EQ(h1.key_id, h2.key_id);
  EXPECT_EQ(h1.base_offset, h2.base_offset);
  EXPECT_NE(h1.nonce, h2.nonce);
  EXPECT_NE(b1.substr(64), b2.substr(64));
  auto many = BatchCipher::CreateMany(&keys, 64);
  ASSERT_TRUE(many.ok());
  std::set<uint32_t> epochs{(*writer)->epoch(), (*rewrite)->epoch()};
  for (auto& c : *many) EXPECT_TRUE(epochs.insert(c->epoch()).second);
  for (const auto& [h, b] : {seal(writer->get()), seal(rewrite->get())}) {
    auto d = DecodeBatch(AsBytes(b), &keys);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->records[0].body, "same body");
  }
}

// ---- encrypted batches ----

// Golden vector: two records (as in batch_test's golden batch), codec none,
// base offset 42, term 7, DEK 00..1f with key id 3, nonce epoch 9. These bytes
// are the encrypted format; if this test fails, the format changed.
TEST(EncryptedBatchTest, GoldenVector) {
  FixedKeySource keys;
  keys.Add(3, CountingKey(0));
  keys.next_epoch = 9;
  auto cipher = BatchCipher::Create(&keys);
  ASSERT_TRUE(cipher.ok());
  Record a = Rec(1700000000000000, "hello");
  a.client_id = "c1";
  a.seq = 1;
  Record b = Rec(1700000000000250, "hi alice");
  b.sender = "bob";
  b.seq = 2;
  b.flags = format::kRecordTombstone;
  BatchBuilder builder;
  builder.Add(&a);
  builder.Add(&b);
  BatchOptions o;
  o.compress = false;
  o.cipher = cipher->get();
  std::string out;
  auto h = builder.Finish(42, 7, o, &out);
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->flags, format::kFlagEncrypted);
  EXPECT_EQ(h->key_id, 3u);
  EXPECT_EQ(h->nonce, BatchNonce(9, 42));
  EXPECT_EQ(ToHex(AsBytes(out)), kGoldenBatch);
  auto d = DecodeBatch(AsBytes(out), &keys);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->records.size(), 2u);
  EXPECT_EQ(d->records[0].client_id, "c1");
  EXPECT_EQ(d->records[1].body, "hi alice");
  EXPECT_EQ(d->records[1].offset, 43u);
}

TEST(EncryptedBatchTest, RoundTripCompressedAndRaw) {
  FixedKeySource keys;
  keys.Add(1, CountingKey(0));
  auto cipher = BatchCipher::Create(&keys);
  ASSERT_TRUE(cipher.ok());
  std::vector<Record> records;
  for (int i = 0; i < 200; ++i)
    records.push_back(Rec(1000 + i, "chat message number " + std::to_string(i)));
  uint64_t base = 0;
  for (bool compress : {true, false}) {
    BatchBuilder builder;
    for (auto& r : records) builder.Add(&r);
    BatchOptions o;
    o.compress = compress;
    o.cipher = cipher->get();
    std::string out = "prefix";  // Finish appends
    auto h = builder.Finish(base, 2, o, &out);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->codec(), compress ? format::kCodecZstd : format::kCodecNone);
    EXPECT_EQ(h->flags & format::kFlagEncrypted, format::kFlagEncrypted);
    auto stored = AsBytes(out).subspan(6);
    EXPECT_EQ(stored.size(), h->total_size());
    // The records are not readable in the stored bytes.
    EXPECT_EQ(AsStringView(stored).find("chat message"), std::string_view::npos);
    auto d = DecodeBatch(stored, &keys);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_EQ(d->records.size(), records.size());
    for (size_t i = 0; i < records.size(); ++i) {
      EXPECT_EQ(d->records[i].body, records[i].body);
      EXPECT_EQ(d->records[i].offset, base + i);
    }
    // Without keys: refused clearly, as before encryption existed.
    EXPECT_EQ(DecodeBatch(stored).status().code(), StatusCode::kNotSupported);
    base += records.size();
  }
}

TEST(EncryptedBatchTest, KeyErrorsAreClassified) {
  FixedKeySource keys;
  keys.Add(1, CountingKey(0));
  auto cipher = BatchCipher::Create(&keys);
  ASSERT_TRUE(cipher.ok());
  Record r = Rec(5, "secret");
  BatchBuilder builder;
  builder.Add(&r);
  BatchOptions o;
  o.cipher = cipher->get();
  std::string out;
  ASSERT_TRUE(builder.Finish(0, 0, o, &out).ok());
  // The same key id bound to another key: the wrong DEK.
  FixedKeySource wrong;
  wrong.Add(1, CountingKey(1));
  auto d = DecodeBatch(AsBytes(out), &wrong);
  EXPECT_EQ(d.status().code(), StatusCode::kUnauthenticated) << d.status().ToString();
  // A destroyed DEK (crypto-shredded).
  FixedKeySource empty;
  empty.Add(2, CountingKey(0));
  EXPECT_EQ(DecodeBatch(AsBytes(out), &empty).status().code(), StatusCode::kNotFound);
  // A plaintext batch in an encrypted store: a downgrade.
  BatchBuilder plain_builder;
  plain_builder.Add(&r);
  std::string plain;
  ASSERT_TRUE(plain_builder.Finish(0, 0, BatchOptions{}, &plain).ok());
  EXPECT_TRUE(DecodeBatch(AsBytes(plain)).ok());
  EXPECT_EQ(DecodeBatch(AsBytes(plain), &keys).status().code(), StatusCode::kUnauthenticated);
}

TEST(EncryptedBatchTest, TenantDeksSealOnlyTheirTenant) {
  FixedKeySource keys;
  keys.Add(1, CountingKey(0));
  keys.Add(2, CountingKey(50), "acme");
  auto cipher = BatchCipher::Create(&keys);
  ASSERT_TRUE(cipher.ok());
  Record mine = Rec(1, "a"), theirs = Rec(1, "b", "globex");
  BatchOptions o;
  o.cipher = cipher->get();
  o.tenant = "acme";
  BatchBuilder builder;
  builder.Add(&mine);
  std::string out;
  auto h = builder.Finish(0, 0, o, &out);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->key_id, 2u);
  builder.Add(&mine);
  builder.Add(&theirs);
  const std::string before = out;
  EXPECT_EQ(builder.Finish(1, 0, o, &out).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out, before);
  builder.Clear();
  // A tenant without DEKs of its own uses the store-wide one; so does a mixed batch.
  o.tenant = "globex";
  builder.Add(&theirs);
  h = builder.Finish(3, 0, o, &out);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->key_id, 1u);
  o.tenant.clear();
  builder.Add(&mine);
  builder.Add(&theirs);
  h = builder.Finish(4, 0, o, &out);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->key_id, 1u);
}

// A small encrypted "segment": three batches back to back (zstd, raw, tenant DEK).
struct Sequence {
  std::string bytes;
  std::vector<std::pair<size_t, size_t>> batches;  // [begin, end)
};

Sequence MakeSequence(FixedKeySource* keys, BatchCipher* cipher, std::vector<Record>* records) {
  Sequence seq;
  uint64_t base = 0;
  for (int b = 0; b < 3; ++b) {
    BatchBuilder builder;
    for (int i = 0; i < 4; ++i) {
      records->push_back(Rec(100 * b + i, "body " + std::string(20 + i, 'a' + b)));
    }
    for (size_t i = records->size() - 4; i < records->size(); ++i) builder.Add(&(*records)[i]);
    BatchOptions o;
    o.compress = b != 1;
    o.cipher = cipher;
    o.tenant = b == 2 ? "acme" : "";
    const size_t begin = seq.bytes.size();
    auto h = builder.Finish(base, 1, o, &seq.bytes);
    EXPECT_TRUE(h.ok());
    base = h->next_offset();
    seq.batches.emplace_back(begin, seq.bytes.size());
  }
  (void)keys;
  return seq;
}

// What a change of header byte `pos` gives when the attacker also fixes the
// checksum (docs/security.md "Batch encryption").
StatusCode TamperedHeaderCode(size_t pos) {
  if (pos < 2) return StatusCode::kCorruption;    // magic
  if (pos < 4) return StatusCode::kNotSupported;  // version, flags
  if (pos >= format::kBhPayloadLen && pos < format::kBhKeyId) return StatusCode::kCorruption;
  if (pos >= format::kBhKeyId && pos < format::kBhNonce) return StatusCode::kNotFound;
  return StatusCode::kUnauthenticated;  // AAD
}

TEST(EncryptedBatchTest, EveryFlippedByteIsDetectedWithTheRightError) {
  FixedKeySource keys;
  keys.Add(1, CountingKey(0));
  keys.Add(2, CountingKey(9), "acme");
  auto cipher = BatchCipher::Create(&keys);
  ASSERT_TRUE(cipher.ok());
  std::vector<Record> records;
  records.reserve(12);
  const Sequence seq = MakeSequence(&keys, cipher->get(), &records);
  auto slice = [](const std::string& s, std::pair<size_t, size_t> r) {
    return AsBytes(s).subspan(r.first, r.second - r.first);
  };
  for (size_t i = 0; i < seq.batches.size(); ++i) {
    ASSERT_TRUE(DecodeBatch(slice(seq.bytes, seq.batches[i]), &keys).ok());
  }
  std::map<StatusCode, int> tally;
  for (size_t pos = 0; pos < seq.bytes.size(); ++pos) {
    size_t hit = 0;
    while (pos >= seq.batches[hit].second) ++hit;
    const size_t in_batch = pos - seq.batches[hit].first;
    for (bool fix_checksum : {false, true}) {
      if (fix_checksum && in_batch >= format::kBatchChecksumOffset &&
          in_batch < format::kBatchHeaderSize) {
        continue;  // recomputing the checksum would undo the change
      }
      std::string bad = seq.bytes;
      bad[pos] = static_cast<char>(bad[pos] ^ 0x5a);
      auto span =
          std::as_writable_bytes(std::span(bad))
              .subspan(seq.batches[hit].first, seq.batches[hit].second - seq.batches[hit].first);
      if (fix_checksum) {
        EncodeFixed64(span.data() + format::kBatchChecksumOffset,
                      ComputeBatchChecksum(span.first(format::kBatchHeaderSize),
                                           span.subspan(format::kBatchHeaderSize)));
      }
      auto d = DecodeBatch(span, &keys);
      ASSERT_FALSE(d.ok()) << "flip at " << pos << " undetected";
      StatusCode want;
      if (!fix_checksum) {
        // Plain corruption is never mistaken for tampering.
        want = in_batch == format::kBhVersion || in_batch == format::kBhFlags
                   ? StatusCode::kNotSupported
                   : StatusCode::kCorruption;
      } else {
        want = in_batch < format::kBatchHeaderSize ? TamperedHeaderCode(in_batch)
                                                   : StatusCode::kUnauthenticated;
      }
      EXPECT_EQ(d.status().code(), want)
          << "byte " << pos << " (batch " << hit << " byte " << in_batch << ", checksum "
          << (fix_checksum ? "fixed" : "stale") << "): " << d.status().ToString();
      ++tally[d.status().code()];
      for (size_t other = 0; other < seq.batches.size(); ++other) {
        if (other == hit) continue;
        EXPECT_TRUE(DecodeBatch(slice(bad, seq.batches[other]), &keys).ok()) << pos;
      }
    }
  }
  EXPECT_GT(tally[StatusCode::kUnauthenticated], 0);
  EXPECT_GT(tally[StatusCode::kCorruption], 0);
}

// ---- KEK sources ----

class TempDir {
 public:
  TempDir() {
    std::string templ = "/tmp/warbler-crypto-XXXXXX";
    path_ = ::mkdtemp(templ.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFileWithMode(const std::string& path, const std::string& content, mode_t mode) {
  std::ofstream(path) << content;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

TEST(KekTest, KeyFileMustBeOwnerOnly) {
  TempDir dir;
  const std::string hex(64, 'c');
  const std::string path = dir.path() + "/kek";
  WriteFileWithMode(path, hex + "\n", 0600);
  auto k = LoadKekFile(path);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_TRUE(k->Equals(KeyOf(hex)));
  WriteFileWithMode(path, hex, 0400);
  EXPECT_TRUE(LoadKekFile(path).ok());
  for (mode_t loose : {0644, 0640, 0604, 0660, 0602}) {
    ASSERT_EQ(::chmod(path.c_str(), loose), 0);
    auto s = LoadKekFile(path).status();
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied) << loose;
    EXPECT_NE(s.message().find("chmod 600"), std::string::npos) << s.ToString();
    // Neither the key nor any part of it appears in the error.
    EXPECT_EQ(s.message().find("cccc"), std::string::npos);
  }
  const std::string link = dir.path() + "/link";
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_EQ(LoadKekFile(link).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(LoadKekFile(dir.path()).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(LoadKekFile(dir.path() + "/none").status().code(), StatusCode::kNotFound);
  WriteFileWithMode(path, hex + "00\n", 0600);
  EXPECT_EQ(LoadKekFile(path).status().code(), StatusCode::kInvalidArgument);
  WriteFileWithMode(path, "", 0600);
  EXPECT_EQ(LoadKekFile(path).status().code(), StatusCode::kInvalidArgument);
}

TEST(KekTest, GenerateKekFileWritesAFreshOwnerOnlyKey) {
  TempDir dir;
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  ::umask(022);
  ASSERT_TRUE(GenerateKekFile(a).ok());
  ASSERT_TRUE(GenerateKekFile(b).ok());
  struct stat st {};
  ASSERT_EQ(::stat(a.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto ka = LoadKekFile(a), kb = LoadKekFile(b);
  ASSERT_TRUE(ka.ok() && kb.ok());
  EXPECT_FALSE(ka->Equals(*kb));
  // Never overwritten.
  EXPECT_EQ(GenerateKekFile(a).code(), StatusCode::kAlreadyExists);
  auto again = LoadKekFile(a);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->Equals(*ka));
}

TEST(KekTest, EnvironmentVariableAndMissingKeyHint) {
  ::unsetenv(kKekEnvVar);
  auto none = LoadKek("");
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("warbler keygen"), std::string::npos);
  EXPECT_NE(none.status().message().find("openssl rand -hex 32"), std::string::npos);
  const std::string hex(64, '7');
  ::setenv(kKekEnvVar, hex.c_str(), 1);
  auto k = LoadKek("");
  ASSERT_TRUE(k.ok());
  EXPECT_TRUE(k->Equals(KeyOf(hex)));
  ::setenv(kKekEnvVar, "not-a-key", 1);
  EXPECT_EQ(LoadKek("").status().code(), StatusCode::kInvalidArgument);
  ::unsetenv(kKekEnvVar);
}

}  // namespace
}  // namespace warbler::engine::crypto
