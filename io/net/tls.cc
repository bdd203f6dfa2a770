#include "io/net/tls.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace warbler::io::net {
namespace {

std::string DrainErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown TLS error" : out;
}

SSL_CTX* Ctx(const std::shared_ptr<TlsContext>& c) { return static_cast<SSL_CTX*>(c->native()); }

// OpenSSL's socket BIO writes with write(2), which raises SIGPIPE on a
// closed socket; a library must not kill its host process for that, nor
// change the process's signal dispositions. So our sockets get a BIO whose
// write is send(MSG_NOSIGNAL) (EPIPE comes back as an error instead); every
// other operation is the stock socket BIO's. No per-call syscalls added.
int NoSigpipeWrite(BIO* b, const char* buf, int len) {
  const int fd = static_cast<int>(BIO_get_fd(b, nullptr));
  errno = 0;
  const ssize_t n = ::send(fd, buf, static_cast<size_t>(len), MSG_NOSIGNAL);
  BIO_clear_retry_flags(b);
  if (n <= 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

const BIO_METHOD* NoSigpipeSocketMethod() {
  static const BIO_METHOD* method = [] {
    const BIO_METHOD* sock = BIO_s_socket();
    BIO_METHOD* m = BIO_meth_new(BIO_TYPE_SOCKET, "warbler socket (MSG_NOSIGNAL)");
    BIO_meth_set_write(m, NoSigpipeWrite);
    BIO_meth_set_read(m, BIO_meth_get_read(sock));
    BIO_meth_set_puts(m, BIO_meth_get_puts(sock));
    BIO_meth_set_ctrl(m, BIO_meth_get_ctrl(sock));
    BIO_meth_set_create(m, BIO_meth_get_create(sock));
    BIO_meth_set_destroy(m, BIO_meth_get_destroy(sock));
    return m;
  }();
  return method;
}

// SSL_set_fd, with the BIO above.
Status AttachSocket(SSL* ssl, int fd) {
  BIO* bio = BIO_new(NoSigpipeSocketMethod());
  if (bio == nullptr) return Status::Internal("BIO_new: " + DrainErrors());
  BIO_set_fd(bio, fd, BIO_NOCLOSE);
  SSL_set_bio(ssl, bio, bio);
  return Status::Ok();
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

Result<std::shared_ptr<TlsContext>> TlsContext::NewServer(const std::string& cert_file,
                                                          const std::string& key_file) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::Internal("SSL_CTX_new: " + DrainErrors());
  std::shared_ptr<TlsContext> holder(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Status::InvalidArgument("TLS certificate " + cert_file + ": " + DrainErrors());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument("TLS key " + key_file + ": " + DrainErrors());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("TLS key " + key_file + " does not match certificate " + cert_file);
  }
  return holder;
}

Result<std::shared_ptr<TlsContext>> TlsContext::NewClient(const std::string& ca_file, bool verify) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Status::Internal("SSL_CTX_new: " + DrainErrors());
  std::shared_ptr<TlsContext> holder(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    const int ok = ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx)
                                   : SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr);
    if (ok != 1) return Status::InvalidArgument("TLS CA " + ca_file + ": " + DrainErrors());
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return holder;
}

Result<std::unique_ptr<TlsStream>> TlsStream::NewServer(std::shared_ptr<TlsContext> ctx, int fd) {
  SSL* ssl = SSL_new(Ctx(ctx));
  if (ssl == nullptr) return Status::Internal("SSL_new: " + DrainErrors());
  if (Status a = AttachSocket(ssl, fd); !a.ok()) {
    SSL_free(ssl);
    return a;
  }
  SSL_set_accept_state(ssl);
  return std::unique_ptr<TlsStream>(new TlsStream(std::move(ctx), ssl));
}

Result<std::unique_ptr<TlsStream>> TlsStream::NewClient(std::shared_ptr<TlsContext> ctx, int fd,
                                                        const std::string& server_name) {
  SSL* ssl = SSL_new(Ctx(ctx));
  if (ssl == nullptr) return Status::Internal("SSL_new: " + DrainErrors());
  std::unique_ptr<TlsStream> s(new TlsStream(std::move(ctx), ssl));
  WB_RETURN_IF_ERROR(AttachSocket(ssl, fd));
  SSL_set_connect_state(ssl);
  if (!server_name.empty()) {
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
    if (SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE && SSL_set1_host(ssl, server_name.c_str()) != 1) {
      return Status::InvalidArgument("TLS host name " + server_name + ": " + DrainErrors());
    }
  }
  return s;
}

