#include "engine/crypto/keyring.h"

#include <algorithm>
#include <cstring>

#include "base/assert.h"
#include "base/checksum.h"
#include "base/coding.h"
#include "base/limits.h"
#include "base/log.h"
#include "engine/crypto/aead.h"
#include "engine/layout.h"

namespace warbler::engine::crypto {
namespace {

using format::kKeyringHeaderSize;

// A byte string that is wiped when it goes away: keyring bodies hold DEKs.
struct SecretBuffer {
  std::string bytes;
  ~SecretBuffer() { Wipe(bytes.data(), bytes.size()); }
};

std::string UuidHex(const KeyringUuid& uuid) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t b : uuid) {
    s += kDigits[b >> 4];
    s += kDigits[b & 0xf];
  }
  return s;
}

struct FileHeader {
  uint16_t version = 0;
  KeyringUuid uuid{};
  uint64_t generation = 0;
  uint32_t next_key_id = 0;
  uint32_t next_nonce_epoch = 0;
  uint32_t body_len = 0;
  Nonce nonce{};
};

void EncodeHeader(const FileHeader& h, std::byte* out) {
  std::memset(out, 0, kKeyringHeaderSize);
  EncodeFixed32(out + format::kKhMagic, format::kKeyringMagic);
  EncodeFixed16(out + format::kKhVersion, h.version);
  std::memcpy(out + format::kKhStoreUuid, h.uuid.data(), h.uuid.size());
  EncodeFixed64(out + format::kKhGeneration, h.generation);
  EncodeFixed32(out + format::kKhNextKeyId, h.next_key_id);
  EncodeFixed32(out + format::kKhNextNonceEpoch, h.next_nonce_epoch);
  EncodeFixed32(out + format::kKhBodyLen, h.body_len);
  std::memcpy(out + format::kKhNonce, h.nonce.data(), h.nonce.size());
}

// Checks everything that can be checked without the KEK, in the order of
// docs/security.md, and fills `h`.
Status CheckFile(const std::string& path, std::span<const std::byte> file, const KeyringUuid& uuid,
                 FileHeader* h) {
  if (file.size() < format::kKeyringMinSize) {
    return Status::Corruption("keyring " + path + " is truncated: " + std::to_string(file.size()) +
                              " bytes, a keyring has at least " +
                              std::to_string(format::kKeyringMinSize));
  }
  const std::byte* p = file.data();
  if (DecodeFixed32(p + format::kKhMagic) != format::kKeyringMagic) {
    return Status::Corruption("keyring " + path + " has a bad magic number");
  }
  h->version = DecodeFixed16(p + format::kKhVersion);
  if (h->version != format::kKeyringVersion) {
    return Status::NotSupported("keyring " + path + " has version " + std::to_string(h->version) +
                                " (this build reads version " +
                                std::to_string(format::kKeyringVersion) + ")");
  }
  h->body_len = DecodeFixed32(p + format::kKhBodyLen);
  if (uint64_t{h->body_len} + format::kKeyringMinSize != file.size()) {
    return Status::Corruption("keyring " + path + " is truncated or damaged: " +
                              std::to_string(file.size()) + " bytes, its header says " +
                              std::to_string(uint64_t{h->body_len} + format::kKeyringMinSize));
  }
  const size_t sum_at = file.size() - 8;
  if (Checksum64(file.first(sum_at)) != DecodeFixed64(p + sum_at)) {
    return Status::Corruption("keyring " + path + " checksum mismatch");
  }
  std::memcpy(h->uuid.data(), p + format::kKhStoreUuid, h->uuid.size());
  if (h->uuid != uuid) {
    return Status::FailedPrecondition("keyring " + path + " belongs to store " + UuidHex(h->uuid) +
                                      ", not to this store " + UuidHex(uuid));
  }
  h->generation = DecodeFixed64(p + format::kKhGeneration);
  h->next_key_id = DecodeFixed32(p + format::kKhNextKeyId);
  h->next_nonce_epoch = DecodeFixed32(p + format::kKhNextNonceEpoch);
  std::memcpy(h->nonce.data(), p + format::kKhNonce, h->nonce.size());
  return Status::Ok();
}

// Decrypts the body with `kek` into `body`.
Status Unwrap(std::span<const std::byte> file, const FileHeader& h, const Key& kek,
              SecretBuffer* body) {
  body->bytes.assign(h.body_len, '\0');
  auto* out = reinterpret_cast<std::byte*>(body->bytes.data());
  return Open(kek, h.nonce, file.first(kKeyringHeaderSize),
              file.subspan(kKeyringHeaderSize, h.body_len),
              file.subspan(kKeyringHeaderSize + h.body_len).first<kTagSize>(), {out, h.body_len});
}

