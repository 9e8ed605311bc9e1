// The worker's session_ttl: two workers sweep the same Daytona sessions (the test server) with a
// real redis-server; an idle session is removed exactly once, a fresh one is kept.
#include "sessions_test_util.hpp"

#include <gtest/gtest.h>

namespace json = boost::json;
using dt_test::FakeDaytona;

namespace {

using sessions_test::count;

TEST(SessionTtl, TwoWorkersRemoveAnIdleSessionExactlyOnce) {
  FakeDaytona srv;
  ar_test::RedisServer redis;
  ar_test::TempDir dir;
  auto env = sessions_test::cloud_env(srv);
  env["REDIS_HOST"] = "127.0.0.1";
  env["REDIS_PORT"] = std::to_string(redis.port());
  for (const char* key : {"old", "fresh"})
    ASSERT_EQ(
        ar_test::run({AR_TEST_HOST_BIN, "exec", "--session", key, "--", "true"}, env).exit_code, 0);
  std::map<std::string, std::string> ids;
  for (const auto& sb : srv.sandboxes())
    ids[std::string(sb.at("labels").at("agent-runner.session").as_string())] =
        std::string(sb.at("id").as_string());
  ASSERT_EQ(ids.size(), 2u);
  srv.set_activity(ids["old"], 2 * 3600);
  // The first DELETE is answered late: without the lock, the other worker's sweep would list the
  // session as idle meanwhile and delete it a second time.
  srv.faults({{{"method", "DELETE"},
               {"path", "^/api/sandbox/"},
               {"action", "slow"},
               {"delay", 8},
               {"times", 1}}});

  env["AGENT_RUNNER_SESSION_TTL"] = "1h";
  env["AGENT_RUNNER_SESSION_CHECK_S"] = "1";
  sessions_test::TwoWorkers workers(env, dir.path());
  ASSERT_TRUE(ar_test::eventually(
      [&] {
        for (const auto& sb : srv.sandboxes())
          if (sb.at("id").as_string() == ids["old"]) return false;
        return true;
      },
      std::chrono::seconds(120)))
      << workers.logs();
  // Both workers keep sweeping after the removal, and none removes it again.
  ASSERT_TRUE(workers.sweep_more(2)) << workers.logs();
  const std::string logs = workers.logs();
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/" + ids["old"] + "$"), 1u) << logs;
  EXPECT_EQ(count(logs, "session old (sandbox " + ids["old"] + ") removed: unused for 2h"), 1u)
      << logs;
  EXPECT_EQ(count(logs, "session fresh"), 0u) << logs;
  EXPECT_EQ(srv.sandboxes().size(), 1u);
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/" + ids["fresh"] + "$"), 0u);
  workers.stop();
}

}  // namespace
