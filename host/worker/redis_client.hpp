// SPDX-License-Identifier: Apache-2.0
// A small synchronous Redis client over hiredis: connect and command timeouts, AUTH, replies
// copied into value types (no hiredis pointer escapes), and reconnection with exponential backoff
// for long-running users. One client per thread; it is not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct redisContext;

namespace agent_runner::worker {

struct RedisReply {
  enum class Type { nil, string, array, integer, status, error };
  Type type = Type::nil;
  std::string str;  // string, status and error replies
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool is_nil() const { return type == Type::nil; }
  bool is_error() const { return type == Type::error; }
  bool is_array() const { return type == Type::array; }
  // The string of a string/status reply, the decimal text of an integer, "" for nil.
  std::string text() const;
};

// What went wrong talking to Redis. `connection` errors (unreachable, reset, timeout) are worth
// retrying after a reconnect; the others (wrong password, a refused command) are not.
struct RedisError : std::runtime_error {
  RedisError(const std::string& message, bool connection_lost)
      : std::runtime_error(message), connection(connection_lost) {}
  bool connection;
};

struct RedisEndpoint {
  std::string host = "localhost";
  int port = 6379;
  std::optional<std::string> password;  // never logged or put in a message
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{5000};

  // "host:port", for messages.
  std::string where() const;
};

class RedisClient {
 public:
  explicit RedisClient(RedisEndpoint endpoint);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Connects, authenticates and pings. Throws RedisError with one clear sentence: unreachable,
  // wrong password, password required.
  void connect();
  bool connected() const { return ctx_ != nullptr; }
  void disconnect();

  // Runs one command. An error reply is returned (type error), not thrown; a lost connection
  // throws RedisError{connection=true} and leaves the client disconnected. `timeout` overrides the
  // command timeout for this call (blocking reads).
  RedisReply command(const std::vector<std::string>& args,
                     std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Sends every command, then reads every reply (one round trip).
  std::vector<RedisReply> pipeline(const std::vector<std::vector<std::string>>& commands);

  // For long-running users: reconnects when disconnected and the backoff has passed (100 ms,
  // doubling to 5 s, reset by a success). Returns whether the client is connected. Never throws.
  bool ensure_connected();
  // Successful reconnections after a loss (a metric).
  uint64_t reconnects() const { return reconnects_; }
  // Why the last connection attempt or command failed ("" when none did).
  const std::string& last_error() const { return last_error_; }
  const RedisEndpoint& endpoint() const { return endpoint_; }
  // For reconnections from now on.
  void set_connect_timeout(std::chrono::milliseconds t) { endpoint_.connect_timeout = t; }

 private:
  [[noreturn]] void lost(const std::string& what);

  RedisEndpoint endpoint_;
  redisContext* ctx_ = nullptr;
  bool ever_connected_ = false;
  uint64_t reconnects_ = 0;
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point next_attempt_{};
  std::string last_error_;
};

}  // namespace agent_runner::worker
