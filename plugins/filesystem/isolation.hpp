// The plan a sandbox makes from its config and what the kernel offers (kernel_features.hpp):
// which namespaces each command gets, whether its mounts are read-only outside the workspace,
// Landlock, the seccomp filter, capabilities, and how limits are enforced. Decided once at create.
#pragma once

#include "cgroup.hpp"
#include "fs_config.hpp"
#include "paths.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

// How a limit is enforced: on the command's whole tree (cgroup) or per process (rlimit).
enum class LimitScope { none, cgroup, rlimit };
const char* limit_scope_name(LimitScope s);

struct IsolationPlan {
  Isolation level = Isolation::workspace_write;
  bool pid_ns = false;   // command tree in its own PID namespace (kill is atomic)
  bool user_ns = false;  // needed for namespaces when not root
  bool net_ns = false;   // network: false
  bool mnt_ns = false;   // own mount namespace (private /proc, read-only mounts)
  bool uts_ns = false;   // hostname changes stay inside
  // Every mount read-only and nosuid except `writable` (bind-mounted nodev, nosuid).
  bool read_only_root = false;
  std::vector<std::string> writable;
  bool no_new_privs = false;
  bool seccomp = false;    // the filter of seccomp_filter.hpp
  bool drop_caps = false;  // no capabilities at all (capabilities.hpp)
  int landlock_abi = 0;
  Fd landlock_ruleset;  // applied in the supervisor
  CgroupPlaces cgroups;
  LimitScope processes = LimitScope::none;
  LimitScope memory = LimitScope::none;
  std::vector<std::string> degraded;  // what best_effort had to leave out

  boost::json::object to_json() const;
};

// Builds the plan. Throws sdk::Error(AR_ERR_UNSUPPORTED) naming the missing kernel feature unless
// cfg.best_effort (then records it in `degraded`).
IsolationPlan plan_isolation(const FsConfig& cfg, const std::string& workspace,
                             const std::string& tmp_dir);

}  // namespace agent_runner::fs_plugin
