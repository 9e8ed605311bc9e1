// SPDX-License-Identifier: Apache-2.0
// What every command needs: the global options, the configuration, the plugin registry and a
// way to open the configured sandbox. The host stays thin: it loads, configures and dispatches.
#pragma once

#include "config.hpp"
#include "logging.hpp"
#include "plugin_loader.hpp"
#include "sandbox.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner {

// Exit codes of docs/DESIGN.md "Command line".
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPlugin = 3;
inline constexpr int kExitTimeout = 124;

struct GlobalOptions {
  CliOverrides cli;
  spdlog::level::level_enum log_level = spdlog::level::warn;
  LogFormat log_format = LogFormat::text;
};

class App {
 public:
  explicit App(GlobalOptions options, EnvMap env = current_environment());

  const GlobalOptions& options() const { return options_; }
  const EnvMap& env() const { return env_; }

  // The configuration, loaded once. On problems, prints every one to stderr (unless `report`
  // is false: commands that only peek at it) and returns null (the command exits 2).
  const Config* config(bool report = true);
  // The plugins found in every search location, loaded once (`plugins`, `doctor`).
  PluginRegistry& plugins();
  // Only the plugin the loaded configuration selects, when it can be found by its file name
  // (PluginRegistry::select); every plugin otherwise. Commands that open a sandbox use this: a
  // `MODE=local exec` never maps daytona.so and its 37 libraries, nor pays a test load of it.
  PluginRegistry& selected_plugins();
  // The configured plugin and its generated sandbox config, checked against the plugin's schema.
  // On failure prints the reason to stderr, sets exit_code (2 config, 3 plugin) and returns null.
  std::shared_ptr<LoadedPlugin> selected_plugin(boost::json::object& sandbox_config,
                                                int& exit_code);
  // Opens the configured sandbox (attaching to `session` when given). On failure prints the
  // reason to stderr, sets exit_code (2 config, 3 plugin, 1 sandbox creation) and returns null.
  std::unique_ptr<Sandbox> open_sandbox(const std::optional<std::string>& session, int& exit_code);
  // Validates the generated sandbox config against the plugin's schema; prints every problem.
  // Opening a sandbox and `agent-runner config` both run this, so `config` accepts exactly what
  // `exec` does.
  bool check_sandbox_config(const Config& cfg, const LoadedPlugin& plugin,
                            const boost::json::object& sandbox_config);

 private:
  GlobalOptions options_;
  EnvMap env_;
  std::optional<ConfigLoad> config_;
  std::optional<PluginRegistry> plugins_;
  bool plugins_complete_ = false;  // plugins_ holds every plugin found, not only the selected one

  std::vector<SearchDir> plugin_search_dirs() const;
};

// Writes all of `data` to a file descriptor (stdout for results), retrying on partial writes.
void write_all(int fd, std::string_view data);

}  // namespace agent_runner
