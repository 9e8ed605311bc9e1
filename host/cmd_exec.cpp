// `agent-runner exec`: one command in the configured sandbox.
#include "app.hpp"
#include "redact.hpp"
#include "signals.hpp"

#include <agent_runner/text.hpp>

#include <iostream>
#include <mutex>

namespace agent_runner {
namespace {

constexpr const char* kExecHelp =
    R"(Usage: agent-runner exec [--session ID] [--timeout S] [--cwd DIR] [--env K=V]... [--json] -- CMD...

Runs one shell command in the sandbox the configuration selects (MODE=local: the filesystem
plugin's workspace under SANDBOX_ROOT_DIR). CMD is given to the sandbox's shell (/bin/sh -c); when
several words are given they are quoted and joined, so `exec -- ls -l "my dir"` does what it says.

  --session ID   attach to the persistent sandbox of this key (created the first time);
                 without it the sandbox is ephemeral and removed afterwards
  --timeout S    seconds before the whole process tree is killed (default: the plugin's, 120;
                 0 = no timeout); exit code 124 on timeout
  --cwd DIR      working directory inside the sandbox (sandbox path, e.g. /src)
  --env K=V      extra environment variable for the command (repeatable)
  --json         print one JSON object instead of streaming the output:
                 {"exit_code","output","stdout","stderr","truncated","timed_out","duration_ms",...}

Without --json the command's stdout and stderr stream to this process's stdout and stderr as
they arrive. The exit code is the command's own; 124 when it timed out; 1 when the sandbox
failed the call; 2 for a usage or configuration error; 3 when no plugin could be loaded.
)";

}  // namespace

int cmd_exec(App& app, const std::vector<std::string>& args) {
  std::optional<std::string> session;
  std::optional<double> timeout;
  std::optional<std::string> cwd;
  boost::json::object env;
  bool json = false;
  std::vector<std::string> words;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::cerr << "agent-runner exec: " << flag << " needs a value (see --help)\n";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "--") {
      words.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (a == "-h" || a == "--help") {
      std::cout << kExecHelp;
      return kExitOk;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--session") {
      auto v = value("--session");
      if (!v) return kExitUsage;
      session = *v;
    } else if (a == "--cwd") {
      auto v = value("--cwd");
      if (!v) return kExitUsage;
      cwd = *v;
    } else if (a == "--env") {
      auto v = value("--env");
      if (!v) return kExitUsage;
      auto eq = v->find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "agent-runner exec: --env takes NAME=VALUE, got '" << *v << "'\n";
        return kExitUsage;
      }
      env[v->substr(0, eq)] = v->substr(eq + 1);
    } else if (a == "--timeout") {
      auto v = value("--timeout");
      if (!v) return kExitUsage;
      try {
        size_t used = 0;
        double t = std::stod(*v, &used);
        if (used != v->size() || t < 0) throw std::invalid_argument(*v);
        timeout = t;
      } catch (const std::exception&) {
        std::cerr << "agent-runner exec: --timeout takes a number of seconds >= 0, got '" << *v
                  << "'\n";
        return kExitUsage;
      }
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "agent-runner exec: unknown option " << a
                << " (put the command after --, see --help)\n";
      return kExitUsage;
    } else {
      words.assign(args.begin() + static_cast<long>(i), args.end());
      break;
    }
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

  boost::json::object req{{"command", command}};
  if (timeout) req["timeout_s"] = *timeout;
  if (cwd) req["cwd"] = *cwd;
  if (!env.empty()) req["env"] = env;

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
  OpResult r = sandbox->call(Op::execute, req, opts);
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
  if (json) write_all(1, Redactor::global().redact(boost::json::serialize(r.body)) + "\n");
  const bool timed_out = r.body.contains("timed_out") && r.body.at("timed_out").is_bool() &&
                         r.body.at("timed_out").as_bool();
  if (timed_out) {
    if (!json) std::cerr << "agent-runner exec: command timed out; its process tree was killed\n";
    return kExitTimeout;
  }
  int64_t exit_code = 1;
  if (auto it = r.body.find("exit_code"); it != r.body.end() && it->value().is_int64())
    exit_code = it->value().as_int64();
  if (exit_code < 0 || exit_code > 255) exit_code = 1;
  return static_cast<int>(exit_code);
}

}  // namespace agent_runner
