// SPDX-License-Identifier: Apache-2.0
// Every file operation's success and each of its error codes.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace fs_test;
namespace json = boost::json;

namespace {

class FileOps : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(box.sb) << box.create_error.message(); }
  Box box{json::object{{"max_file_bytes", 4096}}};
};

TEST_F(FileOps, WriteCreatesParentsAndRefusesToClobber) {
  auto w = box.write("src/deep/a.py", "print(1)\n");
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_EQ(str(w, "path"), in_ws(box, "src/deep/a.py"));
  EXPECT_EQ(num(w, "bytes_written"), 9);
  EXPECT_TRUE(flag(w, "created"));
  EXPECT_EQ(ar_test::read_file(box.ws() / "src/deep/a.py"), "print(1)\n");
  EXPECT_EQ(box.write("src/deep/a.py", "x").code(), "already_exists");
  auto o = box.write("src/deep/a.py", "x", true);
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(flag(o, "created"));
  EXPECT_EQ(ar_test::read_file(box.ws() / "src/deep/a.py"), "x");
  EXPECT_EQ(box.write("src", "x", true).code(), "is_directory");
  EXPECT_EQ(box.write("src/deep/a.py/below", "x").code(), "not_a_directory");
  EXPECT_EQ(box.write("big", std::string(5000, 'b')).code(), "too_large");
  EXPECT_EQ(box.write(workdir(box), "x").code(), "is_directory");
}

TEST_F(FileOps, ReadWithLineWindow) {
  ASSERT_TRUE(box.write("f.txt", "l1\nl2\nl3\nl4").ok());
  auto all = box.read("f.txt");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all.buffers.at(0), "l1\nl2\nl3\nl4");
  EXPECT_EQ(num(all, "total_lines"), 4);
  EXPECT_EQ(num(all, "size"), 11);
  EXPECT_FALSE(flag(all, "more"));
  auto win = box.call(Op::read, {{"path", "f.txt"}, {"offset", 1}, {"limit", 2}});
  ASSERT_TRUE(win.ok());
  EXPECT_EQ(win.buffers.at(0), "l2\nl3\n");
  EXPECT_EQ(num(win, "lines"), 2);
  EXPECT_EQ(num(win, "offset"), 1);
  EXPECT_TRUE(flag(win, "more"));
  auto past = box.call(Op::read, {{"path", "f.txt"}, {"offset", 10}});
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past.buffers.at(0), "");
  EXPECT_EQ(num(past, "lines"), 0);
  // Binary content crosses the ABI as bytes.
  std::string bin("\0\xff\x01zz", 5);
  ASSERT_TRUE(box.write("b.bin", bin).ok());
  EXPECT_EQ(box.read("b.bin").buffers.at(0), bin);
  EXPECT_EQ(box.read("missing").code(), "file_not_found");
  ASSERT_TRUE(box.write("d/x", "").ok());
  EXPECT_EQ(box.read("d").code(), "is_directory");
  EXPECT_EQ(box.read("f.txt/x").code(), "not_a_directory");
  ar_test::write_file(box.ws() / "huge", std::string(5000, 'h'));
  EXPECT_EQ(box.read("huge").code(), "too_large");
  EXPECT_EQ(box.call(Op::read, {{"path", "f.txt"}, {"offset", -1}}).code(), "invalid_argument");
}

TEST_F(FileOps, Ls) {
  ASSERT_TRUE(box.write("b.txt", "bb").ok());
  ASSERT_TRUE(box.write("a/inner", "").ok());
  auto r = box.call(Op::ls, {});
  ASSERT_TRUE(r.ok()) << r.message();
  const auto& e = r.body.at("entries").as_array();
  ASSERT_EQ(e.size(), 2u);
  EXPECT_EQ(e[0].at("path").as_string(), in_ws(box, "a"));
  EXPECT_EQ(e[0].at("is_dir"), true);
  EXPECT_EQ(e[1].at("path").as_string(), in_ws(box, "b.txt"));
  EXPECT_EQ(e[1].at("size"), 2);
  EXPECT_EQ(e[1].at("is_dir"), false);
  EXPECT_NE(e[1].at("modified_at").as_string().find('T'), std::string::npos);
  EXPECT_EQ(box.call(Op::ls, {{"path", "nope"}}).code(), "file_not_found");
  EXPECT_EQ(box.call(Op::ls, {{"path", "b.txt"}}).code(), "not_a_directory");
}

