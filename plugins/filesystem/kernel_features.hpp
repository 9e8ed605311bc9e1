// SPDX-License-Identifier: Apache-2.0
// What this machine lets the plugin enforce, probed once per process on first use (throwaway
// children try each namespace; a probe cgroup is created and removed). Sandbox plans and the
// plugin's `probe` answer are both made from it.
#pragma once

#include "cgroup.hpp"

#include <string>

namespace agent_runner::fs_plugin {

struct KernelFeatures {
  int landlock_abi = 0;  // 0 = no Landlock
  bool is_root = false;
  bool user_ns = false;  // namespaces can be created (root, or an unprivileged user namespace)
  bool pid_ns = false;   // a PID namespace (as root, or inside a user namespace)
  bool mnt_ns = false;
  bool uts_ns = false;
  bool ipc_ns = false;
  bool read_only_root = false;  // a new mount namespace can be made read-only (mount_setattr)
  // The container view (view.hpp) can be built: a tmpfs root, bind mounts and pivot_root in a
  // new mount namespace, read-only through mount_setattr.
  bool view = false;
  bool openat2 = false;
  bool seccomp = false;     // seccomp filters with errno returns, on an architecture we know
  bool drop_caps = false;   // the bounding set can be cleared (CAP_SETPCAP, or a user namespace)
  int legacy_tiocsti = -1;  // dev.tty.legacy_tiocsti (-1: no such sysctl)
};

const KernelFeatures& kernel_features();
// Whether a new network namespace can be made. Probed once, on first use, apart from the rest: a
// network namespace costs milliseconds to create and tear down, and only `network: false` (and
// `doctor`) needs to know.
bool network_namespace_works();
// Where this process may make cgroups (as root only; empty otherwise). Probed once, on first use:
// only a sandbox with limits.processes or limits.memory_mb (and `doctor`) needs it, and the probe
// makes and removes directories.
const CgroupPlaces& cgroup_places();

}  // namespace agent_runner::fs_plugin
