// Keyring (docs/security.md "The keyring file"): create/open, every way
// opening can fail (and that a failure changes nothing on disk), DEK and KEK
// rotation online and under crashes, nonce epochs, and batches sealed across
// rotations.
#include "engine/crypto/keyring.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "base/checksum.h"
#include "base/coding.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/layout.h"
#include "engine/log/batch.h"
#include "io/fault_fs.h"
#include "io/mem_fs.h"

namespace warbler::engine::crypto {
namespace {

const std::string kDir = "/data";

KeyringUuid Uuid(uint8_t seed) {
  KeyringUuid u{};
  for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<uint8_t>(seed + i);
  return u;
}

Key TestKek(uint8_t seed) {
  std::array<uint8_t, kKeySize> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed * 31 + i);
  return Key(b);
}

using Snapshot = std::map<std::string, std::string>;

// Every file of `dir` with its bytes.
Snapshot Snap(io::FileSystem* fs, const std::string& dir) {
  Snapshot out;
  auto names = fs->List(dir);
  EXPECT_TRUE(names.ok());
  for (const std::string& name : *names) {
    auto f = fs->Open(dir + "/" + name, {.read_only = true});
    EXPECT_TRUE(f.ok()) << name;
    std::string bytes(*(*f)->Size(), '\0');
    EXPECT_TRUE((*f)->ReadAt(0, std::as_writable_bytes(std::span(bytes))).ok());
    out[name] = bytes;
  }
  return out;
}

void Put(io::FileSystem* fs, const std::string& path, const std::string& bytes) {
  auto f = fs->Open(path, {.create = true, .truncate = true});
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->WriteAt(0, AsBytes(bytes)).ok());
  ASSERT_TRUE((*f)->Sync().ok());
}

// Key id -> key bytes, for comparing what resolves before and after.
std::map<uint32_t, std::string> AllKeys(const Keyring& ring) {
  std::map<uint32_t, std::string> out;
  for (const KeyInfo& info : ring.List()) {
    auto k = ring.Lookup(info.key_id);
    EXPECT_TRUE(k.ok());
    out[info.key_id] = std::string(reinterpret_cast<const char*>((*k)->bytes().data()), kKeySize);
  }
  return out;
}

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fault_ = std::make_unique<io::FaultFileSystem>(io::NewMemFileSystem(), 7);
    fs_ = fault_.get();
    ASSERT_TRUE(fs_->CreateDirs(kDir).ok());
  }

  std::unique_ptr<Keyring> MustCreate(const Key& kek) {
    auto ring = Keyring::Create(fs_, kDir, Uuid(1), kek, &clock_);
    EXPECT_TRUE(ring.ok()) << ring.status().ToString();
    return ring.ok() ? std::move(*ring) : nullptr;
  }
  Result<std::unique_ptr<Keyring>> Reopen(const Key& kek, const Key* previous = nullptr) {
    return Keyring::Open(fs_, kDir, Uuid(1), kek, previous, &clock_);
  }
  // Opening fails with `code` and leaves the directory exactly as it was.
  void ExpectOpenFails(StatusCode code, const Key& kek, const KeyringUuid& uuid,
                       const std::string& what) {
    const Snapshot before = Snap(fs_, kDir);
    auto ring = Keyring::Open(fs_, kDir, uuid, kek, nullptr, &clock_);
    ASSERT_FALSE(ring.ok()) << what;
    EXPECT_EQ(ring.status().code(), code) << what << ": " << ring.status().ToString();
    EXPECT_EQ(Snap(fs_, kDir), before) << what;
  }
  std::string KeyringBytes() { return Snap(fs_, kDir)[KeyringName()]; }
  static std::string KeyringName() { return "KEYRING"; }

  ManualClock clock_;
  std::unique_ptr<io::FaultFileSystem> fault_;
  io::FileSystem* fs_ = nullptr;
};

TEST_F(KeyringTest, CreateThenOpenResolvesTheSameKeys) {
  auto ring = MustCreate(TestKek(1));
  ASSERT_NE(ring, nullptr);
  auto id = ring->DekFor("");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 1u);
  EXPECT_EQ(*ring->DekFor("any-tenant"), 1u);  // no DEK of its own: the store-wide one
  const auto keys = AllKeys(*ring);
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(ring->Lookup(2).status().code(), StatusCode::kNotFound);
  auto again = Reopen(TestKek(1));
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(AllKeys(**again), keys);
  EXPECT_EQ((*again)->generation(), ring->generation());
  EXPECT_EQ(Keyring::Create(fs_, kDir, Uuid(1), TestKek(1)).status().code(),
            StatusCode::kAlreadyExists);
  // The file never holds the DEK or the KEK in the clear.
  const std::string file = KeyringBytes();
  EXPECT_EQ(file.find(keys.begin()->second), std::string::npos);
  const Key kek = TestKek(1);
  EXPECT_EQ(file.find(std::string(reinterpret_cast<const char*>(kek.bytes().data()), kKeySize)),
            std::string::npos);
}

