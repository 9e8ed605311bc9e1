// SPDX-License-Identifier: Apache-2.0
// write, edit and upload put a file in place whole or not at all (a full disk leaves the old
// content), and no file operation blocks on, or opens, a FIFO, socket or device that a command
// left in the workspace.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

using namespace fs_test;
namespace json = boost::json;

namespace {

// No temporary file of a write is left anywhere in the workspace.
void expect_no_temporaries(const fs::path& ws) {
  for (const auto& e : fs::recursive_directory_iterator(ws))
    EXPECT_EQ(e.path().filename().string().find(".agent-runner-write"), std::string::npos)
        << e.path();
}

std::string error_code_of_row(const OpResult& r) {
  const auto& row = r.body.at("files").at(0);
  return row.at("ok").as_bool() ? "ok" : std::string(row.at("error").at("code").as_string());
}

// A workspace on a 20 MiB tmpfs.
class DiskFull : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!tmpfs.mounted()) GTEST_SKIP() << "no small filesystem to fill: " << tmpfs.error();
    OpResult err;
    sb = open_sandbox({{"type", "filesystem"}, {"root_dir", dir().string()}, {"layout", "shared"}},
                      std::nullopt, err);
    ASSERT_TRUE(sb) << err.message();
  }
  void TearDown() override { sb.reset(); }
  const fs::path& dir() const { return tmpfs.path(); }
  // Writes a filler file until the filesystem refuses even one more byte.
  void fill() {
    const int fd = ::open((dir() / "filler").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const std::string chunk(1 << 20, 'f');
    for (size_t step : {size_t{1} << 20, size_t{4096}, size_t{1}})
      while (::write(fd, chunk.data(), step) > 0) {
      }
    EXPECT_EQ(errno, ENOSPC);
    ::close(fd);
  }
  OpResult write(const std::string& path, const std::string& content) {
    agent_runner::CallOptions o;
    o.inputs = {content};
    return sb->call(Op::write, {{"path", path}, {"overwrite", true}}, o);
  }

  PrivateTmpfs tmpfs{"size=20m"};
  std::unique_ptr<Sandbox> sb;
};

TEST_F(DiskFull, OverwriteEditAndUploadKeepTheOldContent) {
  const std::string old_content = std::string(64 * 1024, 'o') + "\nMARK\n";
  ASSERT_TRUE(write("keep.txt", old_content).ok());
  ASSERT_EQ(::chmod((dir() / "keep.txt").c_str(), 0640), 0);
  fill();
  const std::string bigger(2 << 20, 'n');

  auto w = write("keep.txt", bigger);
  EXPECT_EQ(w.code(), "no_space") << w.message();
  EXPECT_NE(w.message().find("no space left"), std::string::npos) << w.message();
  EXPECT_NE(w.message().find("/keep.txt"), std::string::npos) << w.message();
  EXPECT_EQ(ar_test::read_file(dir() / "keep.txt"), old_content);

  auto e = sb->call(Op::edit, {{"path", "keep.txt"}, {"old", "MARK"}, {"new", bigger}});
  EXPECT_EQ(e.code(), "no_space") << e.message();
  EXPECT_NE(e.message().find("/keep.txt"), std::string::npos) << e.message();
  EXPECT_EQ(ar_test::read_file(dir() / "keep.txt"), old_content);

  agent_runner::CallOptions o;
  o.inputs = {bigger};
  auto u = sb->call(Op::upload, {{"files", json::array{json::object{{"path", "keep.txt"}}}}}, o);
  ASSERT_TRUE(u.ok()) << u.message();
  EXPECT_EQ(error_code_of_row(u), "no_space");
  EXPECT_EQ(ar_test::read_file(dir() / "keep.txt"), old_content);

  // A new file is not left half written either.
  EXPECT_EQ(write("new.txt", bigger).code(), "no_space");
  EXPECT_FALSE(fs::exists(dir() / "new.txt"));
  EXPECT_EQ(fs::status(dir() / "keep.txt").permissions(),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  expect_no_temporaries(dir());

  // With room again, the same write goes through.
  fs::remove(dir() / "filler");
  auto again = write("keep.txt", bigger);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(ar_test::read_file(dir() / "keep.txt"), bigger);
}

// A write right after a replace has the replaced file's space, although the plugin frees
// replaced files after the answer (plugins/filesystem/deferred_release.hpp): a write that finds
// the disk full frees what is pending and tries once more.
TEST_F(DiskFull, AWriteRightAfterAReplaceHasTheReplacedFilesSpace) {
  const std::string nine(9 << 20, 'a');
  ASSERT_TRUE(write("a.bin", nine).ok());
  for (int i = 0; i < 5; ++i) {
    SCOPED_TRACE(i);
    // 9 MiB new, 9 MiB replaced (perhaps not freed yet) on a 20 MiB filesystem: 9 MiB more fit
    // only once the replaced file is gone.
    auto replace = write("a.bin", std::string(9 << 20, static_cast<char>('b' + i)));
    ASSERT_TRUE(replace.ok()) << replace.message();
    auto more = write("b.bin", nine);
    ASSERT_TRUE(more.ok()) << more.message();
    ASSERT_TRUE(sb->call(Op::remove, {{"path", "b.bin"}}).ok());
  }
  expect_no_temporaries(dir());
  // Released right after a replace, the sandbox leaves only the new file's space taken.
  ASSERT_TRUE(write("a.bin", nine).ok());
  auto released = sb->release();
  ASSERT_TRUE(released.ok()) << released.message();
  struct statvfs v {};
  ASSERT_EQ(::statvfs(dir().c_str(), &v), 0);
  const uint64_t used = (v.f_blocks - v.f_bfree) * v.f_frsize;
  EXPECT_LT(used, uint64_t{12} << 20) << "the replaced file's space was not returned";
}

// Descriptors of this process that refer to a deleted file named `name`: replaced files that are
// not freed yet.
size_t replaced_not_freed(const std::string& name) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = fs::read_symlink(e.path(), ec).string();
    if (!ec && target.ends_with("/" + name + " (deleted)")) ++n;
  }
  return n;
}

