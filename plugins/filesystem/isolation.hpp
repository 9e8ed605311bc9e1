// What the kernel offers for confining a command, and the plan a sandbox makes from its config:
// Landlock (filesystem), namespaces (PID for whole-tree kill, network, user when not root),
// no_new_privs, rlimits and a pids cgroup for the process limit.
#pragma once

#include "fs_config.hpp"
#include "paths.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

struct KernelFeatures {
  int landlock_abi = 0;  // 0 = no Landlock
  bool is_root = false;
  bool user_ns = false;  // an unprivileged process can create a user namespace
  bool pid_ns = false;   // a PID namespace can be created (as root, or inside a user namespace)
  bool net_ns = false;
  bool openat2 = false;
  std::string pids_cgroup;  // a writable pids-controller cgroup directory, or empty
};

// Probed once per process (forks throwaway children for the namespace checks).
const KernelFeatures& kernel_features();

// How commands of one sandbox are confined. Decided at create; the Landlock ruleset is built once.
struct IsolationPlan {
  Isolation level = Isolation::workspace_write;
  bool pid_ns = false;   // command tree in its own PID namespace (kill is atomic)
  bool user_ns = false;  // needed for namespaces when not root
  bool net_ns = false;   // network: false
  bool no_new_privs = false;
  int landlock_abi = 0;
  Fd landlock_ruleset;                // applied in the child
  std::string pids_cgroup;            // parent directory for a per-command pids cgroup
  bool nproc_rlimit = false;          // RLIMIT_NPROC (effective only when not root)
  std::vector<std::string> degraded;  // what best_effort had to leave out

  boost::json::object to_json() const;
};

// Builds the plan. Throws sdk::Error(AR_ERR_UNSUPPORTED) naming the missing kernel feature unless
// cfg.best_effort (then records it in `degraded`).
IsolationPlan plan_isolation(const FsConfig& cfg, const std::string& workspace,
                             const std::string& tmp_dir);

}  // namespace agent_runner::fs_plugin
