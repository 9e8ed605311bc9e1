// SPDX-License-Identifier: Apache-2.0
// A sandboxed command must never reach the terminal agent-runner was started from: it runs in a
// session of its own (no controlling terminal), with stdin from /dev/null, and TIOCSTI is refused.
// agent-runner runs here on a real pseudo-terminal as its controlling terminal; the command tries
// to push a command line into it (TIOCSTI through /dev/tty and through the pty's own path) and to
// write to it. Afterwards the terminal's input queue must be empty and nothing the command wrote
// may have reached the terminal.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>

using namespace fs_test;

namespace {

// Markers split in the command text so that only the command's effect can produce them.
const std::string kInjected = "INJECTED";
const std::string kWritten = "TTYWRITE";

// The attack: TIOCSTI of "echo INJECTED\n" and a write, through /dev/tty and the pty's path.
std::string attack(const std::string& pts) {
  return "perl -e 'for my $p (\"/dev/tty\", $ARGV[0]) {"
         " my $t; open($t, \"+<\", $p) or open($t, \"<\", $p) or do { print \"no $p: $!\\n\"; "
         "next };"
         " my $n = 0; for my $c (split //, \"echo INJ\" . \"ECTED\\n\") { $n++ if ioctl($t, "
         "0x5412, $c) }"
         " print \"$p: pushed $n\\n\"; print $t \"TTY\" . \"WRITE\\n\"; close $t }' " +
         pts;
}

struct PtyRun {
  int exit_code = -1;
  std::string terminal;  // everything the terminal received
  std::string out;       // stdout, when it is a pipe (MCP)
  std::string pending;   // input waiting in the terminal's queue (what a shell would read next)
};

// Runs the argv that `make_argv` builds for the pty's path as the session leader of a new
// session whose controlling terminal is that fresh pty. stdin and stdout are the terminal too,
// unless `make_input` is given: then stdin is a pipe fed with what it returns and stdout a pipe
// (as an MCP client runs the server), stderr staying on the terminal.
using ArgvFor = std::function<std::vector<std::string>(const std::string& pts)>;
using InputFor = std::function<std::string(const std::string& pts)>;

PtyRun run_on_pty(const ArgvFor& make_argv, const std::map<std::string, std::string>& env,
                  const InputFor& make_input = nullptr) {
  PtyRun r;
  int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    ADD_FAILURE() << "no pseudo-terminal: " << std::strerror(errno);
    return r;
  }
  const std::string pts = ::ptsname(master);
  int slave = ::open(pts.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  termios tio{};
  ::tcgetattr(slave, &tio);
  ::cfmakeraw(&tio);  // every byte pushed counts, nothing is echoed
  ::tcsetattr(slave, TCSANOW, &tio);
  const bool piped = static_cast<bool>(make_input);
  int in[2] = {-1, -1}, out[2] = {-1, -1};
  if (piped && (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)) return r;
  std::vector<std::string> env_s;
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_s = make_argv(pts);
  for (auto& s : argv_s) args.push_back(s.data());
  args.push_back(nullptr);
  const std::string input = piped ? make_input(pts) : "";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    ::ioctl(slave, TIOCSCTTY, 0);
    ::dup2(piped ? in[0] : slave, 0);
    ::dup2(piped ? out[1] : slave, 1);
    ::dup2(slave, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  if (piped) {
    ::close(in[0]);
    ::close(out[1]);
    (void)!::write(in[1], input.data(), input.size());
    ::close(in[1]);
  }
  ::fcntl(master, F_SETFL, O_NONBLOCK);
  char buf[4096];
  bool exited = false;
  int status = 0;
  // Until the process has exited and neither the terminal nor stdout had anything for a while.
  for (int idle = 0; !exited || idle < 5;) {
    pollfd p[2] = {{master, POLLIN, 0}, {out[0], POLLIN, 0}};
    const int n = ::poll(p, out[0] >= 0 ? 2 : 1, 100);
    bool got = false;
    if (n > 0 && (p[0].revents & POLLIN)) {
      ssize_t k = ::read(master, buf, sizeof buf);
      if (k > 0) {
        r.terminal.append(buf, static_cast<size_t>(k));
        got = true;
      }
    }
    if (n > 0 && out[0] >= 0 && p[1].revents) {
      ssize_t k = ::read(out[0], buf, sizeof buf);
      if (k > 0) {
        r.out.append(buf, static_cast<size_t>(k));
        got = true;
      } else {
        ::close(out[0]);
        out[0] = -1;
      }
    }
    if (!exited && ::waitpid(pid, &status, WNOHANG) == pid) exited = true;
    idle = got ? 0 : idle + 1;
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int queued = 0;
  ::ioctl(slave, FIONREAD, &queued);
  if (queued > 0) {
    r.pending.resize(static_cast<size_t>(queued));
    ssize_t k = ::read(slave, r.pending.data(), r.pending.size());
    r.pending.resize(k > 0 ? static_cast<size_t>(k) : 0);
  }
  if (out[0] >= 0) ::close(out[0]);
  ::close(slave);
  ::close(master);
  return r;
}

std::map<std::string, std::string> local_env(const fs::path& root) {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_ROOT_DIR"] = root.string();
  return env;
}

void expect_terminal_untouched(const PtyRun& r) {
  EXPECT_EQ(r.terminal.find(kWritten), std::string::npos)
      << "the command wrote to the terminal: " << r.terminal;
  EXPECT_EQ(r.terminal.find(kInjected), std::string::npos) << r.terminal;
  EXPECT_EQ(r.pending, "") << "input was pushed into the terminal's queue";
}

// The harness itself: the same attack run directly on the terminal does reach it, so the
// checks below can fail.
TEST(Terminal, TheAttackWorksWithoutASandbox) {
  auto r = run_on_pty(
      [](const std::string& pts) -> std::vector<std::string> {
        return {"/bin/sh", "-c", attack(pts)};
      },
      ar_test::base_env());
  EXPECT_NE(r.terminal.find(kWritten), std::string::npos)
      << "a direct write to the terminal did not arrive: " << r.terminal;
  if (::geteuid() == 0) {
    EXPECT_NE(r.pending.find("echo " + kInjected), std::string::npos)
        << "TIOCSTI as root did not inject: " << r.terminal;
  }
}

TEST(Terminal, ExecCannotReachTheTerminal) {
  ar_test::TempDir root;
  auto r = run_on_pty(
      [](const std::string& pts) -> std::vector<std::string> {
        return {AR_TEST_HOST_BIN, "exec", "--", attack(pts)};
      },
      local_env(root.path()));
  EXPECT_EQ(r.exit_code, 0) << r.terminal;
  EXPECT_NE(r.terminal.find("no /dev/tty"), std::string::npos)
      << "the command had a controlling terminal: " << r.terminal;
  expect_terminal_untouched(r);
}

TEST(Terminal, McpExecuteCannotReachTheTerminal) {
  ar_test::TempDir root;
  auto r = run_on_pty(
      [](const std::string&) -> std::vector<std::string> {
        return {AR_TEST_HOST_BIN, "serve", "--mcp"};
      },
      local_env(root.path()),
      [](const std::string& pts) -> std::string {
        boost::json::object call{
            {"jsonrpc", "2.0"},
            {"id", 2},
            {"method", "tools/call"},
            {"params", {{"name", "execute"}, {"arguments", {{"command", attack(pts)}}}}}};
        return std::string(
                   R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
                   "\n"
                   R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
                   "\n") +
               boost::json::serialize(call) + "\n";
      });
  EXPECT_EQ(r.exit_code, 0) << r.terminal;
  EXPECT_NE(r.out.find("no /dev/tty"), std::string::npos)
      << "the command had a controlling terminal: " << r.out;
  expect_terminal_untouched(r);
}

}  // namespace
