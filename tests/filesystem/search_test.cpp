// SPDX-License-Identifier: Apache-2.0
// glob and grep beyond the basics of file_ops_test: line semantics of the whole-buffer search,
// the first max_matches in report order whichever thread finds them, patterns that used to take
// exponential time, and what happens at the walk's entry limit.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <utility>
#include <vector>

using namespace fs_test;
namespace json = boost::json;

namespace {

// (path, line, text) of each grep match.
std::vector<std::tuple<std::string, int64_t, std::string>> grep_rows(const OpResult& r) {
  std::vector<std::tuple<std::string, int64_t, std::string>> out;
  for (const auto& m : r.body.at("matches").as_array())
    out.emplace_back(std::string(m.at("path").as_string()), m.at("line").as_int64(),
                     std::string(m.at("text").as_string()));
  return out;
}

std::vector<int64_t> grep_lines(const OpResult& r) {
  std::vector<int64_t> out;
  for (const auto& m : r.body.at("matches").as_array()) out.push_back(m.at("line").as_int64());
  return out;
}

std::vector<std::string> glob_paths(const OpResult& r) {
  std::vector<std::string> out;
  for (const auto& e : r.body.at("entries").as_array()) out.emplace_back(e.at("path").as_string());
  return out;
}

class Search : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(box.sb) << box.create_error.message(); }
  OpResult grep(json::object req) { return box.call(Op::grep, std::move(req)); }
  Box box;
};

// Each line matched on its own, as before the whole file was searched at once: anchors at line
// ends, nothing across a line end, one result per line however many matches it holds.
TEST_F(Search, GrepMatchesLineByLine) {
  ASSERT_TRUE(box.write("t.txt", "alpha beta\nbeta\n\nalpha\r\ngamma alpha alpha\nlast").ok());
  const std::string f = "t.txt";
  EXPECT_EQ(grep_lines(grep({{"pattern", "^beta"}, {"path", f}})), (std::vector<int64_t>{2}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "beta$"}, {"path", f}})), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "^$"}, {"path", f}})), (std::vector<int64_t>{3}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "alpha"}, {"path", f}})), (std::vector<int64_t>{1, 4, 5}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "^last$"}, {"path", f}})), (std::vector<int64_t>{6}));
  // Patterns whose matches all start with the same bytes (found by those bytes first).
  EXPECT_EQ(grep_lines(grep({{"pattern", "alpha$"}, {"path", f}})), (std::vector<int64_t>{5}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "alpha beta|alpha$"}, {"path", f}})),
            (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "^alpha"}, {"path", f}})), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "alp(ha|x) a"}, {"path", f}})), (std::vector<int64_t>{5}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "las[t]\\b"}, {"path", f}})), (std::vector<int64_t>{6}));
  // An empty pattern matches every line, and "a\n" has one line, not two.
  EXPECT_EQ(grep_lines(grep({{"pattern", ""}, {"path", f}})).size(), 6u);
  ASSERT_TRUE(box.write("one.txt", "x\n").ok());
  EXPECT_EQ(grep_lines(grep({{"pattern", ""}, {"path", "one.txt"}})), (std::vector<int64_t>{1}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "x*"}, {"path", "one.txt"}})), (std::vector<int64_t>{1}));
  // Nothing matches across a line end: \s, [^x] and (?s). never take the '\n'.
  for (const char* p : {"beta\\s+alpha", "beta[^x]", "(?s)beta.\\n", "a\\nb"})
    EXPECT_TRUE(grep_lines(grep({{"pattern", p}, {"path", f}})).empty()) << p;
  EXPECT_TRUE(
      grep_lines(grep({{"pattern", "beta\nbeta"}, {"literal", true}, {"path", f}})).empty());
  // \A and \z are the start and end of each line, as when lines were matched one by one.
  EXPECT_EQ(grep_lines(grep({{"pattern", "\\Aalpha"}, {"path", f}})), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(grep_lines(grep({{"pattern", "alpha\\z"}, {"path", f}})), (std::vector<int64_t>{5}));
  // The text drops the '\r' of a CRLF line; case folding for literals and regexes alike.
  auto crlf = grep_rows(grep({{"pattern", "ALPHA"}, {"ignore_case", true}, {"path", f}}));
  ASSERT_EQ(crlf.size(), 3u);
  EXPECT_EQ(std::get<2>(crlf[1]), "alpha");
  EXPECT_EQ(grep_lines(grep(
                {{"pattern", "GAMMA a"}, {"literal", true}, {"ignore_case", true}, {"path", f}})),
            (std::vector<int64_t>{5}));
  EXPECT_EQ(grep({{"pattern", "(a"}, {"path", f}}).message().find("(?m)"), std::string::npos);
}

