// SPDX-License-Identifier: Apache-2.0
// Search: glob through the daemon's /files/search and one listing per directory that holds a
// match, grep through /files/find (literal) or GNU grep run in the sandbox (regular expressions).
// Results and error codes are the filesystem plugin's.
#include "sandbox.hpp"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;

namespace {

// A path the daemon reported (absolute; relative ones are below `base`), or nullopt when it is
// not a usable path.
std::optional<SandboxPath> reported(std::string_view remote, const SandboxPath& base) {
  try {
    return resolve_path(remote, base);
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

// glob: /files/search narrows the candidates by base name on the daemon (one request), the full
// pattern is matched here, and one listing per directory that holds a match gives the FileInfo.
Result DaytonaSandbox::glob(sdk::Call& call) {
  const auto& req = call.request();
  std::string pattern = sdk::json_get::string(req, "pattern");
  SandboxPath base = path(sdk::json_get::opt_string(req, "path").value_or("."));
  sdk::check_glob_pattern(pattern, "glob", "pattern");
  // An absolute pattern is matched against the whole path. Its leading literal components (and a
  // relative pattern's) narrow the directory the daemon walks: "/home/u/**/*.py" walks /home/u.
  if (pattern.front() == '/') base = SandboxPath{};
  auto binfo = stat(base, "glob");
  if (!binfo) missing(base, "glob");
  if (!binfo->is_dir) throw Error(AR_ERR_NOT_A_DIRECTORY, op_s("glob", base) + ": not a directory");
  auto parts = sdk::split_path(pattern);
  size_t lit = 0;
  while (lit + 1 < parts.size() && parts[lit] != "**" &&
         parts[lit].find_first_of("*?[\\") == std::string::npos)
    base = base.child(parts[lit++]);
  pattern.clear();
  for (size_t i = lit; i < parts.size(); ++i) pattern += (i > lit ? "/" : "") + parts[i];
  if (lit > 0) {
    // A literal prefix that is no directory holds no match.
    auto narrowed = stat(base, "glob");
    if (!narrowed || !narrowed->is_dir)
      return Result::ok({{"entries", json::array{}}, {"truncated", false}});
  }
  std::string last =
      pattern.substr(pattern.rfind('/') == std::string::npos ? 0 : pattern.rfind('/') + 1);
  if (last.empty() || last == "**") last = "*";
  const auto v =
      files_get(base, "glob", "/files/search?path=" + q(base) + "&pattern=" + url_encode(last));
  const json::array* files = nullptr;
  if (v->is_object())
    if (auto it = v->as_object().find("files");
        it != v->as_object().end() && it->value().is_array())
      files = &it->value().as_array();
  if (!files) throw Error(AR_ERR_UNAVAILABLE, "glob: GET /files/search answered no {files}");
  std::map<std::string, std::set<std::string>> by_dir;  // parent display path -> names
  std::map<std::string, SandboxPath> dirs;
  for (const auto& f : *files) {
    if (!f.is_string()) continue;
    const auto found = reported(f.as_string(), base);
    if (!found || found->parts.size() <= base.parts.size()) continue;
    const SandboxPath& sp = *found;
    // The daemon walks below base; anything else is not an answer to this request.
    if (!std::equal(base.parts.begin(), base.parts.end(), sp.parts.begin())) continue;
    std::string rel;
    for (size_t i = base.parts.size(); i < sp.parts.size(); ++i)
      rel += (rel.empty() ? "" : "/") + sp.parts[i];
    if (!glob_match(pattern, rel)) continue;
    SandboxPath parent = sp.parent();
    by_dir[parent.display()].insert(sp.parts.back());
    dirs[parent.display()] = parent;
  }
  std::vector<std::pair<std::string, json::object>> rows;
  for (const auto& [shown, names] : by_dir) {
    const SandboxPath& dir = dirs[shown];
    const auto lv = files_get(dir, "glob", "/files?path=" + q(dir), true);
    if (!lv || !lv->is_array()) continue;  // vanished meanwhile
    for (const auto& it : lv->as_array()) {
      if (!it.is_object()) continue;
      const std::string name = str_member(it.as_object(), "name");
      if (!names.count(name)) continue;
      // Directories match too, as in shell globbing.
      const RemoteInfo info = to_info(it.as_object());
      SandboxPath child = dir.child(name);
      rows.emplace_back(child.display(),
                        sdk::file_entry(child.display(), info.is_dir, info.size, info.modified_at));
    }
  }
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first < b.first; });
  // The filesystem plugin's bound on one answer.
  constexpr size_t kMaxEntries = 20000;
  const bool truncated = rows.size() > kMaxEntries;
  if (truncated) rows.resize(kMaxEntries);
  json::array entries;
  for (auto& row : rows) entries.push_back(std::move(row.second));
  return Result::ok({{"entries", std::move(entries)}, {"truncated", truncated}});
}

// grep: a literal, case-sensitive search goes to the daemon's /files/find; regular expressions
// and case-insensitive searches run GNU grep in the sandbox (PCRE, falling back to ERE), so the
// pattern is evaluated there, never in the host.
Result DaytonaSandbox::grep(sdk::Call& call) {
  const auto req = sdk::GrepRequest::from_request(call.request());
  SandboxPath base = path(req.path);
  const std::string& pattern = req.pattern;
  const auto& file_glob = req.glob;
  const bool literal = req.literal;
  const bool icase = req.ignore_case;
  const int64_t max = req.max_matches;
  if (pattern.find('\0') != std::string::npos || pattern.find('\n') != std::string::npos)
    throw Error(AR_ERR_INVALID_ARGUMENT, "grep: 'pattern' must be one line without NUL bytes");
  auto binfo = stat(base, "grep");
  if (!binfo) missing(base, "grep");

  struct Match {
    std::string path;
    int64_t line;
    std::string text;
  };
  std::vector<Match> matches;
  auto keep = [&](const SandboxPath& sp) {
    if (!file_glob) return true;
    if (file_glob->find('/') == std::string::npos) return glob_match(*file_glob, sp.parts.back());
    std::string rel;
    for (size_t i = base.parts.size(); i < sp.parts.size(); ++i)
      rel += (rel.empty() ? "" : "/") + sp.parts[i];
    return glob_match(*file_glob, rel);
  };
  bool truncated = false;
  // The directory grep runs in and what it searches there: "." for a directory, the name of a file.
  const SandboxPath dir = binfo->is_dir ? base : base.parent();
  const std::string target = binfo->is_dir ? "." : base.parts.back();
  if (literal && !icase && !pattern.empty()) {
    const auto v =
        files_get(base, "grep", "/files/find?path=" + q(base) + "&pattern=" + url_encode(pattern));
    if (v->is_array()) {
      for (const auto& m : v->as_array()) {
        if (!m.is_object()) continue;
        const auto& o = m.as_object();
        const auto sp = reported(str_member(o, "file"), base);
        if (!sp || sp->is_root() || !keep(*sp)) continue;
        matches.push_back(
            {sp->display(), int_member(o, "line"), sdk::grep_line_text(str_member(o, "content"))});
      }
    }
  } else {
    std::string flags = std::string(literal ? "-F" : "-P") + (icase ? " -i" : "");
    std::string include;
    if (file_glob && file_glob->find('/') == std::string::npos)
      include = " --include=" + shell_quote(*file_glob);
    // Matches go to a temporary file so grep's own exit status survives (no pipefail in sh).
    auto script = [&](const std::string& fl) {
      return "t=$(mktemp) && e=$(mktemp) || exit 90\n"
             "cd " +
             shell_quote(dir.display()) +
             " || exit 91\n"
             "grep -rnHI --null " +
             fl + include + " -e " + shell_quote(pattern) + " -- " + shell_quote(target) +
             " >\"$t\" 2>\"$e\"; rc=$?\n"
             "head -n " +
             std::to_string(max + 1) +
             " \"$t\"; printf '\\036%d\\036' \"$rc\"; "
             "head -c 2000 \"$e\"; rm -f \"$t\" \"$e\"\n";
    };
    ShortExec r = run_short(script(flags), std::max(30.0, cfg_.request_timeout_s));
    auto split = [](const std::string& out, std::string& body, int& rc, std::string& err) {
      auto a = out.rfind('\036', out.size());
      auto b = a == std::string::npos || a == 0 ? std::string::npos : out.rfind('\036', a - 1);
      if (a == std::string::npos || b == std::string::npos) return false;
      body = out.substr(0, b);
      rc = std::atoi(out.substr(b + 1, a - b - 1).c_str());
      err = out.substr(a + 1);
      return true;
    };
    std::string body, err;
    int rc = -1;
    if (!split(r.output, body, rc, err))
      throw Error(AR_ERR_UNAVAILABLE,
                  "grep: could not run grep in the sandbox: " + r.output.substr(0, 300));
    if (rc == 2 && !literal && err.find("support") != std::string::npos) {
      r = run_short(script(std::string("-E") + (icase ? " -i" : "")),
                    std::max(30.0, cfg_.request_timeout_s));
      if (!split(r.output, body, rc, err))
        throw Error(AR_ERR_UNAVAILABLE, "grep: could not run grep in the sandbox");
    }
    if (rc == 2 && body.empty())
      throw Error(AR_ERR_INVALID_ARGUMENT, "grep: invalid pattern '" + pattern +
                                               "': " + sdk::utf8_sanitize(err.substr(0, 300)));
    size_t pos = 0;
    while (pos < body.size()) {
      size_t nl = body.find('\n', pos);
      if (nl == std::string::npos) nl = body.size();
      std::string_view line(body.data() + pos, nl - pos);
      pos = nl + 1;
      auto z = line.find('\0');
      if (z == std::string_view::npos) continue;
      std::string_view file = line.substr(0, z), rest = line.substr(z + 1);
      auto colon = rest.find(':');
      if (colon == std::string_view::npos) continue;
      if (file.starts_with("./")) file.remove_prefix(2);
      const auto sp = reported(file, dir);
      if (!sp || !keep(*sp)) continue;
      matches.push_back({sp->display(), std::atoll(std::string(rest.substr(0, colon)).c_str()),
                         sdk::grep_line_text(rest.substr(colon + 1))});
    }
  }
  std::sort(matches.begin(), matches.end(), [](const Match& a, const Match& b) {
    return a.path != b.path ? a.path < b.path : a.line < b.line;
  });
  if (static_cast<int64_t>(matches.size()) > max) {
    matches.resize(static_cast<size_t>(max));
    truncated = true;
  }
  json::array out;
  for (auto& m : matches)
    out.push_back(json::object{
        {"path", sdk::utf8_sanitize(m.path)}, {"line", m.line}, {"text", std::move(m.text)}});
  return Result::ok({{"matches", std::move(out)}, {"truncated", truncated}});
}

}  // namespace agent_runner::daytona
