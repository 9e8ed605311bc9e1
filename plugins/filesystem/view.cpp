// SPDX-License-Identifier: Apache-2.0
#include "view.hpp"

#include <agent_runner/plugin.hpp>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <initializer_list>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::parse_sandbox_path;
using sdk::SandboxPath;

namespace {

// Top-level names of the host's system directories the view shows read-only ("lib*" too).
constexpr std::string_view kSystemDirs[] = {"usr", "bin", "sbin", "etc", "opt"};
// Top-level names the view mounts itself.
constexpr std::string_view kViewDirs[] = {"tmp", "proc", "dev"};
// Device nodes of the minimal /dev.
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

bool is_system_name(std::string_view name) {
  return name.substr(0, 3) == "lib" ||
         std::find(std::begin(kSystemDirs), std::end(kSystemDirs), name) != std::end(kSystemDirs);
}

std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(std::move(n));
    }
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Secrets inside the host's /etc that the view covers with an empty file or directory.
std::vector<std::string> etc_secrets() {
  std::vector<std::string> out;
  for (const auto& n : dir_names("/etc"))
    if (starts_with(n, "shadow") || starts_with(n, "gshadow") || starts_with(n, "sudoers"))
      out.push_back("/etc/" + n);
  for (const auto& n : dir_names("/etc/ssh"))  // private host keys, not the .pub files
    if (starts_with(n, "ssh_host_") && ends_with(n, "_key")) out.push_back("/etc/ssh/" + n);
  // Old password hashes, private TLS keys, agent-runner's own config (it may hold API keys).
  for (const char* p : {"/etc/security/opasswd", "/etc/ssl/private", "/etc/agent-runner"})
    out.emplace_back(p);
  return out;
}

}  // namespace

const char* mount_kind_name(MountKind k) {
  switch (k) {
    case MountKind::root:
      return "root";
    case MountKind::system:
      return "system";
    case MountKind::symlink:
      return "symlink";
    case MountKind::mask:
      return "mask";
    case MountKind::workspace:
      return "workspace";
    case MountKind::tmp:
      return "tmp";
    case MountKind::proc:
      return "proc";
    case MountKind::dev:
      return "dev";
    case MountKind::device:
      return "device";
    case MountKind::devpts:
      return "devpts";
    case MountKind::shm:
      return "shm";
    case MountKind::mount:
      return "mount";
  }
  return "?";
}

bool MountEntry::file_ops() const {
  switch (kind) {
    case MountKind::proc:
    case MountKind::dev:
    case MountKind::device:
    case MountKind::devpts:
    case MountKind::shm:
      return false;
    default:
      return true;
  }
}

bool is_reserved_path(const SandboxPath& p) {
  if (p.is_root()) return true;
  const std::string& top = p.parts.front();
  return is_system_name(top) ||
         std::find(std::begin(kViewDirs), std::end(kViewDirs), top) != std::end(kViewDirs);
}

bool paths_overlap(const SandboxPath& a, const SandboxPath& b) {
  const size_t n = std::min(a.parts.size(), b.parts.size());
  return std::equal(a.parts.begin(), a.parts.begin() + static_cast<std::ptrdiff_t>(n),
                    b.parts.begin());
}

