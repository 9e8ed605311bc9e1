// SPDX-License-Identifier: Apache-2.0
#include "fs_config.hpp"

#include <agent_runner/plugin.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;

const char* const kConfigSchema = R"schema({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "filesystem sandbox config",
  "type": "object",
  "required": ["root_dir"],
  "additionalProperties": false,
  "properties": {
    "type": {"const": "filesystem"},
    "root_dir": {"type": "string", "minLength": 1,
      "description": "directory holding the workspaces (created if missing)"
}
, "layout" : {
  "enum" : [ "per-session", "shared" ],
  "default" : "per-session",
  "description" :
      "per-session: each sandbox gets root_dir/<session>; shared: root_dir is the workspace"
},
             "isolation" : {
               "description" : "a level name, or {level, best_effort}",
               "anyOf" : [
                 {"enum" : [ "none", "workspace-write", "read-only" ]}, {
                   "type" : "object",
                   "additionalProperties" : false,
                   "properties" : {
                     "level" : {"enum" : [ "none", "workspace-write", "read-only" ]},
                     "best_effort" : {"type" : "boolean"}
                   }
                 }
               ],
               "default" : "workspace-write"
             },
                           "best_effort"
    : {
      "type" : "boolean",
      "default" : false,
      "description" : "run with what the kernel can enforce instead of failing"
    },
      "network" : {
        "type" : "boolean",
        "default" : true,
        "description" : "false: the command gets its own network namespace (loopback only)"
      },
                  "limits" : {
                    "type" : "object",
                    "additionalProperties" : false,
                    "properties" : {
                      "memory_mb" : {"type" : "integer", "minimum" : 1},
                      "cpu_s" : {"type" : "integer", "minimum" : 1},
                      "open_files" : {"type" : "integer", "minimum" : 16},
                      "file_size_mb" : {"type" : "integer", "minimum" : 1},
                      "processes" : {"type" : "integer", "minimum" : 1}
                    }
                  },
                             "shell" : {"type" : "string", "minLength" : 1, "default" : "/bin/sh"},
                                       "env"
    : {"type" : "object", "additionalProperties" : {"type" : "string"}},
      "inherit_env" : {"type" : "boolean", "default" : false},
                      "timeout_s" : {"type" : "number", "minimum" : 0, "default" : 120},
                                    "max_output_bytes"
    : {"type" : "integer", "minimum" : 1024, "default" : 102400},
      "max_file_bytes" : {
  "type" : "integer", "minimum" : 1, "default" : 10485760
},
      "max_search_entries" : {
  "type" : "integer", "minimum" : 1, "default" : 1000000
},
      "workdir" : {
        "type" : "string",
        "default" : "/workspace",
        "description" : "the workspace's path for commands and file operations, where commands start"
      },
      "mounts" : {
        "type" : "array",
        "description" : "extra host directories or files bound into the sandbox",
        "items" : {
          "type" : "object",
          "required" : [ "host", "path" ],
          "additionalProperties" : false,
          "properties" : {
            "host" : {"type" : "string", "minLength" : 1},
            "path" : {"type" : "string", "minLength" : 1},
            "mode" : {"enum" : [ "ro", "rw" ], "default" : "ro"}
          }
        }
      }
}
})schema";

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

const json::value* member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

bool get_bool(const json::object& o, std::string_view key, const std::string& path, bool dflt) {
  const auto* v = member(o, key);
  if (!v || v->is_null()) return dflt;
  if (!v->is_bool()) bad(path, "must be true or false");
  return v->as_bool();
}

std::string get_string(const json::object& o, std::string_view key, const std::string& path,
                       const std::string& dflt) {
  const auto* v = member(o, key);
  if (!v || v->is_null()) return dflt;
  if (!v->is_string() || v->as_string().empty()) bad(path, "must be a non-empty string");
  return std::string(v->as_string());
}

std::optional<uint64_t> get_uint(const json::object& o, std::string_view key,
                                 const std::string& path, uint64_t min) {
  const auto* v = member(o, key);
  if (!v || v->is_null()) return std::nullopt;
  int64_t n = -1;
  if (v->is_int64())
    n = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
    n = static_cast<int64_t>(v->as_uint64());
  else if (v->is_double() && std::floor(v->as_double()) == v->as_double() && v->as_double() >= 0 &&
           v->as_double() < 9e18)
    n = static_cast<int64_t>(v->as_double());
  else
    bad(path, "must be an integer >= " + std::to_string(min));
  if (n < static_cast<int64_t>(min)) bad(path, "must be an integer >= " + std::to_string(min));
  return static_cast<uint64_t>(n);
}

