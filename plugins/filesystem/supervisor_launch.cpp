// SPDX-License-Identifier: Apache-2.0
#include "supervisor_launch.hpp"

#include <agent_runner/plugin.hpp>

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace agent_runner::fs_plugin {
namespace {

// S's deepest path is signal_descendants (supervisor.cpp): 64 levels of a 4 KiB /proc read.
constexpr size_t kSupervisorStack = 512 * 1024;
// The shell between its clone and its execve (run_shell).
constexpr size_t kShellStack = 64 * 1024;
// A parked thread only waits.
constexpr size_t kThreadStack = 64 * 1024;
// Idle slots kept for the next commands.
constexpr size_t kMaxIdle = 8;

size_t page_size() {
  static const size_t size = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

size_t region_size() {
  return 2 * page_size() + kShellStack + kSupervisorStack;
}

int supervisor_entry(void* cs) {
  supervise(*static_cast<const ChildSetup*>(cs));
}

[[noreturn]] void fail(const char* what, int err) {
  throw sdk::Error(AR_ERR_INTERNAL, std::string("starting the command supervisor: ") + what + ": " +
                                        std::strerror(err));
}

}  // namespace

struct LaunchSlot {
  char* region = nullptr;  // [guard | shell stack | guard | supervisor stack]
  // The parked thread and its TLS pointer.
  pthread_t thread{};
  void* tls = nullptr;
  std::mutex mutex;
  std::condition_variable cv;
  bool parked = false, quit = false;

  LaunchSlot();
  ~LaunchSlot();
  static void* park(void* self);
};

LaunchSlot::LaunchSlot() {
  void* p = ::mmap(nullptr, region_size(), PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (p == MAP_FAILED) fail("mapping its stacks", errno);
  region = static_cast<char*>(p);
  const size_t guard = page_size();
  if (::mprotect(region + guard, kShellStack, PROT_READ | PROT_WRITE) != 0 ||
      ::mprotect(region + 2 * guard + kShellStack, kSupervisorStack, PROT_READ | PROT_WRITE) != 0) {
    const int err = errno;
    ::munmap(region, region_size());
    fail("mapping its stacks", err);
  }
  // No signal meant for the host runs a handler on the parked thread.
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  ::pthread_attr_init(&attr);
  ::pthread_attr_setstacksize(&attr, kThreadStack);
  const int err = ::pthread_create(&thread, &attr, park, this);
  ::pthread_attr_destroy(&attr);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (err != 0) {
    ::munmap(region, region_size());
    fail("creating its thread", err);
  }
  std::unique_lock<std::mutex> lock(mutex);
  cv.wait(lock, [this] { return parked; });
}

LaunchSlot::~LaunchSlot() {
  {
    std::lock_guard<std::mutex> lock(mutex);
    quit = true;
  }
  cv.notify_all();
  ::pthread_join(thread, nullptr);
  ::munmap(region, region_size());
}

void* LaunchSlot::park(void* p) {
  auto* self = static_cast<LaunchSlot*>(p);
  std::unique_lock<std::mutex> lock(self->mutex);
  self->tls = __builtin_thread_pointer();
  self->parked = true;
  self->cv.notify_all();
  // From here until the slot is destroyed (never while an S of it runs) this thread only waits.
  self->cv.wait(lock, [self] { return self->quit; });
  return nullptr;
}

namespace {

struct Pool {
  std::mutex mutex;
  std::vector<LaunchSlot*> idle;
};

// Never destroyed: parked threads wait on their slots until the process exits. (A fork of the
// host has the slots but not their threads; the host's forks exec, or only probe a plugin's
// entry function, and never run a command.)
Pool& pool() {
  static Pool* const p = new Pool;
  return *p;
}

}  // namespace

SupervisorLaunch::SupervisorLaunch() {
  {
    Pool& p = pool();
    std::lock_guard<std::mutex> lock(p.mutex);
    if (!p.idle.empty()) {
      slot_ = p.idle.back();
      p.idle.pop_back();
      return;
    }
  }
  slot_ = new LaunchSlot;
}

SupervisorLaunch::~SupervisorLaunch() {
  Pool& p = pool();
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.idle.size() < kMaxIdle) {
      p.idle.push_back(slot_);
      return;
    }
  }
  delete slot_;
}

long SupervisorLaunch::start(ChildSetup& cs, unsigned long flags, bool share_memory) {
  cs.shell_stack = slot_->region + page_size() + kShellStack;
  cs.shell_stack_size = kShellStack;
  return start_child(supervisor_entry, &cs, flags, share_memory);
}

long SupervisorLaunch::start_child(int (*entry)(void*), void* arg, unsigned long flags,
                                   bool share_memory) {
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps each thread's state, its stack bounds among it, in TLS: S, on a stack
  // that is not the parked thread's, would have the wrong stack unpoisoned at every noreturn
  // call, and S's frames would leave the slot's stacks poisoned for the next S. Under ASan S is a
  // fork (the path an unprivileged user's commands take), which the sanitizer handles.
  share_memory = false;
#endif
  if (share_memory) flags |= CLONE_VM | CLONE_SETTLS;
  // S starts with every signal blocked: a TERM sent before it is ready is queued rather than
  // lost (PID 1 of a namespace drops signals it has no handler for).
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  long pid = ::clone(entry, slot_->region + region_size(), static_cast<int>(flags), arg, nullptr,
                     share_memory ? slot_->tls : nullptr, nullptr);
  if (pid < 0) pid = -errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return pid;
}

}  // namespace agent_runner::fs_plugin
