#include "server/server.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_map>

#include "base/bounded_queue.h"
#include "base/clock.h"
#include "base/log.h"
#include "io/net/socket.h"
#include "io/net/tls.h"
#include "proto/frame.h"

namespace warbler::server {

using io::net::TlsIo;
using io::net::UniqueFd;

namespace {

constexpr uint64_t kListenerId = 0;
constexpr uint64_t kWakeId = 1;
constexpr size_t kReadChunk = 64u << 10;
constexpr size_t kSubscriptionReadBytes = 256u << 10;

uint64_t NowNanos() { return Clock::Real()->NowNanos(); }

std::string ErrorFrame(uint64_t rid, proto::ErrorCode code, std::string_view message) {
  std::string out;
  const size_t start = proto::BeginFrame(proto::Type::kError, rid, &out);
  proto::EncodeError(code, message, &out);
  proto::FinishFrame(start, &out);
  return out;
}

std::string StatusFrame(uint64_t rid, const Status& s) {
  return ErrorFrame(rid, proto::ErrorCodeOf(s), s.ToString());
}

template <typename F>
std::string Frame(proto::Type type, uint64_t rid, F&& encode_body) {
  std::string out;
  const size_t start = proto::BeginFrame(type, rid, &out);
  encode_body(&out);
  proto::FinishFrame(start, &out);
  return out;
}

}  // namespace

Status ValidateServerOptions(const ServerOptions& o) {
  if (o.network_threads < 1 || o.network_threads > 64) {
    return Status::InvalidArgument("network_threads must be within 1..64");
  }
  if (o.worker_threads < 1 || o.worker_threads > 256) {
    return Status::InvalidArgument("worker_threads must be within 1..256");
  }
  if (o.max_frame_bytes < 4096 || o.max_frame_bytes > proto::kMaxFrameBytesCap) {
    return Status::InvalidArgument("max_frame_bytes must be within 4 KiB..16 MiB");
  }
  if (o.max_inflight < 1 || o.max_inflight > 65536) {
    return Status::InvalidArgument("max_inflight must be within 1..65536");
  }
  if (o.max_output_bytes < 64 * 1024) return Status::InvalidArgument("max_output_bytes must be at least 64 KiB");
  if (o.worker_queue < 1) return Status::InvalidArgument("worker_queue must be at least 1");
  if (o.max_connections < 1) return Status::InvalidArgument("max_connections must be at least 1");
  if (o.tls && (o.tls_cert.empty() || o.tls_key.empty())) {
    return Status::InvalidArgument("tls is on but tls_cert or tls_key is not set");
  }
  return Status::Ok();
}

// ---- shared state between the server's threads ----

// Work finished elsewhere (store writer threads, workers, the subscription
// thread) and handed to the loop that owns the connection.
struct Completion {
  uint64_t conn_id;
  std::string bytes;
  bool finishes_request;  // decrements the connection's in-flight count
};

// A loop's inbox. Held by shared_ptr so that late store callbacks after the
// server stopped post into a closed mailbox instead of freed memory. The
// mailbox owns the loop's wake eventfd for the same reason: a poster that
// passed the `closed` check writes to it after dropping the lock, so the
// descriptor lives until the last poster lets go of the mailbox (closing it
// in ~Loop raced with that write, and could hit a reused descriptor).
struct Mailbox {
  std::mutex mu;
  std::vector<Completion> items;
  bool closed = false;
  UniqueFd wake_fd;  // set before the loop thread starts; never changed after

