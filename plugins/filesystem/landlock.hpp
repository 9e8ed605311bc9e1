// SPDX-License-Identifier: Apache-2.0
// The Landlock ruleset of a sandbox: read and execute below the root the command sees, write only
// in the writable entries of the view table (the workspace, its tmp, rw mounts, /dev/shm) under
// workspace-write or nowhere (read-only), plus the usual character devices. Built once at create
// from descriptors (rules are attached to inodes, so a descriptor opened inside the container
// view or on the host's path of the same directory is the same rule); each command's supervisor
// applies it with landlock_restrict_self.
#pragma once

#include "fs_config.hpp"
#include "paths.hpp"

#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

struct LandlockRule {
  Fd fd;             // O_PATH of the directory or file
  std::string name;  // for error messages
};

struct LandlockPaths {
  LandlockRule root;                   // read and execute below it
  std::vector<LandlockRule> writable;  // everything but device nodes (workspace-write only)
  std::vector<LandlockRule> devices;   // read, write, ioctl
};

// Throws sdk::Error(AR_ERR_INTERNAL) naming the path when a rule cannot be added.
Fd build_landlock_ruleset(int abi, Isolation level, const LandlockPaths& paths);

}  // namespace agent_runner::fs_plugin
