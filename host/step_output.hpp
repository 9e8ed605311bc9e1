// SPDX-License-Identifier: Apache-2.0
// The live output of one `execute` step as `step.output` event lines (run --events): redacted,
// made valid UTF-8 and JSON-escaped in one pass straight into a reused line buffer, coalesced
// (chunks of one stream that arrive close together share a line, up to kLineDataBytes), and
// bounded: past `max_bytes` of one step's output no more lines are written, and at the end of the
// step one marker line per cut stream says how many bytes were left out. Memory stays flat
// whatever the command prints. The members and their order are those of every other event:
//   {"ts","event":"step.output","workload","index","stream","data"}
// and a marker adds "truncated":true, "omitted_bytes" and "max_step_output_bytes" (data "").
#pragma once

#include "events.hpp"
#include "redact.hpp"

#include <agent_runner/plugin.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace agent_runner {

// Appends `in` to `out` as the inside of a JSON string: valid UTF-8 copied, each invalid byte
// U+FFFD, '"', '\\' and control characters escaped as boost::json::serialize escapes them.
void append_json_string_body(std::string& out, std::string_view in);

class StepOutput {
 public:
  // Data bytes per line before it is written without waiting for more.
  static constexpr size_t kLineDataBytes = 64 * 1024;

  // Where a person watches: the redacted bytes as the command wrote them (uncut).
  using Terminal = std::function<void(ar_stream, std::string_view)>;

  // `sink`: null when no events are written (then only `terminal` gets the output);
  // `workload`: the workload's name; `max_bytes`: 0 = no bound.
  StepOutput(EventSink* sink, Terminal terminal, std::string_view workload, size_t index,
             size_t max_bytes);
  ~StepOutput();
  StepOutput(const StepOutput&) = delete;
  StepOutput& operator=(const StepOutput&) = delete;

  // One chunk as the command wrote it (any thread).
  void push(ar_stream stream, std::string_view data);
  // Writes the line being gathered when its first bytes are older than `age` (the runner's
  // monitor thread calls this, so output that trickles in is never held back for long).
  void flush_older_than(std::chrono::milliseconds age);
  // The end of the step: what the redactors and the UTF-8 decoder held back, the last line, and
  // the markers.
  void finish();

 private:
  struct Stream {
    explicit Stream(const Redactor& r) : redact(r) {}
    StreamRedactor redact;
    std::string utf8_hold;  // at most 3 bytes: a character split between two chunks
    size_t omitted = 0;     // bytes left out past max_bytes
  };

  void add_locked(int s, std::string_view safe, bool last);
  void write_line_locked();

  EventSink* sink_;
  Terminal terminal_;
  std::string prefix_tail_;  // ,"event":"step.output","workload":...,"index":N,"stream":"
  size_t max_bytes_;
  size_t streamed_ = 0;  // bytes given to lines so far
  std::mutex mutex_;
  Stream streams_[2];
  std::string redacted_;  // the redacted chunk (reused)
  std::string line_;      // the line being gathered
  int line_stream_ = -1;  // its stream, -1 when there is none
  size_t line_data_ = 0;  // raw bytes in it
  std::chrono::steady_clock::time_point line_since_;
  std::string joined_;  // a held-back partial character plus the next chunk
};

}  // namespace agent_runner
