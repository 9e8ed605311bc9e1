#include "events.hpp"

#include "app.hpp"
#include "redact.hpp"

#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iostream>

namespace agent_runner {
namespace json = boost::json;

void redact_json(json::value& v) {
  const auto& r = Redactor::global();
  if (r.empty()) return;
  if (v.is_string()) {
    auto red = r.redact(v.get_string());
    if (red != v.get_string()) v = red;
  } else if (v.is_array()) {
    for (auto& e : v.get_array()) redact_json(e);
  } else if (v.is_object()) {
    // Values are redacted in place; the object is rebuilt only in the rare case a key holds a
    // secret (this runs for every output chunk of every command).
    bool key_has_secret = false;
    for (auto& kv : v.get_object()) {
      redact_json(kv.value());
      key_has_secret = key_has_secret || r.redact(kv.key()) != kv.key();
    }
    if (!key_has_secret) return;
    json::object out;
    for (auto& kv : v.get_object()) out[r.redact(kv.key())] = std::move(kv.value());
    v = std::move(out);
  }
}

std::string iso8601_now() {
  auto now = std::chrono::system_clock::now();
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
  json::value v = std::move(line);
  redact_json(v);
  std::string text = json::serialize(v);
  text += '\n';
  std::lock_guard lock(mutex_);
  write_all(fd_, text);
}

}  // namespace agent_runner
