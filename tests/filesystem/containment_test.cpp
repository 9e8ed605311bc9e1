// SPDX-License-Identifier: Apache-2.0
// What a command running as root can no longer do to the host (the usual case for a worker):
// no capabilities, no device nodes, no chmod/chown/touch or setuid bit outside the workspace,
// hostname changes stay in its UTS namespace, no clock setting, no changes to the host's network
// with network: true, and a seccomp filter for what needs no capability (TIOCSTI on a terminal
// of its own, ptrace of itself). Each check looks at the host afterwards, not only at the exit
// code. Skipped when not running as root (an unprivileged user cannot do these things anyway).
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <sstream>

using namespace fs_test;
namespace json = boost::json;

namespace {

class Containment : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: checks what a root command cannot do";
  }
};

std::string hostname() {
  char buf[HOST_NAME_MAX + 1] = {};
  ::gethostname(buf, sizeof buf);
  return buf;
}

// A root-owned file outside the workspace: a copy of a binary, mode 0755.
fs::path root_binary(const fs::path& dir) {
  const fs::path p = dir / "tool";
  fs::copy_file("/bin/true", p, fs::copy_options::overwrite_existing);
  fs::permissions(p, fs::perms(0755));
  return p;
}

TEST_P(Containment, CommandsHaveNoCapabilitiesAtAll) {
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  auto r = b.exec("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status");
  const std::string zero = "0000000000000000";
  EXPECT_EQ(str(r, "stdout"), "CapInh:\t" + zero + "\nCapPrm:\t" + zero + "\nCapEff:\t" + zero +
                                  "\nCapBnd:\t" + zero + "\nCapAmb:\t" + zero + "\n");
  // A setuid-root binary gives nothing back either.
  auto su = b.exec("su -c 'grep CapEff /proc/self/status' root 2>&1; true");
  EXPECT_EQ(str(su, "stdout").find("CapEff:\t000001"), std::string::npos) << str(su, "stdout");
  EXPECT_EQ(b.sb->info().at("isolation").at("capabilities_dropped"), true);
}

TEST_P(Containment, NoDeviceNodes) {
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_NE(num(b.exec("mknod blk b 7 0"), "exit_code"), 0);
  EXPECT_NE(num(b.exec("mknod chr c 1 3"), "exit_code"), 0);
  EXPECT_FALSE(fs::exists(b.ws() / "blk")) << "a block device was created in the workspace";
  EXPECT_FALSE(fs::exists(b.ws() / "chr"));
  // FIFOs are not devices: still allowed where the workspace is writable.
  if (std::string(GetParam()) != "read-only") {
    auto r = b.exec("mkfifo fifo");
    EXPECT_TRUE(fs::is_fifo(b.ws() / "fifo")) << str(r, "output");
  }
}

TEST_P(Containment, HostnameChangesStayInside) {
  const std::string before = hostname();
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  auto r = b.exec("hostname ar-test-renamed-" + marker());
  const std::string after = hostname();
  if (after != before) ::sethostname(before.data(), before.size());  // undo before failing
  EXPECT_EQ(after, before) << "the host was renamed";
  EXPECT_NE(num(r, "exit_code"), 0);
}

TEST_P(Containment, TheClockCannotBeSet) {
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  // Sets the clock to what it already is (so a failure of this test leaves it right).
  auto r = b.exec(
      "python3 -c 'import time; time.clock_settime(time.CLOCK_REALTIME, "
      "time.clock_gettime(time.CLOCK_REALTIME))'");
  EXPECT_NE(num(r, "exit_code"), 0);
  EXPECT_NE(str(r, "output").find("Operation not permitted"), std::string::npos)
      << str(r, "output");
}

