// SPDX-License-Identifier: Apache-2.0
// sdk/include/agent_runner/{sandbox_path,sandbox_ops,fd}.hpp: the one implementation the
// filesystem and daytona plugins and the plugin template share.
#include <agent_runner/fd.hpp>
#include <agent_runner/sandbox_ops.hpp>
#include <agent_runner/sandbox_path.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>

#include <ctime>
#include <string>
#include <vector>

namespace sdk = agent_runner::sdk;
namespace json = boost::json;

namespace {

ar_status status_of(const auto& fn) {
  try {
    fn();
  } catch (const sdk::Error& e) {
    return e.status();
  }
  return AR_OK;
}

json::object obj(std::string_view text) {
  return json::parse(text).as_object();
}

}  // namespace

TEST(SdkSandboxPath, ParsesAbsoluteRelativeAndRootTheSame) {
  EXPECT_EQ(sdk::parse_sandbox_path("/src/a.py").display(), "/src/a.py");
  EXPECT_EQ(sdk::parse_sandbox_path("src/a.py").display(), "/src/a.py");
  EXPECT_EQ(sdk::parse_sandbox_path("src/a.py").relative(), "src/a.py");
  for (const char* root : {"/", "", ".", "//", "/./", "a/.."}) {
    const auto p = sdk::parse_sandbox_path(root);
    EXPECT_TRUE(p.is_root()) << root;
    EXPECT_EQ(p.display(), "/") << root;
    EXPECT_EQ(p.relative(), ".") << root;
  }
}

TEST(SdkSandboxPath, NormalisesLexically) {
  EXPECT_EQ(sdk::parse_sandbox_path("a//./b/../c/").display(), "/a/c");
  EXPECT_EQ(sdk::parse_sandbox_path("/a/b/../../c").parts, (std::vector<std::string>{"c"}));
}

