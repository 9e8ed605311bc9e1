// SPDX-License-Identifier: Apache-2.0
// Lifecycle and HTTP robustness of the built daytona.so against the test Daytona server:
// ephemeral sandboxes deleted, sessions reused, attach by id, and every injected fault ending in
// success after retries or in a clear error, with no sandbox leaked.
#include "fake_server.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>

namespace json = boost::json;
using namespace agent_runner;
using namespace dt_test;

namespace {

std::string label(const json::value& sb, const std::string& key) {
  const auto& labels = sb.as_object().at("labels").as_object();
  auto it = labels.find(key);
  return it == labels.end() ? "" : std::string(it->value().as_string());
}

OpResult try_open(const json::object& cfg, const std::optional<std::string>& session = {}) {
  OpResult err;
  auto sb = Sandbox::create(daytona_plugin(), cfg, session, err);
  if (sb) {
    err = OpResult{};
    err.body["sandbox_id"] = sb->id();
  }
  return err;
}

}  // namespace

TEST(Descriptor, PublishesTypeCapabilitiesAndASchemaWithTheSecretMarked) {
  auto p = daytona_plugin();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->sandbox_type(), "daytona");
  const auto& d = p->descriptor();
  EXPECT_TRUE(d.capabilities & AR_CAP_REMOTE);
  EXPECT_TRUE(d.capabilities & AR_CAP_SESSIONS);
  auto schema = json::parse(p->config_schema()).as_object();
  EXPECT_EQ(schema.at("required").as_array()[0], "api_key");
  const auto& key = schema.at("properties").as_object().at("api_key").as_object();
  EXPECT_EQ(key.at("x-secret"), true);
  EXPECT_EQ(key.at("writeOnly"), true);
  for (const char* k :
       {"type", "api_url", "snapshot_id", "target", "sandbox_id", "labels", "auto_stop_interval",
        "auto_delete_interval", "create_timeout_s", "request_timeout_s", "ca_file", "env",
        "trusted_hosts", "workdir", "workspace_dir"})
    EXPECT_TRUE(schema.at("properties").as_object().contains(k)) << k;
}

// Issue 12: `api_key` in the config file is accepted; DAYTONA_API_KEY, when set, takes precedence.
TEST(Config, TheKeyComesFromTheConfigUnlessTheEnvironmentSetsIt) {
  FakeDaytona srv;
  const std::string wrong = "dtn_WRONG_zzzzzzzzzzzzzzzzzzzzzzzzzzzz";
  EXPECT_TRUE(try_open(config(srv)).ok());  // api_key from the config
  ASSERT_EQ(::setenv("DAYTONA_API_KEY", kKey, 1), 0);
  auto env_wins = try_open(config(srv, {{"api_key", wrong}}));
  ::unsetenv("DAYTONA_API_KEY");
  EXPECT_TRUE(env_wins.ok()) << env_wins.message();
  EXPECT_EQ(try_open(config(srv, {{"api_key", wrong}})).status, AR_ERR_UNAUTHORIZED);
  ASSERT_EQ(::setenv("DAYTONA_API_KEY", "", 1), 0);  // empty counts as unset
  auto empty_env = try_open(config(srv));
  ::unsetenv("DAYTONA_API_KEY");
  EXPECT_TRUE(empty_env.ok()) << empty_env.message();
}