  void Post(Completion c) {
    {
      std::lock_guard lock(mu);
      if (closed) return;
      items.push_back(std::move(c));
    }
    Wake();
  }
  void Wake() const {
    const uint64_t one = 1;
    (void)!::write(wake_fd.get(), &one, sizeof one);
  }
};

// What other threads may look at of a connection.
struct ConnShared {
  std::atomic<bool> closed{false};
  std::atomic<size_t> out_bytes{0};      // unsent bytes in the loop's buffer
  std::atomic<size_t> posted_bytes{0};   // posted to the mailbox, not yet buffered
};

struct Server::Shared {
  std::mutex tls_mu;
  std::shared_ptr<io::net::TlsContext> tls;
  std::atomic<bool> draining{false};
  std::atomic<int64_t> inflight{0};  // requests in flight across all connections
  std::atomic<uint64_t> next_conn_id{2};
  std::vector<UniqueFd> listeners;  // one per loop (SO_REUSEPORT): the kernel spreads connections
};

// ---- read workers ----

class Server::Workers {
 public:
  Workers(size_t threads, size_t capacity, ServerMetrics* metrics) : jobs_(capacity), metrics_(metrics) {
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~Workers() { Stop(); }

  // False when the queue is full (or stopped): the caller answers RESOURCE_EXHAUSTED.
  bool Submit(std::function<void()> job) {
    if (!jobs_.Push(std::move(job)).ok()) return false;
    metrics_->worker_queue_depth.store(jobs_.size(), std::memory_order_relaxed);
    return true;
  }

  // Runs every queued job, then joins.
  void Stop() {
    jobs_.Close();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Run() {
    while (true) {
      std::optional<std::function<void()>> job = jobs_.PopWait(std::chrono::milliseconds(100));
      if (!job) {
        if (jobs_.closed()) return;  // closed and drained
        continue;
      }
      metrics_->worker_queue_depth.store(jobs_.size(), std::memory_order_relaxed);
      (*job)();
    }
  }

  BoundedQueue<std::function<void()>> jobs_;
  ServerMetrics* const metrics_;
  std::vector<std::thread> threads_;
};

// ---- subscriptions ----

class Server::Subscriptions {
 public:
  struct Sub {
    uint64_t conn_id;
    uint64_t request_id;
    uint32_t partition;
    uint64_t next;
    std::shared_ptr<ConnShared> conn;
    std::shared_ptr<Mailbox> mailbox;
  };

  Subscriptions(Store* store, std::shared_ptr<ServerMetrics> metrics, size_t max_buffer)
      : store_(store), metrics_(std::move(metrics)), max_buffer_(max_buffer) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Subscriptions() { Stop(); }

  void Add(Sub s) {
    std::lock_guard lock(mu_);
    subs_.push_back(std::move(s));
    metrics_->subscriptions_open.store(subs_.size());
  }
  bool Remove(uint64_t conn_id, uint64_t request_id) {
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < subs_.size(); ++i) {
      if (subs_[i].conn_id == conn_id && subs_[i].request_id == request_id) {
        subs_.erase(subs_.begin() + static_cast<ptrdiff_t>(i));
        metrics_->subscriptions_open.store(subs_.size());
        return true;
      }
    }
    return false;
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Run() {
    while (!stop_.load()) {
      std::vector<Sub> snapshot;
      {
        std::lock_guard lock(mu_);
        std::erase_if(subs_, [](const Sub& s) { return s.conn->closed.load(); });
        metrics_->subscriptions_open.store(subs_.size());
        snapshot = subs_;
      }
      bool progress = false;
      for (Sub& s : snapshot) {
        if (s.conn->out_bytes.load() + s.conn->posted_bytes.load() > max_buffer_) continue;
        uint64_t next = s.next;
        auto msgs = store_->ReadLog(s.partition, s.next, kSubscriptionReadBytes, &next);
        if (!msgs.ok()) {
          s.mailbox->Post({s.conn_id, StatusFrame(s.request_id, msgs.status()), false});
          Remove(s.conn_id, s.request_id);
          continue;
        }
        if (msgs->empty()) continue;
        proto::Events ev;
        ev.partition = s.partition;
        ev.next_offset = next;
        ev.events.reserve(msgs->size());
        for (LogMessage& m : *msgs) {
          proto::Event& e = ev.events.emplace_back();
          e.offset = m.offset;
          e.tenant = std::move(m.tenant);
          e.conversation = std::move(m.conversation);
          e.seq = m.message.seq;
          e.timestamp_us = m.message.timestamp_us;
          e.sender = std::move(m.message.sender);
          e.client_id = std::move(m.message.client_id);
          e.body = std::move(m.message.body);
        }
        std::string frame = Frame(proto::Type::kEvents, s.request_id,
                                  [&](std::string* out) { proto::EncodeEvents(ev, out); });
        s.conn->posted_bytes.fetch_add(frame.size());
        s.mailbox->Post({s.conn_id, std::move(frame), false});
        metrics_->events_sent.fetch_add(ev.events.size());
        progress = true;
        std::lock_guard lock(mu_);
        for (Sub& live : subs_) {
          if (live.conn_id == s.conn_id && live.request_id == s.request_id) live.next = next;
        }
      }
      if (!progress) {
        if (snapshot.empty()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        } else {
          // Nothing new anywhere: wait for the first subscription's partition a moment.
          store_->WaitLog(snapshot.front().partition, snapshot.front().next, 2);
        }
      }
    }
  }

  Store* const store_;
  const std::shared_ptr<ServerMetrics> metrics_;
  const size_t max_buffer_;
  std::mutex mu_;
  std::vector<Sub> subs_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// ---- event loops ----

class Server::Loop {
 public:
  Loop(Server* server, size_t index) : server_(server), index_(index) {}
  ~Loop() {
    Stop();
    {
      std::lock_guard lock(mailbox_->mu);
      mailbox_->closed = true;
      mailbox_->items.clear();
    }
    conns_.clear();
    if (epfd_ >= 0) ::close(epfd_);
    // The wake eventfd belongs to the mailbox (see Mailbox).
  }

  Status Init(int listen_fd) {
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return Status::Internal(std::string("epoll_create1: ") + std::strerror(errno));
    mailbox_->wake_fd = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!mailbox_->wake_fd.valid()) return Status::Internal(std::string("eventfd: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWakeId;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, mailbox_->wake_fd.get(), &ev) < 0) {
      return Status::Internal(std::string("epoll_ctl wake: ") + std::strerror(errno));
    }
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = kListenerId;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
      return Status::Internal(std::string("epoll_ctl listener: ") + std::strerror(errno));
    }
    listen_fd_ = listen_fd;
    thread_ = std::thread([this] { Run(); });
    return Status::Ok();
  }

  // Stop accepting and reading; keep completing and flushing.
  void Drain() { Command([this] { StartDrain(); }); }
  void Stop() {
    if (!thread_.joinable()) return;
    stop_.store(true);
    mailbox_->Wake();
    thread_.join();
  }
  const std::shared_ptr<Mailbox>& mailbox() const { return mailbox_; }

 private:
  struct Conn {
    uint64_t id = 0;
    UniqueFd fd;
    std::unique_ptr<io::net::TlsStream> tls;
    std::string peer;
    std::string in;
    size_t in_pos = 0;
    std::string out;
    size_t out_pos = 0;
    uint32_t inflight = 0;
    bool hello_done = false;
    bool closing = false;  // flush, then close
    uint32_t mask = 0;
    std::shared_ptr<ConnShared> shared = std::make_shared<ConnShared>();
    std::vector<uint64_t> subscriptions;
  };

  void Command(std::function<void()> fn) {
    {
      std::lock_guard lock(cmd_mu_);
      commands_.push_back(std::move(fn));
    }
    mailbox_->Wake();
  }

  void Run() {
    std::vector<epoll_event> events(256);
    while (!stop_.load()) {
      const int n = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), 100);
      if (n < 0 && errno != EINTR) {
        WB_LOG(kError, "epoll_wait_failed").Kv("error", std::strerror(errno));
        break;
      }
      for (int i = 0; i < n; ++i) {
        const uint64_t id = events[i].data.u64;
        if (id == kListenerId) {
          Accept();
        } else if (id == kWakeId) {
          uint64_t v;
          (void)!::read(mailbox_->wake_fd.get(), &v, sizeof v);
        } else {
          auto it = conns_.find(id);
          if (it == conns_.end()) continue;
          Conn* c = it->second.get();
          if (events[i].events & (EPOLLERR | EPOLLHUP)) {
            // Let a read report the reason; a hang-up with nothing to read closes.
            if (!(events[i].events & EPOLLIN)) {
              Close(c, "hangup");
              continue;
            }
          }
          if (events[i].events & EPOLLOUT) {
            if (!Flush(c)) continue;
          }
          if (events[i].events & EPOLLIN) OnReadable(c);
        }
      }
      RunCommands();
      ProcessCompletions();
    }
  }

