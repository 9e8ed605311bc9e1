// SPDX-License-Identifier: Apache-2.0
#include "supervisor.hpp"

#include "capabilities.hpp"
#include "namespaces.hpp"
#include "seccomp_filter.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace agent_runner::fs_plugin {
namespace {

enum Step : int32_t {
  kStepUidMap = 1,
  kStepLoopback,
  kStepSubreaper,
  kStepRlimit,
  kStepNoNewPrivs,
  kStepLandlock,
  kStepFork,
  kStepDup,
  kStepChdir,
  kStepExec,
  kStepCapabilities,
  kStepSession,
  kStepMounts,
  kStepSeccomp,
  kStepJoin,
};

long raw_clone(unsigned long flags) {
  return ::syscall(SYS_clone, flags, 0, 0, 0, 0);
}

long now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void report(int fd, int32_t kind, int32_t wstatus, int32_t err, int32_t step) {
  Record r{kind, wstatus, err, step};
  ssize_t n;
  do n = ::write(fd, &r, sizeof r);
  while (n < 0 && errno == EINTR);
}

[[noreturn]] void die(const ChildSetup& cs, int32_t step) {
  report(cs.status_w, kSetupFailed, 0, errno, step);
  ::_exit(127);
}

// "/proc/<pid>/task/<pid>/children" without snprintf.
void children_path(char* buf, pid_t pid) {
  char num[16];
  int n = 0;
  do {
    num[n++] = static_cast<char>('0' + pid % 10);
    pid /= 10;
  } while (pid > 0);
  char* p = buf;
  for (const char* s = "/proc/"; *s;) *p++ = *s++;
  for (int i = n - 1; i >= 0; --i) *p++ = num[i];
  for (const char* s = "/task/"; *s;) *p++ = *s++;
  for (int i = n - 1; i >= 0; --i) *p++ = num[i];
  for (const char* s = "/children"; *s;) *p++ = *s++;
  *p = '\0';
}

// Without a PID namespace: signal every descendant found through /proc.
void signal_descendants(pid_t pid, int sig, int depth) {
  char path[96];
  children_path(path, pid);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[4096];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  pid_t child = 0;
  for (ssize_t i = 0; i <= n; ++i) {
    if (buf[i] >= '0' && buf[i] <= '9') {
      child = child * 10 + (buf[i] - '0');
    } else if (child > 0) {
      ::kill(child, sig);
      if (depth < 64) signal_descendants(child, sig, depth + 1);
      child = 0;
    }
  }
}

void kill_tree(const ChildSetup& cs, pid_t shell, int sig) {
  if (cs.pid_ns) {
    // PID 1 of the namespace: -1 reaches every other process in it (and nothing outside).
    ::kill(-1, sig);
    return;
  }
  if (shell > 0) ::kill(-shell, sig);
  signal_descendants(static_cast<pid_t>(::getpid()), sig, 0);
}

bool has_controlling_terminal() {
  int fd = ::open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

struct ShellArgs {
  const ChildSetup* cs;
  int cwd_fd;
  pid_t supervisor;
};

[[noreturn]] void run_shell(const ChildSetup& cs, int cwd_fd, pid_t supervisor) {
  ::setpgid(0, 0);
  // Without a PID namespace nothing else ties the shell to S: if S is killed, so is the shell
  // (and if S died before the signal was armed, the shell has been reparented already).
  if (!cs.pid_ns) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != supervisor) ::_exit(127);
  }
  // stdout and stderr share one pipe: the reader gets the writes in the order they were made.
  if (::dup2(cs.stdin_fd, 0) < 0 || ::dup2(cs.out_w, 1) < 0 || ::dup2(cs.out_w, 2) < 0)
    die(cs, kStepDup);
  if (cwd_fd >= 0 && ::fchdir(cwd_fd) != 0) die(cs, kStepChdir);
  // Nothing but 0, 1, 2 reaches the command (the status pipe stays open until exec succeeds).
  if (::syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC) != 0)
    for (int fd = 3; fd < 4096; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::sigaction(sig, &sa, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // The filter first, while CAP_SYS_ADMIN still allows it without no_new_privs (isolation
  // none), then every capability; execve keeps both.
  if (cs.seccomp && !install_seccomp(cs.seccomp)) die(cs, kStepSeccomp);
  if (!drop_all_capabilities(cs.last_cap)) die(cs, kStepCapabilities);
  ::execve(cs.shell, cs.argv, cs.envp);
  die(cs, kStepExec);
}

// The entry point of the shell's clone (clone(2) with a function and a stack of its own).
int shell_entry(void* arg) {
  const auto* a = static_cast<const ShellArgs*>(arg);
  run_shell(*a->cs, a->cwd_fd, a->supervisor);
}

}  // namespace

