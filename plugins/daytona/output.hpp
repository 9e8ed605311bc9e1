// Command output: the daemon's stream-marker demultiplexer and a bounded capture that keeps the
// head and the tail of what a command printed.
#pragma once

#include <agent_runner/plugin.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent_runner::daytona {

// Session command logs carry a 3-byte marker before each chunk: 01 01 01 = stdout,
// 02 02 02 = stderr (reference 4.4.1). Fed the log incrementally, it returns the chunks in order.
// A marker split across two feeds is held back until the next feed; bytes before any marker are
// stdout.
class Demuxer {
 public:
  std::vector<std::pair<ar_stream, std::string>> feed(std::string_view bytes);
  std::vector<std::pair<ar_stream, std::string>> finish();

 private:
  ar_stream current_ = AR_STREAM_STDOUT;
  std::string pending_;  // 1-2 bytes that may start a marker
};

// Keeps at most `cap` bytes: the first cap/2 and the last cap/2, counting everything.
class CappedBuffer {
 public:
  explicit CappedBuffer(size_t cap) : cap_(cap) {}
  void append(std::string_view data);
  uint64_t total() const { return total_; }
  bool truncated() const { return total_ > cap_; }
  // The kept text with a marker line where bytes were dropped.
  std::string text() const;

 private:
  size_t cap_;
  uint64_t total_ = 0;
  std::string head_;
  std::string tail_;  // ring buffer once full
  size_t tail_pos_ = 0;
};

// The capture of one command: combined, stdout and stderr, each capped.
struct OutputCapture {
  explicit OutputCapture(size_t cap) : combined(cap), out(cap), err(cap) {}
  void add(ar_stream s, std::string_view data) {
    combined.append(data);
    (s == AR_STREAM_STDERR ? err : out).append(data);
  }
  CappedBuffer combined, out, err;
};

}  // namespace agent_runner::daytona
