// SPDX-License-Identifier: Apache-2.0
// Small helpers for tests that run real processes and use real files.
#pragma once

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ar_test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct RunResult {
  int exit_code = -1;  // 128+N when killed by signal N
  std::string out;
  std::string err;
};

// Runs argv with exactly `env` as its environment (no inheritance), stdin from /dev/null.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::string& stdin_data = "");

// A minimal environment for running the built host: PATH, HOME, LANG.
std::map<std::string, std::string> base_env();

void write_file(const std::filesystem::path& p, const std::string& content);
std::string read_file(const std::filesystem::path& p);

// A hang detector, not a timing assertion: runs `fn` on its own thread and returns once it has
// returned. When it has not within `limit` (pick one far above any normal run), prints `what`
// and ends the whole test binary (a stuck thread cannot be stopped), so the hang is a failure
// that names itself instead of a ctest timeout.
void finishes_within(std::chrono::seconds limit, const std::string& what,
                     const std::function<void()>& fn);

}  // namespace ar_test
