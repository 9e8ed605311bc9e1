// The execute operation: the request (command, cwd, env, timeout_s) turned into an ExecSpec, the
// command's environment built (never inherited unless inherit_env), and the result object.
#pragma once

#include "fs_config.hpp"
#include "isolation.hpp"
#include "paths.hpp"

#include <agent_runner/plugin.hpp>

#include <functional>
#include <string>

namespace agent_runner::fs_plugin {

struct ExecContext {
  const FsConfig& cfg;
  const Resolver& resolver;
  const IsolationPlan& plan;
  const std::string& workspace;
  const std::string& tmp_dir;
};

// `stop`: polled with the host's cancel; true stops the command as a cancel does (sessions.hpp).
sdk::Result op_execute(const ExecContext& ctx, sdk::Call& call, std::function<bool()> stop = {});

}  // namespace agent_runner::fs_plugin
