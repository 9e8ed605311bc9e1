// `agent-runner worker`: takes jobs from a Redis Streams task queue (consumer group
// "agent-runner"), runs each in its own child process (the host re-executed as `__run-job`), and
// forwards the child's events to Redis. At least once, never twice at the same time: running
// entries are refreshed well within the lease, idle entries of dead consumers are reclaimed, and
// an entry delivered more than max_attempts times goes to the dead-letter stream.
#pragma once

#include "worker/metrics.hpp"
#include "worker/redis_client.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner::worker {

struct WorkerOptions {
  RedisEndpoint redis;
  std::string queue;
  std::string consumer;
  int concurrency = 10;
  std::chrono::seconds drain_timeout{600};
  std::chrono::seconds lease{60};
  int max_attempts = 3;
  long long events_maxlen = 100000;
  long long expiry_s = 86400;
  size_t job_max_bytes = 16u << 20;
  // The job process: argv[0] is the executable (/proc/self/exe), the rest ends in "__run-job".
  std::vector<std::string> child_argv;
  std::optional<std::string> metrics_listen;
  // session_ttl: the command line of one sweep (`__expire-sessions ...`), run every
  // `expire_every`; empty: sessions are never expired.
  std::vector<std::string> expire_argv;
  std::chrono::seconds expire_every{60};
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Connects, checks the password and prepares the stream and group; binds the metrics port.
  // Throws RedisError or std::runtime_error with one clear sentence (the command exits 2).
  void start();
  // Serves until SIGTERM/SIGINT has drained it. Returns the exit code (0).
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace agent_runner::worker
