// SPDX-License-Identifier: Apache-2.0
// The local side of a workload's upload, download and skills: the files under a local path, their
// content address, and writing a downloaded file without following a planted symlink.
#pragma once

#include <boost/system/result.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

// A local file and where below the upload's target it goes.
struct LocalFile {
  std::filesystem::path local;
  std::string rel;  // "" for a single file
  int mode = 0644;  // 0755 when any execute bit is set
};

// The regular files under `root` (a file: just it), sorted by relative path. A symbolic link below
// a directory is refused (upload copies regular files only).
boost::system::result<std::vector<LocalFile>, std::string> collect_files(
    const std::filesystem::path& root);

std::optional<std::string> read_local(const std::filesystem::path& p);

// `base` + "/" + `rel` ("" = base itself).
std::string join_sandbox(const std::string& base, const std::string& rel);

// Content address of a skill directory (SHA-256 over relative paths, modes and bytes; the first
// 16 hex digits).
std::string content_hash(const std::vector<LocalFile>& files,
                         const std::vector<std::string>& contents);

// Writes `data` to exactly `target` (a temporary file in the same directory, then rename, so a
// symlink planted at `target` is replaced rather than followed). Returns "" or the error.
std::string write_local_atomically(const std::filesystem::path& target, std::string_view data,
                                   int mode);

}  // namespace agent_runner