TEST_F(KeyringTest, WrongKekMissingAndForeignKeyringsAreRefusedWithoutChanges) {
  ExpectOpenFails(StatusCode::kNotFound, TestKek(1), Uuid(1), "missing");
  ASSERT_NE(MustCreate(TestKek(1)), nullptr);
  Put(fs_, kDir + "/STORE", "other files are left alone too");
  ExpectOpenFails(StatusCode::kUnauthenticated, TestKek(2), Uuid(1), "wrong KEK");
  ExpectOpenFails(StatusCode::kFailedPrecondition, TestKek(1), Uuid(9), "another store's keyring");
  // Another store's keyring whose uuid was edited (checksum fixed): the uuid
  // is authenticated, so this fails the GCM check.
  std::string forged = KeyringBytes();
  auto* p = reinterpret_cast<std::byte*>(forged.data());
  std::memcpy(p + format::kKhStoreUuid, Uuid(9).data(), format::kStoreUuidSize);
  EncodeFixed64(p + forged.size() - 8, Checksum64(p, forged.size() - 8));
  Put(fs_, layout::KeyringPath(kDir), forged);
  ExpectOpenFails(StatusCode::kUnauthenticated, TestKek(1), Uuid(9), "uuid edited");
}

TEST_F(KeyringTest, TruncatedAndDamagedKeyringsAreCorruption) {
  auto ring = MustCreate(TestKek(1));
  ASSERT_TRUE(ring->RotateDek("acme").ok());
  const std::string good = KeyringBytes();
  for (size_t len : {size_t{0}, size_t{10}, size_t{63}, format::kKeyringMinSize - 1,
                     good.size() - 1, good.size() - 8}) {
    Put(fs_, layout::KeyringPath(kDir), good.substr(0, len));
    ExpectOpenFails(StatusCode::kCorruption, TestKek(1), Uuid(1),
                    "truncated to " + std::to_string(len));
  }
  Put(fs_, layout::KeyringPath(kDir), good + "x");
  ExpectOpenFails(StatusCode::kCorruption, TestKek(1), Uuid(1), "extended");
  for (size_t pos = 0; pos < good.size(); ++pos) {
    std::string bad = good;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x21);
    Put(fs_, layout::KeyringPath(kDir), bad);
    const bool version = pos == format::kKhVersion || pos == format::kKhVersion + 1;
    ExpectOpenFails(version ? StatusCode::kNotSupported : StatusCode::kCorruption, TestKek(1),
                    Uuid(1), "flip at " + std::to_string(pos));
    // Tampering that also fixes the checksum is caught by the KEK's GCM tag.
    auto* p = reinterpret_cast<std::byte*>(bad.data());
    EncodeFixed64(p + bad.size() - 8, Checksum64(p, bad.size() - 8));
    if (pos >= bad.size() - 8) continue;
    Put(fs_, layout::KeyringPath(kDir), bad);
    StatusCode want = StatusCode::kUnauthenticated;
    if (pos < 4 || (pos >= format::kKhBodyLen && pos < format::kKhBodyLen + 4)) {
      want = StatusCode::kCorruption;  // magic, body length
    } else if (version) {
      want = StatusCode::kNotSupported;
    } else if (pos >= format::kKhStoreUuid && pos < format::kKhStoreUuid + format::kStoreUuidSize) {
      want = StatusCode::kFailedPrecondition;
    }
    ExpectOpenFails(want, TestKek(1), Uuid(1), "tamper at " + std::to_string(pos));
  }
  Put(fs_, layout::KeyringPath(kDir), good);
  EXPECT_TRUE(Reopen(TestKek(1)).ok());
}

