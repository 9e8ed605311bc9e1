#include "execute.hpp"

#include "process.hpp"

#include <fcntl.h>

#include <map>

extern char** environ;

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

bool valid_env_name(const std::string& k) {
  return !k.empty() && k.find('=') == std::string::npos && k.find('\0') == std::string::npos;
}

// The host's API keys never reach a command unless the config says inherit_env: true.
std::vector<std::string> command_env(const ExecContext& ctx, const boost::json::object& req) {
  std::map<std::string, std::string> env;
  if (ctx.cfg.inherit_env) {
    for (char** e = environ; e && *e; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  if (!env.count("PATH"))
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  env["HOME"] = ctx.workspace;
  if (!env.count("LANG")) env["LANG"] = "C.UTF-8";
  env["TMPDIR"] = ctx.tmp_dir;
  for (const auto& [k, v] : ctx.cfg.env) env[k] = v;
  for (const auto& [k, v] : sdk::json_get::string_map(req, "env")) {
    if (!valid_env_name(k))
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env name '" + k + "' is not valid");
    env[k] = v;
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

sdk::Result op_execute(const ExecContext& ctx, sdk::Call& call, std::function<bool()> stop) {
  const auto& req = call.request();
  ExecSpec spec;
  spec.command = sdk::json_get::string(req, "command");
  if (spec.command.empty()) throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'command' is empty");
  if (spec.command.find('\0') != std::string::npos)
    throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'command' contains a NUL byte");
  spec.timeout_s = sdk::json_get::number(req, "timeout_s", ctx.cfg.timeout_s);
  if (spec.timeout_s < 0) throw Error(AR_ERR_INVALID_ARGUMENT, "execute: timeout_s must be >= 0");
  spec.shell = ctx.cfg.shell;
  spec.max_output_bytes = ctx.cfg.max_output_bytes;
  spec.plan = &ctx.plan;
  spec.limits = &ctx.cfg.limits;
  spec.workspace = ctx.workspace;

  SandboxPath cwd = parse_sandbox_path(sdk::json_get::opt_string(req, "cwd").value_or("/"));
  Fd cwd_fd = ctx.resolver.open(cwd, O_PATH | O_DIRECTORY, "execute: cwd");
  spec.cwd_fd = cwd_fd.get();
  spec.cwd_relative = cwd.relative();
  spec.env = command_env(ctx, req);
  spec.stop_requested = std::move(stop);

  ExecOutcome o = run_command(spec, call);
  if (o.cancelled)
    throw Error(AR_ERR_CANCELLED,
                "execute: cancelled by the host; the command's process tree was killed");
  return sdk::Result::ok({{"exit_code", o.exit_code},
                          {"output", sdk::utf8_sanitize(o.output)},
                          {"stdout", sdk::utf8_sanitize(o.out)},
                          {"stderr", sdk::utf8_sanitize(o.err)},
                          {"truncated", o.truncated},
                          {"timed_out", o.timed_out},
                          {"duration_ms", o.duration_ms},
                          {"stdout_bytes", static_cast<int64_t>(o.out_bytes)},
                          {"stderr_bytes", static_cast<int64_t>(o.err_bytes)}});
}

}  // namespace agent_runner::fs_plugin
