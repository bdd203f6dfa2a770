// Key: 256 bits of secret key material (a KEK or a DEK, docs/security.md).
//
// The bytes are wiped with OPENSSL_cleanse whenever a Key is destroyed or
// overwritten, and a Key has no printer: nothing ever logs it. Copies are
// explicit (each copy is wiped on its own); prefer sharing one Key through
// std::shared_ptr<const Key>, as the keyring does.
//
// A Key also keeps its expanded AES-256-GCM key schedule, made on first use
// by aead.cc and wiped with the bytes: each seal or open copies it instead of
// expanding the key again (docs/security.md "Memory hygiene").
// Thread-safety: a const Key may be read from any number of threads.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <openssl/types.h>

#include "base/status.h"

namespace warbler::engine::crypto {

inline constexpr size_t kKeySize = 32;  // AES-256

class Key {
 public:
  Key() = default;  // all zero
  explicit Key(std::span<const uint8_t, kKeySize> bytes);
  Key(const Key& other);
  Key& operator=(const Key& other);
  ~Key();

  // 32 bytes from the OpenSSL CSPRNG (RAND_bytes). Unavailable if it fails.
  static Result<Key> Random();
  // Parses exactly 64 hex digits (either case). InvalidArgument otherwise;
  // the message never quotes the input.
  static Result<Key> FromHex(std::string_view hex);

  std::span<const uint8_t, kKeySize> bytes() const { return bytes_; }

  // Constant-time comparison.
  bool Equals(const Key& other) const;

  // For aead.cc: the key's AES-256-GCM schedule, an EVP_CIPHER_CTX keyed
  // with it (no IV), made on the first call (racing callers agree on one)
  // and freed — which wipes it — when the key is destroyed or assigned.
  // Callers copy it and never change it. nullptr if OpenSSL fails.
  const EVP_CIPHER_CTX* GcmSchedule() const;

 private:
  void DropSchedule();

  std::array<uint8_t, kKeySize> bytes_{};
  mutable std::atomic<EVP_CIPHER_CTX*> schedule_{nullptr};
};

// AES-256-GCM, fetched from OpenSSL's default provider once; nullptr if
// unavailable.
const EVP_CIPHER* Aes256Gcm();

// Fills `out` from the OpenSSL CSPRNG; Unavailable if it fails.
Status RandomBytes(std::span<std::byte> out);

// Overwrites `n` bytes at `p` with zeros in a way the compiler keeps (OPENSSL_cleanse).
void Wipe(void* p, size_t n);

}  // namespace warbler::engine::crypto
