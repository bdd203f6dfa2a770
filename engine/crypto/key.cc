#include "engine/crypto/key.h"

#include <openssl/crypto.h>
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
  if (this != &other) bytes_ = other.bytes_;
  return *this;
}

Key::~Key() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

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
