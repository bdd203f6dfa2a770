// End-to-end tests of warblerd's server and the client library: a real
// Server on a loopback port (random free port), TLS 1.3 with a freshly made
// certificate, a real Store on disk; raw sockets for protocol violations.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <thread>

#include "io/net/socket.h"
#include "io/net/tls.h"
#include "proto/frame.h"
#include "server/server.h"
#include "warbler/client.h"
#include "warbler/store.h"
#include "tests/temp_dir.h"
#include "tests/test_keys.h"

namespace warbler::server {
namespace {

std::string TempDir() { return testing::MakeTempDir("warbler-server-test"); }

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::UseTestKek();
    dir_ = TempDir();
    ASSERT_TRUE(io::net::WriteSelfSignedCert(dir_ + "/cert.pem", dir_ + "/key.pem", "localhost", 2).ok());
    StoreOptions so;
    so.partitions = 2;
    so.segment_bytes = 4u << 20;
    auto store = Store::Open(so, dir_ + "/data");
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }
  void TearDown() override {
    server_.reset();
    if (store_) {
      ASSERT_TRUE(store_->Close().ok());
    }
    std::filesystem::remove_all(dir_);
  }
  void StartServer(bool tls, ServerOptions o = {}) {
    o.listen = "127.0.0.1:0";
    o.tls = tls;
    o.tls_cert = dir_ + "/cert.pem";
    o.tls_key = dir_ + "/key.pem";
    auto s = Server::Start(o, store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  std::unique_ptr<Client> Connect(bool tls = true) {
    ClientOptions o;
    o.addresses = {"127.0.0.1:" + std::to_string(server_->port())};
    o.tls = tls;
    o.ca_file = dir_ + "/cert.pem";
    o.server_name = "localhost";
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }
  // A raw plaintext socket for protocol tests.
  io::net::UniqueFd Raw() {
    auto fd = io::net::Connect({"127.0.0.1", server_->port()}, 2000);
    EXPECT_TRUE(fd.ok());
    return fd.ok() ? std::move(*fd) : io::net::UniqueFd();
  }
  static void SendAll(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }
  // Reads until EOF or 3 s; returns everything read.
  static std::string ReadUntilClose(int fd) {
    std::string out;
    char buf[4096];
    for (int i = 0; i < 30; ++i) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
    return out + "<still open>";
  }
  static std::string Hello() {
    std::string f;
    size_t start = proto::BeginFrame(proto::Type::kHello, 1, &f);
    proto::EncodeHello(proto::Hello{}, &f);
    proto::FinishFrame(start, &f);
    return f;
  }
  static proto::ErrorCode FirstErrorCode(const std::string& bytes, std::string* message) {
    size_t pos = 0;
    while (bytes.size() - pos >= proto::kFrameHeaderSize) {
      proto::FrameHeader h;
      if (!proto::ParseFrameHeader(AsBytes(bytes).subspan(pos, 16), proto::kMaxFrameBytesCap, &h).ok()) break;
      if (h.type == proto::Type::kError) {
        proto::ErrorCode code;
        EXPECT_TRUE(proto::DecodeError(AsBytes(bytes).subspan(pos + 16, h.body_len), &code, message).ok());
        return code;
      }
      pos += h.frame_size();
    }
    return proto::ErrorCode::kInternal;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, AppendAndReadEveryKindOverTls) {
  StartServer(true);
  auto c = Connect();
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(c->Ping().ok());
  const ConversationRef room{"acme", "room-1"};
  for (int i = 1; i <= 10; ++i) {
    std::string body = "m" + std::to_string(i);
    auto ack = c->Append({room, "alice", body, ""});
    ASSERT_TRUE(ack.ok()) << ack.status().ToString();
    EXPECT_EQ(ack->seq, static_cast<uint64_t>(i));
    EXPECT_FALSE(ack->duplicate);
  }
  auto latest = c->Latest(room, 3);
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 3u);
  EXPECT_EQ((*latest)[0].body, "m8");
  EXPECT_EQ((*latest)[2].sender, "alice");
  EXPECT_EQ(c->Before(room, 3, 10)->size(), 2u);
  EXPECT_EQ(c->After(room, 8, 10)->size(), 2u);
  EXPECT_EQ(c->Get(room, 5)->body, "m5");
  EXPECT_EQ(c->Get(room, 11).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c->Info(room)->last_seq, 10u);
  // Store limits come back as INVALID_ARGUMENT naming the limit; the connection stays.
  std::string big(70000, 'x');
  auto over = c->Append({room, "alice", big, ""});
  EXPECT_EQ(over.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(over.status().ToString().find("max_body_bytes"), std::string::npos);
  EXPECT_EQ(c->Latest(room, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(c->Ping().ok());
}

TEST_F(ServerTest, RetriedAppendIsAnsweredNotStoredTwice) {
  StartServer(true);
  auto c = Connect();
  const ConversationRef room{"acme", "dedup"};
  auto first = c->Append({room, "bob", "hello", "cid-1"});
  auto again = c->Append({room, "bob", "hello", "cid-1"});
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->seq, first->seq);
  EXPECT_EQ(c->Info(room)->count, 1u);
  std::vector<AppendRequest> batch = {{room, "bob", "a", ""}, {room, "bob", "b", ""}, {{"acme", "x"}, "", "c", ""}};
  auto acks = c->AppendBatch(batch);
  ASSERT_TRUE(acks.ok()) << acks.status().ToString();
  EXPECT_EQ((*acks)[0].seq, 2u);
  EXPECT_EQ((*acks)[1].seq, 3u);
  EXPECT_EQ((*acks)[2].seq, 1u);
}

TEST_F(ServerTest, PipelinedAsyncAppendsAreGapFree) {
  StartServer(true);
  auto c = Connect();
  constexpr int kN = 3000;
  std::mutex mu;
  std::condition_variable cv;
  int done = 0, failed = 0;
  std::map<std::string, std::vector<uint64_t>> seqs;
  std::vector<std::string> convs = {"a", "b", "c", "d", "e"};
  for (int i = 0; i < kN; ++i) {
    const std::string& conv = convs[i % convs.size()];
    ASSERT_TRUE(c->AppendAsync({{"t", conv}, "s", "body", ""}, [&, conv](const Status& s, const AppendAck& a) {
                   std::lock_guard lock(mu);
                   if (!s.ok()) ++failed;
                   seqs[conv].push_back(a.seq);
                   ++done;
                   cv.notify_all();
                 }).ok());
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(60), [&] { return done == kN; }));
  EXPECT_EQ(failed, 0);
  for (auto& [conv, v] : seqs) {
    std::sort(v.begin(), v.end());
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], i + 1) << conv;
  }
}

TEST_F(ServerTest, MalformedFramesGetAnErrorAndTheConnectionClosesOthersUnaffected) {
  StartServer(false);
  auto good = Connect(false);
  ASSERT_NE(good, nullptr);
  struct Case {
    const char* name;
    std::string bytes;
    proto::ErrorCode expect;
  };
  std::vector<Case> cases;
  {
    std::string f;
    proto::AppendFrame(proto::Type::kPing, 5, "", &f);
    cases.push_back({"ping before hello", f, proto::ErrorCode::kProtocol});
  }
  {
    std::string f = Hello();
    f += std::string("\x0c\x00\x00\x00\x7e\x00\x00\x00", 8) + std::string(8, '\0');
    cases.push_back({"unknown type", f, proto::ErrorCode::kProtocol});
  }
  {
    std::string f = Hello();
    f += std::string("\xff\xff\xff\x7f\x10\x00\x00\x00", 8) + std::string(8, '\0');
    cases.push_back({"oversize frame", f, proto::ErrorCode::kProtocol});
  }
  {
    std::string f = Hello();
    std::string body = "\x05tr";  // a string length past the body
    proto::AppendFrame(proto::Type::kAppend, 9, body, &f);
    cases.push_back({"truncated body", f, proto::ErrorCode::kProtocol});
  }
  {
    std::string f;
    std::string body;
    proto::EncodeHello(proto::Hello{5, 9, "future"}, &body);
    proto::AppendFrame(proto::Type::kHello, 1, body, &f);
    cases.push_back({"unsupported version", f, proto::ErrorCode::kUnsupportedVersion});
  }
  {
    std::string f = Hello();
    proto::AppendFrame(proto::Type::kAck, 3, "", &f);
    cases.push_back({"response type from a client", f, proto::ErrorCode::kProtocol});
  }
  for (const Case& k : cases) {
    auto fd = Raw();
    SendAll(fd.get(), k.bytes);
    const std::string got = ReadUntilClose(fd.get());
    EXPECT_EQ(got.find("<still open>"), std::string::npos) << k.name << ": the connection was not closed";
    std::string message;
    EXPECT_EQ(FirstErrorCode(got, &message), k.expect) << k.name << ": " << message;
    EXPECT_TRUE(good->Ping().ok()) << "after " << k.name;
  }
  EXPECT_GE(server_->metrics().protocol_errors.load(), 5u);
  EXPECT_TRUE(good->Append({{"t", "c"}, "s", "still serving", ""}).ok());
}

TEST_F(ServerTest, AStalledClientIsReadNoFurtherThanItsLimits) {
  ServerOptions o;
  o.max_inflight = 64;
  o.max_output_bytes = 64 * 1024;
  StartServer(false, o);
  auto good = Connect(false);
  // Fill the conversation so each history reply is large.
  std::string body(1000, 'b');
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(good->Append({{"t", "big"}, "s", body, ""}).ok());
  auto fd = Raw();
  std::string hello = Hello();
  SendAll(fd.get(), hello);
  // Ask for ~50 KB replies over and over without ever reading them.
  std::string q;
  proto::EncodeQuery(proto::Type::kLatest, proto::Query{{"t", "big"}, 0, 50}, &q);
  std::string burst;
  for (int i = 0; i < 20000; ++i) proto::AppendFrame(proto::Type::kLatest, 100 + i, q, &burst);
  // The kernel buffers take some; the server stops reading, so eventually our sends block.
  ASSERT_TRUE(io::net::SetNonBlocking(fd.get()).ok());
  size_t sent = 0;
  // ~92 MB of requests (answers would be ~100 GB): far more than socket buffers hold.
  for (int round = 0; round < 100; ++round) {
    ssize_t n = ::send(fd.get(), burst.data(), burst.size(), MSG_NOSIGNAL);
    if (n > 0) sent += static_cast<size_t>(n);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_LT(sent, burst.size() * 100 / 4) << "the server kept reading a client that never reads";
  EXPECT_GT(server_->metrics().backpressure_pauses.load(), 0u);
  // Everyone else is served.
  EXPECT_TRUE(good->Ping().ok());
  EXPECT_EQ(good->Latest({"t", "big"}, 2)->size(), 2u);
}

TEST_F(ServerTest, SubscriptionStreamsThePartitionLog) {
  StartServer(true);
  auto c = Connect();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c->Append({{"t", "conv-" + std::to_string(i)}, "s", "m", ""}).ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Event> got;
  uint64_t total = 0;
  for (uint32_t p = 0; p < store_->partitions(); ++p) {
    uint64_t next = 0;
    auto r = store_->ReadLog(p, 0, 1 << 20, &next);
    ASSERT_TRUE(r.ok());
    total += next;
  }
  auto sub = c->Subscribe(0, 0, [&](const Status& s, std::vector<Event> events, uint64_t) {
    std::lock_guard lock(mu);
    if (s.ok()) got.insert(got.end(), events.begin(), events.end());
    cv.notify_all();
  });
  ASSERT_TRUE(sub.ok());
  auto sub1 = c->Subscribe(1, 0, [&](const Status& s, std::vector<Event> events, uint64_t) {
    std::lock_guard lock(mu);
    if (s.ok()) got.insert(got.end(), events.begin(), events.end());
    cv.notify_all();
  });
  ASSERT_TRUE(sub1.ok());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.size() >= 20; }));
  }
  // New appends keep streaming.
  ASSERT_TRUE(c->Append({{"t", "conv-0"}, "s", "late", ""}).ok());
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return got.size() >= 21; }));
    EXPECT_EQ(got.back().message.body, "late");
  }
  EXPECT_TRUE(c->Unsubscribe(*sub).ok());
  EXPECT_EQ(c->Unsubscribe(*sub).code(), StatusCode::kNotFound);
  // A partition that does not exist is an error for that subscription only.
  std::atomic<bool> failed{false};
  ASSERT_TRUE(c->Subscribe(99, 0, [&](const Status& s, std::vector<Event>, uint64_t) {
                 if (!s.ok()) failed.store(true);
               }).ok());
  for (int i = 0; i < 100 && !failed.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(failed.load());
  EXPECT_TRUE(c->Ping().ok());
  EXPECT_EQ(total, 20u);
}

