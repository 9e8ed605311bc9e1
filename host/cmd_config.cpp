// `agent-runner config`: the effective configuration (secrets as "***"), where each value came
// from, and the sandbox config the plugin will receive.
#include "app.hpp"
#include "redact.hpp"

#include <iomanip>
#include <iostream>
#include <sstream>

namespace agent_runner {
namespace {

namespace json = boost::json;

constexpr const char* kConfigHelp =
    R"(Usage: agent-runner [GLOBAL OPTIONS] config [--json] [--explain]

Prints the effective configuration and the sandbox config the plugin receives. Secrets print as
"***" when set and null when unset; a field the mode does not use is null.
  --json      one JSON object: mode, env, temporal_namespace, temporal_service_address, task_queue,
              max_concurrency, stigmer_backend_endpoint, stigmer_api_key, sandbox_type,
              sandbox_root_dir, redis_host, redis_port, redis_password, sandbox_config
  --explain   also say where each value came from (with --json: a "sources" member)
Exit code 2 on a configuration error; every problem is listed on stderr.

Sources, highest first:
  1. flags:       --mode, --sandbox-type, --sandbox-root-dir, --config, --plugin-dir
  2. environment: the variables below
  3. a YAML file: --config FILE or AGENT_RUNNER_CONFIG=FILE; keys are the field names below,
                  plus `sandbox:` (a map of plugin settings merged into the sandbox config) and
                  `plugin_dirs:` (extra plugin directories, relative to the file)
  4. defaults

MODE chooses the infrastructure; ENV is only a deployment label. Both can be set together
(MODE=local ENV=development). MODE unset means cloud.

Local mode (MODE=local) needs nothing else: the filesystem plugin, workspaces under
./workspace, no Redis, no API keys. Cloud mode needs STIGMER_API_KEY, and DAYTONA_API_KEY when
the sandbox type is daytona.

Settings (field / variable: meaning):
)";

constexpr const char* kConfigExample = R"(
Example file (agent-runner --config runner.yaml config):
  mode: local
  sandbox_root_dir: /srv/agent-workspaces
  max_concurrency: 4
  sandbox:              # plugin settings, checked against the plugin's schema
    timeout_s: 300
    isolation: workspace-write

Generated sandbox config: local {"type":"filesystem","root_dir":...}; cloud {"type":"daytona"}
plus snapshot_id, api_key, api_url and target for daytona; plus the file's `sandbox:` map.
)";

json::value opt(const std::optional<std::string>& s) {
  if (s) return json::value(*s);
  return nullptr;
}
json::value secret(const std::optional<std::string>& s) {
  if (s) return "***";
  return nullptr;
}

// Replaces every registered secret and every key a plugin could treat as a credential.
void mask_sandbox_config(json::object& o) {
  for (auto& kv : o) {
    std::string k(kv.key());
    bool credential = k.find("key") != std::string::npos ||
                      k.find("password") != std::string::npos ||
                      k.find("token") != std::string::npos || k.find("secret") != std::string::npos;
    if (credential && kv.value().is_string()) {
      kv.value() = "***";
    } else if (kv.value().is_object()) {
      mask_sandbox_config(kv.value().get_object());
    }
  }
}

std::string text_value(const json::value& v) {
  if (v.is_null()) return "null";
  if (v.is_string()) return std::string(v.get_string());
  return json::serialize(v);
}

}  // namespace

int cmd_config(App& app, const std::vector<std::string>& args) {
  bool as_json = false, explain = false;
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::ostringstream help;
      help << kConfigHelp;
      for (const auto& f : config_fields())
        help << "  " << std::left << std::setw(26) << f.name << std::setw(44) << f.env_var << "\n"
             << "      " << f.help << (f.secret ? " [secret]" : "") << "\n";
      help << kConfigExample;
      std::cout << help.str();
      return kExitOk;
    }
    if (a == "--json") {
      as_json = true;
    } else if (a == "--explain") {
      explain = true;
    } else {
      std::cerr << "agent-runner config: unknown argument '" << a
                << "' (use --json, --explain or --help)\n";
      return kExitUsage;
    }
  }
  const Config* c = app.config();
  if (!c) return kExitUsage;
  json::object o;
  o["mode"] = mode_name(c->mode);
  o["env"] = opt(c->env);
  o["temporal_namespace"] = c->temporal_namespace;
  o["temporal_service_address"] = c->temporal_service_address;
  o["task_queue"] = c->task_queue;
  o["max_concurrency"] = c->max_concurrency;
  for (auto [k, v] : {std::pair{"lease_s", c->lease_s},
                      {"max_attempts", c->max_attempts},
                      {"events_maxlen", c->events_maxlen},
                      {"job_expiry_s", c->job_expiry_s},
                      {"drain_timeout_s", c->drain_timeout_s},
                      {"job_max_bytes", c->job_max_bytes}})
    o[k] = v;
  o["stigmer_backend_endpoint"] = c->stigmer_backend_endpoint;
  o["stigmer_api_key"] = secret(c->stigmer_api_key);
  o["sandbox_type"] = c->sandbox_type;
  o["sandbox_root_dir"] = opt(c->sandbox_root_dir);
  o["redis_host"] = opt(c->redis_host);
  o["redis_port"] = c->redis_port ? json::value(*c->redis_port) : json::value(nullptr);
  o["redis_password"] = secret(c->redis_password);
  const auto generated = c->sandbox_config();
  auto sc = generated;
  mask_sandbox_config(sc);
  o["sandbox_config"] = sc;

  json::object sources;
  for (const auto& [field, src] : c->sources) sources[field] = src;
  if (c->config_file) sources["config_file"] = *c->config_file;
  for (const auto& kv : generated)
    sources["sandbox." + std::string(kv.key())] = c->sandbox_key_source(std::string(kv.key()));

  const auto& redactor = Redactor::global();
  if (as_json) {
    if (explain) o["sources"] = sources;
    write_all(1, redactor.redact(json::serialize(o)) + "\n");
    return kExitOk;
  }
  std::ostringstream out;
  for (const auto& kv : o) {
    if (kv.key() == "sandbox_config") continue;
    out << std::left << std::setw(26) << std::string(kv.key()) << " " << text_value(kv.value());
    if (explain)
      if (const auto* s = sources.if_contains(kv.key())) out << "    (" << text_value(*s) << ")";
    out << "\n";
  }
  out << "sandbox_config:\n";
  for (const auto& kv : sc) {
    out << "  " << std::left << std::setw(24) << std::string(kv.key()) << " "
        << text_value(kv.value());
    if (explain) out << "    (" << text_value(sources["sandbox." + std::string(kv.key())]) << ")";
    out << "\n";
  }
  if (explain && c->config_file) out << "config file: " << *c->config_file << "\n";
  write_all(1, redactor.redact(out.str()));
  return kExitOk;
}

}  // namespace agent_runner
