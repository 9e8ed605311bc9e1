// Path escapes: nothing reads or writes outside the workspace, with the kernel's openat2
// (RESOLVE_BENEATH) and with the fd-by-fd fallback walk alike.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

using namespace fs_test;

namespace {

class Escapes : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam())
      ::setenv("AGENT_RUNNER_FS_FORCE_FD_WALK", "1", 1);
    else
      ::unsetenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
    box = std::make_unique<Box>();
    ASSERT_TRUE(box->sb) << box->create_error.message();
    ::unsetenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
    EXPECT_EQ(box->sb->info().at("path_resolution"), GetParam() ? "fd-walk" : "openat2");
    secret = box->outside.path() / "secret.txt";
    ar_test::write_file(secret, "TOP-SECRET\n");
  }
  // Every file operation on `path` must fail with invalid_path and leave `outside` untouched.
  void expect_no_escape(const std::string& path) {
    SCOPED_TRACE(path);
    EXPECT_EQ(box->read(path).code(), "invalid_path");
    EXPECT_EQ(box->write(path, "PWNED", true).code(), "invalid_path");
    EXPECT_EQ(box->call(Op::edit, {{"path", path}, {"old", "TOP"}, {"new", "PWNED"}}).code(),
              "invalid_path");
    auto dl = box->call(Op::download, {{"paths", {path}}});
    ASSERT_TRUE(dl.ok());
    EXPECT_EQ(dl.body.at("files").at(0).at("error").at("code"), "invalid_path");
    EXPECT_TRUE(dl.buffers.empty());
    EXPECT_EQ(ar_test::read_file(secret), "TOP-SECRET\n");
    for (auto& e : fs::recursive_directory_iterator(box->outside.path()))
      EXPECT_EQ(e.path(), secret) << "something was created outside";
  }
  std::unique_ptr<Box> box;
  fs::path secret;
};

TEST_P(Escapes, DotDotChains) {
  for (std::string p : {"../secret.txt", "/../../../../etc/passwd", "a/../../etc/passwd",
                        "/x/y/../../../etc/shadow"})
    expect_no_escape(p);
  EXPECT_EQ(box->call(Op::ls, {{"path", "/.."}}).code(), "invalid_path");
  EXPECT_EQ(box->call(Op::remove, {{"path", "/../x"}}).code(), "invalid_path");
  // `..` that stays inside is fine.
  ASSERT_TRUE(box->write("/a/b.txt", "ok").ok());
  EXPECT_TRUE(box->read("/a/../a/./b.txt").ok());
}

TEST_P(Escapes, AbsolutePathsAreSandboxPaths) {
  // "/etc/passwd" is <workspace>/etc/passwd: not found, and writing it creates it inside.
  EXPECT_EQ(box->read("/etc/passwd").code(), "file_not_found");
  ASSERT_TRUE(box->write("/etc/passwd", "mine").ok());
  EXPECT_EQ(ar_test::read_file(box->ws() / "etc/passwd"), "mine");
  EXPECT_NE(ar_test::read_file("/etc/passwd"), "mine");
}

TEST_P(Escapes, SymlinkToRoot) {
  fs::create_directory_symlink("/", box->ws() / "root");
  expect_no_escape("/root/etc/passwd");
  expect_no_escape("/root" + secret.string());
  EXPECT_EQ(box->call(Op::ls, {{"path", "/root"}}).code(), "invalid_path");
  EXPECT_EQ(box->call(Op::ls, {{"path", "/root/tmp"}}).code(), "invalid_path");
  // Deleting the link removes the link, not what it points to.
  ASSERT_TRUE(box->call(Op::remove, {{"path", "/root"}}).ok());
  EXPECT_TRUE(fs::exists("/etc/passwd"));
}

TEST_P(Escapes, SymlinkToAFileOutside) {
  fs::create_symlink(secret, box->ws() / "abs");
  fs::create_symlink(fs::relative(secret, box->ws()), box->ws() / "rel");
  expect_no_escape("/abs");
  expect_no_escape("/rel");
}

