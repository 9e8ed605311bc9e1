// File operations through the toolbox's /files endpoints, with the filesystem plugin's result
// shapes and error codes (sdk/README.md), so an agent sees no difference between the modes.
#include "sandbox.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;

namespace {

std::string str_member(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

int64_t int_member(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  if (it->value().is_double()) return static_cast<int64_t>(it->value().as_double());
  return 0;
}

RemoteInfo to_info(const json::object& o) {
  RemoteInfo i;
  auto d = o.find("isDir");
  i.is_dir = d != o.end() && d->value().is_bool() && d->value().as_bool();
  i.size = i.is_dir ? 0 : int_member(o, "size");
  const std::string perm = str_member(o, "permissions");
  if (!perm.empty() && perm.find_first_not_of("01234567") == std::string::npos)
    i.mode = std::stoll(perm, nullptr, 8);
  std::string t = str_member(o, "modifiedAt");
  if (t.empty()) {
    // Older daemons: Go's time.String(), "2026-06-01 12:00:00.123 +0000 UTC".
    t = str_member(o, "modTime");
    if (t.size() >= 19 && t[10] == ' ') t[10] = 'T';
  }
  i.modified_at = normalize_time(t);
  return i;
}

json::object entry(const SandboxPath& p, const RemoteInfo& i) {
  return sdk::file_entry(p.display(), i.is_dir, i.size, i.modified_at);
}

SandboxPath path_arg(const json::object& req, std::string_view key = "path") {
  return parse_sandbox_path(sdk::json_get::string(req, key));
}

std::string op_s(std::string_view op, const SandboxPath& p) {
  return std::string(op) + " " + p.display();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Toolbox plumbing

HttpResponse DaytonaSandbox::tb(const DaytonaApi::ToolboxCall& call) {
  HttpResponse r = api_->toolbox(toolbox_, call);
  const bool not_running =
      r.status == 502 ||
      (r.status == 400 && r.body.find("Is the Sandbox started") != std::string::npos);
  if (!not_running) return r;
  {
    // Auto-stop may have stopped the sandbox between calls: start it and try once more.
    std::lock_guard lock(restart_mutex_);
    auto sb = api_->get_sandbox(id_);
    if (!sb) throw Error(AR_ERR_NOT_FOUND, "sandbox " + id_ + " no longer exists in Daytona");
    if (sandbox_state(*sb) == "started") return r;
    host_.warn("sandbox " + id_ + " is " + sandbox_state(*sb) + "; starting it again");
    wait_started(std::move(*sb), false);
  }
  return api_->toolbox(toolbox_, call);
}

std::string DaytonaSandbox::q(const SandboxPath& p) const {
  return url_encode(p.under(workspace_));
}

std::optional<RemoteInfo> DaytonaSandbox::stat(const SandboxPath& p, std::string_view op) {
  DaytonaApi::ToolboxCall c;
  c.path = "/files/info?path=" + q(p);
  c.idempotent = true;
  auto r = tb(c);
  if (r.status == 404 || r.status == 400) return std::nullopt;  // 400: ENOTDIR and friends
  if (r.status == 403) throw Error(AR_ERR_PERMISSION_DENIED, op_s(op, p) + ": permission denied");
  if (!r.ok()) api_->fail(request_for(c.method, toolbox_ + c.path), r, op_s(op, p));
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object())
    throw Error(AR_ERR_UNAVAILABLE, op_s(op, p) + ": GET /files/info answered no FileInfo");
  return to_info(v.as_object());
}

void DaytonaSandbox::missing(const SandboxPath& p, std::string_view op) {
  for (SandboxPath a = p.parent(); !a.is_root(); a = a.parent()) {
    auto i = stat(a, op);
    if (!i) continue;
    if (!i->is_dir)
      throw Error(AR_ERR_NOT_A_DIRECTORY,
                  op_s(op, p) + ": a component of the path is not a directory");
    break;
  }
  throw Error(AR_ERR_FILE_NOT_FOUND, op_s(op, p) + ": no such file or directory");
}

void DaytonaSandbox::fs_fail(const SandboxPath& p, std::string_view op,
                             const DaytonaApi::ToolboxCall& call, const HttpResponse& resp) {
  if (resp.status == 404) missing(p, op);
  if (resp.status == 403)
    throw Error(AR_ERR_PERMISSION_DENIED, op_s(op, p) + ": permission denied");
  api_->fail(request_for(call.method, toolbox_ + call.path), resp, op_s(op, p));
}

void DaytonaSandbox::check_file_size(const SandboxPath& p, std::string_view op,
                                     uint64_t size) const {
  if (size > cfg_.max_file_bytes)
    throw Error(AR_ERR_TOO_LARGE,
                op_s(op, p) + ": " + std::to_string(size) + " bytes is over the limit of " +
                    std::to_string(cfg_.max_file_bytes) + " (sandbox.max_file_bytes)");
}

std::string DaytonaSandbox::fetch(const SandboxPath& p, std::string_view op,
                                  const RemoteInfo& info) {
  if (info.is_dir) throw Error(AR_ERR_IS_DIRECTORY, op_s(op, p) + ": is a directory");
  check_file_size(p, op, static_cast<uint64_t>(info.size));
  DaytonaApi::ToolboxCall c;
  c.path = "/files/download?path=" + q(p);
  c.idempotent = true;
  c.max_response_bytes = cfg_.max_file_bytes + 1;
  HttpResponse r;
  try {
    r = tb(c);
  } catch (const Error& e) {
    if (e.status() == AR_ERR_TOO_LARGE) check_file_size(p, op, cfg_.max_file_bytes + 1);
    throw;
  }
  if (r.status == 400) {
    auto i = stat(p, op);
    if (i && i->is_dir) throw Error(AR_ERR_IS_DIRECTORY, op_s(op, p) + ": is a directory");
  }
  if (!r.ok()) fs_fail(p, op, c, r);
  check_file_size(p, op, r.body.size());
  return std::move(r.body);
}

void DaytonaSandbox::put(const SandboxPath& p, std::string_view op, std::string_view content) {
  const std::string remote = p.under(workspace_);
  std::string boundary;
  do {
    boundary = "agent-runner-" + random_hex(16);
  } while (content.find(boundary) != std::string_view::npos);
  std::string fname = remote;
  for (auto& ch : fname)
    if (ch == '"' || ch == '\r' || ch == '\n') ch = '_';
  // Bulk upload (what the v0.190.0 SDKs use, even for one file): creates parent directories.
  std::string body;
  body.reserve(content.size() + 512);
  body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"files[0].path\"\r\n\r\n";
  body += remote + "\r\n";
  body += "--" + boundary +
          "\r\nContent-Disposition: form-data; name=\"files[0].file\"; filename=\"" + fname +
          "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
  body.append(content);
  body += "\r\n--" + boundary + "--\r\n";
  DaytonaApi::ToolboxCall c;
  c.method = "POST";
  c.path = "/files/bulk-upload";
  c.body = std::move(body);
  c.content_type = "multipart/form-data; boundary=" + boundary;
  c.idempotent = true;  // writing the same bytes twice leaves the same file
  auto r = tb(c);
  if (r.status == 404 || r.status == 405) {
    // A daemon without bulk upload: the single-file endpoint (field "file").
    std::string b2;
    b2 += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
          fname + "\"\r\nContent-Type: application/octet-stream\r\n\r\n";
    b2.append(content);
    b2 += "\r\n--" + boundary + "--\r\n";
    c.path = "/files/upload?path=" + url_encode(remote);
    c.body = std::move(b2);
    r = tb(c);
  }
  if (r.ok()) {
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object())
      if (auto e = v.as_object().find("errors");
          e != v.as_object().end() && e->value().is_array() && !e->value().as_array().empty())
        throw Error(AR_ERR_INTERNAL, op_s(op, p) + ": upload failed: " +
                                         api_->http().redact(json::serialize(e->value())));
    return;
  }
  if (r.status == 400) {
    // Usually a parent component that is a file (MkdirAll fails).
    for (SandboxPath a = p.parent(); !a.is_root(); a = a.parent()) {
      auto i = stat(a, op);
      if (i && !i->is_dir)
        throw Error(AR_ERR_NOT_A_DIRECTORY,
                    op_s(op, p) + ": a component of the path is not a directory");
      if (i) break;
    }
    auto self = stat(p, op);
    if (self && self->is_dir) throw Error(AR_ERR_IS_DIRECTORY, op_s(op, p) + ": is a directory");
  }
  fs_fail(p, op, c, r);
}

ShortExec DaytonaSandbox::run_short(const std::string& script, double timeout_s) {
  // Works with every daemon generation (reference 5.1): old ones split the command on spaces
  // and exec it, new ones pipe it to a shell; both run this wrapper the same way.
  json::object body{
      {"command", "sh -c \"echo '" + sdk::base64_encode(script) + "' | base64 -d | sh\""}};
  if (timeout_s > 0) body["timeout"] = static_cast<int64_t>(std::ceil(timeout_s));
  DaytonaApi::ToolboxCall c;
  c.method = "POST";
  c.path = "/process/execute";
  c.body = json::serialize(body);
  c.content_type = "application/json";
  c.idempotent = false;
  // Our HTTP timeout outlasts the daemon's own (SDKs: timeout + 5 s); no timeout = a day.
  c.timeout = timeout_s > 0
                  ? std::chrono::milliseconds(static_cast<int64_t>((timeout_s + 5) * 1000))
                  : std::chrono::milliseconds(std::chrono::hours(24));
  auto r = tb(c);
  HttpRequest req = request_for(c.method, toolbox_ + c.path);
  if (r.status == 408) throw Error(AR_ERR_TIMEOUT, "POST /process/execute: command timed out");
  if (!r.ok()) api_->fail(req, r);
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object())
    throw Error(AR_ERR_UNAVAILABLE, "POST /process/execute: the answer is not a JSON object");
  const auto& o = v.as_object();
  ShortExec out;
  out.exit_code = o.contains("exitCode") ? int_member(o, "exitCode") : int_member(o, "code");
  out.output = str_member(o, "result");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Operations

Result DaytonaSandbox::ls(sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = parse_sandbox_path(sdk::json_get::opt_string(req, "path").value_or("/"));
  DaytonaApi::ToolboxCall c;
  c.path = "/files?path=" + q(p);
  c.idempotent = true;
  auto r = tb(c);
  if (!r.ok()) {
    if (r.status == 400 || r.status == 500) {
      auto i = stat(p, "ls");
      if (i && !i->is_dir) throw Error(AR_ERR_NOT_A_DIRECTORY, op_s("ls", p) + ": not a directory");
      if (!i) missing(p, "ls");
    }
    fs_fail(p, "ls", c, r);
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !(v.is_array() || v.is_null()))
    throw Error(AR_ERR_UNAVAILABLE, op_s("ls", p) + ": GET /files answered no FileInfo list");
  std::vector<std::pair<std::string, json::object>> rows;
  if (v.is_array()) {
    for (const auto& it : v.as_array()) {
      if (!it.is_object()) continue;
      const std::string name = str_member(it.as_object(), "name");
      if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
        continue;
      SandboxPath child = p.child(name);
      rows.emplace_back(child.display(), entry(child, to_info(it.as_object())));
    }
  }
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.first < b.first; });
  json::array entries;
  for (auto& row : rows) entries.push_back(std::move(row.second));
  return Result::ok({{"path", p.display()}, {"entries", std::move(entries)}});
}

