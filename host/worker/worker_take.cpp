// SPDX-License-Identifier: Apache-2.0
// Taking work: the reader thread (fresh entries with XREADGROUP, those of dead consumers with
// XAUTOCLAIM, never more than the free slots) and starting what it delivered.
#include "worker/queue_client.hpp"
#include "worker/worker_impl.hpp"

#include <unistd.h>

#include <algorithm>

namespace agent_runner::worker {
using std::chrono::milliseconds;

namespace {

// Starting a job: refuses one that is already finished or cancelled (its entry is only
// acknowledged), otherwise marks it running with this attempt. Atomic, so `cancel` and two
// workers never disagree about whether it started.
constexpr const char* kStartScript = R"lua(
local s = redis.call('HGET', KEYS[1], 'status')
if s == 'cancelled' or s == 'succeeded' or s == 'failed' or s == 'dead' then return s end
redis.call('HDEL', KEYS[1], 'exit_code', 'finished_at', 'duration_ms', 'error', 'signal',
           'steps_ok', 'steps_failed', 'steps_tolerated')
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[1], 'attempt', ARGV[2],
           'started_at', ARGV[3], 'workload', ARGV[4])
return 'running'
)lua";

std::map<std::string, std::string> field_map(const RedisReply& flat) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < flat.elements.size(); i += 2)
    out[flat.elements[i].str] = flat.elements[i + 1].str;
  return out;
}

}  // namespace

void Worker::Impl::ensure_group(RedisClient& c) {
  if (auto created = create_queue_group(c, o.queue); !created)
    throw RedisError(created.error(), false);
}

void Worker::Impl::release_slots(int n) {
  if (n <= 0) return;
  {
    std::lock_guard lock(mutex);
    free_slots += n;
  }
  cv.notify_all();
}

bool Worker::Impl::deliver(Delivery d) {
  {
    std::lock_guard lock(mutex);
    if (!active_entries.insert(d.entry).second) return false;
    inbox.push_back(std::move(d));
  }
  uint64_t one = 1;
  (void)!::write(wake_fd, &one, sizeof one);
  return true;
}

void Worker::Impl::done_with(const std::string& entry) {
  {
    std::lock_guard lock(mutex);
    active_entries.erase(entry);
  }
  release_slots(1);
}

int Worker::Impl::reclaim(RedisClient& rd, int want, std::string& cursor) {
  auto r = rd.command({"XAUTOCLAIM", o.queue, kGroup, o.consumer,
                       std::to_string(lease_ms().count()), cursor, "COUNT", std::to_string(want)});
  if (r.is_error() || !r.is_array() || r.elements.size() < 2) {
    if (r.is_error() && r.str.rfind("NOGROUP", 0) == 0) ensure_group(rd);
    return 0;
  }
  cursor = r.elements[0].str;
  int got = 0;
  for (const auto& e : r.elements[1].elements) {
    if (!e.is_array() || e.elements.size() < 2) continue;  // deleted meanwhile
    Delivery d;
    d.entry = e.elements[0].str;
    {
      std::lock_guard lock(mutex);
      if (active_entries.count(d.entry)) continue;  // ours already: a late refresh
    }
    d.fields = field_map(e.elements[1]);
    auto p = rd.command({"XPENDING", o.queue, kGroup, d.entry, d.entry, "1"});
    if (p.is_array() && !p.elements.empty() && p.elements[0].elements.size() >= 4)
      d.deliveries = p.elements[0].elements[3].integer;
    metrics.reclaimed++;
    log->info("reclaimed entry {} (delivery {}) after its lease of {}s expired", d.entry,
              d.deliveries, o.lease.count());
    if (deliver(std::move(d))) ++got;
  }
  return got;
}

void Worker::Impl::read_loop() {
  RedisEndpoint ep = o.redis;
  const milliseconds block = std::min(milliseconds(1000), lease_ms() / 4);
  ep.command_timeout = block + milliseconds(5000);
  ep.connect_timeout = milliseconds(1000);
  RedisClient rd(ep);
  std::string cursor = "0-0";
  auto next_reclaim = Clock::now();
  bool warned = false;
  for (;;) {
    int want = 0;
    {
      std::unique_lock lock(mutex);
      cv.wait_for(lock, milliseconds(200), [&] { return stop_reading || free_slots > 0; });
      if (stop_reading) break;
      want = free_slots;
      free_slots = 0;  // reserved: never more entries than free slots
    }
    if (want == 0) continue;
    int got = 0;
    try {
      if (!rd.ensure_connected()) {
        if (!warned) log->warn("{}; retrying with backoff", rd.last_error());
        warned = true;
        release_slots(want);
        std::this_thread::sleep_for(milliseconds(100));
        continue;
      }
      if (warned) log->info("reconnected to Redis at {}", o.redis.where());
      warned = false;
      reader_reconnects = rd.reconnects();
      if (Clock::now() >= next_reclaim) {
        got += reclaim(rd, want, cursor);
        next_reclaim = Clock::now() + std::max(milliseconds(250), lease_ms() / 4);
      }
      if (got < want) {
        auto r = rd.command(
            {"XREADGROUP", "GROUP", kGroup, o.consumer, "COUNT", std::to_string(want - got),
             "BLOCK", std::to_string(block.count()), "STREAMS", o.queue, ">"},
            ep.command_timeout);
        if (r.is_error()) {
          if (r.str.rfind("NOGROUP", 0) == 0) {
            ensure_group(rd);  // the stream was deleted under us
          } else {
            log->warn("XREADGROUP on {}: {}", o.queue, r.str);
            std::this_thread::sleep_for(milliseconds(500));
          }
        } else if (r.is_array()) {
          for (const auto& stream : r.elements) {
            if (stream.elements.size() < 2) continue;
            for (const auto& e : stream.elements[1].elements) {
              if (e.elements.size() < 2) continue;
              if (deliver({e.elements[0].str, field_map(e.elements[1]), 1})) ++got;
            }
          }
        }
      }
    } catch (const RedisError& e) {
      if (!warned) log->warn("{}; retrying with backoff", e.what());
      warned = true;
    }
    release_slots(want - got);
  }
}

