// SPDX-License-Identifier: Apache-2.0
#include "isolation.hpp"

#include "kernel_features.hpp"
#include "landlock.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

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
          {"ipc_namespace", ipc_ns},
          {"view", view ? "container" : "host"},
          {"read_only_root", read_only_root},
          {"seccomp", seccomp},
          {"capabilities_dropped", drop_caps},
          {"no_controlling_terminal", true},
          {"pids_cgroup", processes == LimitScope::cgroup},
          {"process_limit", limit_scope_name(processes)},
          {"memory_limit", limit_scope_name(memory)},
          {"degraded", std::move(deg)}};
}

IsolationPlan plan_isolation(const FsConfig& cfg, bool allow_view) {
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
    }
    // The container view: commands and file operations see one root made of the view table.
    // Without it commands see the host's files (read-only outside the workspace where the kernel
    // allows, since Landlock does not cover chmod, chown or utimes).
    plan.view = can_ns && k.view && allow_view;
    if (plan.view) {
      plan.read_only_root = true;
      plan.uts_ns = plan.ipc_ns = true;
    } else if (can_ns && k.read_only_root) {
      plan.read_only_root = true;
      if (allow_view)
        plan.degraded.emplace_back(
            "the container view (a root of its own: workspace at workdir, private /tmp, system "
            "directories read-only, nothing else of the host): this machine refuses it; commands "
            "and file operations use the workspace's host path");
    } else {
      missing_for_root("read-only mounts outside the workspace",
                       "the kernel refused a read-only mount namespace (needs Linux >= 5.12)");
    }
  }
  if (!cfg.mounts.empty() && !plan.view)
    throw Error(AR_ERR_INVALID_CONFIG,
                "sandbox.mounts: extra mounts need the container view, which " +
                    std::string(cfg.isolation == Isolation::none
                                    ? "isolation none does not use (set isolation: "
                                      "workspace-write or read-only)"
                                    : "this machine refuses (run `agent-runner doctor`)"));
  plan.mnt_ns = plan.view || (can_ns && k.mnt_ns && (plan.pid_ns || plan.read_only_root));
  if (plan.view && cfg.isolation == Isolation::read_only) {
    plan.command_read_only.push_back(cfg.workdir);
    plan.command_read_only.emplace_back("/tmp");
    plan.command_read_only.emplace_back("/dev/shm");
    for (const auto& m : cfg.mounts)
      if (m.writable) plan.command_read_only.push_back(m.path);
  }

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
        plan.degraded.emplace_back(
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

void plan_landlock(IsolationPlan& plan, const ViewTable& table, int view_root) {
  if (plan.landlock_abi < 1) return;
  auto open_host = [](const std::string& path) {
    return LandlockRule{Fd(::open(path.c_str(), O_PATH | O_CLOEXEC)), path};
  };
  // A path of the container view, looked up inside it.
  auto open_view = [&](const std::string& path) {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    const std::string rel = path == "/" ? "." : path.substr(1);
    return LandlockRule{
        Fd(static_cast<int>(::syscall(SYS_openat2, view_root, rel.c_str(), &how, sizeof how))),
        path};
  };
  auto open_rule = [&](const std::string& path) {
    return view_root >= 0 ? open_view(path) : open_host(path);
  };
  auto required = [](LandlockRule r) {
    if (!r.fd)
      throw Error(AR_ERR_INTERNAL, "landlock: cannot open " + r.name + ": " + std::strerror(errno));
    return r;
  };
  LandlockPaths paths{required(open_rule("/")), {}, {}};
  for (const auto& e : table.entries()) {
    if (!e.writable) continue;
    if (e.kind == MountKind::device)
      paths.devices.push_back(required(open_rule(e.path)));
    else
      paths.writable.push_back(required(open_rule(e.path)));
  }
  if (view_root < 0)  // the host's device nodes; the view has its own entries for them
    for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty"})
      if (auto r = open_host(dev); r.fd) paths.devices.push_back(std::move(r));
  plan.landlock_ruleset = build_landlock_ruleset(plan.landlock_abi, plan.level, paths);
}

}  // namespace agent_runner::fs_plugin