Result DaytonaSandbox::read(sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = path_arg(req);
  const auto window = sdk::LineWindow::from_request(req);
  auto info = stat(p, "read");
  if (!info) missing(p, "read");
  return window.result(p.display(), fetch(p, "read", *info));
}

Result DaytonaSandbox::write(sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = path_arg(req);
  const bool overwrite = sdk::json_get::boolean(req, "overwrite", false);
  if (call.input_count() == 0 && sdk::json_get::opt_string(req, "content"))
    throw Error(AR_ERR_INVALID_ARGUMENT, "write: pass the content as the input buffer");
  std::string_view content = call.input_count() > 0 ? call.input(0) : std::string_view();
  if (p.is_root()) throw Error(AR_ERR_IS_DIRECTORY, "write /: is a directory");
  check_file_size(p, "write", content.size());
  auto info = stat(p, "write");
  if (info && info->is_dir) throw Error(AR_ERR_IS_DIRECTORY, op_s("write", p) + ": is a directory");
  if (info && !overwrite)
    throw Error(AR_ERR_ALREADY_EXISTS,
                op_s("write", p) + ": file already exists (pass overwrite: true to replace it)");
  put(p, "write", content);
  return Result::ok({{"path", p.display()},
                     {"bytes_written", static_cast<int64_t>(content.size())},
                     {"created", !info.has_value()}});
}

