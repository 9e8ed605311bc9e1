// SPDX-License-Identifier: Apache-2.0
// Shared helpers for the filesystem plugin suite: the real plugin loaded by the real host.
#pragma once

#include "plugin_loader.hpp"
#include "sandbox.hpp"
#include "test_util.hpp"

#include <boost/json.hpp>

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fs_test {

namespace fs = std::filesystem;
using agent_runner::Op;
using agent_runner::OpResult;
using agent_runner::Sandbox;

// filesystem.so from the build tree, loaded once through the host's registry.
std::shared_ptr<agent_runner::LoadedPlugin> plugin();

// A sandbox rooted in a fresh temp dir. `extra` is merged into the config.
struct Box {
  explicit Box(boost::json::object extra = {}, std::optional<std::string> session = std::nullopt);
  ar_test::TempDir root;
  ar_test::TempDir outside;  // a directory outside the sandbox, for escape attempts
  std::unique_ptr<Sandbox> sb;
  OpResult create_error;
  fs::path ws() const;

  OpResult exec(const std::string& cmd, boost::json::object extra = {},
                const agent_runner::CallOptions& opts = {});
  OpResult write(const std::string& path, const std::string& content, bool overwrite = false);
  OpResult read(const std::string& path);
  OpResult call(Op op, boost::json::object req) { return sb->call(op, req); }
};

// A string member of the sandbox's info().
std::string info_str(const Box& b, const char* key);
// Where commands start and relative paths lead (info().workdir).
std::string workdir(const Box& b);
// The sandbox path of its /tmp: "/tmp" in the container view, the directory's host path else.
std::string tmp_path(const Box& b);
// The sandbox path of `rel` in the workspace, as results show it: in_ws(b, "src/a.py") is
// "/workspace/src/a.py" in the container view ("" is the workdir itself).
std::string in_ws(const Box& b, const std::string& rel);
// Whether the sandbox got the container view (info().view).
bool container_view(const Box& b);

// A tmpfs of `options` ("size=20m") mounted on a fresh temp dir in a private mount namespace of
// the calling thread, so nothing shows outside the test and nothing stays mounted if it dies;
// undone on destruction. Needs root: otherwise `error` says why and nothing is mounted.
class PrivateTmpfs {
 public:
  explicit PrivateTmpfs(const std::string& options);
  ~PrivateTmpfs();
  PrivateTmpfs(const PrivateTmpfs&) = delete;
  PrivateTmpfs& operator=(const PrivateTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const fs::path& path() const { return dir_.path(); }

 private:
  ar_test::TempDir dir_;
  int cwd_ = -1, old_ns_ = -1;
  bool in_ns_ = false, mounted_ = false;
  std::string error_;
};

std::unique_ptr<Sandbox> open_sandbox(boost::json::object config,
                                      std::optional<std::string> session, OpResult& err);

// Host pids of every live process whose command line contains `needle`.
std::vector<pid_t> pids_with(const std::string& needle);
// A number unique to this test run, to mark processes (e.g. `sleep 1000.<n>`).
std::string marker();

std::string str(const OpResult& r, const char* key);
int64_t num(const OpResult& r, const char* key);
bool flag(const OpResult& r, const char* key);

}  // namespace fs_test
