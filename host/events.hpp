// SPDX-License-Identifier: Apache-2.0
// JSON-lines event stream of `run` (--events FILE|-): one object per line, flushed per line,
// every value redacted of registered secrets before it is written, and every line valid UTF-8
// JSON that a strict reader accepts. Thread-safe.
#pragma once

#include <boost/json.hpp>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

namespace agent_runner {

class EventSink {
 public:
  // Writes to `fd` (not owned).
  explicit EventSink(int fd) : fd_(fd) {}
  // Adds "ts" (ISO-8601 UTC with milliseconds) first, redacts the values, writes one line.
  void emit(boost::json::object event);
  // Writes one line that is already a complete, redacted event ending in '\n' (StepOutput).
  void write_line(std::string_view line);

 private:
  int fd_;
  std::mutex mutex_;
};

// Replaces every registered secret inside the values of one event line. Keys are never touched,
// nor the values the host writes from its own vocabulary (event names, step kinds, stream and
// status names, error codes): a secret that happens to be a common word ("step") must not
// rewrite the format.
void redact_event(boost::json::object& event);

// Turns a stream of output chunks into valid UTF-8 (U+FFFD for each invalid byte), holding back
// an incomplete sequence at the end of a chunk until the next chunk of the same stream completes
// it: a character split between two reads is kept whole, never turned into two U+FFFD.
class Utf8Stream {
 public:
  std::string push(std::string_view chunk);
  // The end of the stream: a sequence still incomplete is invalid.
  std::string flush();

 private:
  std::string pending_;  // at most 3 bytes: the start of a sequence
};

// How many bytes at the end of `s` start a UTF-8 sequence that is not complete yet (0-3): the
// part of a character that the next chunk of a stream completes.
size_t utf8_incomplete_tail(std::string_view s);

// "2026-11-29T12:00:00.123Z"
std::string iso8601_now();
// The same for `t` (log records carry their own time).
std::string iso8601(std::chrono::system_clock::time_point t);

// `--events FILE|-`: stdout for "-", else FILE truncated. Returns the descriptor, or -1 after
// printing why (prefixed "agent-runner COMMAND").
int open_events_target(const std::string& target, std::string_view command);

}  // namespace agent_runner
