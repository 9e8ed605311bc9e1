// SPDX-License-Identifier: Apache-2.0
#include "expectations.hpp"

#include "operations.hpp"

namespace agent_runner {
namespace json = boost::json;

std::string check_expected_error(const WorkloadStep& step, const json::object& error) {
  const std::string want = string_member(step.expect, "error").value_or("");
  const std::string got = string_member(error, "code").value_or("");
  if (!want.empty() && want == got) return "";
  return got + ": " + string_member(error, "message").value_or("");
}

std::string check_expect(const WorkloadStep& step, const json::object& result) {
  const auto& e = step.expect;
  auto expected = [&e](const char* key) { return string_member(e, key).value_or(""); };
  if (e.contains("error")) return "expected error " + expected("error") + " but the step succeeded";
  if (step.op == Op::execute) {
    const ExecuteView v = execute_view(result);
    const bool want_timeout = bool_member(e, "timed_out").value_or(false);
    if (v.timed_out != want_timeout)
      return v.timed_out ? "the command timed out (its process tree was killed)"
                         : "expected the command to time out";
    if (!v.timed_out) {
      const int64_t want = int_member(e, "exit_code").value_or(0);
      if (want != v.exit_code)
        return "exit code " + std::to_string(v.exit_code) + ", expected " + std::to_string(want);
    }
  }
  const std::string output =
      string_member(result, step.op == Op::read ? "content" : "output").value_or("");
  if (auto s = expected("output_contains");
      e.contains("output_contains") && output.find(s) == std::string::npos)
    return "output does not contain \"" + s + "\"";
  if (auto s = expected("output_not_contains");
      e.contains("output_not_contains") && output.find(s) != std::string::npos)
    return "output contains \"" + s + "\"";
  if (auto s = expected("content_contains");
      e.contains("content_contains") &&
      string_member(result, "content").value_or("").find(s) == std::string::npos)
    return "content does not contain \"" + s + "\"";
  if (e.contains("count")) {
    const int64_t want = int_member(e, "count").value_or(0);
    int64_t got = -1;
    switch (step.op) {
      case Op::ls:
      case Op::glob:
        got = static_cast<int64_t>(listing_view(result).entries.size());
        break;
      case Op::grep:
        got = static_cast<int64_t>(grep_view(result).matches.size());
        break;
      case Op::edit:
        got = change_view(result).occurrences.value_or(-1);
        break;
      default:
        break;
    }
    if (got != want)
      return "count is " + std::to_string(got) + ", expected " + std::to_string(want);
  }
  return "";
}

}  // namespace agent_runner