Result DaytonaSandbox::edit(sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = path_arg(req);
  const auto edit = sdk::TextEdit::from_request(req);
  auto info = stat(p, "edit");
  if (!info) missing(p, "edit");
  int64_t count = 0;
  const std::string out =
      edit.apply(fetch(p, "edit", *info), cfg_.max_file_bytes, p.display(), count);
  put(p, "edit", out);
  return Result::ok({{"path", p.display()}, {"occurrences", count}});
}

Result DaytonaSandbox::upload(sdk::Call& call) {
  return sdk::upload_files(call, [&](const SandboxPath& p, std::string_view content, int mode) {
    if (p.is_root()) throw Error(AR_ERR_IS_DIRECTORY, "upload /: is a directory");
    check_file_size(p, "upload", content.size());
    put(p, "upload", content);
    if (mode >= 0) {
      char oct[16];
      std::snprintf(oct, sizeof oct, "%04o", static_cast<unsigned>(mode) & 07777u);
      DaytonaApi::ToolboxCall c;
      c.method = "POST";
      c.path = "/files/permissions?path=" + q(p) + "&mode=" + oct;
      c.idempotent = true;
      auto r = tb(c);
      if (!r.ok()) fs_fail(p, "upload", c, r);
    }
  });
}

Result DaytonaSandbox::download(sdk::Call& call) {
  return sdk::download_files(call.request(), [&](const SandboxPath& p) {
    auto info = stat(p, "download");
    if (!info) missing(p, "download");
    return sdk::DownloadedFile{fetch(p, "download", *info), info->mode};
  });
}

