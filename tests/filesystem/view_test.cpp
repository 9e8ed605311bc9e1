// SPDX-License-Identifier: Apache-2.0
// The container view (issue 14): commands see a root of their own built from the view table —
// the workspace at workdir, the sandbox's own /tmp, the host's system directories read-only with
// secrets masked, extra mounts — and nothing else of the host. Each check looks at the host's
// files too, not only at what the command prints. Skipped where this machine gives the host view
// (doctor says which).
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <set>

using namespace fs_test;
namespace json = boost::json;

namespace {

class View : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(box.sb) << box.create_error.message();
    if (!container_view(box)) GTEST_SKIP() << "this machine gives the host view (doctor: view)";
  }
  Box box;
};

TEST_F(View, WorkdirIsWhereCommandsStartAndTheWorkspaceIsThere) {
  EXPECT_EQ(workdir(box), "/workspace");
  EXPECT_EQ(str(box.exec("pwd"), "stdout"), "/workspace\n");
  auto r = box.exec("echo made > /workspace/by-abs && echo rel > by-rel && ls /workspace");
  EXPECT_EQ(str(r, "stdout"), "by-abs\nby-rel\n") << str(r, "output");
  EXPECT_EQ(ar_test::read_file(box.ws() / "by-abs"), "made\n");
  EXPECT_EQ(ar_test::read_file(box.ws() / "by-rel"), "rel\n");
}

TEST_F(View, NothingElseOfTheHostIsThere) {
  // A file in the host's /tmp, another session's workspace beside ours, the host's /root.
  const std::string mark = marker();
  const fs::path host_tmp_file = "/tmp/ar-view-" + mark;
  ar_test::write_file(host_tmp_file, "content-of-host-tmp");
  const fs::path other = box.root.path() / "other-session";
  fs::create_directories(other);
  ar_test::write_file(other / "secret.txt", "content-of-other-tenant");
  const std::string root_dir = box.root.path().string();
  struct Probe {
    std::string cmd;
    std::string what;
  };
  const std::vector<Probe> probes = {
      {"ls /root", "the host's /root"},
      {"ls /home", "the host's /home"},
      {"ls /srv", "the host's /srv"},
      {"cat " + host_tmp_file.string(), "a file in the host's /tmp"},
      {"ls " + root_dir, "root_dir (the other workspaces)"},
      {"cat " + (other / "secret.txt").string(), "another session's workspace"},
      {"ls " + box.outside.path().string(), "a directory of the host"},
      {"ls " + box.ws().string(), "the workspace's host path"},
  };
  for (const auto& p : probes) {
    auto r = box.exec(p.cmd);
    EXPECT_NE(num(r, "exit_code"), 0) << p.what << " is visible: " << str(r, "output");
    EXPECT_EQ(str(r, "output").find("content-of-"), std::string::npos) << p.what;
  }
  fs::remove(host_tmp_file);
  // What is there at the top: the view's entries only.
  auto ls = box.exec("ls -A /");
  for (const char* absent : {"root\n", "home\n", "srv\n", "var\n", "work\n", "sys\n"})
    EXPECT_EQ(("\n" + str(ls, "stdout")).find(std::string("\n") + absent), std::string::npos)
        << absent << " in: " << str(ls, "stdout");
  EXPECT_NE(str(ls, "stdout").find("workspace\n"), std::string::npos) << str(ls, "stdout");
}

TEST_F(View, SecretsInSystemDirectoriesAreMasked) {
  if (!fs::exists("/etc/shadow")) GTEST_SKIP() << "this host has no /etc/shadow";
  auto r =
      box.exec("wc -c < /etc/shadow; ls -A /etc/sudoers.d 2>/dev/null | wc -l; cat /etc/passwd");
  ASSERT_EQ(num(r, "exit_code"), 0) << str(r, "output");
  const std::string out = str(r, "stdout");
  EXPECT_EQ(out.rfind("0\n0\n", 0), 0u) << "shadow or sudoers.d not empty: " << out;
  EXPECT_NE(out.find("root:"), std::string::npos) << "/etc/passwd should stay readable";
  // Private host keys of ssh, where the host has them.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/etc/ssh", ec))
    if (const auto n = e.path().filename().string();
        n.rfind("ssh_host_", 0) == 0 && n.size() > 4 && n.substr(n.size() - 4) == "_key") {
      EXPECT_EQ(str(box.exec("wc -c < " + e.path().string()), "stdout"), "0\n") << n;
    }
}

