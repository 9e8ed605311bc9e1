// SPDX-License-Identifier: Apache-2.0
#include "fs_config.hpp"

#include <agent_runner/json_schema.hpp>
#include <agent_runner/plugin.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;

// clang-format off
const char* const kConfigSchema = R"schema({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "filesystem sandbox config",
  "type": "object",
  "required": ["root_dir"],
  "additionalProperties": false,
  "properties": {
    "type": {"const": "filesystem"},
    "root_dir": {"type": "string", "minLength": 1,
                 "description": "the directory that holds the workspaces, created if missing (set SANDBOX_ROOT_DIR or sandbox.root_dir)"},
    "layout": {"enum": ["per-session", "shared"], "default": "per-session",
               "description": "per-session: each sandbox gets root_dir/<session>; shared: root_dir is the workspace"},
    "isolation": {"description": "a level name, or {level, best_effort}",
                  "anyOf": [
                    {"enum": ["none", "workspace-write", "read-only"]},
                    {"type": "object", "additionalProperties": false,
                     "properties": {
                       "level": {"enum": ["none", "workspace-write", "read-only"],
                                 "default": "workspace-write"},
                       "best_effort": {"type": "boolean"}}}],
                  "default": "workspace-write"},
    "best_effort": {"type": "boolean", "default": false,
                    "description": "run with what the kernel can enforce instead of failing"},
    "network": {"type": "boolean", "default": true,
                "description": "false: the command gets its own network namespace (loopback only)"},
    "limits": {"type": "object", "additionalProperties": false,
               "properties": {
                 "memory_mb": {"type": "integer", "minimum": 1},
                 "cpu_s": {"type": "integer", "minimum": 1},
                 "open_files": {"type": "integer", "minimum": 16},
                 "file_size_mb": {"type": "integer", "minimum": 1},
                 "processes": {"type": "integer", "minimum": 1}}},
    "shell": {"type": "string", "minLength": 1, "pattern": "^/", "default": "/bin/sh",
              "description": "an absolute path such as /bin/sh"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}},
    "inherit_env": {"type": "boolean", "default": false},
    "timeout_s": {"type": "number", "minimum": 0, "default": 120,
                  "description": "seconds; 0 = no timeout"},
    "max_output_bytes": {"type": "integer", "minimum": 1024, "default": 102400},
    "max_file_bytes": {"type": "integer", "minimum": 1, "default": 10485760},
    "max_search_entries": {"type": "integer", "minimum": 1, "default": 1000000},
    "workdir": {"type": "string", "default": "/workspace",
                "description": "the workspace's path for commands and file operations, where commands start"},
    "mounts": {"type": "array", "description": "extra host directories or files bound into the sandbox",
               "items": {"type": "object", "required": ["host", "path"], "additionalProperties": false,
                         "properties": {
                           "host": {"type": "string", "minLength": 1, "pattern": "^/",
                                    "description": "the absolute host directory or file to bind"},
                           "path": {"type": "string", "minLength": 1,
                                    "description": "where the sandbox sees it"},
                           "mode": {"enum": ["ro", "rw"], "default": "ro"}}}}
  }
})schema";
// clang-format on

const char* isolation_name(Isolation i) {
  switch (i) {
    case Isolation::none:
      return "none";
    case Isolation::workspace_write:
      return "workspace-write";
    case Isolation::read_only:
      return "read-only";
  }
  return "?";
}

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(AR_ERR_INVALID_CONFIG, "sandbox." + key + ": " + what);
}

const sdk::ConfigSchema& schema() {
  static const sdk::ConfigSchema s(kConfigSchema);
  return s;
}

// A value the schema already checked is an integer >= its minimum; one too large for uint64_t
// is refused here.
uint64_t to_uint(const json::value& v, const std::string& key) {
  boost::system::error_code ec;
  const auto n = v.to_number<uint64_t>(ec);
  if (ec) bad(key, "must be an integer below 2^64 (got " + json::serialize(v) + ")");
  return n;
}

std::optional<uint64_t> opt_uint(const json::object& o, std::string_view key,
                                 const std::string& path) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  return to_uint(*v, path);
}

Isolation isolation_from(std::string_view s) {
  if (s == "none") return Isolation::none;
  if (s == "read-only") return Isolation::read_only;
  return Isolation::workspace_write;  // the schema allows only these three
}

sdk::SandboxPath sandbox_path(const std::string& s, const std::string& key) {
  if (s.empty() || s[0] != '/') bad(key, "must be an absolute path (got '" + s + "')");
  try {
    return sdk::parse_sandbox_path(s);
  } catch (const Error& e) {
    bad(key, e.what());
  }
}

