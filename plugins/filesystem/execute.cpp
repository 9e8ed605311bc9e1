// SPDX-License-Identifier: Apache-2.0
#include "execute.hpp"

#include "process.hpp"

#include <agent_runner/sandbox_ops.hpp>
#include <agent_runner/text.hpp>

#include <fcntl.h>

#include <map>

extern char** environ;

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

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
  env["HOME"] = ctx.table.workdir();
  if (!env.count("LANG")) env["LANG"] = "C.UTF-8";
  env["TMPDIR"] = ctx.table.tmp_path();
  for (const auto& [k, v] : ctx.cfg.env) env[k] = v;
  for (const auto& [k, v] : sdk::json_get::string_map(req, "env")) {
    if (!sdk::is_env_name(k))
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env name '" + k + "' is not valid");
    env[k] = v;
  }
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// The working directory: checked where the command will look for it (inside the view, or beneath
// the workspace or its tmp on the host), so that a missing one is file_not_found before anything
// starts.
Fd open_cwd(const ExecContext& ctx, const std::string& input, ExecSpec& spec) {
  const SandboxPath abs = ctx.files.path(input);
  Fd fd = ctx.files.open(abs, O_PATH | O_DIRECTORY, "execute: cwd");
  if (ctx.view) {
    spec.cwd_path = abs.display();  // the supervisor changes into it inside the view
    return fd;
  }
  const MountEntry* e = ctx.table.find(abs);
  const SandboxPath base = sdk::parse_sandbox_path(e->path);
  SandboxPath rel;
  rel.parts.assign(abs.parts.begin() + static_cast<std::ptrdiff_t>(base.parts.size()),
                   abs.parts.end());
  spec.workspace = e->source;
  spec.cwd_relative = rel.relative();
  spec.cwd_fd = fd.get();
  return fd;
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
  spec.view = ctx.view;
  const Fd cwd = open_cwd(ctx, sdk::json_get::opt_string(req, "cwd").value_or("."), spec);
  spec.env = command_env(ctx, req);
  spec.stop_requested = std::move(stop);

  ExecOutcome o = run_command(spec, call);
  if (o.cancelled)
    throw Error(AR_ERR_CANCELLED,
                "execute: cancelled by the host; the command's process tree was killed");
  // stdout and stderr share one pipe (the order of the writes is kept), so everything is in
  // `stdout` and `stderr` is empty, as in the daytona plugin (sdk/README.md).
  sdk::ExecuteOutcome r;
  r.exit_code = o.exit_code;
  r.output = o.output;
  r.stdout_text = std::move(o.output);
  r.truncated = o.truncated;
  r.timed_out = o.timed_out;
  r.duration_ms = o.duration_ms;
  r.stdout_bytes = static_cast<int64_t>(o.bytes);
  return sdk::Result::ok(r.to_json());
}

}  // namespace agent_runner::fs_plugin
