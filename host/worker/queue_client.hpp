// SPDX-License-Identifier: Apache-2.0
// What every queue command (worker, submit, status, cancel, queue) needs first: the Redis
// endpoint from the configuration and a connection, each failure as one clear line on stderr.
#pragma once

#include "config.hpp"
#include "worker/redis_client.hpp"

#include <boost/system/result.hpp>

#include <memory>
#include <optional>
#include <string_view>

namespace agent_runner::worker {

// Null (and the reason printed) when Redis is not configured: local mode without REDIS_HOST.
std::optional<RedisEndpoint> redis_endpoint(const Config& cfg, std::string_view command);

// Connects (password checked, server pinged). Null with the reason printed on failure.
std::unique_ptr<RedisClient> connect_queue(const Config& cfg, std::string_view command);

// Creates the stream and the consumer group when missing. The error says why it could not (the
// key holds something else). Throws RedisError when the connection is lost.
boost::system::result<void, std::string> create_queue_group(RedisClient& redis,
                                                            const std::string& queue);
// The same, printing the reason; false on failure.
bool ensure_queue(RedisClient& redis, const std::string& queue, std::string_view command);

// Parses a positive integer option value; prints the problem and returns null otherwise.
std::optional<long long> parse_count(std::string_view command, std::string_view flag,
                                     const std::string& value, long long min, long long max);

}  // namespace agent_runner::worker
