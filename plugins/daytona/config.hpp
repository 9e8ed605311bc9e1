// The Daytona plugin's configuration: the generated sandbox config the host hands to create
// (reference: DESIGN.md "Configuration"), checked against the schema the descriptor publishes.
#pragma once

#include <boost/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace agent_runner::daytona {

// JSON Schema of the config (published in the descriptor). The key is marked "x-secret": true,
// which the host's schema validator knows as "redact this value"; it is also "writeOnly".
extern const char* const kConfigSchema;

struct Config {
  std::string api_key;
  std::string api_url = "https://app.daytona.io/api";
  std::optional<std::string> snapshot_id;
  std::optional<std::string> target;
  std::optional<std::string> sandbox_id;  // attach to this sandbox instead of creating one
  std::map<std::string, std::string> labels;
  std::optional<int64_t> auto_stop_interval;    // minutes; 0 = never
  std::optional<int64_t> auto_delete_interval;  // minutes; <0 disabled, 0 = on stop
  double create_timeout_s = 180;
  double request_timeout_s = 60;
  double connect_timeout_s = 10;
  int max_attempts = 5;
  double retry_budget_s = 60;
  std::optional<std::string> ca_file;
  std::map<std::string, std::string> env;    // added to every command's environment
  std::optional<std::string> workspace_dir;  // default: the daemon's work dir
  double timeout_s = 120;                    // default execute timeout; 0 = none
  uint64_t max_output_bytes = 102400;
  uint64_t max_file_bytes = 10 * 1024 * 1024;
};

// Parses and checks the config; throws sdk::Error(invalid_config) naming the key and the fix.
Config parse_config(const boost::json::object& o);

}  // namespace agent_runner::daytona
