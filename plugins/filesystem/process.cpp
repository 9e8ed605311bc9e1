#include "process.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

using Clock = std::chrono::steady_clock;

// ---- what runs in the supervisor and the command before exec: syscalls only, no allocation ----

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
};

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
      return "dropping CAP_SYS_PTRACE";
    default:
      return "starting the command";
  }
}

enum RecordKind : int32_t { kFinished = 1, kSetupFailed = 2 };
struct Record {
  int32_t kind;
  int32_t wstatus;
  int32_t err;
  int32_t step;
};

struct RLimit {
  int resource;
  rlim_t value;
};

struct ChildSetup {
  const char* shell;
  char* const* argv;
  char* const* envp;
  int stdin_fd, out_w, err_w, status_w, go_r, cwd_fd, ruleset_fd;
  bool pid_ns, user_ns, net_ns, mnt_ns, no_new_privs;
  char uid_map[64], gid_map[64];
  RLimit rlimits[6];
  int n_rlimits;
  long grace_ms;
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

bool write_proc(const char* path, const char* data) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t len = std::strlen(data);
  bool ok = ::write(fd, data, len) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

bool bring_up_loopback() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, "lo", 3);
  bool ok = ::ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  if (ok) {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    ok = ::ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  }
  ::close(s);
  return ok;
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

// The command must not read the memory or environment of the host, the supervisor (a fork of
// the host, holding the same API keys) or anything else: those processes are non-dumpable, so
// only CAP_SYS_PTRACE would let it in. Root keeps every other capability; this one is removed
// from the bounding set (so exec cannot give it back) and from the current sets.
bool drop_ptrace_capability() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  const uint32_t bit = 1u << CAP_SYS_PTRACE;  // CAP_SYS_PTRACE < 32: in data[0]
  const bool held = (data[0].effective | data[0].permitted | data[0].inheritable) & bit;
  if (::prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0 && held) return false;
  if (!held) return true;
  data[0].effective &= ~bit;
  data[0].permitted &= ~bit;
  data[0].inheritable &= ~bit;
  return ::syscall(SYS_capset, &hdr, data) == 0;
}

[[noreturn]] void run_shell(const ChildSetup& cs) {
  ::setpgid(0, 0);
  if (!drop_ptrace_capability()) die(cs, kStepCapabilities);
  if (::dup2(cs.stdin_fd, 0) < 0 || ::dup2(cs.out_w, 1) < 0 || ::dup2(cs.err_w, 2) < 0)
    die(cs, kStepDup);
  if (::fchdir(cs.cwd_fd) != 0) die(cs, kStepChdir);
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
  ::execve(cs.shell, cs.argv, cs.envp);
  die(cs, kStepExec);
}

