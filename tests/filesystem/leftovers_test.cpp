// SPDX-License-Identifier: Apache-2.0
// agent-runner killed with -9 in the middle of a command: no process of the command's tree may
// survive (with and without a PID namespace), and the next start removes the directories the
// killed process left (its ephemeral workspace, its private TMPDIR, its cgroups) but never those
// of another agent-runner that is still running.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <thread>

using namespace fs_test;

namespace {

// Waits (bounded) until `done` holds; returns whether it did.
template <typename F>
bool eventually(F done, int seconds = 30) {
  for (int i = 0; i < seconds * 20; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

// `agent-runner ... exec -- CMD` started in the background, output into a file.
struct Host {
  pid_t pid = -1;
  fs::path out;
  Host(const std::map<std::string, std::string>& env, const fs::path& config,
       const std::string& cmd, const fs::path& out_file)
      : out(out_file) {
    std::vector<std::string> argv = {AR_TEST_HOST_BIN, "--config", config.string(),
                                     "exec",           "--",       cmd};
    std::vector<std::string> env_s;
    for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
    std::vector<char*> a, e;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    for (auto& s : env_s) e.push_back(s.data());
    e.push_back(nullptr);
    pid = ::fork();
    if (pid == 0) {
      int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execve(a[0], a.data(), e.data());
      ::_exit(127);
    }
  }
  int wait() {
    int st = 0;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  }
  ~Host() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      wait();
    }
  }
};

std::set<std::string> entries(const fs::path& dir, const std::string& prefix) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.insert(e.path().string());
  return out;
}

// cgroup directories named agent-runner-<pid>-* anywhere under /sys/fs/cgroup.
std::vector<std::string> cgroups_of(pid_t pid) {
  std::vector<std::string> out;
  const std::string prefix = "agent-runner-" + std::to_string(pid) + "-";
  std::error_code ec;
  fs::recursive_directory_iterator it("/sys/fs/cgroup", ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    if (it.depth() > 6) it.disable_recursion_pending();
    if (it->is_directory(ec) && it->path().filename().string().rfind(prefix, 0) == 0)
      out.push_back(it->path().string());
  }
  return out;
}

// The namespaces `pid` holds descriptors of ("mnt:[4026532...]"): the container view's.
std::set<std::string> namespace_fds(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    const std::string link = fs::read_symlink(e.path(), ec).string();
    if (!ec && link.rfind("mnt:[", 0) == 0) out.insert(link);
  }
  return out;
}

// Processes in one of `namespaces` (by /proc/P/ns/mnt).
std::vector<pid_t> processes_in(const std::set<std::string>& namespaces) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string ns = fs::read_symlink(e.path() / "ns" / "mnt", ec).string();
    if (!ec && namespaces.count(ns)) out.push_back(std::stoi(name));
  }
  return out;
}

class KillNine : public ::testing::TestWithParam<bool> {};  // param: with a PID namespace