// Line numbers stay right deep into a big file and across many matches.
TEST_F(Search, GrepLineNumbersInALongFile) {
  std::string text;
  for (int i = 1; i <= 20000; ++i)
    text += (i % 997 == 0 ? "hit " : "miss ") + std::to_string(i) + "\n";
  ar_test::write_file(box.ws() / "long.txt", text);
  auto rows = grep_rows(grep({{"pattern", "^hit (\\d+)$"}, {"max_matches", 100}}));
  ASSERT_EQ(rows.size(), 20u);
  for (const auto& [path, line, t] : rows) {
    EXPECT_EQ(path, in_ws(box, "long.txt"));
    EXPECT_EQ(t, "hit " + std::to_string(line));
    EXPECT_EQ(line % 997, 0);
  }
}

// Whatever thread finds them, the result is the first max_matches in path order (then by line),
// and says truncated.
TEST_F(Search, GrepKeepsTheFirstMatchesInPathOrder) {
  std::vector<std::string> want;
  for (int d = 0; d < 30; ++d)
    for (int f = 0; f < 30; ++f) {
      char name[64];
      std::snprintf(name, sizeof name, "d%02d/f%02d.txt", d, f);
      fs::create_directories((box.ws() / name).parent_path());
      ar_test::write_file(box.ws() / name, "needle one\nhay\nneedle two\n");
      if (want.size() < 25) want.push_back(in_ws(box, name));
    }
  for (int round = 0; round < 5; ++round) {
    auto r = grep({{"pattern", "needle"}, {"max_matches", 49}});
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r.body.at("truncated"), true);
    auto rows = grep_rows(r);
    ASSERT_EQ(rows.size(), 49u);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(std::get<0>(rows[i]), want[i / 2]) << i;
      EXPECT_EQ(std::get<1>(rows[i]), i % 2 == 0 ? 1 : 3) << i;
    }
  }
  auto all = grep({{"pattern", "needle"}, {"max_matches", 1800}});
  EXPECT_EQ(all.body.at("truncated"), false);
  EXPECT_EQ(all.body.at("matches").as_array().size(), 1800u);
  // One file with more matching lines than max_matches.
  std::string many;
  for (int i = 0; i < 100000; ++i) many += "needle\n";
  ar_test::write_file(box.ws() / "a_many.txt", many);
  auto cap = grep({{"pattern", "needle"}, {"max_matches", 5}});
  EXPECT_EQ(cap.body.at("truncated"), true);
  EXPECT_EQ(grep_lines(cap), (std::vector<int64_t>{1, 2, 3, 4, 5}));
}

// Matches come in the order of their paths as strings, as glob's entries do (and as the daytona
// plugin sorts them), although the walk visits "a/b" before "a.txt".
TEST_F(Search, GrepOrderIsPathOrder) {
  ASSERT_TRUE(box.write("a/b", "x\n").ok());
  ASSERT_TRUE(box.write("a.txt", "x\n").ok());
  ASSERT_TRUE(box.write("a-z", "x\n").ok());
  auto rows = grep_rows(grep({{"pattern", "x"}}));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(std::get<0>(rows[0]), in_ws(box, "a-z"));
  EXPECT_EQ(std::get<0>(rows[1]), in_ws(box, "a.txt"));
  EXPECT_EQ(std::get<0>(rows[2]), in_ws(box, "a/b"));
  // The first two in that order, whatever was visited first.
  auto two = grep_rows(grep({{"pattern", "x"}, {"max_matches", 2}}));
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(std::get<0>(two[1]), in_ws(box, "a.txt"));
}

TEST_F(Search, GrepGlobFilterByNameOrPath) {
  ASSERT_TRUE(box.write("src/a.c", "x\n").ok());
  ASSERT_TRUE(box.write("src/deep/b.c", "x\n").ok());
  ASSERT_TRUE(box.write("lib/c.c", "x\n").ok());
  ASSERT_TRUE(box.write("src/d.h", "x\n").ok());
  auto by_name = grep_rows(grep({{"pattern", "x"}, {"glob", "*.c"}}));
  EXPECT_EQ(by_name.size(), 3u);
  auto by_path = grep_rows(grep({{"pattern", "x"}, {"glob", "src/**/*.c"}}));
  ASSERT_EQ(by_path.size(), 2u);
  EXPECT_EQ(std::get<0>(by_path[0]), in_ws(box, "src/a.c"));
  EXPECT_EQ(std::get<0>(by_path[1]), in_ws(box, "src/deep/b.c"));
  EXPECT_EQ(grep({{"pattern", "x"}, {"glob", std::string(5000, '*')}}).code(), "invalid_argument");
  auto below = grep_rows(grep({{"pattern", "x"}, {"path", "src"}, {"glob", "deep/*.c"}}));
  ASSERT_EQ(below.size(), 1u);
  EXPECT_EQ(std::get<0>(below[0]), in_ws(box, "src/deep/b.c"));
}

