// Global options, the command table and dispatch. Every command and option is declared once
// (CLI11); help, usage errors and completion are generated from the declarations.
#include "cli.hpp"

#include "app.hpp"
#include "cli_help.hpp"

#include <agent_runner/plugin.h>

#include <charconv>
#include <cmath>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#ifndef AGENT_RUNNER_VERSION
#define AGENT_RUNNER_VERSION "0.0.0"
#endif

namespace agent_runner {
namespace cli {

namespace {

std::vector<std::string> split_choices(std::string_view choices) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= choices.size()) {
    size_t end = std::min(choices.find('|', start), choices.size());
    out.emplace_back(choices.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& words, const char* sep) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) out += (i ? sep : "") + words[i];
  return out;
}

}  // namespace

CLI::Option* choice(CLI::Option* opt, std::string_view choices) {
  auto words = split_choices(choices);
  opt->type_name(std::string(choices));
  opt->check(CLI::Validator(
      [words](std::string& value) -> std::string {
        for (const auto& w : words)
          if (value == w) return "";
        return "'" + value + "' is not allowed; use " + join(words, ", ");
      },
      "", "choice"));
  return opt;
}

CLI::Option* repeatable(CLI::Option* opt) {
  return opt->allow_extra_args(false)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

CLI::Validator whole_number(long long min, long long max) {
  return CLI::Validator(
      [min, max](std::string& value) -> std::string {
        long long v = 0;
        auto r = std::from_chars(value.data(), value.data() + value.size(), v);
        if (r.ec == std::errc() && r.ptr == value.data() + value.size() && !value.empty() &&
            v >= min && v <= max)
          return "";
        const std::string range =
            max == std::numeric_limits<long long>::max()
                ? ">= " + std::to_string(min)
                : "from " + std::to_string(min) + " to " + std::to_string(max);
        return "takes a whole number " + range + ", got '" + value + "'";
      },
      "", "whole number");
}

CLI::Validator seconds() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        try {
          size_t used = 0;
          double t = std::stod(value, &used);
          if (used == value.size() && t >= 0 && !std::isnan(t)) return "";
        } catch (const std::exception&) {
        }
        return "takes a number of seconds >= 0, got '" + value + "'";
      },
      "", "seconds");
}

std::vector<const CLI::App*> listed_commands(const CLI::App& root) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* sub : root.get_subcommands([](const CLI::App*) { return true; }))
    if (!sub->get_group().empty()) out.push_back(sub);
  return out;
}

std::string help(const CLI::App& app) {
  return app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal);
}

std::string summary(const CLI::App& cmd) {
  const std::string& d = cmd.get_description();
  return d.substr(0, d.find('\n'));
}

}  // namespace cli

namespace {

constexpr const char* kDescription =
    R"(Runs what an AI agent does (shell commands and file operations) inside a sandbox provided by a
plugin: `filesystem` (a confined workspace on this machine, MODE=local) or `daytona` (remote
Daytona sandboxes, MODE=cloud), or any plugin dropped into a plugins directory.)";

constexpr const char* kFooter =
    R"(Plugins are searched in: <binary>/../lib/agent-runner/plugins, /usr/local/lib/agent-runner/plugins,
the config file's plugin_dirs, AGENT_RUNNER_PLUGIN_PATH (colon-separated), then --plugin-dir.
An environment variable set to the empty string counts as unset (`MODE= agent-runner ...` is cloud
mode, the default). `agent-runner config --help` lists every setting.

Exit codes: 0 success; 1 workload or command failure; 2 usage or configuration error;
3 plugin could not be loaded; 124 command timed out (exec).)";

struct Globals {
  GlobalOptions options;
  std::string log_level, log_format;
  bool version = false;
};

void define_globals(CLI::App& root, Globals& g) {
  root.add_option_function<std::string>(
          "--config", [&g](const std::string& v) { g.options.cli.config_file = v; },
          "YAML configuration file (also AGENT_RUNNER_CONFIG)")
      ->type_name(cli::kFile);
  // The settings that have a flag: the same rows the loader and `config --help` read.
  for (const Setting& s : settings()) {
    if (!s.flag) continue;
    root.add_option_function<std::string>(
            s.flag, [&g, name = s.name](const std::string& v) { g.options.cli.settings[name] = v; },
            std::string(s.help) + " (also " + s.env_var + "; " + describe_default(s) + ")")
        ->type_name(s.value_name);
  }
  cli::repeatable(root.add_option("--plugin-dir", g.options.cli.plugin_dirs,
                                  "also search DIR for plugins (repeatable)"))
      ->type_name(cli::kDir);
  cli::choice(root.add_option("--log-level", g.log_level, "log level (default warn)"),
              "trace|debug|info|warn|error|off");
  cli::choice(root.add_option("--log-format", g.log_format,
                              "log line format (default text); logs always go to stderr"),
              "text|json");
  root.add_flag("--version", g.version, "print the version and the plugin ABI, then exit");
}

