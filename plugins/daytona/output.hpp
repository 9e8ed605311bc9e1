// Command output: the daemon's stream-marker demultiplexer and the capture of one command.
#pragma once

#include <agent_runner/plugin.h>
#include <agent_runner/sandbox_ops.hpp>

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

// The capture of one command: combined, stdout and stderr, each capped by the SDK's head/tail
// capture (agent_runner/sandbox_ops.hpp), the same as in the filesystem plugin.
struct OutputCapture {
  explicit OutputCapture(size_t cap) : combined(cap), out(cap), err(cap) {}
  void add(ar_stream s, std::string_view data) {
    combined.append(data);
    (s == AR_STREAM_STDERR ? err : out).append(data);
  }
  sdk::HeadTail combined, out, err;
};

}  // namespace agent_runner::daytona
