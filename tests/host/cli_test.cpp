// SPDX-License-Identifier: Apache-2.0
// The built agent-runner binary: global options, exit codes, and `plugins` over the fixtures.
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

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
      {"good_twin.so", "already provided by"},
      {"schema_keyword.so", "at /properties/env: 'patternProperties'"}};
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

// A command loads only the plugin its configuration selects (found as TYPE.so): the others in the
// same directory are neither loaded nor test-loaded, so a crashing file beside it costs nothing
// and is not even mentioned (discovery would warn "plugin ... rejected" about each).
namespace {

fs::path plugin_dir_with_hostile_files(const fs::path& under) {
  const fs::path dir = under / "plugins";
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
  fs::copy_file(fs::path(kFixtures) / "good.so", dir / "fixture-good.so");
  for (auto f : {"hostile_segv.so", "hostile_ctor.so", "hostile_spin.so"})
    fs::copy_file(fs::path(kHostile) / f, dir / f);
  return dir;
}

}  // namespace

TEST(Cli, ExecLoadsOnlyTheSelectedPluginFile) {
  ar_test::TempDir tmp;
  const fs::path dir = plugin_dir_with_hostile_files(tmp.path());
  auto env = ar_test::base_env();
  env["SANDBOX_ROOT_DIR"] = (tmp.path() / "root").string();
  auto r = host({"--mode", "local", "--sandbox-type", "fixture-good", "--plugin-dir", dir.string(),
                 "exec", "--", "hello"},
                env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out:hello");
  EXPECT_EQ(r.err.find("hostile"), std::string::npos) << "other files were looked at: " << r.err;
  // `plugins` still looks at every file.
  auto all = host({"--plugin-dir", dir.string(), "plugins"}, env);
  EXPECT_NE(all.out.find("hostile_segv.so"), std::string::npos) << all.out;
}

// `run` asks for the selected plugin more than once (before the workloads start, then per
// workload): the second time must not discover the whole directory (it did, and `run` loaded
// every plugin there: 40 ms of the Daytona plugin's libraries per local run, and per worker job).
TEST(Cli, RunLoadsOnlyTheSelectedPluginFile) {
  ar_test::TempDir tmp;
  const fs::path dir = plugin_dir_with_hostile_files(tmp.path());
  const fs::path workload = tmp.path() / "w.yaml";
  std::ofstream(workload) << "name: w\nsteps:\n  - execute: {command: hello}\n";
  auto env = ar_test::base_env();
  env["SANDBOX_ROOT_DIR"] = (tmp.path() / "root").string();
  auto r = host({"--mode", "local", "--sandbox-type", "fixture-good", "--plugin-dir", dir.string(),
                 "run", workload.string()},
                env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("hostile"), std::string::npos) << "other files were looked at: " << r.err;
}

// The selected plugin is loaded without a test load in a child; when it crashes or hangs, the
// command fails with exit 3 and says which file did what, as `plugins` would.
TEST(Cli, ASelectedPluginThatCrashesFailsTheCommandNamingTheFile) {
  ar_test::TempDir tmp;
  auto env = ar_test::base_env();
  env["SANDBOX_ROOT_DIR"] = (tmp.path() / "root").string();
  const std::map<std::string, std::string> expected = {
      {"hostile_segv", "crashed with SIGSEGV in its entry function"},
      {"hostile_abort", "crashed with SIGABRT in its entry function"},
      {"hostile_ctor", "crashed with SIGSEGV while it was loaded (in its constructors)"},
      {"hostile_bad_pointer", "crashed with SIGSEGV while its descriptor was read"},
      {"hostile_spin", "timed out after 2 s in its entry function"}};
  for (const auto& [type, words] : expected) {
    auto r = host(
        {"--mode", "local", "--sandbox-type", type, "--plugin-dir", kHostile, "exec", "--", "true"},
        env);
    EXPECT_EQ(r.exit_code, 3) << type << ": " << r.err;
    EXPECT_NE(r.err.find("plugin " + kHostile + "/" + type + ".so " + words), std::string::npos)
        << r.err;
  }
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

namespace {
// A local-mode environment whose sandbox is the fixture plugin, found only through --plugin-dir.
std::map<std::string, std::string> fixture_env(const ar_test::TempDir& tmp) {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_TYPE"] = "fixture-good";
  env["SANDBOX_ROOT_DIR"] = tmp.path().string();
  return env;
}
}  // namespace

TEST(Cli, GlobalOptionsWorkBeforeOrAfterTheCommand) {
  auto before = host({"--plugin-dir", kFixtures, "plugins", "--json"});
  auto after = host({"plugins", "--plugin-dir", kFixtures, "--json"});
  auto end = host({"plugins", "--json", "--plugin-dir=" + kFixtures});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  ASSERT_EQ(after.exit_code, 0) << after.err;
  ASSERT_EQ(end.exit_code, 0) << end.err;
  EXPECT_NE(before.out.find("fixture-good"), std::string::npos);
  EXPECT_EQ(before.out, after.out);
  EXPECT_EQ(before.out, end.out);

  ar_test::TempDir tmp;
  auto env = fixture_env(tmp);
  env.erase("MODE");
  auto r = host({"exec", "--json", "--mode", "local", "--plugin-dir", kFixtures,
                 "--log-level=error", "--", "x"},
                env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(boost::json::parse(r.out).at("stdout"), "out:x");
  // A repeated option keeps its last value; a repeatable one keeps them all.
  auto last = host({"--mode", "cloud", "exec", "--mode", "local", "--plugin-dir", "/nonexistent",
                    "--plugin-dir", kFixtures, "--", "y"},
                   env);
  EXPECT_EQ(last.exit_code, 0) << last.err;
  EXPECT_EQ(last.out, "out:y");
}

TEST(Cli, EverythingAfterTheCommandsFirstWordOrDoubleDashIsTheCommand) {
  ar_test::TempDir tmp;
  auto env = fixture_env(tmp);
  auto dashes = host({"--plugin-dir", kFixtures, "exec", "--", "echo", "--json", "--mode", "x",
                      "--plugin-dir", "--help", "--"},
                     env);
  EXPECT_EQ(dashes.exit_code, 0) << dashes.err;
  EXPECT_EQ(dashes.out, "out:echo --json --mode x --plugin-dir --help --");
  auto word = host({"--plugin-dir", kFixtures, "exec", "ls", "-l", "--json"}, env);
  EXPECT_EQ(word.exit_code, 0) << word.err;
  EXPECT_EQ(word.out, "out:ls -l --json");
  // A word that names a command of agent-runner is still the command's.
  auto command_word = host({"--plugin-dir", kFixtures, "exec", "config", "--list"}, env);
  EXPECT_EQ(command_word.exit_code, 0) << command_word.err;
  EXPECT_EQ(command_word.out, "out:config --list");
  auto help_word = host({"--plugin-dir", kFixtures, "exec", "--", "-h"}, env);
  EXPECT_EQ(help_word.exit_code, 0) << help_word.err;
  EXPECT_EQ(help_word.out, "out:-h");
}

TEST(Cli, UsageErrorsNameTheOptionAndPointAtHelp) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> words;
  };
  const std::vector<Case> cases = {
      {{"exec", "--bogus", "--", "true"},
       {"agent-runner exec", "--bogus", "agent-runner exec --help"}},
      {{"--bogus", "plugins"}, {"--bogus", "--help"}},
      {{"plugins", "--bogus"}, {"--bogus", "--help"}},
      {{"plugins", "stray"}, {"stray", "--help"}},
      {{"plugins", "config"}, {"config", "--help"}},
      {{"frobnicate"}, {"unknown command 'frobnicate'", "plugins, config, exec", "--help"}},
      {{"--log-level", "loud", "plugins"}, {"--log-level", "'loud'", "trace, debug"}},
      {{"plugins", "--log-format", "xml"}, {"--log-format", "'xml'", "text, json"}},
      {{"--mode"}, {"--mode", "--help"}},
      {{"exec", "--timeout", "soon", "--", "true"}, {"--timeout", "'soon'", "seconds"}},
      {{"exec", "--timeout", "-1", "--", "true"}, {"--timeout", "--help"}},
      {{"exec", "--env", "NOEQUALS", "--", "true"}, {"--env", "NAME=VALUE", "'NOEQUALS'"}},
      {{"run", "w.yaml", "--parallel", "0"}, {"--parallel", "1 to 1000", "'0'"}},
      {{"serve", "--mcp", "--max-calls", "-3"}, {"--max-calls", "--help"}},
      {{"serve", "--mcp", "--max-message-bytes", "10"}, {"--max-message-bytes", "1024"}},
      {{"serve", "--mcp", "--session", ""}, {"--session", "non-empty"}},
      {{"completion"}, {"SHELL", "--help"}},
      {{"completion", "fish"}, {"'fish'", "bash, zsh"}},
      {{"help", "nothing"}, {"unknown command 'nothing'"}},
  };
  for (const auto& c : cases) {
    auto r = host(c.args);
    std::string line;
    for (const auto& a : c.args) line += a + " ";
    EXPECT_EQ(r.exit_code, 2) << line << r.err;
    EXPECT_TRUE(r.out.empty()) << line << r.out;
    for (const auto& w : c.words) EXPECT_NE(r.err.find(w), std::string::npos) << line << r.err;
  }
}

TEST(Cli, HelpComesFromTheSameDeclarationsAsParsing) {
  // Every option a command's help names is accepted by that command (here: reaches a later
  // error, not an unknown-option one), and `help CMD` is `CMD --help`.
  const std::map<std::string, std::vector<std::string>> options = {
      {"plugins", {"--json"}},
      {"config", {"--json", "--explain"}},
      {"exec", {"--session", "--timeout", "--cwd", "--env", "--json"}},
      {"run", {"--session", "--events", "--parallel"}},
      {"serve", {"--mcp", "--session", "--max-message-bytes", "--max-calls"}},
      {"doctor", {"--json"}},
      {"completion", {}}};
  auto root = host({"--help"});
  ASSERT_EQ(root.exit_code, 0);
  for (auto g : {"--config", "--mode local|cloud", "--sandbox-type", "--sandbox-root-dir",
                 "--plugin-dir", "--log-level", "--log-format text|json", "--version", "empty"})
    EXPECT_NE(root.out.find(g), std::string::npos) << g << "\n" << root.out;
  for (const auto& [cmd, opts] : options) {
    EXPECT_NE(root.out.find("\n  " + cmd + " "), std::string::npos) << cmd;
    auto h = host({cmd, "--help"});
    ASSERT_EQ(h.exit_code, 0) << cmd;
    EXPECT_EQ(h.out.rfind("Usage: agent-runner [GLOBAL OPTIONS] " + cmd, 0), 0u) << h.out;
    for (const auto& o : opts) EXPECT_NE(h.out.find("  " + o), std::string::npos) << cmd << o;
    EXPECT_NE(h.out.find("--plugin-dir"), std::string::npos) << "global options are named";
    auto via_help = host({"help", cmd});
    EXPECT_EQ(via_help.exit_code, 0);
    EXPECT_EQ(via_help.out, h.out);
    auto after = host({cmd, "--json", "-h"});  // help wins wherever it stands
    EXPECT_EQ(after.exit_code, 0) << cmd << after.err;
  }
  EXPECT_EQ(host({"help"}).out, root.out);
  auto bare = host({});
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.err, root.out);
}

