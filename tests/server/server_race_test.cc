// Concurrency regression tests for the server and the client library: many
// threads on one client, metrics scraped, subscriptions streaming, and the
// server stopped (or restarted) under load. They assert little beyond "no
// hang, every call answers"; their value is running under ThreadSanitizer
// (the tsan preset), where each guards a race that was fixed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>
#include <vector>

#include "io/net/tls.h"
#include "server/server.h"
#include "tests/temp_dir.h"
#include "tests/test_keys.h"
#include "warbler/client.h"
#include "warbler/store.h"

namespace warbler::server {
namespace {

using namespace std::chrono_literals;

std::string TempDir() { return testing::MakeTempDir("warbler-race-test"); }

class ServerRaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::UseTestKek();
    dir_ = TempDir();
    ASSERT_TRUE(io::net::WriteSelfSignedCert(dir_ + "/cert.pem", dir_ + "/key.pem", "localhost", 2).ok());
    StoreOptions so;
    so.partitions = 2;
    so.segment_bytes = 1u << 20;  // small: rolls and seals happen under the readers
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
  void StartServer(ServerOptions o, uint16_t port = 0) {
    o.listen = "127.0.0.1:" + std::to_string(port);
    o.tls = true;
    o.tls_cert = dir_ + "/cert.pem";
    o.tls_key = dir_ + "/key.pem";
    auto s = Server::Start(o, store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  }
  std::unique_ptr<Client> Connect(int max_retries = 3) {
    ClientOptions o;
    o.addresses = {"127.0.0.1:" + std::to_string(server_->port())};
    o.ca_file = dir_ + "/cert.pem";
    o.server_name = "localhost";
    o.max_retries = max_retries;
    o.retry_backoff_ms = 20;
    o.request_timeout_ms = 20000;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
};

// Blocking calls from many threads over one shared client, async appends on
// other connections, a subscriber and a metrics scraper, all at once.
TEST_F(ServerRaceTest, SharedClientReadersWritersSubscribersAndMetrics) {
  StartServer({});
  auto shared = Connect();
  ASSERT_NE(shared, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> events{0}, errors{0};
  auto sub = shared->Subscribe(0, 0, [&](const Status& s, std::vector<Event> ev, uint64_t) {
    if (s.ok()) events.fetch_add(ev.size());
  });
  ASSERT_TRUE(sub.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string name = "room-" + std::to_string(t % 2);  // the ref holds views
      const ConversationRef room{"t", name};
      for (int i = 0; !stop.load(); ++i) {
        if (!shared->Append({room, "s", std::string(200, 'x'), ""}).ok()) errors.fetch_add(1);
        if (!shared->Latest(room, 5).ok()) errors.fetch_add(1);
        if (!shared->Info(room).ok()) errors.fetch_add(1);
        if (i % 8 == 0 && !shared->AppendBatch(std::vector<AppendRequest>{{room, "s", "a", ""},
                                                                         {{"t", "other"}, "s", "b", ""}})
                               .ok()) {
          errors.fetch_add(1);
        }
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      auto own = Connect();
      if (own == nullptr) return;
      std::atomic<int> pending{0};
      while (!stop.load()) {
        if (pending.load() > 200) {
          std::this_thread::sleep_for(1ms);
          continue;
        }
        pending.fetch_add(1);
        Status s = own->AppendAsync({{"async", std::to_string(t)}, "s", "m", ""},
                                    [&](const Status&, const AppendAck&) { pending.fetch_sub(1); });
        if (!s.ok()) pending.fetch_sub(1);
      }
      while (pending.load() > 0) std::this_thread::sleep_for(1ms);
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      EXPECT_FALSE(server_->RenderMetrics().empty());
      std::this_thread::sleep_for(2ms);
    }
  });
  std::this_thread::sleep_for(1500ms);
  stop.store(true);
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_GT(events.load(), 0u);
  EXPECT_TRUE(shared->Unsubscribe(*sub).ok());
}

// Certificates reloaded while connections are being accepted, and
// subscriptions opened and closed (or dropped with their connection) while
// the subscription thread streams to them.
TEST_F(ServerRaceTest, TlsReloadAndSubscriptionChurnUnderTraffic) {
  StartServer({});
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    auto c = Connect();
    if (c == nullptr) return;
    for (int i = 0; !stop.load(); ++i) (void)c->Append({{"t", "c" + std::to_string(i % 5)}, "s", "m", ""});
  });
  threads.emplace_back([&] {
    while (!stop.load()) {
      EXPECT_TRUE(server_->ReloadTls().ok());
      std::this_thread::sleep_for(10ms);
    }
  });
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        auto c = Connect();  // a fresh handshake against whichever context is current
        if (c == nullptr) return;
        for (int i = 0; i < 5; ++i) {
          auto sub = c->Subscribe(static_cast<uint32_t>(i % 2), 0, [](const Status&, std::vector<Event>, uint64_t) {});
          EXPECT_TRUE(sub.ok());
          if (sub.ok() && i % 2 == 0) (void)c->Unsubscribe(*sub);
        }
        c->Close();  // the odd ones go with the connection
      }
    });
  }
  std::this_thread::sleep_for(1500ms);
  stop.store(true);
  for (auto& th : threads) th.join();
}

