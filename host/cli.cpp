// Global option parsing and command dispatch.
#include "app.hpp"

#include <agent_runner/plugin.h>

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#ifndef AGENT_RUNNER_VERSION
#define AGENT_RUNNER_VERSION "0.0.0"
#endif

namespace agent_runner {
namespace {

constexpr const char* kUsage = R"(Usage: agent-runner [GLOBAL OPTIONS] COMMAND [ARGS]

Runs what an AI agent does (shell commands and file operations) inside a sandbox provided by a
plugin: `filesystem` (a confined workspace on this machine, MODE=local) or `daytona` (remote
Daytona sandboxes, MODE=cloud), or any plugin dropped into a plugins directory.

Commands:
  plugins [--json]                    every plugin file found, loaded or rejected with the reason
  config  [--json] [--explain]        effective configuration (secrets as "***") and the
                                      generated sandbox config
  exec [--session ID] [--timeout S] [--json] -- CMD...
                                      run one command in the sandbox; exit code = the command's
  run WORKLOAD... [--session ID] [--events FILE|-] [--parallel N]
                                      run workload files; 0 succeeded, 1 failed
  serve --mcp [--session ID]          Model Context Protocol server on stdio
  doctor                              what this machine supports (isolation, plugins, config)
  worker [--concurrency N] [--queue NAME] [--consumer NAME] [--drain-timeout S]
         [--metrics-listen ADDR:PORT]  run jobs from the Redis task queue (REDIS_HOST)
  submit WORKLOAD... [--follow] [--events FILE|-] [--json]
                                      put workloads on the task queue; print the job ids
  status JOB [--json] | cancel JOB | queue [--json]
                                      a job's result, stop a job, the queue's state

Global options:
  --config FILE          YAML configuration file (also AGENT_RUNNER_CONFIG)
  --mode local|cloud     execution infrastructure (also MODE; default cloud)
  --sandbox-type TYPE    sandbox plugin type (also SANDBOX_TYPE)
  --sandbox-root-dir DIR local workspace root (also SANDBOX_ROOT_DIR; default ./workspace)
  --plugin-dir DIR       also search DIR for plugins (repeatable)
  --log-level L          trace, debug, info, warn (default), error, off
  --log-format F         text (default) or json; logs always go to stderr
  --version              print the version and the plugin ABI, then exit
  -h, --help             this text; `agent-runner COMMAND --help` for a command

Plugins are searched in: <binary>/../lib/agent-runner/plugins, /usr/local/lib/agent-runner/plugins,
the config file's plugin_dirs, AGENT_RUNNER_PLUGIN_PATH (colon-separated), then --plugin-dir.

Exit codes: 0 success; 1 workload or command failure; 2 usage or configuration error;
3 plugin could not be loaded; 124 command timed out (exec).
)";

bool take_value(const std::vector<std::string>& args, size_t& i, const std::string& flag,
                std::string& value) {
  const std::string& a = args[i];
  if (a == flag) {
    if (i + 1 >= args.size()) {
      std::cerr << "agent-runner: " << flag << " needs a value (see agent-runner --help)\n";
      throw std::invalid_argument(flag);
    }
    value = args[++i];
    return true;
  }
  if (a.rfind(flag + "=", 0) == 0) {
    value = a.substr(flag.size() + 1);
    return true;
  }
  return false;
}

}  // namespace

int cli_main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  GlobalOptions opts;
  size_t i = 0;
  std::string level_name, format_name;
  try {
    for (; i < args.size(); ++i) {
      const std::string& a = args[i];
      std::string v;
      if (a == "-h" || a == "--help") {
        std::cout << kUsage;
        return kExitOk;
      }
      if (a == "--version") {
        std::cout << "agent-runner " << AGENT_RUNNER_VERSION << " (plugin ABI "
                  << AR_ABI_VERSION_MAJOR << "." << AR_ABI_VERSION_MINOR << ", SDK "
                  << AR_SDK_VERSION << ")\n";
        return kExitOk;
      }
      if (take_value(args, i, "--config", v)) {
        opts.cli.config_file = v;
      } else if (take_value(args, i, "--mode", v)) {
        opts.cli.mode = v;
      } else if (take_value(args, i, "--sandbox-type", v)) {
        opts.cli.sandbox_type = v;
      } else if (take_value(args, i, "--sandbox-root-dir", v)) {
        opts.cli.sandbox_root_dir = v;
      } else if (take_value(args, i, "--plugin-dir", v)) {
        opts.cli.plugin_dirs.push_back(v);
      } else if (take_value(args, i, "--log-level", v)) {
        level_name = v;
      } else if (take_value(args, i, "--log-format", v)) {
        format_name = v;
      } else if (!a.empty() && a[0] == '-') {
        std::cerr << "agent-runner: unknown option " << a << " (see agent-runner --help)\n";
        return kExitUsage;
      } else {
        break;
      }
    }
  } catch (const std::invalid_argument&) {
    return kExitUsage;
  }
  if (!level_name.empty()) {
    auto l = parse_log_level(level_name);
    if (!l) {
      std::cerr << "agent-runner: --log-level " << level_name
                << " is not a level; use trace, debug, info, warn, error or off\n";
      return kExitUsage;
    }
    opts.log_level = *l;
  }
  if (!format_name.empty()) {
    auto f = parse_log_format(format_name);
    if (!f) {
      std::cerr << "agent-runner: --log-format " << format_name
                << " is not a format; use text or json\n";
      return kExitUsage;
    }
    opts.log_format = *f;
  }
  setup_logging(opts.log_level, opts.log_format);

  if (i >= args.size()) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1, args.end());
  App app(std::move(opts));
  if (command == "plugins") return cmd_plugins(app, rest);
  if (command == "config") return cmd_config(app, rest);
  if (command == "exec") return cmd_exec(app, rest);
  if (command == "run") return cmd_run(app, rest);
  if (command == "serve") return cmd_serve(app, rest);
  if (command == "doctor") return cmd_doctor(app, rest);
  if (command == "worker") return cmd_worker(app, rest);
  if (command == "submit") return cmd_submit(app, rest);
  if (command == "status") return cmd_status(app, rest);
  if (command == "cancel") return cmd_cancel(app, rest);
  if (command == "queue") return cmd_queue(app, rest);
  if (command == "__run-job") return cmd_run_job(app, rest);
  if (command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  std::cerr << "agent-runner: unknown command '" << command
            << "'; commands: plugins, config, exec, run, serve, doctor, worker, submit, status, "
               "cancel, queue (see agent-runner --help)\n";
  return kExitUsage;
}

}  // namespace agent_runner
