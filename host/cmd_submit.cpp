// SPDX-License-Identifier: Apache-2.0
// `agent-runner submit`: workload files onto the Redis task queue, one job each.
#include "app.hpp"
#include "cli.hpp"
#include "events.hpp"
#include "redact.hpp"
#include "signals.hpp"
#include "worker/follow.hpp"
#include "worker/job.hpp"
#include "worker/queue_client.hpp"
#include "workload.hpp"
#include "workload_runner.hpp"

#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_generators.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace agent_runner {
namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

struct SubmitArgs {
  std::vector<std::string> files;
  bool follow = false, as_json = false;
  std::optional<std::string> events_target;
};

// Values known here that a job must not carry: the configuration's keys and passwords, and each
// workload's secrets as far as this machine can resolve them.
std::vector<std::pair<std::string, std::string>> known_secrets(const App& app, const Config& cfg,
                                                               const Workload& w) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto [name, value] : {std::pair{"STIGMER_API_KEY", &cfg.stigmer_api_key},
                             {"REDIS_PASSWORD", &cfg.redis_password},
                             {"DAYTONA_API_KEY", &cfg.daytona_api_key}})
    if (*value) out.emplace_back(name, **value);
  const auto* secrets = w.document.get_object().if_contains("secrets");
  if (!secrets) return out;
  for (const auto& kv : secrets->get_object()) {
    const auto& spec = kv.value().get_object();
    if (const auto* var = spec.if_contains("env")) {
      if (auto it = app.env().find(std::string(var->get_string())); it != app.env().end())
        out.emplace_back(std::string(kv.key()), it->second);
    } else if (const auto* f = spec.if_contains("file")) {
      std::ifstream in(w.local_path(std::string(f->get_string())), std::ios::binary);
      std::ostringstream ss;
      if (in && (ss << in.rdbuf())) {
        std::string v = ss.str();
        while (!v.empty() && (v.back() == '\n' || v.back() == '\r')) v.pop_back();
        out.emplace_back(std::string(kv.key()), v);
      }
    }
  }
  return out;
}

