// The warblerd client library (include/warbler/client.h).
#include "warbler/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "io/net/socket.h"
#include "io/net/tls.h"
#include "proto/frame.h"

namespace warbler {
namespace {

using io::net::TlsIo;
using io::net::UniqueFd;

constexpr size_t kReadChunk = 64u << 10;

// What a response handler gets: OK + frame, or the connection's failure.
using Handler = std::function<void(const Status&, proto::Type, std::span<const std::byte>)>;

// One connection: the socket (non-blocking after the handshake), its TLS
// session, a reader thread and the handlers of requests in flight.
class Connection {
 public:
  static Result<std::shared_ptr<Connection>> Open(const std::string& address, const ClientOptions& o,
                                                  const std::shared_ptr<io::net::TlsContext>& tls) {
    WB_ASSIGN_OR_RETURN(io::net::HostPort hp, io::net::ParseHostPort(address));
    auto c = std::shared_ptr<Connection>(new Connection());
    c->address_ = address;
    c->max_frame_ = proto::kMaxFrameBytesCap;
    WB_ASSIGN_OR_RETURN(c->fd_, io::net::Connect(hp, o.connect_timeout_ms));
    if (o.tls) {
      WB_ASSIGN_OR_RETURN(c->tls_, io::net::TlsStream::NewClient(
                                       tls, c->fd_.get(), o.server_name.empty() ? hp.host : o.server_name));
    }
    WB_RETURN_IF_ERROR(io::net::SetNonBlocking(c->fd_.get()));
    const uint64_t deadline = Now() + o.connect_timeout_ms;
    if (c->tls_) {
      while (true) {
        const TlsIo r = c->tls_->Handshake();
        if (r == TlsIo::kOk) break;
        if (r == TlsIo::kError || r == TlsIo::kClosed) {
          return Status::Unavailable("TLS handshake with " + address + " failed: " + c->tls_->last_error());
        }
        WB_RETURN_IF_ERROR(c->WaitFd(r == TlsIo::kWantWrite ? POLLOUT : POLLIN, deadline));
      }
    }
    // HELLO, synchronously, before the reader thread starts.
    proto::Hello hello;
    hello.client_name = o.client_name;
    std::string frame;
    const size_t start = proto::BeginFrame(proto::Type::kHello, 0, &frame);
    proto::EncodeHello(hello, &frame);
    proto::FinishFrame(start, &frame);
    WB_RETURN_IF_ERROR(c->WriteAll(frame, deadline));
    proto::FrameHeader h;
    std::string body;
    WB_RETURN_IF_ERROR(c->ReadFrame(deadline, &h, &body));
    if (h.type == proto::Type::kError) {
      proto::ErrorCode code;
      std::string msg;
      WB_RETURN_IF_ERROR(proto::DecodeError(AsBytes(body), &code, &msg));
      return proto::StatusOfError(code, msg);
    }
    if (h.type != proto::Type::kHelloOk) return Status::Corruption("server answered HELLO with " + std::string(proto::TypeName(h.type)));
    proto::HelloOk ok;
    WB_RETURN_IF_ERROR(proto::DecodeHelloOk(AsBytes(body), &ok));
    c->max_frame_ = ok.max_frame_bytes;
    c->reader_ = std::thread([raw = c.get()] { raw->ReadLoop(); });
    return c;
  }

  ~Connection() { Close(); }

