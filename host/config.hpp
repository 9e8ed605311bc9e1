// Configuration: one schema for every source. Precedence: command-line flags > environment >
// YAML config file > defaults. Field names, variables and defaults: DESIGN.md "Configuration".
#pragma once

#include <boost/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner {

enum class Mode { local, cloud };

using EnvMap = std::map<std::string, std::string>;
// A snapshot of this process's environment.
EnvMap current_environment();

// Configuration given on the command line (global flags before the command).
struct CliOverrides {
  std::optional<std::string> config_file;       // --config
  std::optional<std::string> mode;              // --mode
  std::optional<std::string> sandbox_type;      // --sandbox-type
  std::optional<std::string> sandbox_root_dir;  // --sandbox-root-dir
  std::vector<std::string> plugin_dirs;         // --plugin-dir (repeatable)
};

// Where a value came from: "default", "flag --mode", "env MODE", "file config.yaml:3".
using Source = std::string;

struct Config {
  Mode mode = Mode::cloud;
  std::optional<std::string> env;
  std::string temporal_namespace = "default";
  std::string temporal_service_address = "localhost:7233";
  std::string task_queue = "agent_execution_runner";
  int max_concurrency = 10;
  // The worker's task queue on Redis Streams (`agent-runner worker`, README "Run a worker fleet").
  int lease_s = 60;                      // a job idle this long is taken over by another worker
  int max_attempts = 3;                  // deliveries before a job goes to dead letters
  int events_maxlen = 100000;            // XADD MAXLEN ~ of a job's events stream
  int job_expiry_s = 86400;              // events and result expire this long after the end
  int drain_timeout_s = 600;             // SIGTERM: how long running jobs may finish
  int job_max_bytes = 16 * 1024 * 1024;  // a job entry, inlined files included
  std::string stigmer_backend_endpoint;
  std::optional<std::string> stigmer_api_key;
  std::string sandbox_type;
  std::optional<std::string> sandbox_root_dir;  // absolute in local mode
  std::optional<std::string> redis_host;
  std::optional<int> redis_port;
  std::optional<std::string> redis_password;
  std::optional<std::string> daytona_api_key;
  std::string daytona_api_url = "https://app.daytona.io/api";
  std::optional<std::string> daytona_snapshot_id;
  std::optional<std::string> daytona_target;
  boost::json::object sandbox_section;        // the file's `sandbox:` map (plugin-specific keys)
  std::vector<std::string> plugin_dirs;       // the file's `plugin_dirs:` list
  std::vector<std::string> flag_plugin_dirs;  // --plugin-dir
  std::optional<std::string> config_file;     // the file that was read, if any
  std::map<std::string, Source> sources;      // field name -> where its value came from
  std::map<std::string, Source> sandbox_sources;  // `sandbox:` key -> "file c.yaml:7"

  // Where the sandbox config's `key` came from (for errors about it).
  Source sandbox_key_source(const std::string& key) const;
  // Every secret value set (API keys, passwords): never printed or logged in clear.
  std::vector<std::string> secret_values() const;

  bool is_local_mode() const { return mode == Mode::local; }
  // The seed's get_sandbox_config(): the JSON object handed to the plugin.
  boost::json::object sandbox_config() const;
};

struct ConfigProblem {
  std::string field;    // "redis_port"
  std::string source;   // "env REDIS_PORT", "file ./c.yaml:4:3"
  std::string message;  // what is wrong and what would be valid
  std::string to_string() const;
};

struct ConfigLoad {
  std::optional<Config> config;  // set when there are no problems
  std::vector<ConfigProblem> problems;
};

// Builds the configuration from every source and reports every problem at once.
ConfigLoad load_config(const CliOverrides& cli, const EnvMap& env);

std::string_view mode_name(Mode m);

// The settings, in the order `config` prints them: field name, environment variable (may be
// empty), whether it is a secret, and a one-line description for --help.
struct FieldInfo {
  const char* name;
  const char* env_var;
  bool secret;
  const char* help;
};
const std::vector<FieldInfo>& config_fields();

}  // namespace agent_runner