TEST(SdkSandboxPath, RejectsEscapesNulAndOverlongPaths) {
  for (std::string bad : {"..", "/..", "../etc/passwd", "a/../../b", "/a/./../.."}) {
    try {
      sdk::parse_sandbox_path(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const sdk::Error& e) {
      EXPECT_EQ(e.status(), AR_ERR_INVALID_PATH) << bad;
      EXPECT_NE(std::string(e.what()).find("outside the sandbox"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(status_of([] { sdk::parse_sandbox_path(std::string("a\0b", 3)); }),
            AR_ERR_INVALID_PATH);
  EXPECT_EQ(status_of([] { sdk::parse_sandbox_path(std::string(4001, 'a')); }),
            AR_ERR_INVALID_PATH);
  EXPECT_EQ(status_of([] { sdk::parse_sandbox_path("/x/" + std::string(256, 'a')); }),
            AR_ERR_INVALID_PATH);
  EXPECT_EQ(status_of([] { sdk::parse_sandbox_path("/x/" + std::string(255, 'a')); }), AR_OK);
}

TEST(SdkSandboxPath, ParentChildLeafAndUnder) {
  const auto p = sdk::parse_sandbox_path("/a/b");
  EXPECT_EQ(p.leaf(), "b");
  EXPECT_EQ(p.parent().display(), "/a");
  EXPECT_TRUE(p.parent().parent().parent().is_root());
  EXPECT_EQ(p.child("c").display(), "/a/b/c");
  EXPECT_EQ(p.under("/home/daytona/workspace/"), "/home/daytona/workspace/a/b");
  EXPECT_EQ(p.under("/"), "/a/b");
  EXPECT_EQ(sdk::SandboxPath{}.under("/work//"), "/work");
  EXPECT_EQ(sdk::SandboxPath{}.under("/"), "/");
}

TEST(SdkGlob, ComponentsAndDoubleStar) {
  EXPECT_TRUE(sdk::glob_match("*.py", "a.py"));
  EXPECT_FALSE(sdk::glob_match("*.py", "src/a.py"));  // * stays within one component
  EXPECT_TRUE(sdk::glob_match("**/*.py", "a.py"));    // ** matches no components too
  EXPECT_TRUE(sdk::glob_match("**/*.py", "src/x/a.py"));
  EXPECT_TRUE(sdk::glob_match("src/**/b/**/*.c", "src/b/m.c"));
  EXPECT_TRUE(sdk::glob_match("src/**/**/*.c", "src/a/b/m.c"));
  EXPECT_FALSE(sdk::glob_match("src/**/*.c", "lib/m.c"));
  EXPECT_TRUE(sdk::glob_match("?.[ch]", "a.h"));
  EXPECT_FALSE(sdk::glob_match("?.[ch]", "ab.h"));
  EXPECT_TRUE(sdk::glob_match("./src//*.py", "src/a.py"));
  EXPECT_TRUE(sdk::glob_match("**", "any/depth/at/all"));
  EXPECT_EQ(sdk::split_path("/a//./b/"), (std::vector<std::string>{"a", "b"}));
}

TEST(SdkGlob, PatternCheck) {
  EXPECT_EQ(status_of([] { sdk::check_glob_pattern("", "glob", "pattern"); }),
            AR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { sdk::check_glob_pattern(std::string("a\0", 2), "glob", "pattern"); }),
            AR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { sdk::check_glob_pattern("src/../x", "glob", "pattern"); }),
            AR_ERR_INVALID_PATH);
  EXPECT_EQ(status_of([] { sdk::check_glob_pattern("/src/**/*..py", "glob", "pattern"); }), AR_OK);
}

TEST(SdkTextEdit, ReplacesOneOrAllAndReportsErrors) {
  auto edit = sdk::TextEdit::from_request(obj(R"({"old": "ab", "new": "X"})"));
  int64_t n = -1;
  EXPECT_EQ(edit.apply("1ab2", 100, "/f", n), "1X2");
  EXPECT_EQ(n, 1);
  try {
    edit.apply("ab ab", 100, "/f", n);
    ADD_FAILURE() << "ambiguous edit accepted";
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.status(), AR_ERR_AMBIGUOUS);
    EXPECT_NE(std::string(e.what()).find("occurs 2 times"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/f"), std::string::npos) << e.what();
  }
  EXPECT_EQ(status_of([&] { edit.apply("zzz", 100, "/f", n); }), AR_ERR_NOT_FOUND);
  edit.replace_all = true;
  EXPECT_EQ(edit.apply("ab ab aab", 100, "/f", n), "X X aX");
  EXPECT_EQ(n, 3);
  // Occurrences do not overlap: "aaaa" holds "aa" twice.
  auto aa = sdk::TextEdit::from_request(obj(R"({"old": "aa", "new": "b", "replace_all": true})"));
  EXPECT_EQ(aa.apply("aaaa", 100, "/f", n), "bb");
  EXPECT_EQ(n, 2);
  // The result is checked against the limit, not the input.
  auto grow = sdk::TextEdit::from_request(obj(R"({"old": "a", "new": "aaaa"})"));
  EXPECT_EQ(status_of([&] { grow.apply("xa", 4, "/f", n); }), AR_ERR_TOO_LARGE);
  EXPECT_EQ(grow.apply("xa", 5, "/f", n), "xaaaa");
  EXPECT_EQ(status_of([] { sdk::TextEdit::from_request(obj(R"({"old": "", "new": "x"})")); }),
            AR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { sdk::TextEdit::from_request(obj(R"({"new": "x"})")); }),
            AR_ERR_INVALID_ARGUMENT);
}

TEST(SdkLineWindow, SelectsLinesAndReportsTheWindow) {
  const std::string text = "l0\nl1\nl2\nl3";  // the last line has no '\n'
  auto r = sdk::LineWindow::from_request(obj(R"({"offset": 1, "limit": 2})")).result("/f", text);
  EXPECT_EQ(r.buffers.at(0), "l1\nl2\n");
  EXPECT_EQ(r.body.at("total_lines").as_int64(), 4);
  EXPECT_EQ(r.body.at("lines").as_int64(), 2);
  EXPECT_EQ(r.body.at("offset").as_int64(), 1);
  EXPECT_TRUE(r.body.at("more").as_bool());
  EXPECT_EQ(r.body.at("size").as_int64(), static_cast<int64_t>(text.size()));
  EXPECT_EQ(r.body.at("path").as_string(), "/f");

  auto all = sdk::LineWindow::from_request(obj("{}")).result("/f", text);
  EXPECT_EQ(all.buffers.at(0), text);
  EXPECT_FALSE(all.body.at("more").as_bool());

  auto past = sdk::LineWindow::from_request(obj(R"({"offset": 9})")).result("/f", text);
  EXPECT_EQ(past.buffers.at(0), "");
  EXPECT_EQ(past.body.at("lines").as_int64(), 0);

  auto huge = sdk::LineWindow::from_request(obj(R"({"offset": 3, "limit": 9223372036854775807})"))
                  .result("/f", text);
  EXPECT_EQ(huge.buffers.at(0), "l3");
  EXPECT_FALSE(huge.body.at("more").as_bool());

  auto empty = sdk::LineWindow::from_request(obj("{}")).result("/f", "");
  EXPECT_EQ(empty.body.at("total_lines").as_int64(), 0);

  EXPECT_EQ(status_of([] { sdk::LineWindow::from_request(obj(R"({"offset": -1})")); }),
            AR_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(status_of([] { sdk::LineWindow::from_request(obj(R"({"limit": -1})")); }),
            AR_ERR_INVALID_ARGUMENT);
}

// A reader that can seek skips what would be dropped: same text, same counts as reading it all.
TEST(SdkHeadTail, SkippingTheMiddleGivesTheSameResultAsReadingIt) {
  const std::string all = "0123456789abcdefghijklmnopqrstuvwxyz";
  sdk::HeadTail read_all(10), skipping(10);
  read_all.append(all);
  skipping.skip(3);  // ignored: the head is not full yet
  skipping.append(all.substr(0, 8));
  ASSERT_TRUE(skipping.head_full());
  skipping.skip(all.size() - 8 - skipping.tail_cap());
  skipping.append(all.substr(all.size() - skipping.tail_cap()));
  EXPECT_EQ(skipping.text(), read_all.text());
  EXPECT_EQ(skipping.total(), read_all.total());
  EXPECT_TRUE(skipping.truncated());
}

TEST(SdkHeadTail, KeepsHeadAndTailWithAMarker) {
  sdk::HeadTail small(10);
  small.append("hello");
  EXPECT_FALSE(small.truncated());
  EXPECT_EQ(small.text(), "hello");

  sdk::HeadTail cap(10);
  std::string all;
  for (int i = 0; i < 100; ++i) {  // many small appends: the tail keeps only the last bytes
    const std::string chunk = std::to_string(i % 10);
    cap.append(chunk);
    all += chunk;
  }
  EXPECT_TRUE(cap.truncated());
  EXPECT_EQ(cap.total(), 100u);
  EXPECT_EQ(cap.text(), all.substr(0, 5) + "\n... [90 bytes truncated] ...\n" + all.substr(95));

  sdk::HeadTail one_big(4);
  one_big.append("abcdefghij");
  EXPECT_EQ(one_big.text(), "ab\n... [6 bytes truncated] ...\nij");

  sdk::HeadTail exact(4);
  exact.append("ab");
  exact.append("cd");
  EXPECT_FALSE(exact.truncated());
  EXPECT_EQ(exact.text(), "abcd");

  sdk::HeadTail none(0);
  none.append("xyz");
  EXPECT_TRUE(none.truncated());
  EXPECT_EQ(none.text(), "\n... [3 bytes truncated] ...\n");
}

TEST(SdkOps, EntriesErrorsTimesAndGrepText) {
  const auto e = sdk::file_entry("/d", true, 4096, "2026-01-01T00:00:00Z");
  EXPECT_EQ(e.at("size").as_int64(), 0);  // a directory's size is 0
  EXPECT_TRUE(e.at("is_dir").as_bool());
  EXPECT_EQ(sdk::file_entry("/f\xff", false, 7, "t").at("path").as_string(), "/f\xef\xbf\xbd");
  EXPECT_EQ(sdk::iso_time_utc(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(sdk::iso_time_utc(1700000000), "2023-11-14T22:13:20Z");
  const auto err = sdk::error_object(sdk::Error(AR_ERR_FILE_NOT_FOUND, "read /x: gone"));
  EXPECT_EQ(err.at("code").as_string(), "file_not_found");
  EXPECT_EQ(err.at("message").as_string(), "read /x: gone");
  EXPECT_EQ(sdk::grep_line_text("abc\r"), "abc");
  EXPECT_EQ(sdk::grep_line_text(std::string(3000, 'x')).size(), 2000u);
}

TEST(SdkFd, ClosesOnResetAndDestructionButNotAfterRelease) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    sdk::Fd fd(raw);
    EXPECT_TRUE(fd);
    sdk::Fd moved(std::move(fd));
    EXPECT_FALSE(fd);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
    EXPECT_EQ(moved.get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed by the destructor
  int raw2 = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw2, 0);
  {
    sdk::Fd fd(raw2);
    EXPECT_EQ(fd.release(), raw2);
  }
  EXPECT_NE(::fcntl(raw2, F_GETFD), -1);  // released: still open
  sdk::Fd owner(raw2);
  owner.reset();
  EXPECT_EQ(::fcntl(raw2, F_GETFD), -1);
}

// The date arithmetic of format_iso_time_utc against the C library's, over leap days, century
// years, negative times and the four-digit edge.
TEST(SdkOps, IsoTimeMatchesGmtime) {
  const auto libc = [](time_t t) {
    struct tm tm {};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf);
  };
  std::vector<time_t> times = {0,
                               -1,
                               1,
                               86399,
                               86400,
                               951782400 /* 2000-02-29 */,
                               951868800,
                               4107542400 /* 2100-03-01 */,
                               253402300799,
                               253402300800 /* year 10000 */,
                               -62167219200 /* year 0 */,
                               -62167219201};
  for (time_t t = -5000000000; t < 7000000000; t += 7777777) times.push_back(t);
  char buf[32];
  for (time_t t : times) EXPECT_EQ(sdk::format_iso_time_utc(t, buf), libc(t)) << t;
}

// A big listing builds its entries in one arena and the result keeps it (no copy into the
// default resource on the way out).
TEST(SdkOps, EntriesAndResultsKeepTheirMemoryResource) {
  const json::storage_ptr sp = json::make_shared_resource<json::monotonic_resource>();
  json::object body(sp);
  body["e"] = sdk::file_entry("/a", false, 1, "t", sp);
  EXPECT_EQ(body.at("e").as_object().storage().get(), sp.get());
  const auto r = sdk::Result::ok(std::move(body));
  EXPECT_EQ(r.body.storage().get(), sp.get());
}