TEST_P(Escapes, SymlinkChains) {
  fs::create_symlink("b", box->ws() / "a");
  fs::create_symlink("c", box->ws() / "b");
  fs::create_symlink(box->outside.path(), box->ws() / "c");
  expect_no_escape("/a/secret.txt");
  // A relative chain that climbs out through a real directory: dir/.. is the workspace, two
  // more levels reach the temp dir that holds `outside`.
  fs::create_directory(box->ws() / "dir");
  fs::create_symlink("dir/../../../" + box->outside.path().filename().string(), box->ws() / "up");
  ASSERT_TRUE(fs::exists(box->ws() / "up/secret.txt")) << "the link must really lead outside";
  expect_no_escape("/up/secret.txt");
  // A chain that stays inside resolves.
  ASSERT_TRUE(box->write("/real/f.txt", "inside").ok());
  fs::create_symlink("real", box->ws() / "l2");
  fs::create_symlink("l2", box->ws() / "l1");
  auto r = box->read("/l1/f.txt");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.buffers.at(0), "inside");
  // A loop is an error, not a hang.
  fs::create_symlink("loop2", box->ws() / "loop1");
  fs::create_symlink("loop1", box->ws() / "loop2");
  EXPECT_FALSE(box->read("/loop1").ok());
}

TEST_P(Escapes, ProcSelfRoot) {
  fs::create_directory_symlink("/proc/self/root", box->ws() / "proc");
  expect_no_escape("/proc" + secret.string());
  // The path itself is just a path inside the sandbox.
  EXPECT_EQ(box->read("/proc/self/root/etc/passwd").code(), "invalid_path");
  fs::remove(box->ws() / "proc");
  EXPECT_EQ(box->read("/proc/self/root/etc/passwd").code(), "file_not_found");
}

TEST_P(Escapes, DirectorySymlinkSwappedDuringWrites) {
  const fs::path d = box->ws() / "d";
  const fs::path real = box->ws() / "real";
  fs::create_directory(real);
  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    const fs::path link_tmp = box->ws() / "link.tmp", dir_tmp = box->ws() / "dir.tmp";
    while (!stop) {
      std::error_code ec;
      fs::create_directory_symlink(box->outside.path(), link_tmp, ec);
      fs::rename(link_tmp, d, ec);  // d -> outside
      fs::create_directory(dir_tmp, ec);
      fs::remove(d, ec);
      fs::rename(dir_tmp, d, ec);  // d is a real directory again
      fs::remove_all(d, ec);
    }
  });
  int ok = 0, refused = 0;
  for (int i = 0; i < 3000; ++i) {
    auto r = box->write("/d/f" + std::to_string(i % 7), "PWNED", true);
    (r.ok() ? ok : refused)++;
    box->read("/d/../d/f1");
  }
  stop = true;
  swapper.join();
  for (auto& e : fs::recursive_directory_iterator(box->outside.path()))
    EXPECT_EQ(e.path(), secret) << "a write landed outside through the swapped symlink";
  EXPECT_EQ(ar_test::read_file(secret), "TOP-SECRET\n");
  EXPECT_GT(ok + refused, 0);
}

TEST_P(Escapes, SearchDoesNotFollowLinksOut) {
  fs::create_directory_symlink(box->outside.path(), box->ws() / "out");
  ASSERT_TRUE(box->write("/in.txt", "TOP-SECRET inside\n").ok());
  auto g = box->call(Op::grep, {{"pattern", "TOP-SECRET"}});
  ASSERT_TRUE(g.ok()) << g.message();
  ASSERT_EQ(g.body.at("matches").as_array().size(), 1u);
  EXPECT_EQ(g.body.at("matches").at(0).at("path"), "/in.txt");
  auto gl = box->call(Op::glob, {{"pattern", "**/*.txt"}});
  ASSERT_TRUE(gl.ok());
  ASSERT_EQ(gl.body.at("entries").as_array().size(), 1u);
  EXPECT_EQ(box->call(Op::grep, {{"pattern", "x"}, {"path", "/out"}}).code(), "invalid_path");
}

INSTANTIATE_TEST_SUITE_P(Resolution, Escapes, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "FdWalk" : "Openat2"; });

}  // namespace
