// SPDX-License-Identifier: Apache-2.0
// Tool schemas, argument checking and result rendering, without a sandbox.
#include "mcp_tools.hpp"
#include "redact.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <set>

namespace {
namespace json = boost::json;
namespace mcp = agent_runner::mcp;
using agent_runner::Op;
using agent_runner::OpResult;

std::string text_of(const json::object& result) {
  return std::string(result.at("content").as_array().at(0).as_object().at("text").as_string());
}
bool is_error(const json::object& result) {
  auto* e = result.if_contains("isError");
  return e && e->as_bool();
}
OpResult ok(json::object body, std::vector<std::string> buffers = {}) {
  OpResult r;
  r.body = std::move(body);
  r.buffers = std::move(buffers);
  return r;
}
const mcp::ToolSpec& tool(std::string_view name) {
  const mcp::ToolSpec* t = mcp::find_tool(name);
  EXPECT_NE(t, nullptr) << name;
  return *t;
}

TEST(McpTools, EveryOperationIsATool) {
  std::set<std::string> names;
  for (const auto& t : mcp::tool_specs()) names.insert(t.name);
  EXPECT_EQ(names, (std::set<std::string>{"execute", "read_file", "write_file", "edit_file", "ls",
                                          "glob", "grep", "upload", "download", "delete"}));
}

TEST(McpTools, ListCarriesSchemasByProtocolVersion) {
  auto modern = mcp::tools_list(mcp::features_for("2025-11-25"));
  ASSERT_EQ(modern.size(), mcp::tool_specs().size());
  for (const auto& v : modern) {
    const auto& t = v.as_object();
    EXPECT_EQ(t.at("inputSchema").at("type"), "object") << t.at("name");
    EXPECT_EQ(t.at("outputSchema").at("type"), "object") << t.at("name");
    EXPECT_GT(t.at("description").as_string().size(), 80u) << "descriptions are for a model";
    EXPECT_TRUE(t.contains("annotations"));
    EXPECT_TRUE(t.contains("title"));
  }
  // 2024-11-05 knows neither output schemas nor annotations.
  for (const auto& v : mcp::tools_list(mcp::features_for("2024-11-05"))) {
    EXPECT_FALSE(v.as_object().contains("outputSchema"));
    EXPECT_FALSE(v.as_object().contains("annotations"));
  }
  EXPECT_TRUE(
      mcp::tools_list(mcp::features_for("2025-03-26"))[0].as_object().contains("annotations"));
}

TEST(McpTools, ArgumentsAreMappedToTheSandboxRequest) {
  auto c = mcp::prepare_call(
      tool("execute"),
      json::parse(R"({"command":"ls","timeout":5,"cwd":"/src","env":{"A":"b"}})").as_object());
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.op, Op::execute);
  EXPECT_EQ(c.request,
            json::parse(R"({"command":"ls","timeout_s":5,"cwd":"/src","env":{"A":"b"}})"));

  c = mcp::prepare_call(tool("read_file"), json::parse(R"({"path":"/a"})").as_object());
  EXPECT_EQ(c.request, json::parse(R"({"path":"/a","offset":0,"limit":2000})"));

  c = mcp::prepare_call(tool("write_file"),
                        json::parse(R"({"path":"/a","content":"x\ny"})").as_object());
  EXPECT_EQ(c.request, json::parse(R"({"path":"/a","overwrite":false})"));
  ASSERT_EQ(c.inputs.size(), 1u);
  EXPECT_EQ(c.inputs[0], "x\ny");

  c = mcp::prepare_call(
      tool("edit_file"),
      json::parse(R"({"path":"/a","old_string":"x","new_string":"y"})").as_object());
  EXPECT_EQ(c.request, json::parse(R"({"path":"/a","old":"x","new":"y","replace_all":false})"));