class FileWrites : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(box.sb) << box.create_error.message(); }
  Box box;
};

// A FIFO, a socket or a device in the workspace (a command can make them) is refused at once by
// everything that opens files: opening a FIFO for writing used to block the host forever.
TEST_F(FileWrites, SpecialFilesAreRefusedWithoutBlocking) {
  ASSERT_EQ(::mkfifo((box.ws() / "pipe").c_str(), 0644), 0);
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(s, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string sock = (box.ws() / "sock").string();
  ASSERT_LT(sock.size(), sizeof addr.sun_path);
  std::memcpy(addr.sun_path, sock.c_str(), sock.size() + 1);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  std::vector<std::pair<std::string, std::string>> specials = {{"pipe", "is a FIFO"},
                                                               {"sock", "is a socket"}};
  if (::geteuid() == 0 && ::mknod((box.ws() / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0)
    specials.emplace_back("null", "is a device");
  ar_test::finishes_within(std::chrono::seconds(30), "file operations on special files", [&] {
    for (const auto& [path, why] : specials) {
      SCOPED_TRACE(path);
      for (bool overwrite : {true, false}) {
        auto w = box.write(path, "data", overwrite);
        EXPECT_EQ(w.code(), "invalid_path") << w.message();
        EXPECT_NE(w.message().find(why), std::string::npos) << w.message();
      }
      auto r = box.read(path);
      EXPECT_EQ(r.code(), "invalid_path") << r.message();
      EXPECT_NE(r.message().find(why), std::string::npos) << r.message();
      EXPECT_EQ(box.call(Op::edit, {{"path", path}, {"old", "a"}, {"new", "b"}}).code(),
                "invalid_path");
      EXPECT_EQ(box.call(Op::grep, {{"pattern", "a"}, {"path", path}}).code(), "invalid_path");
      agent_runner::CallOptions o;
      o.inputs = {std::string_view("data")};
      auto u = box.sb->call(Op::upload, {{"files", json::array{json::object{{"path", path}}}}}, o);
      ASSERT_TRUE(u.ok()) << u.message();
      EXPECT_EQ(error_code_of_row(u), "invalid_path");
      auto d = box.call(Op::download, {{"paths", json::array{json::value(path)}}});
      ASSERT_TRUE(d.ok()) << d.message();
      EXPECT_EQ(error_code_of_row(d), "invalid_path");
    }
    // A search walks past them.
    ASSERT_TRUE(box.write("f.txt", "data\n").ok());
    auto g = box.call(Op::grep, {{"pattern", "data"}});
    ASSERT_TRUE(g.ok()) << g.message();
    EXPECT_EQ(g.body.at("matches").as_array().size(), 1u);
  });
  ::close(s);
  EXPECT_TRUE(fs::is_fifo(box.ws() / "pipe"));
}

// A write that replaces a file frees the old one after its answer, on a thread of the plugin's
// (deferred_release.hpp): however many writes come, at most 64 replaced files wait, and none is
// left once the sandbox is released.
TEST_F(FileWrites, ReplacedFilesAreFreedWithinABoundAndAllByTheRelease) {
  const std::string name = "replaced-by-write.txt";
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(box.write(name, "version " + std::to_string(i), true).ok());
    ASSERT_LE(replaced_not_freed(name), 64u);
  }
  auto e = box.call(Op::edit, {{"path", name}, {"old", "299"}, {"new", "300"}});
  ASSERT_TRUE(e.ok()) << e.message();
  EXPECT_EQ(ar_test::read_file(box.ws() / name), "version 300");
  auto r = box.sb->release();
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(replaced_not_freed(name), 0u) << "a replaced file outlived the sandbox";
}

// Replacing a file by rename keeps what writing in place kept: a symlink inside the workspace
// is written through (the link stays a link), the permission bits stay, and nothing is left over.
TEST_F(FileWrites, ReplaceKeepsSymlinksAndModes) {
  ASSERT_TRUE(box.write("dir/real.txt", "one").ok());
  ASSERT_EQ(::chmod((box.ws() / "dir/real.txt").c_str(), 0750), 0);
  fs::create_symlink("dir/real.txt", box.ws() / "link.txt");
  fs::create_symlink("real.txt", box.ws() / "dir/link2");
  fs::create_symlink("../link.txt", box.ws() / "dir/chain");
  auto w = box.write("link.txt", "two", true);
  ASSERT_TRUE(w.ok()) << w.message();
  EXPECT_FALSE(flag(w, "created"));
  EXPECT_TRUE(fs::is_symlink(box.ws() / "link.txt"));
  EXPECT_EQ(ar_test::read_file(box.ws() / "dir/real.txt"), "two");
  EXPECT_EQ(fs::status(box.ws() / "dir/real.txt").permissions(),
            fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec);
  ASSERT_TRUE(box.write("dir/chain", "three", true).ok());
  EXPECT_EQ(ar_test::read_file(box.ws() / "dir/real.txt"), "three");
  auto e = box.call(Op::edit, {{"path", "dir/link2"}, {"old", "three"}, {"new", "four"}});
  ASSERT_TRUE(e.ok()) << e.message();
  EXPECT_TRUE(fs::is_symlink(box.ws() / "dir/link2"));
  EXPECT_EQ(ar_test::read_file(box.ws() / "dir/real.txt"), "four");
  EXPECT_EQ(box.write("link.txt", "x", false).code(), "already_exists");
  // A link that points at a name not there yet creates it.
  fs::create_symlink("dir/fresh.txt", box.ws() / "dangling");
  auto d = box.write("dangling", "new", true);
  ASSERT_TRUE(d.ok()) << d.message();
  EXPECT_TRUE(flag(d, "created"));
  EXPECT_EQ(ar_test::read_file(box.ws() / "dir/fresh.txt"), "new");
  // An upload's mode wins over the old one.
  agent_runner::CallOptions o;
  o.inputs = {std::string_view("five")};
  auto u = box.sb->call(
      Op::upload, {{"files", json::array{json::object{{"path", "dir/real.txt"}, {"mode", 0600}}}}},
      o);
  ASSERT_TRUE(u.ok()) << u.message();
  EXPECT_EQ(fs::status(box.ws() / "dir/real.txt").permissions(),
            fs::perms::owner_read | fs::perms::owner_write);
  // A link loop is an error, not a hang.
  fs::create_symlink("loop2", box.ws() / "loop1");
  fs::create_symlink("loop1", box.ws() / "loop2");
  EXPECT_EQ(box.write("loop1", "x", true).code(), "invalid_path");
  expect_no_temporaries(box.ws());
}

}  // namespace
