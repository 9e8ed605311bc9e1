// SPDX-License-Identifier: Apache-2.0
// Typed views of the plugins' results: each member read once, leniently.
#include "operations.hpp"

namespace agent_runner {
namespace json = boost::json;

ar_status status_from_code(std::string_view code) {
  for (int s = 1; s < AR_STATUS_COUNT_; ++s)
    if (code == ar_status_name(static_cast<ar_status>(s))) return static_cast<ar_status>(s);
  return AR_ERR_INTERNAL;
}

ExecuteView execute_view(const json::object& b) {
  ExecuteView v;
  v.exit_code = int_member(b, "exit_code").value_or(-1);
  v.output = string_member(b, "output").value_or("");
  v.stdout_text = string_member(b, "stdout").value_or("");
  v.stderr_text = string_member(b, "stderr").value_or("");
  v.truncated = bool_member(b, "truncated").value_or(false);
  v.timed_out = bool_member(b, "timed_out").value_or(false);
  v.duration_ms = int_member(b, "duration_ms");
  v.stdout_bytes = int_member(b, "stdout_bytes");
  v.stderr_bytes = int_member(b, "stderr_bytes");
  return v;
}

json::object FileEntry::to_json() const {
  json::object o{{"path", path}, {"is_dir", is_dir}};
  if (size) o["size"] = *size;
  if (modified_at) o["modified_at"] = *modified_at;
  return o;
}

ListingView listing_view(const json::object& b) {
  ListingView v;
  v.path = string_member(b, "path");
  v.truncated = bool_member(b, "truncated").value_or(false);
  if (const auto* e = b.if_contains("entries"); e && e->is_array())
    for (const auto& item : e->get_array()) {
      if (!item.is_object()) continue;
      const auto& o = item.get_object();
      v.entries.push_back({string_member(o, "path").value_or(""),
                           bool_member(o, "is_dir").value_or(false), int_member(o, "size"),
                           string_member(o, "modified_at")});
    }
  return v;
}

ReadView read_view(const OpResult& r) {
  ReadView v;
  const auto& b = r.body;
  v.path = string_member(b, "path");
  v.offset = int_member(b, "offset");
  v.lines = int_member(b, "lines");
  v.total_lines = int_member(b, "total_lines");
  v.size = int_member(b, "size");
  v.more = bool_member(b, "more");
  if (!r.buffers.empty()) v.bytes = r.buffers[0];
  return v;
}

GrepView grep_view(const json::object& b) {
  GrepView v;
  v.truncated = bool_member(b, "truncated").value_or(false);
  if (const auto* m = b.if_contains("matches"); m && m->is_array())
    for (const auto& item : m->get_array()) {
      if (!item.is_object()) continue;
      const auto& o = item.get_object();
      v.matches.push_back({string_member(o, "path").value_or(""), int_member(o, "line").value_or(0),
                           string_member(o, "text").value_or("")});
    }
  return v;
}

ChangeView change_view(const json::object& b) {
  return {string_member(b, "path"), int_member(b, "bytes_written"), bool_member(b, "created"),
          int_member(b, "occurrences"), bool_member(b, "deleted")};
}

std::vector<FileOutcome> file_outcomes(const json::object& b) {
  std::vector<FileOutcome> out;
  const auto* files = b.if_contains("files");
  if (!files || !files->is_array()) return out;
  for (const auto& item : files->get_array()) {
    if (!item.is_object()) continue;
    const auto& o = item.get_object();
    FileOutcome f;
    f.path = string_member(o, "path").value_or("");
    f.ok = bool_member(o, "ok").value_or(false);
    f.size = int_member(o, "size");
    f.mode = int_member(o, "mode");
    if (auto i = int_member(o, "buffer"); i && *i >= 0) f.buffer = static_cast<size_t>(*i);
    if (const auto* e = o.if_contains("error"); e && e->is_object()) f.error = e->get_object();
    out.push_back(std::move(f));
  }
  return out;
}

OpResult FileOutcome::as_error(std::string_view fallback) const {
  const json::object none;
  const auto& e = error ? *error : none;
  return OpResult::error(status_from_code(string_member(e, "code").value_or("")),
                         string_member(e, "message").value_or(std::string(fallback)));
}

}  // namespace agent_runner
