// SPDX-License-Identifier: Apache-2.0
#include "process.hpp"

#include "capabilities.hpp"
#include "cgroup.hpp"
#include "output_capture.hpp"
#include "seccomp_filter.hpp"
#include "supervisor.hpp"
#include "supervisor_launch.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

using Clock = std::chrono::steady_clock;

long now_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

// argv and envp for execve, pointing into strings this object owns.
struct ExecArgs {
  std::vector<std::string> strings;
  std::vector<char*> argv, envp;
  ExecArgs(const ExecSpec& spec) : strings{spec.shell, "-c", spec.command} {
    strings.insert(strings.end(), spec.env.begin(), spec.env.end());
    for (size_t i = 0; i < 3; ++i) argv.push_back(strings[i].data());
    argv.push_back(nullptr);
    for (size_t i = 3; i < strings.size(); ++i) envp.push_back(strings[i].data());
    envp.push_back(nullptr);
  }
};

void add_rlimits(ChildSetup& cs, const ExecSpec& spec) {
  const IsolationPlan& plan = *spec.plan;
  auto add = [&](int res, std::optional<uint64_t> v, uint64_t scale) {
    if (!v) return;
    rlimit cur{};
    ::getrlimit(res, &cur);
    rlim_t want = static_cast<rlim_t>(*v * scale);
    if (cur.rlim_max != RLIM_INFINITY && want > cur.rlim_max) want = cur.rlim_max;
    cs.rlimits[cs.n_rlimits++] = RLimit{res, want};
  };
  if (!spec.limits) return;
  // Address space per process only where the tree as a whole cannot be bounded by a cgroup.
  if (plan.memory == LimitScope::rlimit) add(RLIMIT_AS, spec.limits->memory_mb, 1ull << 20);
  add(RLIMIT_CPU, spec.limits->cpu_s, 1);
  add(RLIMIT_NOFILE, spec.limits->open_files, 1);
  add(RLIMIT_FSIZE, spec.limits->file_size_mb, 1ull << 20);
  if (plan.processes == LimitScope::rlimit) add(RLIMIT_NPROC, spec.limits->processes, 1);
}

// Whether the supervisor is cloned as a sibling inside the view's user namespace (supervisor.hpp).
bool reclone(const IsolationPlan& plan) {
  return plan.view && plan.user_ns && plan.pid_ns;
}

unsigned long clone_flags(const IsolationPlan& plan) {
  unsigned long flags = SIGCHLD;
  if (plan.view) {
    // The other namespaces are the sandbox's, joined; only the PID namespace is the command's.
    if (plan.pid_ns && !plan.user_ns) flags |= CLONE_NEWPID;
    return flags;
  }
  if (plan.pid_ns) flags |= CLONE_NEWPID;
  if (plan.mnt_ns) flags |= CLONE_NEWNS;
  if (plan.net_ns) flags |= CLONE_NEWNET;
  if (plan.uts_ns) flags |= CLONE_NEWUTS;
  if (plan.user_ns) flags |= CLONE_NEWUSER;
  return flags;
}

// The supervisor must be killed and reaped whatever happens once it exists.
struct Reaper {
  pid_t pid;
  bool reaped = false;
  ~Reaper() {
    if (reaped) return;
    ::kill(pid, SIGKILL);
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  }
};

}  // namespace

