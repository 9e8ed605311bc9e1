// SPDX-License-Identifier: Apache-2.0
#include "leftovers.hpp"

#include "file_ops.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <set>
#include <vector>

namespace agent_runner::fs_plugin {

Fd claim_dir(int parent_fd, const std::string& name) {
  Fd fd(::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return {};
  // A sweep that held the lock before us has removed the directory by now.
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_nlink == 0) return {};
  return fd;
}

namespace {

// A directory unlocked for this long, with no pid in its name, is nobody's.
constexpr time_t kUnclaimedAge = 60 * 60;

// Whether the directory `name` (after `prefix`), unlocked, may be a live process's: its name
// records a pid that still runs, or (an older agent-runner's name, without a pid) it changed
// within the last hour.
bool may_be_in_use(std::string_view rest, const struct stat& st) {
  const size_t dash = rest.find('-');
  if (dash != std::string_view::npos && dash > 0 && dash <= 10 &&
      rest.substr(0, dash).find_first_not_of("0123456789") == std::string_view::npos) {
    const long pid = std::stol(std::string(rest.substr(0, dash)));
    return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH);
  }
  return ::time(nullptr) - st.st_mtime < kUnclaimedAge;
}

}  // namespace

std::string leftover_name(std::string_view prefix) {
  return std::string(prefix) + std::to_string(::getpid()) + "-";
}

void sweep_leftovers(const std::string& parent, std::string_view prefix) {
  static std::mutex mutex;
  static std::set<std::string> swept;
  {
    std::lock_guard lock(mutex);
    if (!swept.insert(parent + "\n" + std::string(prefix)).second) return;
  }
  Fd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return;
  std::vector<std::string> names;
  {
    DIR* d = ::fdopendir(::dup(dir.get()));
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n.substr(0, prefix.size()) == prefix && n.size() > prefix.size()) names.emplace_back(n);
    }
    ::closedir(d);
  }
  const uid_t me = ::geteuid();
  for (const auto& name : names) {
    Fd fd(::openat(dir.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || st.st_uid != me) continue;
    if (may_be_in_use(std::string_view(name).substr(prefix.size()), st)) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // in use
    try {
      remove_tree(fd.get(), parent + "/" + name);
    } catch (...) {
      continue;
    }
    // Removed while we hold the lock: a creator that claims it after us sees it is gone.
    ::unlinkat(dir.get(), name.c_str(), AT_REMOVEDIR);
  }
}

}  // namespace agent_runner::fs_plugin
