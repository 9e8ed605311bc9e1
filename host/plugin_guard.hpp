// SPDX-License-Identifier: Apache-2.0
// Loading the selected plugin in this process without a test load in a child first (see
// PluginRegistry::select). The child probe exists so that one bad file cannot take down
// discovery, which loads files nobody asked for; a command that loads only the plugin its
// configuration chose cannot run without that plugin anyway, so a crash there costs nothing the
// probe would have saved, except the explanation. This guard gives the explanation back: while
// it is armed, a fatal signal (or a load that does not finish within the probe's time bound)
// ends the process with exit code 3 and a message that names the file and what it was doing,
// as the probe would have reported it.
#pragma once

#include <chrono>
#include <filesystem>

namespace agent_runner {

class PluginLoadGuard {
 public:
  enum class Phase { loading, entry, descriptor };

  PluginLoadGuard(const std::filesystem::path& file, std::chrono::milliseconds timeout);
  ~PluginLoadGuard();  // restores the previous signal actions and cancels the timer
  PluginLoadGuard(const PluginLoadGuard&) = delete;
  PluginLoadGuard& operator=(const PluginLoadGuard&) = delete;

  void phase(Phase p);
};

}  // namespace agent_runner
