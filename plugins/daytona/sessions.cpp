// Sessions (ABI 1.1 list_sessions / destroy_session): a session is the sandbox labelled
// agent-runner.session=KEY (lifecycle.cpp creates it). Its last use is Daytona's lastActivityAt
// (toolbox calls through the proxy reset it; our own maintenance calls here say not to). "In use"
// means a command of an execute call is running in it: found in the sandbox itself, as a call's
// output file without an exit code whose marker (AR_EXEC_ID, execute.cpp) a live process still
// carries. `--force` marks those calls cancelled, kills their processes, and waits a little for
// the host processes polling them to see the mark, so that their execute ends as `cancelled`.
#include "labels.hpp"
#include "sandbox.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <thread>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;
using namespace std::chrono;

namespace {

// How long --force waits for the polling host processes to see their call cancelled: more than
// their longest poll (1 s in the sandbox plus a round trip).
constexpr milliseconds kCancelAckWait{5000};

// The time of the sandbox's last use: lastActivityAt, else (servers without it) updatedAt.
std::string last_use(const json::object& sb) {
  std::string t = str_member(sb, "lastActivityAt");
  return t.empty() ? str_member(sb, "updatedAt") : t;
}

json::value time_or_null(const std::string& iso) {
  if (!sdk::parse_iso_time_utc(iso)) return nullptr;
  return json::value(normalize_time(iso));
}

json::object entry(const json::object& sb, time_t now) {
  const std::string state = sandbox_state(sb);
  const std::string used = last_use(sb);
  json::object labels;
  if (auto it = sb.find("labels"); it != sb.end() && it->value().is_object())
    for (const auto& kv : it->value().as_object())
      if (kv.key() != kCreateTokenLabel) labels[kv.key()] = kv.value();
  json::object e{{"session", sandbox_label(sb, kSessionLabel)},
                 {"sandbox_id", sandbox_id(sb)},
                 {"name", str_member(sb, "name")},
                 // The words for a sandbox that runs; Daytona's own word stays below.
                 {"state", state == "started" ? std::string("running") : state},
                 {"daytona_state", state},
                 {"in_use", nullptr},
                 {"created_at", time_or_null(str_member(sb, "createdAt"))},
                 {"last_used_at", time_or_null(used)},
                 {"idle_s", nullptr},
                 {"size_bytes", nullptr},
                 {"labels", std::move(labels)}};
  if (auto t = sdk::parse_iso_time_utc(used))
    e["idle_s"] = static_cast<int64_t>(std::max<time_t>(0, now - *t));
  if (sb.contains("autoStopInterval")) e["auto_stop_interval"] = int_member(sb, "autoStopInterval");
  return e;
}

// "/tmp/agent-runner-<id>" of each running call, one id per line (execute.cpp's files).
constexpr const char* kRunningScript =
    "exec 2>/dev/null\n"
    "for f in /tmp/agent-runner-*.out; do\n"
    "  [ -f \"$f\" ] || continue\n"
    "  b=${f%.out}; [ -f \"$b.ec\" ] && continue\n"
    "  id=${b#/tmp/agent-runner-}\n"
    "  case $id in *[!0-9a-f]*) continue ;; esac\n"
    "  grep -qsxz \"AR_EXEC_ID=$id\" /proc/[0-9]*/environ && echo \"$id\"\n"
    "done\n"
    "true\n";

}  // namespace

std::vector<json::object> DaytonaSandbox::session_sandboxes(
    const std::optional<std::string>& only) {
  std::map<std::string, std::string> filter;
  if (only) filter[kSessionLabel] = *only;
  std::vector<json::object> out;
  for (auto& sb : api_->list_sandboxes(filter)) {
    const std::string key = sandbox_label(sb, kSessionLabel);
    if (key.empty() || (only && key != *only)) continue;
    const std::string state = sandbox_state(sb);
    if (state == "destroyed") continue;
    out.push_back(std::move(sb));
  }
  std::sort(out.begin(), out.end(), [](const json::object& a, const json::object& b) {
    return str_member(a, "createdAt") < str_member(b, "createdAt");
  });
  return out;
}

void DaytonaSandbox::maintain(const json::object& sb) {
  maintenance_ = true;
  id_ = sandbox_id(sb);
  toolbox_ = api_->toolbox_base(sb);
  unsigned major = 0, minor = 0;
  shell_stdin_ =
      std::sscanf(str_member(sb, "daemonVersion").c_str(), "%u.%u", &major, &minor) == 2 &&
      (major > 0 || minor >= 156);
}

