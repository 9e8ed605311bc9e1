// SPDX-License-Identifier: Apache-2.0
// How the supervisor S (supervisor.hpp) is started: on stacks and thread-local storage of its own.
//
// A fork of the host costs a command more than the command itself: the kernel copies the host's
// page tables, write-protects every page of its heap (so the host's next writes fault), and tears
// the copy down when S exits — on a virtual machine each of those page-table writes and TLB
// flushes is a trap. So S shares the host's memory (CLONE_VM), as posix_spawn's child does, and
// runs on a stack mapped for it, with guard pages. Unlike posix_spawn's child S lives as long as
// the command, beside the host's running threads, so it must not use the thread-local storage of
// the thread that cloned it (a CLONE_VM child keeps its parent's TLS pointer): every libc call of
// S that fails writes `errno` there. S gets the TLS of a parked thread instead (CLONE_SETTLS), a
// thread kept only for this that waits and runs nothing else: S's errno, and the shell's, are
// written where no code reads them. (glibc also flips that TLS's cancellation-type bit around
// S's blocking calls, atomically; parked threads are never cancelled.)
//
// S's parent is still the plugin thread running the command, which waits for S: its
// parent-death signal fires when that thread, or the whole host, dies.
//
// Slots (S's stacks and a parked thread) are pooled, as many as there have been concurrent
// commands (at most kMaxIdle idle ones are kept): a command costs no mapping and no thread.
// S starts with every signal blocked and waits for its control signals with sigtimedwait
// (supervisor.cpp).
//
// S is a fork, on the same stacks (`share_memory` false), in three cases:
// - With a user namespace. Joining one needs a process whose memory is its own (setns(2) refuses
//   a process that shares it), and writing its id maps makes the process dumpable for a moment,
//   which with shared memory would be the host's memory.
// - In a memory cgroup. The cgroup's OOM killer picks the member with the largest memory, and
//   kills every process sharing that memory: a command over its limit would take the host with
//   it. (The shell shares memory only between its clone and its execve, before any of the
//   command's pages exist.)
// - Under AddressSanitizer, whose per-thread state (the stack's bounds) lives in the TLS S would
//   borrow (supervisor_launch.cpp).
#pragma once

#include "supervisor.hpp"

namespace agent_runner::fs_plugin {

struct LaunchSlot;

// A slot from the pool, for one command.
class SupervisorLaunch {
 public:
  SupervisorLaunch();
  // Gives the slot back: only once S has been reaped (S runs on the slot's stacks and TLS).
  // Declare it before whatever reaps S.
  ~SupervisorLaunch();
  SupervisorLaunch(const SupervisorLaunch&) = delete;
  SupervisorLaunch& operator=(const SupervisorLaunch&) = delete;

  // Sets `cs.shell_stack`, clones S with `flags` (plus CLONE_VM when `share_memory`) running
  // supervise(cs), and returns its pid, or -errno when the clone failed. `cs` must stay valid
  // until S has been reaped.
  long start(ChildSetup& cs, unsigned long flags, bool share_memory);
  // The same for any child that runs only raw syscalls and _exits (the view's builder,
  // view_mount.cpp): `entry(arg)` on the supervisor's stack of the slot. `arg` must stay valid
  // until the child has been reaped.
  long start_child(int (*entry)(void*), void* arg, unsigned long flags, bool share_memory);

 private:
  LaunchSlot* slot_;
};

}  // namespace agent_runner::fs_plugin
