// The command's stdout and stderr: read from their pipes as they arrive, streamed to the host
// (call.emit) and kept as head + tail per stream and combined in arrival order.
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
  // Takes the read ends (made non-blocking here).
  OutputCapture(Fd out_r, Fd err_r, uint64_t max_bytes, sdk::Call& call);

  bool open() const { return out_.fd || err_.fd; }
  // Adds the pipes still open to `pfd`; returns how many were added.
  int add_to(pollfd* pfd);
  // After poll(): reads what the ready pipes hold (`pfd` as filled by add_to).
  void read_ready(const pollfd* pfd, int n);

  std::string output() const { return combined_.text(); }
  std::string out() const { return out_.cap.text(); }
  std::string err() const { return err_.cap.text(); }
  bool truncated() const;
  uint64_t out_bytes() const { return out_.cap.total(); }
  uint64_t err_bytes() const { return err_.cap.total(); }

 private:
  struct Stream {
    Fd fd;
    HeadTail cap;
    ar_stream id;
  };
  void pump(Stream& s);

  sdk::Call& call_;
  HeadTail combined_;
  Stream out_, err_;
};

}  // namespace agent_runner::fs_plugin
