// Running one command (the plugin side): builds the supervisor's setup from the sandbox's plan
// (isolation.hpp), puts the supervisor in the command's cgroup (cgroup.hpp), enforces the
// timeout and cancellation, captures the output (output_capture.hpp) and collects the exit
// status. What runs in the supervisor and the command is in supervisor.hpp.
#pragma once

#include "fs_config.hpp"
#include "isolation.hpp"

#include <agent_runner/plugin.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

struct ExecSpec {
  std::string shell;
  std::string command;
  std::vector<std::string> env;    // "K=V"
  int cwd_fd = -1;                 // directory fd (borrowed)
  std::string workspace;           // host path of the workspace
  std::string cwd_relative = ".";  // the working directory below it (for a mount namespace)
  double timeout_s = 0;            // 0 = none
  uint64_t max_output_bytes = 102400;
  const IsolationPlan* plan = nullptr;
  const Limits* limits = nullptr;
  double grace_s = 1.0;  // TERM -> KILL
  // Polled with the host's cancel: true stops the command the same way (ExecOutcome::cancelled).
  std::function<bool()> stop_requested;
};

struct ExecOutcome {
  int exit_code = 0;
  bool timed_out = false;
  bool cancelled = false;
  std::string output, out, err;
  bool truncated = false;
  uint64_t out_bytes = 0, err_bytes = 0;
  int64_t duration_ms = 0;
};

// Runs the command; streams chunks through call.emit(); throws sdk::Error when the command could
// not be started (the message names the step and errno).
ExecOutcome run_command(const ExecSpec& spec, sdk::Call& call);

}  // namespace agent_runner::fs_plugin
