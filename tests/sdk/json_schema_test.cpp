// SPDX-License-Identifier: Apache-2.0
// sdk/include/agent_runner/json_schema.hpp from a plugin's side: the default pattern matcher (an
// anchored literal prefix, nothing else), a schema it cannot check refused when loaded with the
// pattern named, and config errors that name the key, what is allowed and the fix.
#include <agent_runner/json_schema.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sdk = agent_runner::sdk;
namespace json = boost::json;

namespace {

TEST(SdkJsonSchema, PrefixMatcherMatchesAnchoredLiteralPrefixes) {
  const auto& m = sdk::prefix_pattern_matcher();
  EXPECT_FALSE(m.unsupported("^https?://"));
  EXPECT_TRUE(m.search("^https?://", "https://api.example.com"));
  EXPECT_TRUE(m.search("^https?://", "http://x"));
  EXPECT_FALSE(m.search("^https?://", "ftp://x"));
  EXPECT_FALSE(m.search("^https?://", "httpss://x"));
  EXPECT_FALSE(m.search("^https?://", " http://x")) << "anchored: no match further in";
  EXPECT_FALSE(m.search("^https?://", "http"));
  EXPECT_TRUE(m.search("^/", "/work"));
  EXPECT_FALSE(m.search("^/", "work/"));
  EXPECT_TRUE(m.search("^a\\.b", "a.bc"));
  EXPECT_FALSE(m.search("^a\\.b", "axb"));
  for (const char* p : {"^[a-z]+$", "https://", "^a*", "^a|b", "^\\d", "^(a)", "^.", "^a{2}"})
    EXPECT_TRUE(m.unsupported(p)) << p;
}

TEST(SdkJsonSchema, UnsupportedPatternIsRefusedAtLoadAndNamed) {
  try {
    sdk::ConfigSchema s(R"({"type": "object", "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$"}}})");
    FAIL() << "a schema with a pattern the default matcher cannot run was accepted";
  } catch (const sdk::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("/properties/name/pattern"), std::string::npos) << msg;
    EXPECT_NE(msg.find("^[a-z]+$"), std::string::npos) << msg;
  }
  // An unimplemented keyword too, named.
  try {
    sdk::ConfigSchema s(R"({"type": "object", "patternProperties": {"^x": {}}})");
    FAIL() << "patternProperties was accepted";
  } catch (const sdk::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'patternProperties'"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(sdk::ConfigSchema(R"({"properties": {"u": {"pattern": "^https?://"}}})"));
}

const char* const kSchema = R"({
  "type": "object", "additionalProperties": false, "required": ["root"],
  "properties": {
    "root": {"type": "string", "description": "where the data lives"},
    "url": {"type": "string", "pattern": "^https?://", "description": "the API's base URL"},
    "n": {"type": "integer", "minimum": 1, "default": 5},
    "items": {"type": "array", "items": {"type": "object", "required": ["host"],
              "additionalProperties": false,
              "properties": {"host": {"type": "string", "description": "the host path"}}}}}})";

std::string error_of(const json::object& config) {
  static const sdk::ConfigSchema s(kSchema);
  try {
    s.check(config);
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.status(), AR_ERR_INVALID_CONFIG);
    return e.what();
  }
  return "";
}

TEST(SdkJsonSchema, ConfigErrorsNameTheKeyWhatIsAllowedAndTheFix) {
  EXPECT_EQ(error_of({{"root", "/r"}}), "");
  EXPECT_EQ(error_of({{"root", "/r"}, {"n", nullptr}}), "") << "null counts as not given";
  EXPECT_EQ(error_of({}), "sandbox.root: is required (where the data lives)");
  EXPECT_EQ(error_of({{"root", "/r"}, {"colour", 1}}),
            "sandbox.colour: unknown key 'colour'; known keys: root, url, n, items");
  EXPECT_EQ(error_of({{"root", "/r"}, {"url", "ftp://x"}}),
            "sandbox.url: must match the pattern ^https?:// (the API's base URL)");
  EXPECT_EQ(error_of({{"root", "/r"}, {"n", 0}}), "sandbox.n: must be >= 1 (got 0)");
  EXPECT_EQ(error_of({{"root", "/r"}, {"items", json::array{json::object{}}}}),
            "sandbox.items[0].host: is required (the host path)");
  EXPECT_EQ(error_of({{"root", 1}, {"n", "x"}}),
            "sandbox.root: must be a string (got integer) (and 1 more problem)");
}

TEST(SdkJsonSchema, ValuesComeWithTheSchemasDefaults) {
  const sdk::ConfigSchema s(kSchema);
  const json::object given{{"root", "/r"}};
  EXPECT_EQ(s.value(given, "n"), json::value(5));
  EXPECT_EQ(s.value({{"n", 7}}, "n"), json::value(7));
  EXPECT_TRUE(s.value(given, "url").is_null());
}

}  // namespace
