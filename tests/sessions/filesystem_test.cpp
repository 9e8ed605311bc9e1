// `agent-runner sessions` in local mode on the filesystem plugin: sessions are the workspaces
// SANDBOX_ROOT_DIR/<key>; list, show, rm, prune by the last use (an old mtime of
// .sessions/use-<key>), a session open in another process refused, --force cancelling the
// command that process runs in it, and session_ttl with two workers on a real redis-server.
#include "sessions_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/json.hpp>

namespace json = boost::json;
namespace fs = std::filesystem;

namespace {

ar_test::Env local_env(const ar_test::TempDir& dir) {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = (dir.path() / "ws").string();
  env["AGENT_RUNNER_PLUGIN_PATH"] = AR_TEST_PLUGIN_DIR;
  return env;
}

ar_test::RunResult host(const ar_test::TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), AR_TEST_HOST_BIN);
  return ar_test::run(args, local_env(dir));
}

json::array listed(const ar_test::TempDir& dir) {
  return sessions_test::listing(host(dir, {"sessions", "--json"}), "filesystem");
}

using sessions_test::find;

// The session's last use, `ago_s` seconds in the past.
void age(const ar_test::TempDir& dir, const std::string& key, long ago_s) {
  const fs::path use = dir.path() / "ws" / ".sessions" / ("use-" + key);
  ASSERT_TRUE(fs::exists(use)) << use;
  timespec t[2];
  t[0].tv_sec = t[1].tv_sec = ::time(nullptr) - ago_s;
  t[0].tv_nsec = t[1].tv_nsec = 0;
  ASSERT_EQ(::utimensat(AT_FDCWD, use.c_str(), t, AT_SYMLINK_NOFOLLOW), 0);
}

