// Runs a loaded workload on the configured sandbox, step by step, reporting events.
#pragma once

#include "app.hpp"
#include "events.hpp"
#include "workload.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

namespace agent_runner {

// Where a person watches: stderr progress (a live line on a terminal, log lines otherwise) and,
// when asked, the commands' output on stdout/stderr. Shared by parallel workloads.
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

// The progress lines a person sees, derived from the events alone: `run` and `submit --follow`
// (which has nothing but the events a worker sent) print the same lines. One per workload.
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

struct RunOptions {
  std::optional<std::string> session;              // --session: overrides the file's
  EventSink* events = nullptr;                     // --events
  Console* console = nullptr;                      // progress for a person
  const std::atomic<bool>* interrupted = nullptr;  // SIGINT/SIGTERM
  // A worker's job: `download` writes nothing on this machine; the content travels back in the
  // step's result as `content_base64` (at most this many base64 bytes, else `too_large`).
  std::optional<size_t> inline_downloads;
};

struct WorkloadOutcome {
  std::string status;  // "succeeded", "failed", "cancelled"
  int exit_code = 0;   // 0, 1, 2 (configuration), 3 (plugin)
  int steps_ok = 0;
  int steps_failed = 0;
};

WorkloadOutcome run_workload(App& app, const Workload& workload, const RunOptions& options);

// Writes `data` to exactly `target` (a temporary file in the same directory, then rename, so a
// symlink planted at `target` is replaced rather than followed). Returns "" or the error.
std::string write_local_atomically(const std::filesystem::path& target, std::string_view data,
                                   int mode);

}  // namespace agent_runner
