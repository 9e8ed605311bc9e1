// SPDX-License-Identifier: Apache-2.0
// `agent-runner config`: the effective configuration (secrets as "***"), where each value came
// from, and the sandbox config the plugin will receive.
#include "app.hpp"
#include "cli.hpp"
#include "redact.hpp"

#include <iomanip>
#include <iostream>
#include <sstream>

namespace agent_runner {
namespace {

namespace json = boost::json;

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

// The settings part of `config --help`, from the settings table.
std::string settings_help() {
  std::ostringstream out;
  out << "Settings (field, variable, flag; what it is; default):\n";
  for (const auto& s : settings()) {
    out << "  " << std::left << std::setw(26) << s.name;
    if (s.flag)
      out << std::setw(44) << s.env_var << s.flag << " " << s.value_name;
    else
      out << s.env_var;
    out << "\n      " << s.help << "; " << describe_default(s) << (s.secret ? " [secret]" : "")
        << "\n";
  }
  return out.str();
}

std::string global_flags() {
  std::string out;
  for (const auto& s : settings())
    if (s.flag) out += std::string(s.flag) + ", ";
  return out + "--config, --plugin-dir";
}

std::string json_members() {
  std::string out;
  for (const auto& s : settings())
    if (s.in_json) out += std::string(s.name) + ", ";
  return out + "sandbox_config";
}

int config_command(App& app, bool as_json, bool explain) {
  const Config* c = app.config();
  if (!c) return kExitUsage;
  const auto generated = c->sandbox_config();
  // The check opening a sandbox makes, so that `config` accepts exactly what `exec` does.
  if (auto plugin = app.selected_plugins().find(c->sandbox_type)) {
    if (!app.check_sandbox_config(*c, *plugin, generated)) return kExitUsage;
  } else {
    std::cerr << "agent-runner config: no loaded plugin provides sandbox type '" << c->sandbox_type
              << "', so the sandbox config was not checked against a plugin's schema (`exec` "
                 "would exit 3); `agent-runner plugins` lists what was found\n";
  }
  json::object o;
  for (const auto& s : settings())
    if (s.in_json) o[s.name] = setting_json(*c, s);
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

}  // namespace

cli::Run cli::define_config(CLI::App& cmd) {
  cmd.description(R"(effective configuration (secrets as "***") and the generated sandbox config

Prints the effective configuration and the sandbox config the plugin receives, checked against the
selected plugin's schema exactly as `exec` checks it. Secrets print as "***" when set and null when
unset; a field the mode does not use is null.)");
  cmd.footer(R"(Exit code 2 on a configuration error; every problem is listed on stderr.

Sources, highest first:
  1. flags:       )" +
             global_flags() + R"(
  2. environment: the variables below; a variable set to the empty string counts as unset
  3. a YAML file: --config FILE or AGENT_RUNNER_CONFIG=FILE; keys are the field names below,
                  plus `sandbox:` (a map of plugin settings merged into the sandbox config) and
                  `plugin_dirs:` (extra plugin directories, relative to the file)
  4. defaults:    per mode, below

MODE chooses the infrastructure; ENV is only a deployment label. Both can be set together
(MODE=local ENV=development). MODE unset (or empty) means cloud.

Local mode (MODE=local) needs nothing else: the filesystem plugin, workspaces under
./workspace, no Redis, no API keys. Cloud mode needs STIGMER_API_KEY; DAYTONA_API_KEY is
needed whenever the sandbox type is daytona, in either mode.

)" + settings_help() +
             R"(
Example file (agent-runner --config runner.yaml config):
  mode: local
  sandbox_root_dir: /srv/agent-workspaces
  max_concurrency: 4
  sandbox:              # plugin settings, checked against the plugin's schema
    timeout_s: 300
    isolation: workspace-write

Generated sandbox config: {"type": SANDBOX_TYPE}; plus root_dir in local mode (not for daytona);
plus api_key, api_url, snapshot_id and target when the type is daytona (in either mode), or
snapshot_id for any type in cloud mode; plus the file's `sandbox:` map.)");
  auto a = std::make_shared<std::pair<bool, bool>>(false, false);
  cmd.add_flag("--json", a->first, "one JSON object: " + json_members());
  cmd.add_flag("--explain", a->second,
               "also say where each value came from (with --json: a \"sources\" member)");
  return [a](App& app) { return config_command(app, a->first, a->second); };
}

}  // namespace agent_runner
