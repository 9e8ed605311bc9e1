// SPDX-License-Identifier: Apache-2.0
// The plan a sandbox makes from its config and what the kernel offers (kernel_features.hpp):
// which view of the filesystem commands get (the container view of view.hpp, or the host's),
// which namespaces each command gets or joins, Landlock, the seccomp filter, capabilities, and
// how limits are enforced. Decided once at create.
#pragma once

#include "cgroup.hpp"
#include "fs_config.hpp"
#include "paths.hpp"
#include "view.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

// How a limit is enforced: on the command's whole tree (cgroup) or per process (rlimit).
enum class LimitScope { none, cgroup, rlimit };
const char* limit_scope_name(LimitScope s);

struct IsolationPlan {
  Isolation level = Isolation::workspace_write;
  // The container view: the sandbox's mount, UTS, IPC (and user, network) namespaces are made
  // once (view_mount.hpp) and every command joins them; the namespace flags below then say what
  // is joined. Otherwise each command gets namespaces of its own on the host's filesystem.
  bool view = false;
  bool pid_ns = false;   // command tree in its own PID namespace (kill is atomic)
  bool user_ns = false;  // needed for namespaces when not root
  bool net_ns = false;   // network: false
  bool mnt_ns = false;   // own mount namespace (private /proc, read-only mounts)
  bool uts_ns = false;   // hostname changes stay inside
  bool ipc_ns = false;   // System V IPC and POSIX queues of the sandbox's own (the view)
  // Every mount read-only and nosuid except `writable` (bind-mounted nodev, nosuid).
  bool read_only_root = false;
  std::vector<std::string> writable;  // host view: host paths
  // The view under isolation read-only: sandbox paths each command's mount namespace makes
  // read-only (file operations still write there).
  std::vector<std::string> command_read_only;
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

// Builds the plan (all but the Landlock ruleset). Throws sdk::Error(AR_ERR_UNSUPPORTED) naming
// the missing kernel feature unless cfg.best_effort (then records it in `degraded`).
// allow_view: false after the view could not be built (best_effort), for the host view's plan.
IsolationPlan plan_isolation(const FsConfig& cfg, bool allow_view = true);

// Makes the Landlock ruleset from the view table once the view exists: reads below the root
// (`view_root`, the container view's root, or -1 for the host's), writes in the table's writable
// entries (none under isolation read-only) and to the usual character devices.
void plan_landlock(IsolationPlan& plan, const ViewTable& table, int view_root);

}  // namespace agent_runner::fs_plugin
