// The worker's child processes (a job, a session sweep): the host re-executed in a process group
// of its own (a terminal's ^C reaches the worker, which decides), dying with the worker, with
// default signal handling and exactly the descriptors given.
#pragma once

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

namespace agent_runner::worker {

// Forks and executes argv[0] with `argv`. `fds`: {target, source} pairs, dup2'ed in order (a
// source must not be an earlier target); other descriptors are close-on-exec in the worker.
// Returns the pid, or -1 with errno set when fork failed.
pid_t spawn_child(const std::vector<std::string>& argv,
                  const std::vector<std::pair<int, int>>& fds);

}  // namespace agent_runner::worker
