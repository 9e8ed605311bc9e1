// SPDX-License-Identifier: Apache-2.0
#include "events.hpp"

#include "app.hpp"
#include "redact.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>

namespace agent_runner {
namespace json = boost::json;

namespace {

// Members of an event line whose values the host writes from its own vocabulary.
constexpr std::array<std::string_view, 5> kVocabulary = {"event", "ts", "op", "stream", "status"};

bool is_vocabulary(std::string_view key) {
  for (auto k : kVocabulary)
    if (k == key) return true;
  return false;
}

// The length of a UTF-8 sequence announced by its lead byte (0: not a lead byte).
size_t sequence_length(unsigned char c) {
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

}  // namespace

void redact_event(json::object& event) {
  const auto& r = Redactor::global();
  if (r.empty()) return;
  for (auto& kv : event) {
    if (is_vocabulary(kv.key())) continue;
    if (kv.key() == "error" && kv.value().is_object()) {
      for (auto& e : kv.value().get_object())
        if (e.key() != "code") r.redact_json(e.value());
      continue;
    }
    r.redact_json(kv.value());
  }
}

size_t utf8_incomplete_tail(std::string_view s) {
  const size_t n = s.size();
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(s[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const size_t len = sequence_length(c);
    return len > back ? back : 0;
  }
  return 0;
}

std::string Utf8Stream::push(std::string_view chunk) {
  pending_.append(chunk);
  const size_t hold = utf8_incomplete_tail(pending_);
  std::string out =
      sdk::utf8_sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string Utf8Stream::flush() {
  std::string out = sdk::utf8_sanitize(pending_);
  pending_.clear();
  return out;
}

std::string iso8601_now() {
  return iso8601(std::chrono::system_clock::now());
}

std::string iso8601(std::chrono::system_clock::time_point now) {
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

int open_events_target(const std::string& target, std::string_view command) {
  if (target == "-") return 1;
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    std::cerr << "agent-runner " << command << ": --events " << target
              << ": cannot open for writing: " << std::strerror(errno) << "\n";
  return fd;
}

void EventSink::emit(json::object event) {
  json::object line;
  line["ts"] = iso8601_now();
  for (auto& kv : event) line[kv.key()] = std::move(kv.value());
  redact_event(line);
  std::string text = json::serialize(line);
  text += '\n';
  write_line(text);
}

void EventSink::write_line(std::string_view line) {
  std::lock_guard lock(mutex_);
  write_all(fd_, line);
}

}  // namespace agent_runner
