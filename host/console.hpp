// SPDX-License-Identifier: Apache-2.0
// Where a person watches a workload: stderr progress (a live line on a terminal, log lines
// otherwise) and, when asked, the commands' output. The lines come from the events alone, so
// `run` and `submit --follow` (which has nothing but a worker's events) print the same.
#pragma once

#include <boost/json.hpp>

#include <mutex>
#include <string>
#include <string_view>

namespace agent_runner {

// Shared by parallel workloads.
class Console {
 public:
  Console(bool tty, bool stream_output) : tty_(tty), stream_output_(stream_output) {}
  bool stream_output() const { return stream_output_; }
  // A terminal: progress is redrawn in place; otherwise only finished steps are logged.
  bool live() const { return tty_; }
  // A status line: redrawn in place on a terminal, one log line otherwise.
  void status(const std::string& line, bool final_line);
  // Command output (already redacted).
  void output(int fd, std::string_view data);

 private:
  bool tty_;
  bool stream_output_;
  bool line_shown_ = false;
  std::mutex mutex_;
};

// The progress lines of one workload, derived from its events.
class ProgressView {
 public:
  explicit ProgressView(Console& console) : console_(console) {}
  // `event` as emitted (its "event" and "workload" members first).
  void on_event(const boost::json::object& event);

 private:
  Console& console_;
  size_t steps_ = 0;
  std::string prefix_;  // the running step's
};

// "[2/5] build: execute (compile)"
std::string step_progress_prefix(size_t index, size_t total, const std::string& workload,
                                 const std::string& op, const std::string& label);

// "1.5s"
std::string seconds_text(long long ms);

}  // namespace agent_runner