namespace {
// Runs the generated bash completion in a real bash, as bash runs it on <TAB>: COMP_WORDS and
// COMP_CWORD set, then the function `complete -p` names. Returns the candidates, one per line.
std::string complete_bash(const std::vector<std::string>& words, const std::string& script,
                          const std::string& cwd = "/") {
  std::string array;
  for (const auto& w : words) array += "'" + w + "' ";
  std::string program = "cd '" + cwd + "'; source '" + script +
                        "'; spec=$(complete -p agent-runner); fn=${spec#*-F }; fn=${fn%% *}; "
                        "COMP_WORDS=(" +
                        array + "); COMP_CWORD=" + std::to_string(words.size() - 1) +
                        "; COMP_LINE=\"${COMP_WORDS[*]}\"; COMP_POINT=${#COMP_LINE}; \"$fn\" "
                        "agent-runner; printf '%s\\n' \"${COMPREPLY[@]}\" | sort";
  auto r = run({"/bin/bash", "--norc", "--noprofile", "-c", program}, ar_test::base_env());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  return r.out;
}
}  // namespace

TEST(Cli, BashCompletionCompletesCommandsOptionsAndValues) {
  ar_test::TempDir tmp;
  auto gen = host({"completion", "bash"});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  const std::string script = (tmp.path() / "agent-runner.bash").string();
  ar_test::write_file(script, gen.out);
  fs::create_directories(tmp.path() / "work" / "conf.d");
  ar_test::write_file(tmp.path() / "work" / "config.yaml", "mode: local\n");
  const std::string work = (tmp.path() / "work").string();

  auto spec =
      run({"/bin/bash", "--norc", "-c", "source '" + script + "'; complete -p agent-runner"},
          ar_test::base_env());
  EXPECT_EQ(spec.out, "complete -F _agent_runner agent-runner\n");
  EXPECT_EQ(complete_bash({"agent-runner", "pl"}, script), "plugins\n");
  EXPECT_EQ(complete_bash({"agent-runner", "c"}, script), "cancel\ncompletion\nconfig\n");
  EXPECT_EQ(complete_bash({"agent-runner", "--mode", ""}, script), "cloud\nlocal\n");
  EXPECT_EQ(complete_bash({"agent-runner", "--mode", "=", "lo"}, script), "local\n");
  EXPECT_EQ(complete_bash({"agent-runner", "--log-format", "j"}, script), "json\n");
  EXPECT_EQ(complete_bash({"agent-runner", "--plugin-dir", "/tmp", "ex"}, script), "exec\n");
  // Global options after the command, and the command's own.
  EXPECT_EQ(complete_bash({"agent-runner", "plugins", "--plugin-d"}, script), "--plugin-dir\n");
  EXPECT_EQ(complete_bash({"agent-runner", "exec", "--ti"}, script), "--timeout\n");
  EXPECT_EQ(complete_bash({"agent-runner", "run", "--log-level", "w"}, script), "warn\n");
  EXPECT_EQ(complete_bash({"agent-runner", "completion", ""}, script), "bash\nzsh\n");
  // Files where an option or positional takes a file, directories where it takes one.
  EXPECT_EQ(complete_bash({"agent-runner", "--config", "c"}, script, work),
            "conf.d\nconfig.yaml\n");
  EXPECT_EQ(complete_bash({"agent-runner", "plugins", "--plugin-dir", "c"}, script, work),
            "conf.d\n");
  EXPECT_EQ(complete_bash({"agent-runner", "run", "con"}, script, work), "conf.d\nconfig.yaml\n");
  EXPECT_EQ(complete_bash({"agent-runner", "run", "--events", ""}, script, work),
            "-\nconf.d\nconfig.yaml\n");
  // Values that are not files complete nothing; after `--` or exec's first word, nothing is an
  // option or a command of agent-runner.
  EXPECT_EQ(complete_bash({"agent-runner", "exec", "--session", "c"}, script, work), "\n");
  EXPECT_EQ(complete_bash({"agent-runner", "exec", "--", "ls", "--ti"}, script, work), "\n");
  EXPECT_EQ(complete_bash({"agent-runner", "exec", "ls", "con"}, script, work),
            "conf.d\nconfig.yaml\n");
  EXPECT_EQ(complete_bash({"agent-runner", "exec", "--", "plugin"}, script, work).find("plugins"),
            std::string::npos);
}

TEST(Cli, ZshCompletionNamesEveryCommandAndOption) {
  auto r = host({"completion", "zsh"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("#compdef agent-runner\n", 0), 0u);
  for (auto s : {"'plugins:every plugin", "'exec:run one command", "'--mode=[",
                 ":local|cloud:(local cloud)'", "'*--plugin-dir=[", ":DIR:_files -/'",
                 "'--config=[", ":FILE:_files'", "'--timeout=[", "'(-)1:COMMAND:_command_names -e'",
                 "'*::arguments:_normal'", "'*:FILE:_files'", "'1:bash|zsh:(bash zsh)'"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  // With zsh on the machine, the script also parses.
  const std::string zsh = fs::exists("/usr/bin/zsh") ? "/usr/bin/zsh" : "/bin/zsh";
  if (fs::exists(zsh)) {
    ar_test::TempDir tmp;
    ar_test::write_file(tmp.path() / "_agent_runner", r.out);
    auto check = run({zsh, "-n", (tmp.path() / "_agent_runner").string()}, ar_test::base_env());
    EXPECT_EQ(check.exit_code, 0) << check.err;
  }
}
