// JSON-lines event stream of `run` (--events FILE|-): one object per line, flushed per line,
// every string redacted of registered secrets before it is written. Thread-safe.
#pragma once

#include <boost/json.hpp>

#include <cstdio>
#include <mutex>
#include <string>

namespace agent_runner {

class EventSink {
 public:
  // Writes to `fd` (not owned).
  explicit EventSink(int fd) : fd_(fd) {}
  // Adds "ts" (ISO-8601 UTC with milliseconds) first, redacts every string, writes one line.
  void emit(boost::json::object event);

 private:
  int fd_;
  std::mutex mutex_;
};

// Replaces every registered secret inside every string of `v` (keys too).
void redact_json(boost::json::value& v);

// "2026-11-29T12:00:00.123Z"
std::string iso8601_now();

// `--events FILE|-`: stdout for "-", else FILE truncated. Returns the descriptor, or -1 after
// printing why (prefixed "agent-runner COMMAND").
int open_events_target(const std::string& target, std::string_view command);

}  // namespace agent_runner