  void RunCommands() {
    std::vector<std::function<void()>> cmds;
    {
      std::lock_guard lock(cmd_mu_);
      cmds.swap(commands_);
    }
    for (auto& c : cmds) c();
  }

  void StartDrain() {
    draining_ = true;
    if (listen_fd_ >= 0) {
      epoll_ctl(epfd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      listen_fd_ = -1;
    }
    for (auto& [id, c] : conns_) UpdateMask(c.get());
  }

  void Accept() {
    if (draining_) return;
    while (true) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        if (errno == EMFILE || errno == ENFILE) {
          WB_LOG(kWarn, "accept_failed").Kv("error", std::strerror(errno));
          return;
        }
        return;
      }
      ServerMetrics& m = *server_->metrics_;
      if (m.connections_open.load() >= server_->options_.max_connections) {
        m.connections_rejected.fetch_add(1);
        ::close(fd);
        continue;
      }
      auto c = std::make_unique<Conn>();
      c->id = server_->shared_->next_conn_id.fetch_add(1);
      c->fd = UniqueFd(fd);
      c->peer = io::net::PeerName(fd);
      (void)io::net::SetNoDelay(fd);
      if (server_->options_.tls) {
        std::shared_ptr<io::net::TlsContext> ctx;
        {
          std::lock_guard lock(server_->shared_->tls_mu);
          ctx = server_->shared_->tls;
        }
        auto tls = io::net::TlsStream::NewServer(std::move(ctx), fd);
        if (!tls.ok()) {
          WB_LOG(kError, "tls_session_failed").Kv("error", tls.status().ToString());
          continue;
        }
        c->tls = std::move(*tls);
      }
      m.connections_open.fetch_add(1);
      m.connections_accepted.fetch_add(1);
      Conn* raw = c.get();
      conns_.emplace(raw->id, std::move(c));
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = raw->id;
      raw->mask = EPOLLIN;
      if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
        Close(raw, "epoll_ctl");
        continue;
      }
      if (raw->tls) OnReadable(raw);  // nothing to read yet; sets up the handshake state
    }
  }

  bool Paused(const Conn* c) const {
    return draining_ || c->closing || c->inflight >= server_->options_.max_inflight ||
           c->out.size() - c->out_pos >= server_->options_.max_output_bytes;
  }

  void UpdateMask(Conn* c) {
    uint32_t mask = 0;
    if (!Paused(c)) mask |= EPOLLIN;
    if (c->out_pos < c->out.size()) mask |= EPOLLOUT;
    if (c->tls && !c->tls->handshake_done() && want_write_handshake_) mask |= EPOLLOUT;
    if (mask == c->mask) return;
    if ((c->mask & EPOLLIN) && !(mask & EPOLLIN) && !draining_ && !c->closing) {
      server_->metrics_->backpressure_pauses.fetch_add(1);
    }
    c->mask = mask;
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = c->id;
    epoll_ctl(epfd_, EPOLL_CTL_MOD, c->fd.get(), &ev);
  }

  // Returns false if the connection was closed.
  bool OnReadable(Conn* c) {
    if (c->tls && !c->tls->handshake_done()) {
      want_write_handshake_ = false;
      const TlsIo r = c->tls->Handshake();
      if (r == TlsIo::kWantRead || r == TlsIo::kWantWrite) {
        want_write_handshake_ = r == TlsIo::kWantWrite;
        UpdateMask(c);
        want_write_handshake_ = false;
        return true;
      }
      if (r != TlsIo::kOk) {
        server_->metrics_->tls_handshake_failures.fetch_add(1);
        WB_LOG(kInfo, "tls_handshake_failed").Kv("peer", c->peer).Kv("error", c->tls->last_error());
        Close(c, "tls_handshake");
        return false;
      }
    }
    while (!Paused(c)) {
      if (c->in_pos > 0 && c->in_pos * 2 >= c->in.size()) {
        c->in.erase(0, c->in_pos);
        c->in_pos = 0;
      }
      // Read into the loop's scratch buffer and append what came: growing
      // c->in by a whole chunk first would zero-fill 64 KiB per read.
      char* buf = read_buf_.get();
      size_t got = 0;
      bool eof = false, again = false;
      if (c->tls) {
        const TlsIo r = c->tls->Read(buf, kReadChunk, &got);
        if (r == TlsIo::kWantRead || r == TlsIo::kWantWrite) again = true;
        if (r == TlsIo::kClosed) eof = true;
        if (r == TlsIo::kError) {
          Close(c, c->tls->last_error());
          return false;
        }
      } else {
        const ssize_t n = ::read(c->fd.get(), buf, kReadChunk);
        if (n > 0) got = static_cast<size_t>(n);
        if (n == 0) eof = true;
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            again = true;
          } else {
            Close(c, std::strerror(errno));
            return false;
          }
        }
        // A short read drained the socket: stop here rather than pay a read
        // that returns EAGAIN (level-triggered epoll reports any new data).
        if (got > 0 && got < kReadChunk) again = true;
      }
      c->in.append(buf, got);
      server_->metrics_->bytes_in.fetch_add(got, std::memory_order_relaxed);
      if (eof) {
        Close(c, "eof");
        return false;
      }
      if (got > 0 && !ProcessInput(c)) return false;
      if (again) break;
    }
    UpdateMask(c);
    return true;
  }

  // Parses and dispatches every complete frame while not paused. False if closed.
  bool ProcessInput(Conn* c) {
    const size_t max_frame = server_->options_.max_frame_bytes;
    while (!Paused(c)) {
      const size_t avail = c->in.size() - c->in_pos;
      if (avail < proto::kFrameHeaderSize) break;
      auto head = std::span<const std::byte>(reinterpret_cast<const std::byte*>(c->in.data() + c->in_pos),
                                             proto::kFrameHeaderSize);
      proto::FrameHeader h;
      if (Status s = proto::ParseFrameHeader(head, max_frame, &h); !s.ok()) {
        return ProtocolError(c, 0, s.message());
      }
      if (avail < h.frame_size()) break;
      auto body = std::span<const std::byte>(
          reinterpret_cast<const std::byte*>(c->in.data() + c->in_pos + proto::kFrameHeaderSize), h.body_len);
      c->in_pos += h.frame_size();
      if (!Dispatch(c, h, body)) return false;
    }
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    }
    return true;
  }

  bool ProtocolError(Conn* c, uint64_t rid, std::string_view message) {
    server_->metrics_->protocol_errors.fetch_add(1);
    WB_LOG(kWarn, "protocol_error").Kv("peer", c->peer).Kv("error", message);
    Send(c, ErrorFrame(rid, proto::ErrorCode::kProtocol, message));
    c->closing = true;
    return Flush(c);
  }

  void Send(Conn* c, std::string_view bytes) { c->out.append(bytes); }

  // Starts a request that completes elsewhere.
  void Begin(Conn* c) {
    ++c->inflight;
    server_->shared_->inflight.fetch_add(1);
  }

  bool Dispatch(Conn* c, const proto::FrameHeader& h, std::span<const std::byte> body) {
    ServerMetrics& m = *server_->metrics_;
    const uint64_t rid = h.request_id;
    if (!c->hello_done) {
      if (h.type != proto::Type::kHello) return ProtocolError(c, rid, "the first frame must be HELLO");
      proto::Hello hello;
      if (Status s = proto::DecodeHello(body, &hello); !s.ok()) return ProtocolError(c, rid, s.message());
      if (hello.min_version > proto::kProtocolVersion || hello.max_version < proto::kProtocolVersion) {
        Send(c, ErrorFrame(rid, proto::ErrorCode::kUnsupportedVersion,
                           "this server speaks protocol version 1 only"));
        c->closing = true;
        return Flush(c);
      }
      c->hello_done = true;
      proto::HelloOk ok;
      ok.server_name = server_->options_.server_name;
      ok.max_frame_bytes = static_cast<uint32_t>(server_->options_.max_frame_bytes);
      ok.max_inflight = server_->options_.max_inflight;
      Send(c, Frame(proto::Type::kHelloOk, rid, [&](std::string* out) { proto::EncodeHelloOk(ok, out); }));
      return Flush(c);
    }
    Store* store = server_->store_;
    switch (h.type) {
      case proto::Type::kPing:
        m.requests[static_cast<size_t>(Op::kPing)].fetch_add(1, std::memory_order_relaxed);
        if (!body.empty()) return ProtocolError(c, rid, "ping has a body");
        Send(c, Frame(proto::Type::kPong, rid, [](std::string*) {}));
        return Flush(c);
      case proto::Type::kAppend: {
        m.requests[static_cast<size_t>(Op::kAppend)].fetch_add(1, std::memory_order_relaxed);
        AppendRequest req;
        if (Status s = proto::DecodeAppend(body, &req); !s.ok()) return ProtocolError(c, rid, s.message());
        Begin(c);
        const uint64_t start = NowNanos();
        Status s = store->AppendAsync(req, [mb = mailbox_, id = c->id, rid, start, metrics = server_->metrics_](
                                               const Status& st, const AppendAck& ack) {
          std::string frame;
          if (st.ok()) {
            frame = Frame(proto::Type::kAck, rid, [&](std::string* out) { proto::EncodeAck(ack, out); });
            metrics->messages_appended.fetch_add(1, std::memory_order_relaxed);
          } else {
            frame = StatusFrame(rid, st);
            metrics->CountError(st.code());
          }
          metrics->append_latency.ObserveNanos(NowNanos() - start);
          mb->Post({id, std::move(frame), true});
        });
        if (!s.ok()) Fail(c, rid, s);
        return true;
      }
      case proto::Type::kAppendBatch: {
        m.requests[static_cast<size_t>(Op::kAppendBatch)].fetch_add(1, std::memory_order_relaxed);
        std::vector<AppendRequest> reqs;
        if (Status s = proto::DecodeAppendBatch(body, &reqs); !s.ok()) {
          if (s.code() == StatusCode::kInvalidArgument && s.message().find("outside") != std::string::npos) {
            Send(c, StatusFrame(rid, s));
            return Flush(c);
          }
          return ProtocolError(c, rid, s.message());
        }
        Begin(c);
        const uint64_t start = NowNanos();
        Status s = store->AppendBatchAsync(
            reqs, [mb = mailbox_, id = c->id, rid, start, n = reqs.size(), metrics = server_->metrics_](
                      const Status& st, std::vector<AppendAck> acks) {
              std::string frame;
              if (st.ok()) {
                frame = Frame(proto::Type::kAcks, rid, [&](std::string* out) { proto::EncodeAcks(acks, out); });
                metrics->messages_appended.fetch_add(n, std::memory_order_relaxed);
              } else {
                frame = StatusFrame(rid, st);
                metrics->CountError(st.code());
              }
              metrics->append_latency.ObserveNanos(NowNanos() - start);
              mb->Post({id, std::move(frame), true});
            });
        if (!s.ok()) Fail(c, rid, s);
        return true;
      }
      case proto::Type::kLatest:
      case proto::Type::kBefore:
      case proto::Type::kAfter:
      case proto::Type::kGet:
      case proto::Type::kInfo: {
        const bool info = h.type == proto::Type::kInfo;
        m.requests[static_cast<size_t>(info ? Op::kInfo : Op::kRead)].fetch_add(1, std::memory_order_relaxed);
        proto::Query q;
        if (Status s = proto::DecodeQuery(h.type, body, &q); !s.ok()) return ProtocolError(c, rid, s.message());
        Begin(c);
        const uint64_t start = NowNanos();
        bool queued = server_->workers_->Submit(
            [store, type = h.type, tenant = std::string(q.conversation.tenant),
             conv = std::string(q.conversation.conversation), seq = q.seq, n = q.n, mb = mailbox_, id = c->id, rid,
             start, metrics = server_->metrics_] {
              ConversationRef ref{tenant, conv};
              std::string frame;
              Status st;
              if (type == proto::Type::kInfo) {
                auto r = store->Info(ref);
                st = r.status();
                if (r.ok()) frame = Frame(proto::Type::kInfoReply, rid, [&](std::string* o) { proto::EncodeInfo(*r, o); });
              } else if (type == proto::Type::kGet) {
                auto r = store->Get(ref, seq);
                st = r.status();
                if (r.ok()) {
                  frame = Frame(proto::Type::kMessages, rid, [&](std::string* o) {
                    proto::EncodeMessages(std::span<const Message>(&*r, 1), o);
                  });
                }
              } else {
                const size_t count = static_cast<size_t>(std::min<uint64_t>(n, SIZE_MAX));
                auto r = type == proto::Type::kLatest   ? store->Latest(ref, count)
                         : type == proto::Type::kBefore ? store->Before(ref, seq, count)
                                                        : store->After(ref, seq, count);
                st = r.status();
                if (r.ok()) frame = Frame(proto::Type::kMessages, rid, [&](std::string* o) { proto::EncodeMessages(*r, o); });
              }
              if (!st.ok()) {
                frame = StatusFrame(rid, st);
                metrics->CountError(st.code());
              }
              metrics->read_latency.ObserveNanos(NowNanos() - start);
              mb->Post({id, std::move(frame), true});
            });
        if (!queued) {
          Fail(c, rid, Status::ResourceExhausted("the read queue is full (" +
                                                 std::to_string(server_->options_.worker_queue) +
                                                 " pending); retry later"));
        }
        return true;
      }
      case proto::Type::kSubscribe: {
        m.requests[static_cast<size_t>(Op::kSubscribe)].fetch_add(1, std::memory_order_relaxed);
        proto::Subscribe sub;
        if (Status s = proto::DecodeSubscribe(body, &sub); !s.ok()) return ProtocolError(c, rid, s.message());
        if (sub.partition >= store->partitions()) {
          Send(c, StatusFrame(rid, Status::InvalidArgument("partition " + std::to_string(sub.partition) +
                                                           " does not exist")));
          return Flush(c);
        }
        c->subscriptions.push_back(rid);
        server_->subscriptions_->Add({c->id, rid, sub.partition, sub.from_offset, c->shared, mailbox_});
        return true;
      }
      case proto::Type::kUnsubscribe: {
        m.requests[static_cast<size_t>(Op::kOther)].fetch_add(1, std::memory_order_relaxed);
        uint64_t sub_id = 0;
        if (Status s = proto::DecodeUnsubscribe(body, &sub_id); !s.ok()) return ProtocolError(c, rid, s.message());
        if (!server_->subscriptions_->Remove(c->id, sub_id)) {
          Send(c, StatusFrame(rid, Status::NotFound("no subscription " + std::to_string(sub_id))));
        } else {
          std::erase(c->subscriptions, sub_id);
          Send(c, Frame(proto::Type::kUnsubscribed, rid, [](std::string*) {}));
        }
        return Flush(c);
      }
      case proto::Type::kHello:
        return ProtocolError(c, rid, "HELLO sent twice");
      default:
        return ProtocolError(c, rid, std::string("a client may not send ") + proto::TypeName(h.type));
    }
  }

  // A request that failed before it was handed off.
  void Fail(Conn* c, uint64_t rid, const Status& s) {
    --c->inflight;
    server_->shared_->inflight.fetch_sub(1);
    server_->metrics_->CountError(s.code());
    Send(c, StatusFrame(rid, s));
    (void)Flush(c);
  }

  void ProcessCompletions() {
    std::vector<Completion> items;
    {
      std::lock_guard lock(mailbox_->mu);
      items.swap(mailbox_->items);
    }
    // By id, not pointer: flushing one connection may close it, and a
    // connection can appear again further down the list (A, B, A).
    std::vector<uint64_t> touched;
    for (Completion& item : items) {
      if (item.finishes_request) server_->shared_->inflight.fetch_sub(1);
      auto it = conns_.find(item.conn_id);
      if (it == conns_.end()) continue;  // closed meanwhile
      Conn* c = it->second.get();
      if (!item.finishes_request) c->shared->posted_bytes.fetch_sub(std::min(item.bytes.size(), c->shared->posted_bytes.load()));
      if (item.finishes_request) --c->inflight;
      c->out.append(item.bytes);
      if (touched.empty() || touched.back() != c->id) touched.push_back(c->id);  // repeats are harmless
    }
    for (uint64_t id : touched) {
      auto it = conns_.find(id);
      if (it == conns_.end()) continue;
      Conn* c = it->second.get();
      const bool was_paused = (c->mask & EPOLLIN) == 0;
      if (!Flush(c)) continue;
      if (was_paused && !Paused(c)) {
        // Frames may be waiting in the input buffer (or inside TLS).
        if (!ProcessInput(c)) continue;
        OnReadable(c);
      }
    }
  }

  // Writes what it can; false if the connection was closed.
  bool Flush(Conn* c) {
    while (c->out_pos < c->out.size()) {
      const char* p = c->out.data() + c->out_pos;
      const size_t len = c->out.size() - c->out_pos;
      size_t wrote = 0;
      bool again = false;
      if (c->tls) {
        if (!c->tls->handshake_done()) break;
        const TlsIo r = c->tls->Write(p, len, &wrote);
        if (r == TlsIo::kWantRead || r == TlsIo::kWantWrite) again = true;
        if (r == TlsIo::kClosed || r == TlsIo::kError) {
          Close(c, r == TlsIo::kClosed ? "eof" : c->tls->last_error());
          return false;
        }
      } else {
        const ssize_t n = ::send(c->fd.get(), p, len, MSG_NOSIGNAL);
        if (n >= 0) wrote = static_cast<size_t>(n);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            again = true;
          } else {
            Close(c, std::strerror(errno));
            return false;
          }
        }
      }
      c->out_pos += wrote;
      server_->metrics_->bytes_out.fetch_add(wrote, std::memory_order_relaxed);
      if (again) break;
    }
    if (c->out_pos == c->out.size()) {
      c->out.clear();
      c->out_pos = 0;
      if (c->closing) {
        Close(c, "closed after error");
        return false;
      }
    } else if (c->out_pos > (1u << 20)) {
      c->out.erase(0, c->out_pos);
      c->out_pos = 0;
    }
    c->shared->out_bytes.store(c->out.size() - c->out_pos);
    UpdateMask(c);
    return true;
  }

  void Close(Conn* c, std::string_view reason) {
    if (c->tls) c->tls->Shutdown();
    c->shared->closed.store(true);
    for (uint64_t sub : c->subscriptions) server_->subscriptions_->Remove(c->id, sub);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd.get(), nullptr);
    WB_LOG(kDebug, "connection_closed").Kv("peer", c->peer).Kv("reason", reason).Kv("inflight", c->inflight);
    server_->metrics_->connections_open.fetch_sub(1);
    conns_.erase(c->id);
  }

  Server* const server_;
  const size_t index_;
  int epfd_ = -1;
  int listen_fd_ = -1;
  bool draining_ = false;
  bool want_write_handshake_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  std::unique_ptr<char[]> read_buf_ = std::make_unique<char[]>(kReadChunk);
  std::mutex cmd_mu_;
  std::vector<std::function<void()>> commands_;
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
};

