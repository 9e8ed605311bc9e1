// SPDX-License-Identifier: Apache-2.0
// execute: exit codes, cwd, environment, output capture and streaming, and that no process of a
// command outlives the call (checked by pid on the host).
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <thread>

using namespace fs_test;
namespace json = boost::json;

namespace {

class Exec : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(box.sb) << box.create_error.message(); }
  // Runs `cmd` with a 1 s timeout; it must time out, keep its partial output and leave no
  // process whose command line holds `mark`.
  void expect_tree_killed(const std::string& cmd, const std::string& mark) {
    SCOPED_TRACE(cmd);
    auto r = box.exec(cmd, {{"timeout_s", 1}});
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(flag(r, "timed_out"));
    EXPECT_EQ(num(r, "exit_code"), 124);
    EXPECT_NE(str(r, "output").find("started"), std::string::npos) << "partial output lost";
    EXPECT_EQ(pids_with(mark), std::vector<pid_t>{}) << "a process of the command survived";
  }
  Box box;
};

TEST_F(Exec, ExitCodesAndOneOutputInWriteOrder) {
  auto r = box.exec("echo out; echo err >&2; exit 3");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(num(r, "exit_code"), 3);
  // stdout and stderr share one pipe: everything is in `output` and `stdout`, in write order.
  EXPECT_EQ(str(r, "output"), "out\nerr\n");
  EXPECT_EQ(str(r, "stdout"), "out\nerr\n");
  EXPECT_EQ(str(r, "stderr"), "");
  EXPECT_FALSE(flag(r, "timed_out"));
  EXPECT_FALSE(flag(r, "truncated"));
  EXPECT_EQ(num(r, "stdout_bytes"), 8);
  EXPECT_EQ(num(r, "stderr_bytes"), 0);
  EXPECT_GE(num(r, "duration_ms"), 0);
  EXPECT_EQ(num(box.exec("kill -9 $$"), "exit_code"), 137);
  // stdin is closed (/dev/null): a read gets EOF instead of hanging.
  EXPECT_EQ(str(box.exec("cat; echo done"), "stdout"), "done\n");
}

// Each command's supervisor runs on stacks of its own from a pool that keeps 8 idle
// (supervisor_launch.hpp): more concurrent commands than that, several times over, and each one
// gets only its own output and exit code.
TEST_F(Exec, ConcurrentCommandsEachGetTheirOwnOutputAndExitCode) {
  constexpr int kThreads = 12, kRounds = 4;
  std::mutex mutex;
  std::vector<std::string> wrong;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string id = std::to_string(t) + "." + std::to_string(i);
        const int code = t + i;
        auto r = box.exec("sleep 0.0" + std::to_string(t % 5) + "; echo " + id + "; exit " +
                          std::to_string(code));
        std::lock_guard<std::mutex> lock(mutex);
        if (!r.ok())
          wrong.push_back(id + ": " + r.message());
        else if (str(r, "output") != id + "\n" || num(r, "exit_code") != code)
          wrong.push_back(id + ": output '" + str(r, "output") + "', exit " +
                          std::to_string(num(r, "exit_code")));
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, std::vector<std::string>{});
}

TEST_F(Exec, CwdIsTheWorkdirOrADirectoryInIt) {
  const std::string wd = workdir(box);
  EXPECT_EQ(str(box.exec("pwd"), "stdout"), wd + "\n");
  ASSERT_TRUE(fs::create_directory(box.ws() / "sub"));
  EXPECT_EQ(str(box.exec("pwd", {{"cwd", "sub"}}), "stdout"), wd + "/sub\n");
  EXPECT_EQ(str(box.exec("pwd", {{"cwd", wd + "/sub"}}), "stdout"), wd + "/sub\n");
  EXPECT_EQ(str(box.exec("pwd", {{"cwd", "/tmp"}}), "stdout"), "/tmp\n");
  EXPECT_EQ(box.exec("pwd", {{"cwd", "/../.."}}).code(), "invalid_path");
  EXPECT_EQ(box.exec("pwd", {{"cwd", "nope"}}).code(), "file_not_found");
  EXPECT_EQ(box.exec("pwd", {{"cwd", "/root"}}).code(), "file_not_found");
}