TEST_F(View, SystemDirectoriesAreReadOnlyForCommands) {
  const std::string mark = marker();
  for (const std::string dir : {"/usr", "/etc", "/bin", "/"}) {
    const std::string target = (dir == "/" ? "" : dir) + "/ar-view-" + mark;
    auto r = box.exec("touch " + target);
    EXPECT_NE(num(r, "exit_code"), 0) << target;
    EXPECT_NE(str(r, "output").find("Read-only file system"), std::string::npos)
        << str(r, "output");
    EXPECT_FALSE(fs::exists(target)) << "created on the host: " << target;
  }
  // Reading and running from them works.
  auto ok = box.exec("/usr/bin/env true && ls /usr/bin >/dev/null && cat /etc/hostname");
  EXPECT_EQ(num(ok, "exit_code"), 0) << str(ok, "output");
}

TEST_F(View, TmpIsTheSandboxsOwn) {
  const fs::path host_tmp = info_str(box, "tmp_dir");
  auto r = box.exec("echo t > /tmp/mine && ls -A /tmp");
  EXPECT_EQ(str(r, "stdout"), "mine\n") << str(r, "output");
  EXPECT_EQ(ar_test::read_file(host_tmp / "mine"), "t\n");
  // Another sandbox does not see it.
  Box other;
  ASSERT_TRUE(other.sb);
  EXPECT_EQ(str(other.exec("ls -A /tmp"), "stdout"), "");
}

TEST_F(View, ProcAndDevAreMinimal) {
  auto r = box.exec("ls /dev");
  EXPECT_EQ(str(r, "stdout"),
            "fd\nfull\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n")
      << str(r, "output");
  auto w = box.exec(
      "echo a > /dev/null && head -c 4 /dev/urandom | wc -c && echo b > /dev/shm/x && "
      "cat /dev/shm/x && echo c > /dev/stderr");
  EXPECT_EQ(str(w, "output"), "4\nb\nc\n");
  EXPECT_NE(num(box.exec("touch /dev/new"), "exit_code"), 0);
  // Only the sandbox's processes.
  EXPECT_LT(std::stoi(str(box.exec("ls /proc | grep -c '^[0-9]'"), "stdout")), 10);
}

