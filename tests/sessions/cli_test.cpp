// The `sessions` command line whatever the plugin: durations, usage errors (exit 2), help of the
// nested commands, and a plugin without the ABI 1.1 session slots (exit 3, said for that plugin).
#include "duration.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

namespace {

using agent_runner::format_duration;
using agent_runner::parse_duration;

ar_test::RunResult host(std::vector<std::string> args, const ar_test::TempDir& dir) {
  args.insert(args.begin(), AR_TEST_HOST_BIN);
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = (dir.path() / "ws").string();
  env["AGENT_RUNNER_PLUGIN_PATH"] = AR_TEST_PLUGIN_DIR;
  return ar_test::run(args, env);
}

TEST(Duration, UnitsAndSums) {
  EXPECT_EQ(parse_duration("7d"), 7 * 86400);
  EXPECT_EQ(parse_duration("12h"), 12 * 3600);
  EXPECT_EQ(parse_duration("30m"), 1800);
  EXPECT_EQ(parse_duration("45s"), 45);
  EXPECT_EQ(parse_duration("0s"), 0);
  EXPECT_EQ(parse_duration("1d12h"), 86400 + 12 * 3600);
  EXPECT_EQ(parse_duration("3600", true), 3600);
  for (const char* bad : {"", "7", "d", "7x", "7 d", "-1d", "1.5h", "7dd", "h7", "1d7",
                          "99999999999999999999s", "40000d"})
    EXPECT_FALSE(parse_duration(bad)) << bad;
  EXPECT_FALSE(parse_duration("1d7", true));  // a bare number only alone
  EXPECT_EQ(format_duration(45), "45s");
  EXPECT_EQ(format_duration(3 * 86400 + 4 * 3600 + 5), "3d 4h");
  EXPECT_EQ(format_duration(2 * 86400), "2d");
  EXPECT_EQ(format_duration(61), "1m 1s");
}

TEST(SessionsCli, UsageErrorsExitTwoAndSayWhy) {
  ar_test::TempDir dir;
  auto bad = host({"sessions", "prune", "--idle", "7x"}, dir);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--idle '7x' is not a duration such as 7d, 12h, 30m or 45s"),
            std::string::npos)
      << bad.err;
  auto bare = host({"sessions", "prune", "--idle", "7"}, dir);
  EXPECT_EQ(bare.exit_code, 2) << bare.err;
  auto missing = host({"sessions", "prune"}, dir);
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("--idle"), std::string::npos) << missing.err;
  auto no_id = host({"sessions", "rm"}, dir);
  EXPECT_EQ(no_id.exit_code, 2) << no_id.err;
  EXPECT_NE(no_id.err.find("agent-runner sessions rm:"), std::string::npos) << no_id.err;
  auto unknown = host({"sessions", "frob"}, dir);
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("unknown command 'frob'; commands: show, rm, prune"),
            std::string::npos)
      << unknown.err;
  auto flag = host({"sessions", "rm", "x", "--forse"}, dir);
  EXPECT_EQ(flag.exit_code, 2) << flag.err;
}

TEST(SessionsCli, EveryNestedCommandHasItsHelp) {
  ar_test::TempDir dir;
  auto top = host({"sessions", "--help"}, dir);
  EXPECT_EQ(top.exit_code, 0) << top.err;
  EXPECT_NE(top.out.find("Usage: agent-runner [GLOBAL OPTIONS] sessions [OPTIONS] [COMMAND]"),
            std::string::npos)
      << top.out;
  for (const char* c : {"show", "rm", "prune"}) EXPECT_NE(top.out.find(c), std::string::npos);
  auto rm = host({"sessions", "rm", "--help"}, dir);
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_NE(rm.out.find("Usage: agent-runner [GLOBAL OPTIONS] sessions rm [OPTIONS] ID..."),
            std::string::npos)
      << rm.out;
  EXPECT_NE(rm.out.find("--force"), std::string::npos) << rm.out;
  auto prune = host({"help", "sessions", "prune"}, dir);
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_NE(prune.out.find("--dry-run"), std::string::npos) << prune.out;
  auto root = host({"--help"}, dir);
  EXPECT_NE(root.out.find("sessions"), std::string::npos);
  // Global options after a nested command still reach the root.
  auto globals = host(
      {"sessions", "rm", "x", "--sandbox-type", "fx-abi-1-0", "--plugin-dir", AR_TEST_FIXTURE_DIR},
      dir);
  EXPECT_EQ(globals.exit_code, 3) << globals.err;
  EXPECT_NE(globals.err.find("the abi-1-0 plugin"), std::string::npos) << globals.err;
  // Completion offers the nested commands and their options.
  auto bash = host({"completion", "bash"}, dir);
  EXPECT_NE(bash.out.find("show|rm|prune"), std::string::npos);
  EXPECT_NE(bash.out.find("--dry-run"), std::string::npos);
}

TEST(SessionsCli, APluginWithoutTheSessionSlotsSaysSoAndExitsThree) {
  ar_test::TempDir dir;
  for (std::vector<std::string> args : {std::vector<std::string>{"sessions"},
                                        {"sessions", "show", "x"},
                                        {"sessions", "rm", "x"},
                                        {"sessions", "prune", "--idle", "1h"}}) {
    args.insert(args.begin(),
                {"--plugin-dir", AR_TEST_FIXTURE_DIR, "--sandbox-type", "fx-abi-1-0"});
    auto r = host(args, dir);
    EXPECT_EQ(r.exit_code, 3) << args.back() << ": " << r.err;
    EXPECT_NE(r.err.find("the abi-1-0 plugin (sandbox type fx-abi-1-0) does not manage sessions"),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
