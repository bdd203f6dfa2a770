// zstd dictionaries end to end (docs/format.md "Dictionary files",
// docs/security.md "Compression dictionaries"): batches compressed with a
// dictionary, the dictionary file (sealed, checksummed, written atomically),
// the registry (load, lookup, training) and the store (reopen, missing and
// damaged files, crashes while a dictionary is persisted).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "base/checksum.h"
#include "base/clock.h"
#include "base/coding.h"
#include "base/rng.h"
#include "engine/codec/dictionary_source.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/keyring.h"
#include "engine/dict/dictionary_registry.h"
#include "engine/layout.h"
#include "engine/log/batch.h"
#include "engine/store/store_impl.h"
#include "io/fault_fs.h"
#include "io/mem_fs.h"
#include "tests/test_keys.h"

namespace warbler::engine {
namespace {

constexpr const char* kDir = "/db";

std::string ChatBody(Rng& rng) {
  static const char* kWords[] = {"hey",  "are",    "you",   "coming", "tonight", "the",   "meeting",
                                 "moved", "to",    "three", "ok",     "sounds",  "good",  "see",
                                 "there", "lol",   "thanks", "did",   "anyone",  "read",  "doc",
                                 "yes",   "ship",  "it",    "later",  "maybe",   "zebrafish"};
  std::string s;
  while (s.size() < 200) {
    if (!s.empty()) s += ' ';
    s += kWords[rng.Uniform(std::size(kWords))];
  }
  s.resize(200);
  return s;
}

std::vector<std::string> EncodedSamples(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::string> out(n);
  for (std::string& s : out) {
    Record r;
    r.tenant = "acme";
    r.conversation = "room-" + std::to_string(rng.Uniform(50));
    r.sender = "user-" + std::to_string(rng.Uniform(100));
    r.body = ChatBody(rng);
    r.timestamp_us = 1;
    EncodeRecord(r, 1, &s);
  }
  return out;
}

std::string TrainedDictionary(uint64_t seed = 1) {
  auto d = codec::TrainDictionary(EncodedSamples(2000, seed), 8 << 10);
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : std::string();
}

dict::StoreId Uuid(uint8_t b) {
  dict::StoreId u{};
  u.fill(b);
  return u;
}

// One dictionary for every tenant; counts what it was offered.
class FixedDicts final : public codec::DictionarySource {
 public:
  explicit FixedDicts(uint16_t id) : id_(id) {
    auto d = codec::ZstdDictionary::Load(TrainedDictionary(), 1);
    EXPECT_TRUE(d.ok());
    dict_ = std::move(*d);
  }
  Result<std::shared_ptr<const codec::ZstdDictionary>> Lookup(uint16_t id) const override {
    if (id != id_) return Status::NotFound("no dictionary " + std::to_string(id));
    return dict_;
  }
  codec::ActiveDictionary Current(std::string_view) const override {
    return active_ ? codec::ActiveDictionary{id_, dict_} : codec::ActiveDictionary{};
  }
  void Sample(std::string_view, std::span<const std::string_view> records) override {
    sampled_ += records.size();
  }
  bool active_ = true;
  size_t sampled_ = 0;