ViewTable ViewTable::container(const ViewInputs& in) {
  ViewTable t;
  t.container_ = true;
  t.workdir_ = in.workdir;
  t.tmp_path_ = "/tmp";
  auto add = [&](std::string path, std::string source, bool writable, MountKind kind,
                 bool is_dir = true) {
    t.entries_.push_back({std::move(path), std::move(source), writable, is_dir, kind});
  };
  add("/", "", false, MountKind::root);

  std::vector<std::string> system_sources;
  for (const auto& name : dir_names("/")) {
    if (!is_system_name(name)) continue;
    const std::string host = "/" + name;
    struct stat st {};
    if (::lstat(host.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      const ssize_t n = ::readlink(host.c_str(), target, sizeof target - 1);
      if (n > 0) add(host, std::string(target, static_cast<size_t>(n)), false, MountKind::symlink);
    } else if (S_ISDIR(st.st_mode)) {
      add(host, host, false, MountKind::system);
      system_sources.push_back(host);
    }
  }
  // Secrets, and host directories of agent-runner's own (other workspaces, the plugins) when a
  // system directory would show them.
  std::vector<std::string> masks = etc_secrets();
  masks.insert(masks.end(), in.hidden.begin(), in.hidden.end());
  for (const auto& m : masks) {
    const SandboxPath p = parse_sandbox_path(m);
    const bool shown =
        std::any_of(system_sources.begin(), system_sources.end(), [&](const std::string& s) {
          const SandboxPath sp = parse_sandbox_path(s);
          return p.parts.size() > sp.parts.size() && paths_overlap(p, sp);
        });
    struct stat st {};
    if (!shown || ::lstat(m.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode))
      add(p.display(), "", false, MountKind::mask, S_ISDIR(st.st_mode));
  }

  add(in.workdir, in.workspace, true, MountKind::workspace);
  add("/tmp", in.tmp, true, MountKind::tmp);
  add("/proc", "", false, MountKind::proc);
  add("/dev", "", false, MountKind::dev);
  for (const char* d : kDevices) {
    const std::string host = std::string("/dev/") + d;
    struct stat st {};
    if (::stat(host.c_str(), &st) == 0 && S_ISCHR(st.st_mode))
      add(host, host, true, MountKind::device, false);
  }
  add("/dev/pts", "", true, MountKind::devpts);
  add("/dev/shm", "", true, MountKind::shm);
  add("/dev/ptmx", "pts/ptmx", false, MountKind::symlink);
  add("/dev/fd", "/proc/self/fd", false, MountKind::symlink);
  add("/dev/stdin", "/proc/self/fd/0", false, MountKind::symlink);
  add("/dev/stdout", "/proc/self/fd/1", false, MountKind::symlink);
  add("/dev/stderr", "/proc/self/fd/2", false, MountKind::symlink);
  for (const auto& m : in.mounts) {
    struct stat st {};
    const bool is_dir = ::stat(m.host.c_str(), &st) != 0 || S_ISDIR(st.st_mode);
    add(m.path, m.host, m.writable, MountKind::mount, is_dir);
  }
  std::sort(t.entries_.begin(), t.entries_.end(),
            [](const MountEntry& a, const MountEntry& b) { return a.path < b.path; });
  return t;
}

ViewTable ViewTable::host(const std::string& workspace, const std::string& tmp) {
  ViewTable t;
  t.workdir_ = workspace;
  t.tmp_path_ = tmp;
  t.entries_.push_back({workspace, workspace, true, true, MountKind::workspace});
  t.entries_.push_back({tmp, tmp, true, true, MountKind::tmp});
  std::sort(t.entries_.begin(), t.entries_.end(),
            [](const MountEntry& a, const MountEntry& b) { return a.path < b.path; });
  return t;
}

const MountEntry* ViewTable::find(const SandboxPath& p) const {
  const MountEntry* best = nullptr;
  size_t best_len = 0;
  for (const auto& e : entries_) {
    const SandboxPath ep = parse_sandbox_path(e.path);
    if (ep.parts.size() > p.parts.size() || !paths_overlap(ep, p)) continue;
    if (!best || ep.parts.size() >= best_len) {
      best = &e;
      best_len = ep.parts.size();
    }
  }
  return best;
}

SandboxPath ViewTable::absolute(std::string_view input) const {
  if (!input.empty() && input.front() == '/') return parse_sandbox_path(input);
  return parse_sandbox_path(workdir_ + "/" + std::string(input));
}

json::array ViewTable::to_json() const {
  json::array out;
  for (const auto& e : entries_)
    out.push_back(json::object{{"path", e.path},
                               {"source", e.source},
                               {"mode", e.writable ? "rw" : "ro"},
                               {"kind", mount_kind_name(e.kind)}});
  return out;
}

}  // namespace agent_runner::fs_plugin
