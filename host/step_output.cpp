// SPDX-License-Identifier: Apache-2.0
#include "step_output.hpp"

#include <agent_runner/plugin.hpp>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>

#include <array>
#include <cstring>

namespace agent_runner {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

// Whether any of the 8 bytes of `w` needs more than a copy: a control character (< 0x20), '"',
// '\\', or a byte of a multi-byte sequence (>= 0x80, checked for validity one by one).
bool word_needs_care(uint64_t w) {
  const uint64_t below_space = (w - kOnes * 0x20) & ~w;
  const uint64_t q = w ^ (kOnes * '"');
  const uint64_t quote = (q - kOnes) & ~q;
  const uint64_t b = w ^ (kOnes * '\\');
  const uint64_t backslash = (b - kOnes) & ~b;
  return ((below_space | quote | backslash) & kHighs) != 0 || (w & kHighs) != 0;
}

std::string json_text(std::string_view s) {
  return boost::json::serialize(boost::json::string(s));
}

}  // namespace

void append_json_string_body(std::string& out, std::string_view in) {
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    // A run of bytes that are copied as they are, found 8 at a time.
    size_t j = i;
    while (j + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + j, 8);
      if (word_needs_care(w)) break;
      j += 8;
    }
    while (j < n && s[j] >= 0x20 && s[j] < 0x80 && s[j] != '"' && s[j] != '\\') ++j;
    out.append(in.data() + i, j - i);
    i = j;
    if (i == n) break;
    const unsigned char c = s[i];
    if (c >= 0x80) {
      if (const size_t len = sdk::utf8_sequence_length(s + i, n - i)) {
        out.append(in.data() + i, len);
        i += len;
      } else {
        out.append("\xEF\xBF\xBD");
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, 6);
      }
    }
    ++i;
  }
}

StepOutput::StepOutput(EventSink* sink, Terminal terminal, std::string_view workload, size_t index,
                       size_t max_bytes)
    : sink_(sink),
      terminal_(std::move(terminal)),
      max_bytes_(max_bytes),
      streams_{Stream(Redactor::global()), Stream(Redactor::global())} {
  // Everything but "ts" and the data is the same on every line of the step: made once, redacted
  // as EventSink::emit redacts values (the workload's name; numbers and vocabulary are not).
  prefix_tail_ =
      ",\"event\":\"step.output\",\"workload\":" + json_text(Redactor::global().redact(workload)) +
      ",\"index\":" + std::to_string(index) + ",\"stream\":\"";
  line_.reserve(kLineDataBytes + 1024);
}

StepOutput::~StepOutput() = default;

void StepOutput::push(ar_stream stream, std::string_view data) {
  const int s = stream == AR_STREAM_STDERR ? 1 : 0;
  std::lock_guard lock(mutex_);
  // Nothing to mask when no secret is registered (and then the redactor holds nothing back).
  std::string_view safe = data;
  if (!Redactor::global().empty()) {
    redacted_ = streams_[s].redact.push(data);
    safe = redacted_;
  }
  if (terminal_ && !safe.empty()) terminal_(stream, safe);
  if (sink_) add_locked(s, safe, false);
}

void StepOutput::add_locked(int s, std::string_view safe, bool last) {
  Stream& st = streams_[s];
  if (max_bytes_ && streamed_ + safe.size() > max_bytes_) {
    // Cut at the bound, on a character boundary (a character is never split by the cut).
    size_t keep = max_bytes_ > streamed_ ? max_bytes_ - streamed_ : 0;
    while (keep > 0 && keep < safe.size() &&
           (static_cast<unsigned char>(safe[keep]) & 0xC0) == 0x80)
      --keep;
    st.omitted += safe.size() - keep;
    safe = safe.substr(0, keep);
    streamed_ = max_bytes_;
  } else {
    streamed_ += safe.size();
  }
  if (safe.empty() && st.utf8_hold.empty()) return;
  if (line_stream_ != s) {
    if (line_stream_ >= 0) write_line_locked();
    line_.clear();
    line_ += "{\"ts\":\"";
    line_ += iso8601_now();
    line_ += '"';
    line_ += prefix_tail_;
    line_ += s ? "stderr" : "stdout";
    line_ += "\",\"data\":\"";
    line_stream_ = s;
    line_data_ = 0;
    line_since_ = std::chrono::steady_clock::now();
  }
  std::string_view text = safe;
  if (!st.utf8_hold.empty()) {
    joined_.assign(st.utf8_hold);
    joined_.append(safe);
    st.utf8_hold.clear();
    text = joined_;
  }
  const size_t hold = last ? 0 : utf8_incomplete_tail(text);
  append_json_string_body(line_, text.substr(0, text.size() - hold));
  st.utf8_hold.assign(text.substr(text.size() - hold));
  line_data_ += safe.size();
  if (line_data_ >= kLineDataBytes) write_line_locked();
}

void StepOutput::write_line_locked() {
  if (line_stream_ < 0) return;
  line_ += "\"}\n";
  sink_->write_line(line_);
  line_.clear();
  line_stream_ = -1;
  line_data_ = 0;
}

void StepOutput::flush_older_than(std::chrono::milliseconds age) {
  std::lock_guard lock(mutex_);
  if (line_stream_ >= 0 && std::chrono::steady_clock::now() - line_since_ >= age)
    write_line_locked();
}

void StepOutput::finish() {
  std::lock_guard lock(mutex_);
  for (int s : {0, 1}) {
    const std::string rest = streams_[s].redact.flush();
    if (terminal_ && !rest.empty()) terminal_(s ? AR_STREAM_STDERR : AR_STREAM_STDOUT, rest);
    if (sink_) add_locked(s, rest, true);
  }
  if (!sink_) return;
  write_line_locked();
  for (int s : {0, 1}) {
    if (!streams_[s].omitted) continue;
    std::string marker = "{\"ts\":\"" + iso8601_now() + "\"" + prefix_tail_ +
                         (s ? "stderr" : "stdout") +
                         "\",\"data\":\"\",\"truncated\":true,\"omitted_bytes\":" +
                         std::to_string(streams_[s].omitted) +
                         ",\"max_step_output_bytes\":" + std::to_string(max_bytes_) + "}\n";
    sink_->write_line(marker);
  }
}

}  // namespace agent_runner
