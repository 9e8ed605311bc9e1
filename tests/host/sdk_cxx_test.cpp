// SPDX-License-Identifier: Apache-2.0
// The SDK header compiles as C++ too (the C fixtures prove C11), and the helper's utilities work.
#include <agent_runner/plugin.h>
#include <agent_runner/plugin.hpp>

#include <gtest/gtest.h>

TEST(Sdk, StatusNamesAreTheDocumentedCodes) {
  EXPECT_STREQ(ar_status_name(AR_OK), "ok");
  EXPECT_STREQ(ar_status_name(AR_ERR_FILE_NOT_FOUND), "file_not_found");
  EXPECT_STREQ(ar_status_name(AR_ERR_AMBIGUOUS), "ambiguous");
  EXPECT_STREQ(ar_status_name(AR_ERR_UNAUTHORIZED), "unauthorized");
  EXPECT_STREQ(ar_status_name(AR_ERR_NO_SPACE), "no_space");
  EXPECT_STREQ(ar_status_name(static_cast<ar_status>(999)), "internal");
}

TEST(Sdk, DescriptorHeaderLayoutIsStable) {
  // These offsets are ABI: changing them is a major version bump.
  EXPECT_EQ(offsetof(ar_plugin_descriptor, struct_size), 0u);
  EXPECT_EQ(offsetof(ar_plugin_descriptor, abi_major), 4u);
  EXPECT_EQ(offsetof(ar_plugin_descriptor, abi_minor), 6u);
  EXPECT_EQ(offsetof(ar_plugin_descriptor, name), 8u);
  // 1.0 ends at the last operation slot; 1.1 appends the plugin-level slots after it.
  EXPECT_EQ(AR_DESCRIPTOR_MIN_SIZE_1_0, offsetof(ar_plugin_descriptor, probe));
  EXPECT_EQ(AR_DESCRIPTOR_MIN_SIZE_1_1, sizeof(ar_plugin_descriptor));
  EXPECT_EQ(offsetof(ar_plugin_descriptor, execute), 80u);
  EXPECT_EQ(AR_DESCRIPTOR_MIN_SIZE_1_0, 80u + 10 * sizeof(void*));
}

TEST(Sdk, Utf8SanitizeReplacesInvalidSequences) {
  using agent_runner::sdk::utf8_sanitize;
  EXPECT_EQ(utf8_sanitize("plain"), "plain");
  EXPECT_EQ(utf8_sanitize("h\xC3\xA9llo"), "h\xC3\xA9llo");
  EXPECT_EQ(utf8_sanitize("a\xFF"
                          "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(utf8_sanitize("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong NUL
  EXPECT_EQ(utf8_sanitize("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
}

TEST(Sdk, JsonGetNamesTheMember) {
  namespace jg = agent_runner::sdk::json_get;
  boost::json::object o{{"n", "x"}};
  try {
    jg::integer(o, "n", 0);
    FAIL() << "expected an error";
  } catch (const agent_runner::sdk::Error& e) {
    EXPECT_EQ(e.status(), AR_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("'n'"), std::string::npos);
  }
  EXPECT_EQ(jg::integer(o, "missing", 7), 7);
}

TEST(Sdk, JsonGetIntegerChecksTheRangeBeforeConverting) {
  namespace jg = agent_runner::sdk::json_get;
  auto message = [](const boost::json::object& o, int64_t min, int64_t max) -> std::string {
    try {
      jg::integer(o, "limit", 0, min, max);
    } catch (const agent_runner::sdk::Error& e) {
      EXPECT_EQ(e.status(), AR_ERR_INVALID_ARGUMENT);
      return e.what();
    }
    return "";
  };
  // 6.7e79 is a whole double far outside int64_t: converting it would be undefined behaviour.
  const auto huge = boost::json::parse(R"({"limit":6.7e79})").as_object();
  EXPECT_NE(message(huge, INT64_MIN, INT64_MAX).find("member 'limit' must be an integer between"),
            std::string::npos);
  EXPECT_NE(message(boost::json::parse(R"({"limit":-1e300})").as_object(), INT64_MIN, INT64_MAX),
            "");
  EXPECT_NE(message(boost::json::parse(R"({"limit":9223372036854775808.0})").as_object(), INT64_MIN,
                    INT64_MAX),
            "");
  EXPECT_NE(
      message(boost::json::parse(R"({"limit":18446744073709551615})").as_object(), 0, INT64_MAX),
      "");
  // A caller's own range, named in the message.
  EXPECT_NE(message(boost::json::parse(R"({"limit":5000})").as_object(), 1, 100)
                .find("between 1 and 100 (got 5000)"),
            std::string::npos);
  EXPECT_EQ(jg::integer(boost::json::parse(R"({"limit":42.0})").as_object(), "limit", 0, 1, 100),
            42);
  EXPECT_EQ(jg::integer(boost::json::parse(R"({"limit":-9.223372036854775808e18})").as_object(),
                        "limit", 0),
            INT64_MIN);
}

// The SDK's version is written once (the three numbers); the string is spelled from them.
TEST(SdkVersion, TheStringIsSpelledFromTheNumbers) {
  EXPECT_EQ(std::string(AR_SDK_VERSION), std::to_string(AR_ABI_VERSION_MAJOR) + "." +
                                             std::to_string(AR_ABI_VERSION_MINOR) + "." +
                                             std::to_string(AR_SDK_VERSION_PATCH));
}
