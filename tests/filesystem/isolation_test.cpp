// SPDX-License-Identifier: Apache-2.0
// Isolation levels, the network namespace and resource limits, on this machine's kernel.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

using namespace fs_test;
namespace json = boost::json;

namespace {

TEST(Isolation, WorkspaceWriteConfinesWritesToTheWorkspaceAndTmp) {
  Box b;  // workspace-write is the default
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_EQ(b.sb->info().at("isolation").at("level"), "workspace-write");
  const fs::path target = b.outside.path() / "escaped.txt";
  auto r = b.exec("echo x > '" + target.string() + "'");
  EXPECT_NE(num(r, "exit_code"), 0);
  EXPECT_FALSE(fs::exists(target)) << "wrote outside the workspace";
  // /tmp is the sandbox's own: a file made there is not in the host's /tmp.
  const std::string name = "ar-escape-" + marker();
  EXPECT_EQ(num(b.exec("touch /tmp/" + name), "exit_code"), 0);
  EXPECT_FALSE(fs::exists("/tmp/" + name)) << "wrote into the host's /tmp";
  // Inside: the workspace, its private TMPDIR, /dev/null; reading the system is fine.
  auto ok = b.exec(
      "echo a > in.txt && mkdir -p d/e && echo b > \"$TMPDIR/t\" && echo c > /dev/null && "
      "cat /etc/hostname >/dev/null && ls / >/dev/null");
  EXPECT_EQ(num(ok, "exit_code"), 0) << str(ok, "output");
  EXPECT_TRUE(fs::exists(b.ws() / "in.txt"));
  // No privileges to gain.
  EXPECT_EQ(str(b.exec("grep NoNewPrivs /proc/self/status"), "stdout"), "NoNewPrivs:\t1\n");
}

TEST(Isolation, ReadOnlyWritesNowhere) {
  Box b(json::object{{"isolation", "read-only"}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  ASSERT_TRUE(b.write("seed.txt", "seed").ok());  // file operations still work
  auto r = b.exec("cat seed.txt && { echo x > new.txt; } 2>/dev/null");
  EXPECT_EQ(str(r, "stdout"), "seed");
  EXPECT_NE(num(r, "exit_code"), 0);
  EXPECT_FALSE(fs::exists(b.ws() / "new.txt"));
}

TEST(Isolation, NoneIsTheControl) {
  Box b(json::object{{"isolation", "none"}});
  ASSERT_TRUE(b.sb);
  const fs::path target = b.outside.path() / "allowed.txt";
  EXPECT_EQ(num(b.exec("echo x > '" + target.string() + "'"), "exit_code"), 0);
  EXPECT_TRUE(fs::exists(target));
}

// A listening TCP socket on the host's loopback.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
};

std::string connect_cmd(int port) {
  return "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", " +
         std::to_string(port) + "), timeout=3); print(\"connected\")'";
}

TEST(Isolation, NetworkFalseCannotReachTheHostLoopback) {
  Listener l;
  ASSERT_GT(l.port, 0);
  Box open_net;
  ASSERT_TRUE(open_net.sb);
  auto c = open_net.exec(connect_cmd(l.port));
  ASSERT_EQ(str(c, "stdout"), "connected\n") << "control failed";
  Box closed(json::object{{"network", false}});
  ASSERT_TRUE(closed.sb) << closed.create_error.message();
  EXPECT_EQ(closed.sb->info().at("isolation").at("network_namespace"), true);
  auto r = closed.exec(connect_cmd(l.port));
  EXPECT_NE(num(r, "exit_code"), 0);
  EXPECT_EQ(str(r, "output").find("connected"), std::string::npos) << str(r, "output");
  // Its own loopback is up.
  auto lo = closed.exec(
      "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); s.listen(); "
      "c=socket.create_connection(s.getsockname()); print(\"lo ok\")'");
  EXPECT_EQ(str(lo, "stdout"), "lo ok\n");
}

TEST(Isolation, ProcessLimitStopsAForkLoopAndEverythingIsCleanedUp) {
  Box b(json::object{{"limits", {{"processes", 16}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  auto m = marker();
  auto r = b.exec(
      "i=0; while [ $i -lt 200 ]; do sleep 1000." + m + " & i=$((i+1)); done; echo all-started",
      {{"timeout_s", 60}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_FALSE(flag(r, "timed_out"));
  EXPECT_EQ(str(r, "stdout").find("all-started"), std::string::npos)
      << "200 processes started under a limit of 16";
  EXPECT_NE(str(r, "output").find("fork"), std::string::npos) << str(r, "output");
  EXPECT_EQ(pids_with(m), std::vector<pid_t>{});
}

TEST(Isolation, RlimitsApply) {
  Box b(json::object{
      {"limits", {{"open_files", 64}, {"cpu_s", 7}, {"memory_mb", 256}, {"file_size_mb", 1}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_EQ(str(b.exec("ulimit -n"), "stdout"), "64\n");
  EXPECT_EQ(str(b.exec("ulimit -t"), "stdout"), "7\n");
  auto mem = b.exec("python3 -c 'x = bytearray(512 * 1024 * 1024)'");
  EXPECT_NE(num(mem, "exit_code"), 0);
  if (b.sb->info().at("isolation").at("memory_limit") == "cgroup") {
    // The tree's cgroup: the allocation is OOM-killed, and no per-process address space limit.
    EXPECT_EQ(num(mem, "exit_code"), 137) << str(mem, "output");
    EXPECT_EQ(str(b.exec("ulimit -v"), "stdout"), "unlimited\n");
  } else {
    EXPECT_NE(str(mem, "output").find("MemoryError"), std::string::npos) << str(mem, "output");
    EXPECT_EQ(str(b.exec("ulimit -v"), "stdout"), "262144\n");
  }
  auto big = b.exec("head -c 2000000 /dev/zero > big");
  EXPECT_NE(num(big, "exit_code"), 0);
  EXPECT_LE(fs::file_size(b.ws() / "big"), 1u << 20);
}

// memory_mb bounds the command's tree as a whole (a memory cgroup), not each process: three
// processes that each hold 40 MiB cannot all hold it at once under 64 MiB. Each one allocates and
// touches 40 MiB, says "held N", then keeps it until the test creates `stop`; the test waits until
// every one has either said "held" or died, so all that reach "kept N" held their memory at the
// same moment.
TEST(Isolation, MemoryLimitBoundsTheTreeAsAWhole) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (a memory cgroup per command tree)";
  Box b(json::object{{"limits", {{"memory_mb", 64}, {"processes", 8}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  const auto* scope = b.sb->info().at("isolation").as_object().if_contains("memory_limit");
  if (scope && *scope != "cgroup")
    GTEST_SKIP() << "no writable memory cgroup on this machine (see agent-runner doctor)";
  const std::string script =
      "$| = 1; for $i (1..3) { my $p = fork(); if (!$p) {"
      " vec(my $x, (40 << 20) - 1, 8) = 1; print \"held $i\\n\";"
      " sleep 1 until -e \"stop\"; print \"kept $i\\n\"; exit 0 } $pid{$p} = $i }"
      " while ((my $p = wait()) > 0) { print \"exit $pid{$p} $?\\n\" }";
  std::mutex m;
  std::string seen;
  agent_runner::CallOptions o;
  o.on_output = [&](ar_stream, std::string_view d) {
    std::lock_guard l(m);
    seen.append(d);
  };
  std::thread stopper([&] {
    // Every child has either held its 40 MiB or died (bounded: the command also has a timeout).
    for (int i = 0; i < 600; ++i) {
      {
        std::lock_guard l(m);
        int reported = 0;
        for (int k = 1; k <= 3; ++k) {
          const std::string n = std::to_string(k);
          if (seen.find("held " + n) != std::string::npos ||
              seen.find("exit " + n + " ") != std::string::npos)
            ++reported;
        }
        if (reported == 3) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ar_test::write_file(b.ws() / "stop", "");
  });
  auto r = b.exec("perl -e '" + script + "'", {{"timeout_s", 120}}, o);
  stopper.join();
  ASSERT_TRUE(r.ok()) << r.message();
  const std::string out = str(r, "stdout");
  int kept = 0;
  for (int k = 1; k <= 3; ++k)
    if (out.find("kept " + std::to_string(k)) != std::string::npos) ++kept;
  EXPECT_LE(kept, 1) << "more than 64 MiB held by the tree at once:\n" << out;
}

TEST(Isolation, ConfigErrorsNameTheKey) {
  OpResult err;
  EXPECT_FALSE(open_sandbox({{"type", "filesystem"}}, std::nullopt, err));
  EXPECT_EQ(err.code(), "invalid_config");
  EXPECT_NE(err.message().find("sandbox.root_dir"), std::string::npos);
  ar_test::TempDir t;
  const auto root = t.path().string();
  EXPECT_FALSE(open_sandbox({{"root_dir", root}, {"isolaton", "none"}}, std::nullopt, err));
  EXPECT_NE(err.message().find("sandbox.isolaton: unknown key"), std::string::npos);
  EXPECT_FALSE(
      open_sandbox({{"root_dir", root}, {"limits", {{"memory_mb", 0}}}}, std::nullopt, err));
  EXPECT_EQ(err.message(), "sandbox.limits.memory_mb: must be >= 1 (got 0)");
  EXPECT_FALSE(open_sandbox({{"root_dir", root}, {"isolation", "paranoid"}}, std::nullopt, err));
  EXPECT_NE(err.message().find("sandbox.isolation"), std::string::npos);
  // The schema in the descriptor is the only key list: an unknown key, also a nested one, is
  // refused with the keys that are allowed.
  EXPECT_FALSE(
      open_sandbox({{"root_dir", root}, {"limits", {{"memry_mb", 1}}}}, std::nullopt, err));
  EXPECT_EQ(err.code(), "invalid_config");
  EXPECT_EQ(err.message(),
            "sandbox.limits.memry_mb: unknown key 'memry_mb'; known keys: memory_mb, cpu_s, "
            "open_files, file_size_mb, processes");
  // A value that does not match the schema's pattern: the key, the pattern and what it means.
  EXPECT_FALSE(open_sandbox({{"root_dir", root}, {"shell", "bin/sh"}}, std::nullopt, err));
  EXPECT_EQ(err.code(), "invalid_config");
  EXPECT_EQ(err.message(),
            "sandbox.shell: must match the pattern ^/ (an absolute path such as /bin/sh)");
  EXPECT_FALSE(open_sandbox({{"type", "filesystem"}}, std::nullopt, err));
  EXPECT_NE(err.message().find("SANDBOX_ROOT_DIR"), std::string::npos) << err.message();
  // The descriptor carries the schema the host can show and validate.
  auto schema = json::parse(plugin()->config_schema());
  EXPECT_EQ(schema.at("required").at(0), "root_dir");
  EXPECT_TRUE(schema.at("properties").as_object().contains("type"));
}

}  // namespace
