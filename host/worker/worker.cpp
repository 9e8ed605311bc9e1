#include "worker/worker.hpp"

#include "events.hpp"
#include "logging.hpp"
#include "worker/job.hpp"
#include "worker/queue_client.hpp"
#include "worker/session_expiry.hpp"
#include "worker/spawn.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace agent_runner::worker {
namespace json = boost::json;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

// A stream entry handed to this worker: read fresh, or reclaimed from a dead consumer.
struct Delivery {
  std::string entry;
  std::map<std::string, std::string> fields;
  long long deliveries = 1;
};

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

// The lease: resets the idle time of the entries this consumer still owns (XCLAIM JUSTID does not
// count a delivery) and returns them; an entry another worker took over is left alone, so a job
// never runs twice at the same time.
constexpr const char* kRefreshScript = R"lua(
local mine = {}
for i = 2, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], 'agent-runner', ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[1] then
    redis.call('XCLAIM', KEYS[1], 'agent-runner', ARGV[1], 0, ARGV[i], 'JUSTID')
    mine[#mine + 1] = ARGV[i]
  end
end
return mine
)lua";

std::string signal_name(int sig) {
  const char* d = sigdescr_np(sig);
  const char* n = sigabbrev_np(sig);
  return std::to_string(sig) + " (SIG" + (n ? n : "?") + (d ? std::string(", ") + d : "") + ")";
}

std::map<std::string, std::string> field_map(const RedisReply& flat) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i + 1 < flat.elements.size(); i += 2)
    out[flat.elements[i].str] = flat.elements[i + 1].str;
  return out;
}

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

struct Worker::Impl {
  // One running job attempt.
  struct Job {
    std::string id, entry, workload;
    long long attempt = 1;
    pid_t pid = -1;
    int events_fd = -1;
    std::string partial;
    Clock::time_point started;
    std::string started_at;
    std::set<int64_t> tolerant_steps;  // continue_on_error
    int tolerated = 0;
    std::optional<json::object> finished;  // the child's workload.finished
    bool cancel_requested = false;
    bool drain_cancelled = false;
    bool lost_lease = false;
    std::optional<Clock::time_point> term_sent;
    bool killed = false;
    std::string dir;  // the job's private directory (its inlined files)
  };

  WorkerOptions o;
  std::shared_ptr<spdlog::logger> log = component_logger("worker");
  WorkerMetrics metrics;
  std::unique_ptr<MetricsServer> metrics_server;
  RedisClient ctl;

  // Shared with the reader thread.
  std::mutex mutex;
  std::condition_variable cv;
  int free_slots = 0;
  std::deque<Delivery> inbox;
  std::set<std::string> active_entries;  // delivered to this worker and not yet done with
  bool stop_reading = false;
  std::atomic<uint64_t> reader_reconnects{0};
  int wake_fd = -1;
  std::thread reader;

  std::map<pid_t, Job> jobs;
  std::deque<Delivery> waiting;  // taken, not yet started (Redis was away)
  std::deque<std::vector<std::string>> outbox;
  size_t outbox_bytes = 0;
  static constexpr size_t kOutboxMax = 64u << 20;

  std::optional<SessionExpiry> expiry;  // session_ttl

  sigset_t signals_set{};
  int signal_fd = -1;
  int signals = 0;
  bool draining = false;
  Clock::time_point drain_deadline;
  Clock::time_point next_refresh, next_cancel_poll, next_flush_warn;

  explicit Impl(WorkerOptions opts) : o(std::move(opts)), ctl(o.redis) {}

  milliseconds lease_ms() const { return std::chrono::duration_cast<milliseconds>(o.lease); }

  // ---- queue setup -------------------------------------------------------------------------
  void ensure_group(RedisClient& c) {
    if (auto e = create_queue_group(c, o.queue); !e.empty()) throw RedisError(e, false);
  }

