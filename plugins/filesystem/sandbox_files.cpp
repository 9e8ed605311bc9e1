// SPDX-License-Identifier: Apache-2.0
#include "sandbox_files.hpp"

#include <agent_runner/plugin.hpp>

#include <algorithm>

namespace agent_runner::fs_plugin {
using sdk::Error;

SandboxFiles::SandboxFiles(const ViewTable& table, int view_root, int workspace_fd, int tmp_fd,
                           bool force_walk)
    : table_(table), view_root_(view_root) {
  if (view_root >= 0) {
    resolvers_.push_back(std::make_unique<Resolver>(view_root, force_walk, true));
    return;
  }
  for (const auto& e : table.entries()) {
    const int fd = e.kind == MountKind::workspace ? workspace_fd
                   : e.kind == MountKind::tmp     ? tmp_fd
                                                  : -1;
    if (fd >= 0)
      resolvers_.push_back(
          std::make_unique<Resolver>(fd, force_walk, false, parse_sandbox_path(e.path)));
  }
}

SandboxPath SandboxFiles::path(std::string_view input) const {
  return table_.absolute(input);
}

SandboxPath SandboxFiles::path_arg(const boost::json::object& req, std::string_view key,
                                   std::string_view fallback) const {
  if (fallback.empty()) return path(sdk::json_get::string(req, key));
  return path(sdk::json_get::opt_string(req, key).value_or(std::string(fallback)));
}

const Resolver& SandboxFiles::resolver(const SandboxPath& p, std::string_view action) const {
  // Anything at or below an entry for commands only (/dev/fd is a symlink in /dev).
  for (const auto& e : table_.entries()) {
    if (e.file_ops()) continue;
    const SandboxPath ep = parse_sandbox_path(e.path);
    if (ep.parts.size() <= p.parts.size() && paths_overlap(ep, p))
      throw Error(AR_ERR_PERMISSION_DENIED,
                  std::string(action) + " " + p.display() + ": " + e.path +
                      " is for commands only (file operations do not read or write it)");
  }
  if (view_root_ >= 0) return *resolvers_.front();
  // The host view: the resolver whose root holds the path (the deeper one wins, should the tmp
  // directory lie inside the workspace's parent).
  const Resolver* best = nullptr;
  for (const auto& r : resolvers_)
    if (r->holds(p) && (!best || r->prefix().parts.size() > best->prefix().parts.size()))
      best = r.get();
  if (!best)
    throw Error(AR_ERR_PERMISSION_DENIED,
                std::string(action) + " " + p.display() +
                    ": outside the sandbox's files (this machine gives the host view: file "
                    "operations reach the workspace " +
                    table_.workdir() + " and its tmp " + table_.tmp_path() + ")");
  return *best;
}

Fd SandboxFiles::open_parent(const SandboxPath& p, std::string_view action) const {
  if (p.is_root()) return resolver(p, action).open_parent(p, action);  // invalid_path
  // The parent decides the resolver: in the host view the workspace itself has none.
  resolver(p.parent(), action);
  return resolver(p, action).open_parent(p, action);
}

bool SandboxFiles::is_mount_point(const SandboxPath& p) const {
  const MountEntry* e = table_.find(p);
  return e && e->path == p.display();
}

std::vector<std::string> SandboxFiles::walk_skip(const SandboxPath& base) const {
  std::vector<std::string> out;
  for (const auto& e : table_.entries()) {
    if (e.file_ops()) continue;
    const SandboxPath ep = parse_sandbox_path(e.path);
    if (ep.parts.size() <= base.parts.size() || !paths_overlap(ep, base)) continue;
    std::string rel;
    for (size_t i = base.parts.size(); i < ep.parts.size(); ++i)
      (rel += rel.empty() ? "" : "/") += ep.parts[i];
    out.push_back(std::move(rel));
  }
  return out;
}

}  // namespace agent_runner::fs_plugin
