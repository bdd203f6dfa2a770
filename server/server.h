// Server: warblerd's network front end (docs/protocol.md). A fixed set of
// event loops (epoll, level-triggered, one per network thread, each accepting
// from its own SO_REUSEPORT socket on the shared port; epoll over io_uring is
// measured in docs/benchmarks.md) speak the framed protocol,
// in TLS 1.3 by default. Appends go straight to the Store's async API (acks
// come back on the store's writer threads and are posted to the owning
// loop); history reads run on a small bounded worker pool so a cold read
// never stalls a loop; subscriptions stream partition logs from one thread.
//
// Every buffer and queue is bounded (ServerOptions): a connection is not
// read while it has max_inflight requests pending or max_output_bytes unsent.
//
// Thread-safety: Start/Shutdown/ReloadTls from one controlling thread;
// metrics and ready() from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "server/metrics.h"
#include "warbler/store.h"

namespace warbler::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:7450";  // host:port; port 0 = any free port
  bool tls = true;
  std::string tls_cert;                   // PEM chain (required with tls)
  std::string tls_key;                    // PEM key (required with tls)
  // Plaintext (tls = false) is refused on a non-loopback address unless forced.
  bool allow_remote_plaintext = false;
  uint32_t network_threads = 2;           // 1..64
  uint32_t worker_threads = 2;            // history reads; 1..256
  size_t worker_queue = 4096;             // pending reads before RESOURCE_EXHAUSTED
  size_t max_connections = 20000;
  size_t max_frame_bytes = (1u << 20) + 4096;  // ≤ 16 MiB
  uint32_t max_inflight = 1024;           // requests per connection
  size_t max_output_bytes = 4u << 20;     // unsent response bytes per connection
  size_t max_subscription_buffer = 1u << 20;  // unsent event bytes per connection
  uint64_t shutdown_timeout_ms = 10000;
  std::string server_name = "warblerd";
};

Status ValidateServerOptions(const ServerOptions& o);

class Server {
 public:
  // Binds, loads TLS material and starts every thread. `store` must outlive the server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, Store* store);
  ~Server();

  uint16_t port() const { return port_; }
  bool ready() const { return ready_.load(); }
  // Loads the certificate and key again; new connections use them, open ones are kept.
  Status ReloadTls();
  // Graceful stop: stops accepting and reading, lets in-flight requests
  // finish and their responses flush (up to shutdown_timeout_ms), closes
  // every connection, stops every thread. Idempotent. The caller then closes
  // the store, which makes every acknowledged append durable (they already are).
  void Shutdown();

  const ServerMetrics& metrics() const { return *metrics_; }
  // Server and store metrics in the Prometheus text format.
  std::string RenderMetrics();

  class Loop;
  class Workers;
  class Subscriptions;
  struct Shared;

 private:
  Server() = default;

  ServerOptions options_;
  Store* store_ = nullptr;
  uint16_t port_ = 0;
  std::atomic<bool> ready_{false};
  std::shared_ptr<ServerMetrics> metrics_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::unique_ptr<Workers> workers_;
  std::unique_ptr<Subscriptions> subscriptions_;
  std::mutex shutdown_mu_;
  bool shut_down_ = false;
};

}  // namespace warbler::server