TEST_F(KeyringTest, DekRotationKeepsOldKeysAndSurvivesReopen) {
  auto ring = MustCreate(TestKek(1));
  auto id = ring->RotateDek("");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 2u);
  EXPECT_EQ(*ring->DekFor(""), 2u);
  auto acme = ring->RotateDek("acme");
  ASSERT_TRUE(acme.ok());
  EXPECT_EQ(*ring->DekFor("acme"), *acme);
  EXPECT_EQ(*ring->DekFor("globex"), 2u);
  auto acme2 = ring->RotateDek("acme");
  ASSERT_TRUE(acme2.ok());
  EXPECT_GT(*acme2, *acme);
  EXPECT_EQ(ring->RotateDek(std::string(256, 't')).status().code(), StatusCode::kInvalidArgument);
  const auto keys = AllKeys(*ring);
  EXPECT_EQ(keys.size(), 4u);
  EXPECT_NE(keys.at(1), keys.at(2));
  auto again = Reopen(TestKek(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(AllKeys(**again), keys);
  EXPECT_EQ(*(*again)->DekFor("acme"), *acme2);
  int current = 0;
  for (const KeyInfo& info : (*again)->List()) current += info.current ? 1 : 0;
  EXPECT_EQ(current, 2);  // store-wide and acme
}

TEST_F(KeyringTest, KekRotationRewrapsOnly) {
  auto ring = MustCreate(TestKek(1));
  ASSERT_TRUE(ring->RotateDek("acme").ok());
  const auto keys = AllKeys(*ring);
  const std::string old_file = KeyringBytes();
  ASSERT_TRUE(ring->RotateKek(TestKek(2)).ok());
  ExpectOpenFails(StatusCode::kUnauthenticated, TestKek(1), Uuid(1), "old KEK after rotation");
  auto again = Reopen(TestKek(2));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(AllKeys(**again), keys);
  // Later changes are wrapped by the new KEK.
  ASSERT_TRUE(ring->RotateDek("").ok());
  EXPECT_TRUE(Reopen(TestKek(2)).ok());
  // A rotation interrupted before its rename: the old file, both KEKs given.
  Put(fs_, layout::KeyringPath(kDir), old_file);
  ExpectOpenFails(StatusCode::kUnauthenticated, TestKek(2), Uuid(1), "new KEK, old file");
  const Key old_kek = TestKek(1);
  auto finished = Reopen(TestKek(2), &old_kek);
  ASSERT_TRUE(finished.ok()) << finished.status().ToString();
  EXPECT_EQ(AllKeys(**finished), keys);
  auto plain = Reopen(TestKek(2));  // re-wrapped under the new KEK by the open above
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  const Key wrong = TestKek(3);
  EXPECT_EQ(Reopen(TestKek(4), &wrong).status().code(), StatusCode::kUnauthenticated);
}

TEST_F(KeyringTest, NonceEpochsAreNeverHandedOutTwice) {
  auto ring = MustCreate(TestKek(1));
  auto a = ring->ReserveNonceEpochs(1);
  auto b = ring->ReserveNonceEpochs(10);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GE(*a, 1u);
  EXPECT_EQ(*b, *a + 1);
  EXPECT_EQ(ring->ReserveNonceEpochs(0).status().code(), StatusCode::kInvalidArgument);
  ring.reset();
  auto again = Reopen(TestKek(1));
  ASSERT_TRUE(again.ok());
  auto c = (*again)->ReserveNonceEpochs(1);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, *b + 10);
  EXPECT_EQ((*again)->ReserveNonceEpochs(UINT32_MAX).status().code(),
            StatusCode::kResourceExhausted);
}

TEST_F(KeyringTest, LeftoverTempFileIsRemovedAfterASuccessfulOpen) {
  ASSERT_NE(MustCreate(TestKek(1)), nullptr);
  const std::string tmp = layout::TempPath(layout::KeyringPath(kDir));
  Put(fs_, tmp, "stale keys");
  ExpectOpenFails(StatusCode::kUnauthenticated, TestKek(2), Uuid(1), "wrong KEK keeps the temp");
  ASSERT_TRUE(Reopen(TestKek(1)).ok());
  EXPECT_FALSE(*fs_->Exists(tmp));
}

