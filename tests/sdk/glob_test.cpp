// SPDX-License-Identifier: Apache-2.0
// sdk/include/agent_runner/glob.hpp: component patterns read as fnmatch(3) reads them, path
// patterns with `**`, and time linear in the input whatever the pattern (no backtracking over
// the ways `**` could split a path).
#include <agent_runner/glob.hpp>

#include <gtest/gtest.h>

#include <fnmatch.h>

#include <string>
#include <vector>

#include "test_util.hpp"

namespace sdk = agent_runner::sdk;

namespace {

// On ASCII names the compiled matcher answers as fnmatch without flags does (this process runs
// in the C locale, where fnmatch works byte by byte).
TEST(SdkGlob, ComponentMatchesAsFnmatch) {
  const std::vector<std::string> patterns = {"",
                                             "*",
                                             "?",
                                             "*.py",
                                             "a?c",
                                             "[abc]x",
                                             "[!a]*",
                                             "[^a]*",
                                             "[a-c]",
                                             "[]a]",
                                             "[!]a]",
                                             "[a-]",
                                             "[-a]",
                                             "\\*",
                                             "*\\?",
                                             "[[:digit:]]*",
                                             "[[:alpha:][:digit:]]",
                                             "[[:upper:]]",
                                             "[[:punct:]]",
                                             "a*b*c",
                                             "*a*a*b",
                                             "[",
                                             "[a",
                                             "a[b",
                                             "*[",
                                             ".*",
                                             "[\\]]",
                                             "[a\\-z]",
                                             "**",
                                             "a**b",
                                             "[z-a]",
                                             "x*",
                                             "*x",
                                             "*x*",
                                             "[.]*",
                                             "[[=a=]]",
                                             "[[.b.]]",
                                             "?*?",
                                             "*?*?*"};
  const std::vector<std::string> names = {
      "",   "a",   "abc", "a.py", ".hidden", "x",   "]",       "-",     "*",
      "?",  "[",   "a[b", "aab",  "ab",      "b",   "1a",      "a1",    "\\",
      "ba", "A",   "!",   "axc",  "bx",      "ccx", "aaaaaab", "abbbc", "acb",
      "xx", "yxz", ".",   "z",    "aXb",     "a-b", "abcabc",  "..",    "a.py.bak"};
  for (const auto& p : patterns) {
    const sdk::ComponentGlob g(p);
    for (const auto& n : names)
      EXPECT_EQ(g.match(n), ::fnmatch(p.c_str(), n.c_str(), 0) == 0)
          << "pattern '" << p << "' name '" << n << "'";
  }
}

TEST(SdkGlob, WildcardsTakeWholeUtf8Characters) {
  EXPECT_TRUE(sdk::ComponentGlob("?.txt").match("\xc3\xa9.txt"));  // é is one character
  EXPECT_FALSE(sdk::ComponentGlob("??.txt").match("\xc3\xa9.txt"));
  EXPECT_TRUE(sdk::ComponentGlob("[\xc3\xa9\xc3\xa8]").match("\xc3\xa8"));
  EXPECT_TRUE(sdk::ComponentGlob("[!a]").match("\xe2\x82\xac"));  // €
  EXPECT_TRUE(sdk::ComponentGlob("*\xe2\x82\xac").match("price\xe2\x82\xac"));
  // A name that is not UTF-8 still matches, byte by byte.
  EXPECT_TRUE(sdk::ComponentGlob("??").match("\xff\xfe"));
  EXPECT_TRUE(sdk::ComponentGlob("*.bin").match("\xc3(.bin"));
}

TEST(SdkGlob, PathStatesSteppedOneComponentAtATime) {
  const sdk::PathGlob g("src/**/*.py");
  auto s = g.start();
  EXPECT_FALSE(g.accepts(s));
  EXPECT_TRUE(g.step(s, "lib").empty());  // nothing under /lib can match: a walk skips it
  s = g.step(s, "src");
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(g.accepts_after(s, "a.py"));
  EXPECT_FALSE(g.accepts_after(s, "a.c"));
  s = g.step(s, "deep");
  EXPECT_TRUE(g.accepts_after(s, "b.py"));
  EXPECT_TRUE(g.accepts(g.step(s, "b.py")));
  // A trailing `**` matches the directory itself and everything below.
  const sdk::PathGlob all("src/**");
  EXPECT_TRUE(all.accepts(all.step(all.start(), "src")));
  EXPECT_TRUE(all.match({"src", "x", "y"}));
  EXPECT_FALSE(all.match({"lib"}));
}

// A pattern with many `**` over a deep path: the old matcher tried every way of splitting the
// path among the `**` (C(40, 12) ways for this one, hours); the compiled one steps through it.
TEST(SdkGlob, ManyGlobstarsOverADeepPathAreLinear) {
  std::string pattern;
  for (int i = 0; i < 12; ++i) pattern += "**/a/";
  std::vector<std::string> deep(40, "a");
  std::string deep_path;
  for (const auto& c : deep) deep_path += c + "/";
  ar_test::finishes_within(std::chrono::seconds(30), "glob_match over a 40-level path", [&] {
    EXPECT_FALSE(sdk::glob_match(pattern + "**/b", deep_path + "c"));
    EXPECT_TRUE(sdk::glob_match(pattern + "**/b", deep_path + "b"));
    EXPECT_FALSE(sdk::glob_match(pattern + "**/b", "a/a/b"));  // needs 12 a's
    // Within one component too: many stars against a long name.
    std::string stars;
    for (int i = 0; i < 40; ++i) stars += "*a";
    EXPECT_FALSE(sdk::ComponentGlob(stars + "*b").match(std::string(255, 'a')));
    EXPECT_TRUE(sdk::ComponentGlob(stars + "*b").match(std::string(254, 'a') + "b"));
  });
}

TEST(SdkGlob, OverlongPatternsAreRefused) {
  try {
    sdk::check_glob_pattern(std::string(sdk::kMaxGlobPatternBytes + 1, '*'), "glob", "pattern");
    ADD_FAILURE() << "accepted";
  } catch (const sdk::Error& e) {
    EXPECT_EQ(e.status(), AR_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("too long"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(
      sdk::check_glob_pattern(std::string(sdk::kMaxGlobPatternBytes, '*'), "glob", "pattern"));
}

}  // namespace
