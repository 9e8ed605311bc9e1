// SPDX-License-Identifier: Apache-2.0
// Path escapes: no file operation reads or writes anything a command of the sandbox could not,
// with the kernel's openat2 and with the fd-by-fd fallback walk alike, in both views:
//  - the container view (resolution in the view's root): a symlink to "/" is the sandbox's own
//    root, and host paths outside it are simply not there;
//  - the host view (isolation none; resolution beneath the workspace): `..` and symlinks leading
//    out of the workspace are invalid_path.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <tuple>

using namespace fs_test;
namespace json = boost::json;

namespace {

// (fd walk instead of openat2, host view instead of the container view)
class Escapes : public ::testing::TestWithParam<std::tuple<bool, bool>> {
 protected:
  bool fd_walk() const { return std::get<0>(GetParam()); }
  bool host_view() const { return std::get<1>(GetParam()); }
  void SetUp() override {
    if (fd_walk())
      ::setenv("AGENT_RUNNER_FS_FORCE_FD_WALK", "1", 1);
    else
      ::unsetenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
    box = std::make_unique<Box>(host_view() ? json::object{{"isolation", "none"}} : json::object{});
    ::unsetenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
    ASSERT_TRUE(box->sb) << box->create_error.message();
    if (!host_view() && !container_view(*box))
      GTEST_SKIP() << "this machine gives the host view (doctor: view)";
    EXPECT_EQ(box->sb->info().at("path_resolution"), fd_walk() ? "fd-walk" : "openat2");
    secret = box->outside.path() / "secret.txt";
    ar_test::write_file(secret, "TOP-SECRET\n");
  }
  // No file operation on `path` reads the secret outside, changes it or creates anything beside
  // it. In the host view every one of them is refused as leading outside.
  void expect_no_escape(const std::string& path) {
    SCOPED_TRACE(path);
    const auto read = box->read(path);
    EXPECT_TRUE(!read.ok() || read.buffers.at(0).find("TOP-SECRET") == std::string::npos);
    const auto write = box->write(path, "PWNED", true);
    const auto edit = box->call(Op::edit, {{"path", path}, {"old", "TOP"}, {"new", "PWNED"}});
    EXPECT_FALSE(edit.ok());
    auto dl = box->call(Op::download, {{"paths", {path}}});
    ASSERT_TRUE(dl.ok());
    for (const auto& b : dl.buffers) EXPECT_EQ(b.find("TOP-SECRET"), std::string::npos);
    if (host_view()) {
      for (const auto* r : {&read, &write, &edit})
        EXPECT_TRUE(r->code() == "invalid_path" || r->code() == "permission_denied")
            << r->code() << ": " << r->message();
    }
    EXPECT_EQ(ar_test::read_file(secret), "TOP-SECRET\n");
    for (auto& e : fs::recursive_directory_iterator(box->outside.path()))
      EXPECT_EQ(e.path(), secret) << "something was created outside";
  }
  std::unique_ptr<Box> box;
  fs::path secret;
};

TEST_P(Escapes, DotDotChains) {
  const std::string out = box->outside.path().string();
  for (std::string p : {std::string("../secret.txt"), "../../../../../../.." + secret.string(),
                        "a/../../../../../../.." + secret.string(), in_ws(*box, "../secret.txt")})
    expect_no_escape(p);
  // `..` above "/" is malformed, whatever view.
  for (std::string p : {"/../../../../etc/passwd", "/x/y/../../../etc/shadow"})
    EXPECT_EQ(box->read(p).code(), "invalid_path") << p;
  EXPECT_EQ(box->call(Op::ls, {{"path", "/.."}}).code(), "invalid_path");
  EXPECT_EQ(box->call(Op::remove, {{"path", "/../x"}}).code(), "invalid_path");
  // `..` that stays inside is fine.
  ASSERT_TRUE(box->write("a/b.txt", "ok").ok());
  EXPECT_TRUE(box->read("a/../a/./b.txt").ok());
  EXPECT_TRUE(box->read(in_ws(*box, "a/../a/b.txt")).ok());
}

TEST_P(Escapes, AbsolutePathsMeanWhatTheyMeanForCommands) {
  if (host_view()) {
    // Outside the workspace and its tmp: a command could read it, a file operation does not.
    EXPECT_EQ(box->read("/etc/passwd").code(), "permission_denied");
    EXPECT_EQ(box->write("/etc/ar-test-x", "x").code(), "permission_denied");
    return;
  }
  // The view's /etc is the host's, read-only.
  auto r = box->read("/etc/passwd");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.buffers.at(0), ar_test::read_file("/etc/passwd"));
  const auto w = box->write("/etc/passwd", "mine", true);
  EXPECT_EQ(w.code(), "permission_denied");
  // Root is stopped by the read-only mount; anyone else already by the file's mode (EACCES).
  if (::geteuid() == 0) {
    EXPECT_NE(w.message().find("read-only"), std::string::npos) << w.message();
  }
  EXPECT_NE(ar_test::read_file("/etc/passwd"), "mine");
}

