#include "worker/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace agent_runner::worker {

pid_t spawn_child(const std::vector<std::string>& args,
                  const std::vector<std::pair<int, int>>& fds) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec (the worker has threads).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    struct sigaction sa {};
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; ++s)
      if (s != SIGKILL && s != SIGSTOP) ::sigaction(s, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (const auto& [target, source] : fds) {
      if (::dup2(source, target) < 0) ::_exit(126);
      ::fcntl(target, F_SETFD, 0);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid > 0) ::setpgid(pid, pid);  // also from here: no race with an early kill of the group
  return pid;
}

}  // namespace agent_runner::worker