  // Registers `h` under a fresh request id and sends the frame.
  Status Send(proto::Type type, const std::string& body, Handler h, bool persistent, uint64_t* rid_out = nullptr) {
    if (dead_.load()) return Status::Unavailable("connection to " + address_ + " is closed");
    const uint64_t rid = next_rid_.fetch_add(1);
    std::string frame;
    frame.reserve(proto::kFrameHeaderSize + body.size());
    proto::AppendFrame(type, rid, body, &frame);
    if (frame.size() > max_frame_) {
      return Status::InvalidArgument("request of " + std::to_string(frame.size()) +
                                     " bytes exceeds the server's max_frame_bytes (" + std::to_string(max_frame_) + ")");
    }
    {
      // Checked again under map_mu_: a Fail() that ran since the check above
      // has already failed every handler it found, and would never see this one.
      std::lock_guard lock(map_mu_);
      if (dead_.load()) return Status::Unavailable("connection to " + address_ + " is closed");
      handlers_[rid] = {std::move(h), persistent};
    }
    if (rid_out != nullptr) *rid_out = rid;
    Status s = WriteAll(frame, UINT64_MAX);
    if (!s.ok()) {
      Fail(s);
      return Status::Ok();  // the handler got the error
    }
    return Status::Ok();
  }

  void Forget(uint64_t rid) {
    std::lock_guard lock(map_mu_);
    handlers_.erase(rid);
  }

  bool alive() const { return !dead_.load(); }
  const std::string& address() const { return address_; }

  void Close() {
    stop_.store(true);
    if (reader_.joinable() && reader_.get_id() != std::this_thread::get_id()) reader_.join();
    if (reader_.joinable()) reader_.detach();
    Fail(Status::Unavailable("connection closed"));
  }

 private:
  Connection() = default;

  static uint64_t Now() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }

  Status WaitFd(short events, uint64_t deadline) {
    pollfd p{fd_.get(), events, 0};
    const uint64_t now = Now();
    if (now >= deadline) return Status::Timeout("timed out talking to " + address_);
    const int wait = deadline == UINT64_MAX ? 100 : static_cast<int>(std::min<uint64_t>(deadline - now, 100));
    if (::poll(&p, 1, wait) < 0 && errno != EINTR) return Status::Unavailable(std::string("poll: ") + std::strerror(errno));
    return Status::Ok();
  }

  // Writes every byte (serialized with the reader by io_mu_).
  Status WriteAll(std::string_view data, uint64_t deadline) {
    std::unique_lock wlock(write_mu_);
    size_t done = 0;
    while (done < data.size()) {
      if (dead_.load()) return Status::Unavailable("connection to " + address_ + " is closed");
      bool again = false;
      {
        std::lock_guard lock(io_mu_);
        size_t n = 0;
        if (tls_) {
          const TlsIo r = tls_->Write(data.data() + done, data.size() - done, &n);
          if (r == TlsIo::kWantRead || r == TlsIo::kWantWrite) again = true;
          if (r == TlsIo::kError || r == TlsIo::kClosed) {
            return Status::Unavailable("write to " + address_ + ": " + tls_->last_error());
          }
        } else {
          const ssize_t w = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
          if (w < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
              return Status::Unavailable("write to " + address_ + ": " + std::strerror(errno));
            }
            again = true;
          } else {
            n = static_cast<size_t>(w);
          }
        }
        done += n;
      }
      if (again) WB_RETURN_IF_ERROR(WaitFd(POLLOUT, deadline));
    }
    return Status::Ok();
  }

