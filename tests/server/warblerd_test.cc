// warblerd as a process: configuration checks, graceful SIGTERM without
// losing an acknowledged append, and 10,000 idle connections.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "io/net/socket.h"
#include "server/config.h"
#include "warbler/client.h"
#include "warbler/store.h"
#include "tests/temp_dir.h"
#include "tests/test_keys.h"

namespace warbler::server {
namespace {

std::string TempDir() { return testing::MakeTempDir("warblerd-test"); }

// Runs warblerd with `env` added; returns its pid.
pid_t Spawn(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    for (const std::string& e : env) putenv(const_cast<char*>(strdup(e.c_str())));
    FILE* f = freopen(log.c_str(), "w", stderr);
    (void)f;
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(WARBLERD_PATH));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(WARBLERD_PATH, argv.data());
    _exit(127);
  }
  return pid;
}

int RunWarblerd(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  pid_t pid = Spawn(args, env, log);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint16_t WaitReady(const std::string& ready, pid_t pid) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream in(ready);
    std::string line;
    if (in && std::getline(in, line) && line.rfind("port=", 0) == 0) return static_cast<uint16_t>(std::stoi(line.substr(5)));
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return 0;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return 0;
}

class WarblerdTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = TempDir(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<std::string> Env() const {
    return {"WARBLER_DATA_DIR=" + dir_ + "/data", "WARBLER_SERVER_LISTEN=127.0.0.1:0",
            "WARBLER_SERVER_ADMIN_LISTEN=", "WARBLER_TLS_ENABLED=false", "WARBLER_STORE_PARTITIONS=2",
            "WARBLER_STORE_KEK_FILE=", std::string("WARBLER_KEK=") + testing::kTestKekHex};
  }
  std::string dir_;
};

TEST(ConfigTest, UnknownKeysAndBadValuesNameTheKey) {
  auto c = ParseConfig("[server]\nlisten = \"127.0.0.1:9\"\nnetwork_threads = 3\n", "t.toml", {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.network_threads, 3u);
  EXPECT_NE(ParseConfig("[server]\nlisen = 1\n", "t.toml", {}).status().ToString().find("server.lisen"),
            std::string::npos);
  EXPECT_NE(ParseConfig("colour = 1\n", "t.toml", {}).status().ToString().find("colour"), std::string::npos);
  EXPECT_NE(ParseConfig("[store]\ndurability = \"fast\"\n", "t.toml", {}).status().ToString().find("store.durability"),
            std::string::npos);
  EXPECT_NE(ParseConfig("[store]\npartitions = \"4\"\n", "t.toml", {}).status().ToString().find("integer"),
            std::string::npos);
  // A float where an integer belongs, however large, is a clear error (under
  // UBSan this also caught toml++ casting 1e74 to int64_t before checking).
  for (const char* v : {"4.0", "4.5", "1.31e74", "-1e300", "inf", "nan"}) {
    EXPECT_NE(ParseConfig(std::string("[server]\nnetwork_threads = ") + v + "\n", "t.toml", {}).status().ToString().find(
                  "server.network_threads must be an integer"),
              std::string::npos)
        << v;
  }
  EXPECT_NE(ParseConfig("[store\n", "t.toml", {}).status().ToString().find("t.toml:1"), std::string::npos);
  auto env = ParseConfig(DefaultConfigToml(), "default", {"WARBLER_STORE_PARTITIONS=8", "WARBLER_DATA_DIR=/x"});
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->store.partitions, 8u);
  EXPECT_EQ(env->data_dir, "/x");
  EXPECT_FALSE(ParseConfig(DefaultConfigToml(), "default", {"WARBLER_SERVER_MAX_INFLIGHT=lots"}).ok());
  auto range = ParseConfig("[store]\nmax_body_bytes = 99999999\n", "t.toml", {});
  ASSERT_TRUE(range.ok());
  EXPECT_FALSE(CheckConfig(*range).ok());
}

TEST_F(WarblerdTest, CheckConfigValidatesWithoutStarting) {
  const std::string cfg = dir_ + "/w.toml";
  std::ofstream(cfg) << "data_dir = \"" << dir_ << "/data\"\n[tls]\nenabled = false\n";
  EXPECT_EQ(RunWarblerd({"--config", cfg, "--check-config"}, {}, dir_ + "/log"), 0) << Slurp(dir_ + "/log");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/data"));
  std::ofstream(cfg) << "data_dir = \"x\"\n[tls]\nenabeld = false\n";
  EXPECT_EQ(RunWarblerd({"--config", cfg, "--check-config"}, {}, dir_ + "/log"), 2);
  EXPECT_NE(Slurp(dir_ + "/log").find("tls.enabeld"), std::string::npos);
}

