// AdminHttp: the admin port — GET /metrics (Prometheus text format 0.0.4),
// /healthz (the process serves) and /readyz (the server accepts requests).
// HTTP/1.1, one request per connection, requests ≤ 8 KiB, served by one
// thread (admin traffic is a scraper every few seconds).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/status.h"
#include "io/net/socket.h"

namespace warbler::server {

struct AdminHandlers {
  std::function<std::string()> metrics;
  std::function<bool()> ready;
};

class AdminHttp {
 public:
  static Result<std::unique_ptr<AdminHttp>> Start(const std::string& listen, AdminHandlers handlers);
  ~AdminHttp();
  uint16_t port() const { return port_; }
  void Stop();

 private:
  AdminHttp() = default;
  void Run();
  void Serve(int fd);

  io::net::UniqueFd listener_;
  uint16_t port_ = 0;
  AdminHandlers handlers_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace warbler::server
