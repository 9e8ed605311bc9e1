// SPDX-License-Identifier: Apache-2.0
// The worker's inside, shared by the files that each hold one part of it:
//   worker.cpp           the loop and the lifecycle: start, signals, leases, cancels, drain
//   worker_take.cpp      the reader thread (XREADGROUP, XAUTOCLAIM) and starting a delivery
//   worker_spawn.cpp     a job's child process and its private directory
//   worker_forward.cpp   the child's events to Redis, and every Redis write (buffered)
//   worker_finalize.cpp  a job's end: status, acknowledgement, dead letters, cleanup
// Private to those files; the public face is worker.hpp.
#pragma once

#include "events.hpp"
#include "logging.hpp"
#include "worker/job.hpp"
#include "worker/session_expiry.hpp"
#include "worker/worker.hpp"

#include <boost/json.hpp>
#include <boost/system/result.hpp>

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace agent_runner::worker {

using Clock = std::chrono::steady_clock;

// A stream entry handed to this worker: read fresh, or reclaimed from a dead consumer.
struct Delivery {
  std::string entry;
  std::map<std::string, std::string> fields;
  long long deliveries = 1;
};

// "15 (SIGTERM, Terminated)".
std::string signal_name(int sig);

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
    std::optional<boost::json::object> finished;  // the child's workload.finished
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

  std::chrono::milliseconds lease_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(o.lease);
  }

  // ---- worker_take.cpp: the reader thread and starting what it delivered -------------------
  // Creates the stream and group when missing; throws RedisError when it cannot.
  void ensure_group(RedisClient& c);
  void release_slots(int n);
  // Hands an entry to the main loop; false when this worker holds it already (a reclaim of an
  // entry whose refresh came late, or that waits for Redis to come back).
  bool deliver(Delivery d);
  // The main loop is done with an entry it did not run (or whose process ended): its slot is
  // free again.
  void done_with(const std::string& entry);
  int reclaim(RedisClient& rd, int want, std::string& cursor);
  void read_loop();
  // `later` when Redis is away (the delivery waits); `handled` when no job process started.
  enum class Taken { later, handled, started };
  Taken take(Delivery& d);
  void take_inbox();
  void start_waiting();

  // ---- worker_spawn.cpp: a job's process -------------------------------------------------
  // Starts the job process with `payload` on its stdin and its events pipe on descriptor 3;
  // sets job.pid, job.events_fd and job.dir. The error says why it could not.
  boost::system::result<void, std::string> spawn(Job& job, const std::string& payload);
  static void remove_dir(const std::string& dir);

  // ---- worker_forward.cpp: events and Redis writes ---------------------------------------
  // Queues a write; a droppable one (step output) is dropped when the outbox is full.
  void send(std::vector<std::string> cmd, bool droppable = false);
  // Writes what is queued while Redis answers.
  void flush();
  void add_event(const std::string& id, std::string line, bool droppable);
  // A workload.finished of the worker's own, for an attempt whose process never wrote one.
  void add_final_event(const std::string& id, const std::string& workload, JobStatus status,
                       const std::string& code, const std::string& message);
  void forward_line(Job& job, std::string line);
  // Reads what the job's process wrote; returns false at end of file.
  bool read_events(Job& job);

  // ---- worker_finalize.cpp: a job's end --------------------------------------------------
  void finish_entry(const std::string& id, const std::string& entry);
  void dead_letter(const Delivery& d, const std::string& id, const std::string& workload,
                   const std::string& reason, long long exit_code);
  void finalize(Job& job, int status);
  void reap();

  // ---- worker.cpp: leases, cancellation, shutdown -----------------------------------------
  void refresh_leases();
  void poll_cancels();
  void stop(Job& j);
  void escalate();
  void begin_drain();
  void cancel_all_for_shutdown();
  void handle_signals();
};

}  // namespace agent_runner::worker
