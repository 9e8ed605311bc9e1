// `agent-runner sessions` in cloud mode against the test Daytona server: sessions are the
// sandboxes labelled agent-runner.session; list, show, rm, prune by Daytona's lastActivityAt, a
// session in use refused, and --force cancelling the command another host process runs in it.
#include "fake_server.hpp"
#include "sessions_test_util.hpp"

#include <gtest/gtest.h>

namespace json = boost::json;
using dt_test::FakeDaytona;

namespace {

using sessions_test::cloud_env;
using sessions_test::find;

ar_test::RunResult host(const FakeDaytona& srv, std::vector<std::string> args) {
  args.insert(args.begin(), AR_TEST_HOST_BIN);
  return ar_test::run(args, cloud_env(srv));
}

// The sandbox id of each session, from the server's own state.
std::map<std::string, std::string> by_session(FakeDaytona& srv) {
  std::map<std::string, std::string> out;
  for (const auto& sb : srv.sandboxes()) {
    const auto& labels = sb.at("labels").as_object();
    if (const auto* s = labels.if_contains("agent-runner.session"))
      out[std::string(s->as_string())] = std::string(sb.at("id").as_string());
  }
  return out;
}

json::array listed(const FakeDaytona& srv) {
  return sessions_test::listing(host(srv, {"sessions", "--json"}), "daytona");
}

TEST(DaytonaSessions, ListShowRemoveAndPruneByLastActivity) {
  FakeDaytona srv;
  for (const char* key : {"alpha", "beta", "gamma"})
    ASSERT_EQ(host(srv, {"exec", "--session", key, "--", "echo hi > f.txt"}).exit_code, 0);
  ASSERT_EQ(host(srv, {"exec", "--", "true"}).exit_code, 0);  // ephemeral: not a session
  auto ids = by_session(srv);
  ASSERT_EQ(ids.size(), 3u);

  auto all = listed(srv);
  ASSERT_EQ(all.size(), 3u) << json::serialize(all);
  for (const char* key : {"alpha", "beta", "gamma"}) {
    const auto* s = find(all, key);
    ASSERT_TRUE(s) << key;
    EXPECT_EQ(s->at("sandbox_id").as_string(), ids[key]);
    EXPECT_EQ(s->at("state"), "running");
    EXPECT_EQ(s->at("daytona_state"), "started");
    EXPECT_EQ(s->at("labels").as_object().at("agent-runner.session"), key);
    EXPECT_FALSE(s->at("labels").as_object().contains("agent-runner.create-token"));
    EXPECT_TRUE(s->at("created_at").is_string());
    EXPECT_TRUE(s->at("last_used_at").is_string());
    EXPECT_LT(s->at("idle_s").to_number<int64_t>(), 3600);
    EXPECT_TRUE(s->at("size_bytes").is_null());
  }
  auto text = host(srv, {"sessions"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("SESSION"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find(ids["beta"]), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("agent-runner.session=gamma"), std::string::npos) << text.out;

  auto show = host(srv, {"sessions", "show", "beta", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto beta = json::parse(show.out).as_object();
  EXPECT_EQ(beta.at("sandbox_id").as_string(), ids["beta"]);
  EXPECT_EQ(beta.at("in_use"), false);
  auto show_text = host(srv, {"sessions", "show", "beta"});
  EXPECT_NE(show_text.out.find("daytona_state:"), std::string::npos) << show_text.out;
  auto none = host(srv, {"sessions", "show", "nope"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no session 'nope'"), std::string::npos) << none.err;

  // rm: exactly that sandbox is deleted; an unknown key fails the command, the others go on.
  auto rm = host(srv, {"sessions", "rm", "nope", "alpha"});
  EXPECT_EQ(rm.exit_code, 1) << rm.err;
  EXPECT_NE(rm.out.find("removed alpha"), std::string::npos) << rm.out;
  EXPECT_NE(rm.err.find("nope: no such session"), std::string::npos) << rm.err;
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/" + ids["alpha"] + "$"), 1u);
  EXPECT_EQ(by_session(srv).count("alpha"), 0u);
  EXPECT_EQ(srv.sandboxes().size(), 2u);

  // prune: by lastActivityAt. beta was last used three days ago, gamma one day ago.
  srv.set_activity(ids["beta"], 3 * 86400);
  srv.set_activity(ids["gamma"], 86400 + 60);
  // Looking at a session is not using it: show asks the sandbox whether a command runs without
  // resetting its last activity.
  ASSERT_EQ(host(srv, {"sessions", "show", "gamma"}).exit_code, 0);
  const auto after_show = listed(srv);
  const auto* g = find(after_show, "gamma");
  ASSERT_TRUE(g);
  EXPECT_GE(g->at("idle_s").to_number<int64_t>(), 86400);
  auto dry = host(srv, {"sessions", "prune", "--idle", "2d", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would remove beta (unused for 3d)"), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find("gamma"), std::string::npos) << dry.out;
  EXPECT_EQ(srv.sandboxes().size(), 2u);
  auto prune = host(srv, {"sessions", "prune", "--idle", "2d"});
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_NE(prune.out.find("removed beta"), std::string::npos) << prune.out;
  auto left = by_session(srv);
  EXPECT_EQ(left.size(), 1u);
  EXPECT_EQ(left.count("gamma"), 1u);
  // gamma is used again: a prune that listed it as idle before would keep it now.
  ASSERT_EQ(host(srv, {"exec", "--session", "gamma", "--", "cat f.txt"}).out, "hi\n");
  auto again = host(srv, {"sessions", "prune", "--idle", "1d"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(by_session(srv).count("gamma"), 1u) << again.out;
}

// A session whose sandbox runs a command of another host process: rm refuses it; --force
// cancels the command (the exec ends as cancelled, its processes are gone), then deletes it.
TEST(DaytonaSessions, InUseIsRefusedAndForceCancelsTheRunningCommand) {
  FakeDaytona srv;
  ar_test::TempDir dir;
  // The sleep's name is the marker; no other command line holds it whole (the command builds it).
  const std::string pid = std::to_string(::getpid());
  const std::string marker = "ar-sess-dt-" + pid;
  ar_test::Background exec(
      {AR_TEST_HOST_BIN, "exec", "--session", "busy", "--env", "P=ar-sess-dt", "--",
       "echo started; cp /bin/sleep ./${P}-" + pid + " && exec ./${P}-" + pid + " 300"},
      cloud_env(srv), dir.path(), "exec");
  ASSERT_TRUE(ar_test::eventually([&] { return exec.out().find("started") != std::string::npos; }))
      << exec.err();
  ASSERT_TRUE(ar_test::eventually([&] { return !ar_test::processes_with(marker).empty(); }));
  auto show = host(srv, {"sessions", "show", "busy", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out).as_object().at("in_use"), true);

  auto refused = host(srv, {"sessions", "rm", "busy"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("busy: in use: 1 command(s) running in sandbox"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos);
  EXPECT_EQ(by_session(srv).count("busy"), 1u);
  EXPECT_FALSE(ar_test::processes_with(marker).empty());
  // prune never removes a session in use, however long ago its last activity. (The running
  // exec's next poll may make it recent again before prune lists it: then it is not even a
  // candidate, and prune says nothing of it.)
  srv.set_activity(by_session(srv)["busy"], 10 * 86400);
  auto prune = host(srv, {"sessions", "prune", "--idle", "1d"});
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_EQ(prune.out.find("removed busy"), std::string::npos) << prune.out;
  EXPECT_EQ(by_session(srv).count("busy"), 1u);

  auto forced = host(srv, {"sessions", "rm", "--force", "busy"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.out.find("removed busy (1 running command(s) cancelled)"), std::string::npos)
      << forced.out;
  auto code = exec.wait(std::chrono::seconds(120));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << exec.err();
  EXPECT_NE(exec.err().find("agent-runner exec: cancelled: "), std::string::npos) << exec.err();
  EXPECT_TRUE(ar_test::eventually([&] { return ar_test::processes_with(marker).empty(); }));
  EXPECT_EQ(by_session(srv).count("busy"), 0u);
}

}  // namespace