ExecOutcome run_command(const ExecSpec& spec, sdk::Call& call) {
  const auto started = Clock::now();
  const IsolationPlan& plan = *spec.plan;
  ExecArgs args(spec);

  Pipe out, status, go;
  out.open();
  status.open();
  go.open();
  ::fcntl(out.r.get(), F_SETPIPE_SZ, 1 << 20);
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull)
    throw Error(AR_ERR_INTERNAL, std::string("open /dev/null: ") + std::strerror(errno));

  std::vector<const char*> writable, read_only;
  for (const auto& w : plan.writable) writable.push_back(w.c_str());
  for (const auto& r : plan.command_read_only) read_only.push_back(r.c_str());
  std::vector<int> join_fds, join_types;
  if (spec.view)
    for (const auto& ns : spec.view->namespaces()) {
      join_fds.push_back(ns.fd.get());
      join_types.push_back(ns.type);
    }

  ChildSetup cs{};
  cs.shell = spec.shell.c_str();
  cs.argv = args.argv.data();
  cs.envp = args.envp.data();
  cs.stdin_fd = devnull.get();
  cs.out_w = out.w.get();
  cs.status_w = status.w.get();
  cs.go_r = go.r.get();
  cs.go_w = go.w.get();
  cs.cwd_fd = spec.cwd_fd;
  cs.ruleset_fd = plan.landlock_ruleset.get();
  cs.pid_ns = plan.pid_ns;
  cs.user_ns = plan.user_ns;
  cs.net_ns = plan.net_ns;
  cs.mnt_ns = plan.mnt_ns;
  cs.no_new_privs = plan.no_new_privs;
  cs.drop_caps = plan.drop_caps;
  cs.read_only_root = plan.read_only_root;
  cs.writable = writable.data();
  cs.n_writable = static_cast<int>(writable.size());
  cs.workspace = spec.workspace.c_str();
  cs.cwd_relative = spec.cwd_relative.c_str();
  cs.join_fds = join_fds.data();
  cs.join_types = join_types.data();
  cs.n_join = static_cast<int>(join_fds.size());
  cs.reclone = spec.view && reclone(plan);
  cs.own_mounts = spec.view && (plan.pid_ns || !read_only.empty());
  cs.read_only = read_only.data();
  cs.n_read_only = static_cast<int>(read_only.size());
  cs.cwd_path = spec.cwd_path.c_str();
  cs.seccomp = plan.seccomp ? seccomp_program() : nullptr;
  cs.last_cap = last_capability();
  std::snprintf(cs.uid_map, sizeof cs.uid_map, "%u %u 1\n", ::geteuid(), ::geteuid());
  std::snprintf(cs.gid_map, sizeof cs.gid_map, "%u %u 1\n", ::getegid(), ::getegid());
  cs.grace_ms = static_cast<long>(spec.grace_s * 1000);
  add_rlimits(cs, spec);

  CommandCgroup cgroup;
  bool memory_cgroup = false;
  if (spec.limits) {
    const auto pids = plan.processes == LimitScope::cgroup ? spec.limits->processes : std::nullopt;
    std::optional<uint64_t> memory;
    if (plan.memory == LimitScope::cgroup && spec.limits->memory_mb)
      memory = std::min<uint64_t>(*spec.limits->memory_mb, UINT64_MAX >> 21) << 20;
    if (pids || memory) cgroup.create(plan.cgroups, pids, memory);
    memory_cgroup = memory.has_value();
  }

  // S shares our memory unless it must join or make a user namespace, or is bounded by a memory
  // cgroup (supervisor_launch.hpp). `launch` outlives `reaper`: S's stacks go only once S is
  // reaped.
  SupervisorLaunch launch;
  long pid = launch.start(cs, clone_flags(plan), !plan.user_ns && !memory_cgroup);
  if (pid < 0)
    throw Error(AR_ERR_INTERNAL,
                std::string("clone of the command supervisor failed: ") + std::strerror(-pid));
  out.w.reset();
  status.w.reset();
  go.r.reset();
  devnull.reset();
  if (cs.reclone) {
    // The first child joins the view's namespaces, clones the supervisor as our child too and
    // exits at once, having said which pid it is (or why it could not).
    Reaper first{static_cast<pid_t>(pid)};
    int st = 0;
    while (::waitpid(first.pid, &st, 0) < 0 && errno == EINTR) {
    }
    first.reaped = true;
    Record rec{};
    ::fcntl(status.r.get(), F_SETFL, O_NONBLOCK);
    const bool got = ::read(status.r.get(), &rec, sizeof rec) == static_cast<ssize_t>(sizeof rec);
    ::fcntl(status.r.get(), F_SETFL, 0);
    if (!got || rec.kind != kStarted)
      throw Error(AR_ERR_INTERNAL,
                  std::string("could not start the command: ") +
                      (got && rec.kind == kSetupFailed
                           ? std::string(step_name(rec.step)) + " failed: " + std::strerror(rec.err)
                           : "the supervisor did not start"));
    pid = rec.wstatus;
  }
  Reaper reaper{static_cast<pid_t>(pid)};

  if (cgroup.active()) cgroup.add(reaper.pid);
  if (::write(go.w.get(), "g", 1) != 1)
    throw Error(AR_ERR_INTERNAL, std::string("starting the supervisor: ") + std::strerror(errno));
  go.w.reset();

  Fd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, reaper.pid, 0)));
  OutputCapture capture(std::move(out.r), spec.max_output_bytes, call);

  ExecOutcome res;
  const long start_ms = now_ms();
  const long deadline =
      spec.timeout_s > 0 ? start_ms + static_cast<long>(spec.timeout_s * 1000) : -1;
  long kill_at = -1, drain_until = -1;
  bool term_sent = false, exited = false;
  int sup_status = 0;

  while (!exited || capture.open()) {
    const long now = now_ms();
    if (exited && now >= drain_until) break;  // a writer escaped the kill: stop waiting for EOF
    if (!exited && !term_sent) {
      if (deadline >= 0 && now >= deadline) res.timed_out = true;
      if (!res.timed_out && (call.cancelled() || (spec.stop_requested && spec.stop_requested())))
        res.cancelled = true;
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
    pollfd pfd[2];
    const int n_out = capture.add_to(pfd);
    int n = n_out, i_pid = -1;
    if (!exited && pidfd) pfd[i_pid = n++] = {pidfd.get(), POLLIN, 0};
    int wait = exited ? 20 : (pidfd ? 50 : 10);
    if (deadline >= 0 && !term_sent)
      wait = static_cast<int>(std::clamp(deadline - now, 0L, static_cast<long>(wait)));
    int pr = ::poll(pfd, static_cast<nfds_t>(n), wait);
    if (pr < 0 && errno != EINTR)
      throw Error(AR_ERR_INTERNAL, std::string("poll: ") + std::strerror(errno));
    if (pr > 0) capture.read_ready(pfd, n_out);
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
    if (rec.kind == kStarted) continue;
    if (rec.kind == kFinished) finished = true;
    if (rec.kind == kSetupFailed && !setup_failure) setup_failure = rec;
    if (rec.kind == kFinished) break;
  }
  // A supervisor that was killed (by us after the grace period, or by the OOM killer) could not
  // kill the tree itself; without a PID namespace the cgroup is how it is found.
  if (!finished) cgroup.kill_all();
  if (setup_failure && !res.timed_out && !res.cancelled) {
    std::string msg = std::string("could not start the command: ") +
                      step_name(setup_failure->step) +
                      " failed: " + std::strerror(setup_failure->err);
    if (is_exec_step(setup_failure->step)) msg += " (shell " + spec.shell + ", sandbox.shell)";
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
  res.output = capture.output();
  res.truncated = capture.truncated();
  res.bytes = capture.bytes();
  res.duration_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  return res;
}

}  // namespace agent_runner::fs_plugin
