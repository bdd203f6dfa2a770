#include "engine/crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <memory>
#include <string>

#include "base/assert.h"

namespace warbler::engine::crypto {
namespace {

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }  // cleanses
};

EVP_CIPHER_CTX* ThreadCtx() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

const unsigned char* U(const std::byte* p) { return reinterpret_cast<const unsigned char*>(p); }
unsigned char* U(std::byte* p) { return reinterpret_cast<unsigned char*>(p); }

Status OpenSslError(const char* what) {
  char buf[256];
  const unsigned long e = ERR_get_error();
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return Status::IOError(std::string("OpenSSL ") + what + ": " + buf);
}

// Loads the key's schedule into the thread's context (a copy: no key
// expansion) and sets the direction and the nonce.
bool Begin(EVP_CIPHER_CTX* ctx, const Key& key, const Nonce& nonce, bool encrypt) {
  const EVP_CIPHER_CTX* schedule = key.GcmSchedule();
  if (schedule == nullptr || EVP_CIPHER_CTX_copy(ctx, schedule) != 1) return false;
  // The default GCM IV length is 12 bytes, the only one we use.
  return (encrypt ? EVP_EncryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr)
                  : EVP_DecryptInit_ex2(ctx, nullptr, nullptr, nonce.data(), nullptr)) == 1;
}

// Empties the thread's context on every return path: EVP_CIPHER_CTX_reset
// frees the copied schedule, and OpenSSL wipes it as it frees it.
class ScrubGuard {
 public:
  explicit ScrubGuard(EVP_CIPHER_CTX* ctx) : ctx_(ctx) {}
  ~ScrubGuard() {
    (void)EVP_CIPHER_CTX_reset(ctx_);
    ERR_clear_error();
  }
  ScrubGuard(const ScrubGuard&) = delete;
  ScrubGuard& operator=(const ScrubGuard&) = delete;

 private:
  EVP_CIPHER_CTX* ctx_;
};

}  // namespace

Status Seal(const Key& key, const Nonce& nonce, std::span<const std::byte> aad,
            std::span<std::byte> data, std::span<std::byte, kTagSize> tag) {
  WB_ASSERT(data.size() < INT_MAX && aad.size() < INT_MAX);
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  if (ctx == nullptr) return OpenSslError("AES-256-GCM unavailable");
  ScrubGuard scrub(ctx);
  if (!Begin(ctx, key, nonce, /*encrypt=*/true)) return OpenSslError("seal init");
  int n = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx, nullptr, &n, U(aad.data()), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("seal aad");
  }
  if (!data.empty() && EVP_EncryptUpdate(ctx, U(data.data()), &n, U(data.data()),
                                         static_cast<int>(data.size())) != 1) {
    return OpenSslError("seal");
  }
  int tail = 0;
  if (EVP_EncryptFinal_ex(ctx, U(data.data() + data.size()), &tail) != 1 || tail != 0) {
    return OpenSslError("seal final");
  }
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), U(tag.data())) !=
      1) {
    return OpenSslError("seal tag");
  }
  return Status::Ok();
}

Status Open(const Key& key, const Nonce& nonce, std::span<const std::byte> aad,
            std::span<const std::byte> ciphertext, std::span<const std::byte, kTagSize> tag,
            std::span<std::byte> out) {
  WB_ASSERT(out.size() == ciphertext.size());
  WB_ASSERT(ciphertext.size() < INT_MAX && aad.size() < INT_MAX);
  EVP_CIPHER_CTX* ctx = ThreadCtx();
  if (ctx == nullptr) return OpenSslError("AES-256-GCM unavailable");
  ScrubGuard scrub(ctx);
  if (!Begin(ctx, key, nonce, /*encrypt=*/false)) return OpenSslError("open init");
  int n = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx, nullptr, &n, U(aad.data()), static_cast<int>(aad.size())) != 1) {
    return OpenSslError("open aad");
  }
  if (!ciphertext.empty() && EVP_DecryptUpdate(ctx, U(out.data()), &n, U(ciphertext.data()),
                                               static_cast<int>(ciphertext.size())) != 1) {
    return OpenSslError("open");
  }
  // OpenSSL takes a non-const pointer but only reads the expected tag.
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize),
                          const_cast<unsigned char*>(U(tag.data()))) != 1) {
    return OpenSslError("open tag");
  }
  int tail = 0;
  if (EVP_DecryptFinal_ex(ctx, U(out.data() + out.size()), &tail) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(out.data(), out.size());
    return Status::Unauthenticated("AES-GCM authentication failed");
  }
  return Status::Ok();
}

}  // namespace warbler::engine::crypto
