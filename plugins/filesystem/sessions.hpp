// Sessions of the filesystem plugin (`agent-runner sessions`, ABI 1.1 list_sessions and
// destroy_session): a session is a workspace directory root_dir/<key> (layout: per-session), with
// its private tmp directory when it has one of its own (root_dir/.tmp/<key>).
//
// Across processes, three things are known from files, all by flock(2), which dies with its
// holder (a killed agent-runner leaves no stale state):
//   - open: a sandbox open on the session holds a shared lock on the workspace directory
//     (SessionHold); a remover takes it exclusively, so "in use" is "that lock is held";
//   - running: an execute call holds a shared lock on root_dir/.sessions/use-<key> while its
//     command runs; that file's mtime is the session's last use (touched on open, on each
//     command's start and end, and on release);
//   - cancel: `rm --force` of a session in use creates root_dir/.sessions/cancel-<key> and holds it
//     locked while it removes the session; a running command that sees it is stopped (its execute
//     ends `cancelled`) and appends one byte to it, which is how the remover counts them.
// Names starting with '.' are never session keys, so these cannot collide with a workspace.
#pragma once

#include "fs_config.hpp"

#include <agent_runner/fd.hpp>
#include <agent_runner/plugin.hpp>

#include <functional>
#include <string>

namespace agent_runner::fs_plugin {

// A sandbox's hold on its session, from create to release.
class SessionHold {
 public:
  // Takes the shared lock on the workspace root_dir/<key> (`ws_fd`: the Workspace's descriptor of
  // it). Refuses (`conflict`) while the session is being removed.
  SessionHold(const std::string& workspace, int ws_fd, const std::string& key);
  ~SessionHold();
  SessionHold(const SessionHold&) = delete;
  SessionHold& operator=(const SessionHold&) = delete;

  // For the length of one execute call: marks a command running (the shared lock on use-<key>)
  // and returns the check its supervision loop polls: true once a forced removal asks the command
  // to stop (acknowledged once), or once the session is gone.
  class Running {
   public:
    explicit Running(const SessionHold& hold);
    ~Running();
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    bool stop_requested();
    bool stopped() const { return stopped_; }

   private:
    const SessionHold& hold_;
    sdk::Fd use_;
    bool stopped_ = false;
  };

  // Why the session cannot be used any more ("" while it can): it was removed, or is being.
  std::string gone() const;
  const std::string& key() const { return key_; }

  // Drops the lock and notes the last use. Idempotent.
  void release();

 private:
  std::string key_, workspace_;
  sdk::Fd root_, lock_;
};

// The plugin-level slots.
sdk::Result list_fs_sessions(const FsConfig& cfg, const boost::json::object& request);
sdk::Result destroy_fs_session(const FsConfig& cfg, const boost::json::object& request);

}  // namespace agent_runner::fs_plugin
