// AES-256-GCM authenticated encryption over OpenSSL 3 EVP: the one primitive
// behind batch payloads and the keyring (docs/security.md).
//
// Each call copies the key's expanded schedule (Key::GcmSchedule, made once
// per key) into the thread's cached EVP_CIPHER_CTX and empties that context
// again before returning, so no schedule lingers in a thread's context and
// none outlives its Key.
// Thread-safety: all functions may be called from any thread concurrently.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "base/status.h"
#include "engine/crypto/key.h"

namespace warbler::engine::crypto {

inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
using Nonce = std::array<uint8_t, kNonceSize>;

// Encrypts `data` in place under (key, nonce), authenticating `aad` too, and
// writes the 16-byte tag. REQUIRES: (key, nonce) was never used before;
// data.size() and aad.size() < 2^31. Errors (IOError) only if OpenSSL fails.
Status Seal(const Key& key, const Nonce& nonce, std::span<const std::byte> aad,
            std::span<std::byte> data, std::span<std::byte, kTagSize> tag);

// Decrypts `ciphertext` into `out` (same size; may be the same memory) and
// checks the tag over aad + ciphertext. Unauthenticated when the tag does not
// match (wrong key, or any byte of aad / ciphertext / tag changed); `out`
// then holds no plaintext (it is wiped).
Status Open(const Key& key, const Nonce& nonce, std::span<const std::byte> aad,
            std::span<const std::byte> ciphertext, std::span<const std::byte, kTagSize> tag,
            std::span<std::byte> out);

}  // namespace warbler::engine::crypto
