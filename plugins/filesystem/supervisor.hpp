// SPDX-License-Identifier: Apache-2.0
// The supervisor: one process per execute call that owns the command's whole process tree.
//
//   plugin thread ──clone──> supervisor S ──clone──> /bin/sh -c CMD ──> ...
//
// S shares the host's memory (CLONE_VM) on stacks of its own, with the thread-local storage of a
// thread parked for it; with a user namespace or a memory cgroup it is a fork
// (supervisor_launch.hpp says why).
// S leaves agent-runner's controlling terminal, if it has one, by starting a new session
// (nothing of the command can open /dev/tty of the terminal agent-runner runs in), sets up its
// namespaces (namespaces.hpp) — in the container view it joins the sandbox's namespaces
// (view_mount.hpp) with setns(2) and, for a /proc of its own PID namespace, unshares a copy of
// the view's mounts — applies rlimits, no_new_privs and Landlock, then clones the shell, which
// installs the seccomp filter, drops every capability and executes the command with stdin from
// /dev/null and stdout and stderr on one pipe (so the output keeps the order of the writes).
// The shell is cloned with CLONE_VM | CLONE_VFORK on a stack of its own: memory is not copied
// only to be thrown away by the exec, and S waits, suspended, until the exec has happened or
// failed.
//
// Not root, the view's namespaces belong to a user namespace: S joins it first and then, since
// only a child of S could be in a new PID namespace made there, clones the real supervisor as its
// sibling (CLONE_PARENT: still agent-runner's child) as PID 1 of that namespace, reports its pid
// and exits.
//
// S is PID 1 of a fresh PID namespace when the kernel allows it (as root, or inside a user
// namespace): every descendant, including ones that called setsid() or double-forked, lives in
// that namespace and `kill(-1, SIGKILL)` from S (or S's own death) kills them all atomically — the
// kernel even refuses new forks in a dying namespace. Without PID namespaces S is a child
// subreaper that kills the command's process group and walks /proc/<pid>/task/*/children.
//
// S returns as soon as the shell itself exits: it then kills whatever the shell left running
// (a background job holding the output pipe) and exits, so the call does not wait for it.
// Timeout and cancellation: the plugin sends S SIGTERM; S forwards TERM to the tree, waits a
// short grace, then SIGKILLs it. When agent-runner itself dies (even by SIGKILL) S learns it from
// its parent-death signal: with a PID namespace that signal is SIGKILL and the kernel kills the
// tree with S; without one it is kParentDied, on which S kills the tree before exiting.
//
// Everything here runs after clone(), in the memory of a multi-threaded process or a copy of it:
// raw syscalls only, no allocation, no locks, and nothing written outside S's own stack (and
// errno, in the parked thread's TLS).
#pragma once

#include <linux/filter.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>

namespace agent_runner::fs_plugin {

// The parent-death signal of a supervisor without a PID namespace.
constexpr int kParentDied = SIGUSR1;

// What S reports on its status pipe.
// kStarted: the supervisor S cloned as its sibling (its pid in `wstatus`).
enum RecordKind : int32_t { kFinished = 1, kSetupFailed = 2, kStarted = 3 };
struct Record {
  int32_t kind;
  int32_t wstatus;
  int32_t err;
  int32_t step;
};
// "applying the Landlock ruleset", ... for a kSetupFailed record's step.
const char* step_name(int32_t step);
bool is_exec_step(int32_t step);

struct RLimit {
  int resource;
  rlim_t value;
};

struct ChildSetup {
  const char* shell;
  char* const* argv;
  char* const* envp;
  int stdin_fd, out_w, status_w, go_r, go_w, cwd_fd, ruleset_fd;
  bool pid_ns, user_ns, net_ns, mnt_ns, no_new_privs, drop_caps;
  // The container view: namespaces to join (the user namespace first), then, in a mount
  // namespace of its own (own_mounts), a /proc of its PID namespace and `read_only` made
  // read-only; `cwd_path` is the working directory inside the view.
  const int* join_fds;
  const int* join_types;
  int n_join;
  bool reclone;  // clone the supervisor as a sibling in a new PID namespace (see above)
  bool own_mounts;
  const char* const* read_only;
  int n_read_only;
  const char* cwd_path;
  // Mount namespace: the read-only view, and the working directory looked up again inside it.
  bool read_only_root;
  const char* const* writable;
  int n_writable;
  const char* workspace;
  const char* cwd_relative;
  const sock_fprog* seccomp;  // null: no filter
  int last_cap;
  char uid_map[64], gid_map[64];
  RLimit rlimits[6];
  int n_rlimits;
  long grace_ms;
  // The stack the shell runs on between its clone (sharing S's memory, S suspended until the
  // exec, as posix_spawn does) and execve: top of a region of `shell_stack_size` bytes.
  char* shell_stack;
  size_t shell_stack_size;
};

// The body of S (the entry point of the clone). Never returns.
[[noreturn]] void supervise(const ChildSetup& cs);

}  // namespace agent_runner::fs_plugin