TEST_P(KillNine, KillsTheTreeAndTheNextStartSweepsOnlyStaleLeftovers) {
  ar_test::TempDir root, tmp, logs;
  const fs::path config = logs.path() / "config.yaml";
  // limits.processes gives each command a cgroup (as root).
  ar_test::write_file(config, "sandbox:\n  limits:\n    processes: 64\n");
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = root.path().string();
  env["TMPDIR"] = tmp.path().string();
  if (!GetParam()) env["AGENT_RUNNER_FS_NO_PID_NAMESPACE"] = "1";

  // B: a live agent-runner whose command waits for a file in its workspace.
  const std::string mb = marker();
  Host b(env, config, "while [ ! -e stop." + mb + " ]; do sleep 0.05; done; echo b-done." + mb,
         logs.path() / "b.out");
  // Its shell runs (the host's own command line holds the text after "exec --", not "sh -c").
  ASSERT_TRUE(eventually([&] { return !pids_with("sh -c while [ ! -e stop." + mb).empty(); }))
      << ar_test::read_file(b.out);
  const auto b_workspaces = entries(root.path(), ".ephemeral-");
  const auto b_tmps = entries(tmp.path(), "agent-runner-fs-");
  ASSERT_EQ(b_workspaces.size(), 1u);
  ASSERT_EQ(b_tmps.size(), 1u);

  // A: killed with -9 while its command (with a setsid'd and a background child) runs.
  // The marker ".<m>" appears only in the sleeps' own command lines (not in the host's, which
  // holds the command text).
  const std::string m = marker();
  Host a(env, config, "m=" + m + "; sleep 1000.$m & setsid sleep 1001.$m & sleep 1002.$m; wait",
         logs.path() / "a.out");
  ASSERT_TRUE(eventually([&] { return pids_with("." + m).size() >= 3; }))
      << ar_test::read_file(a.out);
  const pid_t a_pid = a.pid;
  // The container view's namespaces are held by descriptors of A's, not by a process of their
  // own: nothing but A's command runs in them, and nothing is left in them once A is gone.
  const auto view_ns = namespace_fds(a_pid);
  if (!GetParam() && !view_ns.empty()) {  // the command itself runs in the view's namespace
    EXPECT_FALSE(processes_in(view_ns).empty()) << "the namespace scan sees nothing";
  }
  ::kill(a.pid, SIGKILL);
  a.wait();
  const bool tree_gone = eventually([&] { return pids_with("." + m).empty(); }, 10);
  for (pid_t p : pids_with("." + m)) ::kill(p, SIGKILL);  // clean up before failing
  EXPECT_TRUE(tree_gone) << "a process of the killed host's command survived";
  if (!view_ns.empty()) {
    EXPECT_TRUE(eventually([&] { return processes_in(view_ns).empty(); }, 10))
        << "a process is left in the killed host's view, e.g. pid " << processes_in(view_ns)[0];
  }
  // What A leaves behind, beside B's.
  EXPECT_EQ(entries(root.path(), ".ephemeral-").size(), 2u);
  EXPECT_EQ(entries(tmp.path(), "agent-runner-fs-").size(), 2u);

  // C: the next start sweeps A's leftovers, not B's.
  auto c = ar_test::run({AR_TEST_HOST_BIN, "--config", config.string(), "exec", "--", "true"}, env);
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(entries(root.path(), ".ephemeral-"), b_workspaces) << "A's workspace was not swept";
  EXPECT_EQ(entries(tmp.path(), "agent-runner-fs-"), b_tmps) << "A's TMPDIR was not swept";
  if (::geteuid() == 0) {
    EXPECT_EQ(cgroups_of(a_pid), std::vector<std::string>{}) << "A's cgroup was not removed";
  }

  // B is intact and finishes normally, removing its own directories.
  ar_test::write_file(fs::path(*b_workspaces.begin()) / ("stop." + mb), "");
  EXPECT_EQ(b.wait(), 0) << ar_test::read_file(b.out);
  EXPECT_NE(ar_test::read_file(b.out).find("b-done." + mb), std::string::npos);
  EXPECT_EQ(entries(root.path(), ".ephemeral-"), std::set<std::string>{});
  EXPECT_EQ(entries(tmp.path(), "agent-runner-fs-"), std::set<std::string>{});
}

// An unlocked directory is not always a leftover: an older agent-runner took no lock and put no
// pid in the name. The sweep removes one whose recorded pid is gone, or (without a pid) one not
// modified for an hour, and nothing else.
TEST(Leftovers, TheSweepSparesDirectoriesThatMayStillBeInUse) {
  ar_test::TempDir root, tmp;
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = root.path().string();
  env["TMPDIR"] = tmp.path().string();
  // A pid that is gone: a child that exited and was reaped.
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ::waitpid(dead, nullptr, 0);
  const std::string live = std::to_string(::getpid()), gone = std::to_string(dead);
  struct Case {
    fs::path dir;
    bool swept;
  };
  std::vector<Case> cases;
  for (const auto& [parent, prefix] : {std::pair{root.path(), std::string(".ephemeral-")},
                                       std::pair{tmp.path(), std::string("agent-runner-fs-")}}) {
    cases.push_back({parent / (prefix + "a1b2c3"), false});          // older version, fresh
    cases.push_back({parent / (prefix + "d4e5f6"), true});           // older version, stale
    cases.push_back({parent / (prefix + gone + "-0a0b0c"), true});   // its process is gone
    cases.push_back({parent / (prefix + live + "-0d0e0f"), false});  // its process runs
  }
  for (const auto& c : cases) {
    fs::create_directories(c.dir);
    ar_test::write_file(c.dir / "f", "x");
  }
  const auto hour_and_a_bit = fs::file_time_type::clock::now() - std::chrono::minutes(70);
  fs::last_write_time(cases[1].dir, hour_and_a_bit);
  fs::last_write_time(cases[5].dir, hour_and_a_bit);
  auto r = ar_test::run({AR_TEST_HOST_BIN, "exec", "--", "true"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& c : cases)
    EXPECT_EQ(fs::exists(c.dir), !c.swept) << c.dir << (c.swept ? " was not swept" : " was swept");
}

INSTANTIATE_TEST_SUITE_P(Modes, KillNine, ::testing::Values(true, false), [](const auto& info) {
  return info.param ? "PidNamespace" : "NoPidNamespace";
});

}  // namespace
