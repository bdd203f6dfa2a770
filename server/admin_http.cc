#include "server/admin_http.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"

namespace warbler::server {
namespace {

constexpr size_t kMaxRequestBytes = 8192;
constexpr int kIoTimeoutMs = 2000;

std::string Response(int code, const char* reason, const char* type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

Result<std::unique_ptr<AdminHttp>> AdminHttp::Start(const std::string& listen, AdminHandlers handlers) {
  WB_ASSIGN_OR_RETURN(io::net::HostPort addr, io::net::ParseHostPort(listen));
  std::unique_ptr<AdminHttp> a(new AdminHttp());
  WB_ASSIGN_OR_RETURN(a->listener_, io::net::Listen(addr, 64));
  WB_ASSIGN_OR_RETURN(a->port_, io::net::LocalPort(a->listener_.get()));
  a->handlers_ = std::move(handlers);
  a->thread_ = std::thread([p = a.get()] { p->Run(); });
  WB_LOG(kInfo, "admin_listening").Kv("address", addr.host + ":" + std::to_string(a->port_));
  return a;
}

AdminHttp::~AdminHttp() { Stop(); }

void AdminHttp::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void AdminHttp::Run() {
  while (!stop_.load()) {
    pollfd p{listener_.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const int fd = accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    io::net::UniqueFd conn(fd);
    Serve(conn.get());
  }
}

void AdminHttp::Serve(int fd) {
  std::string req;
  char buf[1024];
  while (req.find("\r\n\r\n") == std::string::npos) {
    if (req.size() > kMaxRequestBytes) {
      const std::string r = Response(431, "Request Header Fields Too Large", "text/plain", "request too large\n");
      (void)!::send(fd, r.data(), r.size(), MSG_NOSIGNAL);
      return;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, kIoTimeoutMs) <= 0) return;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    req.append(buf, static_cast<size_t>(n));
  }
  const size_t line_end = req.find("\r\n");
  const std::string line = req.substr(0, line_end);
  std::string response;
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.find(' ', sp1 + 1);
  const std::string method = line.substr(0, sp1);
  const std::string path = sp1 == std::string::npos ? "" : line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (method != "GET" && method != "HEAD") {
    response = Response(405, "Method Not Allowed", "text/plain", "only GET\n");
  } else if (path == "/metrics") {
    response = Response(200, "OK", "text/plain; version=0.0.4; charset=utf-8", handlers_.metrics());
  } else if (path == "/healthz") {
    response = Response(200, "OK", "text/plain", "ok\n");
  } else if (path == "/readyz") {
    response = handlers_.ready() ? Response(200, "OK", "text/plain", "ready\n")
                                 : Response(503, "Service Unavailable", "text/plain", "not ready\n");
  } else {
    response = Response(404, "Not Found", "text/plain", "unknown path; try /metrics, /healthz, /readyz\n");
  }
  size_t sent = 0;
  while (sent < response.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, kIoTimeoutMs) <= 0) return;
    const ssize_t n = ::send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace warbler::server
