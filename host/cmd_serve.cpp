// SPDX-License-Identifier: Apache-2.0
// `agent-runner serve --mcp`: the configured sandbox as Model Context Protocol tools on stdio.
#include "app.hpp"
#include "cli.hpp"
#include "mcp_server.hpp"
#include "signals.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <limits>

namespace agent_runner {
namespace {

struct ServeArgs {
  bool mcp = false;
  std::optional<std::string> session;
  std::optional<size_t> max_message_bytes, max_calls, max_result_bytes, max_matches;
};

std::string instructions_for(const Sandbox& sb) {
  const auto& info = sb.info();
  std::string kind = "an ephemeral sandbox, removed when this server stops";
  if (auto it = info.find("session"); it != info.end() && it->value().is_string())
    kind = "the persistent sandbox of session '" + std::string(it->value().get_string()) +
           "', kept between runs";
  const std::string workdir = sb.workdir().empty() ? "the sandbox's working directory"
                                                   : "the sandbox's workdir " + sb.workdir();
  return "Every tool acts on one " + sb.plugin().sandbox_type() + " sandbox (" + sb.id() +
         "): " + kind +
         ". Commands and file tools see the same files: an absolute path names the "
         "same file for execute as for read_file or write_file, and a relative path is relative "
         "to " +
         workdir +
         ", where commands start. Commands run with /bin/sh -c with stdin "
         "closed and a minimal environment. Prefer read_file, edit_file, write_file, ls, glob "
         "and grep for file work; use execute for builds, tests and other programs.";
}

int serve_command(App& app, const ServeArgs& args) {
  const bool mcp = args.mcp;
  const auto& session = args.session;
  mcp::ServerOptions options;
  options.server_version = AGENT_RUNNER_VERSION;
  if (args.max_message_bytes) options.max_message_bytes = *args.max_message_bytes;
  if (args.max_calls) options.max_workers = *args.max_calls;
  if (args.max_result_bytes) options.limits.max_result_bytes = *args.max_result_bytes;
  if (args.max_matches) options.limits.max_matches = *args.max_matches;
  if (!mcp) {
    std::cerr << "agent-runner serve: say which protocol to serve: --mcp (Model Context Protocol "
                 "on stdio, the only one so far)\n";
    return kExitUsage;
  }

  // Keep the protocol streams for ourselves and point fds 0 and 1 elsewhere, so that nothing
  // else in this process (a plugin's stray printf, a library) can write into the protocol, and no
  // command the sandbox starts can inherit them.
  const int in_fd = ::fcntl(0, F_DUPFD_CLOEXEC, 3);
  const int out_fd = ::fcntl(1, F_DUPFD_CLOEXEC, 3);
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (in_fd < 0 || out_fd < 0 || devnull < 0 || ::dup2(devnull, 0) < 0 || ::dup2(2, 1) < 0) {
    std::cerr << "agent-runner serve: cannot set up stdio: " << std::strerror(errno) << "\n";
    return kExitFailure;
  }
  ::close(devnull);

  const auto& stop = install_cancel_signals();
  int code = kExitOk;
  auto sandbox = app.open_sandbox(session, code);
  if (!sandbox) return code;
  options.instructions = instructions_for(*sandbox);
  spdlog::info("MCP server on stdio for sandbox {}", sandbox->id());

  mcp::Server::End end;
  {
    Sandbox& sb = *sandbox;
    mcp::Server server([&sb](Op op, const boost::json::object& req,
                             const CallOptions& opts) { return sb.call(op, req, opts); },
                       options, out_fd);
    end = server.serve(in_fd, stop);
  }
  switch (end) {
    case mcp::Server::End::eof:
      spdlog::info("stdin closed; shutting down");
      break;
    case mcp::Server::End::stopped:
      spdlog::info("signal {} received; running calls were cancelled", cancel_signal());
      break;
    case mcp::Server::End::output_closed:
      spdlog::info("stdout closed; shutting down");
      break;
    case mcp::Server::End::read_error:
      break;
  }
  OpResult rel = sandbox->release();
  if (!rel.ok()) {
    spdlog::error("releasing sandbox {} failed: {}: {}", sandbox->id(), rel.code(), rel.message());
    return kExitFailure;
  }
  ::close(in_fd);
  ::close(out_fd);
  return end == mcp::Server::End::read_error ? kExitFailure : kExitOk;
}

}  // namespace

cli::Run cli::define_serve(CLI::App& cmd) {
  cmd.description(R"(Model Context Protocol server on stdio

Serves the sandbox the configuration selects (MODE=local: a workspace under SANDBOX_ROOT_DIR;
MODE=cloud: a Daytona sandbox) to an AI agent over the Model Context Protocol: JSON-RPC 2.0,
one message per line on stdin/stdout. Tools: execute, read_file, write_file, edit_file, ls,
glob, grep, upload, download, delete. stdout carries protocol messages only; logs go to stderr.

One sandbox lives as long as the server. It is released when stdin closes (after the calls still
running are answered) or on SIGTERM/SIGINT (running commands are killed first).)");
  cmd.footer(
      R"(Client configuration (Claude Code .mcp.json, Claude Desktop claude_desktop_config.json):
  {"mcpServers": {"agent-runner": {"command": "agent-runner", "args": ["serve", "--mcp"],
                                   "env": {"MODE": "local"}}}})");
  auto a = std::make_shared<ServeArgs>();
  cmd.add_flag("--mcp", a->mcp, "speak MCP on stdio (the only transport; required)");
  cmd.add_option("--session", a->session,
                 "attach to the persistent sandbox of this key (created the first\n"
                 "time); without it the sandbox is ephemeral and removed on exit")
      ->type_name("ID")
      ->check(CLI::Validator(
          [](std::string& v) { return v.empty() ? std::string("needs a non-empty key") : ""; }, "",
          "non-empty"));
  cmd.add_option("--max-message-bytes", a->max_message_bytes,
                 "longest accepted message line (default 8388608 = 8 MiB); longer\n"
                 "ones are answered with an error and dropped")
      ->type_name("N")
      ->check(whole_number(1024, std::numeric_limits<long long>::max()));
  cmd.add_option("--max-calls", a->max_calls,
                 "tool calls running at once (default 16); more wait their turn")
      ->type_name("N")
      ->check(whole_number(1, std::numeric_limits<long long>::max()));
  cmd.add_option("--max-result-bytes", a->max_result_bytes,
                 "bytes one tool call may return: download's files together, grep's\n"
                 "matching lines (default 16777216 = 16 MiB); what is over is left\n"
                 "out and the result says so")
      ->type_name("N")
      ->check(whole_number(1, std::numeric_limits<long long>::max()));
  cmd.add_option("--max-matches", a->max_matches,
                 "matching lines one grep call may collect (default 5000); a larger\n"
                 "max_matches is lowered to it, and the result says so")
      ->type_name("N")
      ->check(whole_number(1, std::numeric_limits<long long>::max()));
  return [a](App& app) { return serve_command(app, *a); };
}

}  // namespace agent_runner
