// The worker's session_ttl: two workers sweep the same Daytona sessions (the test server) with a
// real redis-server; an idle session is removed exactly once, a fresh one is kept.
#include "fake_server.hpp"
#include "redis_fixture.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

namespace json = boost::json;
using dt_test::FakeDaytona;

namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

TEST(SessionTtl, TwoWorkersRemoveAnIdleSessionExactlyOnce) {
  FakeDaytona srv;
  ar_test::RedisServer redis;
  ar_test::TempDir dir;
  auto env = ar_test::base_env();
  env["MODE"] = "cloud";
  env["DAYTONA_API_URL"] = srv.api_url();
  env["DAYTONA_API_KEY"] = dt_test::kKey;
  env["STIGMER_API_KEY"] = "stigmer-test-key";
  env["AGENT_RUNNER_PLUGIN_PATH"] = AR_TEST_PLUGIN_DIR;
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
  std::vector<std::unique_ptr<ar_test::Background>> workers;
  for (int i = 0; i < 2; ++i)
    workers.push_back(std::make_unique<ar_test::Background>(
        std::vector<std::string>{AR_TEST_HOST_BIN, "--log-level", "debug", "worker", "--consumer",
                                 "w" + std::to_string(i)},
        env, dir.path(), "worker" + std::to_string(i)));
  auto sweeps = [&](size_t i) { return count(workers[i]->err(), "session sweep: "); };
  ASSERT_TRUE(ar_test::eventually(
      [&] {
        for (const auto& sb : srv.sandboxes())
          if (sb.at("id").as_string() == ids["old"]) return false;
        return true;
      },
      std::chrono::seconds(120)))
      << workers[0]->err() << workers[1]->err();
  // Both workers keep sweeping after the removal (two more sweeps each), and none removes it
  // again.
  const size_t after0 = sweeps(0), after1 = sweeps(1);
  ASSERT_TRUE(
      ar_test::eventually([&] { return sweeps(0) >= after0 + 2 && sweeps(1) >= after1 + 2; },
                          std::chrono::seconds(120)))
      << workers[0]->err() << workers[1]->err();
  const std::string logs = workers[0]->err() + workers[1]->err();
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/" + ids["old"] + "$"), 1u) << logs;
  EXPECT_EQ(count(logs, "session old (sandbox " + ids["old"] + ") removed: unused for 2h"), 1u)
      << logs;
  EXPECT_EQ(count(logs, "session fresh"), 0u) << logs;
  EXPECT_EQ(srv.sandboxes().size(), 1u);
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/" + ids["fresh"] + "$"), 0u);
  for (auto& w : workers) {
    w->signal(SIGTERM);
    auto code = w->wait(std::chrono::seconds(60));
    ASSERT_TRUE(code);
    EXPECT_EQ(*code, 0) << w->err();
  }
}

}  // namespace