TEST_F(WarblerdTest, SigtermLosesNoAcknowledgedAppend) {
  const std::string ready = dir_ + "/ready";
  pid_t pid = Spawn({"--ready-file", ready}, Env(), dir_ + "/log");
  const uint16_t port = WaitReady(ready, pid);
  ASSERT_NE(port, 0) << Slurp(dir_ + "/log");
  ClientOptions o;
  o.addresses = {"127.0.0.1:" + std::to_string(port)};
  o.tls = false;
  o.max_retries = 0;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::mutex mu;
  std::set<std::string> acked;
  std::atomic<int> outstanding{0};
  std::atomic<bool> stop{false};
  std::thread producer([&] {
    for (int i = 0; !stop.load(); ++i) {
      while (outstanding.load() > 256 && !stop.load()) std::this_thread::yield();
      std::string body = "msg-" + std::to_string(i);
      outstanding.fetch_add(1);
      Status s = (*c)->AppendAsync({{"t", "conv-" + std::to_string(i % 7)}, "s", body, ""},
                                   [&, body](const Status& st, const AppendAck&) {
                                     if (st.ok()) {
                                       std::lock_guard lock(mu);
                                       acked.insert(body);
                                     }
                                     outstanding.fetch_sub(1);
                                   });
      if (!s.ok()) {
        outstanding.fetch_sub(1);
        break;
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  stop.store(true);
  producer.join();
  (*c)->Close();
  ASSERT_TRUE(WIFEXITED(status)) << Slurp(dir_ + "/log");
  EXPECT_EQ(WEXITSTATUS(status), 0) << Slurp(dir_ + "/log");
  EXPECT_NE(Slurp(dir_ + "/log").find("event=warblerd_stopped store_close=ok"), std::string::npos);
  ASSERT_GT(acked.size(), 100u);
  // Reopen the store: every acknowledged message is there.
  StoreOptions so;
  so.partitions = 2;
  testing::UseTestKek();
  auto store = Store::Open(so, dir_ + "/data");
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  std::set<std::string> stored;
  for (int k = 0; k < 7; ++k) {
    uint64_t seq = 0;
    while (true) {
      auto page = (*store)->After({"t", "conv-" + std::to_string(k)}, seq, 1000);
      ASSERT_TRUE(page.ok()) << page.status().ToString();
      if (page->empty()) break;
      for (const Message& m : *page) stored.insert(m.body);
      seq = page->back().seq;
    }
  }
  for (const std::string& b : acked) ASSERT_TRUE(stored.count(b)) << b << " was acknowledged but is gone";
  ASSERT_TRUE((*store)->Close().ok());
}

TEST_F(WarblerdTest, HoldsTenThousandIdleConnections) {
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  constexpr size_t kConns = 10000;
  if (lim.rlim_cur < kConns + 200) GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << lim.rlim_max << " is below 10,200";
  const std::string ready = dir_ + "/ready";
  std::vector<std::string> env = Env();
  env.push_back("WARBLER_SERVER_ADMIN_LISTEN=127.0.0.1:0");
  pid_t pid = Spawn({"--ready-file", ready}, env, dir_ + "/log");
  const uint16_t port = WaitReady(ready, pid);
  ASSERT_NE(port, 0) << Slurp(dir_ + "/log");
  std::vector<io::net::UniqueFd> conns;
  conns.reserve(kConns);
  for (size_t i = 0; i < kConns; ++i) {
    auto fd = io::net::Connect({"127.0.0.1", port}, 5000);
    ASSERT_TRUE(fd.ok()) << i << ": " << fd.status().ToString();
    conns.push_back(std::move(*fd));
  }
  // With every connection idle and open, a real client is served promptly.
  ClientOptions o;
  o.addresses = {"127.0.0.1:" + std::to_string(port)};
  o.tls = false;
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE((*c)->Append({{"t", "c"}, "s", "m", ""}).ok());
  ASSERT_TRUE((*c)->Ping().ok());
  std::printf("[ info ] append+ping with %zu idle connections: %.2f ms\n", kConns,
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  // The server's resident memory with them (for the record, not asserted).
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS", 0) == 0) std::printf("[ info ] warblerd %s with %zu idle connections\n", line.c_str(), kConns);
  }
  (*c)->Close();
  conns.clear();
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << Slurp(dir_ + "/log");
}

}  // namespace
}  // namespace warbler::server
