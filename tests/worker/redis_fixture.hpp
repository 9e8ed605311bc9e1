// SPDX-License-Identifier: Apache-2.0
// Real processes for the worker tests: a redis-server of the test's own on a free 127.0.0.1 port
// in a temporary directory (never a system service), and background agent-runner processes
// (workers, followers) with their output in files.
#pragma once

#include "test_util.hpp"
#include "worker/redis_client.hpp"

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ar_test {

using Env = std::map<std::string, std::string>;

class RedisServer {
 public:
  struct Options {
    std::optional<std::string> password;
    bool aof = false;
  };
  explicit RedisServer(Options options);
  RedisServer() : RedisServer(Options{}) {}
  ~RedisServer();
  int port() const { return port_; }
  // SHUTDOWN (AOF flushed), then the same server again on the same port and directory.
  void restart();
  void stop();
  void start();
  // A client for the test's own checks.
  std::unique_ptr<agent_runner::worker::RedisClient> client() const;
  // One command on a connection kept open (tests poll often: a connection per poll would run
  // the machine out of ephemeral ports), reopened once if the server went away meanwhile.
  agent_runner::worker::RedisReply cmd(const std::vector<std::string>& args) const;

 private:
  Options options_;
  mutable std::unique_ptr<agent_runner::worker::RedisClient> conn_;
  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// A process in the background, stdout and stderr to files.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const Env& env,
             const std::filesystem::path& out_dir, const std::string& name);
  ~Background();
  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  // Waits for the exit; the exit code (128+N for signal N), or nullopt after `limit`.
  std::optional<int> wait(std::chrono::seconds limit = std::chrono::seconds(60));
  bool running();
  std::string out() const;
  std::string err() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> code_;
  std::filesystem::path out_, err_;
};

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_port();

// Polls `ok` every 20 ms until it holds or `limit` passes (then false). Never a timing assertion:
// the limit only stops a test that would otherwise hang.
bool eventually(const std::function<bool()>& ok,
                std::chrono::seconds limit = std::chrono::seconds(60));

// Direct children of `pid` whose command line contains `marker`.
int children_with(pid_t pid, const std::string& marker);
// Live processes whose command line contains `marker`.
std::vector<pid_t> processes_with(const std::string& marker);

}  // namespace ar_test
