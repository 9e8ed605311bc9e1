// Configuration from every source, highest first: command-line flags, environment, the YAML file
// (--config FILE or AGENT_RUNNER_CONFIG), defaults. Every problem is collected and reported at
// once, each with the field, where its value came from and what would be valid.
#include "config.hpp"

#include "yaml_json.hpp"

#include <charconv>
#include <filesystem>

extern char** environ;

namespace agent_runner {
namespace json = boost::json;

EnvMap current_environment() {
  EnvMap env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view kv(*e);
    auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

std::string_view mode_name(Mode m) {
  return m == Mode::local ? "local" : "cloud";
}

std::string ConfigProblem::to_string() const {
  return field + " (" + source + "): " + message;
}

const std::vector<FieldInfo>& config_fields() {
  static const std::vector<FieldInfo> fields = {
      {"mode", "MODE", false, "execution infrastructure: local or cloud (default cloud)"},
      {"env", "ENV", false, "deployment label only (development, staging, production)"},
      {"temporal_namespace", "TEMPORAL_NAMESPACE", false, "Temporal namespace (default default)"},
      {"temporal_service_address", "TEMPORAL_SERVICE_ADDRESS", false,
       "Temporal frontend host:port (default localhost:7233)"},
      {"task_queue", "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE", false,
       "Temporal task queue (default agent_execution_runner)"},
      {"max_concurrency", "TEMPORAL_MAX_CONCURRENCY", false,
       "integer >= 1: concurrent executions, and `run --parallel` default (default 10)"},
      {"lease_s", "AGENT_RUNNER_LEASE_S", false,
       "worker: seconds a job may go without its worker's refresh before another takes it over "
       "(default 60)"},
      {"max_attempts", "AGENT_RUNNER_MAX_ATTEMPTS", false,
       "worker: deliveries of one job before it goes to the dead-letter stream (default 3)"},
      {"events_maxlen", "AGENT_RUNNER_EVENTS_MAXLEN", false,
       "worker: approximate cap on a job's events stream, in events (default 100000)"},
      {"job_expiry_s", "AGENT_RUNNER_JOB_EXPIRY_S", false,
       "worker: seconds a finished job's events and result stay in Redis (default 86400)"},
      {"drain_timeout_s", "AGENT_RUNNER_DRAIN_TIMEOUT_S", false,
       "worker: seconds running jobs may take to finish after SIGTERM (default 600)"},
      {"job_max_bytes", "AGENT_RUNNER_JOB_MAX_BYTES", false,
       "submit/worker: largest job entry, inlined files included (default 16777216)"},
      {"stigmer_backend_endpoint", "STIGMER_BACKEND_ENDPOINT", false,
       "backend host:port (default local localhost:50051, cloud localhost:8080)"},
      {"stigmer_api_key", "STIGMER_API_KEY", true,
       "backend API key; cloud: required; local default dummy-local-key"},
      {"sandbox_type", "SANDBOX_TYPE", false,
       "type of any installed plugin (default local filesystem, cloud daytona)"},
      {"sandbox_root_dir", "SANDBOX_ROOT_DIR", false,
       "local: workspace root, made absolute (default ./workspace); cloud: unused"},
      {"redis_host", "REDIS_HOST", false,
       "Redis host of the worker's task queue (cloud default localhost; local: unset unless set)"},
      {"redis_port", "REDIS_PORT", false, "Redis port 1-65535 (default 6379)"},
      {"redis_password", "REDIS_PASSWORD", true, "Redis password (optional)"},
      {"daytona_api_key", "DAYTONA_API_KEY", true,
       "Daytona API key; required when sandbox_type is daytona"},
      {"daytona_api_url", "DAYTONA_API_URL", false,
       "Daytona API base URL (default https://app.daytona.io/api)"},
      {"daytona_snapshot_id", "DAYTONA_DEV_TOOLS_SNAPSHOT_ID", false,
       "Daytona snapshot to create sandboxes from (optional)"},
      {"daytona_target", "DAYTONA_TARGET", false, "Daytona target region (optional)"},
  };
  return fields;
}

Source Config::sandbox_key_source(const std::string& key) const {
  if (auto it = sandbox_sources.find(key); it != sandbox_sources.end()) return it->second;
  static const std::map<std::string, std::string> field_of = {
      {"type", "sandbox_type"},
      {"root_dir", "sandbox_root_dir"},
      {"snapshot_id", "daytona_snapshot_id"},
      {"api_key", "daytona_api_key"},
      {"api_url", "daytona_api_url"},
      {"target", "daytona_target"}};
  if (auto f = field_of.find(key); f != field_of.end())
    if (auto s = sources.find(f->second); s != sources.end()) return s->second;
  return "generated sandbox config";
}

std::vector<std::string> Config::secret_values() const {
  std::vector<std::string> out;
  for (const auto* s : {&stigmer_api_key, &redis_password, &daytona_api_key})
    if (*s && !s->value().empty()) out.push_back(**s);
  return out;
}

json::object Config::sandbox_config() const {
  json::object o;
  o["type"] = sandbox_type;
  if (is_local_mode()) {
    if (sandbox_root_dir) o["root_dir"] = *sandbox_root_dir;
  } else {
    if (daytona_snapshot_id) o["snapshot_id"] = *daytona_snapshot_id;
    if (sandbox_type == "daytona") {
      if (daytona_api_key) o["api_key"] = *daytona_api_key;
      o["api_url"] = daytona_api_url;
      if (daytona_target) o["target"] = *daytona_target;
    }
  }
  for (const auto& kv : sandbox_section) o[kv.key()] = kv.value();
  return o;
}

namespace {

// One value with its origin.
struct Raw {
  std::string value;
  Source source;
};

class Loader {
 public:
  Loader(const CliOverrides& cli, const EnvMap& env) : cli_(cli), env_(env) {}

  ConfigLoad load() {
    read_file();
    Config c;
    c.config_file = file_path_;

    // Mode first: several defaults follow it.
    if (auto m = lookup("mode", "MODE", cli_.mode, "--mode")) {
      c.sources["mode"] = m->source;
      if (m->value == "local") {
        c.mode = Mode::local;
      } else if (m->value == "cloud") {
        c.mode = Mode::cloud;
      } else {
        problem("mode", m->source, "'" + m->value + "' is not a mode; allowed: local, cloud");
      }
    } else {
      c.mode = Mode::cloud;
      c.sources["mode"] = "default (MODE unset means cloud)";
    }
    const bool local = c.is_local_mode();

    c.env = optional_string(c, "env", "ENV");
    c.temporal_namespace = string_or(c, "temporal_namespace", "TEMPORAL_NAMESPACE", "default");
    c.temporal_service_address =
        string_or(c, "temporal_service_address", "TEMPORAL_SERVICE_ADDRESS", "localhost:7233");
    c.task_queue = string_or(c, "task_queue", "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
                             "agent_execution_runner");
    c.max_concurrency = integer_or(c, "max_concurrency", "TEMPORAL_MAX_CONCURRENCY", 10, 1, 100000,
                                   "an integer >= 1");
    c.lease_s =
        integer_or(c, "lease_s", "AGENT_RUNNER_LEASE_S", 60, 1, 86400, "seconds from 1 to 86400");
    c.max_attempts = integer_or(c, "max_attempts", "AGENT_RUNNER_MAX_ATTEMPTS", 3, 1, 1000,
                                "an integer from 1 to 1000");
    c.events_maxlen = integer_or(c, "events_maxlen", "AGENT_RUNNER_EVENTS_MAXLEN", 100000, 100,
                                 100000000, "an integer from 100 to 100000000");
    c.job_expiry_s = integer_or(c, "job_expiry_s", "AGENT_RUNNER_JOB_EXPIRY_S", 86400, 1,
                                365 * 86400, "seconds from 1 to 31536000");
    c.drain_timeout_s = integer_or(c, "drain_timeout_s", "AGENT_RUNNER_DRAIN_TIMEOUT_S", 600, 0,
                                   86400, "seconds from 0 to 86400");
    c.job_max_bytes = integer_or(c, "job_max_bytes", "AGENT_RUNNER_JOB_MAX_BYTES", 16 << 20, 4096,
                                 512 << 20, "bytes from 4096 to 536870912");
    c.stigmer_backend_endpoint =
        string_or(c, "stigmer_backend_endpoint", "STIGMER_BACKEND_ENDPOINT",
                  local ? "localhost:50051" : "localhost:8080");
    c.stigmer_api_key = optional_string(c, "stigmer_api_key", "STIGMER_API_KEY");
    if (!c.stigmer_api_key) {
      if (local) {
        c.stigmer_api_key = "dummy-local-key";
        c.sources["stigmer_api_key"] = "default (local mode)";
      } else {
        problem("stigmer_api_key", "not set",
                "required in cloud mode: set STIGMER_API_KEY (or stigmer_api_key in the config "
                "file), or use MODE=local");
      }
    }
    c.sandbox_type = string_or(c, "sandbox_type", "SANDBOX_TYPE", local ? "filesystem" : "daytona",
                               cli_.sandbox_type, "--sandbox-type");
    if (c.sandbox_type.empty() ||
        c.sandbox_type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-.") !=
            std::string::npos)
      problem("sandbox_type", c.sources["sandbox_type"],
              "'" + c.sandbox_type +
                  "' is not a sandbox type; use the type of an installed plugin (lowercase "
                  "letters, digits, '_', '-', '.'; see `agent-runner plugins`)");

    // Fields a mode does not use are read (so typos still surface) but stay null.
    auto root = optional_string(c, "sandbox_root_dir", "SANDBOX_ROOT_DIR", cli_.sandbox_root_dir,
                                "--sandbox-root-dir");
    if (local) {
      if (!root) c.sources["sandbox_root_dir"] = "default";
      std::string dir = root.value_or("./workspace");
      std::error_code ec;
      auto abs = std::filesystem::absolute(dir, ec);
      c.sandbox_root_dir = (ec ? std::filesystem::path(dir) : abs).lexically_normal().string();
      if (c.sandbox_root_dir->size() > 1 && c.sandbox_root_dir->back() == '/')
        c.sandbox_root_dir->pop_back();
    } else {
      c.sandbox_root_dir.reset();
      c.sources["sandbox_root_dir"] = "unused in cloud mode";
    }
    // Redis holds the worker's task queue. Cloud mode defaults to localhost; local mode uses
    // Redis only when REDIS_HOST is set (`worker` says so when it is not).
    c.redis_host = optional_string(c, "redis_host", "REDIS_HOST");
    if (!c.redis_host && !local) {
      c.redis_host = "localhost";
      c.sources["redis_host"] = "default";
    }
    c.redis_port = optional_port(c, "redis_port", "REDIS_PORT");
    if (!c.redis_port && c.redis_host) {
      c.redis_port = 6379;
      if (c.sources["redis_port"] == "unset") c.sources["redis_port"] = "default";
    }
    c.redis_password = optional_string(c, "redis_password", "REDIS_PASSWORD");

    c.daytona_api_key = optional_string(c, "daytona_api_key", "DAYTONA_API_KEY");
    c.daytona_api_url =
        string_or(c, "daytona_api_url", "DAYTONA_API_URL", "https://app.daytona.io/api");
    c.daytona_snapshot_id =
        optional_string(c, "daytona_snapshot_id", "DAYTONA_DEV_TOOLS_SNAPSHOT_ID");
    c.daytona_target = optional_string(c, "daytona_target", "DAYTONA_TARGET");
    if (!local && c.sandbox_type == "daytona" && !c.daytona_api_key)
      problem("daytona_api_key", "not set",
              "required in cloud mode with sandbox_type daytona: set DAYTONA_API_KEY (or "
              "daytona_api_key in the config file)");

    c.sandbox_section = sandbox_section_;
    c.sandbox_sources = sandbox_sources_;
    c.plugin_dirs = plugin_dirs_;
    c.flag_plugin_dirs = cli_.plugin_dirs;

    ConfigLoad out;
    out.problems = std::move(problems_);
    if (out.problems.empty()) out.config = std::move(c);
    return out;
  }

 private:
  void problem(std::string field, std::string source, std::string message) {
    problems_.push_back({std::move(field), std::move(source), std::move(message)});
  }

  std::string file_source(const std::string& key) const {
    auto pos = doc_.position_of("/" + key);
    return "file " + file_path_.value_or("") + (pos.line ? ":" + std::to_string(pos.line) : "");
  }

  void read_file() {
    Source origin;
    if (cli_.config_file) {
      file_path_ = *cli_.config_file;
      origin = "flag --config";
    } else if (auto it = env_.find("AGENT_RUNNER_CONFIG");
               it != env_.end() && !it->second.empty()) {
      file_path_ = it->second;
      origin = "env AGENT_RUNNER_CONFIG";
    } else {
      return;
    }
    try {
      doc_ = parse_yaml_file(*file_path_);
    } catch (const YamlError& e) {
      std::string where = *file_path_;
      if (e.position.line)
        where += ":" + std::to_string(e.position.line) + ":" + std::to_string(e.position.column);
      problem("config", origin + " " + where,
              e.position.line ? std::string("YAML syntax error: ") + e.what() +
                                    "; fix the file (YAML 1.2: `key: value` lines)"
                              : std::string(e.what()) + "; check the path given by " + origin);
      doc_ = {};
      return;
    }
    if (doc_.value.is_null()) return;  // an empty file is an empty config
    if (!doc_.value.is_object()) {
      problem("config", "file " + *file_path_,
              "the file must be a YAML mapping of settings (`mode: local`, ...), not a " +
                  std::string(doc_.value.is_array() ? "list" : "single value"));
      return;
    }
    for (const auto& kv : doc_.value.get_object()) {
      std::string key(kv.key());
      bool known = key == "sandbox" || key == "plugin_dirs";
      for (const auto& f : config_fields()) known = known || key == f.name;
      if (!known) {
        problem(key, file_source(key),
                "unknown key '" + key +
                    "'; known keys: the field names of `agent-runner config --help`, "
                    "`sandbox:` (plugin settings) and `plugin_dirs:`");
        continue;
      }
      if (key == "sandbox") {
        if (kv.value().is_null()) continue;
        if (!kv.value().is_object()) {
          problem("sandbox", file_source(key),
                  "must be a mapping of plugin settings (e.g. `sandbox: {timeout_s: 60}`)");
          continue;
        }
        sandbox_section_ = kv.value().get_object();
        for (const auto& s : sandbox_section_)
          sandbox_sources_[s.key()] = file_source("sandbox/" + std::string(s.key()));
      } else if (key == "plugin_dirs") {
        bool ok = kv.value().is_array();
        if (ok)
          for (const auto& d : kv.value().get_array()) ok = ok && d.is_string();
        if (!ok) {
          problem("plugin_dirs", file_source(key), "must be a list of directory paths");
          continue;
        }
        for (const auto& d : kv.value().get_array()) {
          std::filesystem::path p(std::string(d.get_string()));
          // Relative directories are relative to the config file, not to the current directory.
          if (p.is_relative()) p = std::filesystem::path(*file_path_).parent_path() / p;
          plugin_dirs_.push_back(p.lexically_normal().string());
        }
      } else if (kv.value().is_object() || kv.value().is_array()) {
        problem(key, file_source(key),
                "must be a single value, not a " +
                    std::string(kv.value().is_array() ? "list" : "mapping"));
      }
    }
  }

  // The value of `field` from the highest source that has it.
  std::optional<Raw> lookup(const std::string& field, const char* env_var,
                            const std::optional<std::string>& flag = std::nullopt,
                            const char* flag_name = nullptr) {
    if (flag) return Raw{*flag, std::string("flag ") + flag_name};
    if (env_var && *env_var) {
      if (auto it = env_.find(env_var); it != env_.end() && !it->second.empty())
        return Raw{it->second, std::string("env ") + env_var};
    }
    if (doc_.value.is_object()) {
      if (const auto* v = doc_.value.get_object().if_contains(field)) {
        if (v->is_string()) return Raw{std::string(v->get_string()), file_source(field)};
        if (v->is_int64()) return Raw{std::to_string(v->get_int64()), file_source(field)};
        if (v->is_uint64()) return Raw{std::to_string(v->get_uint64()), file_source(field)};
        if (v->is_double() || v->is_bool()) return Raw{json::serialize(*v), file_source(field)};
        // null: as if unset; lists and maps were reported by read_file.
      }
    }
    return std::nullopt;
  }

  std::optional<std::string> optional_string(Config& c, const std::string& field,
                                             const char* env_var,
                                             const std::optional<std::string>& flag = std::nullopt,
                                             const char* flag_name = nullptr) {
    auto r = lookup(field, env_var, flag, flag_name);
    c.sources[field] = r ? r->source : "unset";
    if (!r) return std::nullopt;
    return r->value;
  }

  std::string string_or(Config& c, const std::string& field, const char* env_var,
                        const std::string& fallback,
                        const std::optional<std::string>& flag = std::nullopt,
                        const char* flag_name = nullptr) {
    auto r = lookup(field, env_var, flag, flag_name);
    c.sources[field] = r ? r->source : "default";
    return r ? r->value : fallback;
  }

  static std::optional<long long> parse_int(const std::string& s) {
    long long v = 0;
    const char* b = s.data();
    const char* e = b + s.size();
    if (b != e && *b == '+') ++b;
    auto r = std::from_chars(b, e, v);
    if (r.ec != std::errc() || r.ptr != e || b == e) return std::nullopt;
    return v;
  }

  int integer_or(Config& c, const std::string& field, const char* env_var, int fallback,
                 long long min, long long max, const std::string& valid) {
    auto r = lookup(field, env_var);
    c.sources[field] = r ? r->source : "default";
    if (!r) return fallback;
    auto v = parse_int(r->value);
    if (!v || *v < min || *v > max) {
      problem(field, r->source,
              "'" + r->value + "' is not valid; must be " + valid + " (default " +
                  std::to_string(fallback) + ")");
      return fallback;
    }
    return static_cast<int>(*v);
  }

  std::optional<int> optional_port(Config& c, const std::string& field, const char* env_var) {
    auto r = lookup(field, env_var);
    c.sources[field] = r ? r->source : "unset";
    if (!r) return std::nullopt;
    auto v = parse_int(r->value);
    if (!v || *v < 1 || *v > 65535) {
      problem(field, r->source,
              "'" + r->value + "' is not a port; must be an integer from 1 to 65535");
      return std::nullopt;
    }
    return static_cast<int>(*v);
  }

  const CliOverrides& cli_;
  const EnvMap& env_;
  std::optional<std::string> file_path_;
  YamlDocument doc_;
  json::object sandbox_section_;
  std::map<std::string, Source> sandbox_sources_;
  std::vector<std::string> plugin_dirs_;
  std::vector<ConfigProblem> problems_;
};

}  // namespace

ConfigLoad load_config(const CliOverrides& cli, const EnvMap& env) {
  return Loader(cli, env).load();
}

}  // namespace agent_runner
