// Configuration from every source, highest first: command-line flags, environment, the YAML file
// (--config FILE or AGENT_RUNNER_CONFIG), defaults. Every problem is collected and reported at
// once, each with the field, where its value came from and what would be valid.
#include "config.hpp"

#include "duration.hpp"
#include "yaml_json.hpp"

#include <charconv>
#include <filesystem>
#include <limits>

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

std::optional<std::string> env_value(const EnvMap& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

std::string_view mode_name(Mode m) {
  return m == Mode::local ? "local" : "cloud";
}

std::string ConfigProblem::to_string() const {
  return field + " (" + source + "): " + message;
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
    for (const auto& s : settings()) load_setting(c, s);  // mode first: the rest follow it
    for (const auto& s : settings()) {
      if (!s.required_if || !s.required_if(c) || !setting_json(c, s).is_null()) continue;
      // The plugin's own key in the file's `sandbox:` section (e.g. sandbox.api_key) counts too:
      // that is where the plugin reads it from.
      if (s.sandbox_key) {
        const auto* v = sandbox_section_.if_contains(s.sandbox_key);
        if (v && !v->is_null() && !(v->is_string() && v->get_string().empty())) continue;
      }
      problem(s.name, "not set",
              std::string("required ") + s.required_when + ": set " + s.env_var + " (or " + s.name +
                  (s.sandbox_key ? std::string(", or sandbox.") + s.sandbox_key : std::string()) +
                  " in the config file)");
    }
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

  // Fills the setting's member from the highest source that has it, else its mode's default.
  void load_setting(Config& c, const Setting& s) {
    const bool local = c.is_local_mode();
    if (!(local ? s.in_local : s.in_cloud)) {
      assign(c, s, std::nullopt);
      c.sources[s.name] = std::string("unused in ") + (local ? "local" : "cloud") + " mode";
      return;
    }
    if (auto r = lookup(s)) {
      c.sources[s.name] = r->source;
      std::string value = r->value;
      if (std::string err = check(s, value); !err.empty()) {
        problem(s.name, r->source, err);
      } else {
        assign(c, s, value);
      }
      return;
    }
    const char* fallback = local ? s.local_default : s.cloud_default;
    const char* other = local ? s.cloud_default : s.local_default;
    if (!fallback) {
      assign(c, s, std::nullopt);
      c.sources[s.name] = "unset";
      return;
    }
    std::string value = fallback;
    (void)check(s, value);  // normalises (a default directory is made absolute)
    assign(c, s, value);
    const bool per_mode = !other || std::string_view(other) != fallback;
    c.sources[s.name] =
        per_mode ? std::string("default (") + (local ? "local" : "cloud") + " mode)" : "default";
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

  // Checks `value` as a value of `s` and normalises it; returns what is wrong, or "".
  static std::string check(const Setting& s, std::string& value) {
    switch (s.type) {
      case SettingType::text:
        return "";
      case SettingType::mode:
        if (value == "local" || value == "cloud") return "";
        return "'" + value + "' is not a mode; allowed: local, cloud";
      case SettingType::count: {
        auto v = parse_int(value);
        if (v && *v >= s.min && *v <= s.max) return "";
        return "'" + value + "' is not valid; must be an integer from " + std::to_string(s.min) +
               " to " + std::to_string(s.max) + " (default " +
               (s.cloud_default ? s.cloud_default : "none") + ")";
      }
      case SettingType::port: {
        auto v = parse_int(value);
        if (v && *v >= 1 && *v <= 65535) return "";
        return "'" + value + "' is not a port; must be an integer from 1 to 65535";
      }
      case SettingType::sandbox_type:
        if (!value.empty() &&
            value.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-.") == std::string::npos)
          return "";
        return "'" + value +
               "' is not a sandbox type; use the type of an installed plugin (lowercase letters, "
               "digits, '_', '-', '.'; see `agent-runner plugins`)";
      case SettingType::duration: {
        auto v = parse_duration(value, /*bare_seconds=*/true);
        if (v && *v <= std::numeric_limits<int>::max()) {
          value = std::to_string(*v);
          return "";
        }
        return "'" + value + "' is not " + kDurationHelp + ", nor a whole number of seconds";
      }
      case SettingType::directory: {
        std::error_code ec;
        auto abs = std::filesystem::absolute(value, ec);
        value = (ec ? std::filesystem::path(value) : abs).lexically_normal().string();
        if (value.size() > 1 && value.back() == '/') value.pop_back();
        return "";
      }
    }
    return "";
  }

  // Stores a checked value (or null) in the setting's member.
  static void assign(Config& c, const Setting& s, const std::optional<std::string>& value) {
    std::visit(
        [&](auto member) {
          auto& field = c.*member;
          using T = std::decay_t<decltype(field)>;
          if constexpr (std::is_same_v<T, Mode>) {
            field = value && *value == "local" ? Mode::local : Mode::cloud;
          } else if constexpr (std::is_same_v<T, std::string>) {
            field = value.value_or("");
          } else if constexpr (std::is_same_v<T, std::optional<std::string>>) {
            field = value;
          } else if constexpr (std::is_same_v<T, int>) {
            if (value) field = static_cast<int>(parse_int(*value).value_or(0));
          } else {
            field.reset();
            if (value) field = static_cast<int>(parse_int(*value).value_or(0));
          }
        },
        s.member);
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
    } else if (auto v = env_value(env_, "AGENT_RUNNER_CONFIG")) {
      file_path_ = *v;
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
      if (key != "sandbox" && key != "plugin_dirs" && !find_setting(key)) {
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

  // The setting's value from the highest source that has it: its flag, its variable (an empty
  // one counts as unset), the file.
  std::optional<Raw> lookup(const Setting& s) const {
    if (s.flag)
      if (auto f = cli_.settings.find(s.name); f != cli_.settings.end())
        return Raw{f->second, std::string("flag ") + s.flag};
    if (auto v = env_value(env_, s.env_var)) return Raw{*v, std::string("env ") + s.env_var};
    if (doc_.value.is_object()) {
      if (const auto* v = doc_.value.get_object().if_contains(s.name)) {
        const std::string field = s.name;
        if (v->is_string()) return Raw{std::string(v->get_string()), file_source(field)};
        if (v->is_int64()) return Raw{std::to_string(v->get_int64()), file_source(field)};
        if (v->is_uint64()) return Raw{std::to_string(v->get_uint64()), file_source(field)};
        if (v->is_double() || v->is_bool()) return Raw{json::serialize(*v), file_source(field)};
        // null: as if unset; lists and maps were reported by read_file.
      }
    }
    return std::nullopt;
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