TEST_P(Containment, TheHostNetworkCannotBeChangedWithNetworkTrue) {
  Box b(json::object{{"isolation", GetParam()}, {"network", true}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  const std::string addr = "192.0.2.77/32";
  auto r = b.exec("ip addr add " + addr + " dev lo");
  auto host = ar_test::run({"/usr/sbin/ip", "addr", "show", "dev", "lo"}, ar_test::base_env());
  const bool added = host.out.find("192.0.2.77") != std::string::npos;
  if (added) ar_test::run({"/usr/sbin/ip", "addr", "del", addr, "dev", "lo"}, ar_test::base_env());
  EXPECT_FALSE(added) << "the command added an address to the host's loopback";
  EXPECT_NE(num(r, "exit_code"), 0);
}

TEST_P(Containment, SeccompRefusesWhatNeedsNoCapability) {
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_EQ(b.sb->info().at("isolation").at("seccomp"), true);
  EXPECT_NE(str(b.exec("grep Seccomp: /proc/self/status"), "stdout").find("2"), std::string::npos);
  // PTRACE_TRACEME needs no capability; the filter refuses it.
  auto pt = b.exec(
      "python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); "
      "print(l.ptrace(0, 0, 0, 0), ctypes.get_errno())'");
  EXPECT_EQ(str(pt, "stdout"), "-1 1\n");
}

INSTANTIATE_TEST_SUITE_P(Levels, Containment,
                         ::testing::Values("workspace-write", "read-only", "none"));

// chmod, chown and utimes are not Landlock rights: the read-only mounts stop them. The levels
// that confine files (not `none`, which by definition does not).
class ConfinedFiles : public Containment {};

TEST_P(ConfinedFiles, NoChmodChownTouchOrSetuidOutsideTheWorkspace) {
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  const fs::path tool = root_binary(b.outside.path());
  struct stat before {};
  ASSERT_EQ(::stat(tool.c_str(), &before), 0);
  const std::string t = "'" + tool.string() + "'";
  for (const std::string& cmd :
       {"chmod u+s " + t, "chmod 777 " + t, "chown 1:1 " + t, "touch -d 2001-01-01 " + t,
        // Relative to the starting directory, which must be in the read-only view too.
        "chmod u+s ../../../../../../../.." + tool.string()}) {
    auto r = b.exec(cmd);
    EXPECT_NE(num(r, "exit_code"), 0) << cmd;
  }
  struct stat after {};
  ASSERT_EQ(::stat(tool.c_str(), &after), 0);
  EXPECT_EQ(after.st_mode, before.st_mode) << "mode changed (setuid bit?)";
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  EXPECT_EQ(after.st_mtime, before.st_mtime) << "touched";
  // uid 0 owns /proc/sys: without the read-only mounts it could set core_pattern (writes the
  // value it already has, so a failure here changes nothing).
  auto cp = b.exec(
      "v=$(cat /proc/sys/kernel/core_pattern) && printf '%s\\n' \"$v\" > "
      "/proc/sys/kernel/core_pattern");
  EXPECT_NE(num(cp, "exit_code"), 0);
  // Inside the workspace (workspace-write) the owner's chmod still works.
  if (std::string(GetParam()) == "workspace-write") {
    auto in = b.exec("touch s && chmod 700 s && stat -c %a s");
    EXPECT_EQ(str(in, "stdout"), "700\n");
  }
}

TEST_P(ConfinedFiles, WritableMountsAreNodevNosuid) {
  Box b(json::object{{"isolation", GetParam()}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  EXPECT_EQ(b.sb->info().at("isolation").at("read_only_root"), true);
  // Mount point and options of every mount the command sees (/proc/self/mountinfo).
  auto r = b.exec("awk '{print $5, $6}' /proc/self/mountinfo");
  const std::string mounts = str(r, "stdout");
  std::istringstream in(mounts);
  bool saw_workspace = false;
  for (std::string point, opts; in >> point >> opts;) {
    if (opts.rfind("rw", 0) != 0) continue;
    // The view's device nodes and its own /dev/pts are the only writable mounts with devices.
    const bool devices = point.rfind("/dev/", 0) == 0 && point != "/dev/shm";
    if (!devices) {
      EXPECT_NE(opts.find("nodev"), std::string::npos) << point << " is writable with devices";
    }
    EXPECT_NE(opts.find("nosuid"), std::string::npos) << point << " is writable with setuid";
    saw_workspace = saw_workspace || point == workdir(b);
  }
  EXPECT_NE(mounts.find(" ro,"), std::string::npos) << mounts;
  if (std::string(GetParam()) == "workspace-write") {
    EXPECT_TRUE(saw_workspace) << "the workspace is not writable: " << mounts;
  }
}

INSTANTIATE_TEST_SUITE_P(Levels, ConfinedFiles, ::testing::Values("workspace-write", "read-only"));

}  // namespace
