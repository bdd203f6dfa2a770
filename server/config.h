// warblerd's configuration: a TOML file (docs/configuration.md lists every
// key), then environment overrides WARBLER_<SECTION>_<KEY> (e.g.
// WARBLER_SERVER_LISTEN, WARBLER_DATA_DIR for top-level keys). Unknown keys,
// wrong types and out-of-range values are errors that name the key.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "server/server.h"
#include "warbler/options.h"

namespace warbler::server {

struct Config {
  std::string data_dir = "./warbler-data";
  std::string log_level = "info";      // debug, info, warn, error
  std::string admin_listen = "127.0.0.1:7451";  // empty = no admin port
  ServerOptions server;
  StoreOptions store;
};

// The embedded default configuration (what `warblerd` runs without --config).
const char* DefaultConfigToml();

// Parses TOML text (`origin` names it in errors) over the defaults, then
// applies environment overrides from `env` ("KEY=VALUE" strings; pass environ).
Result<Config> ParseConfig(const std::string& toml_text, const std::string& origin,
                           const std::vector<std::string>& env);
Result<Config> LoadConfigFile(const std::string& path, const std::vector<std::string>& env);
// Everything Start/Open would check, without binding or opening anything.
Status CheckConfig(const Config& c);

}  // namespace warbler::server
