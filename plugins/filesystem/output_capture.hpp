// SPDX-License-Identifier: Apache-2.0
// The command's output: stdout and stderr share one pipe (the only way the reader sees the writes
// in the order they were made; two pipes are read in whatever order poll reports them), read as
// it arrives, streamed to the host (call.emit, as stdout) and kept as head + tail.
//
// The bytes are read once, by read(2), straight into where they are kept: the head until it is
// full, then a ring whose last tail_cap bytes are the tail. Each chunk is streamed to the host
// from there, so a command printing gigabytes costs one copy out of the pipe and nothing more
// (no copy into a buffer, none into the tail, no trimming).
#pragma once

#include "paths.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>

#include <poll.h>

#include <cstdint>
#include <memory>
#include <string>

namespace agent_runner::fs_plugin {

class OutputCapture {
 public:
  // Takes the read end (made non-blocking here).
  OutputCapture(Fd read_end, uint64_t max_bytes, sdk::Call& call);

  bool open() const { return static_cast<bool>(fd_); }
  // Adds the pipe, while open, to `pfd`; returns how many were added (0 or 1).
  int add_to(pollfd* pfd);
  // After poll(): reads what the pipe holds (`pfd` as filled by add_to).
  void read_ready(const pollfd* pfd, int n);

  // As sdk::HeadTail::text() gives it: the head, a marker when bytes were dropped, the tail.
  std::string output() const;
  bool truncated() const { return total_ > head_cap_ + tail_cap_; }
  uint64_t bytes() const { return total_; }

 private:
  void pump();
  // Where the next read goes and how much fits there.
  char* next_space(size_t& room);
  void took(char* at, size_t n);

  sdk::Call& call_;
  Fd fd_;
  size_t head_cap_, tail_cap_;
  std::string head_;  // sized head_cap_ up front; head_len_ bytes used
  size_t head_len_ = 0;
  std::unique_ptr<char[]> ring_;  // ring_size_ bytes, written at ring_pos_ (wraps)
  size_t ring_size_ = 0;
  size_t ring_pos_ = 0;
  uint64_t ring_total_ = 0;  // bytes written to the ring in all
  uint64_t total_ = 0;
  size_t pipe_size_ = 0;       // the pipe's capacity
  unsigned idle_wait_us_ = 0;  // see pump()
};

}  // namespace agent_runner::fs_plugin
