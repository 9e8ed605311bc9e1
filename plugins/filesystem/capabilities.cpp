// SPDX-License-Identifier: Apache-2.0
#include "capabilities.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace agent_runner::fs_plugin {

int last_capability() {
  static const int last = [] {
    int v = CAP_LAST_CAP;
    int fd = ::open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[16] = {};
      if (::read(fd, buf, sizeof buf - 1) > 0) v = std::atoi(buf);
      ::close(fd);
    }
    return v > 0 && v < 64 ? v : CAP_LAST_CAP;
  }();
  return last;
}

bool drop_all_capabilities(int last_cap) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &hdr, data) != 0) return false;
  const bool setpcap = data[0].effective & (1u << CAP_SETPCAP);
  if (setpcap) {
    // uid 0 gets no implicit capabilities at execve, and nothing can turn that back on.
    ::prctl(PR_SET_SECUREBITS,
            SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
            0, 0, 0);
    for (int cap = 0; cap <= last_cap; ++cap)
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return false;
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  const bool held = data[0].effective | data[0].permitted | data[0].inheritable |
                    data[1].effective | data[1].permitted | data[1].inheritable;
  if (!held) return true;
  __user_cap_data_struct none[2]{};
  return ::syscall(SYS_capset, &hdr, none) == 0;
}

}  // namespace agent_runner::fs_plugin
