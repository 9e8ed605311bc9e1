// SPDX-License-Identifier: Apache-2.0
// Control groups for commands (as root): each execute call's process tree gets a cgroup of its
// own under this process's cgroup, in the pids hierarchy (limits.processes: pids.max) and the
// memory hierarchy (limits.memory_mb: the tree as a whole, swap included). cgroup v2 and the v1
// pids/memory hierarchies are both handled; the cgroup is also how a tree whose supervisor was
// SIGKILLed is found and killed.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

// Where this process may create cgroups with a controller enabled, found by creating (and
// removing) a probe child. Empty strings: not possible (not root, controller not mounted or not
// delegated to our cgroup).
struct CgroupPlaces {
  std::string pids;          // parent directory for pids.max
  std::string memory;        // parent directory for memory.max / memory.limit_in_bytes
  int pids_version = 0;      // 1 or 2
  int memory_version = 0;    // 1 or 2
  bool memory_swap = false;  // swap is limited too (memory.swap.max / memory.memsw.*)
};

// Probes this process's cgroups (creates and removes a directory per hierarchy).
CgroupPlaces find_cgroup_places();

// The cgroup of one command tree. Created before the supervisor is let go; removed (after
// killing anything left in it) when the call ends.
class CommandCgroup {
 public:
  CommandCgroup() = default;
  CommandCgroup(const CommandCgroup&) = delete;
  CommandCgroup& operator=(const CommandCgroup&) = delete;
  ~CommandCgroup();

  // Throws sdk::Error naming the file when a limit cannot be set.
  void create(const CgroupPlaces& places, std::optional<uint64_t> pids_max,
              std::optional<uint64_t> memory_bytes);
  bool active() const { return !dirs_.empty(); }
  void add(pid_t pid);
  // SIGKILLs every process still in the cgroup until it is empty (bounded).
  void kill_all();

 private:
  std::vector<std::string> dirs_;
};

// Removes empty cgroups left by agent-runner processes that no longer exist (killed with -9),
// once per process.
void sweep_stale_cgroups(const CgroupPlaces& places);

}  // namespace agent_runner::fs_plugin
