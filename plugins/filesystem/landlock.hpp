// The Landlock ruleset of a sandbox: read and execute everywhere, write only in the workspace and
// the private TMPDIR (workspace-write) or nowhere (read-only), plus the usual character devices.
// Built once at create; each command's supervisor applies it with landlock_restrict_self.
#pragma once

#include "fs_config.hpp"
#include "paths.hpp"

#include <string>

namespace agent_runner::fs_plugin {

// Throws sdk::Error(AR_ERR_INTERNAL) naming the path when a rule cannot be added.
Fd build_landlock_ruleset(int abi, Isolation level, const std::string& workspace,
                          const std::string& tmp_dir);

}  // namespace agent_runner::fs_plugin
