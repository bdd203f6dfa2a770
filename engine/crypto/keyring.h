// Keyring: the data keys (DEKs) of one store, wrapped by the KEK and kept in
// <data>/KEYRING (format and argument: docs/security.md "The keyring file").
//
// One object per open store. Every change — DEK rotation, KEK rotation, nonce
// epoch reservation — writes the whole file atomically (KEYRING.tmp, fdatasync,
// rename, fsync dir) before it takes effect in memory, so a crash at any point
// leaves the old or the new keyring, and a failed call leaves this object as
// it was. All file I/O goes through io::FileSystem.
//
// Thread-safety: all methods may be called concurrently. Readers copy a
// pointer to the current immutable state under a short mutex and never wait
// for a file write; changes are serialized and publish a new state when done
// (a reader-preferring rwlock would let a stream of lookups starve rotation).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "engine/crypto/key_source.h"
#include "engine/format.h"
#include "io/file_system.h"

namespace warbler::engine::crypto {

using KeyringUuid = std::array<uint8_t, format::kStoreUuidSize>;

// What a keyring says about one DEK, without its bytes.
struct KeyInfo {
  uint32_t key_id = 0;
  std::string tenant;  // "" = store-wide
  uint64_t created_us = 0;
  bool current = false;  // the one new batches of `tenant` use
};

class Keyring final : public KeySource {
 public:
  // Creates <dir>/KEYRING for store `uuid` with one store-wide DEK, wrapped by
  // `kek`. AlreadyExists if a keyring is there. `clock` (nullptr = real)
  // stamps key creation times.
  static Result<std::unique_ptr<Keyring>> Create(io::FileSystem* fs, const std::string& dir,
                                                 const KeyringUuid& uuid, const Key& kek,
                                                 Clock* clock = nullptr);

  // Opens <dir>/KEYRING of store `uuid`. On failure nothing on disk changes:
  //   NotFound            no keyring
  //   Corruption          truncated, bad magic or checksum, malformed body
  //   NotSupported        a newer keyring version
  //   FailedPrecondition  the keyring belongs to another store
  //   Unauthenticated     neither `kek` nor `previous_kek` unwraps it (wrong KEK)
  // If only `previous_kek` unwraps it (a KEK rotation that did not finish), the
  // keyring is re-wrapped under `kek` before Open returns. A leftover
  // KEYRING.tmp is removed after a successful open.
  static Result<std::unique_ptr<Keyring>> Open(io::FileSystem* fs, const std::string& dir,
                                               const KeyringUuid& uuid, const Key& kek,
                                               const Key* previous_kek = nullptr,
                                               Clock* clock = nullptr);

  ~Keyring() override;
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // ---- KeySource ----
  Result<std::shared_ptr<const Key>> Lookup(uint32_t key_id) const override;
  Result<uint32_t> DekFor(std::string_view tenant) const override;
  Result<uint32_t> ReserveNonceEpochs(uint32_t count) override;

  // Adds a new random DEK for `tenant` ("" = store-wide) and makes it the
  // current one; older DEKs stay for reading. Returns the new key id. For a
  // tenant without DEKs this creates its first one. InvalidArgument for a
  // tenant over kMaxTenantBytes; ResourceExhausted at kMaxKeyringEntries.
  Result<uint32_t> RotateDek(std::string_view tenant);

  // Re-wraps the keyring under `new_kek`; no DEK changes, no segment is
  // touched. After a crash the file is wrapped by exactly one of the two KEKs
  // (Open takes both).
  Status RotateKek(const Key& new_kek);

  // Every DEK, by key id.
  std::vector<KeyInfo> List() const;
  // Incremented by every write of the file.
  uint64_t generation() const;

 private:
  struct Entry {
    std::string tenant;
    uint64_t created_us = 0;
    std::shared_ptr<const Key> key;
  };
  struct State {
    uint64_t generation = 0;
    uint32_t next_key_id = 1;
    uint32_t next_nonce_epoch = 1;
    std::map<uint32_t, Entry> entries;
    std::unordered_map<std::string, uint32_t> current;  // owner -> highest key id
  };

  Keyring(io::FileSystem* fs, std::string dir, const KeyringUuid& uuid, const Key& kek,
          Clock* clock, State state);

  static Status ParseBody(std::span<const std::byte> body, State* state);
  static void IndexCurrent(State* state);
  // Writes `next` (with generation+1) under `kek` atomically. REQUIRES: write_mu_ held.
  Status Persist(State* next, const Key& kek) const;
  static Status WriteFile(io::FileSystem* fs, const std::string& dir, const KeyringUuid& uuid,
                          const State& state, const Key& kek);
  Result<uint32_t> AddDek(State* next, std::string_view tenant) const;

  io::FileSystem* const fs_;
  const std::string dir_;
  const KeyringUuid uuid_;
  Clock* const clock_;

  std::shared_ptr<const State> Snapshot() const;
  // Publishes `next`. REQUIRES: write_mu_ held.
  void Publish(State next);

  std::mutex write_mu_;  // serializes changes; held across the file write
  Key kek_;              // guarded by write_mu_

  mutable std::mutex mu_;               // guards the pointer state_, not the State
  std::shared_ptr<const State> state_;  // immutable once published
};

}  // namespace warbler::engine::crypto
