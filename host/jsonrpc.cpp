// SPDX-License-Identifier: Apache-2.0
#include "jsonrpc.hpp"

#include "yaml_json.hpp"

#include <poll.h>
#include <unistd.h>
#include <cerrno>

namespace agent_runner::jsonrpc {
namespace {

namespace json = boost::json;

bool valid_id(const json::value& id) {
  return id.is_string() || id.is_int64() || id.is_uint64();
}

Parsed fail(const json::value& id, int code, const std::string& message) {
  Parsed p;
  p.error = make_error(id, code, message);
  return p;
}

}  // namespace

std::string id_key(const json::value& id) {
  // Serialized JSON keeps 1 and "1" apart.
  return json::serialize(id);
}

json::object make_result(const json::value& id, json::value result) {
  return json::object{{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

json::object make_error(const json::value& id, int code, std::string_view message) {
  return json::object{{"jsonrpc", "2.0"},
                      {"id", id},
                      {"error", json::object{{"code", code}, {"message", message}}}};
}

json::object make_notification(std::string_view method, json::object params) {
  return json::object{{"jsonrpc", "2.0"}, {"method", method}, {"params", std::move(params)}};
}

Parsed parse_line(std::string_view line) {
  if (line.find_first_not_of(" \t\r") == std::string_view::npos) return {};
  // The same bounded reader as every other untrusted document (yaml_json.hpp); the line's length
  // is already capped by the LineReader.
  InputLimits limits;
  limits.max_bytes = line.size();
  json::value v;
  try {
    v = parse_json_bounded(line, limits);
  } catch (const YamlError& e) {
    return fail(nullptr, kParseError, std::string("Parse error: the line is ") + e.what());
  }
  if (v.is_array())
    return fail(nullptr, kInvalidRequest,
                "Invalid Request: JSON-RPC batches are not supported; send one message per line");
  if (!v.is_object())
    return fail(nullptr, kInvalidRequest, "Invalid Request: a message must be a JSON object");
  json::object& o = v.as_object();

  // The id, when present and well-formed, is echoed in every error we send back.
  json::value id = nullptr;
  const json::value* raw_id = o.if_contains("id");
  if (raw_id) {
    if (!valid_id(*raw_id))
      return fail(nullptr, kInvalidRequest,
                  "Invalid Request: \"id\" must be a string or an integer (got " +
                      json::serialize(*raw_id) + ")");
    id = *raw_id;
  }
  const json::value* version = o.if_contains("jsonrpc");
  if (!version || !version->is_string() || version->get_string() != "2.0")
    return fail(id, kInvalidRequest, "Invalid Request: \"jsonrpc\" must be \"2.0\"");

  const json::value* method = o.if_contains("method");
  if (!method) {
    if (raw_id && (o.contains("result") || o.contains("error"))) {
      Parsed p;
      p.message = Message{Message::Kind::response, id, {}, {}};
      return p;
    }
    return fail(id, kInvalidRequest, "Invalid Request: the message has no \"method\"");
  }
  if (!method->is_string() || method->get_string().empty())
    return fail(id, kInvalidRequest, "Invalid Request: \"method\" must be a non-empty string");

  Message m;
  m.kind = raw_id ? Message::Kind::request : Message::Kind::notification;
  m.id = id;
  m.method = std::string(method->get_string());
  if (const json::value* params = o.if_contains("params")) {
    if (params->is_object()) {
      m.params = std::move(o["params"].as_object());
    } else if (params->is_array()) {
      return fail(id, kInvalidParams,
                  "Invalid params: MCP methods take named parameters (\"params\" must be an "
                  "object, got an array)");
    } else if (!params->is_null()) {
      return fail(
          id, kInvalidRequest,
          "Invalid Request: \"params\" must be an object (got " + json::serialize(*params) + ")");
    }
  }
  Parsed p;
  p.message = std::move(m);
  return p;
}

LineReader::LineReader(int fd, size_t max_line_bytes) : fd_(fd), max_(max_line_bytes) {}

LineReader::Status LineReader::next(std::string& line, size_t& dropped,
                                    const std::atomic<bool>& stop) {
  constexpr size_t kChunk = 64 * 1024;
  constexpr int kPollMs = 200;
  for (;;) {
    // A complete line (or the end of an over-long one) already buffered?
    size_t nl = buf_.find('\n', scanned_);
    if (nl != std::string::npos) {
      if (discarding_) {
        dropped = discarded_ + nl;
        discarding_ = false;
        discarded_ = 0;
        buf_.erase(0, nl + 1);
        scanned_ = 0;
        return Status::too_long;
      }
      if (nl > max_) {
        dropped = nl;
        buf_.erase(0, nl + 1);
        scanned_ = 0;
        return Status::too_long;
      }
      line.assign(buf_, 0, nl);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      buf_.erase(0, nl + 1);
      scanned_ = 0;
      return Status::line;
    }
    scanned_ = buf_.size();
    if (discarding_ || buf_.size() > max_) {
      // Keep nothing of a line that is already too long; only count it.
      discarded_ += buf_.size();
      discarding_ = true;
      buf_.clear();
      scanned_ = 0;
    }
    if (eof_) {
      if (discarding_) {
        dropped = discarded_;
        discarding_ = false;
        discarded_ = 0;
        return Status::too_long;
      }
      if (!buf_.empty()) {
        line = std::move(buf_);
        buf_.clear();
        scanned_ = 0;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return Status::line;
      }
      return Status::eof;
    }
    if (stop.load()) return Status::stopped;

    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, kPollMs);
    if (pr < 0) {
      if (errno == EINTR) continue;
      errno_ = errno;
      return Status::error;
    }
    if (pr == 0) continue;
    // Into a buffer of our own, then appended: growing buf_ by a chunk zero-filled 64 KiB for
    // every message of a few hundred bytes.
    char chunk[kChunk];
    ssize_t n = ::read(fd_, chunk, kChunk);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      errno_ = errno;
      return Status::error;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    if (n == 0) eof_ = true;
  }
}

}  // namespace agent_runner::jsonrpc