Worker::Impl::Taken Worker::Impl::take(Delivery& d) {
  auto field = [&](const char* k) -> std::string {
    auto it = d.fields.find(k);
    return it == d.fields.end() ? "" : it->second;
  };
  const std::string id = field("id");
  const bool id_ok = is_valid_job_id(id);
  if (!id_ok || !d.fields.count("workload")) {
    dead_letter(d, id_ok ? id : "", "",
                !id_ok ? "not a job: the entry has no valid `id` field (submit with "
                         "`agent-runner submit`)"
                       : "not a job: the entry has no `workload` field",
                2);
    return Taken::handled;
  }
  auto parsed = parse_job(field("workload"), o.job_max_bytes);
  std::string name;
  if (parsed.job) name = std::string(parsed.job->document.at("name").get_string());
  if (d.deliveries > o.max_attempts) {
    std::string last;
    try {
      if (!ctl.ensure_connected()) return Taken::later;
      last = ctl.command({"HGET", job_key(id), "error"}).str;
    } catch (const RedisError&) {
      return Taken::later;
    }
    dead_letter(d, id, name,
                "delivered " + std::to_string(d.deliveries) + " times, more than max_attempts (" +
                    std::to_string(o.max_attempts) + ")" +
                    (last.empty() ? "" : "; last error: " + last),
                1);
    return Taken::handled;
  }
  if (!parsed.job) {
    dead_letter(d, id, "", "invalid job: " + parsed.error, 2);
    return Taken::handled;
  }
  std::string state;
  const std::string started_at = iso8601_now();
  try {
    if (!ctl.ensure_connected()) return Taken::later;
    flush();
    auto r = ctl.command({"EVAL", kStartScript, "1", job_key(id), o.consumer,
                          std::to_string(d.deliveries), started_at, name});
    if (r.is_error()) {
      log->warn("cannot start job {}: {}", id, r.str);
      return Taken::later;
    }
    state = r.str;
  } catch (const RedisError&) {
    return Taken::later;
  }
  if (parse_job_status(state) != JobStatus::running) {
    log->info("job {} is already {}: acknowledging entry {} without running it", id, state,
              d.entry);
    finish_entry(id, d.entry);
    return Taken::handled;
  }
  Job job;
  job.id = id;
  job.entry = d.entry;
  job.workload = name;
  job.attempt = d.deliveries;
  job.started = Clock::now();
  job.started_at = started_at;
  if (auto spawned = spawn(job, field("workload")); !spawned) {
    log->error("job {}: cannot start its process: {}", id, spawned.error());
    send({"HSET", job_key(id), "status", std::string(job_status_name(JobStatus::queued)), "error",
          spawned.error()});
    return Taken::handled;  // unacknowledged: taken over after the lease, an attempt
  }
  metrics.started++;
  metrics.running++;
  log->info("job {} started: workload {}, attempt {}", id, name, job.attempt);
  jobs.emplace(job.pid, std::move(job));
  return Taken::started;
}

void Worker::Impl::take_inbox() {
  uint64_t n;
  (void)!::read(wake_fd, &n, sizeof n);
  std::deque<Delivery> got;
  {
    std::lock_guard lock(mutex);
    got.swap(inbox);
  }
  for (auto& d : got) waiting.push_back(std::move(d));
}

void Worker::Impl::start_waiting() {
  while (!waiting.empty()) {
    if (draining) {
      // Left pending: another worker takes them over after the lease.
      for (const auto& d : waiting) done_with(d.entry);
      waiting.clear();
      return;
    }
    auto taken = take(waiting.front());
    if (taken == Taken::later) return;
    if (taken == Taken::handled) done_with(waiting.front().entry);
    waiting.pop_front();
  }
}

}  // namespace agent_runner::worker
