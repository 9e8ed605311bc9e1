// SPDX-License-Identifier: Apache-2.0
// Building blocks for the standard sandbox operations (request and result shapes: sdk/README.md),
// so that every plugin answers the same request with the same result and the same error
// (header-only, needs plugin.hpp). Where the bytes come from (a host directory, an HTTP API) stays
// in the plugin; what is done with them is here.
#pragma once

#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_path.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace agent_runner::sdk {
inline namespace v1 {

// A time as the operations report it: ISO-8601 UTC to the second, "2026-11-24T12:00:00Z",
// written into `out` (NUL-terminated); returns the text. No locale, no time zone, no lock: ls of a
// big directory formats one per entry.
inline std::string_view format_iso_time_utc(time_t t, char (&out)[32]) {
  // The civil date of a day count (days since 1970-01-01), in eras of 400 years that start on
  // 1 March, so that the leap day is the last day of a year.
  const int64_t secs = static_cast<int64_t>(t);
  int64_t days = secs / 86400, rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  const int64_t z = days + 719468;  // days from 0000-03-01
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;                                       // [0, 146096]
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                // [0, 365]
  const int64_t mp = (5 * doy + 2) / 153;                                     // [0, 11] from March
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  if (year < 1000 || year > 9999) {  // not four digits: as strftime writes it
    struct tm tm {};
    gmtime_r(&t, &tm);
    const size_t n = std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string_view(out, n);
  }
  const auto put = [&out](size_t at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) out[at + static_cast<size_t>(i)] = '0' + v % 10;
  };
  std::memcpy(out, "0000-00-00T00:00:00Z", 21);
  put(0, year, 4);
  put(5, month, 2);
  put(8, day, 2);
  put(11, rem / 3600, 2);
  put(14, rem / 60 % 60, 2);
  put(17, rem % 60, 2);
  return std::string_view(out, 20);
}

inline std::string iso_time_utc(time_t t) {
  char buf[32];
  return std::string(format_iso_time_utc(t, buf));
}

