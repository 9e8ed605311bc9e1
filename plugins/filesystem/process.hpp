// Running one command: a supervisor process per call owns the command's whole process tree.
//
//   plugin thread ──clone──> supervisor S ──clone──> /bin/sh -c CMD ──> ...
//
// S is PID 1 of a fresh PID namespace when the kernel allows it (as root, or inside a user
// namespace): every descendant, including ones that called setsid() or double-forked, lives in
// that namespace and `kill(-1, SIGKILL)` from S (or S's own death) kills them all atomically — the
// kernel even refuses new forks in a dying namespace. Without PID namespaces S is a child
// subreaper that kills the command's process group and walks /proc/<pid>/task/*/children.
//
// S returns as soon as the shell itself exits: it then kills whatever the shell left running
// (a background job holding the output pipe) and exits, so the call does not wait for it.
// Timeout and cancellation: the plugin sends S SIGTERM; S forwards TERM to the tree, waits a
// short grace, then SIGKILLs it. The plugin SIGKILLs S itself if S does not finish in time.
#pragma once

#include "fs_config.hpp"
#include "isolation.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

struct ExecSpec {
  std::string shell;
  std::string command;
  std::vector<std::string> env;  // "K=V"
  int cwd_fd = -1;               // directory fd (borrowed)
  double timeout_s = 0;          // 0 = none
  uint64_t max_output_bytes = 102400;
  const IsolationPlan* plan = nullptr;
  const Limits* limits = nullptr;
  double grace_s = 1.0;  // TERM -> KILL
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

// The head/tail capture of each stream (sdk/include/agent_runner/sandbox_ops.hpp).
using sdk::HeadTail;

}  // namespace agent_runner::fs_plugin
