#include "worker/session_expiry.hpp"

#include "worker/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace agent_runner::worker {

namespace {
// The sweep's exit code when the plugin keeps no sessions (cmd_expire_sessions.cpp, kExitPlugin).
constexpr int kNoSessions = 3;
}  // namespace

SessionExpiry::SessionExpiry(std::vector<std::string> argv, std::chrono::seconds every)
    : argv_(std::move(argv)), every_(every) {}

void SessionExpiry::tick(Clock::time_point now) {
  if (disabled_ || running() || now < next_) return;
  next_ = now + every_;
  const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return;
  // stderr stays the worker's: the sweep's log lines are the worker's log.
  pid_ = spawn_child(argv_, {{0, devnull}, {1, devnull}});
  const int err = errno;
  ::close(devnull);
  if (pid_ < 0) log_->warn("session_ttl: cannot start a sweep: fork: {}", std::strerror(err));
}

bool SessionExpiry::reaped(pid_t pid, int status) {
  if (pid <= 0 || pid != pid_) return false;
  pid_ = -1;
  if (WIFEXITED(status) && WEXITSTATUS(status) == kNoSessions) {
    // Said once by the sweep itself; asking again every period would only repeat it.
    disabled_ = true;
    log_->warn("session_ttl is ignored: the selected plugin does not manage sessions");
  } else if (WIFSIGNALED(status)) {
    log_->warn("session_ttl: the sweep process was killed by signal {}", WTERMSIG(status));
  }
  return true;
}

void SessionExpiry::stop() {
  if (!running()) return;
  ::kill(-pid_, SIGTERM);
  for (int i = 0; i < 50; ++i) {  // 5 s for a removal under way to finish
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    ::usleep(100 * 1000);
  }
  ::kill(-pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

}  // namespace agent_runner::worker
