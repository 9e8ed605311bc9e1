// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <agent_runner/json_schema.hpp>
#include <agent_runner/plugin.hpp>
#include <agent_runner/text.hpp>

#include <cstdlib>
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
    "api_key": {"type": "string", "minLength": 1, "maxLength": 4096, "x-secret": true,
                "writeOnly": true,
                "description": "Daytona API key; DAYTONA_API_KEY in the environment takes precedence; never logged"},
    "api_url": {"type": "string", "maxLength": 2048, "pattern": "^https?://",
                "default": "https://app.daytona.io/api",
                "description": "control-plane base URL including /api (DAYTONA_API_URL)"},
    "trusted_hosts": {"type": "array", "maxItems": 64,
                      "items": {"type": "string", "minLength": 1, "maxLength": 255},
                      "default": [],
                      "description": "hosts besides the API's own (and its subdomains) that may receive the API key, e.g. a toolbox proxy on another domain; '*.example.com' trusts every subdomain"},
    "snapshot_id": {"type": "string", "minLength": 1, "maxLength": 1024,
                    "description": "snapshot to create sandboxes from (DAYTONA_DEV_TOOLS_SNAPSHOT_ID)"},
    "target": {"type": "string", "minLength": 1, "maxLength": 256,
               "description": "region (DAYTONA_TARGET)"},
    "sandbox_id": {"type": "string", "minLength": 1, "maxLength": 1024,
                   "description": "attach to this existing sandbox; it is never deleted"},
    "labels": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 1024},
               "default": {}, "description": "extra labels on sandboxes this plugin creates"},
    "auto_stop_interval": {"type": "integer", "minimum": 0, "maximum": 1000000,
                           "description": "minutes; 0 = never"},
    "auto_delete_interval": {"type": "integer", "minimum": -1, "maximum": 1000000,
                             "description": "minutes; -1 = never, 0 = as soon as it stops"},
    "create_timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 180},
    "request_timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 86400, "default": 60},
    "connect_timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600, "default": 10},
    "max_attempts": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
    "retry_budget_s": {"type": "number", "minimum": 0, "maximum": 86400, "default": 60},
    "ca_file": {"type": "string", "minLength": 1, "maxLength": 4096,
                "description": "PEM file with an extra CA to trust (TLS verification stays on)"},
    "env": {"type": "object", "additionalProperties": {"type": "string", "maxLength": 131072},
            "default": {}, "description": "environment added to every command"},
    "workdir": {"type": "string", "pattern": "^/", "maxLength": 4000,
                "description": "the sandbox's working directory: commands start there and relative paths mean paths below it; default: the toolbox's work dir (GET /work-dir)"},
    "workspace_dir": {"type": "string", "pattern": "^/", "maxLength": 4000, "deprecated": true,
                      "description": "old name of workdir"},
    "timeout_s": {"type": "number", "minimum": 0, "maximum": 604800, "default": 120},
    "max_output_bytes": {"type": "integer", "minimum": 1024, "maximum": 1073741824,
                         "default": 102400},
    "max_file_bytes": {"type": "integer", "minimum": 1, "maximum": 1073741824,
                       "default": 10485760}
  }
})schema";

namespace {

[[noreturn]] void bad(const std::string& key, const std::string& what) {
  throw Error(AR_ERR_INVALID_CONFIG, "sandbox." + key + ": " + what);
}

const sdk::ConfigSchema& schema() {
  static const sdk::ConfigSchema s(kConfigSchema);
  return s;
}

// The config checked against the schema, read with the schema's defaults.
class Settings {
 public:
  explicit Settings(const json::object& o) : o_(o) { schema().check(o_); }

  // The value given, else the schema's default, else null.
  const json::value& get(const char* key) const { return schema().value(o_, key); }
  std::optional<std::string> str(const char* key) const {
    const auto& v = get(key);
    return v.is_string() ? std::optional<std::string>(std::string(v.as_string())) : std::nullopt;
  }
  double num(const char* key) const { return get(key).to_number<double>(); }
  std::optional<int64_t> opt_int(const char* key) const {
    const auto& v = get(key);
    return v.is_null() ? std::nullopt : std::optional<int64_t>(v.to_number<int64_t>());
  }
  std::map<std::string, std::string> map(const char* key) const {
    std::map<std::string, std::string> out;
    for (const auto& kv : get(key).as_object())
      out[std::string(kv.key())] = std::string(kv.value().as_string());
    return out;
  }
  std::vector<std::string> list(const char* key) const {
    std::vector<std::string> out;
    for (const auto& v : get(key).as_array()) out.emplace_back(v.as_string());
    return out;
  }

 private:
  const json::object& o_;
};

}  // namespace

Config parse_config(const json::object& o) {
  // DAYTONA_API_KEY in the environment stands for api_key (and takes precedence over it).
  json::object given = o;
  if (const char* env = std::getenv("DAYTONA_API_KEY"); env && *env) given["api_key"] = env;
  if (auto* k = given.if_contains("api_key"); !k || k->is_null())
    bad("api_key",
        "missing: set DAYTONA_API_KEY in the environment, or api_key in the config file's "
        "sandbox: section");
  const Settings s(given);
  Config c;
  c.api_key = *s.str("api_key");
  c.api_url = *s.str("api_url");
  while (c.api_url.size() > 1 && c.api_url.back() == '/') c.api_url.pop_back();
  c.trusted_hosts = s.list("trusted_hosts");
  c.snapshot_id = s.str("snapshot_id");
  c.target = s.str("target");
  c.sandbox_id = s.str("sandbox_id");
  c.labels = s.map("labels");
  c.auto_stop_interval = s.opt_int("auto_stop_interval");
  c.auto_delete_interval = s.opt_int("auto_delete_interval");
  c.create_timeout_s = s.num("create_timeout_s");
  c.request_timeout_s = s.num("request_timeout_s");
  c.connect_timeout_s = s.num("connect_timeout_s");
  c.max_attempts = static_cast<int>(s.num("max_attempts"));
  c.retry_budget_s = s.num("retry_budget_s");
  c.ca_file = s.str("ca_file");
  if (c.ca_file) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*c.ca_file, ec))
      bad("ca_file", "'" + *c.ca_file + "' is not a readable file (give a PEM CA bundle)");
  }
  c.env = s.map("env");
  for (const auto& [k, v] : c.env)
    if (!sdk::is_env_name(k)) bad("env." + k, "is not a valid environment variable name");
  c.workdir = s.str("workdir");
  if (auto old = s.str("workspace_dir")) {
    if (c.workdir && *c.workdir != *old)
      bad("workspace_dir", "is the old name of workdir; give only workdir");
    c.workdir = old;
    c.workdir_from_old_name = true;
  }
  c.timeout_s = s.num("timeout_s");
  c.max_output_bytes = static_cast<uint64_t>(s.num("max_output_bytes"));
  c.max_file_bytes = static_cast<uint64_t>(s.num("max_file_bytes"));
  return c;
}

}  // namespace agent_runner::daytona