Result DaytonaSandbox::remove(sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = path_arg(req);
  const bool recursive = sdk::json_get::boolean(req, "recursive", false);
  if (p.is_root()) throw Error(AR_ERR_INVALID_PATH, "delete /: the sandbox root cannot be deleted");
  auto info = stat(p, "delete");
  if (!info) missing(p, "delete");
  bool rec = false;
  if (info->is_dir) {
    if (!recursive) {
      // The daemon refuses any directory without recursive=true; locally an empty one goes.
      DaytonaApi::ToolboxCall lc;
      lc.path = "/files?path=" + q(p);
      lc.idempotent = true;
      auto lr = tb(lc);
      if (!lr.ok()) fs_fail(p, "delete", lc, lr);
      boost::system::error_code ec;
      auto v = json::parse(lr.body, ec);
      if (!ec && v.is_array() && !v.as_array().empty())
        throw Error(
            AR_ERR_INVALID_ARGUMENT,
            op_s("delete", p) + ": directory is not empty (pass recursive: true to delete it)");
    }
    rec = true;
  }
  DaytonaApi::ToolboxCall c;
  c.method = "DELETE";
  c.path = "/files?path=" + q(p) + (rec ? "&recursive=true" : "");
  c.idempotent = true;
  auto r = tb(c);
  if (!r.ok()) fs_fail(p, "delete", c, r);
  return Result::ok({{"path", p.display()}, {"deleted", true}});
}