  c = mcp::prepare_call(
      tool("upload"),
      json::parse(R"({"files":[{"path":"/b","content_base64":"AAEC/w==","mode":493}]})")
          .as_object());
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.request, json::parse(R"({"files":[{"path":"/b","mode":493}]})"));
  EXPECT_EQ(c.inputs.at(0), std::string("\x00\x01\x02\xff", 4));

  c = mcp::prepare_call(tool("delete"),
                        json::parse(R"({"path":"/d","recursive":true})").as_object());
  EXPECT_EQ(c.op, Op::remove);
  EXPECT_EQ(c.request, json::parse(R"({"path":"/d","recursive":true})"));
}

TEST(McpTools, BadArgumentsNameTheFieldForTheModel) {
  auto c = mcp::prepare_call(tool("read_file"),
                             json::parse(R"({"file_path":"/a","offset":-1})").as_object());
  EXPECT_NE(c.error.find("file_path"), std::string::npos) << c.error;
  EXPECT_NE(c.error.find("offset"), std::string::npos) << c.error;
  EXPECT_NE(c.error.find("missing required key 'path'"), std::string::npos) << c.error;
  c = mcp::prepare_call(tool("execute"), json::parse(R"({"command":["ls"]})").as_object());
  EXPECT_NE(c.error.find("command"), std::string::npos) << c.error;
  c = mcp::prepare_call(
      tool("upload"),
      json::parse(R"({"files":[{"path":"/b","content_base64":"not base64!"}]})").as_object());
  EXPECT_NE(c.error.find("files/0/content_base64"), std::string::npos) << c.error;
}

TEST(McpTools, OperationErrorsAreToolErrorsWithTheCode) {
  auto call = mcp::prepare_call(tool("write_file"),
                                json::parse(R"({"path":"/a","content":""})").as_object());
  auto r = mcp::render_result(tool("write_file"), call,
                              OpResult::error(AR_ERR_ALREADY_EXISTS, "/a exists"),
                              mcp::features_for("2025-11-25"));
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(r.at("structuredContent"),
            json::parse(R"({"error":{"code":"already_exists","message":"/a exists"}})"));
  EXPECT_NE(text_of(r).find("already_exists"), std::string::npos);
  EXPECT_NE(text_of(r).find("overwrite"), std::string::npos) << "tells the model what to do";
  // A plugin that already gives the advice: it is said once.
  r = mcp::render_result(
      tool("write_file"), call,
      OpResult::error(AR_ERR_ALREADY_EXISTS,
                      "write /a: file already exists (pass overwrite: true to replace it)"),
      mcp::features_for("2025-11-25"));
  const std::string text = text_of(r);
  EXPECT_EQ(text.find("overwrite: true"), text.rfind("overwrite: true")) << text;
  // The old protocol has no structuredContent.
  r = mcp::render_result(tool("write_file"), call, OpResult::error(AR_ERR_ALREADY_EXISTS, "x"),
                         mcp::features_for("2025-03-26"));
  EXPECT_FALSE(r.contains("structuredContent"));
}

// The Inspector's --strict mode warns about ["X", "null"] type arrays; every output schema
// accepts {"error": {code, message}}, the structuredContent of a failed call.
TEST(McpTools, OutputSchemasHaveNoNullTypesAndAcceptAnError) {
  std::function<void(const json::value&, const std::string&)> walk = [&](const json::value& v,
                                                                         const std::string& at) {
    if (v.is_object()) {
      if (auto* t = v.as_object().if_contains("type")) {
        EXPECT_TRUE(t->is_string()) << at;
      }
      for (const auto& kv : v.as_object()) walk(kv.value(), at + "/" + std::string(kv.key()));
    } else if (v.is_array()) {
      for (const auto& x : v.as_array()) walk(x, at + "/[]");
    }
  };
  for (const auto& t : mcp::tool_specs()) {
    walk(t.output_schema, t.name);
    const auto& any = t.output_schema.at("anyOf").as_array();
    EXPECT_EQ(any.back(), json::parse(R"({"required":["error"]})")) << t.name;
    EXPECT_TRUE(t.output_schema.at("properties").as_object().contains("error")) << t.name;
  }
}