TEST_F(KeyringTest, FailedWriteLeavesTheKeyringAsItWas) {
  auto ring = MustCreate(TestKek(1));
  const auto keys = AllKeys(*ring);
  const uint64_t generation = ring->generation();
  for (io::FaultOp op :
       {io::FaultOp::kOpen, io::FaultOp::kWrite, io::FaultOp::kSync, io::FaultOp::kRename}) {
    const Snapshot before = Snap(fs_, kDir);
    for (int call = 0; call < 3; ++call) {
      const uint64_t rule = fault_->AddRule({.op = op, .trigger = io::FaultTrigger::kNth, .n = 1});
      Status s = call == 0   ? ring->RotateDek("").status()
                 : call == 1 ? ring->RotateKek(TestKek(2))
                             : ring->ReserveNonceEpochs(1).status();
      fault_->RemoveRule(rule);
      EXPECT_EQ(s.code(), StatusCode::kIOError) << static_cast<int>(op) << "/" << call;
      EXPECT_EQ(Snap(fs_, kDir), before) << static_cast<int>(op) << "/" << call;
      EXPECT_EQ(AllKeys(*ring), keys);
      EXPECT_EQ(*ring->DekFor(""), 1u);
      EXPECT_EQ(ring->generation(), generation);
    }
  }
  // The KEK did not change: the file still opens with the old one.
  EXPECT_TRUE(Reopen(TestKek(1)).ok());
  auto id = ring->RotateDek("");
  ASSERT_TRUE(id.ok());
  auto again = Reopen(TestKek(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->DekFor(""), *id);
}

// What one crash test does while the fault rule is armed.
enum class Change { kRotateDek, kRotateTenantDek, kRotateKek, kReserveEpochs, kFinishKekRotation };

// For every change, a crash after an I/O error at each step of the keyring
// write (or after the change completed), in both crash modes: the keyring
// opens with the keys configured (new KEK, old one as previous), every key that
// existed resolves to the same bytes, a change that returned OK is durable,
// and no nonce epoch handed out before the crash is handed out again.
TEST(KeyringCrashTest, EveryCrashPointLeavesAnOpenableKeyring) {
  const Key kek_a = TestKek(1), kek_b = TestKek(2);
  int runs = 0;
  for (Change change : {Change::kRotateDek, Change::kRotateTenantDek, Change::kRotateKek,
                        Change::kReserveEpochs, Change::kFinishKekRotation}) {
    for (int fault = 0; fault <= 5; ++fault) {  // 5 = no fault: crash after success
      const io::FaultOp ops[] = {io::FaultOp::kOpen, io::FaultOp::kWrite, io::FaultOp::kSync,
                                 io::FaultOp::kRename, io::FaultOp::kSyncDir};
      for (uint64_t seed = 0; seed < 4; ++seed) {
        SCOPED_TRACE("change " + std::to_string(static_cast<int>(change)) + " fault " +
                     std::to_string(fault) + " seed " + std::to_string(seed));
        ++runs;
        ManualClock clock;
        io::FaultFileSystem fs(io::NewMemFileSystem(), seed);
        ASSERT_TRUE(fs.CreateDirs(kDir).ok());
        std::map<uint32_t, std::string> before;
        uint32_t epochs_end = 0;
        {
          auto ring = Keyring::Create(&fs, kDir, Uuid(1), kek_a, &clock);
          ASSERT_TRUE(ring.ok());
          ASSERT_TRUE((*ring)->RotateDek("acme").ok());
          auto e = (*ring)->ReserveNonceEpochs(5);
          ASSERT_TRUE(e.ok());
          epochs_end = *e + 5;
          before = AllKeys(**ring);
        }
        auto ring = Keyring::Open(&fs, kDir, Uuid(1), kek_a, nullptr, &clock);
        ASSERT_TRUE(ring.ok());
        if (change == Change::kFinishKekRotation) ring->reset();
        if (fault < 5) fs.AddRule({.op = ops[fault], .trigger = io::FaultTrigger::kNth, .n = 1});
        Status s;
        uint32_t new_id = 0, epoch = 0;
        switch (change) {
          case Change::kRotateDek:
          case Change::kRotateTenantDek: {
            auto id = (*ring)->RotateDek(change == Change::kRotateDek ? "" : "acme");
            s = id.status();
            if (id.ok()) new_id = *id;
            break;
          }
          case Change::kRotateKek:
            s = (*ring)->RotateKek(kek_b);
            break;
          case Change::kReserveEpochs: {
            auto e = (*ring)->ReserveNonceEpochs(3);
            s = e.status();
            if (e.ok()) epoch = *e;
            break;
          }
          case Change::kFinishKekRotation: {
            // The file is still wrapped by kek_a; opening with kek_b re-wraps it.
            auto opened = Keyring::Open(&fs, kDir, Uuid(1), kek_b, &kek_a, &clock);
            s = opened.status();
            break;
          }
        }
        fs.ClearRules();
        if (change != Change::kFinishKekRotation) ring->reset();
        ASSERT_TRUE(fs.Crash(seed % 2 == 0 ? io::CrashMode::kDropUnsynced
                                           : io::CrashMode::kKeepRandomPrefix,
                             seed)
                        .ok());
        auto after = Keyring::Open(&fs, kDir, Uuid(1), kek_b, &kek_a, &clock);
        ASSERT_TRUE(after.ok()) << after.status().ToString() << " (change returned " << s.ToString()
                                << ")";
        auto keys = AllKeys(**after);
        for (const auto& [id, bytes] : before) {
          ASSERT_TRUE(keys.contains(id)) << "key id " << id << " lost";
          EXPECT_EQ(keys[id], bytes) << "key id " << id << " changed";
        }
        if (s.ok() && new_id != 0) {
          EXPECT_TRUE(keys.contains(new_id)) << "acknowledged rotation lost";
          EXPECT_EQ(*(*after)->DekFor(change == Change::kRotateDek ? "" : "acme"), new_id);
        }
        if (s.ok() && (change == Change::kRotateKek || change == Change::kFinishKekRotation)) {
          EXPECT_TRUE(Keyring::Open(&fs, kDir, Uuid(1), kek_b, nullptr, &clock).ok());
        }
        auto next = (*after)->ReserveNonceEpochs(1);
        ASSERT_TRUE(next.ok());
        EXPECT_GE(*next, epochs_end);
        if (s.ok() && epoch != 0) {
          EXPECT_GE(*next, epoch + 3);
        }
        // Opening finished any interrupted KEK rotation: kek_b alone now works.
        EXPECT_TRUE(Keyring::Open(&fs, kDir, Uuid(1), kek_b, nullptr, &clock).ok());
      }
    }
  }
  EXPECT_EQ(runs, 5 * 6 * 4);
}

TEST_F(KeyringTest, LookupsRunWhileKeysRotate) {
  auto ring = MustCreate(TestKek(1));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      while (!stop.load()) {
        auto id = ring->DekFor(t % 2 == 0 ? "" : "acme");
        if (!id.ok() || !ring->Lookup(*id).ok() || !ring->Lookup(1).ok()) errors.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ring->RotateDek(i % 2 == 0 ? "" : "acme").ok());
    ASSERT_TRUE(ring->RotateKek(TestKek(static_cast<uint8_t>(2 + i % 2))).ok());
    ASSERT_TRUE(ring->ReserveNonceEpochs(1).ok());
  }
  stop.store(true);
  for (auto& t : readers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(ring->List().size(), 21u);
}

// Batches sealed before and after DEK and KEK rotations all read back through
// a keyring reopened from disk.
TEST_F(KeyringTest, BatchesReadAcrossRotationsAndReopen) {
  auto ring = MustCreate(TestKek(1));
  auto cipher = BatchCipher::Create(ring.get());
  ASSERT_TRUE(cipher.ok());
  std::vector<std::string> batches;
  std::vector<uint32_t> key_ids;
  uint64_t offset = 0;
  auto seal = [&](const std::string& body, const std::string& tenant) {
    Record r;
    r.timestamp_us = 1000 + offset;
    r.tenant = tenant.empty() ? "t" : tenant;
    r.conversation = "c";
    r.sender = "s";
    r.body = body;
    BatchBuilder b;
    b.Add(&r);
    BatchOptions o;
    o.cipher = cipher->get();
    o.tenant = tenant;
    std::string out;
    auto h = b.Finish(offset++, 1, o, &out);
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    batches.push_back(out);
    key_ids.push_back(h->key_id);
  };
  seal("before any rotation", "");
  ASSERT_TRUE(ring->RotateDek("").ok());
  seal("after a DEK rotation", "");
  ASSERT_TRUE(ring->RotateDek("acme").ok());
  seal("acme's own key", "acme");
  ASSERT_TRUE(ring->RotateKek(TestKek(5)).ok());
  seal("after a KEK rotation", "");
  EXPECT_EQ(key_ids, (std::vector<uint32_t>{1, 2, 3, 2}));
  ring.reset();
  auto reopened = Reopen(TestKek(5));
  ASSERT_TRUE(reopened.ok());
  const char* bodies[] = {"before any rotation", "after a DEK rotation", "acme's own key",
                          "after a KEK rotation"};
  for (size_t i = 0; i < batches.size(); ++i) {
    auto d = DecodeBatch(AsBytes(batches[i]), reopened->get());
    ASSERT_TRUE(d.ok()) << i << ": " << d.status().ToString();
    EXPECT_EQ(d->records[0].body, bodies[i]);
  }
}

}  // namespace
}  // namespace warbler::engine::crypto