// glob: /files/search narrows the candidates by base name on the daemon (one request), the full
// pattern is matched here, and one listing per directory that holds a match gives the FileInfo.
Result DaytonaSandbox::glob(sdk::Call& call) {
  const auto& req = call.request();
  std::string pattern = sdk::json_get::string(req, "pattern");
  SandboxPath base = parse_sandbox_path(sdk::json_get::opt_string(req, "path").value_or("/"));
  sdk::check_glob_pattern(pattern, "glob", "pattern");
  if (pattern.front() == '/') {
    // An absolute pattern is matched against the whole sandbox path.
    base = SandboxPath{};
    pattern.erase(0, 1);
  }
  auto binfo = stat(base, "glob");
  if (!binfo) missing(base, "glob");
  if (!binfo->is_dir) throw Error(AR_ERR_NOT_A_DIRECTORY, op_s("glob", base) + ": not a directory");
  std::string last =
      pattern.substr(pattern.rfind('/') == std::string::npos ? 0 : pattern.rfind('/') + 1);
  if (last.empty() || last == "**") last = "*";
  DaytonaApi::ToolboxCall c;
  c.path = "/files/search?path=" + q(base) + "&pattern=" + url_encode(last);
  c.idempotent = true;
  auto r = tb(c);
  if (!r.ok()) fs_fail(base, "glob", c, r);
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  const json::array* files = nullptr;
  if (!ec && v.is_object())
    if (auto it = v.as_object().find("files"); it != v.as_object().end() && it->value().is_array())
      files = &it->value().as_array();
  if (!files) throw Error(AR_ERR_UNAVAILABLE, "glob: GET /files/search answered no {files}");
  const std::string base_remote = base.under(workspace_);
  std::map<std::string, std::set<std::string>> by_dir;  // parent display path -> names
  std::map<std::string, SandboxPath> dirs;
  for (const auto& f : *files) {
    if (!f.is_string()) continue;
    std::string remote(f.as_string());
    if (!remote.empty() && remote.front() != '/') remote = base_remote + "/" + remote;
    SandboxPath sp;
    if (!to_sandbox_path(workspace_, remote, sp) || sp.parts.size() <= base.parts.size()) continue;
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
    DaytonaApi::ToolboxCall lc;
    lc.path = "/files?path=" + q(dir);
    lc.idempotent = true;
    auto lr = tb(lc);
    if (lr.status == 404) continue;  // vanished meanwhile
    if (!lr.ok()) fs_fail(dir, "glob", lc, lr);
    auto lv = json::parse(lr.body, ec);
    if (ec || !lv.is_array()) continue;
    for (const auto& it : lv.as_array()) {
      if (!it.is_object()) continue;
      const std::string name = str_member(it.as_object(), "name");
      if (!names.count(name)) continue;
      RemoteInfo info = to_info(it.as_object());
      if (info.is_dir) continue;  // files only
      SandboxPath child = dir.child(name);
      rows.emplace_back(child.display(), entry(child, info));
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
  const auto& req = call.request();
  const std::string pattern = sdk::json_get::string(req, "pattern");
  SandboxPath base = parse_sandbox_path(sdk::json_get::opt_string(req, "path").value_or("/"));
  const auto file_glob = sdk::json_get::opt_string(req, "glob");
  const bool literal = sdk::json_get::boolean(req, "literal", false);
  const bool icase = sdk::json_get::boolean(req, "ignore_case", false);
  const int64_t max = sdk::json_get::integer(req, "max_matches", 1000);
  if (max < 1) throw Error(AR_ERR_INVALID_ARGUMENT, "grep: max_matches must be >= 1");
  if (pattern.find('\0') != std::string::npos || pattern.find('\n') != std::string::npos)
    throw Error(AR_ERR_INVALID_ARGUMENT, "grep: 'pattern' must be one line without NUL bytes");
  auto binfo = stat(base, "grep");
  if (!binfo) missing(base, "grep");
  const std::string base_remote = base.under(workspace_);

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
    DaytonaApi::ToolboxCall c;
    c.path = "/files/find?path=" + url_encode(base_remote) + "&pattern=" + url_encode(pattern);
    c.idempotent = true;
    auto r = tb(c);
    if (!r.ok()) fs_fail(base, "grep", c, r);
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_array()) {
      for (const auto& m : v.as_array()) {
        if (!m.is_object()) continue;
        const auto& o = m.as_object();
        SandboxPath sp;
        if (!to_sandbox_path(workspace_, str_member(o, "file"), sp) || sp.is_root()) continue;
        if (!keep(sp)) continue;
        matches.push_back(
            {sp.display(), int_member(o, "line"), sdk::grep_line_text(str_member(o, "content"))});
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
             shell_quote(dir.under(workspace_)) +
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
      SandboxPath sp;
      try {
        sp = parse_sandbox_path(dir.display() + "/" + std::string(file));
      } catch (const Error&) {
        continue;
      }
      if (!keep(sp)) continue;
      matches.push_back({sp.display(), std::atoll(std::string(rest.substr(0, colon)).c_str()),
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