TEST(FsSessions, ListShowRemoveAndPruneByLastUse) {
  ar_test::TempDir dir;
  for (const char* key : {"alpha", "beta", "gamma"})
    ASSERT_EQ(host(dir, {"exec", "--session", key, "--", "echo hi > f.txt"}).exit_code, 0);
  ASSERT_EQ(host(dir, {"exec", "--", "true"}).exit_code, 0);  // ephemeral: not a session
  const fs::path ws = dir.path() / "ws";

  auto all = listed(dir);
  ASSERT_EQ(all.size(), 3u) << json::serialize(all);
  for (const char* key : {"alpha", "beta", "gamma"}) {
    const auto* s = find(all, key);
    ASSERT_TRUE(s) << key;
    EXPECT_EQ(s->at("workspace").as_string(), (ws / key).string());
    EXPECT_EQ(s->at("state"), "stopped");
    EXPECT_EQ(s->at("in_use"), false);
    EXPECT_TRUE(s->at("last_used_at").is_string());
    EXPECT_LT(s->at("idle_s").to_number<int64_t>(), 3600);
    EXPECT_GT(s->at("size_bytes").to_number<int64_t>(), 0);  // f.txt at least
  }
  auto text = host(dir, {"sessions"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("SESSION"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find((ws / "beta").string()), std::string::npos) << text.out;

  auto show = host(dir, {"sessions", "show", "beta", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_EQ(json::parse(show.out).as_object().at("command_running"), false);
  auto show_text = host(dir, {"sessions", "show", "beta"});
  EXPECT_NE(show_text.out.find("workspace:"), std::string::npos) << show_text.out;
  auto none = host(dir, {"sessions", "show", "nope"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("no session 'nope'"), std::string::npos) << none.err;
  auto unsafe = host(dir, {"sessions", "rm", "../ws"});
  EXPECT_EQ(unsafe.exit_code, 1) << unsafe.err;
  EXPECT_TRUE(fs::exists(ws / "beta"));

  // rm: exactly that workspace goes; an unknown key fails the command, the others go on.
  auto rm = host(dir, {"sessions", "rm", "nope", "alpha"});
  EXPECT_EQ(rm.exit_code, 1) << rm.err;
  EXPECT_NE(rm.out.find("removed alpha"), std::string::npos) << rm.out;
  EXPECT_NE(rm.err.find("nope: no such session"), std::string::npos) << rm.err;
  EXPECT_FALSE(fs::exists(ws / "alpha"));
  EXPECT_FALSE(fs::exists(ws / ".sessions" / "use-alpha"));
  EXPECT_TRUE(fs::exists(ws / "beta" / "f.txt"));
  EXPECT_EQ(listed(dir).size(), 2u);

  // prune: by the last use. beta three days ago, gamma one.
  age(dir, "beta", 3 * 86400);
  age(dir, "gamma", 86400 + 60);
  auto dry = host(dir, {"sessions", "prune", "--idle", "2d", "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would remove beta (unused for 3d)"), std::string::npos) << dry.out;
  EXPECT_EQ(dry.out.find("gamma"), std::string::npos) << dry.out;
  EXPECT_TRUE(fs::exists(ws / "beta"));
  auto prune = host(dir, {"sessions", "prune", "--idle", "2d"});
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_NE(prune.out.find("removed beta"), std::string::npos) << prune.out;
  EXPECT_FALSE(fs::exists(ws / "beta"));
  EXPECT_TRUE(fs::exists(ws / "gamma"));
  // gamma used again: its last use is now, so a prune of 1d keeps it.
  ASSERT_EQ(host(dir, {"exec", "--session", "gamma", "--", "cat f.txt"}).out, "hi\n");
  auto again = host(dir, {"sessions", "prune", "--idle", "1d"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_TRUE(fs::exists(ws / "gamma" / "f.txt")) << again.out;
}

// A session whose sandbox another host process has open, running a command: rm refuses it, prune
// keeps it; --force stops the command (that exec ends cancelled, its processes are gone), then
// removes the workspace.
TEST(FsSessions, InUseIsRefusedAndForceCancelsTheRunningCommand) {
  ar_test::TempDir dir;
  const std::string pid = std::to_string(::getpid());
  const std::string marker = "300." + pid;  // only the sleep's command line holds it whole
  ar_test::Background exec({AR_TEST_HOST_BIN, "exec", "--session", "busy", "--env", "P=300", "--",
                            "echo started; exec sleep ${P}." + pid},
                           local_env(dir), dir.path(), "exec");
  ASSERT_TRUE(ar_test::eventually([&] { return exec.out().find("started") != std::string::npos; }))
      << exec.err();
  ASSERT_TRUE(ar_test::eventually([&] { return !ar_test::processes_with(marker).empty(); }));
  auto show = host(dir, {"sessions", "show", "busy", "--json"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  auto busy = json::parse(show.out).as_object();
  EXPECT_EQ(busy.at("in_use"), true);
  EXPECT_EQ(busy.at("state"), "running");
  EXPECT_EQ(busy.at("command_running"), true);

  auto refused = host(dir, {"sessions", "rm", "busy"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("busy: in use: a sandbox of another agent-runner process has it open"),
            std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("--force"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir.path() / "ws" / "busy"));
  EXPECT_FALSE(ar_test::processes_with(marker).empty());
  age(dir, "busy", 10 * 86400);
  auto prune = host(dir, {"sessions", "prune", "--idle", "1d"});
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_NE(prune.out.find("kept busy"), std::string::npos) << prune.out;
  EXPECT_TRUE(fs::exists(dir.path() / "ws" / "busy"));

  auto forced = host(dir, {"sessions", "rm", "--force", "busy"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.out.find("removed busy (1 running command(s) cancelled)"), std::string::npos)
      << forced.out;
  auto code = exec.wait(std::chrono::seconds(120));
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 1) << exec.err();
  EXPECT_NE(exec.err().find("cancelled: session 'busy' is being removed"), std::string::npos)
      << exec.err();
  EXPECT_TRUE(ar_test::eventually([&] { return ar_test::processes_with(marker).empty(); }));
  EXPECT_FALSE(fs::exists(dir.path() / "ws" / "busy"));
  EXPECT_FALSE(fs::exists(dir.path() / "ws" / ".sessions" / "cancel-busy"));
  // The key is free again: a new session of that name starts empty.
  EXPECT_EQ(host(dir, {"exec", "--session", "busy", "--", "ls -A | wc -l"}).out, "0\n");
}

TEST(FsSessionTtl, TwoWorkersRemoveAnIdleSessionExactlyOnce) {
  ar_test::TempDir dir;
  ar_test::RedisServer redis;
  auto env = local_env(dir);
  env["REDIS_HOST"] = "127.0.0.1";
  env["REDIS_PORT"] = std::to_string(redis.port());
  for (const char* key : {"old", "fresh"})
    ASSERT_EQ(
        ar_test::run({AR_TEST_HOST_BIN, "exec", "--session", key, "--", "true"}, env).exit_code, 0);
  age(dir, "old", 2 * 3600);
  env["AGENT_RUNNER_SESSION_TTL"] = "1h";
  env["AGENT_RUNNER_SESSION_CHECK_S"] = "1";
  sessions_test::TwoWorkers workers(env, dir.path());
  ASSERT_TRUE(ar_test::eventually([&] { return !fs::exists(dir.path() / "ws" / "old"); },
                                  std::chrono::seconds(120)))
      << workers.logs();
  ASSERT_TRUE(workers.sweep_more(2)) << workers.logs();  // none removes it again
  const std::string logs = workers.logs();
  EXPECT_EQ(sessions_test::count(logs, "session old (sandbox "), 1u) << logs;
  EXPECT_EQ(sessions_test::count(logs, "session fresh"), 0u) << logs;
  EXPECT_TRUE(fs::exists(dir.path() / "ws" / "fresh"));
  workers.stop();
}

}  // namespace