 private:
  uint16_t id_;
  std::shared_ptr<const codec::ZstdDictionary> dict_;
};

std::vector<Record> Records(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<Record> out(n);
  for (size_t i = 0; i < n; ++i) {
    out[i].tenant = "acme";
    out[i].conversation = "room-" + std::to_string(rng.Uniform(50));
    out[i].sender = "user-" + std::to_string(rng.Uniform(100));
    out[i].body = ChatBody(rng);
    out[i].timestamp_us = 1'700'000'000'000'000 + i;
  }
  return out;
}

std::string Build(const std::vector<Record>& records, const BatchOptions& o, BatchHeader* h) {
  BatchBuilder b;
  for (const Record& r : records) b.Add(&r);
  std::string out;
  auto hdr = b.Finish(100, 1, o, &out);
  EXPECT_TRUE(hdr.ok()) << hdr.status().ToString();
  if (hdr.ok()) *h = *hdr;
  return out;
}

// ---- batches ----

TEST(DictionaryBatchTest, RoundTripWithAndWithoutEncryption) {
  FixedDicts dicts(7);
  auto fs = io::NewMemFileSystem();
  ASSERT_TRUE(fs->CreateDirs(kDir).ok());
  auto ring = crypto::Keyring::Create(fs.get(), kDir, Uuid(1), *crypto::Key::Random());
  ASSERT_TRUE(ring.ok());
  auto cipher = crypto::BatchCipher::Create(ring->get());
  ASSERT_TRUE(cipher.ok());
  const auto records = Records(3, 1);
  for (bool encrypt : {false, true}) {
    SCOPED_TRACE(encrypt ? "encrypted" : "clear");
    BatchOptions o;
    o.dictionaries = &dicts;
    o.tenant = "acme";
    o.cipher = encrypt ? cipher->get() : nullptr;
    const crypto::KeySource* keys = encrypt ? ring->get() : nullptr;
    BatchHeader with, without;
    const std::string a = Build(records, o, &with);
    EXPECT_EQ(with.flags & format::kFlagDictionary, format::kFlagDictionary);
    EXPECT_EQ(with.codec(), format::kCodecZstd);
    EXPECT_EQ(with.dict_id, 7);
    auto d = DecodeBatch(AsBytes(a), keys, &dicts);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    ASSERT_EQ(d->records.size(), 3u);
    for (size_t i = 0; i < 3; ++i) EXPECT_EQ(d->records[i].body, records[i].body);
    // The same records without a dictionary are larger (small batches are
    // what dictionaries are for).
    o.dictionaries = nullptr;
    const std::string b = Build(records, o, &without);
    EXPECT_EQ(without.dict_id, 0);
    EXPECT_LT(a.size(), b.size());
    EXPECT_TRUE(DecodeBatch(AsBytes(b), keys, &dicts).ok());
    EXPECT_TRUE(DecodeBatch(AsBytes(b), keys).ok());
    // A reader without dictionaries is told so.
    EXPECT_EQ(DecodeBatch(AsBytes(a), keys).status().code(), StatusCode::kNotSupported);
    FixedDicts other(8);
    auto missing = DecodeBatch(AsBytes(a), keys, &other);
    EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
    EXPECT_NE(missing.status().message().find("batch at offset 100"), std::string::npos);
  }
}

TEST(DictionaryBatchTest, TenantWithoutDictionaryIsSampledAndCompressedWithout) {
  FixedDicts dicts(7);
  dicts.active_ = false;
  BatchOptions o;
  o.dictionaries = &dicts;
  o.tenant = "acme";
  BatchHeader h;
  const std::string a = Build(Records(4, 2), o, &h);
  EXPECT_EQ(dicts.sampled_, 4u);
  EXPECT_EQ(h.dict_id, 0);
  EXPECT_EQ(h.flags & format::kFlagDictionary, 0);
  EXPECT_TRUE(DecodeBatch(AsBytes(a)).ok());
}

TEST(DictionaryBatchTest, InconsistentDictionaryFieldsAreCorruption) {
  FixedDicts dicts(7);
  BatchOptions o;
  o.dictionaries = &dicts;
  o.tenant = "acme";
  BatchHeader h;
  const std::string good = Build(Records(2, 3), o, &h);
  auto reseal = [](std::string bytes, uint8_t flags, uint16_t id) {
    auto* p = reinterpret_cast<std::byte*>(bytes.data());
    p[format::kBhFlags] = static_cast<std::byte>(flags);
    EncodeFixed16(p + format::kBhDictId, id);
    EncodeFixed64(p + format::kBatchChecksumOffset,
                  ComputeBatchChecksum({p, format::kBatchHeaderSize},
                                       {p + format::kBatchHeaderSize, bytes.size() - format::kBatchHeaderSize}));
    return bytes;
  };
  const std::string no_id = reseal(good, h.flags, 0);
  EXPECT_EQ(DecodeBatch(AsBytes(no_id), nullptr, &dicts).status().code(), StatusCode::kCorruption);
  const std::string no_flag = reseal(good, h.flags & ~format::kFlagDictionary, 7);
  EXPECT_EQ(DecodeBatch(AsBytes(no_flag), nullptr, &dicts).status().code(), StatusCode::kCorruption);
  const std::string raw_codec = reseal(good, format::kFlagDictionary, 7);
  EXPECT_EQ(DecodeBatch(AsBytes(raw_codec), nullptr, &dicts).status().code(), StatusCode::kCorruption);
  // A batch naming a dictionary other than the one that compressed it.
  auto other = codec::ZstdDictionary::Load(TrainedDictionary(99), 1);
  ASSERT_TRUE(other.ok());
  class One final : public codec::DictionarySource {
   public:
    explicit One(std::shared_ptr<const codec::ZstdDictionary> d) : d_(std::move(d)) {}
    Result<std::shared_ptr<const codec::ZstdDictionary>> Lookup(uint16_t) const override { return d_; }
    codec::ActiveDictionary Current(std::string_view) const override { return {}; }
    void Sample(std::string_view, std::span<const std::string_view>) override {}
    std::shared_ptr<const codec::ZstdDictionary> d_;
  } one(std::move(*other));
  EXPECT_EQ(DecodeBatch(AsBytes(good), nullptr, &one).status().code(), StatusCode::kCorruption);
}

// ---- the registry and its files ----

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fault_ = std::make_unique<io::FaultFileSystem>(io::NewMemFileSystem(), 3);
    fs_ = fault_.get();
    ASSERT_TRUE(fs_->CreateDirs(kDir).ok());
    auto ring = crypto::Keyring::Create(fs_, kDir, Uuid(1), kek_, &clock_);
    ASSERT_TRUE(ring.ok());
    ring_ = std::move(*ring);
  }
  crypto::KeySource* keys() { return encrypted_ ? ring_.get() : nullptr; }
  Result<std::unique_ptr<dict::DictionaryRegistry>> OpenRegistry(dict::RegistryOptions o = {}) {
    o.clock = &clock_;
    return dict::DictionaryRegistry::Open(fs_, kDir, Uuid(1), keys(), o);
  }
  std::string FileBytes(uint16_t id) {
    auto b = dict::ReadDictFile(fs_, layout::DictPath(kDir, id));
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? *b : std::string();
  }
  void Overwrite(uint16_t id, const std::string& bytes) {
    auto f = fs_->Open(layout::DictPath(kDir, id), {.truncate = true});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes(bytes)).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }

  ManualClock clock_;
  crypto::Key kek_ = *crypto::Key::Random();
  std::unique_ptr<io::FaultFileSystem> fault_;
  io::FileSystem* fs_ = nullptr;
  std::unique_ptr<crypto::Keyring> ring_;
  bool encrypted_ = true;
};