  // Reads what is available into in_. kOk with got = 0 means "would block".
  Status ReadSome(size_t* got) {
    std::lock_guard lock(io_mu_);
    *got = 0;
    const size_t old = in_.size();
    in_.resize(old + kReadChunk);
    Status s;
    if (tls_) {
      size_t n = 0;
      const TlsIo r = tls_->Read(in_.data() + old, kReadChunk, &n);
      if (r == TlsIo::kOk) *got = n;
      if (r == TlsIo::kClosed) s = Status::Unavailable("server " + address_ + " closed the connection");
      if (r == TlsIo::kError) s = Status::Unavailable("read from " + address_ + ": " + tls_->last_error());
    } else {
      const ssize_t n = ::read(fd_.get(), in_.data() + old, kReadChunk);
      if (n > 0) *got = static_cast<size_t>(n);
      if (n == 0) s = Status::Unavailable("server " + address_ + " closed the connection");
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        s = Status::Unavailable("read from " + address_ + ": " + std::strerror(errno));
      }
    }
    in_.resize(old + *got);
    return s;
  }

  // Takes one complete frame from in_, if there is one.
  Result<bool> TakeFrame(proto::FrameHeader* h, std::string* body) {
    if (in_.size() - in_pos_ < proto::kFrameHeaderSize) return false;
    WB_RETURN_IF_ERROR(proto::ParseFrameHeader(
        AsBytes(std::string_view(in_).substr(in_pos_, proto::kFrameHeaderSize)), proto::kMaxFrameBytesCap, h));
    if (in_.size() - in_pos_ < h->frame_size()) return false;
    body->assign(in_, in_pos_ + proto::kFrameHeaderSize, h->body_len);
    in_pos_ += h->frame_size();
    if (in_pos_ == in_.size()) {
      in_.clear();
      in_pos_ = 0;
    } else if (in_pos_ > (1u << 20)) {
      in_.erase(0, in_pos_);
      in_pos_ = 0;
    }
    return true;
  }

  Status ReadFrame(uint64_t deadline, proto::FrameHeader* h, std::string* body) {
    while (true) {
      WB_ASSIGN_OR_RETURN(bool have, TakeFrame(h, body));
      if (have) return Status::Ok();
      size_t got = 0;
      WB_RETURN_IF_ERROR(ReadSome(&got));
      if (got == 0) WB_RETURN_IF_ERROR(WaitFd(POLLIN, deadline));
    }
  }

  void ReadLoop() {
    proto::FrameHeader h;
    std::string body;
    while (!stop_.load()) {
      size_t got = 0;
      Status s = ReadSome(&got);
      if (!s.ok()) {
        Fail(s);
        return;
      }
      if (got == 0) {
        pollfd p{fd_.get(), POLLIN, 0};
        (void)::poll(&p, 1, 100);
        continue;
      }
      while (true) {
        auto have = TakeFrame(&h, &body);
        if (!have.ok()) {
          Fail(Status::Corruption("malformed frame from " + address_ + ": " + have.status().message()));
          return;
        }
        if (!*have) break;
        Dispatch(h, body);
      }
    }
  }

  void Dispatch(const proto::FrameHeader& h, const std::string& body) {
    Handler handler;
    {
      std::lock_guard lock(map_mu_);
      auto it = handlers_.find(h.request_id);
      if (it == handlers_.end()) {
        if (h.type == proto::Type::kError && h.request_id == 0) {
          // A connection-level error: the server closes next.
          proto::ErrorCode code;
          std::string msg;
          if (proto::DecodeError(AsBytes(body), &code, &msg).ok()) last_error_ = proto::StatusOfError(code, msg);
        }
        return;  // a response to a request that timed out, or after unsubscribe
      }
      handler = it->second.persistent ? it->second.handler : std::move(it->second.handler);
      if (!it->second.persistent || h.type == proto::Type::kError || h.type == proto::Type::kUnsubscribed) {
        handlers_.erase(it);
      }
    }
    handler(Status::Ok(), h.type, AsBytes(body));
  }

  // Any thread (the reader, a sender whose write failed, Close).
  void Fail(const Status& s) {
    std::unordered_map<uint64_t, Entry> failed;
    Status why;
    {
      std::lock_guard lock(map_mu_);
      dead_.store(true);
      failed.swap(handlers_);
      why = last_error_.ok() ? s : last_error_;
    }
    for (auto& [rid, e] : failed) e.handler(why, proto::Type::kError, {});
  }

  struct Entry {
    Handler handler;
    bool persistent = false;
  };

  std::string address_;
  UniqueFd fd_;
  std::unique_ptr<io::net::TlsStream> tls_;
  size_t max_frame_ = proto::kDefaultMaxFrameBytes;
  std::mutex io_mu_;     // one TLS/socket call at a time
  std::mutex write_mu_;  // one frame written at a time
  std::mutex map_mu_;
  std::unordered_map<uint64_t, Entry> handlers_;
  std::atomic<uint64_t> next_rid_{1};
  std::atomic<bool> dead_{false};
  std::atomic<bool> stop_{false};
  Status last_error_;  // guarded by map_mu_
  std::string in_;
  size_t in_pos_ = 0;
  std::thread reader_;
};

