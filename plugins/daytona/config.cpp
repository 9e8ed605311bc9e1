#include "config.hpp"

#include <agent_runner/plugin.hpp>

#include <array>
#include <filesystem>

namespace agent_runner::daytona {

using sdk::Error;
namespace json = boost::json;

const char* const kConfigSchema = R"schema({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "daytona sandbox config",
  "type": "object",
  "required": ["api_key"],
  "additionalProperties": false,
  "properties": {
    "type": {"const": "daytona"},
    "api_key": {"type": "string", "minLength": 1, "x-secret": true, "writeOnly": true,
                "description": "Daytona API key (DAYTONA_API_KEY); never logged"},
    "api_url": {"type": "string", "pattern": "^https?://", "default": "https://app.daytona.io/api",
                "description": "control-plane base URL including /api (DAYTONA_API_URL)"},
    "snapshot_id": {"type": "string", "minLength": 1,
                    "description": "snapshot to create sandboxes from (DAYTONA_DEV_TOOLS_SNAPSHOT_ID)"},
    "target": {"type": "string", "minLength": 1, "description": "region (DAYTONA_TARGET)"},
    "sandbox_id": {"type": "string", "minLength": 1,
                   "description": "attach to this existing sandbox; it is never deleted"},
    "labels": {"type": "object", "additionalProperties": {"type": "string"},
               "description": "extra labels on sandboxes this plugin creates"},
    "auto_stop_interval": {"type": "integer", "minimum": 0, "description": "minutes; 0 = never"},
    "auto_delete_interval": {"type": "integer", "minimum": -1,
                             "description": "minutes; -1 = never, 0 = as soon as it stops"},
    "create_timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 180},
    "request_timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 60},
    "connect_timeout_s": {"type": "number", "exclusiveMinimum": 0, "default": 10},
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
    "retry_budget_s": {"type": "number", "minimum": 0, "default": 60},
    "ca_file": {"type": "string", "minLength": 1,
                "description": "PEM file with an extra CA to trust (TLS verification stays on)"},
    "env": {"type": "object", "additionalProperties": {"type": "string"},
            "description": "environment added to every command"},
    "workspace_dir": {"type": "string", "pattern": "^/",
                      "description": "directory in the sandbox that is '/' for the agent; default: the daemon's work dir"},
    "timeout_s": {"type": "number", "minimum": 0, "default": 120},
    "max_output_bytes": {"type": "integer", "minimum": 1024, "default": 102400},
    "max_file_bytes": {"type": "integer", "minimum": 1, "default": 10485760}
  }
})schema";

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(AR_ERR_INVALID_CONFIG, "sandbox." + key + ": " + what);
}

const json::value* get(const json::object& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

std::optional<std::string> str(const json::object& o, const char* key, bool nonempty = true) {
  const auto* v = get(o, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) bad(key, "must be a string");
  std::string s(v->as_string());
  if (nonempty && s.empty()) bad(key, "must not be empty");
  return s;
}

std::optional<double> num(const json::object& o, const char* key, double min, bool exclusive) {
  const auto* v = get(o, key);
  if (!v) return std::nullopt;
  double d;
  if (v->is_int64())
    d = static_cast<double>(v->as_int64());
  else if (v->is_uint64())
    d = static_cast<double>(v->as_uint64());
  else if (v->is_double())
    d = v->as_double();
  else
    bad(key, "must be a number");
  if (exclusive ? d <= min : d < min)
    bad(key, std::string("must be a number ") + (exclusive ? "> " : ">= ") +
                 std::to_string(static_cast<int64_t>(min)));
  return d;
}

std::optional<int64_t> integer(const json::object& o, const char* key, int64_t min, int64_t max) {
  const auto* v = get(o, key);
  if (!v) return std::nullopt;
  int64_t i;
  if (v->is_int64())
    i = v->as_int64();
  else if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
    i = static_cast<int64_t>(v->as_uint64());
  else
    bad(key, "must be an integer");
  if (i < min || i > max)
    bad(key, "must be an integer between " + std::to_string(min) + " and " + std::to_string(max));
  return i;
}

std::map<std::string, std::string> string_map(const json::object& o, const char* key) {
  std::map<std::string, std::string> out;
  const auto* v = get(o, key);
  if (!v) return out;
  if (!v->is_object()) bad(key, "must be an object of strings");
  for (const auto& kv : v->as_object()) {
    if (!kv.value().is_string())
      bad(std::string(key) + "." + std::string(kv.key()), "must be a string");
    out[std::string(kv.key())] = std::string(kv.value().as_string());
  }
  return out;
}

}  // namespace