TEST_F(RegistryTest, InstalledDictionariesSurviveReopenInClearAndSealed) {
  for (bool encrypted : {false, true}) {
    SCOPED_TRACE(encrypted ? "sealed" : "clear");
    encrypted_ = encrypted;
    SetUp();  // a fresh file system each round
    const std::string bytes = TrainedDictionary();
    uint16_t a = 0, b = 0;
    {
      auto r = OpenRegistry();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ((*r)->Current("acme").dict, nullptr);
      auto ia = (*r)->Install("acme", bytes);
      auto ib = (*r)->Install("", TrainedDictionary(5));
      ASSERT_TRUE(ia.ok() && ib.ok()) << ia.status().ToString();
      a = *ia;
      b = *ib;
      EXPECT_EQ((*r)->Current("acme").id, a);
      EXPECT_EQ((*r)->Current("").id, b);
      EXPECT_EQ((*r)->Current("other").dict, nullptr);
    }
    const std::string file = FileBytes(a);
    // Sealed: the user text the dictionary holds is not in the file.
    EXPECT_EQ(file.find("zebrafish") != std::string::npos, !encrypted);
    auto r = OpenRegistry();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ((*r)->count(), 2u);
    EXPECT_EQ((*r)->Current("acme").id, a);
    auto d = (*r)->Lookup(a);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ((*d)->bytes(), bytes);
    auto unknown = (*r)->Lookup(42);
    EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
    EXPECT_NE(unknown.status().message().find("00042.zdict"), std::string::npos);
    // Ids are never reused.
    auto ic = (*r)->Install("acme", bytes);
    ASSERT_TRUE(ic.ok());
    EXPECT_GT(*ic, b);
    EXPECT_EQ((*r)->Current("acme").id, *ic);
  }
}

