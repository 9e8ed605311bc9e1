// SPDX-License-Identifier: Apache-2.0
// `agent-runner config` through the built binary, with an explicit environment per case: mode
// detection, each source's precedence, per-mode fields, validation, the sandbox config, secrets.
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>
#include <sstream>

namespace fs = std::filesystem;
namespace json = boost::json;
using ar_test::run;

namespace {
const std::string kBin = AR_TEST_HOST_BIN;
const std::string kFixtures = AR_TEST_FIXTURE_DIR;
using Env = std::map<std::string, std::string>;

ar_test::RunResult host(std::vector<std::string> args, const Env& extra = {}) {
  Env env = ar_test::base_env();
  for (const auto& [k, v] : extra) env[k] = v;
  args.insert(args.begin(), kBin);
  return run(args, env);
}

json::object config_json(std::vector<std::string> global, const Env& extra = {}) {
  global.push_back("config");
  global.push_back("--json");
  auto r = host(global, extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  return json::parse(r.out).as_object();
}

const Env kCloudKeys = {{"STIGMER_API_KEY", "stigmer-key-1234"},
                        {"DAYTONA_API_KEY", "daytona-key-5678"}};

Env with(Env base, const Env& more) {
  for (const auto& [k, v] : more) base[k] = v;
  return base;
}
}  // namespace

TEST(Config, JsonHasExactlyTheContractMembers) {
  auto o = config_json({}, {{"MODE", "local"}});
  std::vector<std::string> want = {"mode",
                                   "env",
                                   "temporal_namespace",
                                   "temporal_service_address",
                                   "task_queue",
                                   "max_concurrency",
                                   "lease_s",
                                   "max_attempts",
                                   "events_maxlen",
                                   "job_expiry_s",
                                   "drain_timeout_s",
                                   "job_max_bytes",
                                   "max_step_output_bytes",
                                   "session_ttl",
                                   "session_check_s",
                                   "stigmer_backend_endpoint",
                                   "stigmer_api_key",
                                   "sandbox_type",
                                   "sandbox_root_dir",
                                   "redis_host",
                                   "redis_port",
                                   "redis_password",
                                   "sandbox_config"};
  ASSERT_EQ(o.size(), want.size());
  for (const auto& k : want) EXPECT_TRUE(o.contains(k)) << k;
  EXPECT_TRUE(o.at("max_concurrency").is_int64());
}

TEST(Config, ModeUnsetMeansCloud) {
  auto o = config_json({}, kCloudKeys);
  EXPECT_EQ(o.at("mode"), "cloud");
  EXPECT_EQ(o.at("sandbox_type"), "daytona");
  EXPECT_EQ(o.at("stigmer_backend_endpoint"), "localhost:8080");
  EXPECT_EQ(o.at("redis_host"), "localhost");
  EXPECT_EQ(o.at("redis_port"), 6379);
  EXPECT_TRUE(o.at("redis_password").is_null());
  EXPECT_TRUE(o.at("sandbox_root_dir").is_null());
}

TEST(Config, ModeDetectionByTogglingVariables) {
  EXPECT_EQ(config_json({}, with(kCloudKeys, {{"MODE", "local"}})).at("mode"), "local");
  EXPECT_EQ(config_json({}, with(kCloudKeys, {{"MODE", "cloud"}})).at("mode"), "cloud");
  // ENV is only a label: it never changes the mode.
  auto dev = config_json({}, {{"MODE", "local"}, {"ENV", "production"}});
  EXPECT_EQ(dev.at("mode"), "local");
  EXPECT_EQ(dev.at("env"), "production");
  auto prod = config_json({}, with(kCloudKeys, {{"ENV", "development"}}));
  EXPECT_EQ(prod.at("mode"), "cloud");
  EXPECT_EQ(prod.at("env"), "development");
  // The flag beats the variable.
  EXPECT_EQ(config_json({"--mode", "local"}, {{"MODE", "cloud"}}).at("mode"), "local");
}

TEST(Config, BadModeListsTheAllowedValues) {
  auto r = host({"config", "--json"}, {{"MODE", "staging"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_NE(r.err.find("mode (env MODE)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("allowed: local, cloud"), std::string::npos) << r.err;
}

TEST(Config, LocalModeNeedsNothingAndNullsWhatItDoesNotUse) {
  auto o = config_json({}, {{"MODE", "local"}});
  EXPECT_EQ(o.at("sandbox_type"), "filesystem");
  EXPECT_EQ(o.at("stigmer_backend_endpoint"), "localhost:50051");
  EXPECT_EQ(o.at("stigmer_api_key"), "***");  // the dummy-local-key default, set
  for (auto k : {"redis_host", "redis_password", "env"}) EXPECT_TRUE(o.at(k).is_null()) << k;
  EXPECT_EQ(o.at("redis_port"), 6379);  // used once REDIS_HOST is set
  auto sc = o.at("sandbox_config").as_object();
  EXPECT_EQ(sc.at("type"), "filesystem");
  EXPECT_EQ(sc.at("root_dir"), json::value((fs::current_path() / "workspace").string()));
  EXPECT_EQ(sc.size(), 2u);
}

// A worker in local mode (the filesystem plugin) takes its jobs from Redis when REDIS_HOST is set.
TEST(Config, LocalModeUsesRedisOnlyWhenItsHostIsSet) {
  auto o = config_json({}, {{"MODE", "local"}, {"REDIS_HOST", "redis.example"}});
  EXPECT_EQ(o.at("redis_host"), "redis.example");
  EXPECT_EQ(o.at("redis_port"), 6379);
  EXPECT_TRUE(o.at("redis_password").is_null());
  EXPECT_EQ(o.at("lease_s"), 60);
  EXPECT_EQ(o.at("max_attempts"), 3);
  EXPECT_EQ(o.at("events_maxlen"), 100000);
  EXPECT_EQ(o.at("job_expiry_s"), 86400);
  EXPECT_EQ(o.at("drain_timeout_s"), 600);
  EXPECT_EQ(o.at("job_max_bytes"), 16 * 1024 * 1024);
  auto bad = host({"config", "--json"}, {{"MODE", "local"}, {"AGENT_RUNNER_LEASE_S", "0"}});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("lease_s (env AGENT_RUNNER_LEASE_S)"), std::string::npos) << bad.err;
}

TEST(Config, RootDirIsMadeAbsolute) {
  auto o = config_json({}, {{"MODE", "local"}, {"SANDBOX_ROOT_DIR", "some/dir/../ws"}});
  EXPECT_EQ(o.at("sandbox_root_dir"), json::value((fs::current_path() / "some/ws").string()));
  EXPECT_EQ(o.at("sandbox_config").as_object().at("root_dir"), o.at("sandbox_root_dir"));
}

TEST(Config, CloudSandboxConfigWithAndWithoutSnapshot) {
  auto plain = config_json({}, kCloudKeys).at("sandbox_config").as_object();
  EXPECT_EQ(plain.at("type"), "daytona");
  EXPECT_FALSE(plain.contains("snapshot_id"));
  EXPECT_EQ(plain.at("api_key"), "***");
  EXPECT_EQ(plain.at("api_url"), "https://app.daytona.io/api");
  auto snap = config_json({}, with(kCloudKeys, {{"DAYTONA_DEV_TOOLS_SNAPSHOT_ID", "snap-7"},
                                                {"DAYTONA_TARGET", "eu"},
                                                {"DAYTONA_API_URL", "http://127.0.0.1:9/api"}}))
                  .at("sandbox_config")
                  .as_object();
  EXPECT_EQ(snap.at("snapshot_id"), "snap-7");
  EXPECT_EQ(snap.at("target"), "eu");
  EXPECT_EQ(snap.at("api_url"), "http://127.0.0.1:9/api");
}

TEST(Config, CloudRequiresItsKeysAndReportsThemTogether) {
  auto r = host({"config"}, {{"MODE", "cloud"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("stigmer_api_key"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("STIGMER_API_KEY"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("daytona_api_key"), std::string::npos) << r.err;
  // The Daytona key is needed only for the daytona sandbox type.
  auto other = config_json({}, {{"MODE", "cloud"},
                                {"STIGMER_API_KEY", "stigmer-key-1234"},
                                {"SANDBOX_TYPE", "fixture-good"}});
  EXPECT_EQ(other.at("sandbox_type"), "fixture-good");
  EXPECT_EQ(other.at("sandbox_config").as_object().at("type"), "fixture-good");
}

TEST(Config, EveryValidationProblemAtOnceWithItsSource) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file, "mode: cloud\nmax_concurrency: 0\ncolour: blue\n");
  auto r = host({"--config", file.string(), "config"},
                {{"REDIS_PORT", "http"}, {"STIGMER_API_KEY", "k-123456"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("redis_port (env REDIS_PORT): 'http' is not a port"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("max_concurrency (file " + file.string() + ":2)"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("colour (file " + file.string() + ":3): unknown key 'colour'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("daytona_api_key"), std::string::npos) << r.err;
}

TEST(Config, PortOutOfRange) {
  for (auto bad : {"0", "65536", "-1", "80x"}) {
    auto r = host({"config"}, with(kCloudKeys, {{"REDIS_PORT", bad}}));
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_NE(r.err.find("1 to 65535"), std::string::npos) << r.err;
  }
  EXPECT_EQ(config_json({}, with(kCloudKeys, {{"REDIS_PORT", "6380"}})).at("redis_port"), 6380);
}

TEST(Config, YamlSyntaxErrorHasLineAndColumn) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "bad.yaml";
  ar_test::write_file(file, "mode: local\nsandbox: {a: [1, 2}\n");
  auto r = host({"config"}, {{"AGENT_RUNNER_CONFIG", file.string()}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(file.string() + ":2:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("YAML syntax error"), std::string::npos) << r.err;
}

TEST(Config, UnreadableFileIsNamed) {
  auto r = host({"--config", "/nonexistent/agent-runner.yaml", "config"}, {{"MODE", "local"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("/nonexistent/agent-runner.yaml"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("No such file"), std::string::npos) << r.err;
}

TEST(Config, PrecedenceFlagOverEnvOverFileOverDefault) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file,
                      "mode: local\ntemporal_namespace: from-file\ntask_queue: file-queue\n"
                      "sandbox_root_dir: /srv/file-ws\nsandbox_type: fixture-good\n");
  auto args = std::vector<std::string>{"--config", file.string()};
  // file > default
  auto o = config_json(args);
  EXPECT_EQ(o.at("mode"), "local");
  EXPECT_EQ(o.at("temporal_namespace"), "from-file");
  EXPECT_EQ(o.at("sandbox_root_dir"), "/srv/file-ws");
  EXPECT_EQ(o.at("temporal_service_address"), "localhost:7233");
  // env > file
  o = config_json(args, {{"TEMPORAL_NAMESPACE", "from-env"}, {"SANDBOX_ROOT_DIR", "/srv/env-ws"}});
  EXPECT_EQ(o.at("temporal_namespace"), "from-env");
  EXPECT_EQ(o.at("sandbox_root_dir"), "/srv/env-ws");
  EXPECT_EQ(o.at("task_queue"), "file-queue");
  // flag > env
  auto flags = args;
  for (auto a : {"--sandbox-root-dir", "/srv/flag-ws", "--sandbox-type", "other"})
    flags.push_back(a);
  o = config_json(flags, {{"SANDBOX_ROOT_DIR", "/srv/env-ws"}, {"SANDBOX_TYPE", "env-type"}});
  EXPECT_EQ(o.at("sandbox_root_dir"), "/srv/flag-ws");
  EXPECT_EQ(o.at("sandbox_type"), "other");
  // MODE from the environment beats the file's mode.
  o = config_json(args, with(kCloudKeys, {{"MODE", "cloud"}}));
  EXPECT_EQ(o.at("mode"), "cloud");
}

TEST(Config, ExplainSaysWhereEachValueCameFrom) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  // `greeting` is a setting of the fixture plugin: `config` checks it against that plugin's schema.
  ar_test::write_file(
      file, "# comment\nmode: local\nsandbox:\n  greeting: hi\nsandbox_type: fixture-good\n");
  auto r =
      host({"--config", file.string(), "--plugin-dir", kFixtures, "config", "--json", "--explain"},
           {{"TEMPORAL_NAMESPACE", "ns"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto src = json::parse(r.out).as_object().at("sources").as_object();
  EXPECT_EQ(src.at("mode"), json::value("file " + file.string() + ":2"));
  EXPECT_EQ(src.at("temporal_namespace"), "env TEMPORAL_NAMESPACE");
  EXPECT_EQ(src.at("task_queue"), "default");
  EXPECT_EQ(src.at("sandbox.greeting"), json::value("file " + file.string() + ":4"));
  auto text = host({"--config", file.string(), "--plugin-dir", kFixtures, "config", "--explain"});
  ASSERT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("mode"), std::string::npos);
  EXPECT_NE(text.out.find("(file " + file.string() + ":2)"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("greeting"), std::string::npos) << text.out;
}

TEST(Config, SandboxSectionIsMergedAndPluginDirsAreRead) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file,
                      "mode: local\nsandbox:\n  greeting: hi\n  retries: 3\n"
                      "sandbox_type: fixture-good\nplugin_dirs: [" +
                          kFixtures + "]\n");
  auto o = config_json({"--config", file.string()});
  auto sc = o.at("sandbox_config").as_object();
  EXPECT_EQ(sc.at("greeting"), "hi");
  EXPECT_EQ(sc.at("retries"), 3);
  // plugin_dirs from the file are searched: the fixture plugin opens a sandbox.
  auto r = host({"--config", file.string(), "exec", "--", "x"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "out:x");
}

TEST(Config, PluginSchemaMismatchIsAConfigErrorNamingTheKey) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file,
                      "mode: local\nsandbox_type: fixture-good\nsandbox:\n  greting: hi\n"
                      "  retries: -2\n");
  auto r = host({"--config", file.string(), "--plugin-dir", kFixtures, "exec", "--", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("sandbox.greting (file " + file.string() + ":4): unknown key 'greting'"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("sandbox.retries (file " + file.string() + ":5): must be >= 0"),
            std::string::npos)
      << r.err;
}

TEST(Config, NoSecretIsEverPrinted) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file, "sandbox:\n  token: schema-secret-9876\n");
  Env env = {{"MODE", "cloud"},
             {"STIGMER_API_KEY", "stigmer-secret-1111"},
             {"REDIS_PASSWORD", "redis-secret-2222"},
             {"DAYTONA_API_KEY", "daytona-secret-3333"},
             {"SANDBOX_TYPE", "fixture-good"}};
  std::vector<std::vector<std::string>> commands = {
      {"config", "--json"},
      {"config", "--json", "--explain"},
      {"config"},
      {"config", "--explain"},
      {"--plugin-dir", kFixtures, "exec", "--", "echo stigmer-secret-1111 schema-secret-9876"},
      {"--plugin-dir", kFixtures, "exec", "--json", "--", "echo", "daytona-secret-3333"},
  };
  for (auto cmd : commands) {
    std::vector<std::string> args = {"--log-level", "trace", "--config", file.string()};
    args.insert(args.end(), cmd.begin(), cmd.end());
    auto r = host(args, env);
    EXPECT_TRUE(r.exit_code == 0) << cmd.back() << ": " << r.err;
    for (auto s : {"stigmer-secret-1111", "redis-secret-2222", "daytona-secret-3333",
                   "schema-secret-9876"}) {
      EXPECT_EQ(r.out.find(s), std::string::npos) << s << " in stdout of " << cmd.back();
      EXPECT_EQ(r.err.find(s), std::string::npos) << s << " in stderr of " << cmd.back();
    }
  }
  auto o = config_json({"--config", file.string()}, env);
  EXPECT_EQ(o.at("stigmer_api_key"), "***");
  EXPECT_EQ(o.at("redis_password"), "***");
  EXPECT_EQ(o.at("sandbox_config").as_object().at("token"), "***");
}

TEST(Config, TheBuiltInPlaceholderKeyIsNoSecretButAKeyTheUserSetIs) {
  // Local mode's default STIGMER_API_KEY is printed in --help and DESIGN.md: output that holds
  // it is left as it is (and no output byte pays a search for it); the value a user sets is
  // masked as before. `config` masks both: it shows whether the setting is set, not its value.
  const Env local = {{"MODE", "local"}, {"SANDBOX_TYPE", "fixture-good"}};
  auto placeholder = host({"--plugin-dir", kFixtures, "exec", "--", "echo dummy-local-key"}, local);
  EXPECT_EQ(placeholder.exit_code, 0) << placeholder.err;
  EXPECT_NE(placeholder.out.find("dummy-local-key"), std::string::npos) << placeholder.out;
  Env set = local;
  set["STIGMER_API_KEY"] = "user-local-key-4444";
  auto user = host({"--plugin-dir", kFixtures, "exec", "--", "echo user-local-key-4444"}, set);
  EXPECT_EQ(user.exit_code, 0) << user.err;
  EXPECT_EQ(user.out.find("user-local-key-4444"), std::string::npos) << user.out;
  EXPECT_EQ(config_json({}, local).at("stigmer_api_key"), "***");
}

TEST(Config, PluginsListingDoesNotComplainAboutAnIncompleteConfig) {
  // Cloud mode (MODE unset) without its keys: not an error for listing plugins.
  auto r = host({"--plugin-dir", kFixtures, "plugins"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.err.find("configuration error"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("fixture-good"), std::string::npos);
  // The same configuration is still an error where it matters.
  EXPECT_EQ(host({"config"}).exit_code, 2);
}

TEST(Config, HelpExplainsEverySettingAndSource) {
  auto r = host({"config", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (auto s : {"MODE",
                 "ENV",
                 "TEMPORAL_NAMESPACE",
                 "TEMPORAL_SERVICE_ADDRESS",
                 "TEMPORAL_AGENT_EXECUTION_RUNNER_TASK_QUEUE",
                 "TEMPORAL_MAX_CONCURRENCY",
                 "STIGMER_BACKEND_ENDPOINT",
                 "STIGMER_API_KEY",
                 "SANDBOX_TYPE",
                 "SANDBOX_ROOT_DIR",
                 "REDIS_HOST",
                 "REDIS_PORT",
                 "REDIS_PASSWORD",
                 "DAYTONA_API_KEY",
                 "DAYTONA_API_URL",
                 "DAYTONA_DEV_TOOLS_SNAPSHOT_ID",
                 "DAYTONA_TARGET",
                 "AGENT_RUNNER_CONFIG",
                 "sandbox:",
                 "--explain",
                 "Local mode",
                 "Cloud mode"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

namespace {
// The "  - ..." problem lines of an error report.
std::vector<std::string> problem_lines(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("  - ", 0) == 0) out.push_back(line);
  return out;
}
}  // namespace

TEST(Config, ConfigRefusesWhatExecRefusesWithTheSameMessages) {
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file,
                      "mode: local\nsandbox_type: fixture-good\nsandbox:\n  greting: hi\n"
                      "  retries: -2\n");
  std::vector<std::string> global = {"--config", file.string(), "--plugin-dir", kFixtures};
  auto with_cmd = [&](std::vector<std::string> cmd) {
    auto args = global;
    args.insert(args.end(), cmd.begin(), cmd.end());
    return host(args, {{"SANDBOX_ROOT_DIR", tmp.path().string()}});
  };
  auto exec = with_cmd({"exec", "--", "x"});
  auto config = with_cmd({"config"});
  auto config_json = with_cmd({"config", "--json"});
  EXPECT_EQ(exec.exit_code, 2) << exec.err;
  EXPECT_EQ(config.exit_code, 2) << config.out << config.err;
  EXPECT_EQ(config_json.exit_code, 2) << config_json.out;
  EXPECT_TRUE(config.out.empty() && config_json.out.empty()) << config.out;
  auto lines = problem_lines(exec.err);
  ASSERT_EQ(lines.size(), 2u) << exec.err;
  EXPECT_EQ(problem_lines(config.err), lines);
  EXPECT_EQ(problem_lines(config_json.err), lines);
  EXPECT_NE(config.err.find("checked against the plugin's schema"), std::string::npos);

  // A valid sandbox section passes both.
  ar_test::write_file(file, "mode: local\nsandbox_type: fixture-good\nsandbox:\n  greeting: hi\n");
  EXPECT_EQ(with_cmd({"config"}).exit_code, 0);
  EXPECT_EQ(with_cmd({"exec", "--", "x"}).exit_code, 0);
  // No plugin of the type: `config` still shows the configuration and says it checked nothing.
  auto none = host({"config", "--json"}, {{"MODE", "local"}, {"SANDBOX_TYPE", "no-such-type"}});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_NE(none.err.find("no loaded plugin provides sandbox type 'no-such-type'"),
            std::string::npos)
      << none.err;
}

TEST(Config, DaytonaSettingsReachTheDaytonaPluginInEitherMode) {
  const Env local_daytona = {{"MODE", "local"},
                             {"SANDBOX_TYPE", "daytona"},
                             {"DAYTONA_API_KEY", "daytona-key-5678"},
                             {"DAYTONA_TARGET", "eu"},
                             {"DAYTONA_DEV_TOOLS_SNAPSHOT_ID", "snap-1"}};
  auto o = config_json({}, local_daytona);
  EXPECT_EQ(o.at("mode"), "local");
  auto sc = o.at("sandbox_config").as_object();
  EXPECT_EQ(sc.at("type"), "daytona");
  EXPECT_EQ(sc.at("api_key"), "***");
  EXPECT_EQ(sc.at("api_url"), "https://app.daytona.io/api");
  EXPECT_EQ(sc.at("target"), "eu");
  EXPECT_EQ(sc.at("snapshot_id"), "snap-1");
  EXPECT_FALSE(sc.contains("root_dir")) << "the daytona plugin has no local workspace";
  // Without the key, local mode with the daytona type is a configuration error, as in cloud mode.
  auto missing = host({"config"}, {{"MODE", "local"}, {"SANDBOX_TYPE", "daytona"}});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("daytona_api_key (not set): required when sandbox_type is daytona"),
            std::string::npos)
      << missing.err;
  EXPECT_NE(missing.err.find("or sandbox.api_key in the config file"), std::string::npos)
      << missing.err;
  // The plugin's own key in the file's sandbox section satisfies the requirement (the Daytona
  // README documents it) and reaches the plugin, masked in the output.
  ar_test::TempDir tmp;
  const auto file = tmp.path() / "agent-runner.yaml";
  ar_test::write_file(file, "sandbox:\n  api_key: daytona-key-in-file\n");
  auto in_file = host({"--config", file.string(), "config", "--json"},
                      {{"MODE", "local"}, {"SANDBOX_TYPE", "daytona"}});
  EXPECT_EQ(in_file.exit_code, 0) << in_file.err;
  EXPECT_EQ(in_file.out.find("daytona-key-in-file"), std::string::npos) << in_file.out;
  EXPECT_NE(in_file.out.find("\"api_key\":\"***\""), std::string::npos) << in_file.out;
  // Other local plugins still get the workspace and none of the Daytona settings.
  auto fs_sc = config_json({}, {{"MODE", "local"}, {"DAYTONA_API_KEY", "daytona-key-5678"}})
                   .at("sandbox_config")
                   .as_object();
  EXPECT_TRUE(fs_sc.contains("root_dir"));
  EXPECT_FALSE(fs_sc.contains("api_key"));
}

TEST(Config, AnEmptyVariableCountsAsUnset) {
  const Env empty = {{"MODE", ""},
                     {"SANDBOX_TYPE", ""},
                     {"REDIS_PORT", ""},
                     {"TEMPORAL_MAX_CONCURRENCY", ""},
                     {"TEMPORAL_NAMESPACE", ""},
                     {"AGENT_RUNNER_CONFIG", ""},
                     {"AGENT_RUNNER_PLUGIN_PATH", ""}};
  auto r = host({"config", "--json", "--explain"}, with(kCloudKeys, empty));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = json::parse(r.out).as_object();
  EXPECT_EQ(o.at("mode"), "cloud");
  EXPECT_EQ(o.at("sandbox_type"), "daytona");
  EXPECT_EQ(o.at("redis_port"), 6379);
  EXPECT_EQ(o.at("max_concurrency"), 10);
  EXPECT_EQ(o.at("temporal_namespace"), "default");
  auto src = o.at("sources").as_object();
  EXPECT_EQ(src.at("temporal_namespace"), "default");
  EXPECT_FALSE(src.contains("config_file"));
  // An empty key is a missing key.
  auto keys =
      host({"config"}, {{"MODE", "cloud"}, {"STIGMER_API_KEY", ""}, {"DAYTONA_API_KEY", ""}});
  EXPECT_EQ(keys.exit_code, 2);
  EXPECT_NE(keys.err.find("stigmer_api_key (not set)"), std::string::npos) << keys.err;
  EXPECT_NE(keys.err.find("daytona_api_key (not set)"), std::string::npos) << keys.err;
  // An empty variable does not hide the file's value either.
  ar_test::TempDir tmp;
  auto file = tmp.path() / "c.yaml";
  ar_test::write_file(file, "mode: local\ntemporal_namespace: from-file\n");
  auto f = config_json({"--config", file.string()},
                       {{"MODE", ""}, {"TEMPORAL_NAMESPACE", ""}, {"SANDBOX_ROOT_DIR", ""}});
  EXPECT_EQ(f.at("mode"), "local");
  EXPECT_EQ(f.at("temporal_namespace"), "from-file");
  EXPECT_EQ(f.at("sandbox_root_dir"), json::value((fs::current_path() / "workspace").string()));
  // And both helps say so.
  for (auto cmd :
       {std::vector<std::string>{"--help"}, std::vector<std::string>{"config", "--help"}})
    EXPECT_NE(host(cmd).out.find("empty string counts as unset"), std::string::npos) << cmd[0];
}

TEST(Config, OneTableDrivesTheFlagsHelpJsonAndExplain) {
  // Every setting: its variable, its default per mode in `config --help`, its source in
  // --explain; the settings with a flag take it before or after the command.
  auto help = host({"config", "--help"}).out;
  for (auto s :
       {"local: default localhost:50051; cloud: default localhost:8080",
        "local: default dummy-local-key; cloud: required",
        "local: default ./workspace; cloud: unused", "local: optional; cloud: default localhost",
        "required when sandbox_type is daytona", "--sandbox-root-dir DIR", "--mode local|cloud",
        "--sandbox-type TYPE"})
    EXPECT_NE(help.find(s), std::string::npos) << s;
  auto r = host({"config", "--json", "--explain", "--sandbox-type", "fixture-good",
                 "--sandbox-root-dir", "/srv/ws", "--mode", "local"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto o = json::parse(r.out).as_object();
  EXPECT_EQ(o.at("sandbox_type"), "fixture-good");
  EXPECT_EQ(o.at("sandbox_root_dir"), "/srv/ws");
  auto src = o.at("sources").as_object();
  EXPECT_EQ(src.at("mode"), "flag --mode");
  EXPECT_EQ(src.at("sandbox_type"), "flag --sandbox-type");
  EXPECT_EQ(src.at("sandbox_root_dir"), "flag --sandbox-root-dir");
  EXPECT_EQ(src.at("redis_host"), "unset");  // local mode: Redis only when REDIS_HOST is set
  EXPECT_EQ(src.at("stigmer_api_key"), "default (local mode)");
  for (auto field : {"env", "temporal_namespace", "temporal_service_address", "task_queue",
                     "max_concurrency", "stigmer_backend_endpoint", "redis_port", "redis_password",
                     "daytona_api_key", "daytona_api_url", "daytona_snapshot_id", "daytona_target"})
    EXPECT_TRUE(src.contains(field)) << field;
}
