// SPDX-License-Identifier: Apache-2.0
#include "seccomp_filter.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

namespace agent_runner::fs_plugin {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
constexpr uint32_t kArch = 0;  // unknown: no filter
#endif

// Refused outright: each needs a capability the command no longer has, or opens kernel attack
// surface a workspace command has no use for. The filter is a second wall behind the capability
// drop, the read-only mounts and the namespaces.
constexpr long kDenied[] = {
    SYS_ptrace,
    SYS_process_vm_readv,
    SYS_process_vm_writev,  // other processes' memory
    SYS_kexec_load,
    SYS_kexec_file_load,
    SYS_reboot,  // replacing or stopping the kernel
    SYS_init_module,
    SYS_finit_module,
    SYS_delete_module,  // kernel modules
    SYS_keyctl,
    SYS_add_key,
    SYS_request_key,  // kernel keyrings (not namespaced)
    SYS_bpf,
    SYS_perf_event_open,
    SYS_userfaultfd,        // common kernel exploit vectors
    SYS_open_by_handle_at,  // opens files by handle, past paths
    SYS_mount,
    SYS_umount2,
    SYS_pivot_root,
    SYS_chroot,  // mounts: only our own setup
    SYS_open_tree,
    SYS_move_mount,
    SYS_fsopen,
    SYS_fsconfig,
    SYS_fsmount,
    SYS_fspick,
    SYS_mount_setattr,
    SYS_swapon,
    SYS_swapoff,
    SYS_acct,
    SYS_quotactl,
    SYS_quotactl_fd,  // host-wide settings
    SYS_settimeofday,
    SYS_clock_settime,
    SYS_clock_adjtime,
    SYS_adjtimex,  // the clock
    SYS_sethostname,
    SYS_setdomainname,
    SYS_syslog,
    SYS_vhangup,
#ifdef SYS_lookup_dcookie
    SYS_lookup_dcookie,
#endif
#ifdef SYS_iopl
    SYS_iopl,
    SYS_ioperm,
#endif
#ifdef SYS_uselib
    SYS_uselib,
#endif
#ifdef SYS_nfsservctl
    SYS_nfsservctl,
#endif
};

constexpr uint32_t kDeny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);

// What a syscall number in the tree leads to.
enum class Action { deny, ioctl, mknod, mknodat };
struct Entry {
  uint32_t nr;
  Action action;
};

// Emits the program. The syscall numbers are searched as a balanced binary tree rather than a
// list: the kernel runs the filter once per syscall number when it is installed (to cache the
// numbers it always allows), and installing is per command, so the cost of a filter is its
// longest path times ~450 syscall numbers.
class Builder {
 public:
  std::vector<sock_filter> build(std::vector<Entry> entries) {
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.nr < b.nr; });
    entries.erase(
        std::unique(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.nr == b.nr; }),
        entries.end());
    // A syscall of another ABI (i386 through int 0x80 on x86_64) has other numbers: refuse them
    // all rather than let a renumbered ptrace through.
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
    jump(BPF_JEQ, kArch, 1, 0);
    stmt(BPF_RET | BPF_K, kDeny);
    stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
#if defined(__x86_64__)
    // x32 syscalls share the x86_64 arch value with their numbers offset by this bit.
    jump(BPF_JGE, 0x40000000u, 0, 1);
    stmt(BPF_RET | BPF_K, kDeny);
#endif
    tree(entries, 0, entries.size());
    // The action blocks the tree's leaves jump to.
    bind(Action::deny);
    stmt(BPF_RET | BPF_K, kDeny);
    // ioctl: pushing input into a terminal (TIOCSTI) or the console (TIOCLINUX).
    bind(Action::ioctl);
    stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(1));
    jump(BPF_JEQ, TIOCSTI, 2, 0);
    jump(BPF_JEQ, TIOCLINUX, 1, 0);
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    stmt(BPF_RET | BPF_K, kDeny);
    // mknod/mknodat of a character or block device; FIFOs, sockets and files stay allowed.
    for (auto [action, mode_arg] : {std::pair{Action::mknod, 1}, std::pair{Action::mknodat, 2}}) {
      bind(action);
      stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(mode_arg));
      stmt(BPF_ALU | BPF_AND | BPF_K, S_IFMT);
      jump(BPF_JEQ, S_IFCHR, 2, 0);
      jump(BPF_JEQ, S_IFBLK, 1, 0);
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
      stmt(BPF_RET | BPF_K, kDeny);
    }
    for (auto [at, action] : pending_) {
      const size_t offset = targets_.at(static_cast<int>(action)) - at - 1;
      if (offset > 255) throw std::logic_error("seccomp filter: jump too far");
      p_[at].jt = static_cast<uint8_t>(offset);
    }
    return std::move(p_);
  }

 private:
  // The low 32 bits of argument i (little endian): ioctl's request and mknod's mode are 32-bit
  // values, and the kernel ignores the upper half, so the upper half must not be looked at.
  static uint32_t arg_low(int i) {
    return static_cast<uint32_t>(offsetof(seccomp_data, args) + 8 * i);
  }
  void stmt(uint16_t code, uint32_t k) {
    p_.push_back(sock_filter{code, 0, 0, k});
  }
  void jump(uint16_t op, uint32_t k, uint8_t jt, uint8_t jf) {
    p_.push_back(sock_filter{static_cast<uint16_t>(BPF_JMP | op | BPF_K), jt, jf, k});
  }
  void bind(Action a) {
    targets_[static_cast<int>(a)] = p_.size();
  }

  void tree(const std::vector<Entry>& e, size_t lo, size_t hi) {
    if (hi - lo <= 3) {
      for (size_t i = lo; i < hi; ++i) {
        pending_.push_back({p_.size(), e[i].action});
        jump(BPF_JEQ, e[i].nr, 0, 0);
      }
      stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
      return;
    }
    const size_t mid = lo + (hi - lo) / 2;
    const size_t split = p_.size();
    jump(BPF_JGE, e[mid].nr, 0, 0);
    tree(e, lo, mid);
    const size_t offset = p_.size() - split - 1;
    if (offset > 255) throw std::logic_error("seccomp filter: jump too far");
    p_[split].jt = static_cast<uint8_t>(offset);
    tree(e, mid, hi);
  }

  std::vector<sock_filter> p_;
  std::vector<std::pair<size_t, Action>> pending_;
  std::map<int, size_t> targets_;
};

std::vector<sock_filter> build() {
  std::vector<Entry> entries;
  for (long nr : kDenied) entries.push_back({static_cast<uint32_t>(nr), Action::deny});
  entries.push_back({SYS_ioctl, Action::ioctl});
#ifdef SYS_mknod
  entries.push_back({SYS_mknod, Action::mknod});
#endif
  entries.push_back({SYS_mknodat, Action::mknodat});
  return Builder().build(std::move(entries));
}

}  // namespace

const sock_fprog* seccomp_program() {
  if (kArch == 0) return nullptr;
  static const std::vector<sock_filter> filter = build();
  static const sock_fprog prog{static_cast<unsigned short>(filter.size()),
                               const_cast<sock_filter*>(filter.data())};
  return &prog;
}

bool seccomp_available() {
  if (kArch == 0) return false;
  uint32_t action = SECCOMP_RET_ERRNO;
  return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

bool install_seccomp(const sock_fprog* prog) {
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) == 0;
}

}  // namespace agent_runner::fs_plugin