constexpr const char* kReservedHint =
    "the view mounts /usr, /bin, /sbin, /lib*, /etc, /opt, /tmp, /proc and /dev itself; choose a "
    "path outside them, such as /workspace or /data";

// workdir and mounts (their shape checked by the schema): not overlapping what the view mounts
// itself or each other, and each mount's host path existing.
void parse_view(const json::object& c, FsConfig& cfg) {
  const sdk::SandboxPath workdir =
      sandbox_path(std::string(schema().value(c, "workdir").as_string()), "workdir");
  if (is_reserved_path(workdir))
    bad("workdir", "'" + workdir.display() + "' is not allowed: " + kReservedHint);
  cfg.workdir = workdir.display();

  const auto& m = schema().value(c, "mounts");
  if (m.is_null()) return;
  std::vector<sdk::SandboxPath> taken{workdir};
  const auto& arr = m.as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string key = "mounts[" + std::to_string(i) + "]";
    const auto& o = arr[i].as_object();
    MountSpec spec;
    spec.host = std::string(o.at("host").as_string());
    struct stat st {};
    if (::stat(spec.host.c_str(), &st) != 0)
      bad(key + ".host", "'" + spec.host + "' cannot be used: " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
      bad(key + ".host", "'" + spec.host + "' is neither a directory nor a regular file");
    const sdk::SandboxPath path =
        sandbox_path(std::string(o.at("path").as_string()), key + ".path");
    if (is_reserved_path(path))
      bad(key + ".path", "'" + path.display() + "' is not allowed: " + kReservedHint);
    for (const auto& t : taken)
      if (paths_overlap(path, t))
        bad(key + ".path", "'" + path.display() + "' overlaps '" + t.display() +
                               "' (the workdir or another mount); mounts may not nest");
    taken.push_back(path);
    spec.path = path.display();
    const auto* mode = o.if_contains("mode");
    spec.writable = mode && mode->is_string() && mode->as_string() == "rw";
    cfg.mounts.push_back(std::move(spec));
  }
}

}  // namespace

// The schema is the list of keys, their types and defaults; what it cannot say (paths that exist
// and do not overlap, variable names) is checked here.
FsConfig parse_config(const json::object& c) {
  const auto& s = schema();
  s.check(c);
  auto value = [&](std::string_view key) -> const json::value& { return s.value(c, key); };
  FsConfig cfg;
  cfg.root_dir = std::string(value("root_dir").as_string());
  cfg.layout = value("layout") == "shared" ? Layout::shared : Layout::per_session;
  cfg.best_effort = value("best_effort").as_bool();
  if (const auto& iso = value("isolation"); iso.is_string()) {
    cfg.isolation = isolation_from(iso.as_string());
  } else {
    const auto& o = iso.as_object();
    const auto* level = o.if_contains("level");
    cfg.isolation = level ? isolation_from(level->as_string()) : Isolation::workspace_write;
    if (const auto* b = o.if_contains("best_effort")) cfg.best_effort = b->as_bool();
  }
  cfg.network = value("network").as_bool();
  if (const auto& l = value("limits"); l.is_object()) {
    const auto& o = l.as_object();
    cfg.limits.memory_mb = opt_uint(o, "memory_mb", "limits.memory_mb");
    cfg.limits.cpu_s = opt_uint(o, "cpu_s", "limits.cpu_s");
    cfg.limits.open_files = opt_uint(o, "open_files", "limits.open_files");
    cfg.limits.file_size_mb = opt_uint(o, "file_size_mb", "limits.file_size_mb");
    cfg.limits.processes = opt_uint(o, "processes", "limits.processes");
  }
  cfg.shell = std::string(value("shell").as_string());
  if (const auto& e = value("env"); e.is_object()) {
    for (const auto& kv : e.as_object()) {
      const std::string k(kv.key());
      if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
        bad("env." + k, "is not a valid variable name");
      cfg.env.emplace_back(k, std::string(kv.value().as_string()));
    }
  }
  cfg.inherit_env = value("inherit_env").as_bool();
  cfg.timeout_s = value("timeout_s").to_number<double>();
  cfg.max_output_bytes = to_uint(value("max_output_bytes"), "max_output_bytes");
  cfg.max_file_bytes = to_uint(value("max_file_bytes"), "max_file_bytes");
  cfg.max_search_entries = to_uint(value("max_search_entries"), "max_search_entries");
  parse_view(c, cfg);
  return cfg;
}

}  // namespace agent_runner::fs_plugin
