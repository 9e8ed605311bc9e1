// SPDX-License-Identifier: Apache-2.0
// The walk under glob and grep: every regular file below a directory, through directory fds that
// never follow a symlink (a link cannot lead the walk outside the workspace or into a loop).
// Entry types come from getdents (d_type), so nothing is stat'ed unless the filesystem does not
// say (DT_UNKNOWN). A small fixed pool of threads shares the directories; each directory's
// entries are taken in sorted order and handed out depth first, so the walk visits files roughly
// in the order results are reported (see `key`), and a search that has all it needs early can
// pass over the rest.
#pragma once

#include "paths.hpp"

#include <agent_runner/glob.hpp>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::fs_plugin {

// A file (or, with WalkOptions::dirs, a directory) the walk found. `key` is its path below the
// walk's root ("a/b.txt"); results are reported in the order of their keys as strings, as glob's
// are and as the daytona plugin reports them.
struct WalkFile {
  int dirfd;  // the directory holding it, for *at() calls on `name`
  std::string_view name;
  const std::string& key;
  unsigned worker;  // which walking thread, 0 .. walk_thread_count() - 1 (for scratch space)
  bool is_dir = false;
};

struct WalkOptions {
  // Entries looked at (files, directories and everything else) before the walk stops and says
  // truncated.
  size_t max_entries = 1000000;
  // Deeper directories are not entered (truncated); bounds the descriptors a walk holds.
  int max_depth = 64;
  // Only files whose whole path below the root matches; directories no match can lie under are
  // not entered.
  const sdk::PathGlob* path_glob = nullptr;
  // Only files whose name matches.
  const sdk::ComponentGlob* name_glob = nullptr;
  // Directories are visited too (whether entered or not), under the same globs.
  bool dirs = false;
  // Directories not entered (nor visited), by key: /proc and /dev of the container view.
  std::vector<std::string> skip;
  // Files and directories whose key makes this true are passed over (nothing there is wanted any
  // more). Called from every walking thread.
  std::function<bool(std::string_view key)> past;
  // Polled between directories on the calling thread; true stops the walk (cancelled).
  std::function<bool()> cancelled;
  // Walking threads, the calling one included; 0 = one per CPU this process may run on, at most 8.
  unsigned threads = 0;
};

struct WalkOutcome {
  bool truncated = false;  // an entry or depth limit stopped part of the walk
  bool cancelled = false;
};

// One directory entry as getdents reports it: the name and the type (DT_*; DT_UNKNOWN when the
// filesystem does not say).
struct DirEntry {
  std::string name;
  unsigned char type;
};

// Appends every entry of the directory `fd` (read from its current offset) but "." and "..";
// false when the directory cannot be read.
bool list_dir(int fd, std::vector<DirEntry>& out);

// How many threads a walk with `requested` threads (0 = the default) uses.
unsigned walk_thread_count(unsigned requested);

// Calls `visit` for every regular file (and, with opts.dirs, directory) below the directory
// `dirfd` (borrowed), from any of the walking threads at once. An exception from `visit` stops the
// walk and is rethrown here.
WalkOutcome walk_files(int dirfd, const WalkOptions& opts,
                       const std::function<void(const WalkFile&)>& visit);

}  // namespace agent_runner::fs_plugin