Result<std::string> ReadWhole(io::FileSystem* fs, const std::string& path) {
  auto file = fs->Open(path, {.read_only = true});
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound) {
      return Status::NotFound("keyring " + path +
                              " not found: this data directory has no keys (create the store, "
                              "or restore KEYRING from a backup)");
    }
    return file.status();
  }
  WB_ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  if (size > limits::kMaxKeyringBytes) {
    return Status::Corruption("keyring " + path + " is " + std::to_string(size) +
                              " bytes, over the limit");
  }
  std::string bytes(size, '\0');
  WB_ASSIGN_OR_RETURN(size_t n,
                      (*file)->ReadAt(0, {reinterpret_cast<std::byte*>(bytes.data()), size}));
  bytes.resize(n);
  WB_RETURN_IF_ERROR((*file)->Close());
  return bytes;
}

// Replaces <dir>/KEYRING with `bytes` atomically: temp file, fdatasync,
// rename, fsync dir. A failure before the rename leaves no temp file behind.
Status Install(io::FileSystem* fs, const std::string& dir, std::span<const std::byte> bytes) {
  const std::string path = layout::KeyringPath(dir);
  return io::WriteFileAtomically(fs, path, layout::TempPath(path), bytes, dir);
}

}  // namespace

Keyring::Keyring(io::FileSystem* fs, std::string dir, const KeyringUuid& uuid, const Key& kek,
                 Clock* clock, State state)
    : fs_(fs),
      dir_(std::move(dir)),
      uuid_(uuid),
      clock_(clock),
      kek_(kek),
      state_(std::make_shared<const State>(std::move(state))) {}

Keyring::~Keyring() = default;

std::shared_ptr<const Keyring::State> Keyring::Snapshot() const {
  std::lock_guard lock(mu_);
  return state_;
}

void Keyring::Publish(State next) {
  auto published = std::make_shared<const State>(std::move(next));
  {
    std::lock_guard lock(mu_);
    state_.swap(published);
  }
  // The old state (if no reader holds it) is freed here, outside the lock.
}

void Keyring::IndexCurrent(State* state) {
  state->current.clear();
  for (const auto& [id, e] : state->entries) state->current[e.tenant] = id;  // ascending ids
}

Status Keyring::ParseBody(std::span<const std::byte> body, State* state) {
  Reader r(body);
  uint32_t count = 0;
  if (!r.GetFixed32(&count) || count > limits::kMaxKeyringEntries) {
    return Status::Corruption("keyring body: bad entry count");
  }
  uint32_t prev = 0;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t id = 0;
    std::span<const std::byte> tlen, tenant, reserved, key;
    uint64_t created = 0;
    if (!r.GetFixed32(&id) || !r.GetBytes(1, &tlen) ||
        !r.GetBytes(static_cast<size_t>(tlen[0]), &tenant) || !r.GetBytes(1, &reserved) ||
        !r.GetFixed64(&created) || !r.GetBytes(kKeySize, &key)) {
      return Status::Corruption("keyring body: entry " + std::to_string(i) + " is truncated");
    }
    if (id <= prev || id >= state->next_key_id || reserved[0] != std::byte{0}) {
      return Status::Corruption("keyring body: entry " + std::to_string(i) + " has key id " +
                                std::to_string(id) + " out of order or out of range");
    }
    prev = id;
    Entry e;
    e.tenant = std::string(AsStringView(tenant));
    e.created_us = created;
    e.key = std::make_shared<const Key>(
        std::span<const uint8_t, kKeySize>(reinterpret_cast<const uint8_t*>(key.data()), kKeySize));
    state->entries.emplace(id, std::move(e));
  }
  if (!r.empty()) return Status::Corruption("keyring body: trailing bytes");
  IndexCurrent(state);
  if (!state->current.contains("")) return Status::Corruption("keyring has no store-wide DEK");
  return Status::Ok();
}

