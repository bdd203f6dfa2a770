// TLS 1.3 over a socket with OpenSSL — the only place besides engine/crypto
// that includes OpenSSL headers (scripts/check_layers). Works on blocking
// sockets (client) and non-blocking ones (server loops: kWantRead/kWantWrite
// say what to wait for).
// Thread-safety: a TlsContext may be shared by any threads; a TlsStream is
// used by one thread at a time.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"

namespace warbler::io::net {

class TlsContext {
 public:
  // TLS 1.3 only; the certificate chain and private key are PEM files.
  static Result<std::shared_ptr<TlsContext>> NewServer(const std::string& cert_file,
                                                       const std::string& key_file);
  // TLS 1.3 only. verify: check the server's chain against `ca_file` (a PEM
  // bundle; empty = the system store) and its name; false only for development.
  static Result<std::shared_ptr<TlsContext>> NewClient(const std::string& ca_file, bool verify);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  void* native() const { return ctx_; }

 private:
  explicit TlsContext(void* ctx) : ctx_(ctx) {}
  void* ctx_;  // SSL_CTX*
};

enum class TlsIo { kOk, kWantRead, kWantWrite, kClosed, kError };

class TlsStream {
 public:
  // Server side of an accepted socket; the handshake runs in Handshake().
  static Result<std::unique_ptr<TlsStream>> NewServer(std::shared_ptr<TlsContext> ctx, int fd);
  // Client side; `server_name` is sent as SNI and checked against the certificate.
  static Result<std::unique_ptr<TlsStream>> NewClient(std::shared_ptr<TlsContext> ctx, int fd,
                                                      const std::string& server_name);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  TlsIo Handshake();
  bool handshake_done() const { return handshake_done_; }
  // At most len bytes; *n is set on kOk. kClosed on a clean close_notify/EOF.
  TlsIo Read(char* buf, size_t len, size_t* n);
  TlsIo Write(const char* buf, size_t len, size_t* n);
  // Sends close_notify (best effort).
  void Shutdown();
  // The OpenSSL error queue (and errno) of the last failure, for logs.
  const std::string& last_error() const { return error_; }

 private:
  TlsStream(std::shared_ptr<TlsContext> ctx, void* ssl) : ctx_(std::move(ctx)), ssl_(ssl) {}
  TlsIo Map(int rc);

  std::shared_ptr<TlsContext> ctx_;
  void* ssl_;  // SSL*
  bool handshake_done_ = false;
  std::string error_;
};

// Writes a self-signed development certificate (EC P-256, SAN localhost,
// 127.0.0.1 and `common_name`) and its key (mode 0600) as PEM files.
Status WriteSelfSignedCert(const std::string& cert_file, const std::string& key_file,
                           const std::string& common_name, int days);

}  // namespace warbler::io::net
