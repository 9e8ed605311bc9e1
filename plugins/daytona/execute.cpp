// execute: the command runs in the background in the sandbox with stdout and stderr on one file
// (2>&1), so the combined output keeps the order of the writes; short scripts through
// POST /process/execute start it and read that file from an offset (never re-reading what was
// read), waiting in the sandbox for the exit or new output so that a quick command costs one
// request. The timeout is ours; on timeout or cancellation every process of the call is killed.
// Only /process/execute is used, which every daemon generation has.
#include "sandbox.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;
using namespace std::chrono;

namespace {

constexpr size_t kChunk = 4u << 20;  // output bytes per answer at most
constexpr milliseconds kStep{6};     // one in-sandbox wait step (sleep 0.005 + checks)
// The start call waits this long in the sandbox for the exit (checking every step), so a quick
// command costs one request; later polls wait twice as long each time, up to kMaxWait.
constexpr milliseconds kFirstWait{50};
constexpr milliseconds kMaxWait{1000};        // longest wait of one poll
constexpr milliseconds kStreamAfter{100};     // a poll returns with new output after this long
constexpr double kScriptMarginS = 30;         // daemon-side bound of one script beyond its wait
constexpr size_t kKeptAfterRead = 64 * 1024;  // output kept after it was read (see prelude)
// Unread output beyond this, with the head of the capture full, is skipped up to the last tail's
// worth: those bytes would be dropped from the result anyway, and a command that writes faster
// than the network carries must not hold the call (nor the drain after a kill) for ever.
constexpr uint64_t kSkipBacklog = 64ull << 20;

std::string steps(milliseconds wait) {
  return std::to_string(wait.count() / kStep.count());
}

// Shell functions of every script, about the call's files /tmp/agent-runner-<id>.{out,ec,done}
// (few processes: each costs a fork in the sandbox). `st OFF MAX WAIT STREAM` waits up to WAIT
// steps for the exit code (returning after STREAM steps once output grew), then prints
// "AR1 <exit|-> <size>" and the base64 of at most MAX output bytes from offset OFF. The exit code
// is read before the size, so once it is known the size is final. When an answer reaches the end
// of a finished command's output, `done` marks the call as read; a small output stays for a while
// (an answer lost on the way can be asked again), a large one is emptied at once (`done` then
// says so, and asking again is an error).
// A call marked cancelled by `sessions rm --force` from another process ($b.cancel, see
// sessions.cpp) answers "AR1 cancelled" at once and leaves $b.cancel-seen for that process.
// `sweep` kills every process whose environment carries the call's marker (setsid and double
// forks keep it), three passes to catch forks that race the first.
std::string prelude(const std::string& id) {
  return "exec 2>/dev/null\n"
         "umask 077\n"
         "b=/tmp/agent-runner-" +
         id +
         "\n"
         "sz() { s=$(wc -c <\"$b.out\"); echo $((${s:-0})); }\n"
         "ec() { e=; [ -f \"$b.ec\" ] && { read -r e <\"$b.ec\" || e=; }; }\n"
         "st() {\n"
         "  i=0; ec\n"
         "  [ \"$4\" -lt \"$3\" ] && s0=$(sz)\n"
         "  while [ -z \"$e\" ] && [ \"$i\" -lt \"$3\" ] && [ ! -f \"$b" +
         DaytonaSandbox::kCancelMark +
         "\" ]; do\n"
         "    if [ \"$i\" -ge \"$4\" ] && [ \"$(sz)\" != \"$s0\" ]; then break; fi\n"
         "    sleep 0.005 || break\n"
         "    i=$((i+1)); ec\n"
         "  done\n"
         "  if [ -f \"$b" +
         DaytonaSandbox::kCancelMark + "\" ]; then : >\"$b" + DaytonaSandbox::kCancelSeen +
         "\"; echo 'AR1 cancelled'; return; fi\n"
         "  if [ -s \"$b.done\" ] || [ ! -f \"$b.out\" ]; then echo 'AR1 gone'; return; fi\n"
         "  n=$(sz)\n"
         "  echo \"AR1 ${e:--} $n\"\n"
         "  if [ \"$n\" -gt \"$1\" ]; then\n"
         "    if [ \"$1\" -eq 0 ] && [ \"$n\" -le \"$2\" ]; then base64 <\"$b.out\"\n"
         "    else tail -c +$(($1+1)) \"$b.out\" | head -c \"$2\" | base64; fi\n"
         "  fi\n"
         "  if [ -n \"$e\" ] && [ $((n-$1)) -le \"$2\" ]; then\n"
         "    if [ \"$n\" -gt " +
         std::to_string(kKeptAfterRead) +
         " ]; then true >\"$b.out\"; echo emptied >\"$b.done\"; else true >\"$b.done\"; fi\n"
         "  fi\n"
         "}\n"
         "sweep() {\n"
         "  for k in 1 2 3; do\n"
         "    f=$(grep -lsxz 'AR_EXEC_ID=" +
         id +
         "' /proc/[0-9]*/environ)\n"
         "    [ -n \"$f\" ] || break\n"
         "    for x in $f; do x=${x#/proc/}; kill -9 \"${x%/environ}\"; done\n"
         "  done\n"
         "}\n";
}

// Starts the command once: creating the output file exclusively (noclobber; with `true`, since a
// failed redirection of the special built-in `:` ends the shell) is the guard, so the
// same script sent again (a lost answer, a proxy's retry) only reports on the command already
// started. Finished calls' files (read to the end 10 minutes ago, or never read for a day) are
// swept in the background.
std::string start_script(const std::string& id, const std::string& command, const SandboxPath& cwd,
                         const std::vector<std::pair<std::string, std::string>>& env) {
  const std::string dir = shell_quote(cwd.display());
  std::string run = "exec env AR_EXEC_ID=" + id;
  for (const auto& [k, v] : env) run += " " + k + "=" + shell_quote(v);
  run += " /bin/sh -c " + shell_quote(command);
  return prelude(id) + "if [ ! -d " + dir + " ]; then\n  if [ -e " + dir +
         " ]; then echo 'AR1 notdir'; else echo 'AR1 nocwd'; fi\n  exit 0\nfi\n"
         "set -C\n"
         "if true >\"$b.out\"; then\n"
         "  set +C\n"
         "  ( ( cd " +
         dir + " && " + run +
         " ) </dev/null >>\"$b.out\" 2>&1\n"
         "    c=$?; sweep; echo \"$c\" >\"$b.ec\"\n"
         "  ) </dev/null >/dev/null 2>&1 &\n"
         "fi\n"
         "set +C\n"
         "{ find /tmp -maxdepth 1 \\( -name 'agent-runner-*.done' -mmin +10 \\) -o \\( -name "
         "'agent-runner-*.ec' -mmin +1440 \\) | while read -r x; do rm -f \"${x%.*}\".*; done; "
         "} </dev/null >/dev/null 2>&1 &\n"
         "st 0 " +
         std::to_string(kChunk) + " " + steps(kFirstWait) + " " + steps(kFirstWait) + "\n";
}

std::string status_script(const std::string& id, uint64_t offset, milliseconds wait) {
  return prelude(id) + "st " + std::to_string(offset) + " " + std::to_string(kChunk) + " " +
         steps(wait) + " " + steps(std::min(wait, kStreamAfter)) + "\n";
}

// Kills the command's processes, waits a moment for its exit code, then reads on.
std::string kill_script(const std::string& id, uint64_t offset) {
  return prelude(id) +
         "sweep\n"
         "i=0; ec; while [ -z \"$e\" ] && [ \"$i\" -lt 40 ]; do sleep 0.005 || break; "
         "i=$((i+1)); ec; done\n"
         "st " +
         std::to_string(offset) + " " + std::to_string(kChunk) + " 0 0\n";
}

// One answer of a script: the exit code once known, the output's total size, and the bytes read.
struct Poll {
  enum Kind { running, nocwd, notdir, gone, cancelled } kind = running;
  std::optional<int64_t> exit_code;
  uint64_t size = 0;
  std::string data;
};

Poll parse_poll(const ShortExec& r) {
  const std::string& out = r.output;
  const size_t nl = out.find('\n');
  const std::string head = out.substr(0, nl);
  Poll p;
  if (head == "AR1 gone") p.kind = Poll::gone;
  if (head == "AR1 nocwd") p.kind = Poll::nocwd;
  if (head == "AR1 notdir") p.kind = Poll::notdir;
  if (head == "AR1 cancelled") p.kind = Poll::cancelled;
  if (p.kind != Poll::running) return p;
  char e[32] = {0};
  unsigned long long size = 0;
  if (!head.starts_with("AR1 ") || std::sscanf(head.c_str(), "AR1 %31s %llu", e, &size) != 2)
    throw Error(AR_ERR_UNAVAILABLE,
                "execute: the sandbox could not run the command's helper script (it needs sh, "
                "tail, head, wc, base64): " +
                    sdk::utf8_sanitize(out.substr(0, 300)));
  if (std::string(e) != "-") p.exit_code = std::atoll(e);
  p.size = size;
  auto data = sdk::base64_decode(nl == std::string::npos ? "" : out.substr(nl + 1));
  if (!data) throw Error(AR_ERR_UNAVAILABLE, "execute: the sandbox sent output that is not base64");
  p.data = std::move(*data);
  return p;
}

}  // namespace

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
  const SandboxPath cwd = path(sdk::json_get::opt_string(req, "cwd").value_or("."));
  std::vector<std::pair<std::string, std::string>> env(cfg_.env.begin(), cfg_.env.end());
  for (auto& [k, v] : sdk::json_get::string_map(req, "env")) {
    if (!sdk::is_env_name(k))
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env name '" + k + "' is not valid");
    if (v.find('\0') != std::string::npos)
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env." + k + " contains a NUL byte");
    env.emplace_back(k, v);
  }

  const auto t0 = steady_clock::now();
  const std::string id = random_hex(12);
  sdk::HeadTail out(cfg_.max_output_bytes);
  uint64_t offset = 0;
  const std::function<bool()> cancelled_fn = [&call] { return call.cancelled(); };
  // Every script is safe to send twice (the start script's guard; reading is harmless).
  auto run = [&](const std::string& script, milliseconds wait, bool cancellable = true) {
    Poll p = parse_poll(run_short(script, duration<double>(wait).count() + kScriptMarginS, true,
                                  cancellable ? cancelled_fn : std::function<bool()>{}));
    if (p.kind == Poll::cancelled)
      throw Error(AR_ERR_CANCELLED,
                  "execute: cancelled: the session's sandbox " + id_ +
                      " is being removed (agent-runner sessions rm --force); the command's "
                      "processes were killed");
    if (p.kind == Poll::gone)
      throw Error(AR_ERR_UNAVAILABLE,
                  "execute: the command's output in the sandbox (/tmp/agent-runner-" + id +
                      ".out) is gone; an answer was probably lost on the way");
    if (p.kind != Poll::running) return p;
    if (p.data.empty() && offset < p.size)
      throw Error(AR_ERR_UNAVAILABLE, "execute: the sandbox sent no output from byte " +
                                          std::to_string(offset) + " of " + std::to_string(p.size) +
                                          " (are tail and head there?)");
    out.append(p.data);
    call.emit(AR_STREAM_STDOUT, p.data);
    offset += p.data.size();
    if (out.head_full() && p.size > offset + out.tail_cap() + kSkipBacklog) {
      const uint64_t skip = p.size - out.tail_cap() - offset;
      out.skip(skip);
      offset += skip;
      call.emit(AR_STREAM_STDOUT, "\n... [" + std::to_string(skip) + " bytes not streamed] ...\n");
    }
    return p;
  };

  Poll p = run(start_script(id, command, cwd, env), kFirstWait);
  if (p.kind == Poll::nocwd) missing(cwd, "execute: cwd");
  if (p.kind == Poll::notdir)
    throw Error(AR_ERR_NOT_A_DIRECTORY, "execute: cwd " + cwd.display() + ": not a directory");
  bool timed_out = false, cancelled = false;
  milliseconds wait = kFirstWait * 2;
  const auto deadline = t0 + duration_cast<steady_clock::duration>(duration<double>(timeout_s));
  while (!(p.exit_code && offset >= p.size)) {
    milliseconds w{0};
    const auto now = steady_clock::now();
    if (call.cancelled()) {
      cancelled = true;
      break;
    }
    // A finished command's output is read to the end; a running one is stopped at the deadline,
    // even while its output keeps us busy.
    if (!p.exit_code && timeout_s > 0 && now >= deadline) {
      timed_out = true;
      break;
    }
    if (!p.exit_code && offset >= p.size) {
      // Nothing left to read: wait in the sandbox (not here) for the exit or more output.
      w = wait;
      if (timeout_s > 0)
        w = std::min(w, duration_cast<milliseconds>(deadline - now) + milliseconds(1));
      wait = std::min(wait * 2, kMaxWait);
    }
    try {
      p = run(status_script(id, offset, w), w);
    } catch (const Error& e) {
      if (e.status() == AR_ERR_NOT_FOUND || e.status() == AR_ERR_UNAVAILABLE) {
        // The sandbox deleted under the command (`sessions rm --force` of another process that
        // did not wait for this poll): the command is gone with it, as if cancelled.
        std::optional<json::object> sb;
        try {
          sb = api_->get_sandbox(id_);
        } catch (const Error&) {
          throw e;
        }
        if (!sb || sandbox_state(*sb) == "destroying" || sandbox_state(*sb) == "destroyed")
          throw Error(AR_ERR_CANCELLED, "execute: cancelled: sandbox " + id_ +
                                            " was deleted while the command ran (agent-runner "
                                            "sessions rm --force?)");
      }
      if (e.status() != AR_ERR_CANCELLED) throw;
      cancelled = true;
      break;
    }
  }
  if (timed_out || cancelled) {
    // No process of the command outlives the call; what it printed before it died is kept.
    p = run(kill_script(id, offset), milliseconds(200), false);
    for (int i = 0; i < 1024 && offset < p.size; ++i)
      p = run(status_script(id, offset, {}), {}, false);
  }
  if (cancelled)
    throw Error(AR_ERR_CANCELLED, "execute: cancelled; the command's processes were killed");
  const int64_t ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();
  // stderr goes to the same file as stdout, the only way to keep the order of the writes: the
  // output is all in `stdout` (and `output`), `stderr` stays empty.
  const std::string text = sdk::utf8_sanitize(out.text());
  return Result::ok({{"exit_code", timed_out ? 124 : p.exit_code.value_or(-1)},
                     {"output", text},
                     {"stdout", text},
                     {"stderr", ""},
                     {"truncated", out.truncated()},
                     {"timed_out", timed_out},
                     {"duration_ms", ms},
                     {"stdout_bytes", static_cast<int64_t>(out.total())},
                     {"stderr_bytes", 0}});
}

}  // namespace agent_runner::daytona