TEST(Config, ProblemsNameTheKeyAndTheFix) {
  FakeDaytona srv;
  auto no_key = config(srv);
  no_key.erase("api_key");
  auto r = try_open(no_key);
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("sandbox.api_key"), std::string::npos);
  EXPECT_NE(r.message().find("DAYTONA_API_KEY"), std::string::npos);
  r = try_open(config(srv, {{"create_timeout_s", "soon"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("sandbox.create_timeout_s"), std::string::npos);
  r = try_open(config(srv, {{"no_such_key", 1}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("sandbox.no_such_key"), std::string::npos);
  EXPECT_NE(r.message().find("unknown key 'no_such_key'; known keys: type, api_key, api_url"),
            std::string::npos)
      << r.message();
  r = try_open(config(srv, {{"labels", {{"team", 1}}}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("sandbox.labels.team: must be a string"), std::string::npos)
      << r.message();
  // A bad pattern value: the key, the pattern (run by the SDK's prefix matcher, no regex engine
  // in the plugin) and what the setting is.
  r = try_open(config(srv, {{"api_url", "ftp://x"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_EQ(
      r.message().rfind("sandbox.api_url: must match the pattern ^https?:// (control-plane", 0), 0u)
      << r.message();
  r = try_open(config(srv, {{"ca_file", "/nonexistent/ca.pem"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  r = try_open(config(srv, {{"workdir", "relative/dir"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("sandbox.workdir"), std::string::npos) << r.message();
  r = try_open(config(srv, {{"workdir", "/a"}, {"workspace_dir", "/b"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("old name"), std::string::npos) << r.message();
  r = try_open(config(srv, {{"trusted_hosts", json::array{1}}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("sandbox.trusted_hosts[0]"), std::string::npos) << r.message();
  r = try_open(config(srv, {{"env", {{"1BAD", "x"}}}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_TRUE(srv.sandboxes().empty());
}

// Issue 14: `workdir` (old name `workspace_dir`) is where commands start and relative paths lead;
// it is created when missing and reported by create.
TEST(Config, WorkdirAndItsOldName) {
  FakeDaytona srv;
  for (const char* key : {"workdir", "workspace_dir"}) {
    auto sb = open(config(srv, {{key, "/workspace"}}));
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->info().at("workdir"), "/workspace");
    EXPECT_EQ(sb->call(Op::execute, {{"command", "pwd"}}).body.at("output"), "/workspace\n");
    CallOptions o;
    o.inputs = {"x"};
    EXPECT_EQ(sb->call(Op::write, {{"path", "a.txt"}}, o).body.at("path"), "/workspace/a.txt");
  }
  // One the sandbox cannot make (below the read-only /usr) is refused with the reason.
  auto r = try_open(config(srv, {{"workdir", "/usr/work"}}));
  EXPECT_EQ(r.status, AR_ERR_PERMISSION_DENIED);
  EXPECT_NE(r.message().find("sandbox.workdir /usr/work"), std::string::npos) << r.message();
  EXPECT_TRUE(srv.sandboxes().empty());
}

TEST(Lifecycle, EphemeralSandboxIsCreatedFromTheSnapshotAndDeletedOnRelease) {
  FakeDaytona srv;
  srv.configure({{"ready_polls", 3}});
  auto sb = open(
      config(srv, {{"snapshot_id", "dev-tools"}, {"target", "eu"}, {"labels", {{"team", "a"}}}}));
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->info().at("persistent"), false);
  auto list = srv.sandboxes();
  ASSERT_EQ(list.size(), 1u);
  const auto& s = list[0].as_object();
  EXPECT_EQ(s.at("snapshot"), "dev-tools");
  EXPECT_EQ(s.at("target"), "eu");
  EXPECT_EQ(s.at("autoDeleteInterval"), 0);
  EXPECT_EQ(label(list[0], "team"), "a");
  EXPECT_EQ(label(list[0], "agent-runner.ephemeral"), "true");
  EXPECT_EQ(s.at("state"), "started");
  // It waited by polling: at least the ready_polls GETs.
  EXPECT_GE(srv.count_requests("GET", "^/api/sandbox/[^/?]+$"), 3u);
  EXPECT_TRUE(sb->release().ok());
  EXPECT_TRUE(srv.sandboxes().empty());
}

TEST(Lifecycle, EphemeralSandboxIsDeletedAlsoWhenTheWorkloadFailed) {
  FakeDaytona srv;
  {
    auto sb = open(config(srv, {{"max_attempts", 2}}));
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->call(Op::read, {{"path", "/missing"}}).status, AR_ERR_FILE_NOT_FOUND);
    srv.faults(
        {{{"method", "POST"}, {"path", "/process/execute$"}, {"status", 500}, {"times", 100}}});
    auto r = sb->call(Op::execute, {{"command", "echo hi"}});
    EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
    // The error names method, path and status.
    EXPECT_NE(r.message().find("POST /toolbox/"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find("HTTP 500"), std::string::npos) << r.message();
    // Starting a command is safe to repeat (it runs once whatever reaches the server), so the
    // 5xx was retried within max_attempts.
    EXPECT_EQ(srv.count_requests("POST", "/process/execute$"), 2u);
  }  // the host's Sandbox releases on destruction
  EXPECT_TRUE(srv.sandboxes().empty());
}

TEST(Lifecycle, SessionAttachesToTheSameSandboxAndKeepsIt) {
  FakeDaytona srv;
  std::string id;
  {
    auto sb = open(config(srv), std::string("feature-42"));
    ASSERT_TRUE(sb);
    id = sb->id();
    EXPECT_EQ(sb->info().at("persistent"), true);
    EXPECT_EQ(sb->info().at("session"), "feature-42");
    CallOptions o;
    o.inputs = {"kept"};
    ASSERT_TRUE(sb->call(Op::write, {{"path", "/state.txt"}}, o).ok());
    EXPECT_TRUE(sb->release().ok());
  }
  ASSERT_EQ(srv.sandboxes().size(), 1u);
  EXPECT_EQ(label(srv.sandboxes()[0], "agent-runner.session"), "feature-42");
  // Stopped meanwhile (auto-stop): attaching starts it again. Old servers list a bare array.
  srv.set_state(id, "stopped");
  srv.configure({{"list_shape", "array"}});
  auto again = open(config(srv), std::string("feature-42"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->id(), id);
  EXPECT_EQ(again->call(Op::read, {{"path", "/state.txt"}}).buffers.at(0), "kept");
  EXPECT_EQ(srv.count_requests("POST", "/start$"), 1u);
  auto other = open(config(srv), std::string("other"));
  ASSERT_TRUE(other);
  EXPECT_NE(other->id(), id);
  EXPECT_EQ(srv.sandboxes().size(), 2u);
}

TEST(Lifecycle, SessionLookupFollowsListPages) {
  FakeDaytona srv;
  for (const char* s : {"a", "b", "c"}) ASSERT_TRUE(open(config(srv), std::string(s)));
  // One sandbox per page, and a server that ignores the label filter: the plugin pages through
  // everything and filters by label itself.
  srv.configure({{"page_size", 1}, {"ignore_labels", true}});
  auto c = open(config(srv), std::string("c"));
  ASSERT_TRUE(c);
  EXPECT_EQ(srv.sandboxes().size(), 3u);  // found on the last page, not created again
  EXPECT_GE(srv.count_requests("GET", "cursor="), 2u);
}

TEST(Lifecycle, AttachBySandboxIdNeverDeletesAndAMissingOneIsNotFound) {
  FakeDaytona srv;
  auto owner = open(config(srv), std::string("s"));
  ASSERT_TRUE(owner);
  {
    auto sb = open(config(srv, {{"sandbox_id", owner->id()}}));
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->id(), owner->id());
    EXPECT_TRUE(sb->release().ok());
  }
  EXPECT_EQ(srv.sandboxes().size(), 1u);
  auto r = try_open(config(srv, {{"sandbox_id", "no-such-sandbox"}}));
  EXPECT_EQ(r.status, AR_ERR_NOT_FOUND);
  EXPECT_NE(r.message().find("no-such-sandbox"), std::string::npos);
}

// Daemons before v0.156.0 split a command line on spaces instead of running it in a shell; the
// plugin wraps its scripts for them (and sends them as they are to newer ones).
TEST(Lifecycle, CommandsWorkOnOldAndNewDaemons) {
  FakeDaytona srv;
  for (const char* version : {"0.150.0", "0.190.0", "weird"}) {
    srv.configure({{"daemon_version", version}});
    auto sb = open(config(srv));
    ASSERT_TRUE(sb);
    const int64_t before = srv.state().at("wrapped").as_int64();
    auto r = sb->call(Op::execute, {{"command", "echo \"a  b\" 'c'"}});
    EXPECT_EQ(r.body.at("output"), "a  b c\n") << version << ": " << r.message();
    const bool wrapped = srv.state().at("wrapped").as_int64() > before;
    EXPECT_EQ(wrapped, std::string(version) != "0.190.0") << version;
  }
}

TEST(Lifecycle, ASandboxStoppedBetweenCallsIsStartedAgain) {
  FakeDaytona srv;
  auto sb = open(config(srv));
  ASSERT_TRUE(sb);
  srv.set_state(sb->id(), "stopped");
  auto r = sb->call(Op::execute, {{"command", "echo back"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("stdout"), "back\n");
}

// Issue 12: a sandbox stuck in `creating` cannot be deleted yet (409): one bounded cleanup, and
// the error says so with its id instead of claiming it was deleted.
TEST(Lifecycle, StuckInCreatingTimesOutAndSaysItCouldNotBeDeletedYet) {
  FakeDaytona srv;
  srv.configure({{"create_outcome", "stuck"}});
  auto r = try_open(config(srv, {{"create_timeout_s", 1}}));
  EXPECT_EQ(r.status, AR_ERR_TIMEOUT);
  EXPECT_NE(r.message().find("'creating'"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("create_timeout_s"), std::string::npos) << r.message();
  ASSERT_EQ(srv.sandboxes().size(), 1u);
  const std::string id(srv.sandboxes()[0].as_object().at("id").as_string());
  EXPECT_NE(r.message().find("sandbox " + id + " could not be deleted yet"), std::string::npos)
      << r.message();
  EXPECT_NE(r.message().find("auto-delete"), std::string::npos) << r.message();
  EXPECT_EQ(r.message().find("was deleted"), std::string::npos) << r.message();
  // One cleanup sequence of five tries, not two sequences from two cleanup paths.
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/"), 5u);
}

TEST(Lifecycle, AFailedCreationIsDeletedOnceEvenAfterAConflict) {
  FakeDaytona srv;
  srv.configure({{"create_outcome", "error"}, {"delete_conflicts", 1}});
  auto r = try_open(config(srv));
  EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
  EXPECT_NE(r.message().find("was deleted"), std::string::npos) << r.message();
  EXPECT_EQ(srv.count_requests("DELETE", "^/api/sandbox/"), 2u);  // 409, then deleted
  EXPECT_TRUE(srv.sandboxes().empty());
}

// Issue 12: creation is safe to repeat. A 503 before or after the server created the sandbox, a
// lost answer, and an answer slower than request_timeout_s: exactly one sandbox, and it works.
TEST(Lifecycle, CreationSurvivesFailuresAndNeverLeavesTwo) {
  FakeDaytona srv;
  const json::array cases = {
      json::object{{"method", "POST"}, {"path", "^/api/sandbox$"}, {"status", 503}},
      json::object{
          {"method", "POST"}, {"path", "^/api/sandbox$"}, {"status", 503}, {"after", true}},
      json::object{
          {"method", "POST"}, {"path", "^/api/sandbox$"}, {"action", "drop"}, {"after", true}},
      json::object{{"method", "POST"},
                   {"path", "^/api/sandbox$"},
                   {"action", "slow"},
                   {"delay", 3},
                   {"after", true}},
  };
  for (const auto& fault : cases) {
    for (const bool session : {false, true}) {
      SCOPED_TRACE(json::serialize(fault) + (session ? " session" : " ephemeral"));
      srv.reset();
      srv.faults({fault});
      auto sb = open(config(srv, {{"request_timeout_s", 1}}),
                     session ? std::optional<std::string>("s") : std::nullopt);
      ASSERT_TRUE(sb);
      EXPECT_EQ(srv.sandboxes().size(), 1u);
      EXPECT_EQ(srv.sandboxes()[0].as_object().at("id"), json::value(sb->id()));
      // A lost answer is not re-sent by libcurl (the create went out on a fresh connection, not
      // the kept-alive one the session lookup used): the sandbox is found by its token instead.
      if (fault.as_object().contains("action") && fault.as_object().at("action") == "drop") {
        EXPECT_EQ(srv.count_requests("POST", "^/api/sandbox$"), 1u);
      }
      auto r = sb->call(Op::execute, {{"command", "echo works"}});
      EXPECT_EQ(r.body.at("output"), "works\n") << r.message();
      EXPECT_TRUE(sb->release().ok());
      EXPECT_EQ(srv.sandboxes().size(), session ? 1u : 0u);
    }
  }
}

TEST(Lifecycle, ErrorStateSaysWhyAndIsDeleted) {
  FakeDaytona srv;
  for (const char* outcome : {"error", "build_failed"}) {
    srv.configure({{"create_outcome", outcome}, {"error_reason", "no available runners"}});
    auto r = try_open(config(srv));
    EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
    EXPECT_NE(r.message().find(std::string("'") + outcome + "'"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find("no available runners"), std::string::npos) << r.message();
    EXPECT_TRUE(srv.sandboxes().empty());
    // A session's sandbox that failed on creation is deleted too.
    r = try_open(config(srv), std::string("s"));
    EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
    EXPECT_TRUE(srv.sandboxes().empty());
  }
}

TEST(Http, ServerErrorsAndDroppedConnectionsAreRetriedForSafeRequests) {
  FakeDaytona srv;
  srv.faults({{{"method", "GET"}, {"path", "^/api/sandbox/"}, {"status", 503}, {"times", 2}},
              {{"method", "GET"}, {"path", "/work-dir$"}, {"status", 500}, {"times", 1}},
              {{"method", "GET"}, {"path", "/files/info$"}, {"action", "drop"}, {"times", 1}},
              {{"method", "GET"}, {"path", "/files/info$"}, {"status", 502}, {"times", 1}},
              {{"method", "GET"}, {"path", "/files/info$"}, {"status", 504}, {"times", 1}}});
  auto sb = open(config(srv));
  ASSERT_TRUE(sb);
  auto r = sb->call(Op::read, {{"path", "/nothing"}});
  EXPECT_EQ(r.status, AR_ERR_FILE_NOT_FOUND) << r.message();
  EXPECT_TRUE(sb->release().ok());
  EXPECT_TRUE(srv.sandboxes().empty());
  // Every injected fault was met and answered with another attempt.
  auto st = srv.state();
  size_t injected = 0;
  for (const auto& q : st.at("requests").as_array()) {
    auto s = q.as_object().at("status").as_int64();
    if (s == 0 || s >= 500) ++injected;
  }
  EXPECT_EQ(injected, 6u);
}

TEST(Http, RateLimitHonoursRetryAfterEvenForCreate) {
  FakeDaytona srv;
  srv.faults({{{"method", "POST"},
               {"path", "^/api/sandbox$"},
               {"status", 429},
               {"retry_after", "1"},
               {"times", 2}}});
  auto sb = open(config(srv));
  ASSERT_TRUE(sb);
  EXPECT_EQ(srv.count_requests("POST", "^/api/sandbox$"), 3u);
  EXPECT_EQ(srv.sandboxes().size(), 1u);  // throttled attempts created nothing
}

TEST(Http, AnExhaustedRetryBudgetGivesAClearErrorAndLeaksNothing) {
  FakeDaytona srv;
  auto sb = open(config(srv, {{"max_attempts", 3}}));
  ASSERT_TRUE(sb);
  srv.faults({{{"method", "GET"}, {"path", "/files$"}, {"status", 503}, {"times", 100}}});
  auto r = sb->call(Op::ls, {{"path", "/"}});
  EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
  EXPECT_NE(r.message().find("GET /toolbox/"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("HTTP 503"), std::string::npos) << r.message();
  EXPECT_EQ(srv.count_requests("GET", "/files\\?"), 3u);
  sb.reset();
  EXPECT_TRUE(srv.sandboxes().empty());
  // 429 without end on create: a clear error, and no sandbox.
  srv.faults({{{"method", "POST"},
               {"path", "^/api/sandbox$"},
               {"status", 429},
               {"retry_after", "1"},
               {"times", 100}}});
  auto c = try_open(config(srv, {{"retry_budget_s", 2}}));
  EXPECT_EQ(c.status, AR_ERR_UNAVAILABLE);
  EXPECT_NE(c.message().find("HTTP 429"), std::string::npos) << c.message();
  EXPECT_TRUE(srv.sandboxes().empty());
}

TEST(Http, ASlowResponsePastTheTimeoutIsRetriedThenReportedAsTimeout) {
  FakeDaytona srv;
  auto sb = open(config(srv, {{"request_timeout_s", 1}, {"max_attempts", 2}}));
  ASSERT_TRUE(sb);
  srv.faults({{{"method", "GET"},
               {"path", "/files/info$"},
               {"action", "slow"},
               {"delay", 3},
               {"times", 1}}});
  EXPECT_EQ(sb->call(Op::read, {{"path", "/nothing"}}).status, AR_ERR_FILE_NOT_FOUND);
  srv.faults({{{"method", "GET"},
               {"path", "/files/info$"},
               {"action", "slow"},
               {"delay", 3},
               {"times", 2}}});
  auto r = sb->call(Op::read, {{"path", "/nothing"}});
  EXPECT_EQ(r.status, AR_ERR_TIMEOUT) << r.message();
  EXPECT_NE(r.message().find("GET /toolbox/"), std::string::npos) << r.message();
  sb.reset();
  EXPECT_TRUE(srv.sandboxes().empty());
}

TEST(Http, AnUnreachableServerIsUnavailable) {
  int port;
  {
    FakeDaytona gone;
    port = gone.port();
  }
  json::object cfg{{"api_key", kKey},
                   {"api_url", "http://127.0.0.1:" + std::to_string(port) + "/api"},
                   {"max_attempts", 2},
                   {"retry_budget_s", 1}};
  auto r = try_open(cfg);
  EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
  EXPECT_NE(r.message().find("POST /api/sandbox"), std::string::npos) << r.message();
}

TEST(Http, AWrongKeyIsUnauthorizedAndNeverEchoed) {
  FakeDaytona srv;
  const std::string wrong = "dtn_WRONG_zzzzzzzzzzzzzzzzzzzzzzzzzzzz";
  auto r = try_open(config(srv, {{"api_key", wrong}}));
  EXPECT_EQ(r.status, AR_ERR_UNAUTHORIZED);
  EXPECT_NE(r.message().find("HTTP 401"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("DAYTONA_API_KEY"), std::string::npos) << r.message();
  EXPECT_EQ(r.message().find(wrong), std::string::npos);
  EXPECT_TRUE(srv.sandboxes().empty());
  EXPECT_EQ(srv.count_requests("POST", "^/api/sandbox$"), 1u);  // 401 is not retried
  // A server that echoes the key back in an error does not get it into our message.
  auto sb = open(config(srv));
  ASSERT_TRUE(sb);
  srv.faults({{{"method", "GET"},
               {"path", "/files$"},
               {"status", 400},
               {"body", {{"message", std::string("bad token Bearer ") + kKey}}}}});
  auto e = sb->call(Op::ls, {{"path", "/"}});
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.message().find(kKey), std::string::npos) << e.message();
  EXPECT_NE(e.message().find("***"), std::string::npos) << e.message();
}

TEST(Http, ToolboxUrlFallsBackForOlderServers) {
  FakeDaytona srv;
  srv.configure({{"omit_toolbox_url", true}});
  {
    auto sb = open(config(srv));
    ASSERT_TRUE(sb);
    EXPECT_TRUE(sb->call(Op::ls, {{"path", "/"}}).ok());
  }
  EXPECT_EQ(srv.count_requests("GET", "/toolbox-proxy-url$"), 1u);
  srv.configure({{"proxy_url_endpoint", false}});
  {
    auto sb = open(config(srv));
    ASSERT_TRUE(sb);
    EXPECT_TRUE(sb->call(Op::ls, {{"path", "/"}}).ok());
  }
  EXPECT_EQ(srv.count_requests("GET", "^/api/config$"), 1u);
  EXPECT_TRUE(srv.sandboxes().empty());
}

// Issue 12: the key goes only to the API's host (and its subdomains) or a host the operator
// trusts, whatever toolboxProxyUrl the server names.
TEST(Http, TheKeyGoesOnlyToTheApiHostOrTrustedHosts) {
  FakeDaytona srv;
  srv.configure({{"toolbox_host", "localhost"}});  // same server, another host name
  auto r = try_open(config(srv));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  EXPECT_NE(r.message().find("'localhost'"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("sandbox.trusted_hosts"), std::string::npos) << r.message();
  auto requests_to = [&](const std::string& host) {
    size_t n = 0;
    for (const auto& q : srv.requests())
      if (q.as_object().at("host").as_string() == host) ++n;
    return n;
  };
  EXPECT_EQ(requests_to("localhost"), 0u);
  EXPECT_TRUE(srv.sandboxes().empty());  // the sandbox it made is gone again
  auto sb = open(config(srv, {{"trusted_hosts", json::array{"localhost"}}}));
  ASSERT_TRUE(sb);
  EXPECT_EQ(sb->call(Op::execute, {{"command", "echo trusted"}}).body.at("output"), "trusted\n");
  EXPECT_GT(requests_to("localhost"), 0u);
  for (const auto& q : srv.requests()) EXPECT_EQ(q.as_object().at("auth"), true);
}

// TLS verification is always on: a server with a certificate from an unknown CA is refused, and
// ca_file makes that CA trusted.
TEST(Http, TlsIsVerifiedAndCaFileAddsATrustedCa) {
  ar_test::TempDir dir;
  const auto pem = dir.path() / "server.pem";
  const auto cert = dir.path() / "ca.pem";
  auto gen = ar_test::run(
      {"/bin/sh", "-c",
       "cd \"$0\" && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 "
       "-addext subjectAltName=IP:127.0.0.1 -keyout key.pem -out ca.pem "
       ">/dev/null 2>&1 && cat ca.pem key.pem > server.pem",
       dir.path().string()},
      ar_test::base_env());
  if (gen.exit_code != 0 || !std::filesystem::exists(pem)) GTEST_SKIP() << "openssl unavailable";
  FakeDaytona srv(pem.string());
  auto refused = try_open(config(srv, {{"max_attempts", 1}}));
  EXPECT_EQ(refused.status, AR_ERR_UNAVAILABLE);
  EXPECT_NE(refused.message().find("ca_file"), std::string::npos) << refused.message();
  EXPECT_TRUE(srv.sandboxes().empty());
  auto sb = open(config(srv, {{"ca_file", cert.string()}}));
  ASSERT_TRUE(sb);
  auto r = sb->call(Op::execute, {{"command", "echo over tls"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("stdout"), "over tls\n");
  sb.reset();
  EXPECT_TRUE(srv.sandboxes().empty());
}