TlsStream::~TlsStream() { SSL_free(static_cast<SSL*>(ssl_)); }

TlsIo TlsStream::Map(int rc) {
  const int err = SSL_get_error(static_cast<SSL*>(ssl_), rc);
  switch (err) {
    case SSL_ERROR_WANT_READ: return TlsIo::kWantRead;
    case SSL_ERROR_WANT_WRITE: return TlsIo::kWantWrite;
    case SSL_ERROR_ZERO_RETURN: return TlsIo::kClosed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0 && errno == 0) return TlsIo::kClosed;  // EOF without close_notify
      error_ = std::string("TLS I/O: ") + (errno != 0 ? std::strerror(errno) : DrainErrors());
      ERR_clear_error();
      return TlsIo::kError;
    default:
      error_ = DrainErrors();
      return TlsIo::kError;
  }
}

TlsIo TlsStream::Handshake() {
  if (handshake_done_) return TlsIo::kOk;
  ERR_clear_error();
  errno = 0;
  const int rc = SSL_do_handshake(static_cast<SSL*>(ssl_));
  if (rc == 1) {
    handshake_done_ = true;
    return TlsIo::kOk;
  }
  TlsIo r = Map(rc);
  if (r == TlsIo::kClosed) {
    error_ = "peer closed during the TLS handshake";
    return TlsIo::kError;
  }
  return r;
}

TlsIo TlsStream::Read(char* buf, size_t len, size_t* n) {
  ERR_clear_error();
  errno = 0;
  const int rc = SSL_read_ex(static_cast<SSL*>(ssl_), buf, len, n);
  return rc == 1 ? TlsIo::kOk : Map(rc);
}

TlsIo TlsStream::Write(const char* buf, size_t len, size_t* n) {
  ERR_clear_error();
  errno = 0;
  const int rc = SSL_write_ex(static_cast<SSL*>(ssl_), buf, len, n);
  return rc == 1 ? TlsIo::kOk : Map(rc);
}

void TlsStream::Shutdown() {
  if (handshake_done_) (void)SSL_shutdown(static_cast<SSL*>(ssl_));
  ERR_clear_error();
}

Status WriteSelfSignedCert(const std::string& cert_file, const std::string& key_file,
                           const std::string& common_name, int days) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (key == nullptr) return Status::Internal("EC key generation: " + DrainErrors());
  X509* x = X509_new();
  Status result = Status::Ok();
  auto fail = [&](const std::string& what) {
    result = Status::Internal(what + ": " + DrainErrors());
  };
  ASN1_INTEGER_set(X509_get_serialNumber(x), static_cast<long>(time(nullptr)));
  X509_set_version(x, 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  const std::string san = "DNS:localhost,IP:127.0.0.1,DNS:" + common_name;
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
  if (ext == nullptr || X509_add_ext(x, ext, -1) != 1) fail("certificate SAN");
  X509_EXTENSION_free(ext);
  if (result.ok() && X509_sign(x, key, EVP_sha256()) == 0) fail("certificate signing");
  if (result.ok()) {
    FILE* f = std::fopen(cert_file.c_str(), "wx");
    if (f == nullptr) {
      result = Status(errno == EEXIST ? StatusCode::kAlreadyExists : StatusCode::kIOError,
                      "cannot create " + cert_file + ": " + std::strerror(errno));
    } else {
      if (PEM_write_X509(f, x) != 1) fail("writing " + cert_file);
      std::fclose(f);
    }
  }
  if (result.ok()) {
    // Created 0600 from the start. Not via umask(077) around fopen: the umask
    // is process-wide, so that would also restrict files other threads create
    // meanwhile (and race with their own umask use).
    const int fd = ::open(key_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FILE* f = fd >= 0 ? ::fdopen(fd, "w") : nullptr;
    if (fd >= 0 && f == nullptr) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
    }
    if (f == nullptr) {
      result = Status(errno == EEXIST ? StatusCode::kAlreadyExists : StatusCode::kIOError,
                      "cannot create " + key_file + ": " + std::strerror(errno));
    } else {
      if (PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) fail("writing " + key_file);
      std::fclose(f);
      chmod(key_file.c_str(), 0600);
    }
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return result;
}

}  // namespace warbler::io::net