int submit_command(App& app, const SubmitArgs& a) {
  const auto& [files, follow, as_json, events_target] = a;
  if (files.empty()) {
    std::cerr << "agent-runner submit: no workload file given; usage: agent-runner submit "
                 "WORKLOAD... (see --help)\n";
    return kExitUsage;
  }
  if (events_target && !follow) {
    std::cerr << "agent-runner submit: --events needs --follow (the events come while following)\n";
    return kExitUsage;
  }

  // Secrets resolve on the worker that runs the job, not here.
  auto loaded = load_workloads(files, app.env(), "submit", /*resolve_secrets=*/false);
  if (!loaded) return kExitUsage;
  const std::vector<Workload>& workloads = *loaded;
  bool invalid = false;
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  std::vector<std::string> payloads;
  for (const auto& w : workloads) {
    auto secrets = known_secrets(app, *cfg, w);
    for (const auto& s : secrets) Redactor::global().add(s.second);
    auto built = worker::build_job(w, static_cast<size_t>(cfg->job_max_bytes), secrets);
    if (!built.error.empty()) {
      std::cerr << "agent-runner submit: " << w.file.string() << ": " << built.error << "\n";
      invalid = true;
    }
    payloads.push_back(std::move(built.json));
  }
  if (invalid) return kExitUsage;

  auto redis = worker::connect_queue(*cfg, "submit");
  if (!redis || !worker::ensure_queue(*redis, cfg->task_queue, "submit")) return kExitUsage;

  boost::uuids::random_generator uuid;
  std::vector<worker::FollowedJob> jobs;
  json::array listed;
  try {
    for (size_t i = 0; i < workloads.size(); ++i) {
      const std::string id = boost::uuids::to_string(uuid());
      const std::string now = iso8601_now();
      auto replies = redis->pipeline(
          {{"HSET", worker::job_key(id), "status", "queued", "workload", workloads[i].name, "file",
            workloads[i].file.string(), "queue", cfg->task_queue, "submitted_at", now, "attempt",
            "0"},
           {"XADD", cfg->task_queue, "*", "id", id, "workload", payloads[i], "submitted_at", now}});
      for (const auto& r : replies)
        if (r.is_error()) {
          std::cerr << "agent-runner submit: Redis refused the job for " << workloads[i].file
                    << ": " << r.str << "\n";
          return kExitUsage;
        }
      jobs.push_back({id, &workloads[i]});
      listed.push_back(
          {{"id", id}, {"file", workloads[i].file.string()}, {"workload", workloads[i].name}});
    }
  } catch (const worker::RedisError& e) {
    std::cerr << "agent-runner submit: " << e.what() << "\n";
    return kExitUsage;
  }
  // Job ids go to stdout, unless the events do.
  const int ids_fd = events_target && *events_target == "-" ? 2 : 1;
  if (as_json) {
    write_all(ids_fd, json::serialize(listed) + "\n");
  } else {
    for (const auto& j : jobs) write_all(ids_fd, j.id + "\n");
  }
  if (!follow) return kExitOk;

  int events_fd = -1;
  if (events_target && (events_fd = open_events_target(*events_target, "submit")) < 0)
    return kExitUsage;
  Console console(::isatty(2) == 1, jobs.size() == 1 && events_fd != 1);
  worker::FollowOptions fo;
  fo.events_fd = events_fd;
  fo.console = &console;
  fo.interrupted = &install_cancel_signals();
  fo.max_line_bytes = static_cast<size_t>(cfg->job_max_bytes) + (1u << 20);
  auto codes = worker::follow_jobs(*redis, jobs, fo);
  if (events_fd > 1) ::close(events_fd);
  int worst = kExitOk, ok = 0;
  for (int c : codes) {
    worst = std::max(worst, c);
    ok += c == kExitOk;
  }
  if (jobs.size() > 1)
    console.status(
        std::to_string(ok) + " of " + std::to_string(jobs.size()) + " workloads succeeded", true);
  return worst;
}

}  // namespace

cli::Run cli::define_submit(CLI::App& cmd) {
  cmd.description(R"(put workloads on the task queue; print the job ids

Validates each workload file like `run`, puts one job per file on the Redis task queue
(task_queue, default agent_execution_runner) and prints the job ids, one per line. Workers
(`agent-runner worker`, on any machine) run them.

The local files a workload names (upload.from, skills) travel inside the job, up to job_max_bytes
(default 16 MiB) in all. Secrets never do: {env: NAME} resolves in the worker's environment and
{file: PATH} on the worker's machine; a workload that would put a secret's value into the job
(in a command, an env value, a file it uploads) is refused.)");
  cmd.footer(
      R"(Exit code: 0 submitted (with --follow: every job succeeded); 1 a followed job failed or was
cancelled; 2 an invalid file, configuration or an unreachable Redis.
`agent-runner status ID`, `agent-runner cancel ID`, `agent-runner queue` tell more.)");
  auto a = std::make_shared<SubmitArgs>();
  cmd.add_option("WORKLOAD", a->files, "workload files (YAML or JSON)")->type_name(kFile);
  cmd.add_flag("--follow", a->follow,
               "wait for the jobs and show them as `run` does: the same progress\n"
               "lines, the commands' output, `download` results written here;\n"
               "exit with run's code");
  cmd.add_option("--events", a->events_target,
                 "with --follow: run's --events JSON lines, to FILE or stdout (-)")
      ->type_name("FILE|-");
  cmd.add_flag("--json", a->as_json,
               "print the submitted jobs as one JSON array ({\"id\",\"file\",\"workload\"})");
  return [a](App& app) { return submit_command(app, *a); };
}

}  // namespace agent_runner