Config parse_config(const json::object& o) {
  static constexpr std::array<const char*, 23> known = {"type",
                                                        "api_key",
                                                        "api_url",
                                                        "snapshot_id",
                                                        "target",
                                                        "sandbox_id",
                                                        "labels",
                                                        "auto_stop_interval",
                                                        "auto_delete_interval",
                                                        "create_timeout_s",
                                                        "request_timeout_s",
                                                        "connect_timeout_s",
                                                        "max_attempts",
                                                        "retry_budget_s",
                                                        "ca_file",
                                                        "env",
                                                        "workspace_dir",
                                                        "timeout_s",
                                                        "max_output_bytes",
                                                        "max_file_bytes",
                                                        "",
                                                        "",
                                                        ""};
  for (const auto& kv : o) {
    bool ok = false;
    for (const char* k : known)
      if (*k && kv.key() == k) ok = true;
    if (!ok)
      bad(std::string(kv.key()),
          "unknown key for the daytona plugin (known: api_key, api_url, snapshot_id, target, "
          "sandbox_id, labels, auto_stop_interval, auto_delete_interval, create_timeout_s, "
          "request_timeout_s, connect_timeout_s, max_attempts, retry_budget_s, ca_file, env, "
          "workspace_dir, timeout_s, max_output_bytes, max_file_bytes)");
  }
  Config c;
  if (auto t = str(o, "type"); t && *t != "daytona")
    bad("type", "is '" + *t + "' but this plugin serves sandbox type 'daytona'");
  auto key = str(o, "api_key", false);
  if (!key || key->empty())
    bad("api_key",
        "missing: set DAYTONA_API_KEY in the environment, or api_key in the config file's "
        "sandbox: section");
  c.api_key = *key;
  if (auto u = str(o, "api_url")) {
    if (!u->starts_with("https://") && !u->starts_with("http://"))
      bad("api_url", "'" + *u + "' must start with https:// (or http:// for a local server)");
    c.api_url = *u;
  }
  while (c.api_url.size() > 1 && c.api_url.back() == '/') c.api_url.pop_back();
  c.snapshot_id = str(o, "snapshot_id");
  c.target = str(o, "target");
  c.sandbox_id = str(o, "sandbox_id");
  c.labels = string_map(o, "labels");
  c.auto_stop_interval = integer(o, "auto_stop_interval", 0, 1'000'000);
  c.auto_delete_interval = integer(o, "auto_delete_interval", -1, 1'000'000);
  c.create_timeout_s = num(o, "create_timeout_s", 0, true).value_or(c.create_timeout_s);
  c.request_timeout_s = num(o, "request_timeout_s", 0, true).value_or(c.request_timeout_s);
  c.connect_timeout_s = num(o, "connect_timeout_s", 0, true).value_or(c.connect_timeout_s);
  c.max_attempts = static_cast<int>(integer(o, "max_attempts", 1, 20).value_or(c.max_attempts));
  c.retry_budget_s = num(o, "retry_budget_s", 0, false).value_or(c.retry_budget_s);
  c.ca_file = str(o, "ca_file");
  if (c.ca_file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*c.ca_file, ec))
      bad("ca_file", "'" + *c.ca_file + "' is not a readable file (give a PEM CA bundle)");
  }
  c.env = string_map(o, "env");
  for (const auto& [k, v] : c.env)
    if (!sdk::is_env_name(k)) bad("env." + k, "is not a valid environment variable name");
  c.workspace_dir = str(o, "workspace_dir");
  if (c.workspace_dir && c.workspace_dir->front() != '/')
    bad("workspace_dir", "must be an absolute path inside the sandbox");
  c.timeout_s = num(o, "timeout_s", 0, false).value_or(c.timeout_s);
  c.max_output_bytes =
      static_cast<uint64_t>(integer(o, "max_output_bytes", 1024, INT64_MAX)
                                .value_or(static_cast<int64_t>(c.max_output_bytes)));
  c.max_file_bytes = static_cast<uint64_t>(
      integer(o, "max_file_bytes", 1, INT64_MAX).value_or(static_cast<int64_t>(c.max_file_bytes)));
  return c;
}

}  // namespace agent_runner::daytona