TEST(McpTools, ReadWithLimitZeroSaysHowManyLinesThereAre) {
  auto call =
      mcp::prepare_call(tool("read_file"), json::parse(R"({"path":"a","limit":0})").as_object());
  ASSERT_EQ(call.error, "");
  auto r = mcp::render_result(
      tool("read_file"), call,
      ok(json::parse(R"({"path":"/w/a","total_lines":3,"offset":0,"lines":0,"size":6,"more":true})")
             .as_object(),
         {std::string()}),
      mcp::features_for("2025-11-25"));
  EXPECT_FALSE(is_error(r));
  EXPECT_NE(text_of(r).find("3 more lines"), std::string::npos) << text_of(r);
  // Past the end: an error with its code, in the text and in structuredContent.
  call =
      mcp::prepare_call(tool("read_file"), json::parse(R"({"path":"a","offset":9})").as_object());
  r = mcp::render_result(
      tool("read_file"), call,
      ok(json::parse(
             R"({"path":"/w/a","total_lines":3,"offset":9,"lines":0,"size":6,"more":false})")
             .as_object(),
         {std::string()}),
      mcp::features_for("2025-11-25"));
  EXPECT_TRUE(is_error(r));
  EXPECT_EQ(r.at("structuredContent").at("error").at("code"), "invalid_argument");
  EXPECT_NE(text_of(r).find("invalid_argument: line offset 9 exceeds file length (3 lines)"),
            std::string::npos)
      << text_of(r);
}

TEST(McpTools, ExecuteTextEndsWithTheExitCode) {
  auto call = mcp::prepare_call(tool("execute"), json::parse(R"({"command":"false"})").as_object());
  auto r = mcp::render_result(
      tool("execute"), call,
      ok(json::parse(
             R"({"exit_code":3,"output":"boom\n","stdout":"","stderr":"boom\n","truncated":false,"timed_out":false,"duration_ms":4})")
             .as_object()),
      mcp::features_for("2025-11-25"));
  EXPECT_FALSE(is_error(r)) << "a failing command is a result, not a tool error";
  EXPECT_EQ(text_of(r), "boom\n[Command failed with exit code 3]");
  EXPECT_EQ(r.at("structuredContent").at("exit_code"), 3);
  r = mcp::render_result(
      tool("execute"), call,
      ok(json::parse(
             R"({"exit_code":124,"output":"","truncated":true,"timed_out":true,"duration_ms":2000,"stdout_bytes":9,"stderr_bytes":0})")
             .as_object()),
      mcp::features_for("2025-11-25"));
  EXPECT_NE(text_of(r).find("<no output>"), std::string::npos);
  EXPECT_NE(text_of(r).find("timed out after 2 s"), std::string::npos) << text_of(r);
  EXPECT_NE(text_of(r).find("truncated"), std::string::npos);
}

TEST(McpTools, ReadFileIsNumberedLikeCatN) {
  auto call = mcp::prepare_call(tool("read_file"),
                                json::parse(R"({"path":"/a","offset":1,"limit":2})").as_object());
  auto r = mcp::render_result(
      tool("read_file"), call,
      ok(json::parse(R"({"path":"/a","total_lines":5,"offset":1,"lines":2,"size":30,"more":true})")
             .as_object(),
         {"two\nthree\n"}),
      mcp::features_for("2025-11-25"));
  EXPECT_EQ(
      text_of(r),
      "     2\ttwo\n     3\tthree\n... (2 more lines; call read_file with offset=3 to continue)");
  EXPECT_EQ(r.at("structuredContent").at("content"), "two\nthree\n");

  auto past =
      mcp::prepare_call(tool("read_file"), json::parse(R"({"path":"/a","offset":9})").as_object());
  r = mcp::render_result(
      tool("read_file"), past,
      ok(json::parse(R"({"path":"/a","total_lines":5,"offset":9,"lines":0,"more":false})")
             .as_object(),
         {""}),
      mcp::features_for("2025-11-25"));
  EXPECT_TRUE(is_error(r));
  EXPECT_NE(text_of(r).find("exceeds file length (5 lines)"), std::string::npos);

  r = mcp::render_result(
      tool("read_file"), call,
      ok(json::parse(R"({"path":"/a","total_lines":0,"offset":0,"lines":0,"more":false})")
             .as_object(),
         {""}),
      mcp::features_for("2025-11-25"));
  EXPECT_NE(text_of(r).find("empty contents"), std::string::npos);
}

