// SPDX-License-Identifier: Apache-2.0
// `agent-runner cancel JOB`: stops a queued or running job (README "Run a worker fleet").
#include "app.hpp"
#include "cli.hpp"
#include "events.hpp"
#include "worker/job.hpp"
#include "worker/queue_client.hpp"

#include <chrono>
#include <iostream>
#include <thread>

namespace agent_runner {
namespace json = boost::json;

namespace {

// Atomic with a worker's start (the same hash field): a queued job becomes cancelled here and a
// worker that takes it later only acknowledges it; a running one gets cancel_requested, which its
// worker polls. The queued case also ends the job's events stream, for `submit --follow`.
constexpr const char* kCancelScript = R"lua(
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return false end
if s == 'queued' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'exit_code', '1', 'finished_at', ARGV[1],
             'cancel_requested', ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
  return 'cancelled'
end
if s == 'running' then redis.call('HSET', KEYS[1], 'cancel_requested', ARGV[1]) end
return s
)lua";

int cancel_command(App& app, const std::string& id) {
  if (!worker::is_valid_job_id(id)) {
    std::cerr << "agent-runner cancel: give one job id, as `submit` printed it (see --help)\n";
    return kExitUsage;
  }
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  auto redis = worker::connect_queue(*cfg, "cancel");
  if (!redis) return kExitUsage;
  try {
    const std::string now = iso8601_now();
    auto name = redis->command({"HGET", worker::job_key(id), "workload"}).str;
    json::object fin{{"ts", now},
                     {"event", "workload.finished"},
                     {"workload", name},
                     {"status", "cancelled"},
                     {"error",
                      {{"code", "cancelled"},
                       {"message", "cancelled with `agent-runner cancel` before it started"}}},
                     {"steps_ok", 0},
                     {"steps_failed", 0},
                     {"duration_ms", 0}};
    auto r = redis->command({"EVAL", kCancelScript, "2", worker::job_key(id),
                             worker::events_key(id), now, std::to_string(cfg->job_expiry_s),
                             std::to_string(cfg->events_maxlen), json::serialize(fin)});
    if (r.is_error()) {
      std::cerr << "agent-runner cancel: Redis refused: " << r.str << "\n";
      return kExitUsage;
    }
    if (r.is_nil()) {
      std::cerr << "agent-runner cancel: no job " << id << " at " << redis->endpoint().where()
                << " (never submitted there, or it expired after it ended)\n";
      return kExitUsage;
    }
    std::string status = r.str;
    if (status != "running" && status != "cancelled") {
      std::cout << "job " << id << " had already ended: " << status << "\n";
      return kExitFailure;
    }
    for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
         status == "running" && std::chrono::steady_clock::now() < until;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      status = redis->command({"HGET", worker::job_key(id), "status"}).str;
    }
    std::cout << "job " << id << ": " << status << "\n";
    if (status == "running") {
      std::cerr << "agent-runner cancel: the job is still running after 10 s; its worker may be "
                   "unreachable (it stops the job when it sees the request)\n";
      return kExitFailure;
    }
    return status == "cancelled" ? kExitOk : kExitFailure;
  } catch (const worker::RedisError& e) {
    std::cerr << "agent-runner cancel: " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace

cli::Run cli::define_cancel(CLI::App& cmd) {
  cmd.description(R"(stop a queued or running job

Cancels a submitted job. A queued job is marked cancelled at once (no worker runs it); a running
one is stopped by its worker within about a second: the running step is cancelled, its processes
killed, the sandbox released. Waits up to 10 s for the job to end and prints its status.)");
  cmd.footer(
      R"(Exit code: 0 the job is cancelled; 1 it had already ended (its status is printed) or did not
stop within 10 s; 2 no such job, or Redis is unreachable.)");
  auto id = std::make_shared<std::string>();
  cmd.add_option("JOB", *id, "the job id `submit` printed")->required()->type_name("JOB");
  return [id](App& app) { return cancel_command(app, *id); };
}

}  // namespace agent_runner