// A response slot a blocking call waits on (shared: a late response after a
// timeout lands here harmlessly).
struct Slot {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool connection_lost = false;
  Status status;
  proto::Type type = proto::Type::kError;
  std::string body;
};

Status ErrorOf(const Slot& slot) {
  if (slot.type != proto::Type::kError) return Status::Ok();
  proto::ErrorCode code;
  std::string msg;
  WB_RETURN_IF_ERROR(proto::DecodeError(AsBytes(slot.body), &code, &msg));
  return proto::StatusOfError(code, msg);
}

std::string RandomClientId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id(24, '0');
  for (size_t i = 0; i < id.size(); i += 16) {
    uint64_t v = rng();
    for (size_t k = 0; k < 16 && i + k < id.size(); ++k) id[i + k] = kHex[(v >> (4 * k)) & 15];
  }
  return "auto-" + id;
}

class ClientImpl final : public Client {
 public:
  explicit ClientImpl(const ClientOptions& o) : options_(o) {}
  ~ClientImpl() override { Close(); }

  Status Init() {
    if (options_.addresses.empty()) return Status::InvalidArgument("no server address given");
    if (options_.tls) {
      WB_ASSIGN_OR_RETURN(tls_, io::net::TlsContext::NewClient(options_.ca_file, options_.verify));
    }
    return Conn().status();
  }

