// SPDX-License-Identifier: Apache-2.0
// A job's end: its process reaped, its status and result written to its hash, its entry
// acknowledged (or left for a retry, or dead-lettered), its directory and leftovers removed.
#include "worker/worker_impl.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>

namespace agent_runner::worker {
namespace json = boost::json;

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

std::string status_word(JobStatus s) {
  return std::string(job_status_name(s));
}

}  // namespace

std::string signal_name(int sig) {
  const char* d = sigdescr_np(sig);
  const char* n = sigabbrev_np(sig);
  return std::to_string(sig) + " (SIG" + (n ? n : "?") + (d ? std::string(", ") + d : "") + ")";
}

void Worker::Impl::finish_entry(const std::string& id, const std::string& entry) {
  if (!id.empty()) {
    send({"EXPIRE", job_key(id), std::to_string(o.expiry_s)});
    send({"EXPIRE", events_key(id), std::to_string(o.expiry_s)});
  }
  send({"XACK", o.queue, kGroup, entry});
  send({"XDEL", o.queue, entry});
}

void Worker::Impl::dead_letter(const Delivery& d, const std::string& id,
                               const std::string& workload, const std::string& reason,
                               long long exit_code) {
  json::object fields;
  for (const auto& [k, v] : d.fields) fields[k] = v.substr(0, 64 * 1024);
  send({"XADD", dead_key(o.queue), "*", "id", id, "entry", d.entry, "reason", reason, "consumer",
        o.consumer, "deliveries", std::to_string(d.deliveries), "dead_at", iso8601_now(), "fields",
        json::serialize(fields)});
  if (!id.empty()) {
    send({"HSET", job_key(id), "status", status_word(JobStatus::dead), "exit_code",
          std::to_string(exit_code), "error", reason, "finished_at", iso8601_now()});
    add_final_event(id, workload, JobStatus::failed, "dead_lettered", reason);
  }
  finish_entry(id, d.entry);
  metrics.dead_lettered++;
  log->warn("entry {} (job {}) dead-lettered: {}", d.entry, id.empty() ? "?" : id, reason);
}

void Worker::Impl::finalize(Job& job, int status) {
  if (job.events_fd >= 0) {
    read_events(job);  // what the process wrote before it ended
    ::close(job.events_fd);
    job.events_fd = -1;
  }
  ::kill(-job.pid, SIGKILL);  // anything of its process group left behind
  remove_dir(job.dir);
  metrics.running--;
  const double secs = seconds_between(job.started, Clock::now());
  metrics.observe_duration(secs);
  const std::string finished_at = iso8601_now();
  const bool signaled = WIFSIGNALED(status);
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  JobStatus result = JobStatus::failed;
  std::string error;
  long long exit_code = code;

  if (job.lost_lease) {
    log->warn(
        "job {}: another worker took it over (this worker's lease lapsed); its process "
        "was stopped, the other worker's result stands",
        job.id);
    done_with(job.entry);
    return;
  }
  if (job.drain_cancelled) {
    // Unacknowledged: another worker takes it over after the lease.
    send({"HSET", job_key(job.id), "status", status_word(JobStatus::queued), "error",
          "attempt " + std::to_string(job.attempt) + " was stopped by the shutdown of worker " +
              o.consumer});
    log->info("job {} stopped by the shutdown: workload {}, attempt {}, left for another worker",
              job.id, job.workload, job.attempt);
    metrics.cancelled++;
    done_with(job.entry);
    return;
  }
  if (job.cancel_requested) {
    result = JobStatus::cancelled;
    exit_code = 1;
    if (!job.finished)
      add_final_event(job.id, job.workload, JobStatus::cancelled, "cancelled",
                      "cancelled with `agent-runner cancel`");
  } else if (job.finished && !signaled) {
    // As the job's workload.finished says (succeeded, failed or cancelled).
    if (const auto* s = job.finished->if_contains("status"); s && s->is_string())
      result = parse_job_status(s->get_string()).value_or(JobStatus::failed);
    if (const auto* e = job.finished->if_contains("error"); e && e->is_object())
      if (const auto* m = e->get_object().if_contains("message"); m && m->is_string())
        error = std::string(m->get_string());
  } else {
    // The process died (a crashing plugin) or ended without finishing: a failed attempt.
    error = signaled
                ? "attempt " + std::to_string(job.attempt) +
                      ": the job process was killed by signal " + signal_name(WTERMSIG(status))
                : "attempt " + std::to_string(job.attempt) + ": the job process exited with code " +
                      std::to_string(code) + " without finishing the workload";
    metrics.crashed++;
    log->warn("job {} (workload {}): {}", job.id, job.workload, error);
    std::vector<std::string> cmd{"HSET", job_key(job.id), "error", error};
    if (signaled) cmd.insert(cmd.end(), {"signal", std::to_string(WTERMSIG(status))});
    if (job.attempt < o.max_attempts) {
      cmd.insert(cmd.end(), {"status", status_word(JobStatus::queued)});
      send(cmd);
      add_final_event(job.id, job.workload, JobStatus::failed, "crashed",
                      error + "; it will be retried after the lease (" +
                          std::to_string(o.lease.count()) + "s)");
      done_with(job.entry);
      return;
    }
    send(cmd);
    Delivery d{job.entry, {{"id", job.id}}, job.attempt};
    dead_letter(d, job.id, job.workload,
                "failed " + std::to_string(job.attempt) + " attempts (max_attempts " +
                    std::to_string(o.max_attempts) + "); last error: " + error,
                1);
    done_with(job.entry);
    return;
  }
  if (result == JobStatus::succeeded)
    metrics.succeeded++;
  else if (result == JobStatus::cancelled)
    metrics.cancelled++;
  else
    metrics.failed++;
  auto num = [&](const char* k) {
    if (!job.finished) return std::string("0");
    const auto* v = job.finished->if_contains(k);
    return v && v->is_number() ? std::to_string(v->to_number<int64_t>()) : std::string("0");
  };
  std::vector<std::string> cmd{"HSET",
                               job_key(job.id),
                               "status",
                               status_word(result),
                               "exit_code",
                               std::to_string(exit_code),
                               "steps_ok",
                               num("steps_ok"),
                               "steps_failed",
                               num("steps_failed"),
                               "steps_tolerated",
                               num("steps_tolerated"),
                               "worker",
                               o.consumer,
                               "attempt",
                               std::to_string(job.attempt),
                               "started_at",
                               job.started_at,
                               "finished_at",
                               finished_at,
                               "duration_ms",
                               std::to_string(static_cast<long long>(secs * 1000))};
  if (!error.empty()) cmd.insert(cmd.end(), {"error", error});
  send(cmd);
  finish_entry(job.id, job.entry);
  log->info("job {} finished: workload {}, attempt {}, {} in {:.1f}s", job.id, job.workload,
            job.attempt, job_status_name(result), secs);
  done_with(job.entry);
}

void Worker::Impl::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (expiry && expiry->reaped(pid, status)) continue;
    auto it = jobs.find(pid);
    if (it == jobs.end()) continue;  // an orphan of a job, reparented to us (subreaper)
    finalize(it->second, status);
    jobs.erase(it);
  }
}

}  // namespace agent_runner::worker