TEST_F(Exec, CombinedOutputKeepsArrivalOrder) {
  auto r = box.exec("echo one; sleep 0.3; echo two >&2; sleep 0.3; echo three");
  EXPECT_EQ(str(r, "output"), "one\ntwo\nthree\n");
}

// Issue 14: writes to stdout and stderr arrive in the order they were made, every time (with a
// pipe per stream this came out as 1 3 5 2 4), in the result and in the streamed chunks.
TEST_F(Exec, InterleavedWritesKeepTheirOrderEveryTime) {
  int wrong = 0;
  std::string first_wrong;
  for (int i = 0; i < 100; ++i) {
    std::string streamed;
    agent_runner::CallOptions o;
    o.on_output = [&](ar_stream, std::string_view d) { streamed.append(d); };
    auto r = box.exec("echo 1; echo 2 >&2; echo 3; echo 4 >&2; echo 5", {}, o);
    ASSERT_TRUE(r.ok()) << r.message();
    if (str(r, "output") != "1\n2\n3\n4\n5\n" || streamed != str(r, "output")) {
      if (!wrong++) first_wrong = str(r, "output") + " | streamed " + streamed;
    }
  }
  EXPECT_EQ(wrong, 0) << "runs out of order, the first: " << first_wrong;
}

TEST_F(Exec, ChunksStreamWhileTheCommandRuns) {
  std::mutex m;
  std::string streamed_out, streamed_err;
  agent_runner::CallOptions o;
  o.on_output = [&](ar_stream s, std::string_view d) {
    std::lock_guard l(m);
    (s == AR_STREAM_STDERR ? streamed_err : streamed_out).append(d);
  };
  auto r = box.exec("for i in 1 2 3; do echo line$i; echo e$i >&2; done", {}, o);
  ASSERT_TRUE(r.ok());
  // One pipe, streamed as stdout.
  EXPECT_EQ(streamed_out, str(r, "output"));
  EXPECT_EQ(streamed_err, "");
  EXPECT_EQ(streamed_out, "line1\ne1\nline2\ne2\nline3\ne3\n");
}

TEST_F(Exec, TimeoutKillsBackgroundChild) {
  auto m = marker();
  expect_tree_killed("sleep 1000." + m + " & echo started; wait", m);
}

TEST_F(Exec, TimeoutKillsSetsidChild) {
  auto m = marker();
  expect_tree_killed("setsid sleep 1000." + m + " & echo started; sleep 1000", m);
}

TEST_F(Exec, TimeoutKillsDoubleForkedChild) {
  auto m = marker();
  expect_tree_killed("(setsid sh -c 'sleep 1000." + m + " & ' &) ; echo started; sleep 1000", m);
}

TEST_F(Exec, TimeoutKillsTermIgnoringLoop) {
  auto m = marker();
  expect_tree_killed(
      "trap '' TERM; echo started; sh -c \"trap '' TERM; while :; do sleep 0.05; done\" " + m +
          " & while :; do sleep 0.05; done",
      m);
}

