// SPDX-License-Identifier: Apache-2.0
// Sessions persist; ephemeral workspaces are gone after release; unsafe keys are refused.
#include "fs_test_util.hpp"

#include <gtest/gtest.h>

using namespace fs_test;
namespace json = boost::json;

namespace {

TEST(Sessions, SameKeyAttachesToTheSameWorkspace) {
  ar_test::TempDir root;
  json::object cfg{{"root_dir", root.path().string()}};
  OpResult err;
  {
    auto sb = open_sandbox(cfg, std::string("feature-42"), err);
    ASSERT_TRUE(sb) << err.message();
    EXPECT_EQ(sb->info().at("persistent"), true);
    EXPECT_EQ(sb->info().at("session"), "feature-42");
    EXPECT_EQ(sb->info().at("workspace").as_string(), (root.path() / "feature-42").string());
    agent_runner::CallOptions o;
    o.inputs = {"kept"};
    ASSERT_TRUE(sb->call(Op::write, {{"path", "notes.txt"}}, o).ok());
    ASSERT_TRUE(sb->release().ok());
  }
  auto again = open_sandbox(cfg, std::string("feature-42"), err);
  ASSERT_TRUE(again);
  auto r = again->call(Op::read, {{"path", "notes.txt"}});
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r.buffers.at(0), "kept");
  // Another key is another workspace.
  auto other = open_sandbox(cfg, std::string("other"), err);
  EXPECT_EQ(other->call(Op::read, {{"path", "notes.txt"}}).code(), "file_not_found");
}

TEST(Sessions, EphemeralWorkspaceAndTmpAreRemovedOnRelease) {
  ar_test::TempDir root;
  OpResult err;
  auto sb = open_sandbox({{"root_dir", root.path().string()}}, std::nullopt, err);
  ASSERT_TRUE(sb) << err.message();
  EXPECT_EQ(sb->info().at("persistent"), false);
  const fs::path ws = std::string(sb->info().at("workspace").as_string());
  const fs::path tmp = std::string(sb->info().at("tmp_dir").as_string());
  ASSERT_TRUE(fs::is_directory(ws));
  ASSERT_TRUE(fs::is_directory(tmp));
  ASSERT_TRUE(sb->call(Op::execute, {{"command",
                                      "mkdir -p a/b && echo x > a/b/c && "
                                      "ln -s / a/root && echo t > $TMPDIR/t"}})
                  .ok());
  ASSERT_TRUE(sb->release().ok());
  EXPECT_FALSE(fs::exists(ws));
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_TRUE(fs::exists("/etc/passwd"));  // the symlink was removed, not followed
  EXPECT_TRUE(fs::is_empty(root.path()));
}

TEST(Sessions, UnsafeKeysAreRefused) {
  ar_test::TempDir root;
  OpResult err;
  for (std::string key :
       {std::string("../up"), std::string("a/b"), std::string(".."), std::string("."),
        std::string(129, 'k'), std::string("nul\0x", 5), std::string(".hidden")}) {
    SCOPED_TRACE(key);
    EXPECT_FALSE(open_sandbox({{"root_dir", root.path().string()}}, key, err));
    EXPECT_EQ(err.code(), "invalid_argument");
    EXPECT_NE(err.message().find("session"), std::string::npos);
  }
  EXPECT_TRUE(fs::is_empty(root.path()));
  EXPECT_TRUE(open_sandbox({{"root_dir", root.path().string()}}, std::string(128, 'k'), err));
}

TEST(Sessions, SharedLayoutUsesRootDirItselfAndNeverRemovesIt) {
  ar_test::TempDir root;
  ar_test::write_file(root.path() / "project.txt", "mine");
  OpResult err;
  auto sb =
      open_sandbox({{"root_dir", root.path().string()}, {"layout", "shared"}}, std::nullopt, err);
  ASSERT_TRUE(sb) << err.message();
  EXPECT_EQ(sb->info().at("workspace").as_string(), root.path().string());
  auto r = sb->call(Op::read, {{"path", "project.txt"}});
  EXPECT_EQ(r.buffers.at(0), "mine");
  ASSERT_TRUE(sb->release().ok());
  EXPECT_TRUE(fs::exists(root.path() / "project.txt"));
}

}  // namespace