TEST_F(RegistryTest, DamagedTruncatedForeignAndDowngradedFilesAreReportedOnLookup) {
  uint16_t ids[6];
  {
    auto r = OpenRegistry();
    ASSERT_TRUE(r.ok());
    for (uint16_t& id : ids) {
      auto i = (*r)->Install("acme", TrainedDictionary());
      ASSERT_TRUE(i.ok());
      id = *i;
    }
  }
  std::string flipped = FileBytes(ids[0]);
  flipped[100] ^= 1;
  Overwrite(ids[0], flipped);
  const std::string whole = FileBytes(ids[1]);
  Overwrite(ids[1], whole.substr(0, whole.size() - 10));
  Overwrite(ids[2], whole.substr(0, 30));
  // Another store's file (valid, sealed, but for uuid 2) under id 3's name.
  {
    auto other = dict::DictFile{ids[3], "acme", 1, 0, TrainedDictionary()};
    auto bytes = dict::EncodeDictFile(other, Uuid(2), ring_.get());
    ASSERT_TRUE(bytes.ok());
    Overwrite(ids[3], *bytes);
  }
  // A file written in the clear into an encrypted store (downgrade).
  {
    auto clear = dict::EncodeDictFile(dict::DictFile{ids[4], "acme", 1, 0, TrainedDictionary()},
                                      Uuid(1), nullptr);
    ASSERT_TRUE(clear.ok());
    Overwrite(ids[4], *clear);
  }
  // A sealed file whose checksum is fixed up after a byte of the
  // ciphertext changed: only the GCM tag can tell.
  {
    std::string forged = FileBytes(ids[5]);
    forged[format::kDictHeaderSize + 5] ^= 1;
    EncodeFixed64(reinterpret_cast<std::byte*>(forged.data()) + forged.size() - 8,
                  Checksum64(forged.data(), forged.size() - 8));
    Overwrite(ids[5], forged);
  }
  ASSERT_TRUE(fs_->Open(layout::TempPath(layout::DictPath(kDir, 99)), {.create = true}).ok());
  auto r = OpenRegistry();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->count(), 0u);
  EXPECT_EQ((*r)->metrics().unavailable.load(), 6u);
  const StatusCode want[] = {StatusCode::kCorruption,         StatusCode::kCorruption,
                             StatusCode::kCorruption,         StatusCode::kFailedPrecondition,
                             StatusCode::kUnauthenticated,    StatusCode::kUnauthenticated};
  for (int i = 0; i < 6; ++i) {
    auto d = (*r)->Lookup(ids[i]);
    EXPECT_EQ(d.status().code(), want[i]) << i << ": " << d.status().ToString();
    EXPECT_NE(d.status().message().find(layout::DictPath(kDir, ids[i])), std::string::npos);
  }
  EXPECT_FALSE(*fs_->Exists(layout::TempPath(layout::DictPath(kDir, 99))));
  // The damaged ids are not handed out again.
  auto next = (*r)->Install("acme", TrainedDictionary());
  ASSERT_TRUE(next.ok());
  EXPECT_GT(*next, ids[5]);
}

