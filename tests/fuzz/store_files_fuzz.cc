// Fuzz target for the decoders of a store's files (store_files_fuzz.h has the
// input layout): conversation index sections, segment headers, offset
// indexes, dictionary files, the keyring and the COMMITTED mark, and the
// file names a directory listing yields. Whatever the bytes, a decoder
// returns a Status; none may crash, hang or read out of bounds (run under
// ASan + UBSan). Accepted results are read through, so ASan checks the
// memory they point to as well.
// libFuzzer build: scripts/fuzz; every test run: store_files_fuzz_smoke_test.cc.
//
// The STORE meta file has no decoder of its own to call: Log::ReadMeta is
// private and reached only through Log::Open, which also opens every
// partition (threads, recovery); it reads a fixed 64-byte array and checks
// magic, checksum and version before it reads two fields.
#include "tests/fuzz/store_files_fuzz.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/assert.h"
#include "base/checksum.h"
#include "base/clock.h"
#include "base/coding.h"
#include "base/log.h"
#include "engine/codec/zstd_dict.h"
#include "engine/conv/cix.h"
#include "engine/crypto/aead.h"
#include "engine/crypto/keyring.h"
#include "engine/dict/dict_file.h"
#include "engine/layout.h"
#include "engine/log/committed_mark.h"
#include "engine/log/offset_index.h"
#include "engine/log/segment.h"
#include "io/mem_fs.h"
#include "tests/fuzz/fuzz_keys.h"
#include "tests/fuzz/fuzz_util.h"
#include "warbler/options.h"

