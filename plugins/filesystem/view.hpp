// SPDX-License-Identifier: Apache-2.0
// The sandbox's filesystem as commands and file operations both see it: ONE mount table. Where a
// mount namespace can be made (the container view) view_mount.hpp mounts exactly these
// entries on a fresh tmpfs root and file operations resolve through the mounted result; without
// one (the host view) the table holds only the workspace and its tmp at their host paths.
//
//   sandbox path      host source                     mode  kind
//   /                 (tmpfs)                          ro    root
//   /usr /etc /opt    /usr /etc /opt                   ro    system      (/bin, /sbin, /lib*
//   /bin -> usr/bin   (symlink as on the host)               symlink      likewise, when present)
//   /etc/shadow ...   (an empty file or directory)     ro    mask        secrets, root_dir,
//                                                                         the plugin directory
//   <workdir>         the workspace                    rw    workspace   (ro for commands under
//   /tmp              the sandbox's tmp directory      rw    tmp          isolation read-only)
//   /proc             (proc of the command's PID namespace)  proc
//   /dev              (tmpfs) + null zero full random urandom tty, pts, shm, fd/stdin/...
//   mounts[i].path    mounts[i].host                   ro|rw mount
//
// Nothing else of the host is there: no /root, /home, /srv, host /tmp, other workspaces.
#pragma once

#include <agent_runner/sandbox_path.hpp>

#include <boost/json/array.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::fs_plugin {

enum class MountKind {
  root,       // the tmpfs every other entry hangs below (read-only once built)
  system,     // a host system directory, bound read-only
  symlink,    // a symlink as the host has it (/bin -> usr/bin); `source` is its target
  mask,       // an empty file or directory bound read-only over a secret
  workspace,  // the workspace, at workdir
  tmp,        // the sandbox's own /tmp
  proc,       // a private /proc
  dev,        // the tmpfs of /dev (read-only once built)
  device,     // a host device node bound into /dev
  devpts,     // a private devpts instance at /dev/pts
  shm,        // a private tmpfs at /dev/shm
  mount,      // an operator's extra bind (sandbox.mounts)
};
const char* mount_kind_name(MountKind k);

struct MountEntry {
  std::string path;    // absolute, normalised sandbox path
  std::string source;  // host path of a bind; a symlink's target; empty otherwise
  bool writable = false;
  bool is_dir = true;  // the mount point is a directory (else a file)
  MountKind kind = MountKind::system;
  // Whether file operations may reach it: /proc and /dev are the kernel's, for commands only.
  bool file_ops() const;
};

// An operator's extra bind (sandbox.mounts[i]).
struct MountSpec {
  std::string host;  // absolute host path (exists)
  std::string path;  // absolute sandbox path
  bool writable = false;
};

// Sandbox paths `workdir` and `mounts` may not be at, below or above: what the view itself
// mounts (system directories, /tmp, /proc, /dev).
bool is_reserved_path(const sdk::SandboxPath& p);
// Whether one of `a`, `b` is the other or lies below it.
bool paths_overlap(const sdk::SandboxPath& a, const sdk::SandboxPath& b);

struct ViewInputs {
  std::string workdir;    // sandbox path of the workspace (container view)
  std::string workspace;  // host path of the workspace
  std::string tmp;        // host path of the sandbox's tmp
  std::vector<MountSpec> mounts;
  std::vector<std::string> hidden;  // host paths to mask when a system bind would show them
};

class ViewTable {
 public:
  // The container view's table, read off this host (which system directories exist, which
  // secrets to mask).
  static ViewTable container(const ViewInputs& in);
  // The host view: the workspace and its tmp at their real host paths, nothing else.
  static ViewTable host(const std::string& workspace, const std::string& tmp);

  bool is_container() const { return container_; }
  const std::string& workdir() const { return workdir_; }
  // Sandbox path of /tmp ("/tmp", or the tmp directory's host path in the host view).
  const std::string& tmp_path() const { return tmp_path_; }
  // Sorted by path: a parent comes before what is mounted below it.
  const std::vector<MountEntry>& entries() const { return entries_; }
  // The entry `p` lies in (the longest path that is `p` or a parent of it); null when none (the
  // host view outside the workspace and its tmp).
  const MountEntry* find(const sdk::SandboxPath& p) const;
  // `input` as an absolute sandbox path: absolute as given, relative below workdir.
  sdk::SandboxPath absolute(std::string_view input) const;
  // [{path, source, mode, kind}] for info().
  boost::json::array to_json() const;

 private:
  bool container_ = false;
  std::string workdir_, tmp_path_;
  std::vector<MountEntry> entries_;
};

}  // namespace agent_runner::fs_plugin
