// Control groups for commands (as root): each execute call's process tree gets a cgroup of its
// own under this process's cgroup in the pids hierarchy (limits.processes: pids.max; RLIMIT_NPROC
// is not enforced for root). cgroup v2 and the v1 pids hierarchy are both handled.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

// Where this process may create cgroups with a controller enabled, found by creating (and
// removing) a probe child. Empty strings: not possible (not root, controller not mounted or not
// delegated to our cgroup).
struct CgroupPlaces {
  std::string pids;      // parent directory for pids.max
  int pids_version = 0;  // 1 or 2
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
  void create(const CgroupPlaces& places, uint64_t pids_max);
  bool active() const { return !dirs_.empty(); }
  void add(pid_t pid);

 private:
  std::vector<std::string> dirs_;
};

}  // namespace agent_runner::fs_plugin
