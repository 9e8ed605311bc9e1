// SPDX-License-Identifier: Apache-2.0
// The daytona plugin's URL policy, on the plugin's own http.cpp (compiled into this test): which
// hosts may receive the API key, what counts as this machine, and the plain-HTTP warning, given
// once per host; Retry-After. No request is sent.
#include "http.hpp"

#include <gtest/gtest.h>

using namespace agent_runner::daytona;

TEST(UrlPolicy, HostOfAUrl) {
  EXPECT_EQ(url_host("https://app.daytona.io/api"), "app.daytona.io");
  EXPECT_EQ(url_host("http://user:pw@EXAMPLE.com:8080/x?y"), "example.com");
  EXPECT_EQ(url_host("http://[::1]:3000/api"), "::1");
  EXPECT_EQ(url_host("https://example.com./"), "example.com");
  EXPECT_EQ(url_host("no scheme"), "");
}

TEST(UrlPolicy, LoopbackIsThisMachineOnly) {
  for (const char* h : {"localhost", "a.localhost", "127.0.0.1", "127.1.2.3", "::1"})
    EXPECT_TRUE(is_loopback_host(h)) << h;
  for (const char* h : {"10.0.0.1", "example.com", "localhost.example.com", "128.0.0.1", "::2"})
    EXPECT_FALSE(is_loopback_host(h)) << h;
}

TEST(UrlPolicy, TheKeyGoesToTheApiHostItsSubdomainsAndTrustedHosts) {
  const std::vector<std::string> none;
  EXPECT_TRUE(host_trusted("app.daytona.io", "app.daytona.io", none));
  EXPECT_TRUE(host_trusted("proxy.app.daytona.io", "app.daytona.io", none));
  EXPECT_FALSE(host_trusted("evil.io", "app.daytona.io", none));
  EXPECT_FALSE(host_trusted("xapp.daytona.io", "app.daytona.io", none));
  EXPECT_FALSE(host_trusted("daytona.io", "app.daytona.io", none));
  // An IP address has no subdomains.
  EXPECT_FALSE(host_trusted("x.127.0.0.1", "127.0.0.1", none));
  const std::vector<std::string> trusted = {"proxy.example.com", "*.eu.example.com"};
  EXPECT_TRUE(host_trusted("proxy.example.com", "app.daytona.io", trusted));
  EXPECT_TRUE(host_trusted("a.eu.example.com", "app.daytona.io", trusted));
  EXPECT_FALSE(host_trusted("eu.example.com", "app.daytona.io", trusted));
  EXPECT_FALSE(host_trusted("other.example.com", "app.daytona.io", trusted));
}

TEST(UrlPolicy, PlainHttpToAnotherMachineWarnsOncePerHost) {
  std::vector<std::string> warnings;
  HttpSettings s;
  s.api_key = "dtn_key";
  s.api_host = "api.example.com";
  auto logger = [&](ar_log_level level, const std::string& msg) {
    if (level == AR_LOG_WARN) warnings.push_back(msg);
  };
  HttpClient a(s, logger), b(s, logger);
  a.check_url("https://api.example.com/api", "api");
  EXPECT_TRUE(warnings.empty());
  a.check_url("http://api.example.com/api/sandbox", "api");
  a.check_url("http://api.example.com/api/other", "api");
  b.check_url("http://proxy.api.example.com/toolbox/x", "toolbox");
  b.check_url("http://api.example.com/api", "api");  // another client, same process: no repeat
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("api.example.com over plain http://"), std::string::npos);
  EXPECT_NE(warnings[1].find("proxy.api.example.com"), std::string::npos);
  try {
    a.check_url("https://elsewhere.net/toolbox/x", "the toolbox URL");
    FAIL() << "an untrusted host was accepted";
  } catch (const agent_runner::sdk::Error& e) {
    EXPECT_EQ(e.status(), AR_ERR_INVALID_CONFIG);
    EXPECT_NE(std::string(e.what()).find("trusted_hosts"), std::string::npos);
  }
  EXPECT_THROW(a.check_url("ftp://api.example.com/x", "x"), agent_runner::sdk::Error);
}

// Retry-After as seconds or as an HTTP date; what it asks for beyond 999 999 s is capped, and a
// date in a far year (curl_getdate reads up to ten digits) is no overflow. Found by fuzz_daytona
// (tests/fuzz/corpus/fuzz_daytona/retry_date_far_future.bin).
TEST(RetryAfter, SecondsDatesAndFarFuturesAreCapped) {
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  EXPECT_EQ(parse_retry_after("7"), milliseconds(seconds(7)));
  EXPECT_EQ(parse_retry_after(" 12 "), milliseconds(seconds(12)));
  EXPECT_EQ(parse_retry_after("99999999999999999999"), milliseconds(seconds(999'999)));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), milliseconds(0));  // past
  EXPECT_EQ(parse_retry_after("21 Oct01: 09 0970007000"), milliseconds(seconds(999'999)));
  EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"), milliseconds(seconds(999'999)));
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
  EXPECT_EQ(parse_retry_after("soon"), std::nullopt);
}
