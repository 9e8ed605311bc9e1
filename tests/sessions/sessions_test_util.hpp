// What the sessions tests share: cloud mode on the test Daytona server, the listing's entry of a
// session, counting log lines, and two workers sweeping with session_ttl.
#pragma once

#include "fake_server.hpp"
#include "redis_fixture.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <csignal>
#include <memory>
#include <string>
#include <vector>

namespace sessions_test {

// Cloud mode against the test Daytona server.
inline ar_test::Env cloud_env(const dt_test::FakeDaytona& srv) {
  auto env = ar_test::base_env();
  env["MODE"] = "cloud";
  env["DAYTONA_API_URL"] = srv.api_url();
  env["DAYTONA_API_KEY"] = dt_test::kKey;
  env["STIGMER_API_KEY"] = "stigmer-test-key";
  env["AGENT_RUNNER_PLUGIN_PATH"] = AR_TEST_PLUGIN_DIR;
  return env;
}

// The entry of `key` in a `sessions --json` listing, or null.
inline const boost::json::object* find(const boost::json::array& sessions, const std::string& key) {
  for (const auto& s : sessions)
    if (s.as_object().at("session").as_string() == key) return &s.as_object();
  return nullptr;
}

// The sessions of a `sessions --json` run, checked to come from `sandbox_type`.
inline boost::json::array listing(const ar_test::RunResult& r, const char* sandbox_type) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto v = boost::json::parse(r.out).as_object();
  EXPECT_EQ(v.at("sandbox_type"), sandbox_type);
  return v.at("sessions").as_array();
}

inline size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

// Two `agent-runner worker` processes (debug logs: one "session sweep: " line per sweep) with
// `env`, which sets session_ttl.
class TwoWorkers {
 public:
  TwoWorkers(const ar_test::Env& env, const std::filesystem::path& dir) {
    for (int i = 0; i < 2; ++i)
      workers_.push_back(std::make_unique<ar_test::Background>(
          std::vector<std::string>{AR_TEST_HOST_BIN, "--log-level", "debug", "worker", "--consumer",
                                   "w" + std::to_string(i)},
          env, dir, "worker" + std::to_string(i)));
  }
  std::string logs() const { return workers_[0]->err() + workers_[1]->err(); }
  // Waits until each worker has swept `n` more times (false after a generous limit).
  bool sweep_more(size_t n) {
    const size_t a = sweeps(0), b = sweeps(1);
    return ar_test::eventually([&] { return sweeps(0) >= a + n && sweeps(1) >= b + n; },
                               std::chrono::seconds(120));
  }
  // SIGTERM; each exits 0.
  void stop() {
    for (auto& w : workers_) {
      w->signal(SIGTERM);
      auto code = w->wait(std::chrono::seconds(60));
      ASSERT_TRUE(code);
      EXPECT_EQ(*code, 0) << w->err();
    }
  }

 private:
  size_t sweeps(size_t i) const { return count(workers_[i]->err(), "session sweep: "); }
  std::vector<std::unique_ptr<ar_test::Background>> workers_;
};

}  // namespace sessions_test
