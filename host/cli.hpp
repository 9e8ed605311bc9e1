// The command line: global options and every command's options are declared once, with CLI11;
// parsing, `--help`, usage errors (exit 2) and shell completion (`agent-runner completion`) all
// come from those declarations.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string_view>

namespace agent_runner {

class App;

namespace cli {

// What runs a command once its command line is parsed; returns the exit code.
using Run = std::function<int(App&)>;

// Every command, in the order `agent-runner --help` lists them.
//
// Adding a command takes one small file and one line:
//   1. host/cmd_NAME.cpp defines `cli::Run define_NAME(CLI::App& cmd)`, which
//      - sets cmd.description(): its first line is the summary `agent-runner --help` shows, the
//        whole text opens `agent-runner NAME --help`; cmd.footer() follows the options there;
//      - adds the command's options and positionals, bound to variables that the returned
//        function captures (a std::shared_ptr to a small struct of them);
//      - returns that function, which runs the command with the parsed values.
//      cmd_plugins.cpp is the smallest example, cmd_run.cpp one with positionals and checks,
//      cmd_sessions.cpp one with commands of its own (`sessions rm`): each is a CLI11
//      subcommand of cmd with fallthrough(), and the returned function asks which was parsed.
//   2. add X(NAME) to the list below (the function is declared from it).
// Global options (--config, --mode, --plugin-dir, ...) are accepted before or after any command
// and reach it through App; a command must not declare an option of the same name. Option values
// that are files are typed cli::kFile, directories cli::kDir, enumerations "a|b" (see choice());
// shell completion offers files, directories or the words accordingly.
#define AGENT_RUNNER_COMMANDS(X) \
  X(plugins)                     \
  X(config)                      \
  X(exec)                        \
  X(run)                         \
  X(serve)                       \
  X(doctor)                      \
  X(worker)                      \
  X(submit)                      \
  X(status)                      \
  X(cancel)                      \
  X(queue)                       \
  X(sessions)                    \
  X(completion)

#define AGENT_RUNNER_DECLARE_COMMAND(name) Run define_##name(CLI::App& cmd);
AGENT_RUNNER_COMMANDS(AGENT_RUNNER_DECLARE_COMMAND)
#undef AGENT_RUNNER_DECLARE_COMMAND
// `__run-job` (not listed): one job of `agent-runner worker`, in a process of its own.
Run define_run_job(CLI::App& cmd);
// `__expire-sessions` (not listed): the worker's session_ttl sweep, in a process of its own.
Run define_expire_sessions(CLI::App& cmd);

// Value names that shell completion understands (others, like ID or N, complete nothing).
inline constexpr const char* kFile = "FILE";
inline constexpr const char* kDir = "DIR";
inline constexpr const char* kCommand = "COMMAND";  // a program name (exec)

// Makes `opt` accept one of the '|'-separated `choices` ("text|json"): the value name in help and
// completion, and a check whose error lists them.
CLI::Option* choice(CLI::Option* opt, std::string_view choices);
// Makes `opt` repeatable: each occurrence takes exactly one value and every value is kept.
CLI::Option* repeatable(CLI::Option* opt);
// A whole number from `min` to `max`.
CLI::Validator whole_number(long long min, long long max);
// A number of seconds >= 0 (fractions allowed).
CLI::Validator seconds();

// The command tree, for help and completion: the root's commands that are listed in help.
std::vector<const CLI::App*> listed_commands(const CLI::App& root);
// The help text of `app` (the root or a command), whichever command was selected.
std::string help(const CLI::App& app);
// The first line of a command's description.
std::string summary(const CLI::App& cmd);

}  // namespace cli

// Entry point of the executable.
int cli_main(int argc, char** argv);

}  // namespace agent_runner
