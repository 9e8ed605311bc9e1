// SPDX-License-Identifier: Apache-2.0
// `agent-runner exec`: one command in the configured sandbox.
#include "app.hpp"
#include "cli.hpp"
#include "operations.hpp"
#include "redact.hpp"
#include "signals.hpp"

#include <agent_runner/text.hpp>

#include <iostream>
#include <mutex>

namespace agent_runner {
namespace {

struct ExecArgs {
  std::optional<std::string> session;
  std::optional<double> timeout;
  std::optional<std::string> cwd;
  std::vector<std::string> env;  // NAME=VALUE, checked
  bool json = false;
  std::vector<std::string> words;
};

int exec_command(App& app, const ExecArgs& args) {
  const auto& words = args.words;
  const auto& session = args.session;
  const auto& timeout = args.timeout;
  const auto& cwd = args.cwd;
  const bool json = args.json;
  boost::json::object env;
  for (const auto& kv : args.env) {
    auto eq = kv.find('=');
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (words.empty()) {
    std::cerr
        << "agent-runner exec: no command given; usage: agent-runner exec [OPTIONS] -- CMD...\n";
    return kExitUsage;
  }
  std::string command;
  if (words.size() == 1) {
    command = words[0];
  } else {
    for (size_t i = 0; i < words.size(); ++i)
      command += (i ? " " : "") + sdk::shell_quote(words[i]);
  }

  const auto& cancelled = install_cancel_signals();
  int code = kExitOk;
  auto sandbox = app.open_sandbox(session, code);
  if (!sandbox) return code;

  boost::json::object arguments{{"command", command}};
  if (timeout) arguments["timeout"] = *timeout;
  if (cwd) arguments["cwd"] = *cwd;
  if (!env.empty()) arguments["env"] = env;
  const Request req = make_request(Op::execute, Front::step, arguments).value();

  std::mutex out_mutex;
  StreamRedactor out_red(Redactor::global()), err_red(Redactor::global());
  CallOptions opts;
  opts.cancelled = &cancelled;
  if (!json) {
    opts.on_output = [&](ar_stream stream, std::string_view data) {
      std::lock_guard lock(out_mutex);
      if (stream == AR_STREAM_STDERR)
        write_all(2, err_red.push(data));
      else
        write_all(1, out_red.push(data));
    };
  }
  OpResult r = call(*sandbox, req, opts);
  if (!json) {
    write_all(1, out_red.flush());
    write_all(2, err_red.flush());
  }
  OpResult rel = sandbox->release();
  if (!rel.ok()) spdlog::warn("releasing sandbox failed: {}: {}", rel.code(), rel.message());

  if (!r.ok()) {
    if (json) {
      write_all(1, Redactor::global().redact(
                       boost::json::serialize(boost::json::object{{"error", r.error_json()}})) +
                       "\n");
    }
    std::cerr << "agent-runner exec: " << r.code() << ": " << Redactor::global().redact(r.message())
              << "\n";
    if (r.status == AR_ERR_INVALID_ARGUMENT || r.status == AR_ERR_INVALID_PATH) return kExitUsage;
    return kExitFailure;
  }
  if (json) {
    // Where the command ran (relative paths and a cwd lead there), as the sandbox reports it.
    if (!r.body.contains("workdir") && !sandbox->workdir().empty())
      r.body["workdir"] = sandbox->workdir();
    write_all(1, Redactor::global().redact(boost::json::serialize(r.body)) + "\n");
  }
  const ExecuteView v = execute_view(r.body);
  if (v.timed_out) {
    if (!json) std::cerr << "agent-runner exec: command timed out; its process tree was killed\n";
    return kExitTimeout;
  }
  int64_t exit_code = v.exit_code;
  if (exit_code < 0 || exit_code > 255) exit_code = 1;
  return static_cast<int>(exit_code);
}

}  // namespace

cli::Run cli::define_exec(CLI::App& cmd) {
  cmd.description(
      R"(run one command in the sandbox; exit code = the command's

Runs one shell command in the sandbox the configuration selects (MODE=local: the filesystem
plugin's workspace under SANDBOX_ROOT_DIR). CMD is given to the sandbox's shell (/bin/sh -c); when
several words are given they are quoted and joined, so `exec -- ls -l "my dir"` does what it says.
The command starts in the sandbox's workdir (`exec -- pwd` prints it). Everything after `--`, or after the first word of CMD, belongs to CMD, options included.)");
  cmd.footer(
      R"(Without --json the command's stdout and stderr stream to this process's stdout and stderr as
they arrive. The exit code is the command's own; 124 when it timed out; 1 when the sandbox
failed the call; 2 for a usage or configuration error; 3 when no plugin could be loaded.)");
  auto a = std::make_shared<ExecArgs>();
  cmd.add_option("--session", a->session,
                 "attach to the persistent sandbox of this key (created the first time);\n"
                 "without it the sandbox is ephemeral and removed afterwards")
      ->type_name("ID");
  cmd.add_option("--timeout", a->timeout,
                 "seconds before the whole process tree is killed (default: the plugin's,\n"
                 "120; 0 = no timeout); exit code 124 on timeout")
      ->type_name("S")
      ->check(seconds());
  cmd.add_option("--cwd", a->cwd,
                 "working directory inside the sandbox: relative to its workdir (e.g. src)\n"
                 "or absolute")
      ->type_name("PATH");
  repeatable(
      cmd.add_option("--env", a->env, "extra environment variable for the command (repeatable)"))
      ->type_name("K=V")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            auto eq = v.find('=');
            if (eq != std::string::npos && eq != 0) return "";
            return "takes NAME=VALUE, got '" + v + "'";
          },
          "", "NAME=VALUE"));
  cmd.add_flag("--json", a->json,
               "print one JSON object instead of streaming the output:\n"
               "{\"exit_code\",\"output\",\"stdout\",\"stderr\",\"truncated\",\"timed_out\",\n"
               " \"duration_ms\",\"workdir\",...}");
  cmd.add_option("CMD", a->words, "the command and its arguments")->type_name(kCommand);
  // The first word of the command ends option parsing, as `--` does: `exec ls -l` runs `ls -l`.
  cmd.positionals_at_end();
  return [a](App& app) { return exec_command(app, *a); };
}

}  // namespace agent_runner