TEST_F(Exec, ReturnsWhenTheShellExitsEvenIfABackgroundChildHoldsThePipe) {
  auto m = marker();
  // Without the kill this would wait for `sleep` (it holds stdout) until the timeout.
  auto r = box.exec("sleep 1000." + m + " & echo done", {{"timeout_s", 60}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(flag(r, "timed_out"));
  EXPECT_EQ(num(r, "exit_code"), 0);
  EXPECT_EQ(str(r, "stdout"), "done\n");
  EXPECT_EQ(pids_with(m), std::vector<pid_t>{});
}

TEST_F(Exec, CancellationKillsTheTree) {
  auto m = marker();
  std::atomic<bool> cancel{false};
  agent_runner::CallOptions o;
  o.cancelled = &cancel;
  std::atomic<bool> seen{false};
  o.on_output = [&](ar_stream, std::string_view) { seen = true; };
  std::thread t([&] {
    while (!seen) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    cancel = true;
  });
  auto r =
      box.exec("setsid sleep 1000." + m + " & echo started; sleep 1000", {{"timeout_s", 0}}, o);
  t.join();
  EXPECT_EQ(r.code(), "cancelled");
  EXPECT_EQ(pids_with(m), std::vector<pid_t>{});
}

TEST_F(Exec, HugeOutputStaysBoundedWithHeadAndTail) {
  // 200 MB through the default 100 KiB cap.
  const int64_t body = 200 * 1000 * 1000;
  auto r = box.exec("echo HEAD-MARK; head -c " + std::to_string(body) +
                    " /dev/zero | tr '\\0' x; echo; echo TAIL-MARK");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(num(r, "exit_code"), 0);
  EXPECT_TRUE(flag(r, "truncated"));
  EXPECT_EQ(num(r, "stdout_bytes"), 10 + body + 1 + 10);
  for (const char* k : {"output", "stdout"}) {
    const std::string s = str(r, k);
    EXPECT_LE(s.size(), 102400u + 200) << k;
    EXPECT_EQ(s.rfind("HEAD-MARK\nxxx", 0), 0u) << k;
    EXPECT_EQ(s.substr(s.size() - 14), "xxx\nTAIL-MARK\n") << k;
    EXPECT_NE(s.find("bytes truncated]"), std::string::npos) << k;
  }
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  EXPECT_LT(ru.ru_maxrss, 120 * 1024) << "KiB: output was not kept bounded";
}

TEST_F(Exec, HeadAndTailAreExactlyTheFirstAndLastBytes) {
  // Several MB, so the kept tail comes from a buffer that wrapped around many times: the head is
  // the first 50 KiB, the tail the last 50 KiB, byte for byte, and the marker counts the rest.
  auto r = box.exec("seq 1 700000");
  ASSERT_TRUE(r.ok()) << r.message();
  std::string all;
  for (int i = 1; i <= 700000; ++i) (all += std::to_string(i)) += '\n';
  EXPECT_TRUE(flag(r, "truncated"));
  EXPECT_EQ(num(r, "stdout_bytes"), static_cast<int64_t>(all.size()));
  const size_t half = 102400 / 2;
  const std::string want = all.substr(0, half) + "\n... [" + std::to_string(all.size() - 2 * half) +
                           " bytes truncated] ...\n" + all.substr(all.size() - half);
  EXPECT_EQ(str(r, "stdout"), want);
}

TEST_F(Exec, TheCommandSeesOnlyItsOwnProcesses) {
  // A PID namespace plus a private /proc: the test process (outside) is invisible inside.
  const std::string me = std::to_string(::getpid());
  auto r = box.exec("ls /proc | grep -c '^[0-9]'; test -e /proc/" + me +
                    " && echo seen-$((40+2)); "
                    "echo $$ > pid; cat /proc/$(cat pid)/cmdline | tr '\\0' ' '");
  ASSERT_EQ(num(r, "exit_code"), 0) << str(r, "output");
  const std::string out = str(r, "stdout");
  EXPECT_EQ(out.find("seen-42"), std::string::npos) << "the test process is visible: " << out;
  EXPECT_LT(std::stoi(out), 10) << "processes visible inside: " << out;
  EXPECT_NE(out.find("/bin/sh"), std::string::npos) << "$$ names the shell in /proc: " << out;
}

TEST_F(Exec, EnvironmentIsBuiltNotInherited) {
  ::setenv("DAYTONA_API_KEY", "leaked-daytona-key", 1);
  ::setenv("STIGMER_API_KEY", "leaked-stigmer-key", 1);
  Box b(json::object{{"env", {{"FROM_CONFIG", "c"}, {"BOTH", "config"}}}});
  ASSERT_TRUE(b.sb);
  auto r = b.exec("env", {{"env", {{"FROM_CALL", "k"}, {"BOTH", "call"}}}});
  const std::string env = str(r, "stdout");
  EXPECT_EQ(env.find("leaked-"), std::string::npos) << env;
  EXPECT_NE(env.find("HOME=" + workdir(b) + "\n"), std::string::npos);
  EXPECT_NE(env.find("PATH=/"), std::string::npos);
  EXPECT_NE(env.find("LANG="), std::string::npos);
  EXPECT_NE(env.find("FROM_CONFIG=c\n"), std::string::npos);
  EXPECT_NE(env.find("FROM_CALL=k\n"), std::string::npos);
  EXPECT_NE(env.find("BOTH=call\n"), std::string::npos);
  // TMPDIR is the sandbox's own /tmp, writable, and not the workspace.
  auto t = b.exec("echo hi > \"$TMPDIR/t\" && cat \"$TMPDIR/t\" && echo $TMPDIR");
  EXPECT_EQ(num(t, "exit_code"), 0) << str(t, "output");
  EXPECT_EQ(str(t, "stdout"), "hi\n" + tmp_path(b) + "\n");
  EXPECT_TRUE(fs::exists(fs::path(info_str(b, "tmp_dir")) / "t"));
  // Opting in passes the host environment through.
  Box inherit(json::object{{"inherit_env", true}});
  EXPECT_NE(str(inherit.exec("env"), "stdout").find("leaked-stigmer-key"), std::string::npos);
  ::unsetenv("DAYTONA_API_KEY");
  ::unsetenv("STIGMER_API_KEY");
}

TEST_F(Exec, ConfigTimeoutAndPerCallOverride) {
  Box b(json::object{{"timeout_s", 1}});
  ASSERT_TRUE(b.sb);
  auto r = b.exec("echo started; sleep 30");
  EXPECT_TRUE(flag(r, "timed_out"));
  EXPECT_EQ(num(r, "exit_code"), 124);
  auto ok = b.exec("sleep 1.5; echo fine", {{"timeout_s", 0}});
  EXPECT_FALSE(flag(ok, "timed_out"));
  EXPECT_EQ(str(ok, "stdout"), "fine\n");
}

TEST_F(Exec, BadRequestsAndAMissingShell) {
  EXPECT_EQ(box.exec("").code(), "invalid_argument");
  EXPECT_EQ(box.exec("true", {{"timeout_s", -1}}).code(), "invalid_argument");
  // Environment names as the daytona plugin takes them (sdk::is_env_name): [A-Za-z_][A-Za-z0-9_]*.
  for (const char* name : {"BAD-NAME", "1X", "A=B", ""})
    EXPECT_EQ(box.exec("true", {{"env", {{name, "v"}}}}).code(), "invalid_argument") << name;
  EXPECT_TRUE(box.exec("true", {{"env", {{"_Ok9", "v"}}}}).ok());
  Box b(json::object{{"shell", "/nonexistent/sh"}});
  ASSERT_TRUE(b.sb);
  auto r = b.exec("true");
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.message().find("/nonexistent/sh"), std::string::npos) << r.message();
}

}  // namespace

namespace {
// The survivor check itself must see a live process, or the tests above could never fail.
TEST(ExecCheck, SurvivorScanFindsALiveProcess) {
  auto m = marker();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/sleep", "sleep", ("1000." + m).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::vector<pid_t> seen;
  for (int i = 0; i < 500 && seen.empty(); ++i) {
    seen = pids_with(m);
    if (seen.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(seen, std::vector<pid_t>{pid});
}
}  // namespace
