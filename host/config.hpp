// SPDX-License-Identifier: Apache-2.0
// Configuration: one schema for every source. Precedence: command-line flags > environment >
// YAML config file > defaults. The host's own settings are one table (config_settings.cpp), which
// drives the loader, the global flags, `config --json`, `config --explain` and `config --help`.
#pragma once

#include <boost/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace agent_runner {

enum class Mode { local, cloud };

using EnvMap = std::map<std::string, std::string>;
// A snapshot of this process's environment.
EnvMap current_environment();
// The value of `name`, or nothing when it is unset or empty: an empty variable counts as unset
// everywhere the host reads one (`MODE= agent-runner ...` is cloud mode, the default).
std::optional<std::string> env_value(const EnvMap& env, const std::string& name);

// Configuration given on the command line (global flags, before or after the command).
struct CliOverrides {
  std::optional<std::string> config_file;       // --config
  std::map<std::string, std::string> settings;  // setting name -> the value of its flag
  std::vector<std::string> plugin_dirs;         // --plugin-dir (repeatable)
};

// Where a value came from: "default", "flag --mode", "env MODE", "file config.yaml:3".
using Source = std::string;

struct Config {
  Mode mode = Mode::cloud;
  std::optional<std::string> env;
  std::string temporal_namespace;
  std::string temporal_service_address;
  std::string task_queue;
  int max_concurrency = 10;
  // The worker's task queue on Redis Streams (`agent-runner worker`, README "Run a worker fleet").
  int lease_s = 60;                      // a job idle this long is taken over by another worker
  int max_attempts = 3;                  // deliveries before a job goes to dead letters
  int events_maxlen = 100000;            // XADD MAXLEN ~ of a job's events stream
  int job_expiry_s = 86400;              // events and result expire this long after the end
  int drain_timeout_s = 600;             // SIGTERM: how long running jobs may finish
  int job_max_bytes = 16 * 1024 * 1024;  // a job entry, inlined files included
  // run --events: what one step's output may fill of the events (0 = no bound; step_output.hpp)
  int max_step_output_bytes = 10 * 1024 * 1024;
  // Sessions idle longer than this are removed by a worker (README "Sessions"); unset or 0: never.
  std::optional<int> session_ttl_s;
  int session_check_s = 60;  // how often a worker looks for them
  std::string stigmer_backend_endpoint;
  std::optional<std::string> stigmer_api_key;
  std::string sandbox_type;
  std::optional<std::string> sandbox_root_dir;  // absolute in local mode
  std::optional<std::string> redis_host;
  std::optional<int> redis_port;
  std::optional<std::string> redis_password;
  std::optional<std::string> daytona_api_key;
  std::string daytona_api_url;
  std::optional<std::string> daytona_snapshot_id;
  std::optional<std::string> daytona_target;
  boost::json::object sandbox_section;        // the file's `sandbox:` map (plugin-specific keys)
  std::vector<std::string> plugin_dirs;       // the file's `plugin_dirs:` list
  std::vector<std::string> flag_plugin_dirs;  // --plugin-dir
  std::optional<std::string> config_file;     // the file that was read, if any
  std::map<std::string, Source> sources;      // setting name -> where its value came from
  std::map<std::string, Source> sandbox_sources;  // `sandbox:` key -> "file c.yaml:7"

  // Where the sandbox config's `key` came from (for errors about it).
  Source sandbox_key_source(const std::string& key) const;
  // Every secret value set (API keys, passwords): never printed or logged in clear.
  std::vector<std::string> secret_values() const;

  bool is_local_mode() const { return mode == Mode::local; }
  // The seed's get_sandbox_config(): the JSON object handed to the plugin.
  boost::json::object sandbox_config() const;
};

// How a setting's text (from its flag, variable or file key) is read and checked.
enum class SettingType {
  text,          // any string
  mode,          // local or cloud
  count,         // a whole number from Setting::min to Setting::max
  port,          // a whole number from 1 to 65535
  sandbox_type,  // a plugin's sandbox type: lowercase letters, digits, '_', '-', '.'
  directory,     // a path, made absolute and normal
  duration,      // "7d", "12h", "30m", "45s" or whole seconds; stored as seconds
};

// The Config member a setting fills.
using ConfigMember =
    std::variant<Mode Config::*, std::string Config::*, std::optional<std::string> Config::*,
                 int Config::*, std::optional<int> Config::*>;

// A condition on the rest of the configuration (mode, sandbox type).
using ConfigTest = bool (*)(const Config&);

// One of the host's settings. A setting with no default, or one its mode does not use, is null
// (its member is an optional).
struct Setting {
  const char* name;        // YAML key, `config --json` member, the name errors use
  const char* env_var;     // environment variable
  const char* flag;        // global command-line flag, or nullptr
  const char* value_name;  // the flag's value in help and shell completion ("DIR", "local|cloud")
  SettingType type;
  ConfigMember member;
  const char* help;                   // one line for `config --help` and the flag's help
  const char* local_default;          // default in local mode; nullptr: none
  const char* cloud_default;          // default in cloud mode; nullptr: none
  bool in_local = true;               // false: unused (not read, null) in local mode
  bool in_cloud = true;               // false: unused (not read, null) in cloud mode
  ConfigTest required_if = nullptr;   // a missing value is an error when this holds
  const char* required_when = "";     // says when, for errors and help ("in cloud mode")
  bool secret = false;                // printed as "***", never logged
  bool in_json = true;                // a member of `config --json` (else only in sandbox_config)
  const char* sandbox_key = nullptr;  // the generated sandbox config's key it fills...
  ConfigTest to_sandbox = nullptr;    // ...when this holds
  long long min = 0, max = 0;         // SettingType::count
};

// Every setting, in the order `config` prints them (mode first: other defaults follow it).
const std::vector<Setting>& settings();
// The setting called `name`, or null.
const Setting* find_setting(std::string_view name);
// The setting's value in `c`, as `config --json` shows it (secrets as "***", null when unset).
boost::json::value setting_json(const Config& c, const Setting& s);
// "default cloud", "local: default ./workspace; cloud: unused", "required when ...": for help.
std::string describe_default(const Setting& s);

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

}  // namespace agent_runner