std::vector<std::string> DaytonaSandbox::running_commands() {
  ShortExec r = run_short(kRunningScript, 30, true);
  std::vector<std::string> ids;
  size_t start = 0;
  for (size_t nl; (nl = r.output.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string id = r.output.substr(start, nl - start);
    if (!id.empty() && id.size() <= 64 &&
        id.find_first_not_of("0123456789abcdef") == std::string::npos)
      ids.push_back(std::move(id));
  }
  return ids;
}

void DaytonaSandbox::cancel_commands(const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  // Mark first (a poll that sees the mark answers cancelled, whatever the kill does to the exit
  // code), then kill every process carrying a marker, three passes (execute.cpp's sweep).
  std::string script = "exec 2>/dev/null\numask 077\n";
  for (const auto& id : ids) script += ": >/tmp/agent-runner-" + id + kCancelMark + "\n";
  script +=
      "for k in 1 2 3; do\n"
      "  for id in";
  for (const auto& id : ids) script += " " + id;
  script +=
      "; do\n"
      "    f=$(grep -lsxz \"AR_EXEC_ID=$id\" /proc/[0-9]*/environ)\n"
      "    for x in $f; do x=${x#/proc/}; kill -9 \"${x%/environ}\"; done\n"
      "  done\n"
      "done\n"
      "true\n";
  run_short(script, 30, true);
  host_.info("sandbox " + id_ + ": cancelled " + std::to_string(ids.size()) +
             " running command(s)");
  // The host processes running those calls answer `cancelled` at their next poll, which leaves
  // .cancel-seen. One that does not poll any more (it died) is not waited for beyond the bound.
  std::string check = "exec 2>/dev/null\nn=0\nfor id in";
  for (const auto& id : ids) check += " " + id;
  check += std::string("; do [ -f /tmp/agent-runner-$id") + kCancelSeen +
           " ] || n=$((n+1)); done\necho $n\n";
  const auto deadline = steady_clock::now() + kCancelAckWait;
  while (steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    if (run_short(check, 10, true).output.starts_with("0")) return;
  }
  host_.debug("sandbox " + id_ + ": not every cancelled call was seen by its host process");
}

Result DaytonaSandbox::list_sessions(sdk::PluginCall& call) {
  auto only = sdk::json_get::opt_string(call.request(), "session");
  DaytonaSandbox d(parse_config(call.config()), call.host(), only);
  d.api_->http().check_url(d.cfg_.api_url, "sandbox.api_url");
  const time_t now = std::time(nullptr);
  json::array out;
  for (const auto& sb : d.session_sandboxes(only)) {
    json::object e = entry(sb, now);
    // One session: whether a command runs in it, asked in the sandbox (one request; too many
    // for a listing of every session).
    if (only && sandbox_state(sb) == "started") {
      try {
        d.maintain(sb);
        e["in_use"] = !d.running_commands().empty();
      } catch (const Error& err) {
        d.host_.debug("sandbox " + sandbox_id(sb) +
                      ": cannot tell whether a command runs: " + err.what());
      }
    }
    out.push_back(std::move(e));
  }
  return Result::ok({{"sessions", std::move(out)}});
}

Result DaytonaSandbox::destroy_session(sdk::PluginCall& call) {
  const auto& req = call.request();
  const std::string session = sdk::json_get::string(req, "session");
  const bool force = sdk::json_get::boolean(req, "force", false);
  const int64_t idle_s = sdk::json_get::integer(req, "idle_s", -1);
  DaytonaSandbox d(parse_config(call.config()), call.host(), session);
  d.api_->http().check_url(d.cfg_.api_url, "sandbox.api_url");
  auto sandboxes = d.session_sandboxes(session);
  if (sandboxes.empty())
    throw Error(AR_ERR_NOT_FOUND, "no session '" + session + "': no Daytona sandbox is labelled " +
                                      kSessionLabel + "=" + session);
  if (idle_s >= 0) {
    // The host listed it as idle; used since then, it stays.
    const time_t now = std::time(nullptr);
    for (const auto& sb : sandboxes) {
      auto t = sdk::parse_iso_time_utc(last_use(sb));
      if (!t || now - *t < idle_s)
        return Result::ok({{"session", session},
                           {"destroyed", false},
                           {"sandbox_id", sandbox_id(sb)},
                           {"reason", t ? "used " + std::to_string(now - *t) + " s ago"
                                        : std::string("its last use is unknown")}});
    }
  }
  // What runs in each started sandbox: refused without force, cancelled with it.
  int64_t cancelled = 0;
  std::vector<std::pair<json::object, std::vector<std::string>>> running;
  for (const auto& sb : sandboxes) {
    if (sandbox_state(sb) != "started") continue;
    d.maintain(sb);
    auto ids = d.running_commands();
    if (ids.empty()) continue;
    if (!force)
      throw Error(AR_ERR_CONFLICT, std::to_string(ids.size()) + " command(s) running in sandbox " +
                                       sandbox_id(sb) + " of session '" + session + "'");
    running.emplace_back(sb, std::move(ids));
  }
  for (const auto& [sb, ids] : running) {
    d.maintain(sb);
    d.cancel_commands(ids);
    cancelled += static_cast<int64_t>(ids.size());
  }
  json::array removed;
  for (const auto& sb : sandboxes) {
    const std::string id = sandbox_id(sb);
    // Daytona deletes a sandbox in any settled state (no stop needed); during a state change it
    // answers 409, retried for a few seconds.
    if (d.api_->delete_sandbox(id, DaytonaApi::kDeleteAttempts) == DaytonaApi::Deleted::busy)
      throw Error(AR_ERR_CONFLICT, "sandbox " + id + " of session '" + session +
                                       "': Daytona still reports a state change in progress; "
                                       "try again in a moment");
    d.host_.info("session " + session + ": deleted sandbox " + id);
    removed.push_back(json::value(id));
  }
  return Result::ok({{"session", session},
                     {"destroyed", true},
                     {"sandbox_id", removed.front()},
                     {"sandbox_ids", std::move(removed)},
                     {"cancelled", cancelled}});
}

}  // namespace agent_runner::daytona
