// SPDX-License-Identifier: Apache-2.0
// `submit --follow`: reads submitted jobs' events streams from Redis and shows them as `run`
// would (the same progress lines, the same --events JSON lines), writes `download` results to
// this machine, and returns run's exit code.
#pragma once

#include "worker/redis_client.hpp"
#include "workload.hpp"
#include "workload_runner.hpp"

#include <atomic>
#include <string>
#include <vector>

namespace agent_runner::worker {

struct FollowedJob {
  std::string id;
  const Workload* workload;  // as loaded on this machine: where downloads go
};

struct FollowOptions {
  int events_fd = -1;  // --events: one JSON line per event
  Console* console = nullptr;
  const std::atomic<bool>* interrupted = nullptr;
  size_t max_line_bytes = 32u << 20;
};

// Follows every job to its end (its result hash says succeeded, failed, cancelled or dead).
// Returns each job's exit code (run's codes); all 1 when interrupted.
std::vector<int> follow_jobs(RedisClient& redis, const std::vector<FollowedJob>& jobs,
                             const FollowOptions& options);

}  // namespace agent_runner::worker
