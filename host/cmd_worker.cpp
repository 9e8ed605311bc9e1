// SPDX-License-Identifier: Apache-2.0
// `agent-runner worker`: serves the Redis Streams task queue (README "Run a worker fleet").
#include "app.hpp"
#include "cli.hpp"
#include "worker/queue_client.hpp"
#include "worker/worker.hpp"

#include <unistd.h>

#include <algorithm>
#include <iostream>

namespace agent_runner {
namespace {

struct WorkerArgs {
  std::optional<std::string> queue, consumer, metrics;
  std::optional<long long> concurrency, drain;
};

const char* level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    default:
      return "off";
  }
}

// A job process (`__run-job`) or a session sweep (`__expire-sessions`): this very executable
// (also after an upgrade replaced the file), with the worker's global options.
std::vector<std::string> child_command(const GlobalOptions& g, const char* command) {
  std::vector<std::string> argv{"/proc/self/exe"};
  const auto& c = g.cli;
  if (c.config_file) argv.insert(argv.end(), {"--config", *c.config_file});
  for (const auto& [name, value] : c.settings)
    if (const Setting* s = find_setting(name); s && s->flag)
      argv.insert(argv.end(), {s->flag, value});
  for (const auto& d : c.plugin_dirs) argv.insert(argv.end(), {"--plugin-dir", d});
  argv.insert(argv.end(), {"--log-level", level_name(g.log_level), "--log-format",
                           g.log_format == LogFormat::json ? "json" : "text", command});
  return argv;
}

int worker_command(App& app, const WorkerArgs& a) {
  const auto& [queue, consumer_flag, metrics, concurrency, drain] = a;
  std::optional<std::string> consumer = consumer_flag;
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  auto endpoint = worker::redis_endpoint(*cfg, "worker");
  if (!endpoint) return kExitUsage;
  app.selected_plugins();  // warnings about plugin files once, here, not per job

  worker::WorkerOptions o;
  o.redis = *endpoint;
  o.queue = queue.value_or(cfg->task_queue);
  if (o.queue.empty()) {
    std::cerr << "agent-runner worker: the queue name is empty\n";
    return kExitUsage;
  }
  if (!consumer) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    consumer = std::string(host) + "-" + std::to_string(::getpid());
  }
  o.consumer = *consumer;
  o.concurrency = static_cast<int>(concurrency.value_or(cfg->max_concurrency));
  o.drain_timeout = std::chrono::seconds(drain.value_or(cfg->drain_timeout_s));
  o.lease = std::chrono::seconds(cfg->lease_s);
  o.max_attempts = cfg->max_attempts;
  o.events_maxlen = cfg->events_maxlen;
  o.expiry_s = cfg->job_expiry_s;
  o.job_max_bytes = static_cast<size_t>(cfg->job_max_bytes);
  o.child_argv = child_command(app.options(), "__run-job");
  o.metrics_listen = metrics;
  if (cfg->session_ttl_s && *cfg->session_ttl_s > 0) {
    o.expire_every = std::chrono::seconds(cfg->session_check_s);
    // Held until it expires: long enough that no worker's listing outlives it.
    const long long lock_ms = std::max(60000LL, 2000LL * cfg->session_check_s);
    o.expire_argv = child_command(app.options(), "__expire-sessions");
    o.expire_argv.insert(o.expire_argv.end(),
                         {"--idle", std::to_string(*cfg->session_ttl_s), "--consumer", o.consumer,
                          "--lock-ms", std::to_string(lock_ms)});
  }
  // Job start and end lines are the worker's own output: shown unless the level was lowered.
  if (app.options().log_level == spdlog::level::warn)
    component_logger("worker")->set_level(spdlog::level::info);

  worker::Worker w(std::move(o));
  try {
    w.start();
  } catch (const std::exception& e) {
    std::cerr << "agent-runner worker: " << e.what() << "\n";
    return kExitUsage;
  }
  return w.run();
}

}  // namespace

cli::Run cli::define_worker(CLI::App& cmd) {
  cmd.description(R"(run jobs from the Redis task queue (REDIS_HOST)

Takes jobs (`agent-runner submit`) from the Redis stream NAME, consumer group "agent-runner", and
runs at most N at once, each in a process of its own, in the sandbox MODE selects. Start as many
workers as needed, on as many machines, against one Redis.)");
  cmd.footer(
      R"(Redis: REDIS_HOST, REDIS_PORT, REDIS_PASSWORD (cloud mode defaults to localhost:6379; local mode
needs REDIS_HOST). A wrong password or an unreachable server exits 2 at once; once running, the
worker reconnects with backoff and its running jobs carry on.

Guarantees: at least once, never twice at the same time. A running job's entry is refreshed
well within lease_s (default 60); the entries of a worker that died are taken over after
lease_s; an entry delivered more than max_attempts (default 3) times, or that is not a valid job,
goes to the stream NAME:dead with the reason. Workloads should be safe to repeat.

SIGTERM/SIGINT: stop taking jobs, let running ones finish within the drain timeout, then cancel
them and leave them for another worker; exit 0. A second signal cancels them at once.

Sessions: with the session_ttl setting (e.g. 7d), the worker removes sessions unused for longer
than that, every session_check_s (60) seconds; of several workers only one removes a session (a
short Redis lock per session). See `agent-runner sessions --help`.

Secrets never enter Redis: {env: NAME} resolves in this worker's environment, {file: PATH} on
this machine (relative paths from the worker's working directory).)");
  auto a = std::make_shared<WorkerArgs>();
  cmd.add_option("--concurrency", a->concurrency,
                 "jobs at once (default: max_concurrency, TEMPORAL_MAX_CONCURRENCY, 10)")
      ->type_name("N")
      ->check(whole_number(1, 10000));
  cmd.add_option("--queue", a->queue, "the stream (default: task_queue, agent_execution_runner)")
      ->type_name("NAME");
  cmd.add_option("--consumer", a->consumer,
                 "this worker's name in the group (default: <hostname>-<pid>)")
      ->type_name("NAME");
  cmd.add_option("--drain-timeout", a->drain,
                 "after SIGTERM/SIGINT, seconds running jobs may take to finish\n"
                 "(default: drain_timeout_s, 600)")
      ->type_name("S")
      ->check(whole_number(0, 86400));
  cmd.add_option("--metrics-listen", a->metrics,
                 "serve Prometheus metrics on http://ADDR:PORT/metrics")
      ->type_name("ADDR:PORT");
  return [a](App& app) { return worker_command(app, *a); };
}

}  // namespace agent_runner
