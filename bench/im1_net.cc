// IM-1 over the network (issue 6): the write, history and sync phases of
// ../shared/WORKLOAD.md driven through the client library against warblerd,
// and, in the same invocation, against Redis 7 (Debian's redis-server with
// appendonly yes + appendfsync always; messages as Streams: XADD per
// conversation, XREVRANGE … COUNT 50 for history), with the ratios.
//
//   im1 --target host:port [--plaintext] [--ca FILE | --insecure] [options]
//   im1 --target spawn [options]     starts a local warblerd (TLS, dev pair) itself
// Options: --conversations N --messages N --producers N --readers N
//          --history-requests N --sync-requests N --quick --no-redis --redis-server PATH
//          --connections N (warblerd connections shared by the threads; default 2)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/resp_client.h"
#include "io/net/socket.h"
#include "io/net/tls.h"
#include "warbler/client.h"

namespace warbler::bench::net {
namespace {

using Clock = std::chrono::steady_clock;

struct Config {
  std::string target;
  bool tls = true;
  std::string ca;
  bool insecure = false;
  uint32_t conversations = 10000;
  uint64_t messages = 200000;
  int producers = 32;
  int readers = 32;
  uint64_t history_requests = 20000;
  uint64_t sync_requests = 20000;
  bool redis = true;
  std::string redis_server = "redis-server";
  int connections = 2;  // warblerd connections the threads share (pipelined)
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "im1 --target: %s\n", what.c_str());
  std::exit(1);
}

uint64_t NowNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
}

// ---- the IM-1 data: fixed seed, chat-like 200-byte bodies, 16-byte ids ----
struct Workload {
  std::vector<uint32_t> conv_of;   // per message
  std::vector<uint32_t> count;     // per conversation, after the write phase
  std::vector<std::string> bodies;  // 1024 distinct bodies, reused
  std::vector<uint32_t> history_conv, sync_conv;
};

std::string ChatBody(std::mt19937_64& rng) {
  static const char* kWords[] = {"hey", "are", "you", "coming", "tonight", "the", "meeting", "moved", "to",
                                 "three", "ok", "sounds", "good", "see", "there", "lol", "thanks", "did",
                                 "anyone", "read", "doc", "yes", "ship", "it", "later", "maybe", "lunch",
                                 "call", "me", "when", "free", "deploy", "went", "fine", "great", "news"};
  std::string s;
  while (s.size() < 200) {
    if (!s.empty()) s += ' ';
    s += kWords[rng() % (sizeof kWords / sizeof kWords[0])];
  }
  s.resize(200);
  return s;
}

Workload MakeWorkload(const Config& cfg) {
  Workload w;
  std::mt19937_64 rng(0x1A1);
  w.conv_of.resize(cfg.messages);
  w.count.assign(cfg.conversations, 0);
  for (auto& c : w.conv_of) {
    c = static_cast<uint32_t>(rng() % cfg.conversations);
    ++w.count[c];
  }
  for (int i = 0; i < 1024; ++i) w.bodies.push_back(ChatBody(rng));
  auto pick = [&](uint64_t n, std::vector<uint32_t>* out) {
    while (out->size() < n) {
      const uint32_t c = static_cast<uint32_t>(rng() % cfg.conversations);
      if (w.count[c] > 0) out->push_back(c);
    }
  };
  pick(cfg.history_requests, &w.history_conv);
  pick(cfg.sync_requests, &w.sync_conv);
  return w;
}

std::string ConvName(uint32_t c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "conv-%08u", c);
  return buf;
}
std::string Sender(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "user-%011" PRIu64, i % 100000);
  return buf;
}
std::string ClientId(uint64_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "cid-%012" PRIu64, i);
  return buf;
}

// ---- phases ----
struct Phase {
  double ops_per_sec = 0;
  double p50_us = 0, p99_us = 0, p999_us = 0;
  uint64_t errors = 0;
};

template <typename Op>
Phase RunParallel(const char* label, uint64_t total, int threads, Op op) {
  std::vector<uint64_t> lat(total, 0);
  std::atomic<uint64_t> next{0}, done{0}, errors{0};
  const uint64_t start = NowNs();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (uint64_t k = next.fetch_add(1); k < total; k = next.fetch_add(1)) {
        const uint64_t t0 = NowNs();
        if (!op(t, k)) errors.fetch_add(1);
        lat[k] = NowNs() - t0;
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  std::thread progress([&] {
    while (done.load() < total) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      std::fprintf(stderr, "\r%s %" PRIu64 "/%" PRIu64 "   ", label, done.load(), total);
    }
    std::fprintf(stderr, "\r%s done%*s\n", label, 24, "");
  });
  for (auto& w : workers) w.join();
  const double secs = static_cast<double>(NowNs() - start) / 1e9;
  progress.join();
  Phase p;
  p.ops_per_sec = total / secs;
  p.errors = errors.load();
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double q) { return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, size_t(q * (lat.size() - 1)))] / 1e3; };
  p.p50_us = pct(0.50);
  p.p99_us = pct(0.99);
  p.p999_us = pct(0.999);
  return p;
}