Status Keyring::WriteFile(io::FileSystem* fs, const std::string& dir, const KeyringUuid& uuid,
                          const State& state, const Key& kek) {
  SecretBuffer file;
  file.bytes.reserve(kKeyringHeaderSize + 4 + state.entries.size() * 80 + kTagSize + 8);
  file.bytes.resize(kKeyringHeaderSize);
  PutFixed32(&file.bytes, static_cast<uint32_t>(state.entries.size()));
  for (const auto& [id, e] : state.entries) {
    PutFixed32(&file.bytes, id);
    file.bytes.push_back(static_cast<char>(e.tenant.size()));
    file.bytes.append(e.tenant);
    file.bytes.push_back('\0');
    PutFixed64(&file.bytes, e.created_us);
    file.bytes.append(reinterpret_cast<const char*>(e.key->bytes().data()), kKeySize);
  }
  FileHeader h;
  h.version = format::kKeyringVersion;
  h.uuid = uuid;
  h.generation = state.generation;
  h.next_key_id = state.next_key_id;
  h.next_nonce_epoch = state.next_nonce_epoch;
  h.body_len = static_cast<uint32_t>(file.bytes.size() - kKeyringHeaderSize);
  // Random, not derived: one KEK may wrap the keyrings of many stores (docs/security.md).
  WB_RETURN_IF_ERROR(RandomBytes(std::as_writable_bytes(std::span(h.nonce))));
  file.bytes.resize(file.bytes.size() + kTagSize + 8);
  auto* p = reinterpret_cast<std::byte*>(file.bytes.data());
  EncodeHeader(h, p);
  WB_RETURN_IF_ERROR(
      Seal(kek, h.nonce, {p, kKeyringHeaderSize}, {p + kKeyringHeaderSize, h.body_len},
           std::span<std::byte, kTagSize>(p + kKeyringHeaderSize + h.body_len, kTagSize)));
  const size_t sum_at = file.bytes.size() - 8;
  EncodeFixed64(p + sum_at, Checksum64(p, sum_at));
  return Install(fs, dir, AsBytes(file.bytes));
}

Status Keyring::Persist(State* next, const Key& kek) const {
  next->generation = Snapshot()->generation + 1;
  return WriteFile(fs_, dir_, uuid_, *next, kek);
}

Result<std::unique_ptr<Keyring>> Keyring::Create(io::FileSystem* fs, const std::string& dir,
                                                 const KeyringUuid& uuid, const Key& kek,
                                                 Clock* clock) {
  if (clock == nullptr) clock = Clock::Real();
  const std::string path = layout::KeyringPath(dir);
  WB_ASSIGN_OR_RETURN(bool exists, fs->Exists(path));
  if (exists) return Status::AlreadyExists("keyring " + path + " already exists");
  State state;
  state.generation = 1;
  WB_ASSIGN_OR_RETURN(Key dek, Key::Random());
  state.entries.emplace(1, Entry{"", clock->WallMicros(), std::make_shared<const Key>(dek)});
  state.next_key_id = 2;
  state.next_nonce_epoch = 1;  // epoch 0 is never used: a zero nonce means "not encrypted"
  IndexCurrent(&state);
  WB_RETURN_IF_ERROR(WriteFile(fs, dir, uuid, state, kek));
  WB_LOG(kInfo, "keyring_created").Kv("path", path).Kv("store", UuidHex(uuid));
  return std::unique_ptr<Keyring>(new Keyring(fs, dir, uuid, kek, clock, std::move(state)));
}

Result<std::unique_ptr<Keyring>> Keyring::Open(io::FileSystem* fs, const std::string& dir,
                                               const KeyringUuid& uuid, const Key& kek,
                                               const Key* previous_kek, Clock* clock) {
  if (clock == nullptr) clock = Clock::Real();
  const std::string path = layout::KeyringPath(dir);
  WB_ASSIGN_OR_RETURN(std::string raw, ReadWhole(fs, path));
  SecretBuffer file{std::move(raw)};
  const auto bytes = AsBytes(file.bytes);
  FileHeader h;
  WB_RETURN_IF_ERROR(CheckFile(path, bytes, uuid, &h));
  SecretBuffer body;
  bool old_kek = false;
  Status s = Unwrap(bytes, h, kek, &body);
  if (s.code() == StatusCode::kUnauthenticated && previous_kek != nullptr) {
    s = Unwrap(bytes, h, *previous_kek, &body);
    old_kek = s.ok();
  }
  if (s.code() == StatusCode::kUnauthenticated) {
    return Status::Unauthenticated("keyring " + path +
                                   " cannot be unwrapped with the configured key-encryption "
                                   "key: wrong KEK (or the file was altered)");
  }
  WB_RETURN_IF_ERROR(s);
  State state;
  state.generation = h.generation;
  state.next_key_id = h.next_key_id;
  state.next_nonce_epoch = h.next_nonce_epoch;
  WB_RETURN_IF_ERROR(ParseBody(AsBytes(body.bytes), &state).WithContext(path));
  std::unique_ptr<Keyring> ring(new Keyring(fs, dir, uuid, kek, clock, std::move(state)));
  if (old_kek) {
    // Finish the interrupted KEK rotation before anyone relies on the new KEK.
    std::lock_guard w(ring->write_mu_);
    State next = *ring->Snapshot();
    WB_RETURN_IF_ERROR(ring->Persist(&next, kek).WithContext("finish KEK rotation"));
    ring->Publish(std::move(next));
    WB_LOG(kInfo, "keyring_kek_rotation_finished").Kv("path", path);
  }
  const std::string tmp = layout::TempPath(path);
  WB_ASSIGN_OR_RETURN(bool stale, fs->Exists(tmp));
  if (stale) {
    // A write that crashed before its rename; it may hold keys removed since.
    WB_RETURN_IF_ERROR(fs->Remove(tmp));
    WB_RETURN_IF_ERROR(fs->SyncDir(dir));
  }
  return ring;
}