[[noreturn]] void supervise(const ChildSetup& cs) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (cs.user_ns) {
    // A non-dumpable process's /proc/self files belong to root: writing the maps needs it
    // dumpable for a moment (nothing runs in the namespace yet).
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    write_proc("/proc/self/setgroups", "deny");
    if (!write_proc("/proc/self/uid_map", cs.uid_map) ||
        !write_proc("/proc/self/gid_map", cs.gid_map))
      die(cs, kStepUidMap);
  }
  // This process is a fork of the host: its memory holds the host's environment and
  // configuration, API keys included. Non-dumpable, it cannot be read through /proc or ptrace by
  // the command (which also loses CAP_SYS_PTRACE, see run_shell).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (cs.net_ns && !bring_up_loopback()) die(cs, kStepLoopback);
  // Wait until the plugin has put us in our cgroup.
  char go = 0;
  ssize_t n;
  do n = ::read(cs.go_r, &go, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(125);
  ::close(cs.go_r);
  if (!cs.pid_ns && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) die(cs, kStepSubreaper);
  if (cs.mnt_ns) {  // never without CLONE_NEWNS: these mounts would land in the host's namespace
    // Our own mount namespace with a /proc of our own PID namespace: the command sees its own
    // processes only, not the host's or anyone else's (their command lines, environments, open
    // files). Best effort: where the kernel refuses a proc mount (a container that masks parts
    // of /proc), the command keeps the host's view and everything else still holds.
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0)
      ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  }
  for (int i = 0; i < cs.n_rlimits; ++i) {
    rlimit rl{cs.rlimits[i].value, cs.rlimits[i].value};
    if (cs.rlimits[i].resource == RLIMIT_CPU) rl.rlim_max = rl.rlim_cur + 1;  // XCPU, then KILL
    if (::setrlimit(cs.rlimits[i].resource, &rl) != 0) die(cs, kStepRlimit);
  }
  if (cs.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die(cs, kStepNoNewPrivs);
  if (cs.ruleset_fd >= 0 && ::syscall(SYS_landlock_restrict_self, cs.ruleset_fd, 0) != 0)
    die(cs, kStepLandlock);

  long shell = raw_clone(SIGCHLD);
  if (shell < 0) die(cs, kStepFork);
  if (shell == 0) run_shell(cs);
  ::close(cs.out_w);
  ::close(cs.err_w);
  ::close(cs.stdin_fd);
  ::close(cs.cwd_fd);
  if (cs.ruleset_fd >= 0) ::close(cs.ruleset_fd);

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
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
    if ((sig == SIGTERM || sig == SIGINT || sig == SIGHUP) && !terminating) {
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

// ---- the plugin side ----

void set_nonblock(int fd) {
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

struct Pipe {
  Fd r, w;
  void open() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0)
      throw Error(AR_ERR_INTERNAL, std::string("pipe2: ") + std::strerror(errno));
    r.reset(p[0]);
    w.reset(p[1]);
  }
};

// A per-command pids cgroup (root only): fork bombs hit pids.max.
class PidsCgroup {
 public:
  PidsCgroup() = default;
  PidsCgroup(const PidsCgroup&) = delete;
  PidsCgroup& operator=(const PidsCgroup&) = delete;
  ~PidsCgroup() {
    if (!dir_.empty()) ::rmdir(dir_.c_str());
  }
  void create(const std::string& base, uint64_t max) {
    static std::atomic<uint64_t> counter{0};
    dir_ = base + "/agent-runner-" + std::to_string(::getpid()) + "-" +
           std::to_string(counter.fetch_add(1));
    if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) fail("mkdir " + dir_);
    write(dir_ + "/pids.max", std::to_string(max));
  }
  void add(pid_t pid) { write(dir_ + "/cgroup.procs", std::to_string(pid)); }

 private:
  [[noreturn]] void fail(const std::string& what) {
    throw Error(AR_ERR_INTERNAL, "pids cgroup: " + what + ": " + std::strerror(errno));
  }
  void write(const std::string& file, const std::string& value) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("open " + file);
    bool ok = ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
    int err = errno;
    ::close(fd);
    errno = err;
    if (!ok) fail("write " + file);
  }
  std::string dir_;
};

}  // namespace

