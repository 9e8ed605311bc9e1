// SPDX-License-Identifier: Apache-2.0
#include "worker/queue_client.hpp"

#include "worker/job.hpp"

#include <charconv>
#include <iostream>

namespace agent_runner::worker {

std::optional<RedisEndpoint> redis_endpoint(const Config& cfg, std::string_view command) {
  if (!cfg.redis_host) {
    std::cerr << "agent-runner " << command
              << ": Redis is not configured: the task queue lives in Redis, so REDIS_HOST must be "
                 "set (and REDIS_PORT, REDIS_PASSWORD when needed); in local mode Redis is used "
                 "only when REDIS_HOST is set\n";
    return std::nullopt;
  }
  RedisEndpoint ep;
  ep.host = *cfg.redis_host;
  ep.port = cfg.redis_port.value_or(6379);
  ep.password = cfg.redis_password;
  return ep;
}

std::unique_ptr<RedisClient> connect_queue(const Config& cfg, std::string_view command) {
  auto ep = redis_endpoint(cfg, command);
  if (!ep) return nullptr;
  auto client = std::make_unique<RedisClient>(*ep);
  try {
    client->connect();
  } catch (const RedisError& e) {
    std::cerr << "agent-runner " << command << ": " << e.what() << "\n";
    return nullptr;
  }
  return client;
}

boost::system::result<void, std::string> create_queue_group(RedisClient& redis,
                                                            const std::string& queue) {
  auto r = redis.command({"XGROUP", "CREATE", queue, kGroup, "0", "MKSTREAM"});
  if (!r.is_error() || r.str.rfind("BUSYGROUP", 0) == 0) return {};
  return "the Redis key '" + queue + "' at " + redis.endpoint().where() +
         (r.str.rfind("WRONGTYPE", 0) == 0 ? " is not a stream" : ": " + r.str) +
         "; pick another task_queue (TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE) or remove that "
         "key";
}

bool ensure_queue(RedisClient& redis, const std::string& queue, std::string_view command) {
  std::string error;
  try {
    if (auto created = create_queue_group(redis, queue); !created) error = created.error();
  } catch (const RedisError& e) {
    error = e.what();
  }
  if (!error.empty()) std::cerr << "agent-runner " << command << ": " << error << "\n";
  return error.empty();
}

std::optional<long long> parse_count(std::string_view command, std::string_view flag,
                                     const std::string& value, long long min, long long max) {
  long long v = 0;
  auto r = std::from_chars(value.data(), value.data() + value.size(), v);
  if (r.ec != std::errc() || r.ptr != value.data() + value.size() || v < min || v > max) {
    std::cerr << "agent-runner " << command << ": " << flag << " takes an integer from " << min
              << " to " << max << ", got '" << value << "'\n";
    return std::nullopt;
  }
  return v;
}

}  // namespace agent_runner::worker
