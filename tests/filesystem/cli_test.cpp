// SPDX-License-Identifier: Apache-2.0
// `agent-runner exec` in local mode: the built binary finds the built filesystem.so by itself.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <sstream>

using namespace fs_test;

namespace {

ar_test::RunResult exec(const fs::path& root, std::vector<std::string> args,
                        std::map<std::string, std::string> extra_env = {}) {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = root.string();
  for (auto& [k, v] : extra_env) env[k] = v;
  args.insert(args.begin(), {AR_TEST_HOST_BIN, "exec"});
  return ar_test::run(args, env);
}

TEST(FsCli, ExecJsonPrintsTheResult) {
  ar_test::TempDir root;
  auto r = exec(root.path(), {"--json", "--", "echo", "hi"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = boost::json::parse(r.out).as_object();
  for (auto k :
       {"exit_code", "output", "stdout", "stderr", "truncated", "timed_out", "duration_ms"})
    EXPECT_TRUE(v.contains(k)) << k;
  EXPECT_EQ(v.at("exit_code"), 0);
  EXPECT_EQ(v.at("output"), "hi\n");
  EXPECT_EQ(v.at("timed_out"), false);
  EXPECT_TRUE(fs::is_empty(root.path())) << "the ephemeral workspace was left behind";
}

// Issue 14: `exec -- pwd` prints the sandbox's workdir (the container view's /workspace), and
// write order survives the two streams.
TEST(FsCli, ExecPwdPrintsTheWorkdir) {
  ar_test::TempDir root;
  auto r = exec(root.path(), {"--json", "--", "pwd; echo 1; echo 2 >&2; echo 3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto v = boost::json::parse(r.out).as_object();
  const std::string pwd(
      v.at("output").as_string().subview().substr(0, v.at("output").as_string().find('\n')));
  EXPECT_EQ(pwd.front(), '/');
  auto probe = ar_test::run({AR_TEST_HOST_BIN, "doctor", "--json"}, [] {
    auto env = ar_test::base_env();
    env["MODE"] = "local";
    return env;
  }());
  const auto doctor = boost::json::parse(probe.out).as_object();
  if (doctor.at("probes").at("filesystem").at("view") == "container") {
    EXPECT_EQ(pwd, "/workspace");
  }
  EXPECT_EQ(v.at("output").as_string().subview().substr(pwd.size()), "\n1\n2\n3\n");
  EXPECT_EQ(exec(root.path(), {"--", "pwd"}).out, pwd + "\n");
  // exec --json reports the workdir, and it is where the command ran.
  EXPECT_EQ(v.at("workdir").as_string(), pwd);
}

// The workload.started event says where the sandbox's relative paths lead; a file written there
// by write_file (relative or absolute) is the one a command sees.
TEST(FsCli, WorkloadStartedReportsTheWorkdirAndPathsAgree) {
  ar_test::TempDir root;
  ar_test::write_file(root.path() / "w.yaml", R"(name: w
steps:
  - execute: {command: pwd}
  - write_file: {path: rel.txt, content: "relative\n"}
  - execute: {command: "cat rel.txt"}
    expect: {output_contains: relative}
  - execute: {command: "echo from-a-command > made.txt"}
  - read_file: {path: made.txt}
    expect: {content_contains: from-a-command}
)");
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = (root.path() / "ws").string();
  env["AGENT_RUNNER_PLUGIN_PATH"] = AR_TEST_PLUGIN_DIR;
  auto r = ar_test::run(
      {AR_TEST_HOST_BIN, "run", (root.path() / "w.yaml").string(), "--events", "-"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::string workdir, pwd;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    auto e = boost::json::parse(line).as_object();
    if (e.at("event") == "workload.started") workdir = e.at("workdir").as_string().c_str();
    if (e.at("event") == "step.finished" && e.at("index") == 0)
      pwd = e.at("result").at("output").as_string().c_str();
  }
  ASSERT_FALSE(workdir.empty()) << r.out;
  EXPECT_EQ(pwd, workdir + "\n");
  // An absolute path under the workdir is the same file.
  ar_test::write_file(root.path() / "a.yaml",
                      "name: a\nsteps:\n  - write_file: {path: " + workdir +
                          "/abs.txt, content: absolute}\n" + "  - execute: {command: \"cat " +
                          workdir + "/abs.txt abs.txt\"}\n" +
                          "    expect: {output_contains: absoluteabsolute}\n");
  r = ar_test::run({AR_TEST_HOST_BIN, "run", (root.path() / "a.yaml").string()}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
}

TEST(FsCli, ExitCodeTimeoutAndSecrets) {
  ar_test::TempDir root;
  EXPECT_EQ(exec(root.path(), {"--", "exit 7"}).exit_code, 7);
  auto t = exec(root.path(), {"--timeout", "0.5", "--", "sleep 30"});
  EXPECT_EQ(t.exit_code, 124);
  auto s = exec(root.path(), {"--", "env"}, {{"DAYTONA_API_KEY", "dtn-secret-value"}});
  EXPECT_EQ(s.exit_code, 0);
  EXPECT_EQ(s.out.find("dtn-secret-value"), std::string::npos);
  EXPECT_NE(s.out.find("HOME="), std::string::npos);
  // A session keeps its files between invocations.
  EXPECT_EQ(exec(root.path(), {"--session", "s1", "--", "echo kept > f"}).exit_code, 0);
  auto again = exec(root.path(), {"--session", "s1", "--", "cat f"});
  EXPECT_EQ(again.out, "kept\n");
}

// The host's API keys must not be readable from a command through /proc: not in the host's
// environment, not in the supervisor's (which shares or copies the host's memory), not through
// their memory. The command writes what it finds into the workspace, so the host's output redaction
// cannot hide a leak from this test.
TEST(FsCli, CommandsCannotReadTheHostsSecretsThroughProc) {
  ar_test::TempDir root;
  const std::string script = R"SH(
    for p in /proc/[0-9]*; do
      [ "$p" = /proc/self ] && continue
      cat "$p/environ" 2>/dev/null | tr '\0' '\n' | grep -a 'proc-leak-' | base64 >> hits
      c="$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)"
      case "$c" in
        /bin/sh*) ;;  # this script itself: its text names the host
        *agent-runner*) echo "host $p" >> seen
          if (exec 3<"$p/mem") 2>/dev/null; then echo "mem-open $p" >> hits; fi ;;
      esac
    done
    touch done)SH";
  auto r = exec(root.path(), {"--session", "scan", "--", script},
                {{"STIGMER_API_KEY", "proc-leak-stigmer"}, {"DAYTONA_API_KEY", "proc-leak-dtn"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path ws = root.path() / "scan";
  ASSERT_TRUE(fs::exists(ws / "done"));
  ASSERT_TRUE(fs::exists(ws / "seen")) << "the scan did not see the host's processes at all";
  const std::string hits = fs::exists(ws / "hits") ? ar_test::read_file(ws / "hits") : "";
  EXPECT_TRUE(hits.empty()) << "readable from the sandbox (base64 of the env lines, or mem): "
                            << hits;
}

}  // namespace

namespace {

TEST(FsCli, DoctorReportsKernelFeaturesPluginsAndConfigProblems) {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  auto r = ar_test::run({AR_TEST_HOST_BIN, "doctor", "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto v = boost::json::parse(r.out).as_object();
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U);
  EXPECT_EQ(v.at("kernel").at("landlock").at("abi").as_int64(), abi < 0 ? 0 : abi);
  for (auto k : {"user_namespace", "pid_namespace", "network_namespace", "openat2", "rlimits"})
    EXPECT_TRUE(v.at("kernel").as_object().contains(k)) << k;
  bool found = false;
  for (auto& p : v.at("plugins").as_array())
    found = found || (p.at("sandbox_type") == "filesystem" && p.at("status") == "loaded");
  EXPECT_TRUE(found) << r.out;
  EXPECT_EQ(v.at("ok"), true);

  env["MODE"] = "sideways";
  auto bad = ar_test::run({AR_TEST_HOST_BIN, "doctor"}, env);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("Problems:"), std::string::npos);
  EXPECT_NE(bad.out.find("MODE"), std::string::npos) << bad.out;
  EXPECT_NE(bad.out.find("landlock"), std::string::npos);
}

}  // namespace
