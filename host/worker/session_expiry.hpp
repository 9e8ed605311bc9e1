// The worker's session_ttl: every `every`, one sweep process (`agent-runner __expire-sessions`,
// the host re-executed with the worker's global options) removes the sessions unused for longer
// than the TTL, each under a short Redis lock so that of several workers only one removes it.
// A process, not a thread: the plugin's code never runs inside the worker (a crash loses one
// sweep), as for jobs.
#pragma once

#include "logging.hpp"

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace agent_runner::worker {

class SessionExpiry {
 public:
  using Clock = std::chrono::steady_clock;
  // `argv`: the whole command line of one sweep; `every`: the time between two sweeps' starts.
  SessionExpiry(std::vector<std::string> argv, std::chrono::seconds every);

  // Starts a sweep when one is due and none is running.
  void tick(Clock::time_point now);
  // True when `pid` was the sweep's process (it is then done with, and its end logged).
  bool reaped(pid_t pid, int status);
  bool running() const { return pid_ > 0; }
  // At shutdown: stops a sweep that is still running (SIGTERM; SIGKILL when it insists).
  void stop();

 private:
  std::vector<std::string> argv_;
  std::chrono::seconds every_;
  Clock::time_point next_{};
  pid_t pid_ = -1;
  bool disabled_ = false;
  std::shared_ptr<spdlog::logger> log_ = component_logger("worker");
};

}  // namespace agent_runner::worker
