// The valid store files of store_files_fuzz.h, made by the real encoders:
// the smoke test mutates them, and scripts/fuzz starts libFuzzer from them.
#include <cstring>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "base/assert.h"
#include "base/clock.h"
#include "base/coding.h"
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
#include "tests/fuzz/store_files_fuzz.h"

namespace warbler::engine {
namespace {

// Making a seed cannot fail but by a bug here or in an encoder.
void Check(const Status& s) { WB_ASSERT_MSG(s.ok(), s.ToString().c_str()); }
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(*r);
}

cix::RunsEntry RunsEntry(uint64_t salt, size_t refs) {
  cix::RunsEntry e;
  e.id = {salt * 0x9E3779B97F4A7C15ull + 1, salt + 7};
  e.first_seq = 10 + salt;
  e.last_seq = e.first_seq + refs * 5;
  e.last_ts = 1'700'000'000'000'000 + salt;
  e.prev_ordinal = salt == 0 ? kNoOrdinal : static_cast<uint32_t>(salt - 1);
  e.prev_pos8 = static_cast<uint32_t>(salt * 9);
  for (size_t i = 0; i < refs; ++i) {
    e.refs.push_back({e.first_seq + i * 5, static_cast<uint32_t>(64 + i * 4096), 700});
  }
  return e;
}

// Two bytes of entry count, then n entries and the section checksum.
template <typename Append>
std::string CixSection(uint16_t n, Append append) {
  std::string out;
  PutFixed16(&out, n);
  std::string section;
  for (uint16_t i = 0; i < n; ++i) append(i, &section);
  cix::AppendSectionChecksum(0, &section);
  return out + section;
}

std::string ZstdDictionaryBytes() {
  std::vector<std::string> samples;
  std::mt19937_64 rng(0xD1C7);
  static const char* const kWords[] = {"hello", "see you", "tomorrow", "at the", "meeting", "lunch?",
                                       "ok", "thanks", "great", "the report", "is ready", ":)"};
  for (int i = 0; i < 600; ++i) {
    std::string s = "{\"room\":\"room-" + std::to_string(rng() % 40) + "\",\"text\":\"";
    while (s.size() < 160) s += std::string(kWords[rng() % std::size(kWords)]) + " ";
    samples.push_back(s + "\"}");
  }
  return Check(codec::TrainDictionary(samples, 2 << 10));
}

// `file` with the GCM-sealed range [from, from + len) decrypted in place
// under `key` (the nonce at nonce_at, the first `aad` bytes as AAD): the
// plaintext form the target's reseal turns back into `file`.
std::string Unseal(std::string file, const crypto::Key& key, size_t nonce_at, size_t aad, size_t from,
                   size_t len) {
  crypto::Nonce nonce;
  std::memcpy(nonce.data(), file.data() + nonce_at, nonce.size());
  auto b = std::as_writable_bytes(std::span(file));
  Check(crypto::Open(key, nonce, b.first(aad), b.subspan(from, len),
                     b.subspan(from + len).first<crypto::kTagSize>(), b.subspan(from, len)));
  return file;
}

std::string ReadAll(io::FileSystem* fs, const std::string& path) {
  auto f = Check(fs->Open(path, {.read_only = true}));
  std::string bytes(Check(f->Size()), '\0');
  const size_t n = Check(f->ReadAt(0, std::as_writable_bytes(std::span(bytes))));
  WB_ASSERT(n == bytes.size());
  return bytes;
}

// A keyring with DEKs for the store, "acme" and "" (rotated), wrapped under `kek`.
std::string KeyringFile(const crypto::Key& kek) {
  auto fs = io::NewMemFileSystem();
  Check(fs->CreateDirs("/k"));
  ManualClock clock;
  auto ring = Check(crypto::Keyring::Create(fs.get(), "/k", kFuzzStore, kek, &clock));
  Check(ring->RotateDek("acme").status());
  Check(ring->RotateDek("").status());
  Check(ring->ReserveNonceEpochs(5).status());
  return ReadAll(fs.get(), layout::KeyringPath("/k"));
}

std::string CommittedFile(std::initializer_list<uint64_t> marks) {
  auto fs = io::NewMemFileSystem();
  Check(fs->CreateDirs("/p"));
  const std::string path = layout::CommittedPath("/p");
  {
    auto mark = Check(CommittedMark::Open(fs.get(), path, /*read_only=*/false));
    for (uint64_t m : marks) Check(mark->Store(m));
  }
  return ReadAll(fs.get(), path);
}

std::string BaseName(const std::string& path) { return path.substr(path.rfind('/') + 1); }

}  // namespace

std::string StoreFileSeed::Input() const {
  std::string in(1, static_cast<char>(static_cast<uint8_t>(which) | (form == kPlaintext ? kResealFlag : 0)));
  return in + file;
}

