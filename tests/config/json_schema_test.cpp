// SPDX-License-Identifier: Apache-2.0
// The JSON Schema subset used for plugin configs and workload files.
#include "json_schema.hpp"

#include <gtest/gtest.h>

using agent_runner::validate_json_schema;
namespace json = boost::json;

namespace {
std::vector<agent_runner::SchemaError> check(const char* schema, const char* instance) {
  return validate_json_schema(json::parse(schema), json::parse(instance));
}
}  // namespace

TEST(JsonSchema, TypesAndIntegers) {
  EXPECT_TRUE(check(R"({"type":"integer"})", "3").empty());
  EXPECT_TRUE(check(R"({"type":"integer"})", "3.0").empty());
  EXPECT_FALSE(check(R"({"type":"integer"})", "3.5").empty());
  EXPECT_TRUE(check(R"({"type":"number"})", "3.5").empty());
  EXPECT_TRUE(check(R"({"type":["string","null"]})", "null").empty());
  auto e = check(R"({"type":"string"})", "1");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "must be a string (got integer)");
}

TEST(JsonSchema, ObjectsReportPointersAndUnknownKeys) {
  const char* schema = R"({"type":"object","required":["name"],
    "properties":{"name":{"type":"string","minLength":1},"n":{"type":"integer","minimum":1}},
    "additionalProperties":false})";
  EXPECT_TRUE(check(schema, R"({"name":"x","n":2})").empty());
  auto e = check(schema, R"({"n":0,"na/me":1})");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].message, "missing required key 'name'");
  EXPECT_EQ(e[1].pointer, "/n");
  EXPECT_EQ(e[1].message, "must be >= 1 (got 0)");
  EXPECT_EQ(e[2].pointer, "/na~1me");
  EXPECT_NE(e[2].message.find("unknown key 'na/me'; known keys: name, n"), std::string::npos);
}

TEST(JsonSchema, EnumPatternArraysAndRefs) {
  const char* schema = R"({"$defs":{"mode":{"enum":["a","b"]}},"type":"array","minItems":1,
    "items":{"$ref":"#/$defs/mode"}})";
  EXPECT_TRUE(check(schema, R"(["a","b"])").empty());
  EXPECT_EQ(check(schema, "[]").size(), 1u);
  auto e = check(schema, R"(["a","c"])");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].pointer, "/1");
  EXPECT_EQ(e[0].message, "\"c\" is not allowed; allowed: \"a\", \"b\"");
  EXPECT_FALSE(check(R"({"pattern":"^[a-z]+$"})", R"("ABC")").empty());
  EXPECT_TRUE(check(R"({"pattern":"^[a-z]+$"})", R"("abc")").empty());
}

TEST(JsonSchema, OneOfReportsTheClosestBranch) {
  const char* schema = R"({"oneOf":[
    {"type":"object","required":["execute"],"properties":{"execute":{"type":"object",
      "properties":{"command":{"type":"string"}},"additionalProperties":false}},
      "additionalProperties":false},
    {"type":"object","required":["ls"],"properties":{"ls":{"type":"object"}},
      "additionalProperties":false}]})";
  EXPECT_TRUE(check(schema, R"({"ls":{}})").empty());
  auto e = check(schema, R"({"execute":{"comand":"x"}})");
  ASSERT_EQ(e.size(), 1u) << e[0].message;
  EXPECT_EQ(e[0].pointer, "/execute/comand");
  EXPECT_NE(e[0].message.find("unknown key 'comand'"), std::string::npos);
  // Matching two branches of a oneOf is an error too.
  EXPECT_FALSE(check(R"({"oneOf":[{"type":"integer"},{"type":"number"}]})", "1").empty());
  EXPECT_TRUE(check(R"({"anyOf":[{"type":"integer"},{"type":"number"}]})", "1").empty());
}

TEST(JsonSchema, BooleanSchemas) {
  EXPECT_TRUE(check("true", "1").empty());
  EXPECT_FALSE(check("false", "1").empty());
}

TEST(JsonSchema, PatternsRunInLinearTimeOnHugeStrings) {
  // std::regex's recursive matcher overflowed the stack here; RE2 does not recurse.
  const std::string huge(1'000'000, 'a');
  json::value v(huge);
  auto e = validate_json_schema(json::parse(R"({"type":"string","pattern":"^(a|b)*$"})"), v);
  EXPECT_TRUE(e.empty());
  e = validate_json_schema(json::parse(R"({"type":"string","pattern":"^(a|b)*c$"})"), v);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "must match the pattern ^(a|b)*c$");
}

TEST(JsonSchema, AValueIsCheckedNoFurtherOnceItFailed) {
  // maxLength fails: no second complaint from the pattern about the same value.
  auto e = check(R"({"type":"string","maxLength":3,"pattern":"^[0-9]+$"})", R"("abcdef")");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].message, "must be at most 3 characters");
  e = check(R"({"enum":["a","b"],"minLength":5})", R"("c")");
  ASSERT_EQ(e.size(), 1u);
}

TEST(JsonSchema, ABadPatternIsASchemaErrorNamingIt) {
  auto e = check(R"({"type":"string","pattern":"(unclosed"})", R"("x")");
  ASSERT_EQ(e.size(), 1u);
  EXPECT_NE(e[0].message.find("schema error: bad pattern (unclosed"), std::string::npos)
      << e[0].message;
}

TEST(JsonSchema, ASchemaThatAsksForExponentialWorkIsStopped) {
  // Each level tries both branches of the whole schema again: 2^64 steps without a bound.
  auto e = check(R"({"anyOf":[{"$ref":"#"},{"$ref":"#"}]})", "1");
  ASSERT_FALSE(e.empty());
  bool budget = false;
  for (const auto& err : e) budget = budget || err.message.find("steps") != std::string::npos;
  EXPECT_TRUE(budget);
}