TEST_F(FileOps, LsOfABigDirectoryIsSortedByteForByte) {
  // More entries than ls stats on one thread, with names that share their first 8 bytes, are
  // prefixes of one another, or hold bytes >= 0x80 (sorted as unsigned, after ASCII).
  const auto dir = box.ws() / "big";
  std::filesystem::create_directories(dir);
  std::vector<std::string> names;
  for (int i = 0; i < 5000; ++i) names.push_back("entry-" + std::to_string(i * 7919 % 5000));
  for (const char* n : {"entry-", "entry-0x", "entry-00", "entry-\xc3\xa9", "entry", "e", "E",
                        "entry-12345678901234567890b", "entry-12345678901234567890a"})
    names.push_back(n);
  for (const auto& n : names) ar_test::write_file(dir / n, n);
  ASSERT_TRUE(std::filesystem::create_directory(dir / "entry-zz-dir"));
  names.push_back("entry-zz-dir");
  std::sort(names.begin(), names.end());
  auto r = box.call(Op::ls, {{"path", "big"}});
  ASSERT_TRUE(r.ok()) << r.message();
  const auto& e = r.body.at("entries").as_array();
  ASSERT_EQ(e.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(e[i].at("path").as_string(), in_ws(box, "big/" + names[i])) << i;
    const bool is_dir = names[i] == "entry-zz-dir";
    EXPECT_EQ(e[i].at("is_dir"), is_dir) << names[i];
    if (!is_dir) {
      EXPECT_EQ(e[i].at("size"), static_cast<int64_t>(names[i].size())) << names[i];
    }
  }
}

TEST_F(FileOps, Edit) {
  ASSERT_TRUE(box.write("e.txt", "foo bar foo\n").ok());
  EXPECT_EQ(box.call(Op::edit, {{"path", "e.txt"}, {"old", "foo"}, {"new", "x"}}).code(),
            "ambiguous");
  EXPECT_EQ(box.call(Op::edit, {{"path", "e.txt"}, {"old", "zzz"}, {"new", "x"}}).code(),
            "not_found");
  auto one = box.call(Op::edit, {{"path", "e.txt"}, {"old", "bar"}, {"new", "BAR"}});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(num(one, "occurrences"), 1);
  auto all =
      box.call(Op::edit, {{"path", "e.txt"}, {"old", "foo"}, {"new", "qq"}, {"replace_all", true}});
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(num(all, "occurrences"), 2);
  EXPECT_EQ(ar_test::read_file(box.ws() / "e.txt"), "qq BAR qq\n");
  EXPECT_EQ(box.call(Op::edit, {{"path", "nope"}, {"old", "a"}, {"new", "b"}}).code(),
            "file_not_found");
  EXPECT_EQ(box.call(Op::edit, {{"path", "."}, {"old", "a"}, {"new", "b"}}).code(), "is_directory");
  EXPECT_EQ(box.call(Op::edit, {{"path", "e.txt"}, {"old", ""}, {"new", "b"}}).code(),
            "invalid_argument");
}

TEST_F(FileOps, GlobIsRecursiveAndSorted) {
  for (auto p : {"src/a.py", "src/pkg/b.py", "src/pkg/c.txt", "top.py"})
    ASSERT_TRUE(box.write(p, "x").ok());
  auto r = box.call(Op::glob, {{"pattern", "**/*.py"}});
  ASSERT_TRUE(r.ok()) << r.message();
  std::vector<std::string> got;
  for (auto& e : r.body.at("entries").as_array()) got.emplace_back(e.at("path").as_string());
  EXPECT_EQ(got, (std::vector<std::string>{in_ws(box, "src/a.py"), in_ws(box, "src/pkg/b.py"),
                                           in_ws(box, "top.py")}));
  auto top = box.call(Op::glob, {{"pattern", "*.py"}});
  ASSERT_EQ(top.body.at("entries").as_array().size(), 1u);
  auto sub = box.call(Op::glob, {{"pattern", "*"}, {"path", "src/pkg"}});
  ASSERT_EQ(sub.body.at("entries").as_array().size(), 2u);
  EXPECT_EQ(sub.body.at("entries").at(0).at("path").as_string(), in_ws(box, "src/pkg/b.py"));
  EXPECT_EQ(box.call(Op::glob, {{"pattern", "*"}, {"path", "nope"}}).code(), "file_not_found");
}