struct EngineResult {
  std::string name;
  Phase write, history, sync;
};

// ---- Warbler through the client library ----
EngineResult RunWarbler(const Config& cfg, const Workload& w) {
  EngineResult r;
  r.name = cfg.tls ? "warblerd (TLS)" : "warblerd";
  ClientOptions o;
  o.addresses = {cfg.target};
  o.tls = cfg.tls;
  o.ca_file = cfg.ca;
  o.verify = !cfg.insecure;
  o.server_name = "localhost";
  // --connections N: the producers and readers share N pipelined connections
  // (default 2, a chat server's small pool; 0 = one per thread like the Redis
  // clients, which are not pipelined).
  const int conns = cfg.connections > 0 ? cfg.connections : std::max(cfg.producers, cfg.readers);
  std::vector<std::unique_ptr<Client>> pool;
  for (int i = 0; i < conns; ++i) {
    auto c = Client::Connect(o);
    if (!c.ok()) Die("connect to " + cfg.target + ": " + c.status().ToString());
    pool.push_back(std::move(*c));
  }
  struct Pick {
    std::vector<std::unique_ptr<Client>>* pool;
    Client* operator[](int t) const { return (*pool)[static_cast<size_t>(t) % pool->size()].get(); }
  } clients{&pool};
  const std::string tenant = "im1";
  std::atomic<bool> reported{false};
  auto report = [&](const char* what, const Status& s) {
    if (!reported.exchange(true)) std::fprintf(stderr, "warblerd %s: %s\n", what, s.ToString().c_str());
  };
  r.write = RunParallel("warblerd write", cfg.messages, cfg.producers, [&](int t, uint64_t i) {
    const std::string conv = ConvName(w.conv_of[i]), sender = Sender(i), cid = ClientId(i);
    auto ack = clients[t]->Append({{tenant, conv}, sender, w.bodies[i % w.bodies.size()], cid});
    if (!ack.ok()) report("append", ack.status());
    return ack.ok();
  });
  r.history = RunParallel("warblerd history", w.history_conv.size(), cfg.readers, [&](int t, uint64_t k) {
    const uint32_t c = w.history_conv[k];
    auto msgs = clients[t]->Latest({tenant, ConvName(c)}, 50);
    if (!msgs.ok()) report("latest", msgs.status());
    return msgs.ok() && msgs->size() == std::min<uint64_t>(50, w.count[c]);
  });
  r.sync = RunParallel("warblerd sync", w.sync_conv.size(), cfg.readers, [&](int t, uint64_t k) {
    const uint32_t c = w.sync_conv[k];
    const uint64_t from = w.count[c] > 20 ? w.count[c] - 20 : 0;
    auto msgs = clients[t]->After({tenant, ConvName(c)}, from, 1000);
    if (!msgs.ok()) report("after", msgs.status());
    return msgs.ok() && msgs->size() == w.count[c] - from;
  });
  return r;
}

