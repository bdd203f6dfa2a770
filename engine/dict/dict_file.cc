#include "engine/dict/dict_file.h"

#include <cstring>

#include "base/checksum.h"
#include "base/coding.h"
#include "base/limits.h"
#include "engine/crypto/aead.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/key_source.h"
#include "engine/layout.h"

namespace warbler::engine::dict {
namespace {

using format::kDictHeaderSize;
using format::kGcmTagSize;

struct Header {
  uint16_t version = format::kDictVersion;
  uint16_t id = 0;
  StoreId store{};
  uint64_t created_us = 0;
  uint32_t key_id = 0;
  uint32_t body_len = 0;
  crypto::Nonce nonce{};
};

void EncodeHeader(const Header& h, std::byte* p) {
  std::memset(p, 0, kDictHeaderSize);
  EncodeFixed32(p + format::kDhMagic, format::kDictMagic);
  EncodeFixed16(p + format::kDhVersion, h.version);
  EncodeFixed16(p + format::kDhDictId, h.id);
  std::memcpy(p + format::kDhStoreUuid, h.store.data(), h.store.size());
  EncodeFixed64(p + format::kDhCreated, h.created_us);
  EncodeFixed32(p + format::kDhKeyId, h.key_id);
  EncodeFixed32(p + format::kDhBodyLen, h.body_len);
  std::memcpy(p + format::kDhNonce, h.nonce.data(), h.nonce.size());
}

void DecodeHeader(const std::byte* p, Header* h) {
  h->version = DecodeFixed16(p + format::kDhVersion);
  h->id = DecodeFixed16(p + format::kDhDictId);
  std::memcpy(h->store.data(), p + format::kDhStoreUuid, h->store.size());
  h->created_us = DecodeFixed64(p + format::kDhCreated);
  h->key_id = DecodeFixed32(p + format::kDhKeyId);
  h->body_len = DecodeFixed32(p + format::kDhBodyLen);
  std::memcpy(h->nonce.data(), p + format::kDhNonce, h->nonce.size());
}

size_t FileSize(const Header& h) {
  return kDictHeaderSize + h.body_len + (h.key_id != 0 ? kGcmTagSize : 0) + 8;
}

// Structure and checksum: what can be checked without keys.
Status CheckFile(std::span<const std::byte> bytes, uint16_t id, const StoreId& store, Header* h) {
  if (bytes.size() < format::kDictMinSize || bytes.size() > limits::kMaxDictionaryFileBytes) {
    return Status::Corruption("dictionary file is " + std::to_string(bytes.size()) +
                              " bytes (truncated or damaged)");
  }
  if (DecodeFixed32(bytes.data() + format::kDhMagic) != format::kDictMagic) {
    return Status::Corruption("bad dictionary file magic");
  }
  DecodeHeader(bytes.data(), h);
  if (h->version != format::kDictVersion) {
    return Status::NotSupported("dictionary file version " + std::to_string(h->version) +
                                " (this build reads version " +
                                std::to_string(format::kDictVersion) + ")");
  }
  if (h->body_len > limits::kMaxDictionaryFileBytes || FileSize(*h) != bytes.size()) {
    return Status::Corruption("dictionary file is " + std::to_string(bytes.size()) +
                              " bytes, its header says otherwise (truncated or damaged)");
  }
  const size_t sum_at = bytes.size() - 8;
  if (Checksum64(bytes.first(sum_at)) != DecodeFixed64(bytes.data() + sum_at)) {
    return Status::Corruption("dictionary file checksum mismatch");
  }
  if (h->id != id) {
    return Status::Corruption("dictionary file holds id " + std::to_string(h->id) +
                              ", its name says " + std::to_string(id));
  }
  if (h->store != store) {
    return Status::FailedPrecondition("dictionary file belongs to another store");
  }
  return Status::Ok();
}

Status ParseBody(std::span<const std::byte> body, DictFile* f) {
  if (body.empty()) return Status::Corruption("dictionary file body is empty");
  const size_t tenant_len = static_cast<size_t>(body[0]);
  if (body.size() < 1 + tenant_len + 1) {
    return Status::Corruption("dictionary file body is truncated");
  }
  f->tenant.assign(reinterpret_cast<const char*>(body.data() + 1), tenant_len);
  const auto dict = body.subspan(1 + tenant_len);
  f->dictionary.assign(reinterpret_cast<const char*>(dict.data()), dict.size());
  return Status::Ok();
}

}  // namespace

Result<std::string> EncodeDictFile(const DictFile& f, const StoreId& store, crypto::KeySource* keys) {
  if (f.id == 0 || f.tenant.size() > limits::kMaxTenantBytes || f.dictionary.empty() ||
      f.dictionary.size() > limits::kMaxDictionaryBytes) {
    return Status::InvalidArgument("dictionary file: id 0, tenant or dictionary out of range");
  }
  Header h;
  h.id = f.id;
  h.store = store;
  h.created_us = f.created_us;
  h.body_len = static_cast<uint32_t>(1 + f.tenant.size() + f.dictionary.size());
  std::shared_ptr<const crypto::Key> key;
  if (keys != nullptr) {
    WB_ASSIGN_OR_RETURN(h.key_id, keys->DekFor(f.tenant));
    WB_ASSIGN_OR_RETURN(key, keys->Lookup(h.key_id));
    // A fresh epoch: no batch cipher and no other dictionary ever uses it.
    WB_ASSIGN_OR_RETURN(uint32_t epoch, keys->ReserveNonceEpochs(1));
    h.nonce = crypto::BatchNonce(epoch, f.id);
  }
  std::string out(kDictHeaderSize, '\0');
  out.reserve(FileSize(h));
  out.push_back(static_cast<char>(f.tenant.size()));
  out += f.tenant;
  out += f.dictionary;
  out.resize(FileSize(h));
  auto* p = reinterpret_cast<std::byte*>(out.data());
  EncodeHeader(h, p);
  if (key != nullptr) {
    WB_RETURN_IF_ERROR(crypto::Seal(*key, h.nonce, {p, kDictHeaderSize}, {p + kDictHeaderSize, h.body_len},
                                    std::span<std::byte, kGcmTagSize>(p + kDictHeaderSize + h.body_len,
                                                                      kGcmTagSize)));
  }
  const size_t sum_at = out.size() - 8;
  EncodeFixed64(p + sum_at, Checksum64(p, sum_at));
  return out;
}

Result<DictFile> DecodeDictFile(std::span<const std::byte> bytes, uint16_t id, const StoreId& store,
                                const crypto::KeySource* keys) {
  Header h;
  WB_RETURN_IF_ERROR(CheckFile(bytes, id, store, &h));
  DictFile f;
  f.id = h.id;
  f.created_us = h.created_us;
  f.key_id = h.key_id;
  const auto stored = bytes.subspan(kDictHeaderSize, h.body_len);
  if (h.key_id == 0) {
    if (keys != nullptr) {
      return Status::Unauthenticated(
          "dictionary file is not encrypted, but this store encrypts every dictionary");
    }
    WB_RETURN_IF_ERROR(ParseBody(stored, &f));
    return f;
  }
  if (keys == nullptr) {
    return Status::NotSupported("dictionary file is encrypted (key id " + std::to_string(h.key_id) +
                                ") and no keyring is configured");
  }
  WB_ASSIGN_OR_RETURN(auto key, keys->Lookup(h.key_id));
  std::string body(h.body_len, '\0');
  Status s = crypto::Open(*key, h.nonce, bytes.first(kDictHeaderSize), stored,
                          bytes.subspan(kDictHeaderSize + h.body_len).first<kGcmTagSize>(),
                          {reinterpret_cast<std::byte*>(body.data()), body.size()});
  if (s.code() == StatusCode::kUnauthenticated) {
    return Status::Unauthenticated("dictionary file fails authentication under key id " +
                                   std::to_string(h.key_id) +
                                   " (its checksum is intact: tampered with, or the wrong key)");
  }
  WB_RETURN_IF_ERROR(s);
  WB_RETURN_IF_ERROR(ParseBody(AsBytes(body), &f));
  return f;
}

Status WriteDictFile(io::FileSystem* fs, const std::string& data_dir, uint16_t id,
                     std::span<const std::byte> bytes) {
  const std::string dir = layout::DictDir(data_dir);
  WB_ASSIGN_OR_RETURN(bool have_dir, fs->Exists(dir));
  if (!have_dir) {
    WB_RETURN_IF_ERROR(fs->CreateDirs(dir));
    WB_RETURN_IF_ERROR(fs->SyncDir(data_dir).WithContext("sync data directory"));
  }
  const std::string path = layout::DictPath(data_dir, id);
  return io::WriteFileAtomically(fs, path, layout::TempPath(path), bytes, dir);
}

Result<std::string> ReadDictFile(io::FileSystem* fs, const std::string& path) {
  WB_ASSIGN_OR_RETURN(auto file, fs->Open(path, {.read_only = true}));
  WB_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > limits::kMaxDictionaryFileBytes) {
    return Status::Corruption("dictionary file is " + std::to_string(size) + " bytes, over the limit");
  }
  std::string bytes(size, '\0');
  WB_ASSIGN_OR_RETURN(size_t n, file->ReadAt(0, {reinterpret_cast<std::byte*>(bytes.data()), size}));
  bytes.resize(n);
  WB_RETURN_IF_ERROR(file->Close());
  return bytes;
}

}  // namespace warbler::engine::dict