namespace warbler::engine {
namespace {

using Bytes = std::span<std::byte>;

crypto::Key FixedKey(uint8_t seed) {
  std::array<uint8_t, crypto::kKeySize> b{};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed * 31 + i);
  return crypto::Key(b);
}

// ---- reseal: checksums and GCM tags, located by the input's own fields ----

// The XXH3-64 of [0, at) written at `at`, if it fits.
void ResealChecksum(Bytes b, size_t at) {
  if (at <= b.size() && b.size() - at >= 8) EncodeFixed64(b.data() + at, Checksum64(b.data(), at));
}

// One runs entry at b[0]; returns its size, or 0 if its refs do not fit.
size_t ResealRunsEntry(Bytes b) {
  auto n = cix::PeekRefCount(b);
  if (!n.ok()) return 0;
  const size_t size = cix::RunsEntrySize(*n);
  if (size > b.size()) return 0;
  ResealChecksum(b.first(size), size - 8);
  return size;
}

void ResealRunsSection(Bytes b) {
  size_t at = 0;
  while (at < b.size()) {
    const size_t size = ResealRunsEntry(b.subspan(at));
    if (size == 0) return;
    at += size;
  }
}

// Seals b[from, from + len) in place with the nonce at b[nonce_at] and the
// first `aad` bytes as AAD, writing the tag after it. REQUIRES: it all fits.
void ResealGcm(Bytes b, const crypto::Key& key, size_t nonce_at, size_t aad, size_t from, size_t len) {
  crypto::Nonce nonce;
  std::memcpy(nonce.data(), b.data() + nonce_at, nonce.size());
  // The nonce is the input's: reusing one is harmless here, nothing is secret.
  const Status s = crypto::Seal(key, nonce, b.first(aad), b.subspan(from, len),
                                b.subspan(from + len).first<crypto::kTagSize>());
  WB_ASSERT_MSG(s.ok(), "AES-GCM seal failed");
}

// A dictionary file whose body is plaintext: sealed under FuzzKeys()'s key
// when the header names it and the sizes fit.
void ResealDictFile(Bytes b) {
  if (b.size() < format::kDictMinSize) return;
  const uint32_t key_id = DecodeFixed32(b.data() + format::kDhKeyId);
  const uint64_t body_len = DecodeFixed32(b.data() + format::kDhBodyLen);
  if (key_id == kFuzzKeyId && format::kDictHeaderSize + body_len + format::kGcmTagSize + 8 == b.size()) {
    ResealGcm(b, **FuzzKeys()->Lookup(kFuzzKeyId), format::kDhNonce, format::kDictHeaderSize,
              format::kDictHeaderSize, body_len);
  }
  ResealChecksum(b, b.size() - 8);
}

// A keyring whose body is plaintext: wrapped under `kek` when the sizes fit.
void ResealKeyring(Bytes b, const crypto::Key& kek) {
  if (b.size() < format::kKeyringMinSize) return;
  const uint64_t body_len = DecodeFixed32(b.data() + format::kKhBodyLen);
  if (body_len + format::kKeyringMinSize == b.size()) {
    ResealGcm(b, kek, format::kKhNonce, format::kKeyringHeaderSize, format::kKeyringHeaderSize, body_len);
  }
  ResealChecksum(b, b.size() - 8);
}

void ResealCommittedMark(Bytes b) {
  for (size_t at = 0; at + format::kCommittedSlotSize <= b.size(); at += format::kCommittedSlotSize) {
    ResealChecksum(b.subspan(at, format::kCommittedSlotSize), format::kCommittedSlotSize - 8);
  }
}

void Reseal(StoreFile which, Bytes b) {
  switch (which) {
    case StoreFile::kCixHeader:
      ResealChecksum(b.first(std::min<size_t>(b.size(), cix::kHeaderSize)), cix::kHeaderSize - 8);
      break;
    case StoreFile::kCixRunsEntry: (void)ResealRunsEntry(b); break;
    case StoreFile::kCixRunsSection: ResealRunsSection(b); break;
    case StoreFile::kCixDirSection:
    case StoreFile::kCixDedupSection: {
      if (b.size() < 2) break;
      const uint64_t n = CixSectionCount(static_cast<uint8_t>(b[0]), static_cast<uint8_t>(b[1]));
      const size_t entry = which == StoreFile::kCixDirSection ? cix::kDirEntrySize : cix::kDedupEntrySize;
      if (n <= (b.size() - 2) / entry) ResealChecksum(b.subspan(2), n * entry);
      break;
    }
    case StoreFile::kSegmentHeader:
      ResealChecksum(b.first(std::min<size_t>(b.size(), format::kSegmentHeaderSize)),
                     format::kSegmentHeaderChecksumOffset);
      break;
    case StoreFile::kOffsetIndex: if (b.size() >= 8) ResealChecksum(b, b.size() - 8); break;
    case StoreFile::kDictFile:
    case StoreFile::kDictFileWithKeys: ResealDictFile(b); break;
    case StoreFile::kKeyring: ResealKeyring(b, FuzzKek()); break;
    case StoreFile::kKeyringPreviousKek: ResealKeyring(b, FuzzPreviousKek()); break;
    case StoreFile::kCommittedMark: ResealCommittedMark(b); break;
    case StoreFile::kFileName: break;
  }
}

// ---- the decoders ----

void TouchRuns(const cix::RunsEntry& e) {
  FuzzTouch(e.id.lo ^ e.id.hi ^ e.first_seq ^ e.last_seq ^ e.last_ts ^ e.prev_ordinal ^ e.prev_pos8);
  for (const cix::BatchRef& r : e.refs) FuzzTouch(r.first_seq ^ r.position ^ r.size);
}

bool DecodeCixHeader(std::span<const std::byte> in) {
  cix::Header h;
  if (!cix::DecodeHeader(in, &h).ok()) return false;
  FuzzTouch(h.partition ^ h.ordinal ^ h.segment_base ^ h.segment_next ^ h.file_size() ^ h.has_directory);
  return true;
}

bool DecodeCixRunsEntry(std::span<const std::byte> in) {
  if (auto n = cix::PeekRefCount(in); n.ok()) FuzzTouch(*n);
  cix::RunsEntry e;
  if (!cix::DecodeRunsEntry(in, &e).ok()) return false;
  TouchRuns(e);
  return true;
}

bool DecodeCixRunsSection(std::span<const std::byte> in) {
  return cix::DecodeRunsSection(in, [](const cix::RunsEntry& e, uint32_t pos8) {
           TouchRuns(e);
           FuzzTouch(pos8);
         }).ok();
}

// Two bytes of entry count (CixSectionCount), then the section.
bool DecodeCixSection(StoreFile which, std::span<const std::byte> in) {
  if (in.size() < 2) return false;
  const uint64_t n = CixSectionCount(static_cast<uint8_t>(in[0]), static_cast<uint8_t>(in[1]));
  if (which == StoreFile::kCixDirSection) {
    return cix::DecodeDirSection(in.subspan(2), n, [](const DirEntry& e) {
             FuzzTouch(e.id.lo ^ e.id.hi ^ e.last_seq ^ e.last_ts ^ e.ordinal ^ e.entry_pos8);
           }).ok();
  }
  return cix::DecodeDedupSection(in.subspan(2), n, [](const cix::DedupEntry& e) {
           FuzzTouch(e.id.lo ^ e.id.hi ^ e.seq ^ e.ts ^ e.offset);
         }).ok();
}

bool DecodeSegmentHeader(std::span<const std::byte> in) {
  SegmentMeta meta;
  if (!Segment::DecodeHeader(in, &meta).ok()) return false;
  FuzzTouch(meta.partition ^ meta.base_offset ^ meta.created_wall_us);
  for (uint8_t b : meta.store_uuid) FuzzTouch(b);
  return true;
}

bool DecodeOffsetIndex(std::span<const std::byte> in) {
  uint64_t next_offset = 0, data_end = 0;
  auto index = OffsetIndex::Decode(AsStringView(in), kFuzzIndexBase, 4096, &next_offset, &data_end);
  if (!index.ok()) return false;
  FuzzTouch(next_offset ^ data_end);
  for (const OffsetIndex::Entry& e : index->entries()) {
    FuzzTouch(e.relative_offset ^ e.position);
    FuzzTouch(index->Lookup(kFuzzIndexBase + e.relative_offset));
  }
  return true;
}

bool DecodeDict(std::span<const std::byte> in, const crypto::KeySource* keys) {
  auto f = dict::DecodeDictFile(in, kFuzzDictId, kFuzzStore, keys);
  if (!f.ok()) return false;
  FuzzTouch(f->id ^ f->created_us ^ f->key_id);
  FuzzTouch(f->tenant);
  FuzzTouch(f->dictionary);
  // What the dictionary registry does next with the file's dictionary.
  if (auto d = codec::ZstdDictionary::Load(std::move(f->dictionary), StoreOptions().zstd_level); d.ok()) {
    FuzzTouch((*d)->id());
  }
  return true;
}

const std::string kDir = "/fuzz";

std::unique_ptr<io::FileSystem> MemWithFile(const std::string& path, std::span<const std::byte> bytes) {
  auto fs = io::NewMemFileSystem();
  Status s = fs->CreateDirs(kDir);
  auto f = fs->Open(path, {.create = true, .truncate = true});
  if (s.ok()) s = f.status();
  if (s.ok()) s = (*f)->WriteAt(0, bytes);
  if (s.ok()) s = (*f)->Close();
  WB_ASSERT_MSG(s.ok(), "writing the in-memory input file failed");
  return fs;
}

bool OpenKeyring(std::span<const std::byte> in) {
  auto fs = MemWithFile(layout::KeyringPath(kDir), in);
  ManualClock clock;
  auto ring = crypto::Keyring::Open(fs.get(), kDir, kFuzzStore, FuzzKek(), &FuzzPreviousKek(), &clock);
  if (!ring.ok()) return false;
  for (const crypto::KeyInfo& k : (*ring)->List()) {
    FuzzTouch(k.key_id ^ k.created_us ^ k.current);
    FuzzTouch(k.tenant);
    auto key = (*ring)->Lookup(k.key_id);
    WB_ASSERT_MSG(key.ok(), "a listed key is not found");
    for (uint8_t b : (*key)->bytes()) FuzzTouch(b);
    auto dek = (*ring)->DekFor(k.tenant);
    WB_ASSERT_MSG(dek.ok(), "a listed tenant has no DEK");
  }
  FuzzTouch((*ring)->generation());
  return true;
}

bool OpenCommittedMark(std::span<const std::byte> in) {
  const std::string path = layout::CommittedPath(kDir);
  auto fs = MemWithFile(path, in);
  auto mark = CommittedMark::Open(fs.get(), path, /*read_only=*/true);
  WB_ASSERT_MSG(mark.ok(), "a committed mark that exists always opens");
  return (*mark)->value() != 0;
}

bool ParseNames(std::span<const std::byte> in) {
  const std::string_view name = AsStringView(in);
  bool any = false;
  for (auto v : {layout::ParseSegmentName(name), layout::ParseIndexName(name), layout::ParseCixName(name)}) {
    if (v) FuzzTouch(*v);
    any = any || v.has_value();
  }
  if (auto id = layout::ParseDictName(name)) {
    FuzzTouch(*id);
    any = true;
  }
  FuzzTouch(layout::IsTempName(name));
  return any;
}

}  // namespace