TEST_F(ServerTest, ClientFailsOverToTheNextAddress) {
  StartServer(true);
  ClientOptions o;
  o.addresses = {"127.0.0.1:1", "127.0.0.1:" + std::to_string(server_->port())};
  o.ca_file = dir_ + "/cert.pem";
  o.server_name = "localhost";
  o.connect_timeout_ms = 500;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ((*c)->connected_address(), o.addresses[1]);
  EXPECT_TRUE((*c)->Ping().ok());
}

TEST_F(ServerTest, TlsIsVerifiedAndPlaintextIsRefusedOffLoopback) {
  StartServer(true);
  // A client that does not trust the certificate fails the handshake.
  ClientOptions o;
  o.addresses = {"127.0.0.1:" + std::to_string(server_->port())};
  o.verify = true;
  auto other = TempDir();
  ASSERT_TRUE(io::net::WriteSelfSignedCert(other + "/c.pem", other + "/k.pem", "localhost", 1).ok());
  o.ca_file = other + "/c.pem";
  o.server_name = "localhost";
  o.max_retries = 0;
  auto c = Client::Connect(o);
  EXPECT_FALSE(c.ok());
  std::filesystem::remove_all(other);
  // A plaintext client on the TLS port gets nowhere either; the server keeps serving.
  ClientOptions plain = o;
  plain.tls = false;
  plain.connect_timeout_ms = 500;
  EXPECT_FALSE(Client::Connect(plain).ok());
  EXPECT_TRUE(Connect()->Ping().ok());
  EXPECT_GT(server_->metrics().tls_handshake_failures.load(), 0u);
  ServerOptions remote;
  remote.listen = "0.0.0.0:0";
  remote.tls = false;
  auto s = Server::Start(remote, store_.get());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ServerTest, CertificateReloadKeepsOpenConnections) {
  StartServer(true);
  auto before = Connect();
  ASSERT_TRUE(before->Ping().ok());
  // Replace the pair on disk and reload.
  std::filesystem::remove(dir_ + "/cert.pem");
  std::filesystem::remove(dir_ + "/key.pem");
  ASSERT_TRUE(io::net::WriteSelfSignedCert(dir_ + "/cert.pem", dir_ + "/key.pem", "localhost", 3).ok());
  ASSERT_TRUE(server_->ReloadTls().ok());
  EXPECT_TRUE(before->Ping().ok()) << "an open connection was dropped by the reload";
  auto after = Connect();  // verifies against the new certificate
  ASSERT_NE(after, nullptr);
  EXPECT_TRUE(after->Ping().ok());
}

