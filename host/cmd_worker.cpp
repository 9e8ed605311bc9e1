// `agent-runner worker`: serves the Redis Streams task queue (README "Run a worker fleet").
#include "app.hpp"
#include "worker/queue_client.hpp"
#include "worker/worker.hpp"

#include <unistd.h>

#include <iostream>

namespace agent_runner {
namespace {

constexpr const char* kWorkerHelp =
    R"(Usage: agent-runner worker [--concurrency N] [--queue NAME] [--consumer NAME]
                          [--drain-timeout S] [--metrics-listen ADDR:PORT]

Takes jobs (`agent-runner submit`) from the Redis stream NAME, consumer group "agent-runner", and
runs at most N at once, each in a process of its own, in the sandbox MODE selects. Start as many
workers as needed, on as many machines, against one Redis.

  --concurrency N          jobs at once (default: max_concurrency, TEMPORAL_MAX_CONCURRENCY, 10)
  --queue NAME             the stream (default: task_queue, agent_execution_runner)
  --consumer NAME          this worker's name in the group (default: <hostname>-<pid>)
  --drain-timeout S        after SIGTERM/SIGINT, seconds running jobs may take to finish
                           (default: drain_timeout_s, 600)
  --metrics-listen A:P     serve Prometheus metrics on http://A:P/metrics

Redis: REDIS_HOST, REDIS_PORT, REDIS_PASSWORD (cloud mode defaults to localhost:6379; local mode
needs REDIS_HOST). A wrong password or an unreachable server exits 2 at once; once running, the
worker reconnects with backoff and its running jobs carry on.

Guarantees: at least once, never twice at the same time. A running job's entry is refreshed
well within lease_s (default 60); the entries of a worker that died are taken over after
lease_s; an entry delivered more than max_attempts (default 3) times, or that is not a valid job,
goes to the stream NAME:dead with the reason. Workloads should be safe to repeat.

SIGTERM/SIGINT: stop taking jobs, let running ones finish within the drain timeout, then cancel
them and leave them for another worker; exit 0. A second signal cancels them at once.

Secrets never enter Redis: {env: NAME} resolves in this worker's environment, {file: PATH} on
this machine (relative paths from the worker's working directory).
)";

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

// The job process: this very executable (also after an upgrade replaced the file), with the
// worker's global options.
std::vector<std::string> job_command(const GlobalOptions& g) {
  std::vector<std::string> argv{"/proc/self/exe"};
  const auto& c = g.cli;
  if (c.config_file) argv.insert(argv.end(), {"--config", *c.config_file});
  if (c.mode) argv.insert(argv.end(), {"--mode", *c.mode});
  if (c.sandbox_type) argv.insert(argv.end(), {"--sandbox-type", *c.sandbox_type});
  if (c.sandbox_root_dir) argv.insert(argv.end(), {"--sandbox-root-dir", *c.sandbox_root_dir});
  for (const auto& d : c.plugin_dirs) argv.insert(argv.end(), {"--plugin-dir", d});
  argv.insert(argv.end(), {"--log-level", level_name(g.log_level), "--log-format",
                           g.log_format == LogFormat::json ? "json" : "text", "__run-job"});
  return argv;
}

}  // namespace

int cmd_worker(App& app, const std::vector<std::string>& args) {
  std::optional<std::string> queue, consumer, metrics;
  std::optional<long long> concurrency, drain;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= args.size()) {
        std::cerr << "agent-runner worker: " << a << " needs a value (see --help)\n";
        return std::nullopt;
      }
      return args[++i];
    };
    std::optional<std::string> v;
    if (a == "-h" || a == "--help") {
      std::cout << kWorkerHelp;
      return kExitOk;
    } else if (a == "--concurrency") {
      if (!(v = value()) || !(concurrency = worker::parse_count("worker", a, *v, 1, 10000)))
        return kExitUsage;
    } else if (a == "--drain-timeout") {
      if (!(v = value()) || !(drain = worker::parse_count("worker", a, *v, 0, 86400)))
        return kExitUsage;
    } else if (a == "--queue") {
      if (!(queue = value())) return kExitUsage;
    } else if (a == "--consumer") {
      if (!(consumer = value())) return kExitUsage;
    } else if (a == "--metrics-listen") {
      if (!(metrics = value())) return kExitUsage;
    } else {
      std::cerr << "agent-runner worker: unknown argument '" << a << "' (see --help)\n";
      return kExitUsage;
    }
  }
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  auto endpoint = worker::redis_endpoint(*cfg, "worker");
  if (!endpoint) return kExitUsage;
  app.plugins();  // warnings about plugin files once, here, not per job

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
  o.child_argv = job_command(app.options());
  o.metrics_listen = metrics;
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

}  // namespace agent_runner
