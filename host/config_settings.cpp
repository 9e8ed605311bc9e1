// SPDX-License-Identifier: Apache-2.0
// The host's own settings: one row per setting, read by the loader (config.cpp), the global flags
// (cli.cpp) and `agent-runner config` (--json, --explain, --help). Names, variables and defaults
// are the seed system's (docs/DESIGN.md "Configuration"); a new setting is one row here plus its
// Config member.
#include "config.hpp"

namespace agent_runner {
namespace json = boost::json;

namespace {

bool cloud_mode(const Config& c) {
  return !c.is_local_mode();
}
bool always(const Config&) {
  return true;
}
// The daytona plugin gets the DAYTONA_* settings whenever it is the selected plugin, in either
// mode; the seed's cloud sandbox config carried the snapshot for any cloud sandbox type.
bool daytona(const Config& c) {
  return c.sandbox_type == "daytona";
}
bool daytona_or_cloud(const Config& c) {
  return daytona(c) || cloud_mode(c);
}
// A local workspace for every local plugin but daytona, whose schema has no root_dir.
bool local_workspace(const Config& c) {
  return c.is_local_mode() && !daytona(c);
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = {
      {.name = "mode",
       .env_var = "MODE",
       .flag = "--mode",
       .value_name = "local|cloud",
       .type = SettingType::mode,
       .member = &Config::mode,
       .help = "execution infrastructure: local (this machine) or cloud",
       .local_default = "cloud",
       .cloud_default = "cloud"},
      {.name = "env",
       .env_var = "ENV",
       .flag = nullptr,
       .value_name = "LABEL",
       .type = SettingType::text,
       .member = &Config::env,
       .help = "deployment label only (development, staging, production); never changes the mode",
       .local_default = nullptr,
       .cloud_default = nullptr},
      {.name = "temporal_namespace",
       .env_var = "TEMPORAL_NAMESPACE",
       .flag = nullptr,
       .value_name = "NAME",
       .type = SettingType::text,
       .member = &Config::temporal_namespace,
       .help = "Temporal namespace",
       .local_default = "default",
       .cloud_default = "default"},
      {.name = "temporal_service_address",
       .env_var = "TEMPORAL_SERVICE_ADDRESS",
       .flag = nullptr,
       .value_name = "HOST:PORT",
       .type = SettingType::text,
       .member = &Config::temporal_service_address,
       .help = "Temporal frontend host:port",
       .local_default = "localhost:7233",
       .cloud_default = "localhost:7233"},
      {.name = "task_queue",
       .env_var = "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
       .flag = nullptr,
       .value_name = "NAME",
       .type = SettingType::text,
       .member = &Config::task_queue,
       .help = "Temporal task queue",
       .local_default = "agent_execution_runner",
       .cloud_default = "agent_execution_runner"},
      {.name = "max_concurrency",
       .env_var = "TEMPORAL_MAX_CONCURRENCY",
       .flag = nullptr,
       .value_name = "N",
       .type = SettingType::count,
       .member = &Config::max_concurrency,
       .help = "concurrent executions, and the default of `run --parallel`",
       .local_default = "10",
       .cloud_default = "10",
       .min = 1,
       .max = 100000},
      // The worker's task queue on Redis Streams (README "Run a worker fleet").
      {.name = "lease_s",
       .env_var = "AGENT_RUNNER_LEASE_S",
       .flag = nullptr,
       .value_name = "S",
       .type = SettingType::count,
       .member = &Config::lease_s,
       .help = "worker: seconds a job may go without its worker's refresh before another worker "
               "takes it over",
       .local_default = "60",
       .cloud_default = "60",
       .min = 1,
       .max = 86400},
      {.name = "max_attempts",
       .env_var = "AGENT_RUNNER_MAX_ATTEMPTS",
       .flag = nullptr,
       .value_name = "N",
       .type = SettingType::count,
       .member = &Config::max_attempts,
       .help = "worker: deliveries of one job before it goes to the dead-letter stream "
               "<task_queue>:dead",
       .local_default = "3",
       .cloud_default = "3",
       .min = 1,
       .max = 1000},
      {.name = "events_maxlen",
       .env_var = "AGENT_RUNNER_EVENTS_MAXLEN",
       .flag = nullptr,
       .value_name = "N",
       .type = SettingType::count,
       .member = &Config::events_maxlen,
       .help = "worker: approximate cap on a job's events stream, in events",
       .local_default = "100000",
       .cloud_default = "100000",
       .min = 100,
       .max = 100000000},
      {.name = "job_expiry_s",
       .env_var = "AGENT_RUNNER_JOB_EXPIRY_S",
       .flag = nullptr,
       .value_name = "S",
       .type = SettingType::count,
       .member = &Config::job_expiry_s,
       .help = "worker: seconds a finished job's events and result stay in Redis",
       .local_default = "86400",
       .cloud_default = "86400",
       .min = 1,
       .max = 31536000},
      {.name = "drain_timeout_s",
       .env_var = "AGENT_RUNNER_DRAIN_TIMEOUT_S",
       .flag = nullptr,
       .value_name = "S",
       .type = SettingType::count,
       .member = &Config::drain_timeout_s,
       .help = "worker: seconds running jobs may take to finish after SIGTERM",
       .local_default = "600",
       .cloud_default = "600",
       .min = 0,
       .max = 86400},
      {.name = "job_max_bytes",
       .env_var = "AGENT_RUNNER_JOB_MAX_BYTES",
       .flag = nullptr,
       .value_name = "BYTES",
       .type = SettingType::count,
       .member = &Config::job_max_bytes,
       .help = "submit and worker: largest job entry, inlined files included",
       .local_default = "16777216",
       .cloud_default = "16777216",
       .min = 4096,
       .max = 536870912},
      {.name = "max_step_output_bytes",
       .env_var = "AGENT_RUNNER_MAX_STEP_OUTPUT_BYTES",
       .flag = nullptr,
       .value_name = "BYTES",
       .type = SettingType::count,
       .member = &Config::max_step_output_bytes,
       .help = "run --events: most bytes of one step's output sent as step.output events; a "
               "marker (truncated, omitted_bytes) says what was left out (0 = no bound)",
       .local_default = "10485760",
       .cloud_default = "10485760",
       .min = 0,
       .max = 2147483647},
      // Sessions (README "Sessions"): the worker removes idle ones.
      {.name = "session_ttl",
       .env_var = "AGENT_RUNNER_SESSION_TTL",
       .flag = nullptr,
       .value_name = "DURATION",
       .type = SettingType::duration,
       .member = &Config::session_ttl_s,
       .help = "worker: remove sessions (persistent sandboxes) unused for this long, e.g. 7d, "
               "12h, or seconds; unset or 0: never",
       .local_default = nullptr,
       .cloud_default = nullptr},
      {.name = "session_check_s",
       .env_var = "AGENT_RUNNER_SESSION_CHECK_S",
       .flag = nullptr,
       .value_name = "S",
       .type = SettingType::count,
       .member = &Config::session_check_s,
       .help = "worker: seconds between two looks for sessions idle longer than session_ttl",
       .local_default = "60",
       .cloud_default = "60",
       .min = 1,
       .max = 86400},
      {.name = "stigmer_backend_endpoint",
       .env_var = "STIGMER_BACKEND_ENDPOINT",
       .flag = nullptr,
       .value_name = "HOST:PORT",
       .type = SettingType::text,
       .member = &Config::stigmer_backend_endpoint,
       .help = "backend host:port",
       .local_default = "localhost:50051",
       .cloud_default = "localhost:8080"},
      {.name = "stigmer_api_key",
       .env_var = "STIGMER_API_KEY",
       .flag = nullptr,
       .value_name = "KEY",
       .type = SettingType::text,
       .member = &Config::stigmer_api_key,
       .help = "backend API key",
       .local_default = "dummy-local-key",
       .cloud_default = nullptr,
       .required_if = cloud_mode,
       .required_when = "in cloud mode (MODE=local needs none)",
       .secret = true},
      {.name = "sandbox_type",
       .env_var = "SANDBOX_TYPE",
       .flag = "--sandbox-type",
       .value_name = "TYPE",
       .type = SettingType::sandbox_type,
       .member = &Config::sandbox_type,
       .help = "sandbox plugin type: the type of any installed plugin (`agent-runner plugins`)",
       .local_default = "filesystem",
       .cloud_default = "daytona",
       .sandbox_key = "type",
       .to_sandbox = always},
      {.name = "sandbox_root_dir",
       .env_var = "SANDBOX_ROOT_DIR",
       .flag = "--sandbox-root-dir",
       .value_name = "DIR",
       .type = SettingType::directory,
       .member = &Config::sandbox_root_dir,
       .help = "local workspace root, made absolute",
       .local_default = "./workspace",
       .cloud_default = nullptr,
       .in_cloud = false,
       .sandbox_key = "root_dir",
       .to_sandbox = local_workspace},
      {.name = "redis_host",
       .env_var = "REDIS_HOST",
       .flag = nullptr,
       .value_name = "HOST",
       .type = SettingType::text,
       .member = &Config::redis_host,
       .help = "Redis host of the worker's task queue (local mode: Redis only when set)",
       .local_default = nullptr,
       .cloud_default = "localhost"},
      {.name = "redis_port",
       .env_var = "REDIS_PORT",
       .flag = nullptr,
       .value_name = "PORT",
       .type = SettingType::port,
       .member = &Config::redis_port,
       .help = "Redis port, 1-65535",
       .local_default = "6379",
       .cloud_default = "6379"},
      {.name = "redis_password",
       .env_var = "REDIS_PASSWORD",
       .flag = nullptr,
       .value_name = "PASSWORD",
       .type = SettingType::text,
       .member = &Config::redis_password,
       .help = "Redis password",
       .local_default = nullptr,
       .cloud_default = nullptr,
       .secret = true},
      {.name = "daytona_api_key",
       .env_var = "DAYTONA_API_KEY",
       .flag = nullptr,
       .value_name = "KEY",
       .type = SettingType::text,
       .member = &Config::daytona_api_key,
       .help = "Daytona API key",
       .local_default = nullptr,
       .cloud_default = nullptr,
       .required_if = daytona,
       .required_when = "when sandbox_type is daytona (either mode)",
       .secret = true,
       .in_json = false,
       .sandbox_key = "api_key",
       .to_sandbox = daytona},
      {.name = "daytona_api_url",
       .env_var = "DAYTONA_API_URL",
       .flag = nullptr,
       .value_name = "URL",
       .type = SettingType::text,
       .member = &Config::daytona_api_url,
       .help = "Daytona API base URL, including /api",
       .local_default = "https://app.daytona.io/api",
       .cloud_default = "https://app.daytona.io/api",
       .in_json = false,
       .sandbox_key = "api_url",
       .to_sandbox = daytona},
      {.name = "daytona_snapshot_id",
       .env_var = "DAYTONA_DEV_TOOLS_SNAPSHOT_ID",
       .flag = nullptr,
       .value_name = "ID",
       .type = SettingType::text,
       .member = &Config::daytona_snapshot_id,
       .help = "Daytona snapshot to create sandboxes from",
       .local_default = nullptr,
       .cloud_default = nullptr,
       .in_json = false,
       .sandbox_key = "snapshot_id",
       .to_sandbox = daytona_or_cloud},
      {.name = "daytona_target",
       .env_var = "DAYTONA_TARGET",
       .flag = nullptr,
       .value_name = "REGION",
       .type = SettingType::text,
       .member = &Config::daytona_target,
       .help = "Daytona target region",
       .local_default = nullptr,
       .cloud_default = nullptr,
       .in_json = false,
       .sandbox_key = "target",
       .to_sandbox = daytona},
  };
  return table;
}

const Setting* find_setting(std::string_view name) {
  for (const auto& s : settings())
    if (name == s.name) return &s;
  return nullptr;
}

namespace {

// The setting's value as JSON, secrets included: null when unset.
json::value plain_value(const Config& c, const Setting& s) {
  return std::visit(
      [&](auto member) -> json::value {
        const auto& field = c.*member;
        using T = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<T, Mode>) {
          return json::value(mode_name(field));
        } else if constexpr (std::is_same_v<T, std::optional<std::string>> ||
                             std::is_same_v<T, std::optional<int>>) {
          if (!field) return nullptr;
          return json::value(*field);
        } else {
          return json::value(field);
        }
      },
      s.member);
}

}  // namespace

json::value setting_json(const Config& c, const Setting& s) {
  json::value v = plain_value(c, s);
  if (s.secret && !v.is_null()) return "***";
  return v;
}

std::string describe_default(const Setting& s) {
  auto part = [&](bool used, const char* def, Mode m) -> std::string {
    if (!used) return "unused";
    if (def) return std::string("default ") + def;
    Config probe;
    probe.mode = m;
    if (s.required_if && s.required_if(probe)) return "required";
    if (s.required_if) return std::string("required ") + s.required_when;
    return "optional";
  };
  std::string local = part(s.in_local, s.local_default, Mode::local);
  std::string cloud = part(s.in_cloud, s.cloud_default, Mode::cloud);
  if (local == cloud) return local;
  return "local: " + local + "; cloud: " + cloud;
}

Source Config::sandbox_key_source(const std::string& key) const {
  if (auto it = sandbox_sources.find(key); it != sandbox_sources.end()) return it->second;
  for (const auto& s : settings())
    if (s.sandbox_key && key == s.sandbox_key)
      if (auto src = sources.find(s.name); src != sources.end()) return src->second;
  return "generated sandbox config";
}

std::vector<std::string> Config::secret_values() const {
  std::vector<std::string> out;
  for (const auto& s : settings()) {
    if (!s.secret) continue;
    const auto* m = std::get_if<std::optional<std::string> Config::*>(&s.member);
    if (!m) continue;
    const auto& v = this->*(*m);
    if (!v || v->empty()) continue;
    // A built-in default (local mode's placeholder API key) is printed in --help and DESIGN.md:
    // no secret, and every byte of command output would pay a search for it.
    const char* builtin = is_local_mode() ? s.local_default : s.cloud_default;
    if (builtin && *v == builtin) continue;
    out.push_back(*v);
  }
  return out;
}

json::object Config::sandbox_config() const {
  json::object o;
  for (const auto& s : settings()) {
    if (!s.sandbox_key || !s.to_sandbox(*this)) continue;
    json::value v = plain_value(*this, s);
    if (!v.is_null()) o[s.sandbox_key] = std::move(v);
  }
  for (const auto& kv : sandbox_section) o[kv.key()] = kv.value();
  return o;
}

}  // namespace agent_runner