TEST_F(ServerTest, MetricsAreInPrometheusFormat) {
  StartServer(true);
  auto c = Connect();
  ASSERT_TRUE(c->Append({{"t", "c"}, "s", "m", ""}).ok());
  const std::string m = server_->RenderMetrics();
  EXPECT_NE(m.find("# TYPE warbler_append_latency_seconds histogram"), std::string::npos);
  EXPECT_NE(m.find("warbler_append_latency_seconds_bucket{le=\"+Inf\"} 1"), std::string::npos);
  EXPECT_NE(m.find("warbler_requests_total{op=\"append\"} 1"), std::string::npos);
  EXPECT_NE(m.find("warbler_store_conversations 1"), std::string::npos);
  EXPECT_NE(m.find("warbler_connections 1"), std::string::npos);
  // The store's and the partition logs' families come with it.
  EXPECT_NE(m.find("# TYPE warbler_log_commit_seconds histogram"), std::string::npos);
  EXPECT_NE(m.find("warbler_log_fdatasyncs_total{partition=\"0\"}"), std::string::npos);
  EXPECT_NE(m.find("warbler_log_queue_depth{partition=\"1\"} 0"), std::string::npos);
  EXPECT_NE(m.find("warbler_log_group_records_bucket{partition="), std::string::npos);
  EXPECT_NE(m.find("warbler_block_cache_hits_total"), std::string::npos);
}

TEST_F(ServerTest, ShutdownFinishesInFlightAppends) {
  StartServer(true);
  auto c = Connect();
  std::atomic<int> acked{0}, failed{0};
  for (int i = 0; i < 500; ++i) {
    (void)c->AppendAsync({{"t", "c"}, "s", "m", ""}, [&](const Status& s, const AppendAck&) {
      (s.ok() ? acked : failed).fetch_add(1);
    });
  }
  server_->Shutdown();
  for (int i = 0; i < 200 && acked.load() + failed.load() < 500; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Every acked append is in the store.
  EXPECT_GE(store_->Info({"t", "c"})->count, static_cast<uint64_t>(acked.load()));
  EXPECT_GT(acked.load(), 0);
}

}  // namespace
}  // namespace warbler::server
