// Sandbox paths and their resolution beneath the workspace. Every lookup is done by the kernel
// relative to a directory fd held on the workspace: openat2(RESOLVE_BENEATH |
// RESOLVE_NO_MAGICLINKS) where the kernel has it, otherwise a component-by-component walk with
// O_NOFOLLOW that resolves symlinks itself and refuses absolute targets and `..` above the root.
// Either way `..`, absolute symlinks, symlink chains leading out, /proc magic links and a symlink
// swapped in mid-operation end in invalid_path, never in an access outside.
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
  // root_fd: an O_PATH|O_DIRECTORY descriptor of the workspace (borrowed).
  Resolver(int root_fd, bool force_walk);

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

 private:
  int walk(const SandboxPath& p, int flags, mode_t mode) const;
  int root_fd_;
  bool force_walk_;
};

}  // namespace agent_runner::fs_plugin