TEST_F(RegistryTest, DictionaryOfADestroyedKeyIsNotFound) {
  auto tenant_key = ring_->RotateDek("acme");
  ASSERT_TRUE(tenant_key.ok());
  uint16_t id = 0;
  {
    auto r = OpenRegistry();
    ASSERT_TRUE(r.ok());
    auto i = (*r)->Install("acme", TrainedDictionary());
    ASSERT_TRUE(i.ok());
    id = *i;
  }
  // The file names the tenant's DEK, not the store-wide one.
  auto f = dict::DecodeDictFile(AsBytes(FileBytes(id)), id, Uuid(1), ring_.get());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->key_id, *tenant_key);
  EXPECT_EQ(f->tenant, "acme");
  // A key source that lost the tenant's DEK (crypto-shredding).
  class Without final : public crypto::KeySource {
   public:
    Without(crypto::KeySource* inner, uint32_t gone) : inner_(inner), gone_(gone) {}
    Result<std::shared_ptr<const crypto::Key>> Lookup(uint32_t id) const override {
      if (id == gone_) return Status::NotFound("key id " + std::to_string(id) + " destroyed");
      return inner_->Lookup(id);
    }
    Result<uint32_t> DekFor(std::string_view t) const override { return inner_->DekFor(t); }
    Result<uint32_t> ReserveNonceEpochs(uint32_t n) override { return inner_->ReserveNonceEpochs(n); }
    crypto::KeySource* inner_;
    uint32_t gone_;
  } without(ring_.get(), *tenant_key);
  auto r = dict::DictionaryRegistry::Open(fs_, kDir, Uuid(1), &without, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->Lookup(id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ((*r)->Current("acme").dict, nullptr);
  // Without any keyring a sealed file is NotSupported.
  EXPECT_EQ(dict::DecodeDictFile(AsBytes(FileBytes(id)), id, Uuid(1), nullptr).status().code(),
            StatusCode::kNotSupported);
}

TEST_F(RegistryTest, TrainsFromSamplesInTheBackground) {
  dict::RegistryOptions o;
  o.sample_bytes = 32u << 10;
  o.dictionary_bytes = 4u << 10;
  auto r = OpenRegistry(o);
  ASSERT_TRUE(r.ok());
  const auto samples = EncodedSamples(400, 4);
  std::vector<std::string_view> views(samples.begin(), samples.end());
  for (size_t i = 0; i < views.size() && (*r)->Current("acme").dict == nullptr; i += 8) {
    (*r)->Sample("acme", std::span(views).subspan(i, 8));
    if (i == 0) {
      EXPECT_EQ((*r)->Current("acme").dict, nullptr);
    }
  }
  (*r)->WaitIdle();
  EXPECT_NE((*r)->Current("acme").dict, nullptr);
  EXPECT_EQ((*r)->metrics().trained.load(), 1u);
  // Too few samples (four records of kMaxSampleRecordBytes fill the sample):
  // training fails once and is not retried.
  {
    dict::RegistryOptions small = o;
    small.sample_bytes = 16u << 10;
    auto r2 = OpenRegistry(small);
    ASSERT_TRUE(r2.ok());
    const std::string big(dict::DictionaryRegistry::kMaxSampleRecordBytes + 100, 'x');
    const std::vector<std::string_view> four(4, std::string_view(big));
    for (int i = 0; i < 10; ++i) (*r2)->Sample("tiny", four);
    (*r2)->WaitIdle();
    EXPECT_EQ((*r2)->Current("tiny").dict, nullptr);
    EXPECT_EQ((*r2)->metrics().training_failures.load(), 1u);
    EXPECT_EQ((*r2)->metrics().trained.load(), 0u);
  }
  // After Stop nothing more is sampled or trained.
  (*r)->Stop();
  for (size_t i = 0; i + 8 <= views.size(); i += 8) (*r)->Sample("late", std::span(views).subspan(i, 8));
  (*r)->WaitIdle();
  EXPECT_EQ((*r)->Current("late").dict, nullptr);
  EXPECT_EQ((*r)->count(), 1u);
}

// A crash at every step of persisting a dictionary: the registry opens,
// keeps what it had, and has the new dictionary iff Install returned OK.
TEST(DictionaryCrashTest, CrashWhilePersistingLeavesAnOpenableRegistry) {
  const io::FaultOp ops[] = {io::FaultOp::kOpen, io::FaultOp::kWrite, io::FaultOp::kSync,
                             io::FaultOp::kRename, io::FaultOp::kSyncDir};
  const std::string bytes = TrainedDictionary();
  int runs = 0;
  for (bool encrypted : {false, true}) {
    for (int fault = 0; fault <= 5; ++fault) {  // 5 = no fault
      for (uint64_t seed = 0; seed < 2; ++seed) {
        SCOPED_TRACE(std::to_string(encrypted) + " fault " + std::to_string(fault) + " seed " +
                     std::to_string(seed));
        ++runs;
        io::FaultFileSystem fs(io::NewMemFileSystem(), seed);
        ASSERT_TRUE(fs.CreateDirs(kDir).ok());
        const crypto::Key kek = *crypto::Key::Random();
        std::unique_ptr<crypto::Keyring> ring;
        if (encrypted) ring = std::move(*crypto::Keyring::Create(&fs, kDir, Uuid(1), kek));
        uint16_t first = 0;
        Result<uint16_t> second = Status::Unavailable("not run");
        {
          auto r = dict::DictionaryRegistry::Open(&fs, kDir, Uuid(1), ring.get(), {});
          ASSERT_TRUE(r.ok());
          first = *(*r)->Install("acme", bytes);
          if (fault < 5) {
            fs.AddRule({.op = ops[fault], .path_filter = "dicts", .trigger = io::FaultTrigger::kNth, .n = 1});
          }
          second = (*r)->Install("beta", bytes);
          fs.ClearRules();
        }
        ring.reset();
        ASSERT_TRUE(fs.Crash(seed == 0 ? io::CrashMode::kDropUnsynced : io::CrashMode::kKeepRandomPrefix,
                             seed)
                        .ok());
        if (encrypted) {
          auto reopened = crypto::Keyring::Open(&fs, kDir, Uuid(1), kek);
          ASSERT_TRUE(reopened.ok());
          ring = std::move(*reopened);
        }
        auto r = dict::DictionaryRegistry::Open(&fs, kDir, Uuid(1), ring.get(), {});
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        EXPECT_TRUE((*r)->Lookup(first).ok());
        EXPECT_EQ((*r)->metrics().unavailable.load(), 0u);
        if (second.ok()) {
          EXPECT_EQ((*r)->Current("beta").id, *second) << "an acknowledged dictionary was lost";
        }
        auto names = fs.List(layout::DictDir(kDir));
        ASSERT_TRUE(names.ok());
        for (const std::string& n : *names) EXPECT_FALSE(layout::IsTempName(n)) << n;
      }
    }
  }
  EXPECT_EQ(runs, 2 * 6 * 2);
}

// ---- the store ----

class DictionaryStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    testing::UseTestKek();
    fault_ = std::make_unique<io::FaultFileSystem>(io::NewMemFileSystem(), 11);
    options_.partitions = 2;
    options_.segment_bytes = 1u << 20;
    options_.encryption = GetParam();
    options_.dictionary_sample_bytes = 32u << 10;
    options_.dictionary_max_bytes = 4u << 10;
    Open();
  }
  void Open() {
    StoreInternals in;
    in.fs = fault_.get();
    in.clock = &clock_;
    auto s = OpenStore(options_, kDir, in);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    Open();
  }
  // Appends `n` messages one by one (batches of one: what dictionaries are for).
  void Send(std::string_view tenant, size_t n, uint64_t seed) {
    Rng rng(seed);
    for (size_t i = 0; i < n; ++i) {
      AppendRequest r;
      const std::string conv = "room-" + std::to_string(i % 3);
      r.conversation = {tenant, conv};
      const std::string sender = "user-" + std::to_string(rng.Uniform(10));
      r.sender = sender;
      std::string body = ChatBody(rng);
      r.body = body;
      auto a = store_->Append(r);
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      sent_[{std::string(tenant), std::string(r.conversation.conversation)}].push_back(body);
    }
  }
  // Every message reads back, in order.
  void ExpectAllRead() {
    for (const auto& [conv, bodies] : sent_) {
      auto m = store_->After({conv.first, conv.second}, 0, 1000);
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      ASSERT_EQ(m->size(), bodies.size());
      for (size_t i = 0; i < bodies.size(); ++i) EXPECT_EQ((*m)[i].body, bodies[i]);
    }
  }
  dict::DictionaryRegistry* dicts() { return StoreDictionaries(store_.get()); }

  ManualClock clock_;
  std::unique_ptr<io::FaultFileSystem> fault_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> sent_;
};