TEST_P(Escapes, SymlinkToRoot) {
  fs::create_directory_symlink("/", box->ws() / "root");
  expect_no_escape("root" + secret.string());
  if (host_view()) {
    expect_no_escape("root/etc/passwd");
    EXPECT_EQ(box->call(Op::ls, {{"path", "root"}}).code(), "invalid_path");
  } else {
    // "/" is the sandbox's root: through the link, what a command sees there.
    auto r = box->read("root/etc/passwd");
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(r.buffers.at(0), ar_test::read_file("/etc/passwd"));
    EXPECT_EQ(box->write("root/etc/ar-x", "x").code(), "permission_denied");
    EXPECT_FALSE(fs::exists("/etc/ar-x"));
    EXPECT_EQ(box->call(Op::ls, {{"path", "root/root"}}).code(), "file_not_found");
  }
  // Deleting the link removes the link, not what it points to.
  ASSERT_TRUE(box->call(Op::remove, {{"path", "root"}}).ok());
  EXPECT_TRUE(fs::exists("/etc/passwd"));
}

TEST_P(Escapes, SymlinkToAFileOutside) {
  fs::create_symlink(secret, box->ws() / "abs");
  fs::create_symlink(fs::relative(secret, box->ws()), box->ws() / "rel");
  expect_no_escape("abs");
  expect_no_escape("rel");
}

TEST_P(Escapes, SymlinkChains) {
  fs::create_symlink("b", box->ws() / "a");
  fs::create_symlink("c", box->ws() / "b");
  fs::create_symlink(box->outside.path(), box->ws() / "c");
  expect_no_escape("a/secret.txt");
  // A relative chain that climbs out through a real directory: dir/.. is the workspace, two
  // more levels reach the temp dir that holds `outside`.
  fs::create_directory(box->ws() / "dir");
  fs::create_symlink("dir/../../../" + box->outside.path().filename().string(), box->ws() / "up");
  ASSERT_TRUE(fs::exists(box->ws() / "up/secret.txt")) << "the link must really lead outside";
  expect_no_escape("up/secret.txt");
  // A chain that stays inside resolves.
  ASSERT_TRUE(box->write("real/f.txt", "inside").ok());
  fs::create_symlink("real", box->ws() / "l2");
  fs::create_symlink("l2", box->ws() / "l1");
  auto r = box->read("l1/f.txt");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.buffers.at(0), "inside");
  // A loop is an error, not a hang.
  fs::create_symlink("loop2", box->ws() / "loop1");
  fs::create_symlink("loop1", box->ws() / "loop2");
  EXPECT_FALSE(box->read("loop1").ok());
}

// File operations run with agent-runner's rights: /proc (its magic links, other processes'
// environments) is never where a path leads them, named or through a symlink.
TEST_P(Escapes, ProcIsNotForFileOperations) {
  fs::create_directory_symlink("/proc/self/root", box->ws() / "selfroot");
  fs::create_directory_symlink("/proc", box->ws() / "p");
  expect_no_escape("selfroot" + secret.string());
  for (const std::string path : {"selfroot/etc/passwd", "p/self/environ", "p/1/environ"}) {
    auto r = box->read(path);
    EXPECT_FALSE(r.ok()) << path;
    EXPECT_TRUE(r.code() == "invalid_path" || r.code() == "permission_denied" ||
                r.code() == "file_not_found")
        << path << ": " << r.code();
  }
  if (!host_view()) {
    EXPECT_EQ(box->read("/proc/self/status").code(), "permission_denied");
    EXPECT_EQ(box->call(Op::ls, {{"path", "/proc"}}).code(), "permission_denied");
    EXPECT_EQ(box->read("/dev/null").code(), "permission_denied");
    EXPECT_EQ(box->call(Op::ls, {{"path", "p"}}).code(), "permission_denied");
  }
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
    auto r = box->write("d/f" + std::to_string(i % 7), "PWNED", true);
    (r.ok() ? ok : refused)++;
    box->read("d/../d/f1");
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
  ASSERT_TRUE(box->write("in.txt", "TOP-SECRET inside\n").ok());
  auto g = box->call(Op::grep, {{"pattern", "TOP-SECRET"}});
  ASSERT_TRUE(g.ok()) << g.message();
  ASSERT_EQ(g.body.at("matches").as_array().size(), 1u);
  EXPECT_EQ(g.body.at("matches").at(0).at("path").as_string(), in_ws(*box, "in.txt"));
  auto gl = box->call(Op::glob, {{"pattern", "**/*.txt"}});
  ASSERT_TRUE(gl.ok());
  ASSERT_EQ(gl.body.at("entries").as_array().size(), 1u);
  auto through = box->call(Op::grep, {{"pattern", "x"}, {"path", "out"}});
  EXPECT_EQ(through.code(), host_view() ? "invalid_path" : "file_not_found") << through.message();
}

INSTANTIATE_TEST_SUITE_P(Resolution, Escapes,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) ? "FdWalk" : "Openat2") +
                                  (std::get<1>(info.param) ? "HostView" : "ContainerView");
                         });

}  // namespace