const crypto::Key& FuzzKek() {
  static const crypto::Key kek = FixedKey(1);
  return kek;
}

const crypto::Key& FuzzPreviousKek() {
  static const crypto::Key kek = FixedKey(2);
  return kek;
}

bool FuzzStoreFiles(const uint8_t* data, size_t size) {
  if (size == 0) return false;
  const auto which = static_cast<StoreFile>((data[0] & 0x7f) % kStoreFileCount);
  // An exact-size heap copy: a read one byte past the file's end is outside
  // the allocation, which ASan reports (a caller's std::string may have slack).
  std::vector<std::byte> file(reinterpret_cast<const std::byte*>(data) + 1,
                              reinterpret_cast<const std::byte*>(data) + size);
  if ((data[0] & kResealFlag) != 0) Reseal(which, file);
  const std::span<const std::byte> in(file);
  switch (which) {
    case StoreFile::kCixHeader: return DecodeCixHeader(in);
    case StoreFile::kCixRunsEntry: return DecodeCixRunsEntry(in);
    case StoreFile::kCixRunsSection: return DecodeCixRunsSection(in);
    case StoreFile::kCixDirSection:
    case StoreFile::kCixDedupSection: return DecodeCixSection(which, in);
    case StoreFile::kSegmentHeader: return DecodeSegmentHeader(in);
    case StoreFile::kOffsetIndex: return DecodeOffsetIndex(in);
    case StoreFile::kDictFile: return DecodeDict(in, nullptr);
    case StoreFile::kDictFileWithKeys: return DecodeDict(in, FuzzKeys());
    case StoreFile::kKeyring:
    case StoreFile::kKeyringPreviousKek: return OpenKeyring(in);
    case StoreFile::kCommittedMark: return OpenCommittedMark(in);
    case StoreFile::kFileName: return ParseNames(in);
  }
  return false;
}

}  // namespace warbler::engine

#ifdef WARBLER_LIBFUZZER
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Opening a keyring under the previous KEK logs its re-wrap at info level.
  warbler::SetLogLevel(warbler::LogLevel::kWarn);
  if (const char* dir = warbler::FuzzSeedDir()) {
    std::vector<std::string> seeds;
    for (const warbler::engine::StoreFileSeed& s : warbler::engine::StoreFileSeeds()) seeds.push_back(s.Input());
    warbler::WriteFuzzSeeds(dir, seeds);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)warbler::engine::FuzzStoreFiles(data, size);
  return 0;
}
#endif
