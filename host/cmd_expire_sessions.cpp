// `agent-runner __expire-sessions --idle S --consumer NAME --lock-ms MS` (hidden): one sweep of
// `agent-runner worker` for the session_ttl setting, in a process of its own (a plugin that
// crashes loses this sweep only). Lists the selected plugin's sessions and removes those unused
// for at least S seconds. Several workers sweep the same sessions, so each removal is taken
// first as a short Redis lock, SET agent-runner:session-expiry:<type>:<sandbox> NX PX MS: one
// worker removes a session, the others skip it. The lock is left to expire, so a worker whose
// listing predates the removal cannot take it either; and the plugin checks the idle time again
// before removing (a session used meanwhile is kept).
#include "app.hpp"
#include "cli.hpp"
#include "duration.hpp"
#include "logging.hpp"
#include "redact.hpp"
#include "sessions.hpp"
#include "signals.hpp"
#include "worker/queue_client.hpp"

#include <unistd.h>

#include <iostream>

namespace agent_runner {
namespace {

struct ExpireArgs {
  long long idle_s = 0;
  std::string consumer;
  long long lock_ms = 60000;
};

// The lock of one session's removal. A sandbox id that is an absolute path names a directory of
// this machine (the filesystem plugin's workspaces): the same path on another worker's machine is
// another session, so the machine's name is part of its key.
std::string lock_key(const SessionsApi& api, const SessionInfo& s) {
  std::string where = s.sandbox_id.empty() ? s.session : s.sandbox_id;
  if (where.starts_with('/')) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) where = std::string(host) + ":" + where;
  }
  return "agent-runner:session-expiry:" + api.plugin().sandbox_type() + ":" + where;
}

int expire_command(App& app, const ExpireArgs& a) {
  auto log = component_logger("sessions");
  // Removals are the sweep's own output: shown unless the level was lowered (as the worker's).
  if (app.options().log_level == spdlog::level::warn) log->set_level(spdlog::level::info);
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  auto redis = worker::connect_queue(*cfg, "__expire-sessions");
  if (!redis) return kExitUsage;
  int code = kExitOk;
  auto api = open_sessions(app, code);
  if (!api) return code;
  std::vector<SessionInfo> all;
  OpResult r = api->list(all);
  if (!r.ok()) {
    if (r.status == AR_ERR_UNSUPPORTED) {
      log->warn("session_ttl: {}", api->unsupported_message());
      return kExitPlugin;
    }
    log->warn("session_ttl: listing sessions failed: {}: {}", r.code(),
              Redactor::global().redact(r.message()));
    return kExitFailure;
  }
  int worst = kExitOk;
  size_t removed = 0;
  const auto idle = idle_sessions(all, a.idle_s);
  const auto& stopping = install_cancel_signals();  // the worker shuts down
  for (const auto& s : idle) {
    if (stopping.load()) break;
    const std::string key = lock_key(*api, s);
    try {
      auto got = redis->command({"SET", key, a.consumer, "NX", "PX", std::to_string(a.lock_ms)});
      if (got.is_error()) {
        log->warn("session_ttl: Redis refused the lock {}: {}", key, got.str);
        return kExitFailure;
      }
      if (got.is_nil()) {
        log->debug("session {}: another worker is removing it", s.session);
        continue;
      }
    } catch (const worker::RedisError& e) {
      log->warn("session_ttl: {}", e.what());
      return kExitFailure;
    }
    OpResult d = api->destroy(s.session, /*force=*/false, a.idle_s);
    if (d.ok() && d.body.at("destroyed").as_bool()) {
      log->info("session {} (sandbox {}) removed: unused for {} (session_ttl {})", s.session,
                s.sandbox_id.empty() ? "-" : s.sandbox_id, format_duration(*s.idle_s),
                format_duration(a.idle_s));
      ++removed;
    } else if (d.ok() || d.status == AR_ERR_CONFLICT || d.status == AR_ERR_NOT_FOUND) {
      const auto* reason = d.body.if_contains("reason");
      log->info("session {} kept: {}", s.session,
                Redactor::global().redact(d.ok() ? (reason && reason->is_string()
                                                        ? std::string(reason->get_string())
                                                        : std::string("not removed"))
                                                 : d.message()));
    } else {
      log->warn("session {}: removing it failed: {}: {}", s.session, d.code(),
                Redactor::global().redact(d.message()));
      worst = kExitFailure;
    }
  }
  log->debug("session sweep: {} sessions, {} unused for {} or longer, {} removed", all.size(),
             idle.size(), format_duration(a.idle_s), removed);
  return worst;
}

}  // namespace

cli::Run cli::define_expire_sessions(CLI::App& cmd) {
  cmd.description("one sweep of the worker's session_ttl (internal)");
  auto a = std::make_shared<ExpireArgs>();
  cmd.add_option("--idle", a->idle_s, "seconds")->required()->check(whole_number(0, 1LL << 40));
  cmd.add_option("--consumer", a->consumer, "the worker's name")->required();
  cmd.add_option("--lock-ms", a->lock_ms, "lock time")->check(whole_number(1000, 86400000));
  return [a](App& app) { return expire_command(app, *a); };
}

}  // namespace agent_runner
