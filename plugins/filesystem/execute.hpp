// SPDX-License-Identifier: Apache-2.0
// The execute operation: the request (command, cwd, env, timeout_s) turned into an ExecSpec, the
// command's environment built (never inherited unless inherit_env), and the result object. `cwd`
// is a sandbox path like any other: absolute, or relative to workdir (the default).
#pragma once

#include "fs_config.hpp"
#include "isolation.hpp"
#include "paths.hpp"
#include "sandbox_files.hpp"
#include "view.hpp"
#include "view_mount.hpp"

#include <agent_runner/plugin.hpp>

#include <functional>
#include <string>

namespace agent_runner::fs_plugin {

struct ExecContext {
  const FsConfig& cfg;
  const ViewTable& table;
  const ViewNamespaces* view;  // the container view, or null (host view)
  const SandboxFiles& files;   // the cwd is looked up as file operations look up paths
  const IsolationPlan& plan;
};

// `stop`: polled with the host's cancel; true stops the command as a cancel does (sessions.hpp).
sdk::Result op_execute(const ExecContext& ctx, sdk::Call& call, std::function<bool()> stop = {});

}  // namespace agent_runner::fs_plugin
