// SPDX-License-Identifier: Apache-2.0
// The Daytona plugin's configuration: the generated sandbox config the host hands to create
// (reference: docs/DESIGN.md "Configuration"). Its JSON Schema (published in the descriptor) is the
// only definition of the settings: the keys, their types, bounds and defaults are read from it.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner::daytona {

// JSON Schema of the config. The key is marked "x-secret": true, which the host's schema
// validator knows as "redact this value"; it is also "writeOnly".
extern const char* const kConfigSchema;

struct Config {
  std::string api_key;
  std::string api_url;
  std::vector<std::string> trusted_hosts;  // besides the API's host, may receive the key
  std::optional<std::string> snapshot_id;
  std::optional<std::string> target;
  std::optional<std::string> sandbox_id;  // attach to this sandbox instead of creating one
  std::map<std::string, std::string> labels;
  std::optional<int64_t> auto_stop_interval;    // minutes; 0 = never
  std::optional<int64_t> auto_delete_interval;  // minutes; <0 disabled, 0 = on stop
  double create_timeout_s = 0;
  double request_timeout_s = 0;
  double connect_timeout_s = 0;
  int max_attempts = 0;
  double retry_budget_s = 0;
  std::optional<std::string> ca_file;
  std::map<std::string, std::string> env;  // added to every command's environment
  std::optional<std::string> workdir;      // default: the daemon's work dir
  bool workdir_from_old_name = false;      // given as workspace_dir (deprecated)
  double timeout_s = 0;                    // default execute timeout; 0 = none
  uint64_t max_output_bytes = 0;
  uint64_t max_file_bytes = 0;
};

// Checks the config against kConfigSchema and reads it, defaults from the schema; throws
// sdk::Error(invalid_config) naming the key and the fix. DAYTONA_API_KEY in the environment, when
// set and not empty, takes precedence over `api_key` (the documented order: environment over
// config file).
Config parse_config(const boost::json::object& o);

}  // namespace agent_runner::daytona