  void Close() override {
    std::shared_ptr<Connection> c;
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      c = std::move(conn_);
    }
    if (c) c->Close();
  }

  std::string connected_address() override {
    std::lock_guard lock(mu_);
    return conn_ && conn_->alive() ? conn_->address() : "";
  }

  Status Ping() override {
    return Call(proto::Type::kPing, "", proto::Type::kPong, [](std::string_view) { return Status::Ok(); });
  }

  Result<AppendAck> Append(const AppendRequest& request) override {
    AppendRequest r = request;
    std::string generated;
    if (r.client_id.empty() && options_.max_retries > 0) {
      generated = RandomClientId();
      r.client_id = generated;
    }
    std::string body;
    proto::EncodeAppend(r, &body);
    AppendAck ack;
    WB_RETURN_IF_ERROR(Call(proto::Type::kAppend, body, proto::Type::kAck,
                            [&](std::string_view b) { return proto::DecodeAck(AsBytes(b), &ack); }));
    return ack;
  }

  Status AppendAsync(const AppendRequest& request, AppendCallback done) override {
    std::string body;
    proto::EncodeAppend(request, &body);
    WB_ASSIGN_OR_RETURN(auto c, Conn());
    return c->Send(proto::Type::kAppend, body,
                   [done = std::move(done)](const Status& s, proto::Type type, std::span<const std::byte> b) {
                     AppendAck ack;
                     if (!s.ok()) return done(s, ack);
                     if (type == proto::Type::kError) {
                       proto::ErrorCode code;
                       std::string msg;
                       Status d = proto::DecodeError(b, &code, &msg);
                       return done(d.ok() ? proto::StatusOfError(code, msg) : d, ack);
                     }
                     if (type != proto::Type::kAck) return done(Status::Corruption("unexpected response type"), ack);
                     Status d = proto::DecodeAck(b, &ack);
                     done(d, ack);
                   },
                   false);
  }

  Result<std::vector<AppendAck>> AppendBatch(std::span<const AppendRequest> requests) override {
    std::vector<AppendRequest> rs(requests.begin(), requests.end());
    std::vector<std::string> ids;
    ids.reserve(rs.size());
    for (AppendRequest& r : rs) {
      if (r.client_id.empty() && options_.max_retries > 0) {
        ids.push_back(RandomClientId());
        r.client_id = ids.back();
      }
    }
    std::string body;
    proto::EncodeAppendBatch(rs, &body);
    std::vector<AppendAck> acks;
    WB_RETURN_IF_ERROR(Call(proto::Type::kAppendBatch, body, proto::Type::kAcks,
                            [&](std::string_view b) { return proto::DecodeAcks(AsBytes(b), &acks); }));
    return acks;
  }

  Result<std::vector<Message>> Latest(ConversationRef c, size_t n) override {
    return Query(proto::Type::kLatest, c, 0, n);
  }
  Result<std::vector<Message>> Before(ConversationRef c, uint64_t seq, size_t n) override {
    return Query(proto::Type::kBefore, c, seq, n);
  }
  Result<std::vector<Message>> After(ConversationRef c, uint64_t seq, size_t n) override {
    return Query(proto::Type::kAfter, c, seq, n);
  }
  Result<Message> Get(ConversationRef c, uint64_t seq) override {
    WB_ASSIGN_OR_RETURN(auto msgs, Query(proto::Type::kGet, c, seq, 0));
    if (msgs.size() != 1) return Status::Corruption("GET answered with " + std::to_string(msgs.size()) + " messages");
    return std::move(msgs[0]);
  }
  Result<ConversationInfo> Info(ConversationRef c) override {
    std::string body;
    proto::EncodeQuery(proto::Type::kInfo, proto::Query{c, 0, 0}, &body);
    ConversationInfo info;
    WB_RETURN_IF_ERROR(Call(proto::Type::kInfo, body, proto::Type::kInfoReply,
                            [&](std::string_view b) { return proto::DecodeInfo(AsBytes(b), &info); }));
    return info;
  }

  Result<uint64_t> Subscribe(uint32_t partition, uint64_t from_offset, EventCallback on_events) override {
    std::string body;
    proto::EncodeSubscribe({partition, from_offset}, &body);
    WB_ASSIGN_OR_RETURN(auto c, Conn());
    uint64_t rid = 0;
    WB_RETURN_IF_ERROR(c->Send(
        proto::Type::kSubscribe, body,
        [cb = std::move(on_events)](const Status& s, proto::Type type, std::span<const std::byte> b) {
          if (!s.ok()) return cb(s, {}, 0);
          if (type == proto::Type::kUnsubscribed) return cb(Status::Aborted("unsubscribed"), {}, 0);
          if (type == proto::Type::kError) {
            proto::ErrorCode code;
            std::string msg;
            Status d = proto::DecodeError(b, &code, &msg);
            return cb(d.ok() ? proto::StatusOfError(code, msg) : d, {}, 0);
          }
          proto::Events ev;
          if (Status d = proto::DecodeEvents(b, &ev); !d.ok()) return cb(d, {}, 0);
          std::vector<Event> out;
          out.reserve(ev.events.size());
          for (proto::Event& e : ev.events) {
            Event x;
            x.offset = e.offset;
            x.tenant = std::move(e.tenant);
            x.conversation = std::move(e.conversation);
            x.message.seq = e.seq;
            x.message.timestamp_us = e.timestamp_us;
            x.message.offset = e.offset;
            x.message.sender = std::move(e.sender);
            x.message.client_id = std::move(e.client_id);
            x.message.body = std::move(e.body);
            out.push_back(std::move(x));
          }
          cb(Status::Ok(), std::move(out), ev.next_offset);
        },
        true, &rid));
    return rid;
  }

  Status Unsubscribe(uint64_t subscription_id) override {
    std::string body;
    proto::EncodeUnsubscribe(subscription_id, &body);
    return Call(proto::Type::kUnsubscribe, body, proto::Type::kUnsubscribed,
                [](std::string_view) { return Status::Ok(); }, /*retry=*/false);
  }

 private:
  // The live connection, reconnecting if the current one broke. The broken
  // one is closed (its reader thread joined) only after mu_ is released: its
  // reader may be running a failed request's callback that calls AppendAsync,
  // which needs mu_ — joining it under mu_ deadlocked.
  Result<std::shared_ptr<Connection>> Conn() {
    std::shared_ptr<Connection> broken;
    auto result = ConnLocked(&broken);
    if (broken) broken->Close();
    return result;
  }

  Result<std::shared_ptr<Connection>> ConnLocked(std::shared_ptr<Connection>* broken) {
    std::lock_guard lock(mu_);
    if (closed_) return Status::Unavailable("the client is closed");
    if (conn_ && conn_->alive()) return conn_;
    *broken = std::move(conn_);
    Status last;
    for (size_t i = 0; i < options_.addresses.size(); ++i) {
      const std::string& addr = options_.addresses[(next_addr_ + i) % options_.addresses.size()];
      auto c = Connection::Open(addr, options_, tls_);
      if (c.ok()) {
        next_addr_ = (next_addr_ + i) % options_.addresses.size();
        conn_ = std::move(*c);
        return conn_;
      }
      last = c.status();
    }
    next_addr_ = (next_addr_ + 1) % options_.addresses.size();
    return last;
  }

  Result<std::vector<Message>> Query(proto::Type type, ConversationRef c, uint64_t seq, size_t n) {
    std::string body;
    proto::EncodeQuery(type, proto::Query{c, seq, n}, &body);
    std::vector<Message> msgs;
    WB_RETURN_IF_ERROR(Call(type, body, proto::Type::kMessages,
                            [&](std::string_view b) { return proto::DecodeMessages(AsBytes(b), &msgs); }));
    return msgs;
  }

  // Sends one request and waits; reconnects and retries after a broken
  // connection (every request here is idempotent: reads, or appends that
  // carry a client message id).
  template <typename Decode>
  Status Call(proto::Type type, const std::string& body, proto::Type expect, Decode decode, bool retry = true) {
    Status last;
    for (int attempt = 0; attempt <= (retry ? options_.max_retries : 0); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(options_.retry_backoff_ms * attempt));
      auto c = Conn();
      if (!c.ok()) {
        last = c.status();
        if (last.code() == StatusCode::kInvalidArgument) return last;
        continue;
      }
      auto slot = std::make_shared<Slot>();
      uint64_t rid = 0;
      Status sent = (*c)->Send(type, body,
                               [slot](const Status& s, proto::Type t, std::span<const std::byte> b) {
                                 std::lock_guard lock(slot->mu);
                                 slot->status = s;
                                 slot->connection_lost = !s.ok();
                                 slot->type = t;
                                 slot->body.assign(reinterpret_cast<const char*>(b.data()), b.size());
                                 slot->done = true;
                                 slot->cv.notify_all();
                               },
                               false, &rid);
      if (!sent.ok()) {
        // The connection broke between Conn() and Send(): retry like any other break.
        if (sent.code() != StatusCode::kUnavailable) return sent;
        last = sent;
        continue;
      }
      std::unique_lock lock(slot->mu);
      if (!slot->cv.wait_for(lock, std::chrono::milliseconds(options_.request_timeout_ms),
                             [&] { return slot->done; })) {
        (*c)->Forget(rid);
        return Status::Timeout(std::string(proto::TypeName(type)) + " timed out after " +
                               std::to_string(options_.request_timeout_ms) + " ms");
      }
      if (slot->connection_lost) {
        last = slot->status;
        continue;
      }
      WB_RETURN_IF_ERROR(ErrorOf(*slot));
      if (slot->type != expect) {
        return Status::Corruption(std::string("expected ") + proto::TypeName(expect) + ", got " +
                                  proto::TypeName(slot->type));
      }
      return decode(slot->body);
    }
    return last;
  }

  const ClientOptions options_;
  std::shared_ptr<io::net::TlsContext> tls_;
  std::mutex mu_;
  std::shared_ptr<Connection> conn_;
  size_t next_addr_ = 0;
  bool closed_ = false;
};

}  // namespace

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  auto c = std::make_unique<ClientImpl>(options);
  WB_RETURN_IF_ERROR(c->Init());
  return std::unique_ptr<Client>(std::move(c));
}

}  // namespace warbler