TEST(McpTools, LongLinesContinueWithoutSplittingCharacters) {
  EXPECT_EQ(mcp::number_lines("abcdefg", 7, 3), "     7\tabc\n   7.1\tdef\n   7.2\tg");
  // "é" is two bytes: a 3-byte chunk must not cut it.
  EXPECT_EQ(mcp::number_lines("aé\xc3\xa9", 1, 2), "     1\ta\n   1.1\t\xc3\xa9\n   1.2\t\xc3\xa9");
  EXPECT_EQ(mcp::number_lines("x\n\ny\n", 1), "     1\tx\n     2\t\n     3\ty");
}

TEST(McpTools, Base64RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (size_t n = 0; n < 7; ++n) {
    const std::string s = all.substr(0, n) + all.substr(250);
    EXPECT_EQ(mcp::base64_decode(mcp::base64_encode(s)), s);
  }
  EXPECT_EQ(mcp::base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(mcp::base64_decode("Zm9v\nYg"), "foob") << "unpadded and wrapped input is accepted";
  EXPECT_FALSE(mcp::base64_decode("Zm9vY"));
  EXPECT_FALSE(mcp::base64_decode("Zm9v*g=="));
  EXPECT_FALSE(mcp::base64_decode("Zg==Zg=="));
}

TEST(McpTools, DownloadAndUploadReportEachFile) {
  auto call = mcp::prepare_call(tool("download"),
                                json::parse(R"({"paths":["/a","/missing"]})").as_object());
  auto r = mcp::render_result(
      tool("download"), call,
      ok(json::parse(
             R"({"files":[{"path":"/a","ok":true,"size":3,"mode":420,"buffer":0,"error":null},
                                  {"path":"/missing","ok":false,"buffer":null,"error":{"code":"file_not_found","message":"/missing: no such file"}}]})")
             .as_object(),
         {std::string("\0\1\2", 3)}),
      mcp::features_for("2025-11-25"));
  EXPECT_TRUE(is_error(r));
  const auto& files = r.at("structuredContent").at("files").as_array();
  EXPECT_EQ(files[0].at("content_base64"), "AAEC");
  // Absent rather than null: no output schema needs a ["string", "null"] type.
  EXPECT_FALSE(files[1].as_object().contains("content_base64"));
  EXPECT_FALSE(files[0].as_object().contains("error"));
  EXPECT_EQ(files[1].at("error").at("code"), "file_not_found");
  EXPECT_NE(text_of(r).find("file_not_found"), std::string::npos);
  EXPECT_NE(text_of(r).find("mode 0644"), std::string::npos);
  // Without structured content (old protocol) the bytes go into the text.
  r = mcp::render_result(
      tool("download"), call,
      ok(json::parse(R"({"files":[{"path":"/a","ok":true,"size":3,"mode":420,"buffer":0}]})")
             .as_object(),
         {std::string("\0\1\2", 3)}),
      mcp::features_for("2024-11-05"));
  EXPECT_FALSE(r.contains("structuredContent"));
  EXPECT_NE(text_of(r).find("AAEC"), std::string::npos);
}

