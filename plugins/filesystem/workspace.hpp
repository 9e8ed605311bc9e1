// SPDX-License-Identifier: Apache-2.0
// Where a sandbox's files live: root_dir/<session> (persistent), root_dir/.ephemeral-<hex>
// (removed on release) or root_dir itself (layout: shared, never removed), plus the sandbox's
// own tmp directory outside the workspace (its /tmp): root_dir/.tmp/<session>, kept with the
// session's workspace, or a fresh agent-runner-fs-<x> in $TMPDIR removed on release (an
// ephemeral sandbox, and every sandbox of layout: shared, which adds nothing to the user's
// directory). Leftovers of killed processes are swept first (leftovers.hpp).
#pragma once

#include "fs_config.hpp"
#include "paths.hpp"

#include <optional>
#include <string>

namespace agent_runner::fs_plugin {

// Throws sdk::Error(AR_ERR_INVALID_ARGUMENT) saying what is wrong with a session key.
void check_session_name(const std::string& s);

class Workspace {
 public:
  // Creates (or, with a session, attaches to) the workspace and the private TMPDIR.
  Workspace(const FsConfig& cfg, const std::optional<std::string>& session);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  // Removes an ephemeral tmp directory and an ephemeral workspace (through fds, never following
  // a symlink); returns whether a workspace was removed. Idempotent.
  bool release();

  const std::string& path() const { return path_; }
  const std::string& tmp_dir() const { return tmp_dir_; }
  bool persistent() const { return persistent_; }
  // O_PATH descriptors of the workspace and the tmp directory (for the path resolver).
  int fd() const { return ws_fd_.get(); }
  int tmp_fd() const { return tmp_fd_.get(); }

 private:
  void create_tmp_dir();
  void open_session_tmp(const std::string& session);
  void remove_tmp_dir();

  bool persistent_ = false;
  bool tmp_persistent_ = false;
  std::string path_, ws_name_, tmp_dir_;
  Fd root_fd_, ws_fd_, tmp_fd_;
  Fd ws_lock_, tmp_lock_;  // held while the sandbox is open (leftovers.hpp)
};

}  // namespace agent_runner::fs_plugin
