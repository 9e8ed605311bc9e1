// SPDX-License-Identifier: Apache-2.0
// `agent-runner serve --mcp` as a real process, through the fixture plugin (no node needed):
// arguments, stdout carrying protocol messages only, and a clean exit on end of input.
#include "test_util.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <sstream>

namespace {
namespace json = boost::json;
const std::string kBin = AR_TEST_HOST_BIN;
const std::string kFixtures = AR_TEST_FIXTURE_DIR;

std::map<std::string, std::string> fixture_env() {
  auto env = ar_test::base_env();
  env["MODE"] = "local";
  env["SANDBOX_TYPE"] = "fixture-good";
  return env;
}

std::vector<json::object> messages(const std::string& out) {
  std::vector<json::object> all;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    json::error_code ec;
    json::value v = json::parse(line, ec);
    EXPECT_FALSE(ec) << "stdout line is not JSON: " << line;
    if (!ec) all.push_back(v.as_object());
  }
  return all;
}

TEST(McpProcess, ArgumentErrorsExit2) {
  auto r = ar_test::run({kBin, "serve"}, fixture_env());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--mcp"), std::string::npos) << r.err;
  r = ar_test::run({kBin, "serve", "--mcp", "--max-calls", "0"}, fixture_env());
  EXPECT_EQ(r.exit_code, 2);
  r = ar_test::run({kBin, "serve", "--mcp", "--bogus"}, fixture_env());
  EXPECT_EQ(r.exit_code, 2);
  r = ar_test::run({kBin, "serve", "--help"}, fixture_env());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("mcpServers"), std::string::npos) << "help shows a client configuration";
}

TEST(McpProcess, NoPluginForTheTypeExits3WithNothingOnStdout) {
  auto env = fixture_env();
  env["SANDBOX_TYPE"] = "no-such-type";
  auto r = ar_test::run({kBin, "--plugin-dir", kFixtures, "serve", "--mcp"}, env,
                        R"({"jsonrpc":"2.0","id":1,"method":"ping"})"
                        "\n");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no-such-type"), std::string::npos);
}

TEST(McpProcess, ServesUntilEndOfInputWithOnlyProtocolOnStdout) {
  const std::string input =
      R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}})"
      "\n"
      R"({"jsonrpc":"2.0","method":"notifications/initialized"})"
      "\n"
      R"({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute","arguments":{"command":"hi"}}})"
      "\n"
      "garbage\n"
      R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ls","arguments":{}}})"
      "\n"
      R"({"jsonrpc":"2.0","id":4,"method":"ping"})";  // last line without a newline
  auto r = ar_test::run({kBin, "--log-level", "debug", "--plugin-dir", kFixtures, "serve", "--mcp"},
                        fixture_env(), input);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto all = messages(r.out);
  ASSERT_EQ(all.size(), 5u) << r.out;
  std::map<std::string, json::object> by_id;
  for (const auto& m : all) by_id[json::serialize(m.at("id"))] = m;
  EXPECT_EQ(by_id["1"].at("result").at("protocolVersion"), "2025-06-18");
  EXPECT_EQ(by_id["2"].at("result").at("structuredContent").at("output"), "out:err:hi");
  EXPECT_EQ(by_id["null"].at("error").at("code"), -32700);
  // The fixture's ls throws: an internal error, reported as a tool result.
  EXPECT_TRUE(by_id["3"].at("result").at("isError").as_bool());
  EXPECT_EQ(by_id["4"].at("result"), json::object{});
  // Logs (debug here) went to stderr, never to stdout.
  EXPECT_NE(r.err.find("initialize from t 1"), std::string::npos) << r.err;
}

}  // namespace