// ---- Server ----

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Store* store) {
  WB_RETURN_IF_ERROR(ValidateServerOptions(options));
  WB_ASSIGN_OR_RETURN(io::net::HostPort addr, io::net::ParseHostPort(options.listen));
  if (!options.tls && !options.allow_remote_plaintext && !io::net::IsLoopbackHost(addr.host)) {
    return Status::InvalidArgument("plaintext (tls = false) may only listen on a loopback address; '" +
                                   options.listen + "' is not (set allow_remote_plaintext to force it)");
  }
  std::unique_ptr<Server> s(new Server());
  s->options_ = options;
  s->store_ = store;
  s->metrics_ = std::make_shared<ServerMetrics>();
  s->shared_ = std::make_shared<Shared>();
  if (options.tls) {
    WB_ASSIGN_OR_RETURN(s->shared_->tls, io::net::TlsContext::NewServer(options.tls_cert, options.tls_key));
  }
  // One listening socket per loop on the same port (SO_REUSEPORT): a burst of
  // connects is spread over the loops instead of landing on whichever woke
  // first (measured: net_loop_bench --shared-listener put 32 of 32 on one loop).
  for (uint32_t i = 0; i < options.network_threads; ++i) {
    WB_ASSIGN_OR_RETURN(UniqueFd fd, io::net::Listen(addr, 4096, /*reuse_port=*/true));
    if (i == 0) {
      WB_ASSIGN_OR_RETURN(s->port_, io::net::LocalPort(fd.get()));
      addr.port = s->port_;
    }
    s->shared_->listeners.push_back(std::move(fd));
  }
  s->workers_ = std::make_unique<Workers>(options.worker_threads, options.worker_queue, s->metrics_.get());
  s->subscriptions_ = std::make_unique<Subscriptions>(store, s->metrics_, options.max_subscription_buffer);
  for (uint32_t i = 0; i < options.network_threads; ++i) {
    s->loops_.push_back(std::make_unique<Loop>(s.get(), i));
    WB_RETURN_IF_ERROR(s->loops_.back()->Init(s->shared_->listeners[i].get()));
  }
  s->ready_.store(true);
  WB_LOG(kInfo, "server_listening")
      .Kv("address", addr.host + ":" + std::to_string(s->port_))
      .Kv("tls", options.tls ? "on" : "off")
      .Kv("network_threads", options.network_threads)
      .Kv("worker_threads", options.worker_threads);
  return s;
}

