// Toolbox plumbing shared by the operations: calls that restart an auto-stopped sandbox, paths,
// FileInfo, the errors of file-level answers, whole-file transfer and short scripts.
#include "sandbox.hpp"

#include <cctype>
#include <cmath>

namespace agent_runner::daytona {

using sdk::Error;
namespace json = boost::json;

std::string op_s(std::string_view op, const SandboxPath& p) {
  return std::string(op) + " " + p.display();
}

RemoteInfo to_info(const json::object& o) {
  RemoteInfo i;
  auto d = o.find("isDir");
  i.is_dir = d != o.end() && d->value().is_bool() && d->value().as_bool();
  i.size = i.is_dir ? 0 : int_member(o, "size");
  const std::string perm = str_member(o, "permissions");
  if (!perm.empty() && perm.size() <= 6 && perm.find_first_not_of("01234567") == std::string::npos)
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

HttpResponse DaytonaSandbox::tb(const DaytonaApi::ToolboxCall& call) {
  HttpResponse r = api_->toolbox(toolbox_, call);
  const bool not_running =
      r.status == 502 ||
      (r.status == 400 && r.body.find("Is the Sandbox started") != std::string::npos);
  // Maintenance (sessions) never starts a stopped sandbox: nothing runs in one.
  if (!not_running || maintenance_) return r;
  {
    // Auto-stop may have stopped the sandbox between calls: start it and try once more.
    std::lock_guard lock(restart_mutex_);
    auto sb = api_->get_sandbox(id_);
    if (!sb) throw Error(AR_ERR_NOT_FOUND, "sandbox " + id_ + " no longer exists in Daytona");
    if (sandbox_state(*sb) == "started") return r;
    host_.warn("sandbox " + id_ + " is " + sandbox_state(*sb) + "; starting it again");
    wait_started(std::move(*sb));
  }
  return api_->toolbox(toolbox_, call);
}

SandboxPath DaytonaSandbox::path(std::string_view input) const {
  return resolve_path(input, workdir_);
}

SandboxPath DaytonaSandbox::path_arg(const json::object& req, std::string_view key) const {
  return path(sdk::json_get::string(req, key));
}

std::string DaytonaSandbox::q(const SandboxPath& p) const {
  return url_encode(p.display());
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

std::optional<json::value> DaytonaSandbox::files_get(const SandboxPath& p, std::string_view op,
                                                     const std::string& path, bool missing_ok) {
  DaytonaApi::ToolboxCall c;
  c.path = path;
  c.idempotent = true;
  auto r = tb(c);
  if (missing_ok && r.status == 404) return std::nullopt;
  if (!r.ok()) fs_fail(p, op, c, r);
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  return ec ? json::value(nullptr) : std::move(v);
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
  const std::string remote = p.display();
  // Bulk upload (what the v0.190.0 SDKs use, even for one file): creates parent directories.
  DaytonaApi::ToolboxCall c;
  c.method = "POST";
  c.path = "/files/bulk-upload";
  c.mime = {MimePart{"files[0].path", remote, std::nullopt},
            MimePart{"files[0].file", content, remote}};
  c.idempotent = true;  // writing the same bytes twice leaves the same file
  auto r = tb(c);
  if (r.status == 404 || r.status == 405) {
    // A daemon without bulk upload: the single-file endpoint (field "file").
    c.path = "/files/upload?path=" + url_encode(remote);
    c.mime = {MimePart{"file", content, remote}};
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
    // Bulk upload says why per file: a directory the sandbox user may not write.
    std::string why = r.body;
    for (auto& ch : why) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (why.find("permission denied") != std::string::npos ||
        why.find("read-only file system") != std::string::npos)
      throw Error(AR_ERR_PERMISSION_DENIED, op_s(op, p) + ": permission denied");
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

ShortExec DaytonaSandbox::run_short(const std::string& script, double timeout_s, bool idempotent,
                                    const std::function<bool()>& cancelled) {
  // Daemons before v0.156.0 split the command on spaces and exec it; the wrapper makes them run
  // the script in a shell too (reference 5.1). Newer ones pipe the command into a shell.
  json::object body{{"command", shell_stdin_ ? script
                                             : "sh -c \"echo '" + sdk::base64_encode(script) +
                                                   "' | base64 -d | sh\""}};
  if (timeout_s > 0) body["timeout"] = static_cast<int64_t>(std::ceil(timeout_s));
  DaytonaApi::ToolboxCall c;
  c.method = "POST";
  c.path = "/process/execute";
  c.body = json::serialize(body);
  c.content_type = "application/json";
  c.idempotent = idempotent;
  c.cancelled = cancelled;
  if (maintenance_) c.headers.push_back("X-Daytona-Skip-Last-Activity-Update: true");
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

}  // namespace agent_runner::daytona
