// SPDX-License-Identifier: Apache-2.0
// The container view, built once per sandbox: a child cloned into new mount, UTS and IPC
// namespaces (plus a user namespace when not root, a PID namespace for its /proc, a network
// namespace for network: false) mounts the view table (view.hpp) on a fresh tmpfs, pivots into
// it, and hands agent-runner descriptors of the new root and of each namespace over a socket.
// Then it exits: the descriptors keep the namespaces alive for the sandbox's life, every
// command's supervisor joins them with setns(2), and they go when the sandbox is released or
// agent-runner dies, however it dies. No process is left to outlive agent-runner.
//
// The child is a clone of a multi-threaded process: it runs raw syscalls over steps prepared
// before the clone (no allocation, no locks).
#pragma once

#include "paths.hpp"
#include "view.hpp"

#include <sched.h>

#include <string>
#include <vector>

namespace agent_runner::fs_plugin {

struct ViewOptions {
  bool user_ns = false;  // not root: the view is built in a user namespace of its own
  bool pid_ns = false;   // a PID namespace for the view's /proc (else the host's PIDs)
  bool net_ns = false;   // network: false (loopback only)
};

// A namespace to join: CLONE_NEWUSER, CLONE_NEWNS, ...
struct JoinNs {
  Fd fd;
  int type;
};

class ViewNamespaces {
 public:
  // Builds the view. Throws sdk::Error(AR_ERR_UNSUPPORTED) naming the entry and step that failed.
  ViewNamespaces(const ViewTable& table, const ViewOptions& opts);
  ViewNamespaces(const ViewNamespaces&) = delete;
  ViewNamespaces& operator=(const ViewNamespaces&) = delete;

  // O_PATH descriptor of the view's root, inside its mount namespace.
  int root_fd() const { return root_.get(); }
  // The namespaces a command joins, the user namespace (if any) first.
  const std::vector<JoinNs>& namespaces() const { return ns_; }
  bool user_ns() const { return opts_.user_ns; }

 private:
  ViewOptions opts_;
  Fd root_;
  std::vector<JoinNs> ns_;
};

}  // namespace agent_runner::fs_plugin
