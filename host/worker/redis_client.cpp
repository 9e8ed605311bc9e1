// SPDX-License-Identifier: Apache-2.0
#include "worker/redis_client.hpp"

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <algorithm>

namespace agent_runner::worker {
namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

RedisReply copy_reply(const redisReply* r) {
  RedisReply out;
  if (!r) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

struct ArgvView {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  explicit ArgvView(const std::vector<std::string>& args) {
    for (const auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
  }
};

}  // namespace

std::string RedisReply::text() const {
  if (type == Type::integer) return std::to_string(integer);
  return str;
}

std::string RedisEndpoint::where() const {
  return host + ":" + std::to_string(port);
}

RedisClient::RedisClient(RedisEndpoint endpoint) : endpoint_(std::move(endpoint)) {}

RedisClient::~RedisClient() {
  disconnect();
}

void RedisClient::disconnect() {
  if (ctx_) redisFree(ctx_);
  ctx_ = nullptr;
}

void RedisClient::lost(const std::string& what) {
  std::string msg = "Redis at " + endpoint_.where() + ": " + what;
  disconnect();
  last_error_ = msg;
  throw RedisError(msg, true);
}

void RedisClient::connect() {
  disconnect();
  redisContext* c = redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port,
                                            to_timeval(endpoint_.connect_timeout));
  if (!c || c->err) {
    std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    last_error_ = "cannot reach Redis at " + endpoint_.where() + ": " + why;
    throw RedisError(last_error_ + " (check REDIS_HOST and REDIS_PORT, and that redis-server runs)",
                     true);
  }
  redisSetTimeout(c, to_timeval(endpoint_.command_timeout));
  redisEnableKeepAlive(c);
  ctx_ = c;
  auto fail = [&](const std::string& msg) {
    disconnect();
    last_error_ = msg;
    throw RedisError(msg, false);
  };
  if (endpoint_.password && !endpoint_.password->empty()) {
    auto r = command({"AUTH", *endpoint_.password});
    if (r.is_error()) {
      // The server's text ("WRONGPASS invalid username-password pair") never holds the password.
      if (r.str.find("no password is set") != std::string::npos ||
          r.str.find("without any password") != std::string::npos)
        fail("Redis at " + endpoint_.where() +
             " has no password but REDIS_PASSWORD is set: unset it or configure requirepass");
      fail("Redis at " + endpoint_.where() +
           " refused the password (REDIS_PASSWORD): " + r.str.substr(0, r.str.find(' ')));
    }
  }
  auto pong = command({"PING"});
  if (pong.is_error()) {
    if (pong.str.rfind("NOAUTH", 0) == 0)
      fail("Redis at " + endpoint_.where() +
           " requires a password: set REDIS_PASSWORD (or redis_password in the config file)");
    fail("Redis at " + endpoint_.where() + " answered PING with an error: " + pong.str);
  }
  if (ever_connected_) ++reconnects_;
  ever_connected_ = true;
  backoff_ = std::chrono::milliseconds(0);
  last_error_.clear();
}

bool RedisClient::ensure_connected() {
  if (ctx_) return true;
  auto now = std::chrono::steady_clock::now();
  if (now < next_attempt_) return false;
  try {
    connect();
    return true;
  } catch (const RedisError&) {
    backoff_ =
        std::clamp(backoff_ * 2, std::chrono::milliseconds(100), std::chrono::milliseconds(5000));
    next_attempt_ = now + backoff_;
    return false;
  }
}

RedisReply RedisClient::command(const std::vector<std::string>& args,
                                std::optional<std::chrono::milliseconds> timeout) {
  if (!ctx_) lost("not connected");
  if (timeout) redisSetTimeout(ctx_, to_timeval(*timeout));
  ArgvView v(args);
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(args.size()), v.argv.data(), v.lens.data()));
  if (!r) lost(ctx_->errstr[0] ? ctx_->errstr : "connection lost");
  RedisReply out = copy_reply(r);
  freeReplyObject(r);
  if (timeout) redisSetTimeout(ctx_, to_timeval(endpoint_.command_timeout));
  return out;
}

std::vector<RedisReply> RedisClient::pipeline(
    const std::vector<std::vector<std::string>>& commands) {
  if (!ctx_) lost("not connected");
  for (const auto& args : commands) {
    ArgvView v(args);
    if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), v.argv.data(), v.lens.data()) !=
        REDIS_OK)
      lost(ctx_->errstr);
  }
  std::vector<RedisReply> out;
  out.reserve(commands.size());
  for (size_t i = 0; i < commands.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r)
      lost(ctx_->errstr[0] ? ctx_->errstr : "connection lost");
    out.push_back(copy_reply(static_cast<redisReply*>(r)));
    freeReplyObject(r);
  }
  return out;
}

}  // namespace agent_runner::worker