// The command whose options were being parsed, the innermost one (`sessions rm`); the root when
// none was reached.
const CLI::App* selected_command(const CLI::App& root) {
  const CLI::App* cmd = &root;
  for (auto subs = cmd->get_subcommands(); !subs.empty(); subs = cmd->get_subcommands())
    cmd = subs.front();
  return cmd;
}

// The root's command that was reached (`sessions` for `sessions rm`).
const CLI::App* top_command(const CLI::App& root) {
  auto subs = root.get_subcommands();
  return subs.empty() ? &root : subs.front();
}

std::string program(const CLI::App& cmd) {
  return cmd.get_parent() ? program(*cmd.get_parent()) + " " + cmd.get_name() : "agent-runner";
}

int usage_error(const CLI::App& root, const CLI::ParseError& e) {
  const CLI::App* cmd = selected_command(root);
  std::string what = e.what();
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) &&
      what.find(" missing") != std::string::npos) {
    // "--mode: 1 required local|cloud missing"
    what = what.substr(0, what.find(':')) + " needs a value";
  } else if (dynamic_cast<const CLI::ExtrasError*>(&e)) {
    auto extras = root.remaining(true);
    if (!extras.empty() && extras.front().rfind('-', 0) != 0 &&
        (cmd == &root || !cli::listed_commands(*cmd).empty())) {
      std::vector<std::string> names;
      for (const auto* c : cli::listed_commands(*cmd)) names.push_back(c->get_name());
      std::cerr << program(*cmd) << ": unknown command '" << extras.front()
                << "'; commands: " << cli::join(names, ", ") << " (see " << program(*cmd)
                << " --help)\n";
      return kExitUsage;
    }
    if (!extras.empty())
      what = (extras.front().rfind('-', 0) == 0 ? "unknown option " : "unexpected argument ") +
             extras.front();
  }
  std::cerr << program(*cmd) << ": " << what << " (see " << program(*cmd) << " --help)\n";
  return kExitUsage;
}

}  // namespace

int cli_main(int argc, char** argv) {
  CLI::App root(kDescription, "agent-runner");
  root.footer(kFooter);
  root.formatter(help_formatter());
  root.fallthrough();  // global options after the command reach the root
  root.require_subcommand(0, 1);
  // A repeated option keeps its last value (`--mode local ... --mode cloud` is cloud).
  root.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  root.set_help_flag("-h,--help", "this text; `agent-runner COMMAND --help` for a command");

  Globals g;
  define_globals(root, g);

  std::map<const CLI::App*, cli::Run> runs;
#define AGENT_RUNNER_ADD_COMMAND(name)                                 \
  {                                                                    \
    CLI::App* cmd = root.add_subcommand(#name);                        \
    cmd->set_help_flag("-h,--help", "this command's options and use"); \
    runs[cmd] = cli::define_##name(*cmd);                              \
  }
  AGENT_RUNNER_COMMANDS(AGENT_RUNNER_ADD_COMMAND)
#undef AGENT_RUNNER_ADD_COMMAND
  CLI::App* run_job = root.add_subcommand("__run-job");
  run_job->group("");  // internal: not listed, not completed
  runs[run_job] = cli::define_run_job(*run_job);
  CLI::App* expire = root.add_subcommand("__expire-sessions");
  expire->group("");
  runs[expire] = cli::define_expire_sessions(*expire);

  // `agent-runner help [COMMAND...]`: the same as --help (`help sessions rm`); not listed.
  std::vector<std::string> help_topic;
  CLI::App* help = root.add_subcommand("help", "the help of agent-runner or of one command");
  help->group("");
  help->add_option("COMMAND", help_topic, "a command");

  try {
    root.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << cli::help(*selected_command(root));
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return usage_error(root, e);
  }

  if (g.version) {
    std::cout << "agent-runner " << AGENT_RUNNER_VERSION << " (plugin ABI " << AR_ABI_VERSION_MAJOR
              << "." << AR_ABI_VERSION_MINOR << ", SDK " << AR_SDK_VERSION << ")\n";
    return kExitOk;
  }
  const CLI::App* cmd = top_command(root);
  if (cmd == help) {
    const CLI::App* topic = &root;
    for (const auto& word : help_topic) {
      try {
        topic = topic->get_subcommand(word);
      } catch (const CLI::OptionNotFound&) {
        std::cerr << "agent-runner help: unknown command '" << word << "' (see " << program(*topic)
                  << " --help)\n";
        return kExitUsage;
      }
    }
    std::cout << cli::help(*topic);
    return kExitOk;
  }
  if (cmd == &root) {
    std::cerr << cli::help(root);
    return kExitUsage;
  }

  if (!g.log_level.empty()) g.options.log_level = *parse_log_level(g.log_level);
  if (!g.log_format.empty()) g.options.log_format = *parse_log_format(g.log_format);
  setup_logging(g.options.log_level, g.options.log_format);
  App app(std::move(g.options));
  return runs.at(cmd)(app);
}

}  // namespace agent_runner
