// SPDX-License-Identifier: Apache-2.0
#include "probe.hpp"

#include "kernel_features.hpp"

#include <boost/json.hpp>

#include <sys/utsname.h>

#include <string>
#include <vector>

namespace agent_runner::fs_plugin {
namespace json = boost::json;

namespace {

struct Check {
  std::string name;
  bool ok;
  std::string detail;
  json::object extra = {};
  json::object to_json() const {
    json::object o{{"name", name}, {"ok", ok}, {"detail", detail}};
    for (const auto& kv : extra) o[kv.key()] = kv.value();
    return o;
  }
};

json::value version_or_null(int v) {
  return v ? json::value("v" + std::to_string(v)) : json::value(nullptr);
}

std::vector<Check> checks(const KernelFeatures& k) {
  std::vector<Check> c;
  const std::string userns_why = k.is_root ? "" : " (in a user namespace)";

  std::string ll = k.landlock_abi > 0 ? "ABI " + std::to_string(k.landlock_abi) +
                                            ": writes only in the workspace and TMPDIR"
                                      : "not available (needs Linux >= 5.13 with lsm=landlock): "
                                        "only isolation none works";
  if (k.landlock_abi >= 6) ll += "; signal and abstract-socket scoping";
  c.push_back({"landlock", k.landlock_abi > 0, ll, {{"abi", k.landlock_abi}}});

  c.push_back({"user_namespace", k.user_ns,
               k.is_root ? "running as root: not needed"
                         : (k.user_ns ? "unprivileged user namespaces work"
                                      : "refused: no namespaces for an unprivileged user")});
  c.push_back({"pid_namespace", k.pid_ns,
               k.pid_ns ? "whole-tree kill by PID namespace, own /proc" + userns_why
                        : "refused; tree kill falls back to process group + subreaper"});
  c.push_back({"mount_namespace", k.read_only_root,
               k.read_only_root ? "every mount read-only and nosuid except the workspace and "
                                  "TMPDIR (nodev, nosuid): no chmod, chown, touch or setuid "
                                  "bit outside"
                                : "refused (needs a mount namespace and Linux >= 5.12): "
                                  "chmod/chown of the user's own files outside the workspace "
                                  "stay possible"});
  c.push_back({"network_namespace", network_namespace_works(),
               network_namespace_works()
                   ? "network: false is enforceable; with network: true the host's network "
                     "is shared but cannot be reconfigured (no CAP_NET_ADMIN)"
                   : "refused: network: false cannot be enforced"});
  c.push_back({"view", k.view,
               k.view ? "container: commands and file operations see one root of their own "
                        "(the workspace at workdir, a private /tmp, system directories "
                        "read-only with secrets masked, a private /proc and minimal /dev, "
                        "nothing else of the host)" +
                            userns_why
                      : "host: this machine refuses a root of its own (a mount namespace with "
                        "pivot_root" +
                            std::string(k.is_root ? "" : ", in a user namespace") +
                            "); workdir is the workspace's host path and commands can read "
                            "what the user can"});
  c.push_back({"uts_namespace", k.uts_ns,
               k.uts_ns ? "hostname changes stay inside" : "refused: hostname is the host's"});
  c.push_back({"seccomp", k.seccomp,
               k.seccomp ? "refused with EPERM: TIOCSTI/TIOCLINUX, device mknod, clock, modules, "
                           "kexec, keyrings, ptrace, mount, bpf, perf_event_open, userfaultfd, "
                           "swap, reboot and others; 32-bit syscalls"
                         : "not available on this kernel or architecture"});
  c.push_back({"capabilities", k.drop_caps,
               k.drop_caps ? "commands run with none (bounding, effective, permitted, "
                             "inheritable and ambient sets empty)" +
                                 userns_why
                           : "an unprivileged user's command holds none, but the bounding set "
                             "cannot be cleared without a user namespace"});
  std::string term =
      "commands have no controlling terminal (a new session when agent-runner has one) and "
      "stdin from /dev/null";
  if (k.seccomp) term += "; TIOCSTI refused";
  c.push_back({"terminal", true, term});

  const auto& cg = cgroup_places();
  c.push_back({"process_limit", k.is_root ? !cg.pids.empty() : true,
               k.is_root
                   ? (!cg.pids.empty() ? "limits.processes: pids cgroup v" +
                                             std::to_string(cg.pids_version) + " per command tree"
                                       : "limits.processes: RLIMIT_NPROC is not enforced for root "
                                         "and no writable pids cgroup was found")
                   : "limits.processes: RLIMIT_NPROC (per user namespace)"});
  c.push_back({"memory_limit", !cg.memory.empty(),
               !cg.memory.empty()
                   ? "limits.memory_mb: memory cgroup v" + std::to_string(cg.memory_version) +
                         " for the command tree as a whole" +
                         (cg.memory_swap ? ", swap included" : "")
                   : std::string("limits.memory_mb: RLIMIT_AS per process (") +
                         (k.is_root ? "no writable memory cgroup" : "not root: no cgroup") +
                         "): a tree of N processes may use N times the limit"});
  c.push_back({"openat2", k.openat2,
               k.openat2 ? "paths resolved by the kernel (RESOLVE_BENEATH)"
                         : "missing (Linux < 5.6): an fd-by-fd walk is used instead"});
  c.push_back({"rlimits", true, "limits.cpu_s, open_files, file_size_mb: rlimits per process"});
  return c;
}

std::string summary(const KernelFeatures& k) {
  std::string s = k.is_root ? "as root: " : "as an unprivileged user: ";
  s += k.view ? "container view, " : "host view, ";
  s += k.landlock_abi > 0 ? "Landlock ABI " + std::to_string(k.landlock_abi) : "no Landlock";
  if (k.read_only_root) s += ", read-only mounts";
  s += k.seccomp ? ", seccomp" : ", no seccomp";
  if (k.drop_caps) s += ", no capabilities";
  std::string ns;
  for (auto [on, name] : {std::pair{k.pid_ns, "pid"}, std::pair{k.mnt_ns, "mount"},
                          std::pair{network_namespace_works(), "net"}, std::pair{k.uts_ns, "uts"},
                          std::pair{k.ipc_ns, "ipc"}})
    if (on) ns += (ns.empty() ? "" : "+") + std::string(name);
  s += ", namespaces " + (ns.empty() ? std::string("none") : ns);
  s += !cgroup_places().memory.empty() ? ", memory per tree (cgroup)"
                                       : ", memory per process (rlimit)";
  return s;
}

json::object build() {
  const KernelFeatures& k = kernel_features();
  json::array levels{"none"};
  if (k.landlock_abi > 0) {
    levels.emplace_back("workspace-write");
    levels.emplace_back("read-only");
  }
  json::array cs;
  for (const auto& c : checks(k)) cs.push_back(c.to_json());
  const auto& cg = cgroup_places();
  utsname u{};
  ::uname(&u);
  return {{"summary", summary(k)},
          {"kernel_release", u.release},
          {"root", k.is_root},
          {"landlock_abi", k.landlock_abi},
          {"isolation_levels", std::move(levels)},
          {"network_isolation", network_namespace_works()},
          {"namespaces",
           {{"user", k.user_ns},
            {"pid", k.pid_ns},
            {"mount", k.mnt_ns},
            {"network", network_namespace_works()},
            {"uts", k.uts_ns},
            {"ipc", k.ipc_ns}}},
          {"view", k.view ? "container" : "host"},
          {"read_only_root", k.read_only_root},
          {"seccomp", k.seccomp},
          {"capabilities_dropped", k.drop_caps},
          {"no_controlling_terminal", true},
          {"legacy_tiocsti",
           k.legacy_tiocsti < 0 ? json::value(nullptr) : json::value(k.legacy_tiocsti)},
          {"cgroup",
           {{"pids", version_or_null(cg.pids_version)},
            {"memory", version_or_null(cg.memory_version)},
            {"memory_swap", cg.memory_swap}}},
          {"process_limit", k.is_root ? (cg.pids.empty() ? "none" : "cgroup") : "rlimit"},
          {"memory_limit", cg.memory.empty() ? "rlimit" : "cgroup"},
          {"openat2", k.openat2},
          {"tree_kill", k.pid_ns ? "pid_namespace" : "subreaper"},
          {"checks", std::move(cs)}};
}

}  // namespace

const json::object& probe_report() {
  static const json::object report = build();
  return report;
}

}  // namespace agent_runner::fs_plugin
