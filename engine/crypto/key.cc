#include "engine/crypto/key.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace warbler::engine::crypto {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Key::Key(std::span<const uint8_t, kKeySize> bytes) {
  std::copy(bytes.begin(), bytes.end(), bytes_.begin());
}

Key::Key(const Key& other) : bytes_(other.bytes_) {}

Key& Key::operator=(const Key& other) {
  if (this != &other) {
    DropSchedule();  // it belongs to the old bytes
    bytes_ = other.bytes_;
  }
  return *this;
}

Key::~Key() {
  DropSchedule();
  OPENSSL_cleanse(bytes_.data(), bytes_.size());
}

const EVP_CIPHER* Aes256Gcm() {
  // An explicit fetch avoids OpenSSL 3's implicit lookup on every init.
  static EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

const EVP_CIPHER_CTX* Key::GcmSchedule() const {
  if (EVP_CIPHER_CTX* s = schedule_.load(std::memory_order_acquire)) return s;
  const EVP_CIPHER* cipher = Aes256Gcm();
  EVP_CIPHER_CTX* made = cipher != nullptr ? EVP_CIPHER_CTX_new() : nullptr;
  if (made == nullptr) return nullptr;
  // The GCM schedule is AES's forward one whichever the direction: a copy is
  // set to seal or open by the IV init that follows.
  if (EVP_EncryptInit_ex2(made, cipher, bytes_.data(), nullptr, nullptr) != 1) {
    EVP_CIPHER_CTX_free(made);
    ERR_clear_error();
    return nullptr;
  }
  EVP_CIPHER_CTX* expected = nullptr;
  if (schedule_.compare_exchange_strong(expected, made, std::memory_order_acq_rel)) return made;
  EVP_CIPHER_CTX_free(made);  // another thread's is in
  return expected;
}

void Key::DropSchedule() {
  // EVP_CIPHER_CTX_free wipes the provider context (OPENSSL_clear_free).
  if (EVP_CIPHER_CTX* s = schedule_.exchange(nullptr, std::memory_order_acq_rel)) EVP_CIPHER_CTX_free(s);
}

Result<Key> Key::Random() {
  Key k;
  if (RAND_bytes(k.bytes_.data(), static_cast<int>(k.bytes_.size())) != 1) {
    return Status::Unavailable("RAND_bytes failed: the OpenSSL random generator is not seeded");
  }
  return k;
}

Result<Key> Key::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kKeySize) {
    return Status::InvalidArgument("a key is 64 hex digits, got " + std::to_string(hex.size()) +
                                   " characters");
  }
  Key k;
  for (size_t i = 0; i < kKeySize; ++i) {
    const int hi = HexValue(hex[2 * i]), lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("a key is 64 hex digits; found a non-hex character at " +
                                     std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    k.bytes_[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return k;
}

bool Key::Equals(const Key& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), kKeySize) == 0;
}

Status RandomBytes(std::span<std::byte> out) {
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size())) != 1) {
    return Status::Unavailable("RAND_bytes failed: the OpenSSL random generator is not seeded");
  }
  return Status::Ok();
}

void Wipe(void* p, size_t n) { OPENSSL_cleanse(p, n); }

}  // namespace warbler::engine::crypto