Isolation isolation_from(const std::string& s, const std::string& path) {
  if (s == "none") return Isolation::none;
  if (s == "workspace-write") return Isolation::workspace_write;
  if (s == "read-only") return Isolation::read_only;
  bad(path, "must be one of none, workspace-write, read-only (got '" + s + "')");
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

// workdir and mounts: absolute, not overlapping what the view mounts itself or each other, and
// each mount's host path existing.
void parse_view(const json::object& c, FsConfig& cfg) {
  const sdk::SandboxPath workdir =
      sandbox_path(get_string(c, "workdir", "workdir", cfg.workdir), "workdir");
  if (is_reserved_path(workdir))
    bad("workdir", "'" + workdir.display() + "' is not allowed: " + kReservedHint);
  cfg.workdir = workdir.display();

  const auto* m = member(c, "mounts");
  if (!m || m->is_null()) return;
  if (!m->is_array()) bad("mounts", "must be a list of {host, path, mode: ro|rw}");
  std::vector<sdk::SandboxPath> taken{workdir};
  const auto& arr = m->as_array();
  for (size_t i = 0; i < arr.size(); ++i) {
    const std::string key = "mounts[" + std::to_string(i) + "]";
    if (!arr[i].is_object()) bad(key, "must be an object {host, path, mode: ro|rw}");
    const auto& o = arr[i].as_object();
    for (const auto& kv : o)
      if (kv.key() != "host" && kv.key() != "path" && kv.key() != "mode")
        bad(key + "." + std::string(kv.key()), "unknown key (known: host, path, mode)");
    MountSpec spec;
    if (!member(o, "host")) bad(key + ".host", "is required: the host directory or file to bind");
    if (!member(o, "path")) bad(key + ".path", "is required: where the sandbox sees it");
    spec.host = get_string(o, "host", key + ".host", "");
    if (spec.host[0] != '/') bad(key + ".host", "must be an absolute host path");
    struct stat st {};
    if (::stat(spec.host.c_str(), &st) != 0)
      bad(key + ".host", "'" + spec.host + "' cannot be used: " + std::strerror(errno));
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
      bad(key + ".host", "'" + spec.host + "' is neither a directory nor a regular file");
    const sdk::SandboxPath path =
        sandbox_path(get_string(o, "path", key + ".path", ""), key + ".path");
    if (is_reserved_path(path))
      bad(key + ".path", "'" + path.display() + "' is not allowed: " + kReservedHint);
    for (const auto& t : taken)
      if (paths_overlap(path, t))
        bad(key + ".path", "'" + path.display() + "' overlaps '" + t.display() +
                               "' (the workdir or another mount); mounts may not nest");
    taken.push_back(path);
    spec.path = path.display();
    const std::string mode = get_string(o, "mode", key + ".mode", "ro");
    if (mode != "ro" && mode != "rw") bad(key + ".mode", "must be ro or rw (got '" + mode + "')");
    spec.writable = mode == "rw";
    cfg.mounts.push_back(std::move(spec));
  }
}

}  // namespace