TEST(McpTools, IntegersOutsideTheRangeOfInt64AreRefusedNotConverted) {
  // 6.7e79 is a whole number, so JSON Schema calls it an integer; converting it is undefined.
  auto c = mcp::prepare_call(tool("read_file"),
                             json::parse(R"({"path":"/a","limit":6.7e79})").as_object());
  EXPECT_NE(c.error.find("limit: must be an integer between 0 and 9223372036854775807"),
            std::string::npos)
      << c.error;
  c = mcp::prepare_call(tool("grep"),
                        json::parse(R"({"pattern":"x","max_matches":1e300})").as_object());
  EXPECT_NE(c.error.find("max_matches: must be an integer"), std::string::npos) << c.error;
  c = mcp::prepare_call(tool("read_file"),
                        json::parse(R"({"path":"/a","offset":18446744073709551615})").as_object());
  EXPECT_NE(c.error.find("offset: must be an integer between 0 and"), std::string::npos) << c.error;
  // In range, whole doubles still work.
  c = mcp::prepare_call(tool("read_file"), json::parse(R"({"path":"/a","limit":5.0})").as_object());
  EXPECT_EQ(c.error, "");
  EXPECT_EQ(c.request.at("limit"), 5);
}

TEST(McpTools, GrepCannotAskForMoreMatchesThanTheServerAllows) {
  mcp::CallLimits limits;
  limits.max_matches = 50;
  auto c = mcp::prepare_call(
      tool("grep"), json::parse(R"({"pattern":"^","max_matches":10000000})").as_object(), limits);
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.request.at("max_matches"), 50);
  auto r = mcp::render_result(tool("grep"), c,
                              ok(json::parse(R"({"matches":[{"path":"/f","line":1,"text":""}],
                                                 "truncated":true})")
                                     .as_object()),
                              mcp::features_for("2025-11-25"));
  EXPECT_NE(text_of(r).find("max_matches 10000000 was lowered to 50"), std::string::npos)
      << text_of(r);
  // Without max_matches the plugins' default stands unless the limit is lower.
  c = mcp::prepare_call(tool("grep"), json::parse(R"({"pattern":"^"})").as_object(), limits);
  EXPECT_EQ(c.request.at("max_matches"), 50);
  c = mcp::prepare_call(tool("grep"), json::parse(R"({"pattern":"^"})").as_object());
  EXPECT_FALSE(c.request.contains("max_matches"));
}

TEST(McpTools, GrepResultsStopAtTheByteLimitAndSayWhatWasLeftOut) {
  mcp::CallLimits limits;
  limits.max_result_bytes = 1000;
  auto c = mcp::prepare_call(tool("grep"), json::parse(R"({"pattern":"x"})").as_object(), limits);
  json::array matches;
  for (int i = 1; i <= 100; ++i)
    matches.push_back({{"path", "/f"}, {"line", i}, {"text", std::string(90, 'x')}});
  auto r = mcp::render_result(tool("grep"), c, ok({{"matches", matches}, {"truncated", false}}),
                              mcp::features_for("2025-11-25"));
  const auto& shown = r.at("structuredContent").at("matches").as_array();
  EXPECT_LT(shown.size(), 100u);
  EXPECT_GT(shown.size(), 0u);
  EXPECT_EQ(r.at("structuredContent").at("truncated"), true);
  EXPECT_NE(text_of(r).find(std::to_string(100 - shown.size()) + " more matching lines left out"),
            std::string::npos)
      << text_of(r);
  EXPECT_NE(text_of(r).find("serve --max-result-bytes"), std::string::npos);
}

TEST(McpTools, DownloadedBytesAreRedactedBeforeTheyAreEncoded) {
  const std::string secret = "tok-DL-4f1c2a9e77";
  agent_runner::Redactor::global().add(secret);
  auto call = mcp::prepare_call(tool("download"), json::parse(R"({"paths":["/k"]})").as_object());
  // Invalid UTF-8 beside the secret: only base64 can carry these bytes.
  const std::string bytes = "key=" + secret + "\n\xff\xfe";
  auto r = mcp::render_result(
      tool("download"), call,
      ok(json::parse(R"({"files":[{"path":"/k","ok":true,"size":25,"mode":420,"buffer":0}]})")
             .as_object(),
         {bytes}),
      mcp::features_for("2025-11-25"));
  const auto b64 = r.at("structuredContent").at("files").at(0).at("content_base64").as_string();
  auto decoded = mcp::base64_decode(b64);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->find(secret), std::string::npos) << *decoded;
  EXPECT_EQ(*decoded, "key=***\n\xff\xfe");
}

}  // namespace
