// `agent-runner serve --mcp`: the configured sandbox as Model Context Protocol tools on stdio.
#include "app.hpp"
#include "mcp_server.hpp"
#include "signals.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>
#include <iostream>

namespace agent_runner {
namespace {

constexpr const char* kServeHelp =
    R"(Usage: agent-runner serve --mcp [--session ID] [--max-message-bytes N] [--max-calls N]
                          [--max-result-bytes N] [--max-matches N]

Serves the sandbox the configuration selects (MODE=local: a workspace under SANDBOX_ROOT_DIR;
MODE=cloud: a Daytona sandbox) to an AI agent over the Model Context Protocol: JSON-RPC 2.0,
one message per line on stdin/stdout. Tools: execute, read_file, write_file, edit_file, ls,
glob, grep, upload, download, delete. stdout carries protocol messages only; logs go to stderr.

One sandbox lives as long as the server. It is released when stdin closes (after the calls still
running are answered) or on SIGTERM/SIGINT (running commands are killed first).

  --mcp                    speak MCP on stdio (the only transport; required)
  --session ID             attach to the persistent sandbox of this key (created the first
                           time); without it the sandbox is ephemeral and removed on exit
  --max-message-bytes N    longest accepted message line (default 8388608 = 8 MiB); longer
                           ones are answered with an error and dropped
  --max-calls N            tool calls running at once (default 16); more wait their turn
  --max-result-bytes N     bytes one tool call may return: download's files together, grep's
                           matching lines (default 16777216 = 16 MiB); what is over is left
                           out and the result says so
  --max-matches N          matching lines one grep call may collect (default 5000); a larger
                           max_matches is lowered to it, and the result says so

Client configuration (Claude Code .mcp.json, Claude Desktop claude_desktop_config.json):
  {"mcpServers": {"agent-runner": {"command": "agent-runner", "args": ["serve", "--mcp"],
                                   "env": {"MODE": "local"}}}}
)";

std::optional<size_t> parse_count(const std::string& text) {
  try {
    size_t used = 0;
    unsigned long long v = std::stoull(text, &used);
    if (used != text.size() || v == 0 || text[0] == '-') return std::nullopt;
    return static_cast<size_t>(v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string instructions_for(const Sandbox& sb) {
  const auto& info = sb.info();
  std::string kind = "an ephemeral sandbox, removed when this server stops";
  if (auto it = info.find("session"); it != info.end() && it->value().is_string())
    kind = "the persistent sandbox of session '" + std::string(it->value().get_string()) +
           "', kept between runs";
  return "Every tool acts on one " + sb.plugin().sandbox_type() + " sandbox (" + sb.id() +
         "): " + kind +
         ". Paths are sandbox paths rooted at /: /src/main.py is src/main.py in the sandbox's "
         "workspace, and no path can leave it. Commands run with /bin/sh -c in / with stdin "
         "closed and a minimal environment. Prefer read_file, edit_file, write_file, ls, glob "
         "and grep for file work; use execute for builds, tests and other programs.";
}

}  // namespace

int cmd_serve(App& app, const std::vector<std::string>& args) {
  bool mcp = false;
  std::optional<std::string> session;
  mcp::ServerOptions options;
  options.server_version = AGENT_RUNNER_VERSION;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* flag) -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::cerr << "agent-runner serve: " << flag << " needs a value (see --help)\n";
        return std::nullopt;
      }
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kServeHelp;
      return kExitOk;
    } else if (a == "--mcp") {
      mcp = true;
    } else if (a == "--session") {
      auto v = value("--session");
      if (!v) return kExitUsage;
      if (v->empty()) {
        std::cerr << "agent-runner serve: --session needs a non-empty key\n";
        return kExitUsage;
      }
      session = *v;
    } else if (a == "--max-result-bytes" || a == "--max-matches") {
      auto v = value(a.c_str());
      if (!v) return kExitUsage;
      auto n = parse_count(*v);
      if (!n) {
        std::cerr << "agent-runner serve: " << a << " takes a whole number >= 1, got '" << *v
                  << "'\n";
        return kExitUsage;
      }
      (a == "--max-matches" ? options.limits.max_matches : options.limits.max_result_bytes) = *n;
    } else if (a == "--max-message-bytes" || a == "--max-calls") {
      auto v = value(a.c_str());
      if (!v) return kExitUsage;
      auto n = parse_count(*v);
      if (!n || (a == "--max-message-bytes" && *n < 1024)) {
        std::cerr << "agent-runner serve: " << a << " takes a whole number"
                  << (a == "--max-calls" ? " >= 1" : " >= 1024") << ", got '" << *v << "'\n";
        return kExitUsage;
      }
      (a == "--max-calls" ? options.max_workers : options.max_message_bytes) = *n;
    } else {
      std::cerr << "agent-runner serve: unknown argument " << a << " (see --help)\n";
      return kExitUsage;
    }
  }
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

}  // namespace agent_runner
