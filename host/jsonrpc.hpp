// SPDX-License-Identifier: Apache-2.0
// JSON-RPC 2.0 over newline-delimited streams (the MCP stdio transport): classifying one line
// into a request, notification or response (or the error to answer it with), building replies,
// and reading lines from a file descriptor with a hard cap on their length.
#pragma once

#include <boost/json.hpp>

#include <atomic>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace agent_runner::jsonrpc {

// The error codes of the JSON-RPC 2.0 specification, section 5.1.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;

struct Message {
  enum class Kind { request, notification, response };
  Kind kind = Kind::request;
  boost::json::value id;       // string or integer for requests and responses; null otherwise
  std::string method;          // empty for responses
  boost::json::object params;  // {} when absent
};

// What one line turned out to be: a message to handle, or an error response to send back (the
// line was not a valid message), or nothing at all (a blank line).
struct Parsed {
  std::optional<Message> message;
  std::optional<boost::json::object> error;
};

Parsed parse_line(std::string_view line);

// A key that identifies a request id in maps: ids 1 and "1" are different requests.
std::string id_key(const boost::json::value& id);

boost::json::object make_result(const boost::json::value& id, boost::json::value result);
boost::json::object make_error(const boost::json::value& id, int code, std::string_view message);
boost::json::object make_notification(std::string_view method, boost::json::object params);

// Reads newline-terminated lines from a file descriptor. A line longer than the cap is not kept
// in memory: its bytes are counted and dropped up to its newline, then reported as too_long, so a
// client sending a huge message cannot exhaust memory and the stream stays in sync.
class LineReader {
 public:
  LineReader(int fd, size_t max_line_bytes);

  enum class Status { line, too_long, eof, stopped, error };
  // Blocks until a line is complete, the stream ends, or `stop` becomes true (checked at least
  // every poll interval, so a signal handler setting the flag ends the wait). For `line`, `line`
  // holds the text without its newline (and without a trailing '\r'); for `too_long`,
  // `dropped` is the line's length in bytes. A last line without a newline is still a line.
  Status next(std::string& line, size_t& dropped, const std::atomic<bool>& stop);
  int last_errno() const { return errno_; }

 private:
  int fd_;
  size_t max_;
  std::string buf_;     // bytes read but not yet returned
  size_t scanned_ = 0;  // prefix of buf_ known to hold no newline
  bool discarding_ = false;
  size_t discarded_ = 0;
  bool eof_ = false;
  int errno_ = 0;
};

}  // namespace agent_runner::jsonrpc
