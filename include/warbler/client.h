// Client: talks to warblerd (docs/protocol.md) over TLS 1.3 (or plaintext
// when the server allows it). One connection, pipelined: any number of
// threads may call it at once and many requests are in flight together;
// responses are matched by request id.
//
// Failover and retries: the client connects to the first reachable address
// of `addresses`; when the connection breaks, the blocking calls reconnect
// (trying the addresses in turn) and retry up to `max_retries` times.
// Appends are retried safely: an append without a client message id gets a
// random one before its first send, so a retry is answered from the server's
// dedup window instead of storing the message twice.
//
// Thread-safety: every method is thread-safe. Callbacks of the async calls
// run on the client's reader thread; keep them short and do not call the
// blocking methods from them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "warbler/status.h"
#include "warbler/types.h"

namespace warbler {

struct ClientOptions {
  std::vector<std::string> addresses = {"127.0.0.1:7450"};  // host:port, tried in order
  bool tls = true;
  std::string ca_file;        // PEM bundle to verify the server (empty: the system store)
  bool verify = true;         // false only for development (self-signed certificates)
  std::string server_name;    // SNI and name checked; empty: the address's host
  uint64_t connect_timeout_ms = 3000;
  uint64_t request_timeout_ms = 30000;
  int max_retries = 3;        // for blocking calls after a broken connection
  uint64_t retry_backoff_ms = 100;
  std::string client_name = "warbler-client";
};

struct Event {
  uint64_t offset = 0;
  std::string tenant;
  std::string conversation;
  Message message;
};

class Client {
 public:
  using AppendCallback = std::function<void(const Status&, const AppendAck&)>;
  // A subscription's events, in log order; a non-OK status ends it.
  using EventCallback = std::function<void(const Status&, std::vector<Event> events, uint64_t next_offset)>;

  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  virtual ~Client() = default;
  virtual void Close() = 0;

  virtual Status Ping() = 0;
  virtual Result<AppendAck> Append(const AppendRequest& request) = 0;
  virtual Status AppendAsync(const AppendRequest& request, AppendCallback done) = 0;
  virtual Result<std::vector<AppendAck>> AppendBatch(std::span<const AppendRequest> requests) = 0;
  virtual Result<std::vector<Message>> Latest(ConversationRef c, size_t n) = 0;
  virtual Result<std::vector<Message>> Before(ConversationRef c, uint64_t seq, size_t n) = 0;
  virtual Result<std::vector<Message>> After(ConversationRef c, uint64_t seq, size_t n) = 0;
  virtual Result<Message> Get(ConversationRef c, uint64_t seq) = 0;
  virtual Result<ConversationInfo> Info(ConversationRef c) = 0;

  // Streams every message of `partition` from `from_offset` on; returns the
  // subscription id. The stream ends when the connection breaks (the callback
  // gets the error; resubscribe from the last next_offset).
  virtual Result<uint64_t> Subscribe(uint32_t partition, uint64_t from_offset, EventCallback on_events) = 0;
  virtual Status Unsubscribe(uint64_t subscription_id) = 0;

  // The address currently connected to ("" if none).
  virtual std::string connected_address() = 0;
};

}  // namespace warbler
