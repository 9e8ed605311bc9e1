// SPDX-License-Identifier: Apache-2.0
// The ABI 1.1 probe of the filesystem plugin: what this machine lets it enforce, the same answer
// its sandboxes' plans are made from, and what `agent-runner doctor` prints.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <set>

using namespace fs_test;
namespace json = boost::json;

namespace {

json::object probe() {
  auto r = agent_runner::call_plugin(*plugin(), agent_runner::PluginFn::probe, {}, {});
  EXPECT_TRUE(r.ok()) << r.message();
  return r.body;
}

TEST(Probe, ReportsWhatThisMachineEnforces) {
  const json::object p = probe();
  EXPECT_FALSE(p.at("summary").as_string().empty());
  EXPECT_EQ(p.at("root"), ::geteuid() == 0);
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, 1U);
  EXPECT_EQ(p.at("landlock_abi").as_int64(), abi < 0 ? 0 : abi);
  for (const char* key : {"isolation_levels", "network_isolation", "namespaces", "read_only_root",
                          "seccomp", "capabilities_dropped", "no_controlling_terminal", "cgroup",
                          "process_limit", "memory_limit", "openat2", "tree_kill", "view"})
    EXPECT_TRUE(p.contains(key)) << key;
  std::set<std::string> names;
  for (const auto& c : p.at("checks").as_array()) {
    const auto& o = c.as_object();
    EXPECT_TRUE(o.at("ok").is_bool());
    EXPECT_FALSE(o.at("detail").as_string().empty());
    names.insert(std::string(o.at("name").as_string()));
  }
  for (const char* n : {"landlock", "user_namespace", "pid_namespace", "mount_namespace",
                        "network_namespace", "uts_namespace", "seccomp", "capabilities", "terminal",
                        "process_limit", "memory_limit", "openat2", "rlimits", "view"})
    EXPECT_TRUE(names.count(n)) << n;
  // Probed once: the same answer again.
  EXPECT_EQ(json::serialize(probe()), json::serialize(p));
}

TEST(Probe, AgreesWithWhatASandboxGets) {
  const json::object p = probe();
  Box b(json::object{{"limits", {{"memory_mb", 512}}}, {"isolation", {{"best_effort", true}}}});
  ASSERT_TRUE(b.sb) << b.create_error.message();
  const auto& plan = b.sb->info().at("isolation").as_object();
  EXPECT_EQ(plan.at("seccomp"), p.at("seccomp"));
  EXPECT_EQ(plan.at("read_only_root"), p.at("read_only_root"));
  EXPECT_EQ(plan.at("capabilities_dropped"), p.at("capabilities_dropped"));
  EXPECT_EQ(plan.at("memory_limit"), p.at("memory_limit"));
  EXPECT_EQ(plan.at("landlock_abi"), p.at("landlock_abi"));
  // Which view this machine gives (issue 14): the sandbox got the one the probe announced.
  EXPECT_EQ(b.sb->info().at("view"), p.at("view"));
  EXPECT_EQ(plan.at("view"), p.at("view"));
  // And the command sees it: capabilities and the seccomp mode in its own status.
  auto r = b.exec("grep -E '^(CapEff|Seccomp):' /proc/self/status");
  const std::string status = str(r, "stdout");
  if (p.at("capabilities_dropped").as_bool()) {
    EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos) << status;
  }
  if (p.at("seccomp").as_bool()) {
    EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos) << status;
  }
}

TEST(Probe, DoctorPrintsIt) {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  auto r = ar_test::run({AR_TEST_HOST_BIN, "doctor", "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto v = json::parse(r.out).as_object();
  const json::object p = probe();
  EXPECT_EQ(v.at("probes").at("filesystem").at("summary"), p.at("summary"));
  // Every check of the probe is shown under kernel.<name>.
  for (const auto& c : p.at("checks").as_array()) {
    const std::string name(c.at("name").as_string());
    ASSERT_TRUE(v.at("kernel").as_object().contains(name)) << name;
    EXPECT_EQ(v.at("kernel").at(name).at("ok"), c.at("ok")) << name;
  }
  EXPECT_EQ(v.at("isolation_levels"), p.at("isolation_levels"));
  auto text = ar_test::run({AR_TEST_HOST_BIN, "doctor"}, env);
  EXPECT_NE(text.out.find(std::string(p.at("summary").as_string())), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("memory_limit: "), std::string::npos) << text.out;
}

}  // namespace
