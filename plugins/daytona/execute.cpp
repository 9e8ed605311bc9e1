// execute: a session command started with runAsync and polled, so the timeout is ours, output
// streams to the host as the log grows, and cancellation or a timeout kills the command's whole
// process tree. Daemons without sessions get POST /process/execute instead.
#include "output.hpp"
#include "sandbox.hpp"

#include <chrono>
#include <cmath>
#include <thread>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;
using namespace std::chrono;

namespace {

// Builds the shell text that runs `command` like the filesystem plugin does: /bin/sh -c, stdin
// closed, cwd inside the workspace, an explicit environment addition, plus a marker variable
// that identifies every process of this call (setsid and double forks keep their environment).
std::string wrap(const std::string& command, const std::string& cwd, const std::string& home,
                 const std::vector<std::pair<std::string, std::string>>& env,
                 const std::string& exec_id) {
  std::string s = "(cd " + shell_quote(cwd) + " && exec env AR_EXEC_ID=" + exec_id +
                  " HOME=" + shell_quote(home);
  for (const auto& [k, v] : env) s += " " + k + "=" + shell_quote(v);
  s += " /bin/sh -c " + shell_quote(command) + " </dev/null)";
  return s;
}

}  // namespace

void DaytonaSandbox::kill_tree(const std::string& exec_id) {
  // Every process whose environment carries this call's marker, three sweeps to catch forks
  // that race the first one.
  const std::string script =
      "for i in 1 2 3; do for f in $(grep -lzx 'AR_EXEC_ID=" + exec_id +
      "' /proc/[0-9]*/environ 2>/dev/null); do p=${f#/proc/}; kill -9 \"${p%/environ}\" "
      "2>/dev/null; done; done; exit 0";
  try {
    run_short(script, 30);
  } catch (const std::exception& e) {
    host_.warn("could not kill the processes of command " + exec_id + ": " + e.what());
  }
}

Result DaytonaSandbox::execute(sdk::Call& call) {
  const auto& req = call.request();
  const std::string command = sdk::json_get::string(req, "command");
  if (command.find('\0') != std::string::npos)
    throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'command' contains a NUL byte");
  if (command.find_first_not_of(" \t\r\n") == std::string::npos)
    throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'command' is empty");
  const double timeout_s = sdk::json_get::number(req, "timeout_s", cfg_.timeout_s);
  if (timeout_s < 0 || !std::isfinite(timeout_s))
    throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'timeout_s' must be a number >= 0");
  SandboxPath cwd = parse_sandbox_path(sdk::json_get::opt_string(req, "cwd").value_or("/"));
  if (!cwd.is_root()) {
    auto info = stat(cwd, "execute: cwd");
    if (!info) missing(cwd, "execute: cwd");
    if (!info->is_dir)
      throw Error(AR_ERR_NOT_A_DIRECTORY, "execute: cwd " + cwd.display() + ": not a directory");
  }
  std::vector<std::pair<std::string, std::string>> env(cfg_.env.begin(), cfg_.env.end());
  for (auto& [k, v] : sdk::json_get::string_map(req, "env")) {
    if (!sdk::is_env_name(k))
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env name '" + k + "' is not valid");
    if (v.find('\0') != std::string::npos)
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env." + k + " contains a NUL byte");
    env.emplace_back(k, v);
  }
  const std::string exec_id = random_hex(12);
  const std::string script =
      wrap(command, cwd.under(workspace_), SandboxPath{}.under(workspace_), env, exec_id);
  if (sessions_supported_) return execute_session(call, script, timeout_s, exec_id);
  return execute_process(call, script, timeout_s, exec_id);
}

