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
        "auto_delete_interval", "create_timeout_s", "request_timeout_s", "ca_file", "env"})
    EXPECT_TRUE(schema.at("properties").as_object().contains(k)) << k;
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
  r = try_open(config(srv, {{"api_url", "ftp://x"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
  r = try_open(config(srv, {{"ca_file", "/nonexistent/ca.pem"}}));
  EXPECT_EQ(r.status, AR_ERR_INVALID_CONFIG);
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
    auto sb = open(config(srv));
    ASSERT_TRUE(sb);
    EXPECT_EQ(sb->call(Op::read, {{"path", "/missing"}}).status, AR_ERR_FILE_NOT_FOUND);
    srv.faults({{{"method", "POST"}, {"path", "/exec$"}, {"status", 500}, {"times", 1}}});
    auto r = sb->call(Op::execute, {{"command", "echo hi"}});
    EXPECT_EQ(r.status, AR_ERR_UNAVAILABLE);
    // A POST that runs a command is not repeated: the error names method, path and status.
    EXPECT_NE(r.message().find("POST /toolbox/"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find("HTTP 500"), std::string::npos) << r.message();
    EXPECT_EQ(srv.count_requests("POST", "/exec$"), 1u);
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

TEST(Lifecycle, ASandboxStoppedBetweenCallsIsStartedAgain) {
  FakeDaytona srv;
  auto sb = open(config(srv));
  ASSERT_TRUE(sb);
  srv.set_state(sb->id(), "stopped");
  auto r = sb->call(Op::execute, {{"command", "echo back"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.body.at("stdout"), "back\n");
}

TEST(Lifecycle, StuckInCreatingTimesOutAndIsDeleted) {
  FakeDaytona srv;
  srv.configure({{"create_outcome", "stuck"}, {"delete_conflicts", 1}});
  auto r = try_open(config(srv, {{"create_timeout_s", 1}}));
  EXPECT_EQ(r.status, AR_ERR_TIMEOUT);
  EXPECT_NE(r.message().find("'creating'"), std::string::npos) << r.message();
  EXPECT_NE(r.message().find("create_timeout_s"), std::string::npos) << r.message();
  EXPECT_TRUE(srv.sandboxes().empty());
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
