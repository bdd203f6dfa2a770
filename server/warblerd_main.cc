// warblerd: the Warbler store daemon. Usage: warblerd --help
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "base/log.h"
#include "server/admin_http.h"
#include "server/config.h"
#include "server/server.h"
#include "warbler/store.h"

extern char** environ;

namespace {

constexpr const char* kUsage = R"(usage: warblerd [--config FILE] [--check-config] [--print-default-config]
                [--ready-file FILE]
  --config FILE           TOML configuration (default: the embedded one, see
                          --print-default-config); WARBLER_<SECTION>_<KEY>
                          environment variables override it
  --check-config          validate the configuration and exit (0 = valid)
  --print-default-config  print the embedded configuration and exit
  --ready-file FILE       once serving, write "port=N" and "admin_port=N" lines to FILE
Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reloads the TLS certificate.
)";

int Fail(const std::string& what, const warbler::Status& s) {
  std::fprintf(stderr, "warblerd: %s: %s\n", what.c_str(), s.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace warbler;
  std::string config_path, ready_file;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--ready-file" && i + 1 < argc) {
      ready_file = argv[++i];
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--print-default-config") {
      std::fputs(server::DefaultConfigToml(), stdout);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "warblerd: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  auto config = config_path.empty()
                    ? server::ParseConfig(server::DefaultConfigToml(), "<embedded default config>", env)
                    : server::LoadConfigFile(config_path, env);
  if (!config.ok()) return Fail("configuration", config.status());
  if (Status s = server::CheckConfig(*config); !s.ok()) return Fail("configuration", s);
  if (check_only) {
    std::printf("configuration ok: data_dir=%s listen=%s tls=%s partitions=%u durability=%s\n",
                config->data_dir.c_str(), config->server.listen.c_str(), config->server.tls ? "on" : "off",
                config->store.partitions,
                config->store.durability == DurabilityMode::kSync ? "sync"
                : config->store.durability == DurabilityMode::kInterval ? "interval" : "none");
    return 0;
  }
  SetLogLevel(config->log_level == "debug"  ? LogLevel::kDebug
              : config->log_level == "warn" ? LogLevel::kWarn
              : config->log_level == "error" ? LogLevel::kError
                                             : LogLevel::kInfo);
  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // Every connection is a descriptor: take the hard limit.
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &nofile);
  }
  if (nofile.rlim_cur < config->server.max_connections + 256) {
    WB_LOG(kWarn, "descriptor_limit_low")
        .Kv("nofile", static_cast<uint64_t>(nofile.rlim_cur))
        .Kv("max_connections", config->server.max_connections);
  }
  auto store = Store::Open(config->store, config->data_dir);
  if (!store.ok()) return Fail("opening the store in " + config->data_dir, store.status());
  auto srv = server::Server::Start(config->server, store->get());
  if (!srv.ok()) {
    (void)(*store)->Close();
    if (config->server.tls && srv.status().ToString().find("TLS") != std::string::npos) {
      std::fprintf(stderr, "warblerd: hint: make a development TLS pair with `warbler keygen --tls-dir DIR`\n");
    }
    return Fail("starting the server", srv.status());
  }
  std::unique_ptr<server::AdminHttp> admin;
  if (!config->admin_listen.empty()) {
    server::Server* s = srv->get();
    auto a = server::AdminHttp::Start(config->admin_listen,
                                      {[s] { return s->RenderMetrics(); }, [s] { return s->ready(); }});
    if (!a.ok()) {
      (*srv)->Shutdown();
      (void)(*store)->Close();
      return Fail("starting the admin port", a.status());
    }
    admin = std::move(*a);
  }
  if (!ready_file.empty()) {
    const std::string tmp = ready_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << "port=" << (*srv)->port() << "\nadmin_port=" << (admin ? admin->port() : 0) << "\npid=" << getpid()
          << "\n";
    }
    std::rename(tmp.c_str(), ready_file.c_str());
  }
  WB_LOG(kInfo, "warblerd_ready")
      .Kv("port", (*srv)->port())
      .Kv("admin_port", admin ? admin->port() : 0)
      .Kv("data_dir", config->data_dir);
  while (true) {
    int sig = 0;
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      (void)(*srv)->ReloadTls();
      continue;
    }
    WB_LOG(kInfo, "shutdown_requested").Kv("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    break;
  }
  (*srv)->Shutdown();
  if (admin) admin->Stop();
  srv->reset();
  Status closed = (*store)->Close();
  LogLine(closed.ok() ? LogLevel::kInfo : LogLevel::kError, "warblerd_stopped").Kv("store_close", closed.ToString());
  return closed.ok() ? 0 : 1;
}