Result DaytonaSandbox::execute_session(sdk::Call& call, const std::string& script, double timeout_s,
                                       const std::string& exec_id) {
  const auto t0 = steady_clock::now();
  const std::string sid = "agent-runner-" + exec_id;
  {
    DaytonaApi::ToolboxCall c;
    c.method = "POST";
    c.path = "/process/session";
    c.body = json::serialize(json::object{{"sessionId", sid}});
    c.content_type = "application/json";
    c.idempotent = true;  // a unique id: a repeat is 409, which we accept
    auto r = tb(c);
    if (r.status == 404 || r.status == 405) {
      host_.info("the sandbox's daemon has no sessions; using /process/execute");
      sessions_supported_ = false;
      return execute_process(call, script, timeout_s, exec_id);
    }
    if (!r.ok() && r.status != 409)
      api_->fail(request_for(c.method, toolbox_ + c.path), r, "execute");
  }
  // From here on the session must go, whatever happens.
  struct SessionGuard {
    DaytonaSandbox* self;
    std::string sid;
    ~SessionGuard() {
      try {
        DaytonaApi::ToolboxCall c;
        c.method = "DELETE";
        c.path = "/process/session/" + url_encode(sid);
        c.idempotent = true;
        self->api_->toolbox(self->toolbox_, c);
      } catch (const std::exception& e) {
        self->host_.warn("could not delete session " + sid + ": " + e.what());
      }
    }
  } guard{this, sid};

  std::string cmd_id;
  {
    DaytonaApi::ToolboxCall c;
    c.method = "POST";
    c.path = "/process/session/" + url_encode(sid) + "/exec";
    c.body = json::serialize(json::object{{"command", script}, {"runAsync", true}});
    c.content_type = "application/json";
    c.idempotent = false;  // running a command twice is not harmless
    auto r = tb(c);
    if (!r.ok()) api_->fail(request_for(c.method, toolbox_ + c.path), r, "execute");
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object())
      if (auto it = v.as_object().find("cmdId");
          it != v.as_object().end() && it->value().is_string())
        cmd_id = std::string(it->value().as_string());
    if (cmd_id.empty())
      throw Error(AR_ERR_UNAVAILABLE,
                  "execute: POST /process/session/" + sid + "/exec answered no cmdId");
  }

  OutputCapture cap(cfg_.max_output_bytes);
  Demuxer demux;
  size_t consumed = 0;
  auto absorb = [&](const std::vector<std::pair<ar_stream, std::string>>& chunks) {
    for (const auto& [stream, data] : chunks) {
      cap.add(stream, data);
      call.emit(stream, data);
    }
  };
  const std::string cmd_path =
      "/process/session/" + url_encode(sid) + "/command/" + url_encode(cmd_id);
  auto fetch_logs = [&] {
    DaytonaApi::ToolboxCall c;
    c.path = cmd_path + "/logs";
    c.idempotent = true;
    c.cancelled = [&call] { return call.cancelled(); };
    auto r = tb(c);
    if (!r.ok()) api_->fail(request_for(c.method, toolbox_ + c.path), r, "execute: reading output");
    std::string raw;
    if (r.header("content-type").find("json") != std::string::npos) {
      boost::system::error_code ec;
      auto v = json::parse(r.body, ec);
      if (!ec && v.is_object()) {
        const auto& o = v.as_object();
        auto out = o.find("output");
        if (out != o.end() && out->value().is_string()) {
          raw = std::string(out->value().as_string());
        } else {
          // No combined log: stdout then stderr, each marked.
          for (auto [key, mark] : {std::pair{"stdout", "\x01\x01\x01"}, {"stderr", "\x02\x02\x02"}})
            if (auto s = o.find(key);
                s != o.end() && s->value().is_string() && !s->value().as_string().empty())
              raw += mark + std::string(s->value().as_string());
        }
      }
    } else {
      raw = r.body;  // text/plain: markers present (split output) or already stripped
    }
    if (raw.size() > consumed) {
      absorb(demux.feed(std::string_view(raw).substr(consumed)));
      consumed = raw.size();
    }
  };

  std::optional<int64_t> exit_code;
  bool timed_out = false, cancelled = false;
  milliseconds interval{50};
  for (;;) {
    if (call.cancelled()) {
      cancelled = true;
      break;
    }
    DaytonaApi::ToolboxCall c;
    c.path = cmd_path;
    c.idempotent = true;
    auto r = tb(c);
    if (!r.ok()) api_->fail(request_for(c.method, toolbox_ + c.path), r, "execute: polling");
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (!ec && v.is_object())
      if (auto it = v.as_object().find("exitCode"); it != v.as_object().end()) {
        if (it->value().is_int64())
          exit_code = it->value().as_int64();
        else if (it->value().is_uint64())
          exit_code = static_cast<int64_t>(it->value().as_uint64());
      }
    fetch_logs();
    if (exit_code) break;
    const auto elapsed = steady_clock::now() - t0;
    if (timeout_s > 0 && elapsed >= duration<double>(timeout_s)) {
      timed_out = true;
      break;
    }
    // Sleep until the next poll, waking for cancellation and the deadline.
    auto until = steady_clock::now() + interval;
    if (timeout_s > 0)
      until =
          std::min(until, t0 + duration_cast<steady_clock::duration>(duration<double>(timeout_s)));
    while (steady_clock::now() < until && !call.cancelled())
      std::this_thread::sleep_for(
          std::min<steady_clock::duration>(milliseconds(25), until - steady_clock::now()));
    interval = std::min(milliseconds(1000), interval * 3 / 2);
  }
  // No process of the command outlives the call (also background children of a finished one).
  kill_tree(exec_id);
  if (timed_out || cancelled) {
    try {
      fetch_logs();  // what it printed before it died
    } catch (const Error&) {
    }
  }
  absorb(demux.finish());
  if (cancelled)
    throw Error(AR_ERR_CANCELLED, "execute: cancelled; the command's processes were killed");
  const int64_t ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
  return Result::ok(
      {{"exit_code", timed_out ? 124 : exit_code.value_or(-1)},
       {"output", sdk::utf8_sanitize(cap.combined.text())},
       {"stdout", sdk::utf8_sanitize(cap.out.text())},
       {"stderr", sdk::utf8_sanitize(cap.err.text())},
       {"truncated", cap.combined.truncated() || cap.out.truncated() || cap.err.truncated()},
       {"timed_out", timed_out},
       {"duration_ms", ms},
       {"stdout_bytes", static_cast<int64_t>(cap.out.total())},
       {"stderr_bytes", static_cast<int64_t>(cap.err.total())}});
}

