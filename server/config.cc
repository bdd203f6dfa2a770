#include "server/config.h"

#include <toml++/toml.h>

#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "engine/store/store_impl.h"

namespace warbler::server {
namespace {

// One configurable key: how to set it from a TOML value or an env string.
struct Key {
  std::function<Status(const toml::node&)> from_toml;
  std::function<Status(const std::string&)> from_env;
};

template <typename T>
Status SetInt(T* dst, int64_t v, const std::string& name) {
  if (v < 0 || static_cast<uint64_t>(v) > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
    return Status::InvalidArgument(name + " = " + std::to_string(v) + " is out of range");
  }
  *dst = static_cast<T>(v);
  return Status::Ok();
}

template <typename T>
Key IntKey(T* dst, const std::string& name) {
  return Key{[dst, name](const toml::node& n) -> Status {
               // Type first: toml++ 3.3's value<int64_t>() of a float casts
               // before it checks the range (undefined for 1e74, found by
               // tests/fuzz/config_fuzz.cc).
               if (!n.is_integer()) return Status::InvalidArgument(name + " must be an integer");
               return SetInt(dst, n.as_integer()->get(), name);
             },
             [dst, name](const std::string& s) -> Status {
               char* end = nullptr;
               const long long v = std::strtoll(s.c_str(), &end, 10);
               if (s.empty() || *end != '\0') return Status::InvalidArgument(name + " must be an integer, not '" + s + "'");
               return SetInt(dst, static_cast<int64_t>(v), name);
             }};
}

Key StrKey(std::string* dst, const std::string& name) {
  return Key{[dst, name](const toml::node& n) -> Status {
               auto v = n.value<std::string>();
               if (!n.is_string() || !v) return Status::InvalidArgument(name + " must be a string");
               *dst = *v;
               return Status::Ok();
             },
             [dst](const std::string& s) -> Status {
               *dst = s;
               return Status::Ok();
             }};
}

Key BoolKey(bool* dst, const std::string& name) {
  return Key{[dst, name](const toml::node& n) -> Status {
               auto v = n.value<bool>();
               if (!n.is_boolean() || !v) return Status::InvalidArgument(name + " must be true or false");
               *dst = *v;
               return Status::Ok();
             },
             [dst, name](const std::string& s) -> Status {
               if (s == "true" || s == "1") {
                 *dst = true;
               } else if (s == "false" || s == "0") {
                 *dst = false;
               } else {
                 return Status::InvalidArgument(name + " must be true or false, not '" + s + "'");
               }
               return Status::Ok();
             }};
}

template <typename E>
Key EnumKey(E* dst, const std::string& name, std::map<std::string, E> values) {
  auto set = [dst, name, values](const std::string& s) -> Status {
    auto it = values.find(s);
    if (it == values.end()) {
      std::string allowed;
      for (const auto& [k, v] : values) allowed += (allowed.empty() ? "" : ", ") + k;
      return Status::InvalidArgument(name + " = '" + s + "' is not one of " + allowed);
    }
    *dst = it->second;
    return Status::Ok();
  };
  return Key{[set, name](const toml::node& n) -> Status {
               auto v = n.value<std::string>();
               if (!n.is_string() || !v) return Status::InvalidArgument(name + " must be a string");
               return set(*v);
             },
             set};
}

// "section.key" → setter. Top-level keys have no section.
std::map<std::string, Key> Keys(Config* c) {
  std::map<std::string, Key> k;
  k.emplace("data_dir", StrKey(&c->data_dir, "data_dir"));
  k.emplace("log_level", EnumKey(&c->log_level, "log_level",
                                 std::map<std::string, std::string>{{"debug", "debug"}, {"info", "info"},
                                                                    {"warn", "warn"}, {"error", "error"}}));
  ServerOptions& s = c->server;
  k.emplace("server.listen", StrKey(&s.listen, "server.listen"));
  k.emplace("server.admin_listen", StrKey(&c->admin_listen, "server.admin_listen"));
  k.emplace("server.network_threads", IntKey(&s.network_threads, "server.network_threads"));
  k.emplace("server.worker_threads", IntKey(&s.worker_threads, "server.worker_threads"));
  k.emplace("server.worker_queue", IntKey(&s.worker_queue, "server.worker_queue"));
  k.emplace("server.max_connections", IntKey(&s.max_connections, "server.max_connections"));
  k.emplace("server.max_frame_bytes", IntKey(&s.max_frame_bytes, "server.max_frame_bytes"));
  k.emplace("server.max_inflight", IntKey(&s.max_inflight, "server.max_inflight"));
  k.emplace("server.max_output_bytes", IntKey(&s.max_output_bytes, "server.max_output_bytes"));
  k.emplace("server.max_subscription_buffer", IntKey(&s.max_subscription_buffer, "server.max_subscription_buffer"));
  k.emplace("server.shutdown_timeout_ms", IntKey(&s.shutdown_timeout_ms, "server.shutdown_timeout_ms"));
  k.emplace("server.allow_remote_plaintext", BoolKey(&s.allow_remote_plaintext, "server.allow_remote_plaintext"));
  k.emplace("tls.enabled", BoolKey(&s.tls, "tls.enabled"));
  k.emplace("tls.cert", StrKey(&s.tls_cert, "tls.cert"));
  k.emplace("tls.key", StrKey(&s.tls_key, "tls.key"));
  StoreOptions& o = c->store;
  k.emplace("store.partitions", IntKey(&o.partitions, "store.partitions"));
  k.emplace("store.segment_bytes", IntKey(&o.segment_bytes, "store.segment_bytes"));
  k.emplace("store.durability",
            EnumKey(&o.durability, "store.durability",
                    std::map<std::string, DurabilityMode>{{"sync", DurabilityMode::kSync},
                                                          {"interval", DurabilityMode::kInterval},
                                                          {"none", DurabilityMode::kNone}}));
  k.emplace("store.sync_interval_ms", IntKey(&o.sync_interval_ms, "store.sync_interval_ms"));
  k.emplace("store.compress", BoolKey(&o.compress, "store.compress"));
  k.emplace("store.zstd_level", IntKey(&o.zstd_level, "store.zstd_level"));
  k.emplace("store.compression_dictionaries",
            BoolKey(&o.compression_dictionaries, "store.compression_dictionaries"));
  k.emplace("store.dictionary_sample_bytes", IntKey(&o.dictionary_sample_bytes, "store.dictionary_sample_bytes"));
  k.emplace("store.dictionary_max_bytes", IntKey(&o.dictionary_max_bytes, "store.dictionary_max_bytes"));
  k.emplace("store.dictionary_max_count", IntKey(&o.dictionary_max_count, "store.dictionary_max_count"));
  k.emplace("store.tail_index_bytes", IntKey(&o.tail_index_bytes, "store.tail_index_bytes"));
  k.emplace("store.queue_capacity", IntKey(&o.queue_capacity, "store.queue_capacity"));
  k.emplace("store.io", EnumKey(&o.io, "store.io",
                                std::map<std::string, IoBackend>{{"auto", IoBackend::kAuto},
                                                                 {"uring", IoBackend::kUring},
                                                                 {"posix", IoBackend::kPosix}}));
  k.emplace("store.max_body_bytes", IntKey(&o.max_body_bytes, "store.max_body_bytes"));
  k.emplace("store.max_sender_bytes", IntKey(&o.max_sender_bytes, "store.max_sender_bytes"));
  k.emplace("store.max_client_id_bytes", IntKey(&o.max_client_id_bytes, "store.max_client_id_bytes"));
  k.emplace("store.max_read_count", IntKey(&o.max_read_count, "store.max_read_count"));
  k.emplace("store.dedup_window_ms", IntKey(&o.dedup_window_ms, "store.dedup_window_ms"));
  k.emplace("store.dedup_max_entries", IntKey(&o.dedup_max_entries, "store.dedup_max_entries"));
  k.emplace("store.block_cache_bytes", IntKey(&o.block_cache_bytes, "store.block_cache_bytes"));
  k.emplace("store.recent_cache_bytes", IntKey(&o.recent_cache_bytes, "store.recent_cache_bytes"));
  k.emplace("store.encryption", BoolKey(&o.encryption, "store.encryption"));
  k.emplace("store.recovery",
            EnumKey(&o.recovery, "store.recovery",
                    std::map<std::string, RecoveryMode>{{"strict", RecoveryMode::kStrict},
                                                        {"quarantine", RecoveryMode::kQuarantine}}));
  k.emplace("store.kek_file", StrKey(&o.kek_file, "store.kek_file"));
  k.emplace("store.previous_kek_file", StrKey(&o.previous_kek_file, "store.previous_kek_file"));
  return k;
}

std::string EnvName(const std::string& key) {
  std::string out = "WARBLER_";
  for (char ch : key) out += ch == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

const char* DefaultConfigToml() {
  return R"(# warblerd default configuration (docs/configuration.md explains every key).
data_dir = "./warbler-data"
log_level = "info"

[server]
listen = "127.0.0.1:7450"
admin_listen = "127.0.0.1:7451"
network_threads = 2
worker_threads = 2

[tls]
enabled = true
cert = "./warbler-data/dev-tls/cert.pem"
key = "./warbler-data/dev-tls/key.pem"

[store]
partitions = 4
durability = "sync"
compress = true
encryption = true
# The key-encryption key: `warbler keygen --kek FILE`; keep it outside data_dir.
kek_file = "./warbler-dev.kek"
)";
}

Result<Config> ParseConfig(const std::string& toml_text, const std::string& origin,
                           const std::vector<std::string>& env) {
  Config c;
  auto keys = Keys(&c);
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    return Status::InvalidArgument(msg.str());
  }
  for (const auto& [k, v] : root) {
    const std::string name(k.str());
    if (v.is_table()) {
      for (const auto& [k2, v2] : *v.as_table()) {
        const std::string full = name + "." + std::string(k2.str());
        auto it = keys.find(full);
        if (it == keys.end()) return Status::InvalidArgument(origin + ": unknown key '" + full + "'");
        WB_RETURN_IF_ERROR(it->second.from_toml(v2).WithContext(origin));
      }
      continue;
    }
    auto it = keys.find(name);
    if (it == keys.end()) return Status::InvalidArgument(origin + ": unknown key '" + name + "'");
    WB_RETURN_IF_ERROR(it->second.from_toml(v).WithContext(origin));
  }
  for (const std::string& kv : env) {
    if (kv.rfind("WARBLER_", 0) != 0) continue;
    const size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    const std::string var = kv.substr(0, eq);
    bool matched = false;
    for (auto& [key, setter] : keys) {
      if (EnvName(key) == var) {
        WB_RETURN_IF_ERROR(setter.from_env(kv.substr(eq + 1)).WithContext("environment " + var));
        matched = true;
      }
    }
    (void)matched;  // other WARBLER_* variables (WARBLER_IO, WARBLER_KEK …) belong to other parts
  }
  return c;
}

Result<Config> LoadConfigFile(const std::string& path, const std::vector<std::string>& env) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read config file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path, env);
}

Status CheckConfig(const Config& c) {
  if (c.data_dir.empty()) return Status::InvalidArgument("data_dir must be set");
  WB_RETURN_IF_ERROR(ValidateServerOptions(c.server).WithContext("[server]"));
  WB_RETURN_IF_ERROR(engine::ValidateStoreOptions(c.store).WithContext("[store]"));
  return Status::Ok();
}

}  // namespace warbler::server