FsConfig parse_config(const json::object& c) {
  static const char* const known[] = {"type",
                                      "root_dir",
                                      "layout",
                                      "isolation",
                                      "best_effort",
                                      "network",
                                      "limits",
                                      "shell",
                                      "env",
                                      "inherit_env",
                                      "timeout_s",
                                      "max_output_bytes",
                                      "max_file_bytes",
                                      "max_search_entries",
                                      "workdir",
                                      "mounts"};
  for (const auto& kv : c) {
    bool ok = false;
    for (const char* k : known) ok = ok || kv.key() == k;
    if (!ok)
      bad(std::string(kv.key()),
          "unknown key for the filesystem plugin (known: root_dir, layout, isolation, "
          "best_effort, network, limits, shell, env, inherit_env, timeout_s, max_output_bytes, "
          "max_file_bytes, max_search_entries, workdir, mounts)");
  }
  FsConfig cfg;
  if (const auto* t = member(c, "type"); t && !t->is_null()) {
    if (!t->is_string() || t->as_string() != "filesystem")
      bad("type", "must be \"filesystem\" for this plugin");
  }
  const auto* root = member(c, "root_dir");
  if (!root || root->is_null())
    bad("root_dir",
        "is required: the directory that holds the workspaces (set SANDBOX_ROOT_DIR or "
        "sandbox.root_dir)");
  cfg.root_dir = get_string(c, "root_dir", "root_dir", "");

  const std::string layout = get_string(c, "layout", "layout", "per-session");
  if (layout == "per-session")
    cfg.layout = Layout::per_session;
  else if (layout == "shared")
    cfg.layout = Layout::shared;
  else
    bad("layout", "must be per-session or shared (got '" + layout + "')");

  cfg.best_effort = get_bool(c, "best_effort", "best_effort", false);
  if (const auto* iso = member(c, "isolation"); iso && !iso->is_null()) {
    if (iso->is_string()) {
      cfg.isolation = isolation_from(std::string(iso->as_string()), "isolation");
    } else if (iso->is_object()) {
      const auto& o = iso->as_object();
      for (const auto& kv : o)
        if (kv.key() != "level" && kv.key() != "best_effort")
          bad("isolation." + std::string(kv.key()), "unknown key (known: level, best_effort)");
      cfg.isolation = isolation_from(get_string(o, "level", "isolation.level", "workspace-write"),
                                     "isolation.level");
      cfg.best_effort = get_bool(o, "best_effort", "isolation.best_effort", cfg.best_effort);
    } else {
      bad("isolation", "must be a level name or {\"level\": ..., \"best_effort\": bool}");
    }
  }
  cfg.network = get_bool(c, "network", "network", true);

  if (const auto* l = member(c, "limits"); l && !l->is_null()) {
    if (!l->is_object()) bad("limits", "must be an object");
    const auto& o = l->as_object();
    for (const auto& kv : o) {
      const auto k = kv.key();
      if (k != "memory_mb" && k != "cpu_s" && k != "open_files" && k != "file_size_mb" &&
          k != "processes")
        bad("limits." + std::string(k),
            "unknown limit (known: memory_mb, cpu_s, open_files, file_size_mb, processes)");
    }
    cfg.limits.memory_mb = get_uint(o, "memory_mb", "limits.memory_mb", 1);
    cfg.limits.cpu_s = get_uint(o, "cpu_s", "limits.cpu_s", 1);
    cfg.limits.open_files = get_uint(o, "open_files", "limits.open_files", 16);
    cfg.limits.file_size_mb = get_uint(o, "file_size_mb", "limits.file_size_mb", 1);
    cfg.limits.processes = get_uint(o, "processes", "limits.processes", 1);
  }
  cfg.shell = get_string(c, "shell", "shell", "/bin/sh");
  if (cfg.shell[0] != '/') bad("shell", "must be an absolute path such as /bin/sh");

  if (const auto* e = member(c, "env"); e && !e->is_null()) {
    if (!e->is_object()) bad("env", "must be an object of NAME: value strings");
    for (const auto& kv : e->as_object()) {
      const std::string k(kv.key());
      if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos)
        bad("env." + k, "is not a valid variable name");
      if (!kv.value().is_string()) bad("env." + k, "must be a string");
      cfg.env.emplace_back(k, std::string(kv.value().as_string()));
    }
  }
  cfg.inherit_env = get_bool(c, "inherit_env", "inherit_env", false);
  if (const auto* t = member(c, "timeout_s"); t && !t->is_null()) {
    if (!t->is_number() || t->to_number<double>() < 0 || !std::isfinite(t->to_number<double>()))
      bad("timeout_s", "must be a number of seconds >= 0 (0 = no timeout)");
    cfg.timeout_s = t->to_number<double>();
  }
  cfg.max_output_bytes =
      get_uint(c, "max_output_bytes", "max_output_bytes", 1024).value_or(cfg.max_output_bytes);
  cfg.max_file_bytes =
      get_uint(c, "max_file_bytes", "max_file_bytes", 1).value_or(cfg.max_file_bytes);
  cfg.max_search_entries =
      get_uint(c, "max_search_entries", "max_search_entries", 1).value_or(cfg.max_search_entries);
  parse_view(c, cfg);
  return cfg;
}

}  // namespace agent_runner::fs_plugin