TEST_F(View, TheWorkdirSettingMovesTheWorkspace) {
  Box b(json::object{{"workdir", "/home/agent/project"}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_EQ(workdir(b), "/home/agent/project");
  auto r = b.exec("pwd; echo x > f; ls /home/agent");
  EXPECT_EQ(str(r, "stdout"), "/home/agent/project\nproject\n") << str(r, "output");
  EXPECT_TRUE(fs::exists(b.ws() / "f"));
  EXPECT_NE(num(b.exec("touch /home/agent/other"), "exit_code"), 0);
}

TEST_F(View, ExtraMountsReadOnlyAndReadWrite) {
  ar_test::TempDir data, out;
  ar_test::write_file(data.path() / "in.txt", "input data");
  Box b(json::object{
      {"mounts", json::array{{{"host", data.path().string()}, {"path", "/data"}},
                             {{"host", out.path().string()}, {"path", "/out"}, {"mode", "rw"}},
                             {{"host", (data.path() / "in.txt").string()},
                              {"path", "/config/one.txt"},
                              {"mode", "ro"}}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  auto r = b.exec("cat /data/in.txt; echo; cat /config/one.txt; echo; echo result > /out/r.txt");
  EXPECT_EQ(num(r, "exit_code"), 0) << str(r, "output");
  EXPECT_EQ(str(r, "stdout"), "input data\ninput data\n");
  EXPECT_EQ(ar_test::read_file(out.path() / "r.txt"), "result\n");
  auto ro = b.exec("echo no > /data/new.txt");
  EXPECT_NE(num(ro, "exit_code"), 0);
  EXPECT_FALSE(fs::exists(data.path() / "new.txt")) << "wrote through a read-only mount";
  EXPECT_NE(num(b.exec("echo no > /config/one.txt"), "exit_code"), 0);
  EXPECT_EQ(ar_test::read_file(data.path() / "in.txt"), "input data");
}

TEST_F(View, MountsAndWorkdirAreCheckedAtLoad) {
  ar_test::TempDir data;
  const std::string host = data.path().string();
  struct Case {
    json::object extra;
    std::string key;
  };
  auto mount = [&](json::object m) { return json::object{{"mounts", json::array{m}}}; };
  const std::vector<Case> cases = {
      {mount({{"host", host}, {"path", "/usr/data"}}), "sandbox.mounts[0].path"},
      {mount({{"host", host}, {"path", "/tmp"}}), "sandbox.mounts[0].path"},
      {mount({{"host", host}, {"path", "/"}}), "sandbox.mounts[0].path"},
      {mount({{"host", host}, {"path", "data"}}), "sandbox.mounts[0].path"},
      {mount({{"host", host}, {"path", "/workspace/data"}}), "sandbox.mounts[0].path"},
      {mount({{"host", host + "/missing"}, {"path", "/data"}}), "sandbox.mounts[0].host"},
      {mount({{"host", "relative"}, {"path", "/data"}}), "sandbox.mounts[0].host"},
      {mount({{"host", host}, {"path", "/data"}, {"mode", "rwx"}}), "sandbox.mounts[0].mode"},
      {mount({{"host", host}, {"path", "/data"}, {"size", 1}}), "sandbox.mounts[0].size"},
      {mount({{"path", "/data"}}), "sandbox.mounts[0].host"},
      {json::object{{"mounts", json::array{{{"host", host}, {"path", "/data"}},
                                           {{"host", host}, {"path", "/data/sub"}}}}},
       "sandbox.mounts[1].path"},
      {json::object{{"mounts", "x"}}, "sandbox.mounts"},
      {json::object{{"workdir", "/etc/work"}}, "sandbox.workdir"},
      {json::object{{"workdir", "/"}}, "sandbox.workdir"},
      {json::object{{"workdir", "work"}}, "sandbox.workdir"},
      {json::object{{"workdir", "/proc"}}, "sandbox.workdir"},
  };
  for (const auto& c : cases) {
    Box b(c.extra);
    EXPECT_FALSE(b.sb) << json::serialize(c.extra);
    EXPECT_EQ(b.create_error.code(), "invalid_config") << json::serialize(c.extra);
    EXPECT_EQ(b.create_error.message().rfind(c.key + ":", 0), 0u)
        << json::serialize(c.extra) << ": " << b.create_error.message();
  }
  // mounts need the view.
  Box none(json::object{{"isolation", "none"},
                        {"mounts", json::array{{{"host", host}, {"path", "/data"}}}}});
  EXPECT_FALSE(none.sb);
  EXPECT_NE(none.create_error.message().find("sandbox.mounts"), std::string::npos)
      << none.create_error.message();
}

TEST_F(View, ReadOnlyIsolationKeepsEveryWritableEntryReadOnlyForCommands) {
  ar_test::TempDir out;
  Box b(json::object{
      {"isolation", "read-only"},
      {"mounts", json::array{{{"host", out.path().string()}, {"path", "/out"}, {"mode", "rw"}}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  for (const std::string target : {"/workspace/x", "/tmp/x", "/out/x", "/dev/shm/x"}) {
    auto r = b.exec("echo x > " + target);
    EXPECT_NE(num(r, "exit_code"), 0) << target;
  }
  EXPECT_TRUE(fs::is_empty(b.ws()));
  EXPECT_TRUE(fs::is_empty(out.path()));
}

// The view's namespaces are made once: a command does not build them, and what one command
// leaves in the sandbox's IPC namespace the next one sees (and another sandbox does not).
TEST_F(View, OneSetOfNamespacesPerSandbox) {
  const auto ns = [](Box& b, const char* kind) {
    return str(b.exec(std::string("readlink /proc/self/ns/") + kind), "stdout");
  };
  for (const char* kind : {"uts", "ipc", "net"}) EXPECT_EQ(ns(box, kind), ns(box, kind)) << kind;
  Box other;
  ASSERT_TRUE(other.sb);
  EXPECT_NE(ns(box, "ipc"), ns(other, "ipc"));
  EXPECT_NE(ns(box, "uts"), ns(other, "uts"));
  // Each command has a PID namespace (and so a mount namespace for its /proc) of its own.
  EXPECT_NE(ns(box, "pid"), ns(box, "pid"));
}

// Absolute and relative paths mean one file for write_file and for a command.
TEST_F(View, FilesWrittenByFileOperationsAreWhereCommandsLook) {
  ASSERT_TRUE(box.write("/workspace/x", "abs\n").ok());
  ASSERT_TRUE(box.write("rel/y", "rel\n").ok());
  ASSERT_TRUE(box.write("/tmp/z", "tmp\n").ok());
  auto r = box.exec("cat /workspace/x x /workspace/rel/y rel/y /tmp/z");
  EXPECT_EQ(str(r, "output"), "abs\nabs\nrel\nrel\ntmp\n");
  ASSERT_EQ(num(box.exec("mkdir -p out && echo cmd > out/c && echo t > /tmp/t"), "exit_code"), 0);
  EXPECT_EQ(box.read("/workspace/out/c").buffers.at(0), "cmd\n");
  EXPECT_EQ(box.read("out/c").buffers.at(0), "cmd\n");
  EXPECT_EQ(box.read("/tmp/t").buffers.at(0), "t\n");
  // Writing under /usr fails for both, the same way.
  const auto w = box.write("/usr/ar-view-x", "x");
  EXPECT_EQ(w.code(), "permission_denied");
  EXPECT_NE(w.message().find("read-only"), std::string::npos) << w.message();
  EXPECT_NE(num(box.exec("echo x > /usr/ar-view-x"), "exit_code"), 0);
  EXPECT_FALSE(fs::exists("/usr/ar-view-x"));
}

// The view table walked both ways: for every entry, what a command sees there is what the file
// operations see (or, for /proc and /dev, that file operations are refused), and what is not in
// the table is there for neither.
TEST_F(View, EveryEntryOfTheTableLooksTheSameToCommandsAndFileOperations) {
  ar_test::TempDir data, out;
  ar_test::write_file(data.path() / "in.txt", "mounted\n");
  Box b(json::object{
      {"mounts", json::array{{{"host", data.path().string()}, {"path", "/data"}},
                             {{"host", out.path().string()}, {"path", "/out"}, {"mode", "rw"}}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  const auto mounts = b.sb->info().at("mounts").as_array();
  std::set<std::string> kinds;
  for (const auto& m : mounts) {
    const std::string path(m.at("path").as_string()), kind(m.at("kind").as_string());
    const bool rw = m.at("mode") == "rw";
    kinds.insert(kind);
    SCOPED_TRACE(kind + " " + path);
    // Does the command see it? Then so must ls/read (or refuse, for the kernel's parts).
    ASSERT_EQ(num(b.exec("test -e " + path + " || test -L " + path), "exit_code"), 0);
    if (kind == "proc" || kind == "dev" || kind == "device" || kind == "devpts" || kind == "shm") {
      EXPECT_EQ(b.read(path + (kind == "device" ? "" : "/x")).code(), "permission_denied");
      continue;
    }
    if (kind == "symlink" && path.rfind("/dev/", 0) == 0) {
      EXPECT_EQ(b.call(Op::ls, {{"path", path}}).code(), "permission_denied");
      continue;
    }
    if (kind == "symlink") {
      const auto link = b.exec("readlink " + path);
      auto target = b.call(Op::ls, {{"path", path}});
      const bool to_dir = num(b.exec("test -d " + path), "exit_code") == 0;
      EXPECT_EQ(target.ok(), to_dir) << str(link, "output") << target.message();
      continue;
    }
    const bool is_dir = num(b.exec("test -d " + path), "exit_code") == 0;
    if (is_dir) {
      // The same names, listed either way.
      auto ls = b.call(Op::ls, {{"path", path}});
      ASSERT_TRUE(ls.ok()) << ls.message();
      std::string names;
      for (const auto& e : ls.body.at("entries").as_array()) {
        const std::string p(e.at("path").as_string());
        names += p.substr(p.rfind('/') + 1) + "\n";
      }
      EXPECT_EQ(names, str(b.exec("LC_ALL=C ls -A " + path), "stdout"));
    } else {
      auto r = b.read(path);
      ASSERT_TRUE(r.ok()) << r.message();
      EXPECT_EQ(r.buffers.at(0), str(b.exec("cat " + path), "stdout"));
    }
    if (kind == "mask") {  // empty, either way
      EXPECT_EQ(str(b.exec(is_dir ? "ls -A " + path : "cat " + path), "output"), "");
      if (is_dir) {
        EXPECT_TRUE(b.call(Op::ls, {{"path", path}}).body.at("entries").as_array().empty());
      } else {
        EXPECT_EQ(b.read(path).buffers.at(0), "");
      }
      continue;
    }
    if (!is_dir) continue;
    // Writable for both, or for neither.
    const std::string f = (path == "/" ? "" : path) + "/ar-walk-" + marker();
    const auto w = b.write(f, "from file op\n");
    EXPECT_EQ(w.ok(), rw) << w.message();
    if (rw) {
      EXPECT_EQ(str(b.exec("cat " + f), "stdout"), "from file op\n");
      ASSERT_EQ(num(b.exec("echo from command > " + f + ".c"), "exit_code"), 0);
      EXPECT_EQ(b.read(f + ".c").buffers.at(0), "from command\n");
    } else {
      EXPECT_EQ(w.code(), "permission_denied");
      EXPECT_NE(w.message().find("read-only"), std::string::npos) << w.message();
      const auto c = b.exec("echo x > " + f);
      EXPECT_NE(num(c, "exit_code"), 0);
      EXPECT_NE(str(c, "output").find("Read-only file system"), std::string::npos)
          << str(c, "output");
    }
  }
  for (const char* k : {"root", "system", "mask", "workspace", "tmp", "proc", "dev", "mount"})
    EXPECT_TRUE(kinds.count(k)) << "no entry of kind " << k;
  // Not in the table: there for neither.
  for (const std::string p : {"/root", "/home", "/srv", "/var/log", "/root/.bashrc"}) {
    EXPECT_EQ(b.read(p).code(),
              b.call(Op::ls, {{"path", p}}).ok() ? "is_directory" : "file_not_found")
        << p;
    EXPECT_EQ(b.call(Op::ls, {{"path", p}}).code(), "file_not_found") << p;
    EXPECT_NE(num(b.exec("ls " + p), "exit_code"), 0) << p;
  }
}

TEST(ViewSessions, ASessionKeepsItsTmpAnEphemeralSandboxRemovesIt) {
  ar_test::TempDir root;
  const json::object cfg{{"type", "filesystem"}, {"root_dir", root.path().string()}};
  OpResult err;
  std::string session_tmp;
  {
    auto sb = open_sandbox(cfg, "keep", err);
    ASSERT_TRUE(sb) << err.message();
    session_tmp = std::string(sb->info().at("tmp_dir").as_string());
    auto r = sb->call(Op::execute, {{"command", "echo kept > /tmp/state; echo w > state"}});
    ASSERT_EQ(r.body.at("exit_code"), 0) << r.body.at("output");
    ASSERT_TRUE(sb->release().ok());
  }
  EXPECT_TRUE(fs::exists(fs::path(session_tmp) / "state"));
  {
    auto sb = open_sandbox(cfg, "keep", err);
    ASSERT_TRUE(sb) << err.message();
    auto r = sb->call(Op::execute, {{"command", "cat /tmp/state state"}});
    EXPECT_EQ(r.body.at("output"), "kept\nw\n");
    EXPECT_EQ(sb->info().at("tmp_dir").as_string(), session_tmp);
    ASSERT_TRUE(sb->release().ok());
  }
  // Another session has its own.
  {
    auto sb = open_sandbox(cfg, "another", err);
    ASSERT_TRUE(sb) << err.message();
    EXPECT_NE(sb->call(Op::execute, {{"command", "cat /tmp/state"}}).body.at("exit_code"), 0);
    ASSERT_TRUE(sb->release().ok());
  }
  // An ephemeral sandbox's tmp goes with it.
  auto sb = open_sandbox(cfg, std::nullopt, err);
  ASSERT_TRUE(sb) << err.message();
  const fs::path eph_tmp = std::string(sb->info().at("tmp_dir").as_string());
  ASSERT_EQ(sb->call(Op::execute, {{"command", "echo x > /tmp/gone"}}).body.at("exit_code"), 0);
  EXPECT_TRUE(fs::exists(eph_tmp / "gone"));
  ASSERT_TRUE(sb->release().ok());
  EXPECT_FALSE(fs::exists(eph_tmp));
}

// Where no mount namespace is used (isolation none), workdir is the workspace's host path, so
// absolute paths still mean the same for commands and files.
TEST(HostView, IsolationNoneUsesTheWorkspacesHostPath) {
  Box b(json::object{{"isolation", "none"}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_EQ(info_str(b, "view"), "host");
  EXPECT_EQ(workdir(b), b.ws().string());
  EXPECT_EQ(str(b.exec("pwd"), "stdout"), b.ws().string() + "\n");
  EXPECT_EQ(str(b.exec("echo $TMPDIR"), "stdout"), info_str(b, "tmp_dir") + "\n");
}

}  // namespace
