// SPDX-License-Identifier: Apache-2.0
#include "namespaces.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace agent_runner::fs_plugin {
namespace {

bool write_proc(const char* path, const char* data) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  size_t len = std::strlen(data);
  bool ok = ::write(fd, data, len) == static_cast<ssize_t>(len);
  ::close(fd);
  return ok;
}

bool set_attr(const char* path, unsigned int flags, uint64_t set, uint64_t clear) {
  mount_attr attr{};
  attr.attr_set = set;
  attr.attr_clr = clear;
  return ::syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr) == 0;
}

}  // namespace

bool write_id_maps(const char* uid_map, const char* gid_map) {
  write_proc("/proc/self/setgroups", "deny");
  return write_proc("/proc/self/uid_map", uid_map) && write_proc("/proc/self/gid_map", gid_map);
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

bool set_up_mounts(const MountSetup& m) {
  // Nothing done here may propagate back into the host's mount namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  if (m.own_proc) {
    // The command sees its own processes only, not the host's command lines, environments or
    // open files. Best effort: where the kernel refuses a proc mount (a container that masks
    // parts of /proc), the command keeps the host's view and everything else still holds.
    ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  }
  if (!m.read_only_root) return true;
  // The writable directories get mounts of their own first, so that the recursive read-only
  // below covers them and can then be lifted from exactly them.
  for (int i = 0; i < m.n_writable; ++i) {
    if (::mount(m.writable[i], m.writable[i], nullptr, MS_BIND | MS_REC, nullptr) != 0)
      return false;
  }
  if (!set_attr("/", AT_RECURSIVE, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, 0)) return false;
  for (int i = 0; i < m.n_writable; ++i) {
    if (!set_attr(m.writable[i], 0, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY))
      return false;
  }
  return true;
}

bool set_up_view_mounts(bool own_proc, const char* const* read_only, int n_read_only) {
  // The view's mounts are private already: nothing here reaches the sandbox's other commands.
  if (own_proc) ::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  for (int i = 0; i < n_read_only; ++i)
    if (!set_attr(read_only[i], AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)) return false;
  return true;
}

int reopen_in_namespace(const char* workspace, const char* relative) {
  int ws = ::open(workspace, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (ws < 0) return -1;
  open_how how{};
  how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, ws, relative, &how, sizeof how);
  if (fd < 0 && errno == ENOSYS) fd = ::openat(ws, relative, O_PATH | O_DIRECTORY | O_CLOEXEC);
  const int err = errno;
  ::close(ws);
  errno = err;
  return static_cast<int>(fd);
}

}  // namespace agent_runner::fs_plugin