// Shutdown gives in-flight requests no time at all: the store's callbacks
// for abandoned appends then post into mailboxes of loops being destroyed.
TEST_F(ServerRaceTest, ShutdownAbandoningInFlightRequests) {
  for (int round = 0; round < 5; ++round) {
    ServerOptions o;
    o.shutdown_timeout_ms = 0;
    o.network_threads = 2;
    StartServer(o);
    std::vector<std::unique_ptr<Client>> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(Connect(0));
    std::atomic<int> answered{0};
    int sent = 0;
    for (int i = 0; i < 300; ++i) {
      for (auto& c : clients) {
        if (c == nullptr) continue;
        if (c->AppendAsync({{"t", "c" + std::to_string(i % 7)}, "s", "m", ""},
                           [&](const Status&, const AppendAck&) { answered.fetch_add(1); })
                .ok()) {
          ++sent;
        }
      }
    }
    server_->Shutdown();
    server_.reset();
    for (auto& c : clients) {
      if (c != nullptr) c->Close();  // fails whatever the server never answered
    }
    EXPECT_EQ(answered.load(), sent);
    // Let the store finish the abandoned appends (their callbacks find closed mailboxes).
    std::this_thread::sleep_for(50ms);
  }
}

// The server goes away and comes back on the same port while several
// threads keep calling one client: connections break under concurrent
// sends, the client fails every pending call and reconnects.
TEST_F(ServerRaceTest, ClientReconnectsUnderConcurrentCallsWhileServerRestarts) {
  StartServer({});
  const uint16_t port = server_->port();
  auto c = Connect(/*max_retries=*/20);
  ASSERT_NE(c, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ok{0};
  std::atomic<int> resent{0};
  // A failed async append is sent again from its callback, on the reader
  // thread of the broken connection, while other threads reconnect.
  std::function<void(const Status&, const AppendAck&)> resend = [&](const Status& s, const AppendAck&) {
    if (!s.ok() && !stop.load() && resent.fetch_add(1) < 2000) {
      (void)c->AppendAsync({{"t", "a"}, "s", "m", ""}, resend);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      while (!stop.load()) {
        if (c->Append({{"t", "r" + std::to_string(t)}, "s", "m", ""}).ok()) ok.fetch_add(1);
        (void)c->Ping();
        for (int i = 0; i < 20; ++i) (void)c->AppendAsync({{"t", "a"}, "s", "m", ""}, resend);
      }
    });
  }
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(200ms);
    server_->Shutdown();
    server_.reset();
    std::this_thread::sleep_for(50ms);
    StartServer({}, port);
    if (server_ == nullptr) break;
  }
  std::this_thread::sleep_for(200ms);
  stop.store(true);
  for (auto& th : threads) th.join();
  EXPECT_GT(ok.load(), 0u);
  EXPECT_TRUE(c->Ping().ok());
  c->Close();  // runs the last callbacks while what they capture is alive
}

}  // namespace
}  // namespace warbler::server