  // ---- reader thread -----------------------------------------------------------------------
  void release_slots(int n) {
    if (n <= 0) return;
    {
      std::lock_guard lock(mutex);
      free_slots += n;
    }
    cv.notify_all();
  }

  // Hands an entry to the main loop; false when this worker holds it already (a reclaim of an
  // entry whose refresh came late, or that waits for Redis to come back).
  bool deliver(Delivery d) {
    {
      std::lock_guard lock(mutex);
      if (!active_entries.insert(d.entry).second) return false;
      inbox.push_back(std::move(d));
    }
    uint64_t one = 1;
    (void)!::write(wake_fd, &one, sizeof one);
    return true;
  }

  // The main loop is done with an entry it did not run (or whose process ended): its slot is
  // free again.
  void done_with(const std::string& entry) {
    {
      std::lock_guard lock(mutex);
      active_entries.erase(entry);
    }
    release_slots(1);
  }

  int reclaim(RedisClient& rd, int want, std::string& cursor) {
    auto r =
        rd.command({"XAUTOCLAIM", o.queue, kGroup, o.consumer, std::to_string(lease_ms().count()),
                    cursor, "COUNT", std::to_string(want)});
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

  void read_loop() {
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

  // ---- Redis writes, buffered across outages ----------------------------------------------
  void send(std::vector<std::string> cmd, bool droppable = false) {
    size_t bytes = 0;
    for (const auto& a : cmd) bytes += a.size();
    if (droppable && outbox_bytes + bytes > kOutboxMax) {
      metrics.events_dropped++;
      return;
    }
    outbox_bytes += bytes;
    outbox.push_back(std::move(cmd));
  }

  void flush() {
    while (!outbox.empty()) {
      if (!ctl.ensure_connected()) return;
      size_t n = std::min<size_t>(outbox.size(), 256);
      std::vector<std::vector<std::string>> batch(outbox.begin(),
                                                  outbox.begin() + static_cast<long>(n));
      try {
        auto replies = ctl.pipeline(batch);
        for (size_t i = 0; i < replies.size(); ++i)
          if (replies[i].is_error())
            log->warn("Redis refused {} {}: {}", batch[i][0],
                      batch[i].size() > 1 ? batch[i][1] : "", replies[i].str);
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

  void add_event(const std::string& id, std::string line, bool droppable) {
    send({"XADD", events_key(id), "MAXLEN", "~", std::to_string(o.events_maxlen), "*", "event",
          std::move(line)},
         droppable);
  }

  // A workload.finished of the worker's own, for an attempt whose process never wrote one.
  void add_final_event(const std::string& id, const std::string& workload,
                       const std::string& status, const std::string& code,
                       const std::string& message) {
    json::object e{{"ts", iso8601_now()},
                   {"event", "workload.finished"},
                   {"workload", workload},
                   {"status", status},
                   {"error", {{"code", code}, {"message", message}}},
                   {"steps_ok", 0},
                   {"steps_failed", 0},
                   {"duration_ms", 0}};
    add_event(id, json::serialize(e), false);
  }

  void finish_entry(const std::string& id, const std::string& entry) {
    if (!id.empty()) {
      send({"EXPIRE", job_key(id), std::to_string(o.expiry_s)});
      send({"EXPIRE", events_key(id), std::to_string(o.expiry_s)});
    }
    send({"XACK", o.queue, kGroup, entry});
    send({"XDEL", o.queue, entry});
  }

  void dead_letter(const Delivery& d, const std::string& id, const std::string& workload,
                   const std::string& reason, long long exit_code) {
    json::object fields;
    for (const auto& [k, v] : d.fields) fields[k] = v.substr(0, 64 * 1024);
    send({"XADD", dead_key(o.queue), "*", "id", id, "entry", d.entry, "reason", reason, "consumer",
          o.consumer, "deliveries", std::to_string(d.deliveries), "dead_at", iso8601_now(),
          "fields", json::serialize(fields)});
    if (!id.empty()) {
      send({"HSET", job_key(id), "status", "dead", "exit_code", std::to_string(exit_code), "error",
            reason, "finished_at", iso8601_now()});
      add_final_event(id, workload, "failed", "dead_lettered", reason);
    }
    finish_entry(id, d.entry);
    metrics.dead_lettered++;
    log->warn("entry {} (job {}) dead-lettered: {}", d.entry, id.empty() ? "?" : id, reason);
  }

  // ---- starting jobs -------------------------------------------------------------------------
  enum class Taken { later, handled, started };
  // `later` when Redis is away (the delivery waits); `handled` when no job process started.
  Taken take(Delivery& d) {
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
    if (state != "running") {
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
    const auto& steps = parsed.job->document.at("steps").get_array();
    for (size_t i = 0; i < steps.size(); ++i)
      if (const auto* c = steps[i].get_object().if_contains("continue_on_error");
          c && c->is_bool() && c->get_bool())
        job.tolerant_steps.insert(static_cast<int64_t>(i));
    std::string error;
    if (!spawn(job, field("workload"), error)) {
      log->error("job {}: cannot start its process: {}", id, error);
      send({"HSET", job_key(id), "status", "queued", "error", error});
      return Taken::handled;  // unacknowledged: taken over after the lease, an attempt
    }
    metrics.started++;
    metrics.running++;
    log->info("job {} started: workload {}, attempt {}", id, name, job.attempt);
    jobs.emplace(job.pid, std::move(job));
    return Taken::started;
  }

  bool spawn(Job& job, const std::string& payload, std::string& error) {
    int memfd = ::memfd_create("agent-runner-job", MFD_CLOEXEC);
    if (memfd < 0) {
      error = std::string("memfd_create: ") + std::strerror(errno);
      return false;
    }
    for (size_t off = 0; off < payload.size();) {
      ssize_t n = ::write(memfd, payload.data() + off, payload.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error = std::string("writing the job: ") + std::strerror(errno);
        ::close(memfd);
        return false;
      }
      off += static_cast<size_t>(n);
    }
    ::lseek(memfd, 0, SEEK_SET);
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      error = std::string("pipe: ") + std::strerror(errno);
      ::close(memfd);
      return false;
    }
    int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    const char* tmp = std::getenv("TMPDIR");
    std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/agent-runner-job-XXXXXX";
    if (!::mkdtemp(dir.data())) {
      error =
          "cannot create a directory for the job's files in " + dir + ": " + std::strerror(errno);
      ::close(memfd);
      ::close(p[0]);
      ::close(p[1]);
      if (devnull >= 0) ::close(devnull);
      return false;
    }
    job.dir = dir;
    std::vector<std::string> args = o.child_argv;
    args.insert(args.end(), {"--dir", dir});
    const pid_t pid = spawn_child(args, {{0, memfd}, {1, devnull}, {3, p[1]}});
    const int spawn_errno = errno;
    ::close(memfd);
    ::close(p[1]);
    if (devnull >= 0) ::close(devnull);
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(spawn_errno);
      ::close(p[0]);
      remove_dir(job.dir);
      return false;
    }
    ::fcntl(p[0], F_SETFL, ::fcntl(p[0], F_GETFL) | O_NONBLOCK);
    job.pid = pid;
    job.events_fd = p[0];
    return true;
  }

  static void remove_dir(const std::string& dir) {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  // ---- a running job's events ------------------------------------------------------------
  void forward_line(Job& job, std::string line) {
    std::string err;
    auto v = parse_bounded_json(line, o.job_max_bytes + (1u << 20), err);
    if (!v || !v->is_object()) {
      log->warn("job {}: its process wrote a line that is not a JSON event ({}); dropped", job.id,
                err);
      return;
    }
    const auto& e = v->get_object();
    const auto* kind = e.if_contains("event");
    const std::string k = kind && kind->is_string() ? std::string(kind->get_string()) : "";
    if (k == "step.finished") {
      const auto* ok = e.if_contains("ok");
      const auto* index = e.if_contains("index");
      if (ok && ok->is_bool() && !ok->get_bool() && index && index->is_number() &&
          job.tolerant_steps.count(index->to_number<int64_t>()))
        ++job.tolerated;
    } else if (k == "workload.finished") {
      job.finished = e;
    }
    add_event(job.id, std::move(line), k == "step.output");
  }

  // Reads what the job's process wrote; returns false at end of file.
  bool read_events(Job& job) {
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

  // ---- a job's end ----------------------------------------------------------------------------
  void finalize(Job& job, int status) {
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
    std::string result, error;
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
      send({"HSET", job_key(job.id), "status", "queued", "error",
            "attempt " + std::to_string(job.attempt) + " was stopped by the shutdown of worker " +
                o.consumer});
      log->info("job {} stopped by the shutdown: workload {}, attempt {}, left for another worker",
                job.id, job.workload, job.attempt);
      metrics.cancelled++;
      done_with(job.entry);
      return;
    }
    if (job.cancel_requested) {
      result = "cancelled";
      exit_code = 1;
      if (!job.finished)
        add_final_event(job.id, job.workload, "cancelled", "cancelled",
                        "cancelled with `agent-runner cancel`");
    } else if (job.finished && !signaled) {
      const auto* s = job.finished->if_contains("status");
      result = s && s->is_string() ? std::string(s->get_string()) : "failed";
      if (const auto* e = job.finished->if_contains("error"); e && e->is_object())
        if (const auto* m = e->get_object().if_contains("message"); m && m->is_string())
          error = std::string(m->get_string());
    } else {
      // The process died (a crashing plugin) or ended without finishing: a failed attempt.
      error = signaled
                  ? "attempt " + std::to_string(job.attempt) +
                        ": the job process was killed by signal " + signal_name(WTERMSIG(status))
                  : "attempt " + std::to_string(job.attempt) +
                        ": the job process exited with code " + std::to_string(code) +
                        " without finishing the workload";
      metrics.crashed++;
      log->warn("job {} (workload {}): {}", job.id, job.workload, error);
      std::vector<std::string> cmd{"HSET", job_key(job.id), "error", error};
      if (signaled) cmd.insert(cmd.end(), {"signal", std::to_string(WTERMSIG(status))});
      if (job.attempt < o.max_attempts) {
        cmd.insert(cmd.end(), {"status", "queued"});
        send(cmd);
        add_final_event(job.id, job.workload, "failed", "crashed",
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
    if (result == "succeeded")
      metrics.succeeded++;
    else if (result == "cancelled")
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
                                 result,
                                 "exit_code",
                                 std::to_string(exit_code),
                                 "steps_ok",
                                 num("steps_ok"),
                                 "steps_failed",
                                 num("steps_failed"),
                                 "steps_tolerated",
                                 std::to_string(job.tolerated),
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
              job.attempt, result, secs);
    done_with(job.entry);
  }

  void reap() {
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

  // ---- leases, cancellation, shutdown ---------------------------------------------------
  void refresh_leases() {
    if (jobs.empty() || !ctl.ensure_connected()) return;
    std::vector<std::string> cmd{"EVAL", kRefreshScript, "1", o.queue, o.consumer};
    std::vector<Job*> mine;
    for (auto& [pid, j] : jobs)
      if (!j.lost_lease) {
        cmd.push_back(j.entry);
        mine.push_back(&j);
      }
    if (mine.empty()) return;
    try {
      auto r = ctl.command(cmd);
      if (r.is_error()) {
        log->warn("lease refresh failed: {}", r.str);
        return;
      }
      std::set<std::string> kept;
      for (const auto& e : r.elements) kept.insert(e.str);
      for (Job* j : mine)
        if (!kept.count(j->entry)) {
          j->lost_lease = true;
          ::kill(-j->pid, SIGKILL);
        }
    } catch (const RedisError&) {
    }
  }

  void poll_cancels() {
    if (jobs.empty() || !ctl.connected()) return;
    std::vector<std::vector<std::string>> cmds;
    std::vector<Job*> order;
    for (auto& [pid, j] : jobs)
      if (!j.cancel_requested) {
        cmds.push_back({"HGET", job_key(j.id), "cancel_requested"});
        order.push_back(&j);
      }
    if (cmds.empty()) return;
    try {
      auto replies = ctl.pipeline(cmds);
      for (size_t i = 0; i < replies.size(); ++i)
        if (!replies[i].is_nil() && !replies[i].is_error()) {
          order[i]->cancel_requested = true;
          log->info("job {}: cancel requested", order[i]->id);
          stop(*order[i]);
        }
    } catch (const RedisError&) {
    }
  }

  // SIGTERM to the job's process: its runner cancels the running step (the plugin kills the
  // command's tree) and ends the workload as cancelled. SIGKILL to its group a second later.
  void stop(Job& j) {
    if (j.term_sent) return;
    ::kill(j.pid, SIGTERM);
    j.term_sent = Clock::now();
  }

  void escalate() {
    for (auto& [pid, j] : jobs)
      if (j.term_sent && !j.killed && Clock::now() - *j.term_sent >= milliseconds(1000)) {
        ::kill(-j.pid, SIGKILL);
        j.killed = true;
      }
  }

  void begin_drain() {
    draining = true;
    drain_deadline = Clock::now() + o.drain_timeout;
    {
      std::lock_guard lock(mutex);
      stop_reading = true;
    }
    cv.notify_all();
    log->info("draining: no new jobs; {} running may finish within {}s", jobs.size(),
              o.drain_timeout.count());
  }

  void cancel_all_for_shutdown() {
    for (auto& [pid, j] : jobs) {
      if (!j.cancel_requested) j.drain_cancelled = true;
      stop(j);
    }
  }

  void handle_signals() {
    signalfd_siginfo si{};
    while (::read(signal_fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      if (si.ssi_signo == SIGCHLD) {
        reap();
      } else if (++signals == 1) {
        log->info("signal {}: draining", signal_name(static_cast<int>(si.ssi_signo)));
        begin_drain();
      } else {
        log->warn("second signal: cancelling {} running jobs now (they go back to the queue)",
                  jobs.size());
        cancel_all_for_shutdown();
      }
    }
  }

  void take_inbox() {
    uint64_t n;
    (void)!::read(wake_fd, &n, sizeof n);
    std::deque<Delivery> got;
    {
      std::lock_guard lock(mutex);
      got.swap(inbox);
    }
    for (auto& d : got) waiting.push_back(std::move(d));
  }

  void start_waiting() {
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
};

Worker::Worker(WorkerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Worker::~Worker() = default;

void Worker::start() {
  auto& m = *impl_;
  // Signals arrive through a descriptor (run()); blocked before any thread starts (the metrics
  // server's), so every thread inherits the mask and none takes SIGTERM's default action.
  sigemptyset(&m.signals_set);
  for (int s : {SIGTERM, SIGINT, SIGCHLD}) sigaddset(&m.signals_set, s);
  ::pthread_sigmask(SIG_BLOCK, &m.signals_set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  m.ctl.connect();
  m.ensure_group(m.ctl);
  // Once running, a lost Redis must not stall the loop that watches the jobs for long.
  m.ctl.set_connect_timeout(milliseconds(1000));
  if (m.o.metrics_listen)
    m.metrics_server =
        std::make_unique<MetricsServer>(*m.o.metrics_listen, [&m] { return m.metrics.render(); });
}

int Worker::run() {
  auto& m = *impl_;
  m.signal_fd = ::signalfd(-1, &m.signals_set, SFD_NONBLOCK | SFD_CLOEXEC);
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // Processes a job leaves behind are reparented here and reaped.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  m.free_slots = m.o.concurrency;
  if (!m.o.expire_argv.empty()) m.expiry.emplace(m.o.expire_argv, m.o.expire_every);
  m.reader = std::thread([&m] { m.read_loop(); });
  m.log->info("worker {} serving queue {} at {} (concurrency {}, lease {}s, max_attempts {})",
              m.o.consumer, m.o.queue, m.o.redis.where(), m.o.concurrency, m.o.lease.count(),
              m.o.max_attempts);
  if (m.expiry)
    m.log->info("removing sessions unused for longer than session_ttl, checked every {}s",
                m.o.expire_every.count());
  const auto refresh_every = std::max(milliseconds(200), m.lease_ms() / 3);
  m.next_refresh = Clock::now() + refresh_every;
  m.next_cancel_poll = Clock::now();
  bool cancelled_for_drain = false;
  for (;;) {
    std::vector<pollfd> fds{{m.signal_fd, POLLIN, 0}, {m.wake_fd, POLLIN, 0}};
    std::vector<pid_t> order;
    for (auto& [pid, j] : m.jobs)
      if (j.events_fd >= 0) {
        fds.push_back({j.events_fd, POLLIN, 0});
        order.push_back(pid);
      }
    ::poll(fds.data(), fds.size(), 100);
    if (fds[0].revents) m.handle_signals();
    if (fds[1].revents) m.take_inbox();
    for (size_t i = 2; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto it = m.jobs.find(order[i - 2]);
      if (it == m.jobs.end() || it->second.events_fd < 0) continue;
      if (!m.read_events(it->second)) {
        ::close(it->second.events_fd);
        it->second.events_fd = -1;
      }
    }
    m.reap();
    m.start_waiting();
    const auto now = Clock::now();
    if (now >= m.next_cancel_poll) {
      m.poll_cancels();
      m.next_cancel_poll = now + milliseconds(200);
    }
    if (now >= m.next_refresh) {
      m.refresh_leases();
      m.next_refresh = now + refresh_every;
    }
    m.escalate();
    if (m.expiry && !m.draining) m.expiry->tick(now);
    m.flush();
    m.metrics.redis_reconnects = m.ctl.reconnects() + m.reader_reconnects.load();
    if (m.draining) {
      if (!cancelled_for_drain && now >= m.drain_deadline) {
        m.log->warn(
            "drain timeout ({}s) passed: cancelling {} running jobs (they go back to the "
            "queue)",
            m.o.drain_timeout.count(), m.jobs.size());
        m.cancel_all_for_shutdown();
        cancelled_for_drain = true;
      }
      if (m.jobs.empty()) break;
    }
  }
  if (m.reader.joinable()) m.reader.join();
  if (m.expiry) m.expiry->stop();
  {
    std::lock_guard lock(m.mutex);
    for (auto& d : m.inbox) m.waiting.push_back(std::move(d));
    m.inbox.clear();
  }
  // Last writes: a few seconds at most if Redis is away.
  for (auto until = Clock::now() + milliseconds(5000); !m.outbox.empty() && Clock::now() < until;) {
    m.flush();
    if (!m.outbox.empty()) std::this_thread::sleep_for(milliseconds(100));
  }
  if (!m.outbox.empty())
    m.log->warn("{} writes to Redis were lost at shutdown (Redis unreachable)", m.outbox.size());
  // A consumer with nothing pending leaves the group (`queue` lists live consumers only); one
  // with pending entries stays, so they can be reclaimed.
  try {
    if (m.ctl.ensure_connected()) {
      auto r = m.ctl.command({"XPENDING", m.o.queue, kGroup, "-", "+", "1", m.o.consumer});
      if (r.is_array() && r.elements.empty())
        m.ctl.command({"XGROUP", "DELCONSUMER", m.o.queue, kGroup, m.o.consumer});
    }
  } catch (const RedisError&) {
  }
  m.log->info("worker {} stopped", m.o.consumer);
  return 0;
}

}  // namespace agent_runner::worker