// A search of a big tree stops when the host cancels the call.
TEST_F(Search, CancelledSearchesStop) {
  for (int d = 0; d < 20; ++d) ASSERT_TRUE(box.write("d" + std::to_string(d) + "/f", "x\n").ok());
  std::atomic<bool> cancel{true};
  agent_runner::CallOptions o;
  o.cancelled = &cancel;
  EXPECT_EQ(box.sb->call(Op::grep, {{"pattern", "x"}}, o).code(), "cancelled");
  EXPECT_EQ(box.sb->call(Op::glob, {{"pattern", "**/f"}}, o).code(), "cancelled");
  cancel = false;
  EXPECT_EQ(box.sb->call(Op::grep, {{"pattern", "x"}}, o).body.at("matches").as_array().size(),
            20u);
}

// A 40-level chain a/a/.../a and a pattern with many `**`: the old matcher tried every way of
// splitting each path among the `**` (hours for the files that do not match); the compiled one
// is linear. The thread is only a hang detector.
TEST_F(Search, ManyGlobstarsOverADeepTreeFinish) {
  fs::path d = box.ws();
  std::string rel;
  for (int i = 0; i < 40; ++i) {
    d /= "a";
    rel += "/a";
    fs::create_directory(d);
    ar_test::write_file(d / "c", "needle\n");
  }
  ar_test::write_file(d / "b", "needle\n");
  std::string pattern;
  for (int i = 0; i < 10; ++i) pattern += "**/a/";
  pattern += "**/b";
  ar_test::finishes_within(std::chrono::seconds(30), "glob over a 40-level chain", [&] {
    auto g = box.call(Op::glob, {{"pattern", pattern}});
    ASSERT_TRUE(g.ok()) << g.message();
    EXPECT_EQ(glob_paths(g), (std::vector<std::string>{in_ws(box, rel.substr(1) + "/b")}));
  });
  ar_test::finishes_within(std::chrono::seconds(30), "grep's glob over a 40-level chain", [&] {
    auto r = grep({{"pattern", "needle"}, {"glob", pattern}});
    ASSERT_TRUE(r.ok()) << r.message();
    auto rows = grep_rows(r);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(std::get<0>(rows[0]), in_ws(box, rel.substr(1) + "/b"));
  });
}

// 210 000 empty files and one match that sorts last: the walk used to stop silently at 200 000
// entries and answer nothing, truncated: false. Now the default limit is far above, and a lower
// limit (sandbox.max_search_entries) says truncated.
TEST(SearchLimits, TheWalkLimitSaysTruncatedAndMissesNothingBelowIt) {
  // On a tmpfs where we can (creating 210 000 files on a busy disk can take minutes).
  PrivateTmpfs tmpfs("size=64m,nr_inodes=300k");
  ar_test::TempDir fallback;
  const fs::path ws = (tmpfs.mounted() ? tmpfs.path() : fallback.path()) / "ws";
  fs::create_directory(ws);
  for (int d = 0; d < 210; ++d) {
    const fs::path dir = ws / ("d" + std::to_string(1000 + d));
    fs::create_directory(dir);
    const int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(dfd, 0);
    for (int f = 0; f < 1000; ++f) {
      const std::string name = "e" + std::to_string(f);
      ASSERT_EQ(::mknodat(dfd, name.c_str(), S_IFREG | 0644, 0), 0) << name;  // an empty file
    }
    ::close(dfd);
  }
  ar_test::write_file(ws / "zzz.txt", "the only needle\n");
  for (uint64_t limit : {uint64_t{0}, uint64_t{200000}}) {
    SCOPED_TRACE(limit);
    json::object cfg{{"type", "filesystem"}, {"root_dir", ws.string()}, {"layout", "shared"}};
    if (limit) cfg["max_search_entries"] = limit;
    OpResult err;
    auto sb = open_sandbox(cfg, std::nullopt, err);
    ASSERT_TRUE(sb) << err.message();
    const std::string zzz = std::string(sb->info().at("workdir").as_string()) + "/zzz.txt";
    auto g = sb->call(Op::grep, {{"pattern", "needle"}});
    ASSERT_TRUE(g.ok()) << g.message();
    auto gl = sb->call(Op::glob, {{"pattern", "**/zzz.txt"}});
    ASSERT_TRUE(gl.ok()) << gl.message();
    if (limit == 0) {
      ASSERT_EQ(grep_rows(g).size(), 1u);
      EXPECT_EQ(std::get<0>(grep_rows(g)[0]), zzz);
      EXPECT_EQ(g.body.at("truncated"), false);
      EXPECT_EQ(glob_paths(gl), (std::vector<std::string>{zzz}));
      EXPECT_EQ(gl.body.at("truncated"), false);
    } else {
      EXPECT_EQ(g.body.at("truncated"), true);
      EXPECT_EQ(gl.body.at("truncated"), true);
    }
  }
}

}  // namespace