Result DaytonaSandbox::execute_process(sdk::Call& call, const std::string& script, double timeout_s,
                                       const std::string& exec_id) {
  // The stateless endpoint returns stdout and stderr combined and only at the end; on timeout
  // the daemon kills the process group and returns no partial output (reference 4.3).
  const auto t0 = steady_clock::now();
  bool timed_out = false;
  ShortExec r;
  try {
    r = run_short(script, timeout_s);
  } catch (const Error& e) {
    if (e.status() != AR_ERR_TIMEOUT) throw;
    timed_out = true;
  }
  kill_tree(exec_id);
  OutputCapture cap(cfg_.max_output_bytes);
  cap.add(AR_STREAM_STDOUT, r.output);
  call.emit(AR_STREAM_STDOUT, r.output);
  const int64_t ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
  return Result::ok({{"exit_code", timed_out ? 124 : r.exit_code},
                     {"output", sdk::utf8_sanitize(cap.combined.text())},
                     {"stdout", sdk::utf8_sanitize(cap.out.text())},
                     {"stderr", ""},
                     {"truncated", cap.combined.truncated()},
                     {"timed_out", timed_out},
                     {"duration_ms", ms},
                     {"stdout_bytes", static_cast<int64_t>(cap.out.total())},
                     {"stderr_bytes", 0}});
}

}  // namespace agent_runner::daytona
