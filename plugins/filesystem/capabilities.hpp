// SPDX-License-Identifier: Apache-2.0
// Commands run with no capabilities, also as root: the bounding set is cleared (so executing a
// setuid-root or file-capability binary cannot give any back), the effective, permitted,
// inheritable and ambient sets are emptied, and the securebits that make uid 0 special are set
// and locked. Root keeps uid 0 (files it creates stay the user's), but uid 0 without capabilities
// cannot mknod, chown to others, load modules, set the clock, change the host's network or
// hostname, trace other processes or override file permissions.
#pragma once

namespace agent_runner::fs_plugin {

// The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap), read once;
// call before cloning.
int last_capability();

// Drops every capability of the calling process (raw syscalls only: safe after clone). Without
// CAP_SETPCAP (an unprivileged user outside a user namespace) there is nothing held to drop and
// the bounding set cannot be changed: that is not an error. Returns false with errno set when a
// capability that is held could not be dropped.
bool drop_all_capabilities(int last_cap);

}  // namespace agent_runner::fs_plugin
