// SPDX-License-Identifier: Apache-2.0
// Sandbox paths and their resolution by the kernel, relative to a directory fd held on a root:
// openat2 where the kernel has it, otherwise a component-by-component walk with O_NOFOLLOW that
// resolves symlinks itself. Two kinds of root:
//  - beneath (RESOLVE_BENEATH): the workspace or its tmp directory in the host view. `..` above
//    the root, absolute symlinks and symlink chains leading out end in invalid_path.
//  - in root (RESOLVE_IN_ROOT): the container view's root (view_mount.hpp), where the sandbox's
//    filesystem is all there is: `..` stops at the root and an absolute symlink is resolved from
//    it, exactly as for a command chrooted there.
// Either way /proc magic links are refused and a symlink swapped in mid-operation never leads an
// access outside the root.
//
// Paths given to a Resolver are absolute sandbox paths at or below its `prefix` (where its root
// is in the sandbox: "/" for the view, the workspace's path in the host view); errors and
// results show them whole.
#pragma once

#include <agent_runner/fd.hpp>
#include <agent_runner/sandbox_path.hpp>

#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent_runner::fs_plugin {

// The SDK's owned fd and lexical sandbox paths (sdk/include/agent_runner/fd.hpp,
// sandbox_path.hpp); resolution beneath the workspace is this plugin's own (Resolver).
using sdk::Fd;
using sdk::parse_sandbox_path;
using sdk::SandboxPath;

// Throws the sdk::Error an errno means for `path` (ENOENT -> file_not_found, EXDEV/ELOOP ->
// invalid_path, ...).
[[noreturn]] void throw_errno(int err, const std::string& path, std::string_view action);
// Throws invalid_path for a file that is neither a regular file nor a directory ("is a FIFO").
void check_file_type(mode_t mode, const std::string& path, std::string_view action);

class Resolver {
 public:
  // root_fd: an O_PATH|O_DIRECTORY descriptor of the root (borrowed); `prefix`: its sandbox path.
  Resolver(int root_fd, bool force_walk, bool in_root = false, SandboxPath prefix = {});

  // Opens `p` beneath the workspace with open(2) `flags` (O_CLOEXEC is added). Symlinks are
  // followed only while they stay beneath the root. Returns the fd or -errno.
  int open_beneath(const SandboxPath& p, int flags, mode_t mode = 0) const;
  // Same, throwing the matching sdk::Error.
  Fd open(const SandboxPath& p, int flags, std::string_view action, mode_t mode = 0) const;
  // Opens `p` when it is a regular file or a directory, with `flags` plus O_NONBLOCK and
  // O_NOCTTY: a FIFO, socket or device that a command left in the workspace is refused
  // (invalid_path, "is a FIFO") before it is opened, so opening never blocks and never touches a
  // device.
  Fd open_file(const SandboxPath& p, int flags, std::string_view action) const;
  // The parent directory of `p` (O_PATH), for *at() calls on p.leaf() that must not follow it.
  Fd open_parent(const SandboxPath& p, std::string_view action) const;
  // Creates every missing directory of `p` (like mkdir -p) and returns the last one (O_PATH).
  Fd make_dirs(const SandboxPath& p, std::string_view action) const;

  bool uses_openat2() const { return !force_walk_ && openat2_available(); }
  static bool openat2_available();
  // Whether this is the container view's root (absolute symlinks are resolved from it).
  bool in_root() const { return in_root_; }
  const SandboxPath& prefix() const { return prefix_; }
  // Whether `p` is at or below prefix().
  bool holds(const SandboxPath& p) const;

 private:
  // The components of `p` below prefix().
  std::vector<std::string> below(const SandboxPath& p) const;
  int walk(const std::vector<std::string>& parts, int flags, mode_t mode) const;
  int root_fd_;
  bool force_walk_;
  bool in_root_;
  SandboxPath prefix_;
};

}  // namespace agent_runner::fs_plugin