// Issue 14: directories match too, as in shell globbing, each entry saying is_dir.
TEST_F(FileOps, GlobReturnsDirectoriesAsWellAsFiles) {
  for (auto p : {"src/a.py", "src/pkg/b.py", "src/pkg.py/c.txt"})
    ASSERT_TRUE(box.write(p, "x").ok());
  auto r = box.call(Op::glob, {{"pattern", "src/*"}});
  ASSERT_TRUE(r.ok()) << r.message();
  std::vector<std::pair<std::string, bool>> got;
  for (auto& e : r.body.at("entries").as_array())
    got.emplace_back(std::string(e.at("path").as_string()), e.at("is_dir").as_bool());
  EXPECT_EQ(got, (std::vector<std::pair<std::string, bool>>{{in_ws(box, "src/a.py"), false},
                                                            {in_ws(box, "src/pkg"), true},
                                                            {in_ws(box, "src/pkg.py"), true}}));
  // What a shell would expand the same pattern to.
  auto sh = box.exec("for f in src/*; do echo \"$PWD/$f\"; done");
  std::string expanded;
  for (const auto& [p, d] : got) expanded += p + "\n";
  EXPECT_EQ(str(sh, "stdout"), expanded);
  auto py = box.call(Op::glob, {{"pattern", "**/*.py"}});
  std::vector<std::string> names;
  for (auto& e : py.body.at("entries").as_array()) names.emplace_back(e.at("path").as_string());
  EXPECT_EQ(names, (std::vector<std::string>{in_ws(box, "src/a.py"), in_ws(box, "src/pkg.py"),
                                             in_ws(box, "src/pkg/b.py")}));
  // An absolute pattern, walked from its literal part only; one that leads nowhere is empty.
  auto abs = box.call(Op::glob, {{"pattern", in_ws(box, "src/pkg/*")}});
  ASSERT_EQ(abs.body.at("entries").as_array().size(), 1u);
  EXPECT_EQ(abs.body.at("entries").at(0).at("path").as_string(), in_ws(box, "src/pkg/b.py"));
  auto none = box.call(Op::glob, {{"pattern", in_ws(box, "nope/*")}});
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_TRUE(none.body.at("entries").as_array().empty());
}

// Issue 14: limit 0 is a question about the file's length, not an error.
TEST_F(FileOps, ReadWithLimitZeroSaysHowManyLinesThereAre) {
  ASSERT_TRUE(box.write("three.txt", "a\nb\nc\n").ok());
  auto r = box.call(Op::read, {{"path", "three.txt"}, {"limit", 0}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(num(r, "lines"), 0);
  EXPECT_EQ(num(r, "total_lines"), 3);
  EXPECT_TRUE(flag(r, "more"));
  EXPECT_EQ(r.buffers.at(0), "");
  auto from = box.call(Op::read, {{"path", "three.txt"}, {"offset", 2}, {"limit", 0}});
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(num(from, "total_lines"), 3);
  EXPECT_TRUE(flag(from, "more"));
}

// Issue 14: every failure carries a code (and a message naming the path where there is one).
TEST_F(FileOps, EveryErrorCarriesACode) {
  ASSERT_TRUE(box.write("f.txt", "x\n").ok());
  const std::vector<std::pair<Op, json::object>> bad = {
      {Op::read, {{"path", "nope"}}},
      {Op::read, {{"path", "f.txt"}, {"offset", -1}}},
      {Op::read, {{"path", "f.txt"}, {"limit", -2}}},
      {Op::read, {{"path", "/.."}}},
      {Op::read, {{"path", "."}}},
      {Op::ls, {{"path", "f.txt"}}},
      {Op::edit, {{"path", "f.txt"}, {"old", "zzz"}, {"new", "y"}}},
      {Op::glob, {{"pattern", ""}}},
      {Op::grep, {{"pattern", "("}}},
      {Op::remove, {{"path", "nope"}}},
      {Op::write, {{"path", "f.txt"}}},
      {Op::read, {{"path", "/proc/self/status"}}},
      {Op::write, {{"path", "/usr/x"}}},
  };
  for (const auto& [op, req] : bad) {
    auto r = box.call(op, req);
    EXPECT_FALSE(r.ok()) << json::serialize(req);
    EXPECT_NE(r.code(), "") << json::serialize(req);
    EXPECT_NE(r.code(), "internal") << json::serialize(req) << ": " << r.message();
    EXPECT_FALSE(r.message().empty()) << json::serialize(req);
  }
}

TEST_F(FileOps, Grep) {
  ASSERT_TRUE(box.write("a.py", "def main():\n    return 42\n").ok());
  ASSERT_TRUE(box.write("b.txt", "Main course\nmain(\n").ok());
  ASSERT_TRUE(box.write("bin.dat", std::string("main\0\0binary", 12)).ok());
  auto r = box.call(Op::grep, {{"pattern", "ma[i]n\\("}});
  ASSERT_TRUE(r.ok()) << r.message();
  const auto& m = r.body.at("matches").as_array();
  ASSERT_EQ(m.size(), 2u);  // the binary file is skipped
  EXPECT_EQ(m[0].at("path").as_string(), in_ws(box, "a.py"));
  EXPECT_EQ(m[0].at("line"), 1);
  EXPECT_EQ(m[0].at("text"), "def main():");
  EXPECT_EQ(m[1].at("path").as_string(), in_ws(box, "b.txt"));
  EXPECT_EQ(m[1].at("line"), 2);
  auto lit = box.call(Op::grep, {{"pattern", "main("}, {"literal", true}, {"glob", "*.txt"}});
  ASSERT_EQ(lit.body.at("matches").as_array().size(), 1u);
  auto ic = box.call(Op::grep, {{"pattern", "^main"}, {"ignore_case", true}, {"path", "b.txt"}});
  ASSERT_EQ(ic.body.at("matches").as_array().size(), 2u);
  auto cap = box.call(Op::grep, {{"pattern", "a"}, {"max_matches", 1}});
  EXPECT_EQ(cap.body.at("matches").as_array().size(), 1u);
  EXPECT_EQ(cap.body.at("truncated"), true);
  auto bad = box.call(Op::grep, {{"pattern", "(unclosed"}});
  EXPECT_EQ(bad.code(), "invalid_argument");
  EXPECT_NE(bad.message().find("invalid regular expression"), std::string::npos);
  // A pattern that is exponential for backtracking engines is linear for RE2.
  ASSERT_TRUE(box.write("aaa", std::string(3000, 'a') + "\n").ok());
  auto evil = box.call(Op::grep, {{"pattern", "(a*)*(a|aa)*b$"}, {"path", "aaa"}});
  ASSERT_TRUE(evil.ok()) << evil.message();
  EXPECT_TRUE(evil.body.at("matches").as_array().empty());
}

TEST_F(FileOps, UploadAndDownloadAreBatchesWithPartialSuccess) {
  agent_runner::CallOptions o;
  std::string a = "alpha", b = "beta", c = "gamma";
  o.inputs = {a, b, c};
  auto up = box.sb->call(
      Op::upload,
      {{"files", json::array{json::object{{"path", "u/a"}}, json::object{{"path", "../../bad"}},
                             json::object{{"path", "u/run.sh"}, {"mode", 493}}}}},
      o);
  ASSERT_TRUE(up.ok()) << up.message();
  const auto& f = up.body.at("files").as_array();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].at("ok"), true);
  EXPECT_EQ(f[1].at("ok"), false);
  EXPECT_EQ(f[1].at("error").at("code"), "invalid_path");
  EXPECT_EQ(f[2].at("ok"), true);
  EXPECT_EQ(fs::status(box.ws() / "u/run.sh").permissions() & fs::perms::owner_exec,
            fs::perms::owner_exec);
  auto dl = box.call(Op::download, {{"paths", {"u/run.sh", "missing", "u/a"}}});
  ASSERT_TRUE(dl.ok());
  const auto& d = dl.body.at("files").as_array();
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].at("ok"), true);
  EXPECT_EQ(d[0].at("mode"), 0755);
  EXPECT_EQ(dl.buffers.at(d[0].at("buffer").as_int64()), "gamma");
  EXPECT_EQ(d[1].at("error").at("code"), "file_not_found");
  EXPECT_TRUE(d[1].at("buffer").is_null());
  EXPECT_EQ(dl.buffers.at(d[2].at("buffer").as_int64()), "alpha");
  EXPECT_EQ(dl.buffers.size(), 2u);
}

