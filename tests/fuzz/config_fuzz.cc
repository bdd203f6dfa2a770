// Fuzz target for warblerd's configuration (docs/configuration.md): the TOML
// text of --config, the WARBLER_* environment overrides, and the addresses
// and backend names read from them, as warblerd_main.cc, Server::Start and
// the file system backends read them. A bad file or variable is an
// InvalidArgument naming it; none may crash or throw out of ParseConfig.
//
// Input: the TOML text, then optionally a NUL byte and environment strings
// ("KEY=VALUE"), one a line.
// libFuzzer build: scripts/fuzz; every test run: config_fuzz_smoke_test.cc.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/file_system.h"
#include "io/net/socket.h"
#include "server/config.h"
#include "tests/fuzz/fuzz_util.h"

namespace warbler::server {
namespace {

// An address as the server, the admin endpoint and the client parse it.
void ParseAddress(const std::string& s) {
  auto hp = io::net::ParseHostPort(s);
  if (!hp.ok()) return;
  FuzzTouch(hp->host);
  FuzzTouch(hp->port);
  FuzzTouch(io::net::IsLoopbackHost(hp->host));
}

void TouchConfig(const Config& c) {
  FuzzTouch(c.data_dir);
  FuzzTouch(c.log_level);
  FuzzTouch(c.admin_listen);
  const ServerOptions& s = c.server;
  FuzzTouch(s.listen);
  FuzzTouch(s.tls_cert);
  FuzzTouch(s.tls_key);
  FuzzTouch(s.tls ^ s.allow_remote_plaintext ^ s.network_threads ^ s.worker_threads ^ s.worker_queue ^
        s.max_connections ^ s.max_frame_bytes ^ s.max_inflight ^ s.max_output_bytes ^
        s.max_subscription_buffer ^ s.shutdown_timeout_ms);
  const StoreOptions& o = c.store;
  FuzzTouch(o.kek_file);
  FuzzTouch(o.previous_kek_file);
  FuzzTouch(o.partitions ^ o.segment_bytes ^ static_cast<uint64_t>(o.durability) ^ o.sync_interval_ms ^
        o.compress ^ static_cast<uint64_t>(o.zstd_level) ^ o.compression_dictionaries ^
        o.dictionary_sample_bytes ^ o.dictionary_max_bytes ^ o.dictionary_max_count ^ o.tail_index_bytes ^
        o.queue_capacity ^ static_cast<uint64_t>(o.io) ^ o.max_body_bytes ^ o.max_sender_bytes ^
        o.max_client_id_bytes ^ o.max_read_count ^ o.dedup_window_ms ^ o.dedup_max_entries ^
        o.block_cache_bytes ^ o.recent_cache_bytes ^ o.encryption ^ static_cast<uint64_t>(o.recovery));
}

// Every key of docs/configuration.md, each within its range.
const char kEveryKey[] = R"(data_dir = "/var/lib/warbler"
log_level = "warn"

[server]
listen = "[::1]:7450"
admin_listen = ""
network_threads = 4
worker_threads = 8
worker_queue = 1024
max_connections = 100
max_frame_bytes = 65536
max_inflight = 64
max_output_bytes = 1048576
max_subscription_buffer = 65536
shutdown_timeout_ms = 500
allow_remote_plaintext = false

[tls]
enabled = true
cert = "/etc/warbler/cert.pem"
key = "/etc/warbler/key.pem"

[store]
partitions = 8
segment_bytes = 67108864
durability = "interval"
sync_interval_ms = 5
compress = true
zstd_level = 3
compression_dictionaries = true
dictionary_sample_bytes = 131072
dictionary_max_bytes = 8192
dictionary_max_count = 16
tail_index_bytes = 16777216
queue_capacity = 4096
io = "posix"
max_body_bytes = 65536
max_sender_bytes = 64
max_client_id_bytes = 32
max_read_count = 500
dedup_window_ms = 60000
dedup_max_entries = 1024
block_cache_bytes = 8388608
recent_cache_bytes = 8388608
encryption = true
recovery = "quarantine"
kek_file = "/etc/warbler/kek"
previous_kek_file = "/etc/warbler/kek.old"
)";

}  // namespace

// Valid inputs: the embedded default, every key set, environment overrides
// (the smoke test mutates them; scripts/fuzz starts libFuzzer from them).
std::vector<std::string> ConfigSeeds() {
  const std::string defaults = DefaultConfigToml();
  return {
      defaults,
      kEveryKey,
      defaults + std::string(1, '\0') +
          "WARBLER_STORE_PARTITIONS=16\nWARBLER_SERVER_LISTEN=0.0.0.0:9000\nWARBLER_IO=posix\nPATH=/bin\n"
          "WARBLER_STORE_COMPRESS=false\nWARBLER_LOG_LEVEL=debug",
      std::string(kEveryKey) + std::string(1, '\0') + "WARBLER_TLS_ENABLED=0\nWARBLER_SERVER_LISTEN=127.0.0.1:0",
  };
}

// Parses and checks the configuration the way warblerd starts; true when it
// would start with it.
bool FuzzConfig(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nul = in.find('\0');
  const std::string toml(in.substr(0, nul));
  std::vector<std::string> env;
  if (nul != std::string_view::npos) {
    std::string_view rest = in.substr(nul + 1);
    while (!rest.empty()) {
      const size_t nl = rest.find('\n');
      env.emplace_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    }
  }
  for (const std::string& kv : env) {
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string value = kv.substr(eq + 1);
    if (kv.compare(0, eq, "WARBLER_IO") == 0) {  // io/default_fs.cc
      if (auto b = io::ParseBackend(value); b.ok()) FuzzTouch(static_cast<uint64_t>(*b));
    }
    ParseAddress(value);
  }
  auto config = ParseConfig(toml, "fuzz.toml", env);
  if (!config.ok()) return false;
  TouchConfig(*config);
  ParseAddress(config->server.listen);
  if (!config->admin_listen.empty()) ParseAddress(config->admin_listen);
  return CheckConfig(*config).ok();
}

}  // namespace warbler::server

#ifdef WARBLER_LIBFUZZER
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = warbler::FuzzSeedDir()) warbler::WriteFuzzSeeds(dir, warbler::server::ConfigSeeds());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)warbler::server::FuzzConfig(data, size);
  return 0;
}
#endif
