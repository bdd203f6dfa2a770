// TCP sockets: listening, connecting, addresses. Thin, errno → Status.
// Thread-safety: UniqueFd is a value; functions are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "base/status.h"

namespace warbler::io::net {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset();

 private:
  int fd_ = -1;
};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};
// Parses "host:port", "[v6]:port" or ":port" (all interfaces).
Result<HostPort> ParseHostPort(const std::string& s);
// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

// A non-blocking listening socket (SO_REUSEADDR); port 0 picks a free one.
// reuse_port: SO_REUSEPORT, so several sockets (one per event loop) share the
// port and the kernel spreads incoming connections over them.
Result<UniqueFd> Listen(const HostPort& addr, int backlog, bool reuse_port = false);
Result<uint16_t> LocalPort(int fd);
// A connected blocking socket (TCP_NODELAY), or Unavailable after timeout_ms.
Result<UniqueFd> Connect(const HostPort& addr, uint64_t timeout_ms);
Status SetNonBlocking(int fd);
Status SetNoDelay(int fd);
// The peer as "ip:port" (for logs).
std::string PeerName(int fd);

}  // namespace warbler::io::net