Result<std::shared_ptr<const Key>> Keyring::Lookup(uint32_t key_id) const {
  const auto state = Snapshot();
  auto it = state->entries.find(key_id);
  if (it == state->entries.end()) {
    return Status::NotFound("key id " + std::to_string(key_id) +
                            " is not in the keyring (destroyed, or data from another store)");
  }
  return it->second.key;
}

Result<uint32_t> Keyring::DekFor(std::string_view tenant) const {
  const auto state = Snapshot();
  auto it = state->current.find(std::string(tenant));
  if (it == state->current.end()) it = state->current.find("");
  WB_ASSERT(it != state->current.end());  // ParseBody / Create guarantee a store-wide DEK
  return it->second;
}

Result<uint32_t> Keyring::ReserveNonceEpochs(uint32_t count) {
  if (count == 0) return Status::InvalidArgument("reserve at least one nonce epoch");
  std::lock_guard w(write_mu_);
  State next = *Snapshot();
  const uint32_t first = next.next_nonce_epoch;
  if (count > UINT32_MAX - first) {
    return Status::ResourceExhausted("the keyring's 2^32 nonce epochs are used up");
  }
  next.next_nonce_epoch = first + count;
  WB_RETURN_IF_ERROR(Persist(&next, kek_));
  Publish(std::move(next));
  return first;
}

Result<uint32_t> Keyring::AddDek(State* next, std::string_view tenant) const {
  if (tenant.size() > limits::kMaxTenantBytes) {
    return Status::InvalidArgument("tenant name over " + std::to_string(limits::kMaxTenantBytes) +
                                   " bytes");
  }
  if (next->entries.size() >= limits::kMaxKeyringEntries || next->next_key_id == UINT32_MAX) {
    return Status::ResourceExhausted("the keyring holds the maximum number of keys");
  }
  WB_ASSIGN_OR_RETURN(Key dek, Key::Random());
  const uint32_t id = next->next_key_id++;
  next->entries.emplace(
      id, Entry{std::string(tenant), clock_->WallMicros(), std::make_shared<const Key>(dek)});
  next->current[std::string(tenant)] = id;
  return id;
}

Result<uint32_t> Keyring::RotateDek(std::string_view tenant) {
  std::lock_guard w(write_mu_);
  State next = *Snapshot();
  WB_ASSIGN_OR_RETURN(uint32_t id, AddDek(&next, tenant));
  WB_RETURN_IF_ERROR(Persist(&next, kek_));
  Publish(std::move(next));
  WB_LOG(kInfo, "dek_rotated").Kv("key_id", id).Kv("tenant", std::string(tenant));
  return id;
}

Status Keyring::RotateKek(const Key& new_kek) {
  std::lock_guard w(write_mu_);
  State next = *Snapshot();
  WB_RETURN_IF_ERROR(Persist(&next, new_kek));
  kek_ = new_kek;
  const uint64_t generation = next.generation;
  Publish(std::move(next));
  WB_LOG(kInfo, "kek_rotated").Kv("generation", generation);
  return Status::Ok();
}

std::vector<KeyInfo> Keyring::List() const {
  const auto state = Snapshot();
  std::vector<KeyInfo> out;
  for (const auto& [id, e] : state->entries) {
    out.push_back({id, e.tenant, e.created_us, state->current.at(e.tenant) == id});
  }
  return out;
}

uint64_t Keyring::generation() const { return Snapshot()->generation; }

}  // namespace warbler::engine::crypto
