// SPDX-License-Identifier: Apache-2.0
// What the supervisor sets up inside the namespaces it was cloned into, before anything of the
// command runs: the user namespace's id maps, loopback in a network namespace, and the mount
// namespace (a /proc of its own PID namespace; in the host view every mount read-only and nosuid
// but the workspace and TMPDIR, which are bind-mounted nodev and nosuid). Raw syscalls only, no
// allocation: this runs in a clone of a multi-threaded process.
#pragma once

namespace agent_runner::fs_plugin {

struct MountSetup {
  bool own_proc = false;        // mount a /proc of the new PID namespace
  bool read_only_root = false;  // everything read-only except `writable`
  const char* const* writable = nullptr;
  int n_writable = 0;
};

bool write_id_maps(const char* uid_map, const char* gid_map);
bool bring_up_loopback();
// Returns false with errno set.
bool set_up_mounts(const MountSetup& m);
// In a command's own copy of the container view's mounts: a /proc of its PID namespace
// (own_proc) and `read_only` made read-only (isolation read-only). Returns false with errno set.
bool set_up_view_mounts(bool own_proc, const char* const* read_only, int n_read_only);
// The command's working directory again, looked up in the new mount namespace: a descriptor
// opened before the clone still points into the host's mounts, where `..` would lead out of the
// read-only view. Returns an O_PATH fd or -1 with errno set.
int reopen_in_namespace(const char* workspace, const char* relative);

}  // namespace agent_runner::fs_plugin
