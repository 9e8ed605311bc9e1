// SPDX-License-Identifier: Apache-2.0
#include "console.hpp"

#include "app.hpp"
#include "operations.hpp"
#include "redact.hpp"

#include <cstdio>

namespace agent_runner {
namespace json = boost::json;

void Console::status(const std::string& line, bool final_line) {
  std::lock_guard lock(mutex_);
  std::string text = Redactor::global().redact(line);
  if (tty_) {
    write_all(2, "\r\033[K" + text + (final_line ? "\n" : ""));
    line_shown_ = !final_line;
  } else {
    write_all(2, text + "\n");
  }
}

void Console::output(int fd, std::string_view data) {
  if (!stream_output_ || data.empty()) return;
  std::lock_guard lock(mutex_);
  if (tty_ && line_shown_) {
    write_all(2, "\r\033[K");
    line_shown_ = false;
  }
  write_all(fd, data);
}

std::string seconds_text(long long ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::string step_progress_prefix(size_t index, size_t total, const std::string& workload,
                                 const std::string& op, const std::string& label) {
  return "[" + std::to_string(index + 1) + "/" + std::to_string(total) + "] " + workload + ": " +
         op + (label.empty() ? "" : " (" + label + ")");
}

void ProgressView::on_event(const json::object& e) {
  auto str = [&e](const char* key) { return string_member(e, key).value_or(""); };
  auto num = [&e](const char* key) { return int_member(e, key).value_or(0); };
  const std::string kind = str("event");
  const std::string name = str("workload");
  if (kind == "workload.started") {
    steps_ = static_cast<size_t>(num("steps"));
  } else if (kind == "skill.uploaded") {
    if (bool_member(e, "ok").value_or(false))
      console_.status(name + ": skill " + str("name") + " at " + str("path"), true);
  } else if (kind == "step.started") {
    prefix_ = step_progress_prefix(static_cast<size_t>(num("index")), steps_, name, str("op"),
                                   str("name"));
    if (console_.live()) console_.status(prefix_, false);
  } else if (kind == "step.finished") {
    std::string verdict = "ok";
    if (!bool_member(e, "ok").value_or(false)) {
      const auto* err = e.if_contains("error");
      const json::object none;
      const auto& eo = err && err->is_object() ? err->get_object() : none;
      verdict =
          (bool_member(e, "tolerated").value_or(false) ? "FAILED (tolerated): " : "FAILED: ") +
          string_member(eo, "code").value_or("") + ": " + string_member(eo, "message").value_or("");
    }
    console_.status(prefix_ + ": " + verdict + " (" + seconds_text(num("duration_ms")) + ")", true);
  } else if (kind == "workload.finished" && e.contains("steps_skipped")) {
    // (A workload whose sandbox could not be opened has said why on stderr already.)
    std::string tolerated;
    if (const int64_t t = num("steps_tolerated"); t > 0)
      tolerated = " (" + std::to_string(t) + " tolerated)";
    console_.status(name + ": " + str("status") + " (" + std::to_string(num("steps_ok")) + " ok, " +
                        std::to_string(num("steps_failed")) + " failed" + tolerated + ", " +
                        std::to_string(num("steps_skipped")) + " not run) in " +
                        seconds_text(num("duration_ms")),
                    true);
  }
}

}  // namespace agent_runner
