// SPDX-License-Identifier: Apache-2.0
#include "config.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/text.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <regex>

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

const json::object& schema() {
  static const json::object s = json::parse(kConfigSchema).as_object();
  return s;
}

const json::object& properties() {
  return schema().at("properties").as_object();
}

std::string number_text(double d) {
  json::value v = d == std::floor(d) && std::abs(d) < 1e15 ? json::value(static_cast<int64_t>(d))
                                                           : json::value(d);
  return json::serialize(v);
}

std::string type_of(const json::value& v) {
  if (v.is_string()) return "string";
  if (v.is_bool()) return "boolean";
  if (v.is_object()) return "object";
  if (v.is_array()) return "array";
  if (v.is_int64() || v.is_uint64()) return "integer";
  if (v.is_double()) return v.as_double() == std::floor(v.as_double()) ? "integer" : "number";
  return "null";
}

// Checks `v` against the keywords of one property schema (the ones this schema uses); `key`
// names it in the message.
void check(const std::string& key, const json::object& s, const json::value& v) {
  if (auto c = s.find("const"); c != s.end() && v != c->value())
    bad(key, "must be " + json::serialize(c->value()) + ", not " + json::serialize(v));
  if (auto t = s.find("type"); t != s.end()) {
    const std::string want(t->value().as_string()), got = type_of(v);
    if (!(got == want || (want == "number" && got == "integer")))
      bad(key, "must be " + std::string(want == "integer" || want == "object" ? "an " : "a ") +
                   want + ", not " + json::serialize(v));
  }
  auto num = [&](const char* k) -> std::optional<double> {
    auto it = s.find(k);
    if (it == s.end()) return std::nullopt;
    return it->value().to_number<double>();
  };
  if (v.is_string()) {
    const auto& str = v.as_string();
    if (auto n = num("minLength"); n && str.size() < *n)
      bad(key, *n == 1 ? "must not be empty" : "is shorter than " + number_text(*n) + " bytes");
    if (auto n = num("maxLength"); n && str.size() > *n)
      bad(key, "is longer than " + number_text(*n) + " bytes");
    // Patterns run on values already bounded by maxLength.
    if (auto p = s.find("pattern"); p != s.end()) {
      const std::regex re(std::string(p->value().as_string()));
      if (!std::regex_search(str.begin(), str.end(), re))
        bad(key, "'" + std::string(str) + "' must match " + std::string(p->value().as_string()));
    }
  } else if (v.is_number()) {
    const double d = v.to_number<double>();
    if (auto n = num("minimum"); n && d < *n) bad(key, "must be >= " + number_text(*n));
    if (auto n = num("exclusiveMinimum"); n && d <= *n) bad(key, "must be > " + number_text(*n));
    if (auto n = num("maximum"); n && d > *n) bad(key, "must be <= " + number_text(*n));
  } else if (v.is_object()) {
    if (auto a = s.find("additionalProperties"); a != s.end() && a->value().is_object())
      for (const auto& kv : v.as_object())
        check(key + "." + std::string(kv.key()), a->value().as_object(), kv.value());
  } else if (v.is_array()) {
    if (auto n = num("maxItems"); n && v.as_array().size() > *n)
      bad(key, "has more than " + number_text(*n) + " entries");
    if (auto it = s.find("items"); it != s.end())
      for (size_t i = 0; i < v.as_array().size(); ++i)
        check(key + "[" + std::to_string(i) + "]", it->value().as_object(), v.as_array()[i]);
  }
}

// The config checked against the schema, read with the schema's defaults.
class Settings {
 public:
  explicit Settings(const json::object& o) : o_(o) {
    std::string known;
    for (const auto& kv : properties())
      known += (known.empty() ? "" : ", ") + std::string(kv.key());
    for (const auto& kv : o) {
      auto p = properties().find(kv.key());
      if (p == properties().end())
        bad(std::string(kv.key()), "unknown key for the daytona plugin (known: " + known + ")");
      if (!kv.value().is_null()) check(std::string(kv.key()), p->value().as_object(), kv.value());
    }
  }

  // The value given, else the schema's default, else null.
  const json::value& get(const char* key) const {
    static const json::value null;
    if (auto it = o_.find(key); it != o_.end() && !it->value().is_null()) return it->value();
    const auto& p = properties().at(key).as_object();
    if (auto d = p.find("default"); d != p.end()) return d->value();
    return null;
  }
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
  const Settings s(o);
  Config c;
  if (const char* env = std::getenv("DAYTONA_API_KEY"); env && *env)
    c.api_key = env;
  else if (auto k = s.str("api_key"))
    c.api_key = *k;
  if (c.api_key.empty())
    bad("api_key",
        "missing: set DAYTONA_API_KEY in the environment, or api_key in the config file's "
        "sandbox: section");
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