// The time of an ISO-8601 UTC text as backends write it: "2026-11-24T12:00:00Z", with optional
// fractional seconds (dropped) and "Z", "+00:00" or no zone; nullopt for anything else.
inline std::optional<time_t> parse_iso_time_utc(std::string_view s) {
  auto num = [&s](size_t at, size_t width, int& v) {
    if (at + width > s.size()) return false;
    v = 0;
    for (size_t i = at; i < at + width; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  struct tm tm {};
  if (!num(0, 4, tm.tm_year) || s.size() < 19 || s[4] != '-' || !num(5, 2, tm.tm_mon) ||
      s[7] != '-' || !num(8, 2, tm.tm_mday) || (s[10] != 'T' && s[10] != ' ') ||
      !num(11, 2, tm.tm_hour) || s[13] != ':' || !num(14, 2, tm.tm_min) || s[16] != ':' ||
      !num(17, 2, tm.tm_sec))
    return std::nullopt;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9';) ++i;
  }
  const std::string_view zone = s.substr(i);
  if (!(zone.empty() || zone == "Z" || zone == "+00:00" || zone == "+0000")) return std::nullopt;
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return timegm(&tm);
}

// One entry of ls and glob: {path, is_dir, size, modified_at}; a directory's size is 0. `path` is
// the display path, made valid UTF-8 here. `sp`: where the object's memory comes from (a
// monotonic resource for a big listing).
inline boost::json::object file_entry(std::string_view path, bool is_dir, int64_t size,
                                      std::string_view modified_at,
                                      boost::json::storage_ptr sp = {}) {
  return boost::json::object({{"path", utf8_sanitize(path)},
                              {"is_dir", is_dir},
                              {"size", is_dir ? int64_t{0} : size},
                              {"modified_at", modified_at}},
                             std::move(sp));
}

// What an execute call gives back (sdk/README.md "Operations"): every plugin builds its result
// with to_json, so the members and their types are the same whichever plugin ran the command.
// Text members are made valid UTF-8 here.
struct ExecuteOutcome {
  int64_t exit_code = -1;
  std::string output;  // stdout and stderr in the order they were written
  std::string stdout_text;
  std::string stderr_text;
  bool truncated = false;
  bool timed_out = false;
  int64_t duration_ms = 0;
  int64_t stdout_bytes = 0;  // everything the command wrote, kept or not
  int64_t stderr_bytes = 0;

  boost::json::object to_json() const {
    return {{"exit_code", exit_code},
            {"output", utf8_sanitize(output)},
            {"stdout", utf8_sanitize(stdout_text)},
            {"stderr", utf8_sanitize(stderr_text)},
            {"truncated", truncated},
            {"timed_out", timed_out},
            {"duration_ms", duration_ms},
            {"stdout_bytes", stdout_bytes},
            {"stderr_bytes", stderr_bytes}};
  }
};

// The per-item error of upload and download rows: {code, message}.
inline boost::json::object error_object(const Error& e) {
  return {{"code", ar_status_name(e.status())}, {"message", e.what()}};
}

// The read operation's line window: lines [offset, offset + limit) of a file, 0-based, a line
// keeping its '\n'; limit < 0 = to the end. from_request validates the request's `offset`
// (>= 0) and `limit` (>= 0 when present) before any file is touched.
struct LineWindow {
  int64_t offset = 0;
  int64_t limit = -1;

  static LineWindow from_request(const boost::json::object& req) {
    LineWindow w{json_get::integer(req, "offset", 0), json_get::integer(req, "limit", -1)};
    if (w.offset < 0) throw Error(AR_ERR_INVALID_ARGUMENT, "offset must be >= 0");
    if (json_get::find(req, "limit") && w.limit < 0)
      throw Error(AR_ERR_INVALID_ARGUMENT, "limit must be >= 0");
    return w;
  }

  // The read result on a file's whole `content`: {path, total_lines, offset, lines, size, more}
  // with the selected bytes as buffer 0. `display` is the path as the result shows it.
  Result result(std::string display, std::string_view content) const {
    const int64_t stop = limit < 0 || limit > std::numeric_limits<int64_t>::max() - offset
                             ? std::numeric_limits<int64_t>::max()
                             : offset + limit;
    int64_t total = 0;
    size_t start = content.size(), end = content.size();
    size_t pos = 0;
    while (pos < content.size()) {
      if (total == offset) start = pos;
      if (total == stop) end = pos;
      const size_t nl = content.find('\n', pos);
      pos = nl == std::string_view::npos ? content.size() : nl + 1;
      ++total;
    }
    if (offset >= total) start = content.size();
    if (stop >= total) end = content.size();
    const int64_t lines = std::max<int64_t>(0, std::min(total, stop) - std::min(total, offset));
    Result r = Result::ok({{"path", std::move(display)},
                           {"total_lines", total},
                           {"offset", offset},
                           {"lines", lines},
                           {"size", static_cast<int64_t>(content.size())},
                           {"more", stop < total}});
    r.buffers.emplace_back(start >= end ? std::string_view() : content.substr(start, end - start));
    return r;
  }
};

// The edit operation's request: {old, new, replace_all?}. from_request throws invalid_argument
// for a missing or empty `old`.
struct TextEdit {
  std::string old_text;
  std::string new_text;
  bool replace_all = false;

  static TextEdit from_request(const boost::json::object& req) {
    TextEdit e{json_get::string(req, "old"), json_get::string(req, "new"),
               json_get::boolean(req, "replace_all", false)};
    if (e.old_text.empty()) throw Error(AR_ERR_INVALID_ARGUMENT, "edit: 'old' must not be empty");
    return e;
  }

  // Non-overlapping occurrences of old_text in `content`, left to right.
  int64_t count(std::string_view content) const {
    int64_t n = 0;
    for (size_t pos = content.find(old_text); pos != std::string_view::npos;
         pos = content.find(old_text, pos + old_text.size()))
      ++n;
    return n;
  }

  // The edited content. Throws not_found when old_text does not occur, ambiguous when it occurs
  // more than once without replace_all, too_large when the result exceeds `max_bytes`. `display`
  // names the file in the messages. `occurrences` receives how many were replaced.
  std::string apply(std::string_view content, uint64_t max_bytes, std::string_view display,
                    int64_t& occurrences) const {
    const std::string what = "edit " + std::string(display);
    const int64_t n = count(content);
    if (n == 0) throw Error(AR_ERR_NOT_FOUND, what + ": the old string was not found");
    if (n > 1 && !replace_all)
      throw Error(AR_ERR_AMBIGUOUS, what + ": the old string occurs " + std::to_string(n) +
                                        " times; make it unique or pass replace_all: true");
    const uint64_t size = content.size() - static_cast<uint64_t>(n) * old_text.size() +
                          static_cast<uint64_t>(n) * new_text.size();
    if (size > max_bytes)
      throw Error(AR_ERR_TOO_LARGE,
                  what + ": the result would exceed " + std::to_string(max_bytes) + " bytes");
    std::string out;
    out.reserve(static_cast<size_t>(size));
    size_t last = 0;
    for (size_t pos = content.find(old_text); pos != std::string_view::npos;
         pos = content.find(old_text, pos + old_text.size())) {
      out.append(content.substr(last, pos - last));
      out += new_text;
      last = pos + old_text.size();
    }
    out.append(content.substr(last));
    occurrences = n;
    return out;
  }
};

// The upload operation around a plugin's `write(const SandboxPath&, std::string_view content,
// int mode)` (mode -1 = not given, else at most 07777): checks the request's `files` array
// against the input buffers (one per file, invalid_argument otherwise), then writes each file and
// answers {files: [{path, ok, error}]}. An sdk::Error for one file goes into its row and the others
// go on, except unauthorized (bad credentials fail the whole call). `resolve` turns each
// requested path into a SandboxPath (the overload without it uses parse_sandbox_path); rows show
// the resolved path.
template <class Resolve, class Write>
Result upload_files(Call& call, Resolve&& resolve, Write&& write) {
  const auto* files = json_get::find(call.request(), "files");
  if (!files || !files->is_array())
    throw Error(AR_ERR_INVALID_ARGUMENT, "upload: 'files' must be an array of {path, mode?}");
  const auto& arr = files->as_array();
  if (arr.size() != call.input_count())
    throw Error(AR_ERR_INVALID_ARGUMENT, "upload: " + std::to_string(arr.size()) + " files but " +
                                             std::to_string(call.input_count()) + " input buffers");
  boost::json::array out;
  for (size_t i = 0; i < arr.size(); ++i) {
    boost::json::object row;
    try {
      if (!arr[i].is_object())
        throw Error(AR_ERR_INVALID_ARGUMENT,
                    "upload: files[" + std::to_string(i) + "] must be an object");
      const auto& fo = arr[i].as_object();
      const std::string raw = json_get::string(fo, "path");
      row["path"] = raw;
      const SandboxPath p = resolve(std::string_view(raw));
      row["path"] = p.display();
      const int64_t mode = json_get::integer(fo, "mode", -1);
      if (mode > 07777) throw Error(AR_ERR_INVALID_ARGUMENT, "upload: mode must be <= 07777");
      write(p, call.input(i), static_cast<int>(mode));
      row["ok"] = true;
      row["error"] = nullptr;
    } catch (const Error& e) {
      if (e.status() == AR_ERR_UNAUTHORIZED) throw;
      if (!row.contains("path")) row["path"] = nullptr;
      row["ok"] = false;
      row["error"] = error_object(e);
    }
    out.push_back(std::move(row));
  }
  return Result::ok({{"files", std::move(out)}});
}
template <class Write>
Result upload_files(Call& call, Write&& write) {
  return upload_files(
      call, [](std::string_view raw) { return parse_sandbox_path(raw); }, write);
}

// What a plugin's download reader returns for one file.
struct DownloadedFile {
  std::string content;
  int64_t mode = 0;  // permission bits (07777)
};

// The download operation around a plugin's `read(const SandboxPath&) -> DownloadedFile`: answers
// {files: [{path, ok, size, mode, buffer, error}]} with each file's content as one buffer (`buffer`
// is its index). Per-file errors and `resolve` as in upload_files.
template <class Resolve, class Read>
Result download_files(const boost::json::object& req, Resolve&& resolve, Read&& read) {
  const auto* paths = json_get::find(req, "paths");
  if (!paths || !paths->is_array())
    throw Error(AR_ERR_INVALID_ARGUMENT, "download: 'paths' must be an array of strings");
  Result r = Result::ok();
  boost::json::array out;
  for (const auto& v : paths->as_array()) {
    boost::json::object row;
    row["path"] = v.is_string() ? boost::json::value(v.as_string()) : boost::json::value(nullptr);
    try {
      if (!v.is_string())
        throw Error(AR_ERR_INVALID_ARGUMENT, "download: every path must be a string");
      const SandboxPath p = resolve(std::string_view(v.as_string()));
      row["path"] = p.display();
      DownloadedFile f = read(p);
      row["ok"] = true;
      row["size"] = static_cast<int64_t>(f.content.size());
      row["mode"] = f.mode;
      row["buffer"] = static_cast<int64_t>(r.buffers.size());
      row["error"] = nullptr;
      r.buffers.push_back(std::move(f.content));
    } catch (const Error& e) {
      if (e.status() == AR_ERR_UNAUTHORIZED) throw;
      row["ok"] = false;
      row["size"] = 0;
      row["mode"] = 0;
      row["buffer"] = nullptr;
      row["error"] = error_object(e);
    }
    out.push_back(std::move(row));
  }
  r.body["files"] = std::move(out);
  return r;
}
template <class Read>
Result download_files(const boost::json::object& req, Read&& read) {
  return download_files(
      req, [](std::string_view raw) { return parse_sandbox_path(raw); }, read);
}

// The grep operation's request (sdk/README.md "Operations"): {pattern, path?, glob?, literal?,
// ignore_case?, max_matches?}. from_request reads the members with their defaults and throws
// invalid_argument for max_matches < 1; the plugin resolves `path` and compiles the pattern.
struct GrepRequest {
  std::string pattern;
  std::string path = ".";  // as requested: absolute, or relative to workdir
  std::optional<std::string> glob;
  bool literal = false;
  bool ignore_case = false;
  int64_t max_matches = 1000;

  static GrepRequest from_request(const boost::json::object& req) {
    GrepRequest g;
    g.pattern = json_get::string(req, "pattern");
    g.path = json_get::opt_string(req, "path").value_or(".");
    g.glob = json_get::opt_string(req, "glob");
    g.literal = json_get::boolean(req, "literal", false);
    g.ignore_case = json_get::boolean(req, "ignore_case", false);
    g.max_matches = json_get::integer(req, "max_matches", 1000);
    if (g.max_matches < 1) throw Error(AR_ERR_INVALID_ARGUMENT, "grep: max_matches must be >= 1");
    return g;
  }
};

// One grep match line as results show it: at most `max_bytes` bytes of the line, a trailing '\r'
// (CRLF files) removed, made valid UTF-8.
inline std::string grep_line_text(std::string_view line, size_t max_bytes = 2000) {
  line = line.substr(0, max_bytes);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return utf8_sanitize(line);
}

// Command output within a budget of `cap` bytes: the first cap/2 and the last cap - cap/2 bytes
// are kept, everything is counted. Memory stays under 2 * cap; appends are amortised O(1).
class HeadTail {
 public:
  explicit HeadTail(uint64_t cap)
      : head_cap_(static_cast<size_t>(cap / 2)), tail_cap_(static_cast<size_t>(cap - cap / 2)) {}

  void append(std::string_view data) {
    total_ += data.size();
    if (head_.size() < head_cap_) {
      const size_t n = std::min(head_cap_ - head_.size(), data.size());
      head_.append(data.substr(0, n));
      data.remove_prefix(n);
    }
    if (data.empty()) return;
    if (data.size() >= tail_cap_) {
      tail_.assign(data.substr(data.size() - tail_cap_));
      return;
    }
    tail_.append(data);
    // Trim in bulk so appends stay amortised O(1).
    if (tail_.size() > 2 * tail_cap_) tail_.erase(0, tail_.size() - tail_cap_);
  }
  // Counts `n` bytes that were produced but are not looked at (a reader that can seek, e.g. a
  // remote file, skips what would be dropped anyway). Only for a full head and when at least
  // tail_cap() more bytes follow: they make the whole tail, so what was kept of it goes.
  void skip(uint64_t n) {
    if (head_.size() < head_cap_ || n == 0) return;
    total_ += n;
    tail_.clear();
  }
  bool head_full() const { return head_.size() >= head_cap_; }
  size_t tail_cap() const { return tail_cap_; }
  // Bytes appended (or skipped) in all.
  uint64_t total() const { return total_; }
  // Whether bytes were dropped.
  bool truncated() const { return total_ > head_cap_ + tail_cap_; }
  // The kept bytes; when some were dropped, the head, a marker line
  // "\n... [N bytes truncated] ...\n" and the tail. Not UTF-8 sanitised (a cut may split a
  // character): pass it through utf8_sanitize before putting it into JSON.
  std::string text() const {
    const std::string_view tail =
        std::string_view(tail_).substr(tail_.size() - std::min(tail_.size(), tail_cap_));
    if (!truncated()) return head_ + std::string(tail);
    const uint64_t dropped = total_ - head_.size() - tail.size();
    std::string out = head_;
    out += "\n... [" + std::to_string(dropped) + " bytes truncated] ...\n";
    out.append(tail);
    return out;
  }

 private:
  size_t head_cap_, tail_cap_;
  std::string head_, tail_;
  uint64_t total_ = 0;
};

}  // namespace v1
}  // namespace agent_runner::sdk