std::vector<StoreFileSeed> StoreFileSeeds() {
  std::vector<StoreFileSeed> c;
  auto add = [&](StoreFile which, std::string file, StoreFileSeed::Form form = StoreFileSeed::kAsWritten) {
    c.push_back({which, std::move(file), form});
  };

  cix::Header h;
  h.partition = 3;
  h.ordinal = 17;
  h.segment_base = 5000;
  h.segment_next = 9000;
  h.runs_bytes = cix::RunsEntrySize(2) * 4;
  h.dir_count = 12;
  h.dedup_count = 2;
  std::string header;
  cix::EncodeHeader(h, &header);
  add(StoreFile::kCixHeader, header);
  h.has_directory = false;
  h.dir_count = 0;
  header.clear();
  cix::EncodeHeader(h, &header);
  add(StoreFile::kCixHeader, header);

  std::string entry;
  cix::AppendRunsEntry(RunsEntry(1, 1), &entry);
  add(StoreFile::kCixRunsEntry, entry);
  entry.clear();
  cix::AppendRunsEntry(RunsEntry(0, 4), &entry);
  add(StoreFile::kCixRunsEntry, entry);
  std::string runs;
  for (uint64_t i = 0; i < 4; ++i) cix::AppendRunsEntry(RunsEntry(i, 1 + i % 3), &runs);
  add(StoreFile::kCixRunsSection, runs);

  for (uint16_t n : {0, 1, 5}) {
    add(StoreFile::kCixDirSection, CixSection(n, [](uint16_t i, std::string* out) {
          cix::AppendDirEntry(DirEntry{{i + 1ull, 99}, 40u + i, 1'700'000'000'000'000ull + i, i, 8u * i}, out);
        }));
    add(StoreFile::kCixDedupSection, CixSection(n, [](uint16_t i, std::string* out) {
          cix::AppendDedupEntry(cix::DedupEntry{{i + 5ull, 3}, 7u + i, 123456u + i, 4096u * i}, out);
        }));
  }

  const auto seg = Segment::EncodeHeader(SegmentMeta{2, 1 << 20, kFuzzStore, 1'700'000'000'000'000});
  add(StoreFile::kSegmentHeader, std::string(reinterpret_cast<const char*>(seg.data()), seg.size()));

  OffsetIndex empty(kFuzzIndexBase, 4096);
  add(StoreFile::kOffsetIndex, empty.Encode(kFuzzIndexBase, format::kSegmentHeaderSize));
  OffsetIndex index(kFuzzIndexBase, 4096);
  uint64_t pos = format::kSegmentHeaderSize;
  for (uint64_t off = kFuzzIndexBase; off < kFuzzIndexBase + 400; off += 10, pos += 1500) index.OnBatch(off, pos);
  add(StoreFile::kOffsetIndex, index.Encode(kFuzzIndexBase + 400, pos));

  // Dictionary files: a trained zstd dictionary and plain bytes (zstd refuses
  // those, after the file decoded), clear and sealed.
  for (const std::string& dictionary : {ZstdDictionaryBytes(), std::string("not a zstd dictionary")}) {
    const dict::DictFile f{kFuzzDictId, "acme", 1'700'000'000'000'000, 0, dictionary};
    add(StoreFile::kDictFile, Check(dict::EncodeDictFile(f, kFuzzStore, nullptr)));
    const std::string sealed = Check(dict::EncodeDictFile(f, kFuzzStore, FuzzKeys()));
    add(StoreFile::kDictFileWithKeys, sealed, StoreFileSeed::kSealed);
    const size_t body = sealed.size() - format::kDictHeaderSize - format::kGcmTagSize - 8;
    add(StoreFile::kDictFileWithKeys,
        Unseal(sealed, *Check(FuzzKeys()->Lookup(kFuzzKeyId)), format::kDhNonce, format::kDictHeaderSize,
               format::kDictHeaderSize, body),
        StoreFileSeed::kPlaintext);
  }

  for (bool previous : {false, true}) {
    const crypto::Key& kek = previous ? FuzzPreviousKek() : FuzzKek();
    const StoreFile which = previous ? StoreFile::kKeyringPreviousKek : StoreFile::kKeyring;
    const std::string ring = KeyringFile(kek);
    add(which, ring, StoreFileSeed::kSealed);
    const size_t body = ring.size() - format::kKeyringMinSize;
    add(which, Unseal(ring, kek, format::kKhNonce, format::kKeyringHeaderSize, format::kKeyringHeaderSize, body),
        StoreFileSeed::kPlaintext);
  }

  add(StoreFile::kCommittedMark, CommittedFile({77}));
  add(StoreFile::kCommittedMark, CommittedFile({5, 9, 4242}));

  add(StoreFile::kFileName, BaseName(layout::SegmentPath("/p", 1 << 20)));
  add(StoreFile::kFileName, BaseName(layout::IndexPath("/p", 42)));
  add(StoreFile::kFileName, BaseName(layout::CixPath("/p", UINT64_MAX)));
  add(StoreFile::kFileName, BaseName(layout::DictPath("/d", 65535)));
  return c;
}

}  // namespace warbler::engine
