// SPDX-License-Identifier: Apache-2.0
#include "kernel_features.hpp"

#include "capabilities.hpp"
#include "namespaces.hpp"
#include "paths.hpp"
#include "seccomp_filter.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif

namespace agent_runner::fs_plugin {
namespace {

int landlock_abi_version() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : static_cast<int>(v);
}

// Clones a throwaway child with `flags`; it runs `test` (raw syscalls only: it is a clone of a
// multi-threaded process) and the result is whether both the clone and the test succeeded.
template <typename Test>
bool in_child(unsigned long flags, Test test) {
  long pid;
  if (flags & CLONE_NEWUSER) {
    // A test in a user namespace of its own makes itself dumpable to write its id maps, a flag of
    // its memory: it gets a copy of ours.
    pid = ::syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) ::syscall(SYS_exit_group, test() ? 0 : 1);
  } else {
    // It shares our memory until it exits, as posix_spawn's child does (we are suspended until
    // then), on a stack of its own in this frame: no copy of the host's page tables for a probe.
    alignas(16) char stack[32 * 1024];
    pid = ::clone([](void* t) { return (*static_cast<Test*>(t))() ? 0 : 1; }, stack + sizeof stack,
                  static_cast<int>(flags) | CLONE_VM | CLONE_VFORK | SIGCHLD, &test);
  }
  if (pid < 0) return false;
  int st = 0;
  while (::waitpid(static_cast<pid_t>(pid), &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

bool can_clone(unsigned long flags) {
  return in_child(flags, [] { return true; });
}

// The whole mount tree of a new namespace turned read-only at once, as every command's is.
// In the test child: raw syscalls only.
bool make_root_read_only() {
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID;
  return ::syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &attr, sizeof attr) == 0;
}

// `flags`: the user namespace when not root, and any other namespaces to try in the same child.
bool read_only_root_works(unsigned long flags) {
  return in_child(flags | CLONE_NEWNS, [] {
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
    return make_root_read_only();
  });
}

// What building the container view needs, tried in a throwaway child: a tmpfs over /tmp of a
// private copy of the mounts, a bind into it, and pivot_root into it (refused where the root is
// not a mount point, as in some chroots and initramfs). `flags`: the user namespace when not
// root, and any other namespaces to try in the same child; `read_only_root_too`: the read-only
// root tried first in the same child (read_only_root_works).
bool view_works(unsigned long flags, bool read_only_root_too) {
  const bool userns = flags & CLONE_NEWUSER;
  // In a user namespace nothing can be created before the id maps are written (EOVERFLOW).
  char uid_map[64], gid_map[64];
  std::snprintf(uid_map, sizeof uid_map, "%u %u 1\n", ::geteuid(), ::geteuid());
  std::snprintf(gid_map, sizeof gid_map, "%u %u 1\n", ::getegid(), ::getegid());
  return in_child(flags | CLONE_NEWNS, [&] {
    // (agent-runner is non-dumpable, which makes /proc/self/*_map root's: dumpable for a moment)
    if (userns && (::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0 || !write_id_maps(uid_map, gid_map)))
      return false;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
    if (read_only_root_too && !make_root_read_only()) return false;
    if (::mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k") != 0)
      return false;
    if (::mkdir("/tmp/dev", 0755) != 0 ||
        ::mount("/dev", "/tmp/dev", nullptr, MS_BIND | MS_REC, nullptr))
      return false;
    return ::chdir("/tmp") == 0 && ::syscall(SYS_pivot_root, ".", ".") == 0 &&
           ::umount2(".", MNT_DETACH) == 0;
  });
}

int read_int(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[16] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 ? std::atoi(buf) : -1;
}

}  // namespace

const KernelFeatures& kernel_features() {
  static std::once_flag once;
  static KernelFeatures f;
  std::call_once(once, [] {
    f.landlock_abi = landlock_abi_version();
    f.is_root = ::geteuid() == 0;
    f.openat2 = Resolver::openat2_available();
    const unsigned long userns = f.is_root ? 0 : CLONE_NEWUSER;
    // One child tries every namespace a command gets, the read-only root and the container view
    // at once: on a machine that allows it all, that is the whole probe, one clone instead of
    // seven on every command. Only when it fails is each one tried on its own, to learn which is
    // missing. The network namespace is probed apart, on first use (network_namespace_works()).
    const unsigned long all = userns | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
    const bool all_at_once = view_works(all, true);
    if (all_at_once || read_only_root_works(all)) {
      f.user_ns = f.pid_ns = f.mnt_ns = f.uts_ns = f.ipc_ns = f.read_only_root = true;
    } else {
      f.user_ns = f.is_root || can_clone(CLONE_NEWUSER);
      f.pid_ns = can_clone(userns | CLONE_NEWPID);
      f.mnt_ns = can_clone(userns | CLONE_NEWNS);
      f.uts_ns = can_clone(userns | CLONE_NEWUTS);
      f.ipc_ns = can_clone(userns | CLONE_NEWIPC);
      f.read_only_root = f.mnt_ns && read_only_root_works(userns);
    }
    f.view = all_at_once || (f.read_only_root && f.uts_ns && f.ipc_ns && view_works(userns, false));
    f.seccomp = seccomp_available() && seccomp_program() != nullptr;
    f.drop_caps = f.is_root || f.user_ns;
    f.legacy_tiocsti = read_int("/proc/sys/dev/tty/legacy_tiocsti");
    (void)last_capability();  // read before any clone needs it
  });
  return f;
}

bool network_namespace_works() {
  static std::once_flag once;
  static bool works = false;
  std::call_once(once, [] {
    const KernelFeatures& k = kernel_features();
    works = can_clone((k.is_root ? 0 : CLONE_NEWUSER) | CLONE_NEWNET);
  });
  return works;
}

const CgroupPlaces& cgroup_places() {
  static std::once_flag once;
  static CgroupPlaces places;
  std::call_once(once, [] {
    if (kernel_features().is_root) places = find_cgroup_places();
  });
  return places;
}

}  // namespace agent_runner::fs_plugin