// ---- Redis Streams ----
struct RedisProcess {
  pid_t pid = -1;
  uint16_t port = 0;
  std::string dir;
  ~RedisProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

uint16_t FreePort() {
  auto fd = io::net::Listen({"127.0.0.1", 0}, 1);
  if (!fd.ok()) Die("no free port: " + fd.status().ToString());
  return *io::net::LocalPort(fd->get());
}

void StartRedis(const Config& cfg, RedisProcess* rp) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "im1-redis-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp");
  rp->dir = tmpl;
  rp->port = FreePort();
  std::fflush(nullptr);
  rp->pid = fork();
  if (rp->pid == 0) {
    const std::string port = std::to_string(rp->port);
    FILE* f = freopen((rp->dir + "/redis.log").c_str(), "w", stdout);
    (void)f;
    execlp(cfg.redis_server.c_str(), cfg.redis_server.c_str(), "--port", port.c_str(), "--bind", "127.0.0.1",
           "--dir", rp->dir.c_str(), "--appendonly", "yes", "--appendfsync", "always", "--save", "",
           "--daemonize", "no", "--protected-mode", "no", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 200; ++i) {
    auto c = RespClient::Connect("127.0.0.1", rp->port);
    if (c.ok()) {
      auto pong = (*c)->Command({"PING"});
      if (pong.ok()) return;
    }
    int st;
    if (waitpid(rp->pid, &st, WNOHANG) == rp->pid) {
      rp->pid = -1;
      Die("redis-server exited at start (is it installed? scripts/bootstrap installs it)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  Die("redis-server did not answer PING");
}

EngineResult RunRedis(const Config& cfg, const Workload& w, std::string* version) {
  RedisProcess rp;
  StartRedis(cfg, &rp);
  EngineResult r;
  r.name = "redis (aof always)";
  const int conns = std::max(cfg.producers, cfg.readers);
  std::vector<std::unique_ptr<RespClient>> clients;
  for (int i = 0; i < conns; ++i) {
    auto c = RespClient::Connect("127.0.0.1", rp.port);
    if (!c.ok()) Die("connect to redis: " + c.status().ToString());
    clients.push_back(std::move(*c));
  }
  auto info = clients[0]->Command({"INFO", "server"});
  if (info.ok()) {
    const size_t p = info->str.find("redis_version:");
    if (p != std::string::npos) *version = info->str.substr(p + 14, info->str.find('\r', p) - p - 14);
  }
  std::atomic<bool> reported{false};
  auto report = [&](const char* what, const Status& s) {
    if (!reported.exchange(true)) std::fprintf(stderr, "redis %s: %s\n", what, s.ToString().c_str());
  };
  r.write = RunParallel("redis write", cfg.messages, cfg.producers, [&](int t, uint64_t i) {
    const std::string key = "im1/" + ConvName(w.conv_of[i]), sender = Sender(i), cid = ClientId(i);
    auto v = clients[t]->Command({"XADD", key, "*", "s", sender, "c", cid, "b", w.bodies[i % w.bodies.size()]});
    if (!v.ok()) report("xadd", v.status());
    return v.ok();
  });
  r.history = RunParallel("redis history", w.history_conv.size(), cfg.readers, [&](int t, uint64_t k) {
    const uint32_t c = w.history_conv[k];
    auto v = clients[t]->Command({"XREVRANGE", "im1/" + ConvName(c), "+", "-", "COUNT", "50"});
    if (!v.ok()) report("xrevrange", v.status());
    return v.ok() && v->elements.size() == std::min<uint64_t>(50, w.count[c]);
  });
  // "All after seq S = last - 20": Streams have no per-conversation seq, so the
  // same reply (the newest 20) is asked for with XREVRANGE … COUNT 20.
  r.sync = RunParallel("redis sync", w.sync_conv.size(), cfg.readers, [&](int t, uint64_t k) {
    const uint32_t c = w.sync_conv[k];
    const uint64_t want = std::min<uint64_t>(20, w.count[c]);
    auto v = clients[t]->Command({"XREVRANGE", "im1/" + ConvName(c), "+", "-", "COUNT", "20"});
    if (!v.ok()) report("xrevrange", v.status());
    return v.ok() && v->elements.size() == want;
  });
  return r;
}

// ---- a local warblerd for --target spawn ----
struct Warblerd {
  pid_t pid = -1;
  std::string dir;
  ~Warblerd() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
};

std::string SpawnWarblerd(Config* cfg, Warblerd* wd) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "im1-warblerd-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp");
  wd->dir = tmpl;
  if (Status s = io::net::WriteSelfSignedCert(tmpl + "/cert.pem", tmpl + "/key.pem", "localhost", 1); !s.ok()) {
    Die(s.ToString());
  }
  const std::string exe = (std::filesystem::path(std::filesystem::read_symlink("/proc/self/exe")).parent_path() /
                           ".." / "server" / "warblerd").string();
  const std::string ready = tmpl + "/ready";
  std::fflush(nullptr);
  wd->pid = fork();
  if (wd->pid == 0) {
    setenv("WARBLER_DATA_DIR", (tmpl + "/data").c_str(), 1);
    setenv("WARBLER_SERVER_LISTEN", "127.0.0.1:0", 1);
    setenv("WARBLER_SERVER_ADMIN_LISTEN", "", 1);
    setenv("WARBLER_TLS_ENABLED", cfg->tls ? "true" : "false", 1);
    setenv("WARBLER_TLS_CERT", (tmpl + "/cert.pem").c_str(), 1);
    setenv("WARBLER_TLS_KEY", (tmpl + "/key.pem").c_str(), 1);
    setenv("WARBLER_STORE_KEK_FILE", "", 1);
    setenv("WARBLER_KEK", "62656e63682d6f6e6c792d6b656b2d6e6f742d666f722d70726f647563742121", 0);
    setenv("WARBLER_LOG_LEVEL", "warn", 1);
    execl(exe.c_str(), exe.c_str(), "--ready-file", ready.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 400; ++i) {
    std::ifstream in(ready);
    std::string line;
    if (in && std::getline(in, line) && line.rfind("port=", 0) == 0) {
      cfg->ca = tmpl + "/cert.pem";
      return "127.0.0.1:" + line.substr(5);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  Die("warblerd (" + exe + ") did not start");
}

void PrintPhase(const char* title, const std::vector<EngineResult>& rs, Phase EngineResult::*ph,
                const char* unit) {
  std::printf("\n== %s ==\n%-22s %12s %10s %10s %10s %8s\n", title, "engine", unit, "p50 us", "p99 us",
              "p999 us", "errors");
  for (const EngineResult& r : rs) {
    const Phase& p = r.*ph;
    std::printf("%-22s %12.0f %10.1f %10.1f %10.1f %8" PRIu64 "\n", r.name.c_str(), p.ops_per_sec, p.p50_us,
                p.p99_us, p.p999_us, p.errors);
  }
  if (rs.size() == 2) {
    const Phase& a = rs[0].*ph;
    const Phase& b = rs[1].*ph;
    std::printf("%-22s %11.2fx %9.2fx %9.2fx %9.2fx\n", "warblerd/redis", a.ops_per_sec / b.ops_per_sec,
                a.p50_us / b.p50_us, a.p99_us / b.p99_us, a.p999_us / b.p999_us);
  }
}

}  // namespace

int RunNetworkIm1(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--target") cfg.target = next();
    else if (a == "--plaintext") cfg.tls = false;
    else if (a == "--ca") cfg.ca = next();
    else if (a == "--insecure") cfg.insecure = true;
    else if (a == "--conversations") cfg.conversations = static_cast<uint32_t>(std::stoul(next()));
    else if (a == "--messages") cfg.messages = std::stoull(next());
    else if (a == "--producers") cfg.producers = std::stoi(next());
    else if (a == "--readers") cfg.readers = std::stoi(next());
    else if (a == "--history-requests") cfg.history_requests = std::stoull(next());
    else if (a == "--sync-requests") cfg.sync_requests = std::stoull(next());
    else if (a == "--no-redis" || a == "--no-baseline") cfg.redis = false;
    else if (a == "--redis-server") cfg.redis_server = next();
    else if (a == "--connections") cfg.connections = std::stoi(next());
    else if (a == "--quick") {
      cfg.conversations = 2000;
      cfg.messages = 20000;
      cfg.history_requests = cfg.sync_requests = 2000;
    } else {
      Die("unknown argument " + a + " (network mode takes --target, --plaintext, --ca, --insecure, "
          "--conversations, --messages, --producers, --readers, --history-requests, --sync-requests, "
          "--quick, --no-redis, --redis-server, --connections)");
    }
  }
  if (cfg.conversations == 0 || cfg.messages == 0) Die("--conversations and --messages must be positive");
  signal(SIGPIPE, SIG_IGN);
  Warblerd spawned;
  if (cfg.target == "spawn") cfg.target = SpawnWarblerd(&cfg, &spawned);
  const Workload w = MakeWorkload(cfg);
  std::printf("im1: IM-1 over the network, %u conversations (uniform), %" PRIu64
              " messages of 200 B, %d producers and %d readers; warblerd: %d shared connections, redis: one each;"
              " %u cpus, target %s%s\n",
              cfg.conversations, cfg.messages, cfg.producers, cfg.readers, cfg.connections,
              std::thread::hardware_concurrency(),
              cfg.target.c_str(), spawned.pid > 0 ? " (spawned warblerd, embedded default config)" : "");
  std::vector<EngineResult> rs;
  rs.push_back(RunWarbler(cfg, w));
  std::string redis_version = "?";
  if (cfg.redis) rs.push_back(RunRedis(cfg, w, &redis_version));
  std::printf("warblerd: %s, every append durable (fdatasync) and encrypted at rest before its ack\n",
              cfg.tls ? "TLS 1.3" : "plaintext");
  if (cfg.redis) {
    std::printf("redis %s: plaintext, appendonly yes, appendfsync always, Streams (XADD / XREVRANGE COUNT)\n",
                redis_version.c_str());
  }
  PrintPhase("write: each message acked when durable", rs, &EngineResult::write, "msgs/s");
  PrintPhase("history: newest 50 of a random conversation", rs, &EngineResult::history, "req/s");
  PrintPhase("sync: all after last seq - 20", rs, &EngineResult::sync, "req/s");
  uint64_t errors = 0;
  for (const EngineResult& r : rs) errors += r.write.errors + r.history.errors + r.sync.errors;
  return errors == 0 ? 0 : 1;
}

}  // namespace warbler::bench::net
