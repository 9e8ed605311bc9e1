// SPDX-License-Identifier: Apache-2.0
// What file operations see: the same view table (view.hpp) commands see, so an absolute path
// means one file for both and a relative one is relative to workdir, where commands start.
//  - container view: every path is resolved inside the view's root (Resolver in root), through
//    the same mounts a command goes through: the workspace at workdir, /tmp, read-only system
//    directories (a write is permission_denied, "read-only"), masked secrets (empty), extra
//    mounts; anything else is simply not there (file_not_found).
//  - host view: the workspace and its tmp at their host paths, each resolved beneath itself;
//    any other path is permission_denied (a command could reach it, a file operation does not).
// /proc and /dev are the kernel's and for commands only: file operations on them are
// permission_denied, and glob and grep do not walk into them.
#pragma once

#include "paths.hpp"
#include "view.hpp"

#include <boost/json/object.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::fs_plugin {

class SandboxFiles {
 public:
  // view_root: the container view's root, or -1 for the host view (workspace_fd and tmp_fd are
  // then the roots). All descriptors are borrowed.
  SandboxFiles(const ViewTable& table, int view_root, int workspace_fd, int tmp_fd,
               bool force_walk);

  // `input` as an absolute sandbox path (relative ones below workdir); invalid_path when it
  // climbs above "/" or is malformed.
  SandboxPath path(std::string_view input) const;
  // The request's `key` as path(); `fallback` when absent.
  SandboxPath path_arg(const boost::json::object& req, std::string_view key,
                       std::string_view fallback = {}) const;

  // The resolver `p` is looked up with. Throws permission_denied for /proc and /dev, and in the
  // host view for a path outside the workspace and its tmp.
  const Resolver& resolver(const SandboxPath& p, std::string_view action) const;

  // The Resolver calls, on the resolver of `p`.
  Fd open(const SandboxPath& p, int flags, std::string_view action, mode_t mode = 0) const {
    return resolver(p, action).open(p, flags, action, mode);
  }
  Fd open_file(const SandboxPath& p, int flags, std::string_view action) const {
    return resolver(p, action).open_file(p, flags, action);
  }
  Fd open_parent(const SandboxPath& p, std::string_view action) const;
  Fd make_dirs(const SandboxPath& p, std::string_view action) const {
    return resolver(p, action).make_dirs(p, action);
  }

  // Whether `p` is where the view table mounts something (the workspace at workdir, /tmp, /usr,
  // ...): such a path is not deleted, nor emptied by a recursive delete.
  bool is_mount_point(const SandboxPath& p) const;
  // Whether an absolute symlink target is a sandbox path (the container view) rather than a way
  // out (host view, invalid_path).
  bool absolute_links() const { return view_root_ >= 0; }
  bool uses_openat2() const { return resolvers_.front()->uses_openat2(); }
  // Entries below `base` a walk must not enter (/proc, /dev), as paths relative to it.
  std::vector<std::string> walk_skip(const SandboxPath& base) const;

 private:
  const ViewTable& table_;
  int view_root_;
  std::vector<std::unique_ptr<Resolver>> resolvers_;  // the view's; or workspace's, tmp's
};

}  // namespace agent_runner::fs_plugin
