// SPDX-License-Identifier: Apache-2.0
// The command's output: stdout and stderr share one pipe (the only way the reader sees the writes
// in the order they were made; two pipes are read in whatever order poll reports them), read as
// it arrives, streamed to the host (call.emit, as stdout) and kept as head + tail.
#pragma once

#include "paths.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>

#include <poll.h>

#include <cstdint>
#include <string>

namespace agent_runner::fs_plugin {

using sdk::HeadTail;

class OutputCapture {
 public:
  // Takes the read end (made non-blocking here).
  OutputCapture(Fd read_end, uint64_t max_bytes, sdk::Call& call);

  bool open() const { return static_cast<bool>(fd_); }
  // Adds the pipe, while open, to `pfd`; returns how many were added (0 or 1).
  int add_to(pollfd* pfd);
  // After poll(): reads what the pipe holds (`pfd` as filled by add_to).
  void read_ready(const pollfd* pfd, int n);

  std::string output() const { return cap_.text(); }
  bool truncated() const { return cap_.truncated(); }
  uint64_t bytes() const { return cap_.total(); }

 private:
  void pump();

  sdk::Call& call_;
  Fd fd_;
  HeadTail cap_;
};

}  // namespace agent_runner::fs_plugin