TEST_F(FileOps, Delete) {
  ASSERT_TRUE(box.write("dir/sub/f", "x").ok());
  ASSERT_TRUE(box.write("file", "x").ok());
  auto f = box.call(Op::remove, {{"path", "file"}});
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(flag(f, "deleted"));
  EXPECT_FALSE(fs::exists(box.ws() / "file"));
  EXPECT_EQ(box.call(Op::remove, {{"path", "file"}}).code(), "file_not_found");
  EXPECT_EQ(box.call(Op::remove, {{"path", "dir"}}).code(), "invalid_argument");
  EXPECT_TRUE(box.call(Op::remove, {{"path", "dir"}, {"recursive", true}}).ok());
  EXPECT_FALSE(fs::exists(box.ws() / "dir"));
  EXPECT_EQ(box.call(Op::remove, {{"path", "/"}, {"recursive", true}}).code(), "invalid_path");
  // The workspace itself is where the sandbox mounts it: not deleted, nor emptied.
  ASSERT_TRUE(box.write("keep", "x").ok());
  EXPECT_EQ(box.call(Op::remove, {{"path", "."}, {"recursive", true}}).code(), "invalid_path");
  EXPECT_EQ(box.call(Op::remove, {{"path", workdir(box)}, {"recursive", true}}).code(),
            "invalid_path");
  EXPECT_TRUE(fs::exists(box.ws() / "keep"));
}

TEST_F(FileOps, MalformedRequestsAreInvalidArgument) {
  EXPECT_EQ(box.call(Op::read, {}).code(), "invalid_argument");
  EXPECT_EQ(box.call(Op::read, {{"path", 3}}).code(), "invalid_argument");
  EXPECT_EQ(box.call(Op::upload, {{"files", "x"}}).code(), "invalid_argument");
  EXPECT_EQ(box.read(std::string("a\0b", 3)).code(), "invalid_path");
}

}  // namespace
