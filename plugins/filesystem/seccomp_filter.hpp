// SPDX-License-Identifier: Apache-2.0
// The seccomp filter every command runs under: what namespaces, dropped capabilities and Landlock
// do not cover (terminal injection into a tty the command holds, device nodes, the clock, kernel
// modules, kexec, keyrings, ptrace, mount changes, bpf, ...). A refused call fails with EPERM,
// so a command that tries one gets an ordinary error instead of being killed.
//
// The program is a hand-written classic BPF deny list, not libseccomp: it is a fixed list of
// about fifty syscall numbers plus two argument checks, it must be installed in a child cloned
// from a multi-threaded process where nothing may allocate (libseccomp builds its program with
// malloc at load time), and it adds no runtime dependency.
#pragma once

#include <linux/filter.h>

namespace agent_runner::fs_plugin {

// The filter for this build's architecture, built once on first use (call it before cloning), or
// null when the architecture is not one the filter knows (then no filter is installed).
const sock_fprog* seccomp_program();

// Whether this kernel accepts seccomp filters that return an errno.
bool seccomp_available();

// Installs `prog` on the calling thread (raw syscalls only: safe after clone). Needs
// no_new_privs or CAP_SYS_ADMIN. Returns false with errno set.
bool install_seccomp(const sock_fprog* prog);

}  // namespace agent_runner::fs_plugin
