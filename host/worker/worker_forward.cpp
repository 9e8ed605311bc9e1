// SPDX-License-Identifier: Apache-2.0
// From the worker to Redis: every write goes through a bounded outbox that survives a Redis
// outage (step output is dropped first when it is full), and the job process's event lines are
// checked and appended to the job's events stream.
#include "worker/worker_impl.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace agent_runner::worker {
namespace json = boost::json;

void Worker::Impl::send(std::vector<std::string> cmd, bool droppable) {
  size_t bytes = 0;
  for (const auto& a : cmd) bytes += a.size();
  if (droppable && outbox_bytes + bytes > kOutboxMax) {
    metrics.events_dropped++;
    return;
  }
  outbox_bytes += bytes;
  outbox.push_back(std::move(cmd));
}

void Worker::Impl::flush() {
  while (!outbox.empty()) {
    if (!ctl.ensure_connected()) return;
    size_t n = std::min<size_t>(outbox.size(), 256);
    std::vector<std::vector<std::string>> batch(outbox.begin(),
                                                outbox.begin() + static_cast<long>(n));
    try {
      auto replies = ctl.pipeline(batch);
      for (size_t i = 0; i < replies.size(); ++i)
        if (replies[i].is_error())
          log->warn("Redis refused {} {}: {}", batch[i][0], batch[i].size() > 1 ? batch[i][1] : "",
                    replies[i].str);
    } catch (const RedisError& e) {
      log->warn("{}; {} writes wait for the reconnection", e.what(), outbox.size());
      return;
    }
    for (size_t i = 0; i < n; ++i) {
      for (const auto& a : outbox.front()) outbox_bytes -= a.size();
      outbox.pop_front();
    }
  }
}

void Worker::Impl::add_event(const std::string& id, std::string line, bool droppable) {
  send({"XADD", events_key(id), "MAXLEN", "~", std::to_string(o.events_maxlen), "*", "event",
        std::move(line)},
       droppable);
}

void Worker::Impl::add_final_event(const std::string& id, const std::string& workload,
                                   JobStatus status, const std::string& code,
                                   const std::string& message) {
  json::object e{{"ts", iso8601_now()},
                 {"event", "workload.finished"},
                 {"workload", workload},
                 {"status", job_status_name(status)},
                 {"error", {{"code", code}, {"message", message}}},
                 {"steps_ok", 0},
                 {"steps_failed", 0},
                 {"duration_ms", 0}};
  add_event(id, json::serialize(e), false);
}

void Worker::Impl::forward_line(Job& job, std::string line) {
  auto v = parse_bounded_json(line, o.job_max_bytes + (1u << 20));
  if (!v || !v->is_object()) {
    log->warn("job {}: its process wrote a line that is not a JSON event ({}); dropped", job.id,
              v ? std::string() : v.error());
    return;
  }
  const auto& e = v->get_object();
  const auto* kind = e.if_contains("event");
  const std::string k = kind && kind->is_string() ? std::string(kind->get_string()) : "";
  if (k == "workload.finished") {
    job.finished = e;
  }
  add_event(job.id, std::move(line), k == "step.output");
}

bool Worker::Impl::read_events(Job& job) {
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(job.events_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return true;  // EAGAIN
    if (n == 0) return false;
    job.partial.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t nl; (nl = job.partial.find('\n', start)) != std::string::npos; start = nl + 1)
      forward_line(job, job.partial.substr(start, nl - start));
    job.partial.erase(0, start);
    if (job.partial.size() > o.job_max_bytes + (1u << 20)) {
      log->warn("job {}: an event line over {} bytes; dropped", job.id, job.partial.size());
      job.partial.clear();
    }
  }
}

}  // namespace agent_runner::worker