TEST_P(DictionaryStoreTest, TrainsPersistsAndReadsAcrossReopen) {
  Send("acme", 200, 1);  // ~50 KiB: fills the 32 KiB sample
  dicts()->WaitIdle();
  ASSERT_NE(dicts()->Current("acme").dict, nullptr);
  EXPECT_EQ(dicts()->Current("globex").dict, nullptr);
  const uint64_t before = store_->Stats().bytes_on_disk;
  Send("acme", 200, 2);
  const uint64_t with_dict = store_->Stats().bytes_on_disk - before;
  Send("globex", 20, 3);
  ExpectAllRead();
  Reopen();
  EXPECT_EQ(dicts()->count(), 1u);
  ExpectAllRead();
  // Without dictionaries for new batches, the old ones still read.
  options_.compression_dictionaries = false;
  Reopen();
  const uint64_t before2 = store_->Stats().bytes_on_disk;
  Send("acme", 200, 2);
  const uint64_t without_dict = store_->Stats().bytes_on_disk - before2;
  ExpectAllRead();
  EXPECT_LT(with_dict * 10, without_dict * 8) << with_dict << " vs " << without_dict;
}

// The conversation index of the unsealed tail is rebuilt from its batches at
// open, so a dictionary file that is missing or damaged there stops the open
// with an error naming the file (as a missing KEYRING does); nothing is cut
// from the log, and restoring the file brings everything back. (Batches
// elsewhere fail only their reads: RegistryTest and DictionaryBatchTest.)
TEST_P(DictionaryStoreTest, MissingOrDamagedDictionaryFileIsReportedUntilRestored) {
  Send("acme", 200, 1);
  dicts()->WaitIdle();
  const uint16_t id = dicts()->Current("acme").id;
  ASSERT_NE(id, 0);
  Send("acme", 30, 5);  // compressed with the dictionary
  ASSERT_TRUE(store_->Close().ok());
  store_.reset();
  const std::string path = layout::DictPath(kDir, id);
  auto saved = dict::ReadDictFile(fault_.get(), path);
  ASSERT_TRUE(saved.ok());
  StoreInternals in;
  in.fs = fault_.get();
  in.clock = &clock_;
  // Missing: NotFound.
  ASSERT_TRUE(fault_->Remove(path).ok());
  ASSERT_TRUE(fault_->SyncDir(layout::DictDir(kDir)).ok());
  auto missing = OpenStore(options_, kDir, in);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find(path), std::string::npos) << missing.status().ToString();
  // Truncated: Corruption.
  auto write = [&](const std::string& bytes) {
    auto f = fault_->Open(path, {.create = true, .truncate = true});
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, AsBytes(bytes)).ok());
    ASSERT_TRUE((*f)->Sync().ok());
    ASSERT_TRUE(fault_->SyncDir(layout::DictDir(kDir)).ok());
  };
  write(saved->substr(0, saved->size() / 2));
  auto damaged = OpenStore(options_, kDir, in);
  ASSERT_FALSE(damaged.ok());
  EXPECT_EQ(damaged.status().code(), StatusCode::kCorruption) << damaged.status().ToString();
  EXPECT_NE(damaged.status().message().find(path), std::string::npos) << damaged.status().ToString();
  // Restored: everything reads.
  write(*saved);
  Open();
  ExpectAllRead();
}

