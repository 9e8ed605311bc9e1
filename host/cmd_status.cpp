// SPDX-License-Identifier: Apache-2.0
// `agent-runner status JOB`: a job's result hash (README "Run a worker fleet").
#include "app.hpp"
#include "cli.hpp"
#include "worker/job.hpp"
#include "worker/queue_client.hpp"

#include <iostream>
#include <map>
#include <sstream>

namespace agent_runner {
namespace json = boost::json;

namespace {

constexpr const char* kNumeric[] = {"exit_code", "steps_ok", "steps_failed", "steps_tolerated",
                                    "attempt",   "signal",   "duration_ms"};

int status_command(App& app, const std::string& id_arg, bool as_json) {
  std::optional<std::string> id = id_arg;
  if (!id || !worker::is_valid_job_id(*id)) {
    std::cerr << "agent-runner status: give the job id `submit` printed (see --help)\n";
    return kExitUsage;
  }
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  auto redis = worker::connect_queue(*cfg, "status");
  if (!redis) return kExitUsage;
  std::map<std::string, std::string> h;
  try {
    auto r = redis->command({"HGETALL", worker::job_key(*id)});
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
      h[r.elements[i].str] = r.elements[i + 1].str;
  } catch (const worker::RedisError& e) {
    std::cerr << "agent-runner status: " << e.what() << "\n";
    return kExitUsage;
  }
  if (h.empty()) {
    std::cerr << "agent-runner status: no job " << *id << " at " << redis->endpoint().where()
              << " (never submitted there, or it expired job_expiry_s after it ended)\n";
    return kExitUsage;
  }
  if (as_json) {
    json::object o{{"id", *id}};
    for (const auto& [k, v] : h) {
      bool numeric = false;
      for (const char* n : kNumeric) numeric = numeric || k == n;
      try {
        o[k] = numeric ? json::value(std::stoll(v)) : json::value(v);
      } catch (const std::exception&) {
        o[k] = v;
      }
    }
    write_all(1, json::serialize(o) + "\n");
    return kExitOk;
  }
  auto get = [&](const char* k) { return h.count(k) ? h[k] : std::string("-"); };
  std::ostringstream out;
  out << "job " << *id << ": " << get("status") << "\n"
      << "  workload     " << get("workload") << " (" << get("file") << ")\n"
      << "  submitted    " << get("submitted_at") << "\n";
  if (h.count("started_at"))
    out << "  started      " << get("started_at") << " on " << get("worker") << ", attempt "
        << get("attempt") << "\n";
  if (h.count("finished_at"))
    out << "  finished     " << get("finished_at") << ", exit code " << get("exit_code") << "\n";
  if (h.count("steps_ok"))
    out << "  steps        " << get("steps_ok") << " ok, " << get("steps_failed") << " failed ("
        << get("steps_tolerated") << " tolerated)\n";
  if (h.count("error")) out << "  error        " << get("error") << "\n";
  if (h.count("cancel_requested") && get("status") == "running")
    out << "  cancel requested " << get("cancel_requested") << "\n";
  write_all(1, out.str());
  return kExitOk;
}

}  // namespace

cli::Run cli::define_status(CLI::App& cmd) {
  cmd.description(R"(a job's result: status, exit code, steps, worker, attempt

Shows a submitted job from its Redis hash agent-runner:job:JOB: status (queued, running,
succeeded, failed, cancelled, dead), exit code, steps ok/failed/tolerated, the worker and
attempt, started/finished times and the last error. Results expire job_expiry_s (default 24 h)
after the job ended.)");
  cmd.footer("Exit code: 0 the job was found; 2 no such job, or Redis is unreachable.");
  auto id = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd.add_option("JOB", *id, "the job id `submit` printed")->required()->type_name("JOB");
  cmd.add_flag("--json", *json, "one JSON object with those fields (numbers as numbers)");
  return [id, json](App& app) { return status_command(app, *id, *json); };
}

}  // namespace agent_runner
