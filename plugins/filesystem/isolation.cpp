#include "isolation.hpp"

#include "kernel_features.hpp"
#include "landlock.hpp"

#include <agent_runner/plugin.hpp>

#include <cstdlib>

namespace agent_runner::fs_plugin {
using sdk::Error;

const char* limit_scope_name(LimitScope s) {
  switch (s) {
    case LimitScope::cgroup:
      return "cgroup";
    case LimitScope::rlimit:
      return "rlimit";
    case LimitScope::none:
      break;
  }
  return "none";
}

boost::json::object IsolationPlan::to_json() const {
  boost::json::array deg;
  for (const auto& d : degraded) deg.push_back(boost::json::string(d));
  return {{"level", isolation_name(level)},
          {"landlock_abi", landlock_abi},
          {"no_new_privs", no_new_privs},
          {"pid_namespace", pid_ns},
          {"user_namespace", user_ns},
          {"network_namespace", net_ns},
          {"mount_namespace", mnt_ns},
          {"uts_namespace", uts_ns},
          {"read_only_root", read_only_root},
          {"seccomp", seccomp},
          {"capabilities_dropped", drop_caps},
          {"no_controlling_terminal", true},
          {"pids_cgroup", processes == LimitScope::cgroup},
          {"process_limit", limit_scope_name(processes)},
          {"memory_limit", limit_scope_name(memory)},
          {"degraded", std::move(deg)}};
}

IsolationPlan plan_isolation(const FsConfig& cfg, const std::string& workspace,
                             const std::string& tmp_dir) {
  const KernelFeatures& k = kernel_features();
  IsolationPlan plan;
  plan.level = cfg.isolation;
  auto missing = [&](const std::string& what, const std::string& why) {
    if (!cfg.best_effort)
      throw Error(AR_ERR_UNSUPPORTED,
                  what + " is not available on this machine: " + why +
                      ". Set sandbox.best_effort: true to run without it, or change the config "
                      "(run `agent-runner doctor` to see what this kernel supports)");
    plan.degraded.push_back(what + ": " + why);
  };
  // What protects the host from a command running as root is required as root; an unprivileged
  // user's command cannot make host-wide changes anyway, so there it is only noted.
  auto missing_for_root = [&](const std::string& what, const std::string& why) {
    if (k.is_root)
      missing(what, why);
    else
      plan.degraded.push_back(what + ": " + why);
  };

  // Namespaces need root or a user namespace of our own.
  plan.user_ns = !k.is_root && k.user_ns;
  const bool can_ns = k.is_root || plan.user_ns;

  // The whole-tree kill: a PID namespace when possible, else process group + subreaper.
  // AGENT_RUNNER_FS_NO_PID_NAMESPACE=1 forces the fallback (for testing it on capable kernels).
  const char* no_pidns = std::getenv("AGENT_RUNNER_FS_NO_PID_NAMESPACE");
  plan.pid_ns = can_ns && k.pid_ns && !(no_pidns && *no_pidns == '1');
  plan.uts_ns = can_ns && k.uts_ns;
  if (!plan.uts_ns)
    missing_for_root("a UTS namespace (hostname changes stay inside)",
                     "the kernel refused a new UTS namespace");

  if (!cfg.network) {
    if (can_ns && network_namespace_works()) {
      plan.net_ns = true;
    } else {
      missing("network isolation (network: false)",
              k.is_root ? "the kernel refused a new network namespace"
                        : "unprivileged user namespaces are disabled");
    }
  }

  if (cfg.isolation != Isolation::none) {
    plan.no_new_privs = true;
    if (k.landlock_abi < 1) {
      missing(std::string("isolation '") + isolation_name(cfg.isolation) + "' (Landlock)",
              "the kernel has no Landlock LSM enabled (needs Linux >= 5.13 with lsm=landlock)");
    } else {
      plan.landlock_abi = k.landlock_abi;
      plan.landlock_ruleset =
          build_landlock_ruleset(k.landlock_abi, cfg.isolation, workspace, tmp_dir);
    }
    // Landlock does not cover chmod, chown or utimes: a root command owns root's files outside
    // the workspace. Read-only mounts do.
    if (can_ns && k.read_only_root) {
      plan.read_only_root = true;
      if (cfg.isolation == Isolation::workspace_write) plan.writable = {workspace, tmp_dir};
    } else {
      missing_for_root("read-only mounts outside the workspace",
                       "the kernel refused a read-only mount namespace (needs Linux >= 5.12)");
    }
  }
  plan.mnt_ns = can_ns && k.mnt_ns && (plan.pid_ns || plan.read_only_root);

  plan.drop_caps = can_ns && k.drop_caps;
  if (!plan.drop_caps) missing_for_root("dropping capabilities", "CAP_SETPCAP is not held");
  // Installing a filter needs no_new_privs or CAP_SYS_ADMIN (held before the capability drop).
  plan.seccomp = k.seccomp && (can_ns || plan.no_new_privs);
  if (!plan.seccomp)
    missing_for_root("the seccomp filter",
                     k.seccomp ? "neither no_new_privs nor CAP_SYS_ADMIN"
                               : "the kernel or this architecture has no seccomp filters");

  if (cfg.limits.processes || cfg.limits.memory_mb) plan.cgroups = cgroup_places();
  if (cfg.limits.processes) {
    if (k.is_root) {
      // RLIMIT_NPROC is not enforced for root: count the tree in a pids cgroup instead.
      if (!plan.cgroups.pids.empty())
        plan.processes = LimitScope::cgroup;
      else
        missing("limits.processes",
                "running as root, RLIMIT_NPROC is not enforced and no writable "
                "pids cgroup was found");
    } else {
      plan.processes = LimitScope::rlimit;
      if (!plan.user_ns)
        plan.degraded.push_back(
            "limits.processes: without a user namespace RLIMIT_NPROC counts every process of "
            "this user, not only the sandbox's");
    }
  }
  // The tree as a whole when a memory cgroup can be made (root), else per process.
  if (cfg.limits.memory_mb)
    plan.memory = !plan.cgroups.memory.empty() ? LimitScope::cgroup : LimitScope::rlimit;
  if (plan.processes == LimitScope::cgroup || plan.memory == LimitScope::cgroup)
    sweep_stale_cgroups(plan.cgroups);
  return plan;
}

}  // namespace agent_runner::fs_plugin