// A crash (or an I/O error) while a dictionary is persisted: appends never
// fail because of it, and after the crash the store opens and reads every
// acknowledged message.
TEST_P(DictionaryStoreTest, CrashDuringDictionaryPersistLosesNothing) {
  const io::FaultOp ops[] = {io::FaultOp::kOpen, io::FaultOp::kWrite, io::FaultOp::kSync,
                             io::FaultOp::kRename, io::FaultOp::kSyncDir};
  for (int fault = 0; fault < 5; ++fault) {
    SCOPED_TRACE("fault " + std::to_string(fault));
    fault_->AddRule({.op = ops[fault], .path_filter = "dicts", .trigger = io::FaultTrigger::kFromNth, .n = 1});
    const std::string tenant = "t" + std::to_string(fault);
    Send(tenant, 200, 10 + fault);
    dicts()->WaitIdle();
    EXPECT_EQ(dicts()->Current(tenant).dict, nullptr);
    fault_->ClearRules();
    // The process dies: the crash comes first, Close then fails harmlessly.
    ASSERT_TRUE(fault_->Crash(fault % 2 == 0 ? io::CrashMode::kDropUnsynced : io::CrashMode::kKeepRandomPrefix,
                              static_cast<uint64_t>(fault))
                    .ok());
    store_.reset();
    Open();
    EXPECT_EQ(dicts()->metrics().unavailable.load(), 0u);
    ExpectAllRead();
  }
  // And a crash right after a dictionary was installed keeps it.
  Send("last", 200, 99);
  dicts()->WaitIdle();
  const uint16_t id = dicts()->Current("last").id;
  ASSERT_NE(id, 0);
  Send("last", 20, 100);
  ASSERT_TRUE(fault_->Crash(io::CrashMode::kDropUnsynced, 1).ok());
  store_.reset();
  Open();
  EXPECT_EQ(dicts()->Current("last").id, id);
  ExpectAllRead();
}

INSTANTIATE_TEST_SUITE_P(Encryption, DictionaryStoreTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Clear"; });

}  // namespace
}  // namespace warbler::engine
