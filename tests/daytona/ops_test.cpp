// SPDX-License-Identifier: Apache-2.0
// Every sandbox operation of the built daytona.so, through the host's Sandbox, against the test
// Daytona server: results, error codes, streaming, timeouts, cancellation, output caps; and the
// same operations on the filesystem plugin giving the same results.
#include "fake_server.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

namespace json = boost::json;
using namespace agent_runner;
using namespace dt_test;

namespace {

class Ops : public ::testing::Test {
 protected:
  void SetUp() override {
    sb = open(config(srv));
    ASSERT_TRUE(sb);
  }
  OpResult write(const std::string& path, const std::string& content, bool overwrite = false) {
    CallOptions o;
    o.inputs = {content};
    return sb->call(Op::write, {{"path", path}, {"overwrite", overwrite}}, o);
  }
  OpResult exec(const std::string& cmd, json::object extra = {}, const CallOptions& o = {}) {
    extra["command"] = cmd;
    return sb->call(Op::execute, extra, o);
  }
  FakeDaytona srv;
  std::unique_ptr<Sandbox> sb;
};

// True once no live process has this pid (a zombie waiting for its reaper counts as gone).
bool gone(long pid) {
  for (int i = 0; i < 200; ++i) {
    std::ifstream st("/proc/" + std::to_string(pid) + "/stat");
    std::string s;
    if (!std::getline(st, s)) return true;
    auto close = s.rfind(')');
    if (close != std::string::npos && s.size() > close + 2 && s[close + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

}  // namespace

TEST_F(Ops, ExecuteReportsExitCodeAndTheOutputInOrder) {
  auto r = exec("echo out; echo err >&2; exit 7");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("exit_code"), 7);
  // stderr shares stdout's file so that the combined output keeps the order of the writes.
  EXPECT_EQ(r.body.at("output"), "out\nerr\n");
  EXPECT_EQ(r.body.at("stdout"), "out\nerr\n");
  EXPECT_EQ(r.body.at("stderr"), "");
  EXPECT_EQ(r.body.at("timed_out"), false);
  EXPECT_EQ(r.body.at("truncated"), false);
  EXPECT_EQ(r.body.at("stdout_bytes"), 8);
  EXPECT_EQ(r.body.at("stderr_bytes"), 0);
  EXPECT_TRUE(r.body.at("duration_ms").is_int64());
}

// Issue 14: the combined output keeps the order of the writes across stdout and stderr, every
// time, in the result and in the streamed chunks.
TEST_F(Ops, InterleavedStdoutAndStderrKeepTheirOrderEveryTime) {
  for (int i = 0; i < 100; ++i) {
    std::string streamed;
    CallOptions o;
    o.on_output = [&](ar_stream, std::string_view d) { streamed += d; };
    auto r = exec("echo 1; echo 2 >&2; echo 3; echo 4 >&2; echo 5", {}, o);
    ASSERT_TRUE(r.ok()) << r.message();
    ASSERT_EQ(r.body.at("output"), "1\n2\n3\n4\n5\n") << "run " << i;
    ASSERT_EQ(streamed, "1\n2\n3\n4\n5\n") << "run " << i;
  }
}

TEST_F(Ops, ExecuteStartsInWorkdirWithEnvAndCwdAndClosedStdin) {
  const std::string wd(sb->info().at("workdir").as_string());
  EXPECT_EQ(wd, "/home/daytona");  // the toolbox's GET /work-dir
  ASSERT_TRUE(write("sub/dir/f.txt", "x").ok());
  EXPECT_EQ(exec("pwd").body.at("output"), json::value(wd + "\n"));
  auto r =
      exec("pwd; echo \"$GREETING $OTHER\"; cat; echo done",
           {{"cwd", "sub/dir"}, {"env", {{"GREETING", "it's \"quoted\" $HOME"}, {"OTHER", "b"}}}});
  ASSERT_TRUE(r.ok()) << r.message();
  const std::string out(r.body.at("stdout").as_string());
  EXPECT_NE(out.find(wd + "/sub/dir\n"), std::string::npos) << out;
  EXPECT_NE(out.find("it's \"quoted\" $HOME b\n"), std::string::npos) << out;
  EXPECT_NE(out.find("done"), std::string::npos);
  EXPECT_EQ(exec("pwd", {{"cwd", wd + "/sub"}}).body.at("output"), json::value(wd + "/sub\n"));
  EXPECT_EQ(exec("pwd", {{"cwd", "/tmp"}}).body.at("output"), "/tmp\n");
  auto missing = exec("true", {{"cwd", "/nope"}});
  EXPECT_EQ(missing.status, AR_ERR_FILE_NOT_FOUND);
  EXPECT_EQ(exec("true", {{"cwd", "sub/dir/f.txt"}}).status, AR_ERR_NOT_A_DIRECTORY);
  auto escape = exec("true", {{"cwd", "/../.."}});
  EXPECT_EQ(escape.status, AR_ERR_INVALID_PATH);
  auto bad_env = exec("true", {{"env", {{"1BAD", "x"}}}});
  EXPECT_EQ(bad_env.status, AR_ERR_INVALID_ARGUMENT);
  // A long name is refused, not matched by a recursive regex that overflows the stack.
  auto long_env = exec("true", {{"env", {{std::string(1'000'000, 'A') + "-", "x"}}}});
  EXPECT_EQ(long_env.status, AR_ERR_INVALID_ARGUMENT);
}

// Issue 14: an absolute path is the sandbox's real path for commands and file operations alike;
// a relative one is below workdir, where commands start.
TEST_F(Ops, CommandsAndFileOperationsSeeTheSamePaths) {
  const std::string wd(sb->info().at("workdir").as_string());
  auto w = write("notes/a.txt", "relative\n");
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w.body.at("path"), json::value(wd + "/notes/a.txt"));
  EXPECT_EQ(exec("cat notes/a.txt").body.at("output"), "relative\n");
  EXPECT_EQ(exec("cat " + wd + "/notes/a.txt").body.at("output"), "relative\n");
  ASSERT_TRUE(write("/tmp/abs.txt", "absolute\n").ok());
  EXPECT_EQ(exec("cat /tmp/abs.txt").body.at("output"), "absolute\n");
  ASSERT_TRUE(exec("mkdir -p /srv/app && echo made > /srv/app/m.txt").ok());
  EXPECT_EQ(sb->call(Op::read, {{"path", "/srv/app/m.txt"}}).buffers.at(0), "made\n");
  EXPECT_EQ(sb->call(Op::read, {{"path", "../daytona/notes/a.txt"}}).buffers.at(0), "relative\n");
  auto ls = sb->call(Op::ls, {});
  ASSERT_TRUE(ls.ok()) << ls.message();
  EXPECT_EQ(ls.body.at("path"), json::value(wd));
  ASSERT_EQ(ls.body.at("entries").as_array().size(), 1u);
  EXPECT_EQ(ls.body.at("entries").as_array()[0].as_object().at("path"), json::value(wd + "/notes"));
  // The system directories are the image's, read-only for both.
  EXPECT_NE(exec("touch /usr/x").body.at("exit_code"), 0);
  EXPECT_EQ(write("/usr/x", "x").status, AR_ERR_PERMISSION_DENIED);
}

TEST_F(Ops, ExecuteStreamsOutputWhileTheCommandRuns) {
  std::vector<std::pair<ar_stream, std::string>> chunks;
  std::mutex m;
  CallOptions o;
  o.on_output = [&](ar_stream s, std::string_view d) {
    std::lock_guard l(m);
    chunks.emplace_back(s, std::string(d));
  };
  auto r = exec("echo one; sleep 0.5; echo two >&2; sleep 0.5; echo three", {}, o);
  ASSERT_TRUE(r.ok()) << r.message();
  std::string all;
  for (auto& [s, d] : chunks) all += d;
  EXPECT_EQ(all, "one\ntwo\nthree\n");
  EXPECT_GE(chunks.size(), 2u);  // not one block at the end
}

TEST_F(Ops, TimeoutKillsTheWholeTreeAndKeepsPartialOutput) {
  auto r = exec(
      "echo before; sleep 1001 & echo $!; setsid sh -c 'sleep 1002 & echo $!; wait' & "
      "sleep 1; wait",
      {{"timeout_s", 2}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("exit_code"), 124);
  EXPECT_EQ(r.body.at("timed_out"), true);
  std::istringstream out(std::string(r.body.at("stdout").as_string()));
  std::string first;
  std::getline(out, first);
  EXPECT_EQ(first, "before");
  long pid;
  int seen = 0;
  while (out >> pid) {
    ++seen;
    EXPECT_TRUE(gone(pid)) << "process " << pid << " outlived the timed-out call";
  }
  EXPECT_EQ(seen, 2);
}

TEST_F(Ops, BackgroundChildrenOfAFinishedCommandDoNotSurvive) {
  auto r = exec("sleep 1003 >/dev/null 2>&1 & echo $!");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("exit_code"), 0);
  EXPECT_TRUE(gone(std::stol(std::string(r.body.at("stdout").as_string()))));
}

TEST_F(Ops, CancellationKillsTheCommandAndReturnsCancelled) {
  std::atomic<bool> cancel{false};
  std::atomic<long> pid{0};
  CallOptions o;
  o.cancelled = &cancel;
  o.on_output = [&](ar_stream, std::string_view d) {
    if (pid == 0) pid = std::atol(std::string(d).c_str());
    cancel = true;
  };
  auto r = exec("sleep 1004 & echo $!; wait", {{"timeout_s", 60}}, o);
  EXPECT_EQ(r.status, AR_ERR_CANCELLED) << r.message();
  ASSERT_NE(pid.load(), 0);
  EXPECT_TRUE(gone(pid));
}

TEST_F(Ops, OutputIsCappedHeadAndTailWithTheTotalCounted) {
  auto r = exec("head -c 300000 /dev/zero | tr '\\0' a; echo; echo THE-END");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("truncated"), true);
  EXPECT_EQ(r.body.at("stdout_bytes"), 300000 + 1 + 8);
  const std::string out(r.body.at("stdout").as_string());
  EXPECT_LE(out.size(), 102400u + 100u);
  EXPECT_EQ(out.substr(0, 10), "aaaaaaaaaa");
  EXPECT_NE(out.find("bytes truncated"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 8), "THE-END\n");
}

// Issue 12: output far over the 64 MiB an HTTP answer may carry is capped head and tail exactly
// as locally, read once from an offset, never downloaded whole at every poll.
TEST_F(Ops, OutputOverSixtyFourMiBIsCappedAsLocallyAndReadOnce) {
  const std::string cmd = "head -c 70000000 /dev/zero | tr '\\0' a; echo; echo THE-END";
  const size_t before = srv.requests().size();
  auto r = exec(cmd);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("exit_code"), 0);
  EXPECT_EQ(r.body.at("truncated"), true);
  EXPECT_EQ(r.body.at("stdout_bytes"), 70000000 + 1 + 8);
  const std::string out(r.body.at("output").as_string());
  EXPECT_EQ(out.substr(0, 10), "aaaaaaaaaa");
  EXPECT_EQ(out.substr(out.size() - 8), "THE-END\n");
  // Read from an offset: the answers carry the output about once (base64 in 76-column lines, in
  // JSON: 4/3 * 78/76), not a growing download per poll.
  const auto after = srv.requests();
  uint64_t sent = 0;
  for (size_t i = before; i < after.size(); ++i)
    sent += after[i].as_object().at("bytes").as_int64();
  EXPECT_LT(sent, 70000000ull * 14 / 10 + 1000000);
  auto fsp = filesystem_plugin();
  if (!fsp) return;
  ar_test::TempDir root;
  OpResult err;
  auto local = Sandbox::create(fsp, {{"type", "filesystem"}, {"root_dir", root.path().string()}},
                               std::nullopt, err);
  ASSERT_TRUE(local) << err.message();
  auto l = local->call(Op::execute, {{"command", cmd}});
  ASSERT_TRUE(l.ok()) << l.message();
  EXPECT_EQ(l.body.at("output"), r.body.at("output"));
  EXPECT_EQ(l.body.at("truncated"), r.body.at("truncated"));
  EXPECT_EQ(l.body.at("stdout_bytes"), r.body.at("stdout_bytes"));
}