const char* step_name(int32_t s) {
  switch (s) {
    case kStepUidMap:
      return "writing the user namespace id maps";
    case kStepLoopback:
      return "bringing up loopback in the network namespace";
    case kStepSubreaper:
      return "becoming a child subreaper";
    case kStepRlimit:
      return "setting resource limits";
    case kStepNoNewPrivs:
      return "setting no_new_privs";
    case kStepLandlock:
      return "applying the Landlock ruleset";
    case kStepFork:
      return "forking the command";
    case kStepDup:
      return "redirecting stdin/stdout/stderr";
    case kStepChdir:
      return "changing into the working directory";
    case kStepExec:
      return "executing the shell";
    case kStepCapabilities:
      return "dropping capabilities";
    case kStepSession:
      return "starting a new session (setsid)";
    case kStepMounts:
      return "setting up the read-only mounts";
    case kStepSeccomp:
      return "installing the seccomp filter";
    case kStepJoin:
      return "joining the sandbox's namespaces";
    default:
      return "starting the command";
  }
}

bool is_exec_step(int32_t step) {
  return step == kStepExec;
}

[[noreturn]] void supervise(const ChildSetup& cs) {
  ::prctl(PR_SET_PDEATHSIG, cs.pid_ns ? SIGKILL : kParentDied);
  // Our copy of the go pipe's write end: once it is closed, a host that dies before it lets us
  // go (even before the death signal was armed) leaves us reading end-of-file.
  ::close(cs.go_w);
  // No controlling terminal, so nothing of the command can open /dev/tty or push input into the
  // terminal agent-runner was started from: a session of our own when there is one to leave.
  // Only then: a new session is also a new scheduler autogroup (kernel.sched_autogroup_enabled),
  // which cost milliseconds per command on a loaded machine.
  if (has_controlling_terminal() && (::setsid() < 0 || has_controlling_terminal()))
    die(cs, kStepSession);
  if (cs.n_join > 0) {
    // The container view: the sandbox's namespaces, made once at create (the user namespace
    // first, which gives the rights to join the others).
    for (int i = 0; i < cs.n_join; ++i)
      if (::setns(cs.join_fds[i], cs.join_types[i]) != 0) die(cs, kStepJoin);
  } else if (cs.user_ns) {
    // A non-dumpable process's /proc/self files belong to root: writing the maps needs it
    // dumpable for a moment (nothing runs in the namespace yet).
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (!write_id_maps(cs.uid_map, cs.gid_map)) die(cs, kStepUidMap);
  }
  // This process shares the host's memory, or is a copy of it (supervisor_launch.hpp): it holds
  // the host's environment and configuration, API keys included. Non-dumpable, it cannot be read
  // through /proc/<pid>/mem or ptrace by the command (which has no capabilities and a filter
  // refusing ptrace, see run_shell). Shared memory has one dumpable flag: the host's, which the
  // host clears itself at start (host/main.cpp) and this keeps cleared.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (cs.net_ns && cs.n_join == 0 && !bring_up_loopback()) die(cs, kStepLoopback);
  if (cs.reclone) {
    // Only a child made after joining the view's user namespace can be PID 1 of a PID namespace
    // owned by it: the supervisor goes on in that child, agent-runner's child too.
    const long sup = raw_clone(CLONE_PARENT | CLONE_NEWPID | SIGCHLD);
    if (sup < 0) die(cs, kStepFork);
    if (sup > 0) {
      report(cs.status_w, kStarted, static_cast<int32_t>(sup), 0, 0);
      ::_exit(0);
    }
    // PID 1 of its namespace sees no parent (getppid() is 0): a host that died before the
    // death signal was armed is seen as end-of-file on the go pipe below.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  }
  // Wait until the plugin has put us in our cgroup.
  char go = 0;
  ssize_t n;
  do n = ::read(cs.go_r, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(125);
  ::close(cs.go_r);
  if (!cs.pid_ns && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die(cs, kStepSubreaper);
  int cwd_fd = cs.cwd_fd;
  if (cs.n_join > 0) {
    if (cs.own_mounts) {
      if (::unshare(CLONE_NEWNS) != 0 ||
          !set_up_view_mounts(cs.pid_ns, cs.read_only, cs.n_read_only))
        die(cs, kStepMounts);
    }
    // Looked up inside the view (a descriptor from the plugin would be in another namespace).
    if (::chdir(cs.cwd_path) != 0) die(cs, kStepChdir);
    cwd_fd = -1;
  } else if (cs.mnt_ns) {  // never without CLONE_NEWNS: these mounts would land in the host's
    MountSetup m{cs.pid_ns, cs.read_only_root, cs.writable, cs.n_writable};
    if (!set_up_mounts(m)) die(cs, kStepMounts);
    cwd_fd = reopen_in_namespace(cs.workspace, cs.cwd_relative);
    if (cwd_fd < 0) die(cs, kStepChdir);
  }
  for (int i = 0; i < cs.n_rlimits; ++i) {
    rlimit rl{cs.rlimits[i].value, cs.rlimits[i].value};
    if (cs.rlimits[i].resource == RLIMIT_CPU) rl.rlim_max = rl.rlim_cur + 1;  // XCPU, then KILL
    if (::setrlimit(cs.rlimits[i].resource, &rl) != 0) die(cs, kStepRlimit);
  }
  if (cs.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(cs, kStepNoNewPrivs);
  if (cs.ruleset_fd >= 0 && ::syscall(SYS_landlock_restrict_self, cs.ruleset_fd, 0) != 0)
    die(cs, kStepLandlock);

  // The shell shares our memory until its execve (we are suspended until then) and runs on its
  // own stack: no copy of this process's page tables only for the exec to drop them.
  const ShellArgs shell_args{&cs, cwd_fd, ::getpid()};
  long shell = ::clone(shell_entry, cs.shell_stack, CLONE_VM | CLONE_VFORK | SIGCHLD,
                       const_cast<ShellArgs*>(&shell_args));
  if (shell < 0) die(cs, kStepFork);
  ::close(cs.out_w);
  ::close(cs.stdin_fd);
  if (cs.cwd_fd >= 0) ::close(cs.cwd_fd);
  if (cwd_fd >= 0 && cwd_fd != cs.cwd_fd) ::close(cwd_fd);
  if (cs.ruleset_fd >= 0) ::close(cs.ruleset_fd);

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, kParentDied}) sigaddset(&set, s);
  bool terminating = false;
  long kill_at = 0;
  int status = 0;
  for (;;) {
    bool done = false;
    for (;;) {
      int st = 0;
      pid_t p = ::waitpid(-1, &st, WNOHANG);
      if (p <= 0) break;
      if (p == shell) {
        status = st;
        done = true;
      }
    }
    if (done) break;
    long wait_ms = 1000;
    if (terminating) wait_ms = std::max(1L, kill_at - now_ms());
    timespec ts{wait_ms / 1000, (wait_ms % 1000) * 1000000};
    siginfo_t si{};
    int sig = ::sigtimedwait(&set, &si, &ts);
    if (sig == kParentDied) {
      // agent-runner is gone: nobody waits for output any more, so no grace period.
      terminating = true;
      kill_at = now_ms();
    } else if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !terminating) {
      terminating = true;
      kill_tree(cs, static_cast<pid_t>(shell), SIGTERM);
      kill_tree(cs, static_cast<pid_t>(shell), SIGCONT);
      kill_at = now_ms() + cs.grace_ms;
    }
    if (terminating && now_ms() >= kill_at) {
      kill_tree(cs, static_cast<pid_t>(shell), SIGKILL);
      kill_at = now_ms() + 50;
    }
  }
  // The shell is gone: nothing it started may outlive it.
  for (;;) {
    kill_tree(cs, static_cast<pid_t>(shell), SIGKILL);
    pid_t p;
    int st;
    while ((p = ::waitpid(-1, &st, WNOHANG)) > 0) {
    }
    if (p < 0 && errno == ECHILD) break;
    timespec ts{0, 1000000};
    ::nanosleep(&ts, nullptr);
  }
  report(cs.status_w, kFinished, status, 0, 0);
  ::_exit(0);
}

}  // namespace agent_runner::fs_plugin