ExecOutcome run_command(const ExecSpec& spec, sdk::Call& call) {
  const auto started = Clock::now();
  const IsolationPlan& plan = *spec.plan;

  std::vector<std::string> argv_s = {spec.shell, "-c", spec.command};
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s = spec.env;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);

  Pipe out, err, status, go;
  out.open();
  err.open();
  status.open();
  go.open();
  for (int fd : {out.r.get(), err.r.get()}) ::fcntl(fd, F_SETPIPE_SZ, 1 << 20);
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull)
    throw Error(AR_ERR_INTERNAL, std::string("open /dev/null: ") + std::strerror(errno));

  ChildSetup cs{};
  cs.shell = spec.shell.c_str();
  cs.argv = argv.data();
  cs.envp = envp.data();
  cs.stdin_fd = devnull.get();
  cs.out_w = out.w.get();
  cs.err_w = err.w.get();
  cs.status_w = status.w.get();
  cs.go_r = go.r.get();
  cs.cwd_fd = spec.cwd_fd;
  cs.ruleset_fd = plan.landlock_ruleset.get();
  cs.pid_ns = plan.pid_ns;
  cs.user_ns = plan.user_ns;
  cs.net_ns = plan.net_ns;
  cs.no_new_privs = plan.no_new_privs;
  std::snprintf(cs.uid_map, sizeof cs.uid_map, "%u %u 1\n", ::geteuid(), ::geteuid());
  std::snprintf(cs.gid_map, sizeof cs.gid_map, "%u %u 1\n", ::getegid(), ::getegid());
  cs.grace_ms = static_cast<long>(spec.grace_s * 1000);
  auto add_limit = [&](int res, std::optional<uint64_t> v, uint64_t scale) {
    if (!v) return;
    rlimit cur{};
    ::getrlimit(res, &cur);
    rlim_t want = static_cast<rlim_t>(*v * scale);
    if (cur.rlim_max != RLIM_INFINITY && want > cur.rlim_max) want = cur.rlim_max;
    cs.rlimits[cs.n_rlimits++] = RLimit{res, want};
  };
  if (spec.limits) {
    add_limit(RLIMIT_AS, spec.limits->memory_mb, 1ull << 20);
    add_limit(RLIMIT_CPU, spec.limits->cpu_s, 1);
    add_limit(RLIMIT_NOFILE, spec.limits->open_files, 1);
    add_limit(RLIMIT_FSIZE, spec.limits->file_size_mb, 1ull << 20);
    if (plan.nproc_rlimit) add_limit(RLIMIT_NPROC, spec.limits->processes, 1);
  }

  PidsCgroup cgroup;
  if (!plan.pids_cgroup.empty() && spec.limits && spec.limits->processes)
    cgroup.create(plan.pids_cgroup, *spec.limits->processes);

  unsigned long flags = SIGCHLD;
  if (plan.pid_ns) flags |= CLONE_NEWPID | CLONE_NEWNS;  // NEWNS: a private /proc, see supervise
  cs.mnt_ns = (flags & CLONE_NEWNS) != 0;
  if (plan.net_ns) flags |= CLONE_NEWNET;
  if (plan.user_ns) flags |= CLONE_NEWUSER;

  // The supervisor starts with its control signals blocked, so a TERM sent before it is ready
  // is queued rather than lost (PID 1 of a namespace drops signals it has no handler for).
  sigset_t block, old;
  sigemptyset(&block);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&block, s);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  long pid = raw_clone(flags);
  int clone_err = errno;
  if (pid == 0) supervise(cs);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (pid < 0)
    throw Error(AR_ERR_INTERNAL,
                std::string("clone of the command supervisor failed: ") + std::strerror(clone_err));

  // From here on the supervisor must be killed and reaped whatever happens.
  struct Reaper {
    pid_t pid;
    bool reaped = false;
    ~Reaper() {
      if (!reaped) {
        ::kill(pid, SIGKILL);
        int st;
        while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
      }
    }
  } reaper{static_cast<pid_t>(pid)};

  out.w.reset();
  err.w.reset();
  status.w.reset();
  go.r.reset();
  devnull.reset();
  if (!plan.pids_cgroup.empty() && spec.limits && spec.limits->processes) cgroup.add(reaper.pid);
  if (::write(go.w.get(), "g", 1) != 1)
    throw Error(AR_ERR_INTERNAL, std::string("starting the supervisor: ") + std::strerror(errno));
  go.w.reset();

  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, reaper.pid, 0)));
  set_nonblock(out.r.get());
  set_nonblock(err.r.get());

  ExecOutcome res;
  HeadTail combined(spec.max_output_bytes), cap_out(spec.max_output_bytes),
      cap_err(spec.max_output_bytes);
  const long start_ms = now_ms();
  const long deadline =
      spec.timeout_s > 0 ? start_ms + static_cast<long>(spec.timeout_s * 1000) : -1;
  long kill_at = -1, drain_until = -1;
  bool term_sent = false, exited = false;
  int sup_status = 0;
  bool out_open = true, err_open = true;
  static thread_local char buf[1 << 16];

  auto pump = [&](Fd& fd, bool& open, HeadTail& cap, ar_stream stream) {
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        std::string_view chunk(buf, static_cast<size_t>(n));
        cap.append(chunk);
        combined.append(chunk);
        call.emit(stream, chunk);
        continue;
      }
      if (n == 0) {
        open = false;
        fd.reset();
      } else if (errno == EINTR) {
        continue;
      }
      return;
    }
  };

  while (!exited || out_open || err_open) {
    const long now = now_ms();
    if (exited && now >= drain_until) break;  // a writer escaped the kill: stop waiting for EOF
    if (!exited && !term_sent) {
      if (deadline >= 0 && now >= deadline) res.timed_out = true;
      if (!res.timed_out && call.cancelled()) res.cancelled = true;
      if (res.timed_out || res.cancelled) {
        ::kill(reaper.pid, SIGTERM);
        term_sent = true;
        kill_at = now + static_cast<long>(spec.grace_s * 1000) + 2000;
      }
    }
    if (term_sent && !exited && kill_at >= 0 && now >= kill_at) {
      ::kill(reaper.pid, SIGKILL);  // PID 1 dying takes its namespace with it
      kill_at = -1;
    }
    pollfd pfd[3];
    int n = 0, i_out = -1, i_err = -1, i_pid = -1;
    if (out_open) pfd[i_out = n++] = {out.r.get(), POLLIN, 0};
    if (err_open) pfd[i_err = n++] = {err.r.get(), POLLIN, 0};
    if (!exited && pidfd) pfd[i_pid = n++] = {pidfd.get(), POLLIN, 0};
    int wait = exited ? 20 : (pidfd ? 50 : 10);
    if (deadline >= 0 && !term_sent)
      wait = static_cast<int>(std::clamp(deadline - now, 0L, static_cast<long>(wait)));
    int pr = ::poll(pfd, static_cast<nfds_t>(n), wait);
    if (pr < 0 && errno != EINTR)
      throw Error(AR_ERR_INTERNAL, std::string("poll: ") + std::strerror(errno));
    if (pr > 0) {
      if (i_out >= 0 && pfd[i_out].revents) pump(out.r, out_open, cap_out, AR_STREAM_STDOUT);
      if (i_err >= 0 && pfd[i_err].revents) pump(err.r, err_open, cap_err, AR_STREAM_STDERR);
    }
    if (!exited && (!pidfd || (i_pid >= 0 && pfd[i_pid].revents))) {
      pid_t w = ::waitpid(reaper.pid, &sup_status, pidfd ? 0 : WNOHANG);
      if (w == reaper.pid) {
        exited = true;
        reaper.reaped = true;
        drain_until = now_ms() + 2000;
      }
    }
  }

  // What the supervisor reported.
  Record rec{};
  bool finished = false;
  std::optional<Record> setup_failure;
  for (;;) {
    ssize_t n = ::read(status.r.get(), &rec, sizeof rec);
    if (n != static_cast<ssize_t>(sizeof rec)) break;
    if (rec.kind == kFinished) finished = true;
    if (rec.kind == kSetupFailed && !setup_failure) setup_failure = rec;
    if (rec.kind == kFinished) break;
  }
  if (setup_failure && !res.timed_out && !res.cancelled) {
    std::string msg = std::string("could not start the command: ") +
                      step_name(setup_failure->step) +
                      " failed: " + std::strerror(setup_failure->err);
    if (setup_failure->step == kStepExec) msg += " (shell " + spec.shell + ", sandbox.shell)";
    throw Error(AR_ERR_INTERNAL, msg);
  }
  if (res.timed_out) {
    res.exit_code = 124;
  } else if (finished) {
    res.exit_code = WIFEXITED(rec.wstatus)     ? WEXITSTATUS(rec.wstatus)
                    : WIFSIGNALED(rec.wstatus) ? 128 + WTERMSIG(rec.wstatus)
                                               : 1;
  } else {
    res.exit_code = WIFSIGNALED(sup_status) ? 128 + WTERMSIG(sup_status) : 1;
  }
  res.out = cap_out.text();
  res.err = cap_err.text();
  res.output = combined.text();
  res.truncated = combined.truncated() || cap_out.truncated() || cap_err.truncated();
  res.out_bytes = cap_out.total();
  res.err_bytes = cap_err.total();
  res.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  return res;
}

}  // namespace agent_runner::fs_plugin
