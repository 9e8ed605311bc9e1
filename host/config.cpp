// Minimal configuration loader (environment, flags, defaults). The YAML file, full validation and
// --explain are completed in the configuration work (issue 3).
#include "config.hpp"

#include <filesystem>

extern char** environ;

namespace agent_runner {

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

boost::json::object Config::sandbox_config() const {
  boost::json::object o;
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

ConfigLoad load_config(const CliOverrides& cli, const EnvMap& env) {
  ConfigLoad out;
  Config c;
  auto get = [&](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  std::string mode = cli.mode.value_or(get("MODE").value_or("cloud"));
  if (mode == "local") {
    c.mode = Mode::local;
  } else if (mode == "cloud") {
    c.mode = Mode::cloud;
  } else {
    out.problems.push_back({"mode", cli.mode ? "flag --mode" : "env MODE",
                            "'" + mode + "' is not a mode; allowed: local, cloud"});
  }
  c.env = get("ENV");
  const bool local = c.is_local_mode();
  c.stigmer_backend_endpoint =
      get("STIGMER_BACKEND_ENDPOINT").value_or(local ? "localhost:50051" : "localhost:8080");
  c.stigmer_api_key = get("STIGMER_API_KEY");
  if (local && !c.stigmer_api_key) c.stigmer_api_key = "dummy-local-key";
  c.sandbox_type =
      cli.sandbox_type.value_or(get("SANDBOX_TYPE").value_or(local ? "filesystem" : "daytona"));
  if (local) {
    std::string root =
        cli.sandbox_root_dir.value_or(get("SANDBOX_ROOT_DIR").value_or("./workspace"));
    c.sandbox_root_dir = std::filesystem::absolute(root).lexically_normal().string();
  } else {
    c.redis_host = get("REDIS_HOST").value_or("localhost");
    c.redis_port = 6379;
    c.redis_password = get("REDIS_PASSWORD");
  }
  c.daytona_api_key = get("DAYTONA_API_KEY");
  if (auto u = get("DAYTONA_API_URL")) c.daytona_api_url = *u;
  c.daytona_snapshot_id = get("DAYTONA_DEV_TOOLS_SNAPSHOT_ID");
  c.daytona_target = get("DAYTONA_TARGET");
  c.flag_plugin_dirs = cli.plugin_dirs;
  if (out.problems.empty()) out.config = std::move(c);
  return out;
}

}  // namespace agent_runner