Server::~Server() { Shutdown(); }

Status Server::ReloadTls() {
  if (!options_.tls) return Status::FailedPrecondition("TLS is off");
  auto ctx = io::net::TlsContext::NewServer(options_.tls_cert, options_.tls_key);
  if (!ctx.ok()) {
    WB_LOG(kError, "tls_reload_failed").Kv("error", ctx.status().ToString());
    return ctx.status();
  }
  {
    std::lock_guard lock(shared_->tls_mu);
    shared_->tls = std::move(*ctx);
  }
  WB_LOG(kInfo, "tls_reloaded").Kv("cert", options_.tls_cert);
  return Status::Ok();
}

void Server::Shutdown() {
  std::lock_guard lock(shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  ready_.store(false);
  const uint64_t start = NowNanos();
  for (auto& l : loops_) l->Drain();
  // In-flight requests finish and their responses flush, within the bound.
  const uint64_t deadline = start + options_.shutdown_timeout_ms * 1000000ull;
  while (shared_->inflight.load() > 0 && NowNanos() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int64_t abandoned = shared_->inflight.load();
  // A last moment for the loops to flush what just completed.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (subscriptions_) subscriptions_->Stop();
  for (auto& l : loops_) l->Stop();
  if (workers_) workers_->Stop();
  loops_.clear();
  shared_->listeners.clear();
  LogLine(abandoned > 0 ? LogLevel::kWarn : LogLevel::kInfo, "server_stopped")
      .Kv("drain_ms", (NowNanos() - start) / 1000000)
      .Kv("requests_abandoned", abandoned);
}

std::string Server::RenderMetrics() {
  std::string out;
  metrics_->Render(&out);
  out += store_->PrometheusMetrics();
  return out;
}

}  // namespace warbler::server
