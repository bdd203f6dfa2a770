// The `warbler` CLI against a real warblerd (TLS, verified with --ca).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>

#include "io/net/tls.h"
#include "server/server.h"
#include "warbler/client.h"
#include "warbler/store.h"
#include "tests/temp_dir.h"
#include "tests/test_keys.h"

namespace warbler::server {
namespace {

struct Output {
  int code;
  std::string out;
};

Output Cli(const std::string& args) {
  const std::string cmd = std::string(WARBLER_CLI_PATH) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Output o{-1, ""};
  if (p == nullptr) return o;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) o.out.append(buf, n);
  const int st = pclose(p);
  o.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return o;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::UseTestKek();
    dir_ = testing::MakeTempDir("warbler-cli-test");
    // keygen makes the TLS pair the server uses.
    Output k = Cli("keygen --tls-dir " + dir_ + "/tls --kek " + dir_ + "/kek");
    ASSERT_EQ(k.code, 0) << k.out;
    EXPECT_EQ(std::filesystem::status(dir_ + "/kek").permissions() & std::filesystem::perms::all,
              std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    auto store = Store::Open(StoreOptions{}, dir_ + "/data");
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.tls_cert = dir_ + "/tls/cert.pem";
    o.tls_key = dir_ + "/tls/key.pem";
    auto s = Server::Start(o, store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    common_ = "-s 127.0.0.1:" + std::to_string(server_->port()) + " --ca " + dir_ + "/tls/cert.pem";
  }
  void TearDown() override {
    server_.reset();
    if (store_) (void)store_->Close();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_, common_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Server> server_;
};

TEST_F(CliTest, SendHistoryInfoTailPing) {
  Output ping = Cli("ping " + common_);
  ASSERT_EQ(ping.code, 0) << ping.out;
  EXPECT_NE(ping.out.find("pong"), std::string::npos);
  Output s1 = Cli("send " + common_ + " -t acme -c room --sender ann 'hello there' --json");
  ASSERT_EQ(s1.code, 0) << s1.out;
  EXPECT_NE(s1.out.find("\"seq\":1"), std::string::npos) << s1.out;
  Output s2 = Cli("send " + common_ + " -t acme -c room --client-id k1 'second'");
  ASSERT_EQ(s2.code, 0) << s2.out;
  Output s3 = Cli("send " + common_ + " -t acme -c room --client-id k1 'second'");
  EXPECT_NE(s3.out.find("a retry"), std::string::npos) << s3.out;
  Output h = Cli("history " + common_ + " -t acme -c room --json");
  ASSERT_EQ(h.code, 0) << h.out;
  EXPECT_NE(h.out.find("\"body\":\"hello there\""), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("\"seq\":2"), std::string::npos) << h.out;
  EXPECT_EQ(h.out.find("\"seq\":3"), std::string::npos) << h.out;
  Output human = Cli("history " + common_ + " -t acme -c room");
  EXPECT_NE(human.out.find("ann"), std::string::npos) << human.out;
  Output i = Cli("info " + common_ + " -t acme -c room --json");
  EXPECT_NE(i.out.find("\"count\":2"), std::string::npos) << i.out;
  // Both messages are in one partition's log; tail them from offset 0 of every partition.
  int seen = 0;
  for (uint32_t p = 0; p < store_->partitions(); ++p) {
    uint64_t next = 0;
    auto r = store_->ReadLog(p, 0, 1 << 20, &next);
    ASSERT_TRUE(r.ok());
    if (r->empty()) continue;
    Output t = Cli("tail " + common_ + " -p " + std::to_string(p) + " --max " + std::to_string(r->size()) + " --json");
    ASSERT_EQ(t.code, 0) << t.out;
    EXPECT_NE(t.out.find("\"conversation\":\"room\""), std::string::npos) << t.out;
    seen += static_cast<int>(r->size());
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(CliTest, ErrorsAreClearAndExitNonZero) {
  Output bad = Cli("history " + common_ + " -c room -n 0");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.out.find("max_read_count"), std::string::npos) << bad.out;
  Output untrusted = Cli("ping -s 127.0.0.1:" + std::to_string(server_->port()));  // system CAs do not know it
  EXPECT_NE(untrusted.code, 0);
  EXPECT_NE(untrusted.out.find("TLS"), std::string::npos) << untrusted.out;
  Output down = Cli("ping --plaintext -s 127.0.0.1:1");
  EXPECT_NE(down.code, 0);
  EXPECT_NE(down.out.find("unavailable"), std::string::npos) << down.out;
}

TEST_F(CliTest, LoadReportsThroughputAndLatency) {
  Output l = Cli("load " + common_ + " --messages 2000 --conversations 50 --json");
  ASSERT_EQ(l.code, 0) << l.out;
  EXPECT_NE(l.out.find("\"failed\":0"), std::string::npos) << l.out;
  EXPECT_NE(l.out.find("\"p99_us\""), std::string::npos) << l.out;
  EXPECT_EQ(store_->Stats().appends, 2000u);
}

TEST_F(CliTest, ClientReconnectsAfterTheServerComesBack) {
  ClientOptions o;
  o.addresses = {"127.0.0.1:" + std::to_string(server_->port())};
  o.ca_file = dir_ + "/tls/cert.pem";
  o.server_name = "localhost";
  o.retry_backoff_ms = 50;
  o.max_retries = 10;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE((*c)->Append({{"t", "r"}, "s", "one", ""}).ok());
  const uint16_t port = server_->port();
  server_.reset();  // the connection breaks
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ServerOptions so;
    so.listen = "127.0.0.1:" + std::to_string(port);
    so.tls_cert = dir_ + "/tls/cert.pem";
    so.tls_key = dir_ + "/tls/key.pem";
    auto s = Server::Start(so, store_.get());
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
  });
  auto ack = (*c)->Append({{"t", "r"}, "s", "two", ""});
  restart.join();
  ASSERT_TRUE(ack.ok()) << ack.status().ToString();
  EXPECT_EQ(ack->seq, 2u);
  EXPECT_EQ(store_->Info({"t", "r"})->count, 2u);
}

}  // namespace
}  // namespace warbler::server