// Issue 12: a kept-alive connection closed right after the server received the request makes the
// client send it again; the command still runs once.
TEST_F(Ops, ACommandRunsOnceWhenTheConnectionDropsAfterTheServerGotIt) {
  ASSERT_TRUE(exec("true").ok());  // the connection is open and kept alive
  // The request that starts the command (a session's /exec in earlier versions of the plugin).
  srv.faults({{{"method", "POST"},
               {"path", "/(process/execute|exec)$"},
               {"action", "drop"},
               {"after", true},
               {"times", 1}}});
  const size_t runs_before = srv.state().at("executions").as_int64();
  auto r = exec("echo ran >> runs.txt; cat runs.txt");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(sb->call(Op::read, {{"path", "runs.txt"}}).buffers.at(0), "ran\n");
  // The request did reach the server twice (once unanswered): the second time it only reported
  // on the command the first one started.
  EXPECT_GE(srv.state().at("executions").as_int64() - runs_before, 2);
  size_t dropped = 0;
  for (const auto& q : srv.requests())
    if (q.as_object().at("status") == 0) ++dropped;
  EXPECT_EQ(dropped, 1u);
}

TEST_F(Ops, WriteReadLsEditAndTheirErrors) {
  auto w = write("/src/a.py", "print(1)\nprint(2)\nprint(3)\n");
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(w.body.at("created"), true);
  EXPECT_EQ(w.body.at("bytes_written"), 27);
  EXPECT_EQ(write("/src/a.py", "x").status, AR_ERR_ALREADY_EXISTS);
  EXPECT_EQ(write("/src", "x", true).status, AR_ERR_IS_DIRECTORY);
  EXPECT_EQ(write("/src/a.py/b", "x", true).status, AR_ERR_NOT_A_DIRECTORY);
  EXPECT_EQ(write("/../etc/passwd", "x", true).status, AR_ERR_INVALID_PATH);

  auto r = sb->call(Op::read, {{"path", "/src/a.py"}, {"offset", 1}, {"limit", 1}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.buffers.at(0), "print(2)\n");
  EXPECT_EQ(r.body.at("total_lines"), 3);
  EXPECT_EQ(r.body.at("more"), true);
  EXPECT_EQ(sb->call(Op::read, {{"path", "/src/none.py"}}).status, AR_ERR_FILE_NOT_FOUND);
  EXPECT_EQ(sb->call(Op::read, {{"path", "/src"}}).status, AR_ERR_IS_DIRECTORY);
  EXPECT_EQ(sb->call(Op::read, {{"path", "/src/a.py/x"}}).status, AR_ERR_NOT_A_DIRECTORY);

  auto ls = sb->call(Op::ls, {{"path", "/src"}});
  ASSERT_TRUE(ls.ok()) << ls.message();
  ASSERT_EQ(ls.body.at("entries").as_array().size(), 1u);
  const auto& e = ls.body.at("entries").as_array()[0].as_object();
  EXPECT_EQ(e.at("path"), "/src/a.py");
  EXPECT_EQ(e.at("is_dir"), false);
  EXPECT_EQ(e.at("size"), 27);
  EXPECT_EQ(e.at("modified_at").as_string().size(), 20u);  // 2026-11-24T12:00:00Z
  EXPECT_EQ(sb->call(Op::ls, {{"path", "/nope"}}).status, AR_ERR_FILE_NOT_FOUND);
  EXPECT_EQ(sb->call(Op::ls, {{"path", "/src/a.py"}}).status, AR_ERR_NOT_A_DIRECTORY);

  EXPECT_EQ(sb->call(Op::edit, {{"path", "/src/a.py"}, {"old", "print"}, {"new", "p"}}).status,
            AR_ERR_AMBIGUOUS);
  EXPECT_EQ(sb->call(Op::edit, {{"path", "/src/a.py"}, {"old", "zzz"}, {"new", "p"}}).status,
            AR_ERR_NOT_FOUND);
  auto ed = sb->call(
      Op::edit, {{"path", "/src/a.py"}, {"old", "print"}, {"new", "echo"}, {"replace_all", true}});
  ASSERT_TRUE(ed.ok()) << ed.message();
  EXPECT_EQ(ed.body.at("occurrences"), 3);
  EXPECT_EQ(sb->call(Op::read, {{"path", "/src/a.py"}}).buffers.at(0),
            "echo(1)\necho(2)\necho(3)\n");
}

TEST_F(Ops, BinaryContentRoundTripsAndTooLargeIsRefused) {
  std::string bin;
  for (int i = 0; i < 70000; ++i) bin.push_back(static_cast<char>(i * 7 % 256));
  ASSERT_TRUE(write("/bin.dat", bin).ok());
  auto r = sb->call(Op::read, {{"path", "/bin.dat"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.buffers.at(0), bin);
  auto small = open(config(srv, {{"max_file_bytes", 1000}, {"sandbox_id", sb->id()}}));
  ASSERT_TRUE(small);
  EXPECT_EQ(small->call(Op::read, {{"path", "/bin.dat"}}).status, AR_ERR_TOO_LARGE);
  CallOptions o;
  o.inputs = {bin};
  EXPECT_EQ(small->call(Op::write, {{"path", "/big"}}, o).status, AR_ERR_TOO_LARGE);
}

TEST_F(Ops, GlobGrepUploadDownloadDelete) {
  const std::string wd(sb->info().at("workdir").as_string());
  ASSERT_TRUE(write("src/a.py", "def f():\n    return 42\n").ok());
  ASSERT_TRUE(write("src/pkg/b.py", "X = 42\nY = 'Hello'\n").ok());
  ASSERT_TRUE(write("src/c.txt", "hello 42\n").ok());

  auto paths_of = [](const OpResult& r) {
    std::vector<std::string> paths;
    for (const auto& e : r.body.at("entries").as_array())
      paths.emplace_back(e.as_object().at("path").as_string());
    return paths;
  };
  auto g = sb->call(Op::glob, {{"pattern", "**/*.py"}});
  ASSERT_TRUE(g.ok()) << g.message();
  EXPECT_EQ(paths_of(g), (std::vector<std::string>{wd + "/src/a.py", wd + "/src/pkg/b.py"}));
  auto g2 = sb->call(Op::glob, {{"pattern", "*.py"}, {"path", "src"}});
  ASSERT_TRUE(g2.ok());
  EXPECT_EQ(g2.body.at("entries").as_array().size(), 1u);
  // An absolute pattern means absolute paths; only its directory is walked.
  auto g3 = sb->call(Op::glob, {{"pattern", wd + "/src/**/b.py"}});
  ASSERT_TRUE(g3.ok()) << g3.message();
  EXPECT_EQ(paths_of(g3), (std::vector<std::string>{wd + "/src/pkg/b.py"}));
  EXPECT_TRUE(
      sb->call(Op::glob, {{"pattern", "nodir/*.py"}}).body.at("entries").as_array().empty());
  // Issue 14: directories match too, like shell globbing, and say so.
  auto dirs = sb->call(Op::glob, {{"pattern", "src/*"}});
  ASSERT_TRUE(dirs.ok()) << dirs.message();
  EXPECT_EQ(paths_of(dirs),
            (std::vector<std::string>{wd + "/src/a.py", wd + "/src/c.txt", wd + "/src/pkg"}));
  EXPECT_EQ(dirs.body.at("entries").as_array()[2].as_object().at("is_dir"), true);
  EXPECT_EQ(dirs.body.at("entries").as_array()[0].as_object().at("is_dir"), false);

  auto lit = sb->call(Op::grep, {{"pattern", "42"}, {"path", "src"}, {"literal", true}});
  ASSERT_TRUE(lit.ok()) << lit.message();
  EXPECT_EQ(lit.body.at("matches").as_array().size(), 3u);
  const auto& m0 = lit.body.at("matches").as_array()[0].as_object();
  EXPECT_EQ(m0.at("path"), json::value(wd + "/src/a.py"));
  EXPECT_EQ(m0.at("line"), 2);
  EXPECT_EQ(m0.at("text"), "    return 42");
  auto re = sb->call(Op::grep, {{"pattern", "h[e]llo"}, {"ignore_case", true}, {"glob", "*.py"}});
  ASSERT_TRUE(re.ok()) << re.message();
  ASSERT_EQ(re.body.at("matches").as_array().size(), 1u);
  EXPECT_EQ(re.body.at("matches").as_array()[0].as_object().at("path"),
            json::value(wd + "/src/pkg/b.py"));
  auto capped = sb->call(Op::grep, {{"pattern", "\\d+"}, {"max_matches", 2}});
  ASSERT_TRUE(capped.ok()) << capped.message();
  EXPECT_EQ(capped.body.at("matches").as_array().size(), 2u);
  EXPECT_EQ(capped.body.at("truncated"), true);
  EXPECT_EQ(sb->call(Op::grep, {{"pattern", "(unclosed"}}).status, AR_ERR_INVALID_ARGUMENT);

  CallOptions up;
  up.inputs = {"#!/bin/sh\necho tool\n", "data"};
  auto u = sb->call(
      Op::upload,
      {{"files", json::array{{{"path", "bin/tool.sh"}, {"mode", 0755}}, {{"path", "/../x"}}}}}, up);
  ASSERT_TRUE(u.ok()) << u.message();
  EXPECT_EQ(u.body.at("files").as_array()[0].as_object().at("ok"), true);
  EXPECT_EQ(u.body.at("files").as_array()[0].as_object().at("path"),
            json::value(wd + "/bin/tool.sh"));
  EXPECT_EQ(u.body.at("files").as_array()[1].as_object().at("error").as_object().at("code"),
            "invalid_path");
  EXPECT_EQ(exec("/bin/sh -c ./bin/tool.sh").body.at("stdout"), "tool\n");

  auto d = sb->call(Op::download, {{"paths", json::array{"bin/tool.sh", "/missing", "src"}}});
  ASSERT_TRUE(d.ok()) << d.message();
  const auto& files = d.body.at("files").as_array();
  EXPECT_EQ(files[0].as_object().at("path"), json::value(wd + "/bin/tool.sh"));
  EXPECT_EQ(files[0].as_object().at("mode"), 0755);
  EXPECT_EQ(d.buffers.at(files[0].as_object().at("buffer").as_int64()), "#!/bin/sh\necho tool\n");
  EXPECT_EQ(files[1].as_object().at("error").as_object().at("code"), "file_not_found");
  EXPECT_EQ(files[2].as_object().at("error").as_object().at("code"), "is_directory");

  EXPECT_EQ(sb->call(Op::remove, {{"path", "src"}}).status, AR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(sb->call(Op::remove, {{"path", "/"}, {"recursive", true}}).status, AR_ERR_INVALID_PATH);
  EXPECT_EQ(sb->call(Op::remove, {{"path", "nope"}}).status, AR_ERR_FILE_NOT_FOUND);
  ASSERT_TRUE(exec("mkdir empty").ok());
  EXPECT_TRUE(sb->call(Op::remove, {{"path", "empty"}}).ok());
  auto del = sb->call(Op::remove, {{"path", "src"}, {"recursive", true}});
  ASSERT_TRUE(del.ok()) << del.message();
  EXPECT_EQ(del.body.at("deleted"), true);
  EXPECT_EQ(sb->call(Op::ls, {{"path", "src"}}).status, AR_ERR_FILE_NOT_FOUND);
}

// Issue 14: a read with limit 0 returns no lines and says how many there are.
TEST_F(Ops, ReadWithLimitZeroReturnsNoLinesAndTheCount) {
  ASSERT_TRUE(write("three.txt", "a\nb\nc\n").ok());
  auto r = sb->call(Op::read, {{"path", "three.txt"}, {"limit", 0}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("lines"), 0);
  EXPECT_EQ(r.body.at("total_lines"), 3);
  EXPECT_EQ(r.body.at("more"), true);
  EXPECT_EQ(r.buffers.at(0), "");
  // Every error carries a code.
  auto e = sb->call(Op::read, {{"path", "three.txt"}, {"offset", -1}});
  EXPECT_EQ(e.code(), "invalid_argument");
}

// The same steps on the filesystem plugin and on Daytona give the same results (ids, times and
// durations aside), so an agent cannot tell the modes apart.
TEST_F(Ops, SameResultsAsTheFilesystemPlugin) {
  auto fsp = filesystem_plugin();
  if (!fsp) GTEST_SKIP() << "filesystem plugin not built";
  ar_test::TempDir root;
  OpResult err;
  auto local = Sandbox::create(fsp, {{"type", "filesystem"}, {"root_dir", root.path().string()}},
                               std::nullopt, err);
  ASSERT_TRUE(local) << err.message();
  // Both with the same workdir, so absolute paths mean the same in both: the local sandbox's
  // (a plugin that reports none has its workspace at "/").
  const auto& linfo = local->info();
  const std::string wd =
      linfo.contains("workdir") ? std::string(linfo.at("workdir").as_string()) : "/";
  sb = open(config(srv, {{"workdir", wd}}));
  ASSERT_TRUE(sb);
  struct Step {
    Op op;
    json::object req;
    std::vector<std::string> inputs;
  };
  const std::vector<Step> steps = {
      {Op::write, {{"path", "src/main.py"}}, {"def main():\n    print('hi 42')\n\nmain()\n"}},
      {Op::write, {{"path", "src/main.py"}}, {"again"}},
      {Op::write, {{"path", "src/util/u.py"}}, {"U = 1\n"}},
      {Op::read, {{"path", "src/main.py"}, {"offset", 1}, {"limit", 2}}, {}},
      {Op::read, {{"path", "src/main.py"}, {"limit", 0}}, {}},
      {Op::read, {{"path", "src/missing.py"}}, {}},
      {Op::read, {{"path", "src"}}, {}},
      {Op::edit, {{"path", "src/main.py"}, {"old", "hi"}, {"new", "hello"}}, {}},
      {Op::edit, {{"path", "src/main.py"}, {"old", "nothere"}, {"new", "x"}}, {}},
      {Op::ls, {{"path", "src"}}, {}},
      {Op::ls, {{"path", "src/main.py"}}, {}},
      {Op::glob, {{"pattern", "**/*.py"}}, {}},
      {Op::grep, {{"pattern", "print"}, {"literal", true}, {"path", "src"}}, {}},
      {Op::grep, {{"pattern", "U = \\d"}, {"path", "src"}}, {}},
      {Op::execute, {{"command", "cat src/main.py; exit 3"}}, {}},
      {Op::execute, {{"command", "echo err >&2"}}, {}},
      {Op::remove, {{"path", "src/util"}}, {}},
      {Op::remove, {{"path", "src/util"}, {"recursive", true}}, {}},
      {Op::remove, {{"path", "/"}}, {}},
  };
  auto scrub = [](json::value v) {
    if (v.is_object()) {
      auto& o = v.as_object();
      o.erase("duration_ms");
      o.erase("message");  // human text may name the backend
      // Separate stdout/stderr captures are best effort (issue 14); `output` is compared.
      for (const char* k : {"stdout", "stderr", "stdout_bytes", "stderr_bytes"}) o.erase(k);
      if (auto it = o.find("entries"); it != o.end())
        for (auto& e : it->value().as_array()) e.as_object().erase("modified_at");
    }
    return v;
  };
  for (size_t i = 0; i < steps.size(); ++i) {
    CallOptions o;
    for (const auto& in : steps[i].inputs) o.inputs.push_back(in);
    auto a = local->call(steps[i].op, steps[i].req, o);
    auto b = sb->call(steps[i].op, steps[i].req, o);
    EXPECT_EQ(a.code(), b.code()) << "step " << i << ": " << a.message() << " | " << b.message();
    EXPECT_EQ(scrub(a.body), scrub(b.body)) << "step " << i;
    EXPECT_EQ(a.buffers, b.buffers) << "step " << i;
  }
}
