// SPDX-License-Identifier: Apache-2.0
#include "app.hpp"

#include <agent_runner/fd.hpp>

#include "json_schema.hpp"
#include "redact.hpp"

#include <unistd.h>
#include <cstdio>
#include <iostream>

namespace agent_runner {

App::App(GlobalOptions options, EnvMap env) : options_(std::move(options)), env_(std::move(env)) {}

const Config* App::config(bool report) {
  if (!config_) {
    config_ = load_config(options_.cli, env_);
    if (config_->config) {
      for (const auto& secret : config_->config->secret_values()) Redactor::global().add(secret);
    } else if (report) {
      std::cerr << "agent-runner: configuration error" << (config_->problems.size() > 1 ? "s" : "")
                << ":\n";
      for (const auto& p : config_->problems) std::cerr << "  - " << p.to_string() << "\n";
      std::cerr << "See `agent-runner config --help` for every setting and its sources.\n";
    }
  }
  return config_->config ? &*config_->config : nullptr;
}

std::vector<SearchDir> App::plugin_search_dirs() const {
  std::vector<std::string> config_dirs;
  if (config_ && config_->config) config_dirs = config_->config->plugin_dirs;
  return default_search_dirs(config_dirs, env_value(env_, "AGENT_RUNNER_PLUGIN_PATH"),
                             options_.cli.plugin_dirs);
}

PluginRegistry& App::plugins() {
  if (!plugins_ || !plugins_complete_) {
    plugins_ = PluginRegistry::discover(plugin_search_dirs());
    plugins_complete_ = true;
    for (const auto& w : plugins_->warnings()) spdlog::warn("{}", w);
  }
  return *plugins_;
}

PluginRegistry& App::selected_plugins() {
  const Config* cfg = config_ && config_->config ? &*config_->config : nullptr;
  if (!cfg) return plugins();
  // Selected once; a later call gets the same registry (plugins() would discover every file).
  if (!plugins_) {
    plugins_ = PluginRegistry::select(plugin_search_dirs(), cfg->sandbox_type);
    plugins_complete_ = false;
    for (const auto& w : plugins_->warnings()) spdlog::warn("{}", w);
  }
  return *plugins_;
}

namespace {

// Values under keys the schema marks secret ("x-secret": true, or "writeOnly": true) are
// registered for redaction before anything could print them.
void register_schema_secrets(const boost::json::value& schema, const boost::json::value& value) {
  if (!schema.is_object() || !value.is_object()) return;
  const auto* props = schema.get_object().if_contains("properties");
  if (!props || !props->is_object()) return;
  for (const auto& kv : value.get_object()) {
    const auto* sub = props->get_object().if_contains(kv.key());
    if (!sub || !sub->is_object()) continue;
    auto flag = [&](const char* k) {
      const auto* f = sub->get_object().if_contains(k);
      return f && f->is_bool() && f->get_bool();
    };
    if ((flag("x-secret") || flag("writeOnly")) && kv.value().is_string())
      Redactor::global().add(kv.value().get_string());
    register_schema_secrets(*sub, kv.value());
  }
}

}  // namespace

bool App::check_sandbox_config(const Config& cfg, const LoadedPlugin& plugin,
                               const boost::json::object& sandbox_config) {
  std::string schema_text = plugin.config_schema();
  if (schema_text.empty()) return true;
  boost::system::error_code ec;
  boost::json::value schema = boost::json::parse(schema_text, ec);
  if (ec) {
    std::cerr << "agent-runner: plugin " << plugin.path()
              << " has an invalid config schema (not JSON: " << ec.message()
              << "); its author must fix it\n";
    return false;
  }
  register_schema_secrets(schema, sandbox_config);
  auto errors = validate_json_schema(schema, sandbox_config);
  if (errors.empty()) return true;
  std::cerr << "agent-runner: configuration error" << (errors.size() > 1 ? "s" : "") << " in the "
            << cfg.sandbox_type << " sandbox config (checked against the plugin's schema, "
            << plugin.path() << "):\n";
  for (const auto& e : errors) {
    std::string key = e.pointer.empty() ? "" : e.pointer.substr(1);
    std::string top = key.substr(0, key.find('/'));
    std::cerr << "  - sandbox." << (key.empty() ? "(root)" : key) << " ("
              << (top.empty() ? "generated sandbox config" : cfg.sandbox_key_source(top))
              << "): " << e.message << "\n";
  }
  std::cerr << "Plugin settings go under `sandbox:` in the config file; see `agent-runner config "
               "--help` and the plugin's documentation.\n";
  return false;
}

std::shared_ptr<LoadedPlugin> App::selected_plugin(boost::json::object& sandbox_config,
                                                   int& exit_code) {
  const Config* cfg = config();
  if (!cfg) {
    exit_code = kExitUsage;
    return nullptr;
  }
  auto& reg = selected_plugins();
  auto plugin = reg.find(cfg->sandbox_type);
  if (!plugin) {
    std::cerr << "agent-runner: no loaded plugin provides sandbox type '" << cfg->sandbox_type
              << "' (mode " << mode_name(cfg->mode) << ", from "
              << (cfg->sources.count("sandbox_type") ? cfg->sources.at("sandbox_type") : "default")
              << ").\n";
    for (const auto& r : reg.reports()) {
      if (!r.loaded && (!r.sandbox_type || *r.sandbox_type == cfg->sandbox_type))
        std::cerr << "  rejected: " << r.path << ": " << r.error.value_or("") << "\n";
    }
    auto types = reg.sandbox_types();
    std::cerr << "  available types: ";
    if (types.empty()) std::cerr << "(none)";
    for (size_t i = 0; i < types.size(); ++i) std::cerr << (i ? ", " : "") << types[i];
    std::cerr
        << "\n  Run `agent-runner plugins` to see every plugin file and why it was or was not "
           "loaded.\n";
    exit_code = kExitPlugin;
    return nullptr;
  }
  sandbox_config = cfg->sandbox_config();
  if (!check_sandbox_config(*cfg, *plugin, sandbox_config)) {
    exit_code = kExitUsage;
    return nullptr;
  }
  exit_code = kExitOk;
  return plugin;
}

std::unique_ptr<Sandbox> App::open_sandbox(const std::optional<std::string>& session,
                                           int& exit_code) {
  boost::json::object sandbox_config;
  auto plugin = selected_plugin(sandbox_config, exit_code);
  if (!plugin) return nullptr;
  const Config* cfg = config();
  OpResult err;
  auto sb = Sandbox::create(plugin, sandbox_config, session, err);
  if (!sb) {
    std::cerr << "agent-runner: could not create a " << cfg->sandbox_type
              << " sandbox: " << err.code() << ": " << err.message() << "\n";
    exit_code = (err.status == AR_ERR_INVALID_CONFIG || err.status == AR_ERR_INVALID_ARGUMENT)
                    ? kExitUsage
                    : kExitFailure;
    return nullptr;
  }
  spdlog::info("sandbox {} ({}) ready", sb->id(), cfg->sandbox_type);
  exit_code = kExitOk;
  return sb;
}

void write_all(int fd, std::string_view data) {
  (void)sdk::write_all(fd, data);
}

}  // namespace agent_runner
