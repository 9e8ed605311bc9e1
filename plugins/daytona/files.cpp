// SPDX-License-Identifier: Apache-2.0
// File operations through the toolbox's /files endpoints, with the filesystem plugin's result
// shapes and error codes (sdk/README.md), so an agent sees no difference between the modes.
#include "sandbox.hpp"

#include <algorithm>
#include <cstdio>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;

Result DaytonaSandbox::ls(sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = path(sdk::json_get::opt_string(req, "path").value_or("."));
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
      const RemoteInfo info = to_info(it.as_object());
      rows.emplace_back(child.display(),
                        sdk::file_entry(child.display(), info.is_dir, info.size, info.modified_at));
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
  auto resolve = [this](std::string_view raw) { return path(raw); };
  return sdk::upload_files(
      call, resolve, [&](const SandboxPath& p, std::string_view content, int mode) {
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
  auto resolve = [this](std::string_view raw) { return path(raw); };
  return sdk::download_files(call.request(), resolve, [&](const SandboxPath& p) {
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
      const auto v = files_get(p, "delete", "/files?path=" + q(p));
      if (v->is_array() && !v->as_array().empty())
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

}  // namespace agent_runner::daytona
