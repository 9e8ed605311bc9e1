// The built agent-runner binary: global options, exit codes, and `plugins` over the fixtures.
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>

#include <sys/stat.h>
#include <unistd.h>

namespace fs = std::filesystem;
using ar_test::run;

namespace {
const std::string kBin = AR_TEST_HOST_BIN;
const std::string kFixtures = AR_TEST_FIXTURE_DIR;

ar_test::RunResult host(std::vector<std::string> args,
                        std::map<std::string, std::string> env = ar_test::base_env()) {
  args.insert(args.begin(), kBin);
  return run(args, env);
}
}  // namespace

TEST(Cli, VersionNamesTheAbi) {
  auto r = host({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("agent-runner "), std::string::npos);
  EXPECT_NE(r.out.find("plugin ABI 1.1"), std::string::npos);
}

TEST(Cli, HelpListsEveryCommand) {
  auto r = host({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (auto c :
       {"plugins", "config", "exec", "run", "serve", "doctor", "--plugin-dir", "Exit codes"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
}

TEST(Cli, UsageErrorsExit2) {
  EXPECT_EQ(host({}).exit_code, 2);
  EXPECT_EQ(host({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(host({"--bogus", "plugins"}).exit_code, 2);
  EXPECT_EQ(host({"--log-level", "loud", "plugins"}).exit_code, 2);
  EXPECT_EQ(host({"--mode"}).exit_code, 2);
  auto r = host({"--mode", "sideways", "config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("local, cloud"), std::string::npos) << r.err;
}

TEST(Cli, PluginsJsonReportsEveryFixtureExactly) {
  auto r = host({"--plugin-dir", kFixtures, "plugins", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto arr = boost::json::parse(r.out).as_array();
  std::map<std::string, boost::json::object> by_file;
  for (auto& v : arr) {
    auto o = v.as_object();
    for (auto key :
         {"path", "name", "sandbox_type", "version", "abi", "status", "error", "capabilities"})
      EXPECT_TRUE(o.contains(key)) << key;
    by_file[fs::path(std::string(o.at("path").as_string())).filename().string()] = o;
  }
  auto status = [&](const std::string& f) {
    return std::string(by_file.at(f).at("status").as_string());
  };
  auto error = [&](const std::string& f) {
    auto& e = by_file.at(f).at("error");
    return e.is_null() ? std::string() : std::string(e.as_string());
  };
  EXPECT_EQ(status("good.so"), "loaded");
  EXPECT_TRUE(by_file.at("good.so").at("error").is_null());
  EXPECT_EQ(by_file.at("good.so").at("abi"), "1.1");
  EXPECT_EQ(status("abi_1_0.so"), "loaded");
  EXPECT_EQ(by_file.at("abi_1_0.so").at("abi"), "1.0");
  EXPECT_EQ(by_file.at("good.so").at("capabilities").as_array().size(), 3u);
  const std::map<std::string, std::string> expected = {
      {"not_a_library.so", "not a shared library"},
      {"no_entry.so", "does not export the entry symbol"},
      {"null_descriptor.so", "returned no descriptor"},
      {"abi_major.so", "major versions must match"},
      {"abi_minor_newer.so", "newer than this agent-runner's ABI"},
      {"too_small.so", "needs at least"},
      {"good_twin.so", "already provided by"}};
  for (const auto& [file, words] : expected) {
    ASSERT_TRUE(by_file.count(file)) << file;
    EXPECT_EQ(status(file), "rejected") << file;
    EXPECT_NE(error(file).find(words), std::string::npos) << file << ": " << error(file);
    EXPECT_NE(error(file).find(kFixtures + "/" + file), std::string::npos) << error(file);
  }
}

TEST(Cli, PluginsTableIsAligned) {
  auto r = host({"--plugin-dir", kFixtures, "plugins"});
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("STATUS"), std::string::npos);
  EXPECT_NE(r.out.find("reason: "), std::string::npos);
  // Header and rows start their TYPE column at the same offset (the fixture's row is found by
  // its file; real plugins built beside the binary are listed too).
  auto type_col = r.out.find("TYPE");
  auto good = r.out.find("/good.so");
  ASSERT_NE(good, std::string::npos) << r.out;
  auto line_start = r.out.rfind('\n', good) + 1;
  EXPECT_EQ(r.out.compare(line_start, 6, "loaded"), 0) << r.out;
  EXPECT_EQ(r.out.compare(line_start + type_col, 12, "fixture-good"), 0) << r.out;
}

TEST(Cli, PluginPathVariableIsSearched) {
  auto env = ar_test::base_env();
  env["AGENT_RUNNER_PLUGIN_PATH"] = "/nonexistent:" + kFixtures;
  auto r = host({"plugins", "--json"}, env);
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("fixture-good"), std::string::npos);
}

TEST(Cli, ExecStreamsThroughAPluginAndReturnsItsExitCode) {
  ar_test::TempDir tmp;
  auto env = ar_test::base_env();
  env["SANDBOX_ROOT_DIR"] = tmp.path().string();
  auto r = host({"--mode", "local", "--sandbox-type", "fixture-good", "--plugin-dir", kFixtures,
                 "exec", "--", "hello"},
                env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out:hello");
  EXPECT_NE(r.err.find("err:"), std::string::npos);
  auto j = host({"--mode", "local", "--sandbox-type", "fixture-good", "--plugin-dir", kFixtures,
                 "exec", "--json", "--", "echo", "a b"},
                env);
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto o = boost::json::parse(j.out).as_object();
  EXPECT_EQ(o.at("stdout"), "out:echo 'a b'");
}

TEST(Cli, ExecWithoutAMatchingPluginExits3AndSaysWhy) {
  ar_test::TempDir tmp;
  auto env = ar_test::base_env();
  env["SANDBOX_ROOT_DIR"] = tmp.path().string();
  auto r = host({"--mode", "local", "--sandbox-type", "no-such-type", "--plugin-dir", kFixtures,
                 "exec", "--", "true"},
                env);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("no-such-type"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("fixture-good"), std::string::npos) << "lists available types: " << r.err;
}

TEST(Cli, ExecUsageErrors) {
  EXPECT_EQ(host({"exec"}).exit_code, 2);
  EXPECT_EQ(host({"exec", "--timeout", "soon", "--", "true"}).exit_code, 2);
  EXPECT_EQ(host({"exec", "--env", "NOEQUALS", "--", "true"}).exit_code, 2);
  auto h = host({"exec", "--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("--timeout"), std::string::npos);
}

// ---- one bad .so never takes down a command -----------------------------------------------------

namespace {
const std::string kHostile = AR_TEST_HOSTILE_DIR;
}  // namespace

TEST(Cli, PluginsListsHostileFilesAsRejectedWithTheReason) {
  auto r = host({"--plugin-dir", kHostile, "plugins", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, std::string> reasons;
  const auto listed = boost::json::parse(r.out);
  for (const auto& v : listed.as_array()) {
    const auto& o = v.as_object();
    const std::string path(o.at("path").as_string());
    if (fs::path(path).parent_path() != kHostile) continue;
    EXPECT_EQ(o.at("status"), "rejected") << path;
    reasons[fs::path(path).filename()] = std::string(o.at("error").as_string());
  }
  const std::map<std::string, std::string> expected = {
      {"hostile_segv.so", "crashed with SIGSEGV"},
      {"hostile_abort.so", "crashed with SIGABRT"},
      {"hostile_spin.so", "timed out after 2 s"},
      {"hostile_ctor.so", "crashed with SIGSEGV while it was loaded"},
      {"hostile_bad_pointer.so", "crashed with SIGSEGV while its descriptor was read"}};
  for (const auto& [file, words] : expected) {
    ASSERT_TRUE(reasons.count(file)) << file << " not listed: " << r.out;
    EXPECT_NE(reasons[file].find(kHostile + "/" + file), std::string::npos) << reasons[file];
    EXPECT_NE(reasons[file].find(words), std::string::npos) << reasons[file];
  }
  // The table names them too.
  auto table = host({"--plugin-dir", kHostile, "plugins"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("crashed with SIGSEGV"), std::string::npos) << table.out;
}

TEST(Cli, DoctorSurvivesHostilePluginsAndReportsThem) {
  auto r = host({"--plugin-dir", kHostile, "doctor", "--json"});
  ASSERT_TRUE(r.exit_code == 0 || r.exit_code == 1) << r.exit_code << r.err;
  const auto report = boost::json::parse(r.out).as_object();
  int rejected = 0;
  for (const auto& p : report.at("plugins").as_array())
    if (fs::path(std::string(p.at("path").as_string())).parent_path() == kHostile) {
      EXPECT_EQ(p.at("status"), "rejected");
      ++rejected;
    }
  EXPECT_EQ(rejected, 5) << r.out;
}

TEST(Cli, ExecSelectingAGoodPluginRunsWithHostileOnesBesideIt) {
  ar_test::TempDir tmp;
  auto env = ar_test::base_env();
  env["SANDBOX_ROOT_DIR"] = tmp.path().string();
  auto r = host({"--mode", "local", "--sandbox-type", "fixture-good", "--plugin-dir", kHostile,
                 "--plugin-dir", kFixtures, "exec", "--", "hello"},
                env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out:hello");
}

TEST(Cli, PluginsNamesTheOwnerOfAPluginAnotherUserCouldSwap) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown a fixture to another user";
  ar_test::TempDir tmp;
  const fs::path dir = tmp.path() / "plugins";
  fs::create_directory(dir);
  fs::copy_file(fs::path(kFixtures) / "good.so", dir / "good.so");
  ASSERT_EQ(::chown((dir / "good.so").c_str(), 65534, 65534), 0);
  auto r = host({"--plugin-dir", dir.string(), "plugins"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("reason: plugin file " + (dir / "good.so").string() +
                       " is owned by nobody (uid 65534)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("fix: chown root"), std::string::npos) << r.out;
}

// ---- configuration files are untrusted input: bounded in size, kind and expansion -------------

TEST(Cli, AConfigFileThatIsADeviceOrAFifoIsRefusedWithoutReadingIt) {
  ar_test::TempDir tmp;
  const fs::path fifo = tmp.path() / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& file : {std::string("/dev/zero"), fifo.string()}) {
    auto r = host({"--mode", "local", "--config", file, "config"});
    EXPECT_EQ(r.exit_code, 2) << file;
    EXPECT_NE(r.err.find(file), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  }
}

TEST(Cli, AConfigFileAliasBombIsRefusedNamingTheLimit) {
  ar_test::TempDir tmp;
  std::string bomb = "mode: local\nx0: &x0 [a, a, a, a, a, a, a, a, a, a]\n";
  for (int i = 1; i <= 9; ++i) {
    bomb += "x" + std::to_string(i) + ": &x" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) bomb += (k ? ", *x" : "*x") + std::to_string(i - 1);
    bomb += "]\n";
  }
  const fs::path file = tmp.path() / "bomb.yaml";
  ar_test::write_file(file, bomb);
  auto r = host({"--config", file.string(), "config"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(file.string()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("larger than 500000 values"), std::string::npos) << r.err;
}
