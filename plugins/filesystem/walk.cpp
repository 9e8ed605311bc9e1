// SPDX-License-Identifier: Apache-2.0
#include "walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace agent_runner::fs_plugin {

bool list_dir(int fd, std::vector<DirEntry>& out) {
  alignas(8) char buf[32768];
  for (;;) {
    const ssize_t n = ::getdents64(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    for (ssize_t off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'))) continue;
      out.push_back({name, d->d_type});
    }
  }
}

unsigned walk_thread_count(unsigned requested) {
  if (requested) return requested;
  cpu_set_t set;
  CPU_ZERO(&set);
  int n = ::sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  return static_cast<unsigned>(std::clamp(n, 1, 8));
}

namespace {

// Files of one directory handed out together: fewer hand-overs than one per file, and a big
// directory still spreads over the threads.
constexpr size_t kFilesPerItem = 128;

// An open directory, shared by the items taken from it; closed when the last one is done.
struct Dir {
  Fd fd;
  std::string key;
  int depth = 0;
  std::optional<sdk::PathGlob::State> state;
};

// One unit of work: a directory to open and read (`names` holds its name; no parent for the
// root) or a run of entries of `parent` to visit (files, and directories when `dirs[i]`).
struct Item {
  std::shared_ptr<Dir> parent;
  bool is_dir = false;
  std::vector<std::string> names;
  std::vector<bool> dirs;                     // a run's: which names are directories
  std::optional<sdk::PathGlob::State> state;  // a directory's, after its own name
};

std::string child_key(const std::string& parent, std::string_view name) {
  std::string k;
  k.reserve(parent.size() + 1 + name.size());
  if (!parent.empty()) (k += parent) += '/';
  k += name;
  return k;
}

class Walk {
 public:
  Walk(const WalkOptions& opts, const std::function<void(const WalkFile&)>& visit)
      : opts_(opts), visit_(visit) {}

  WalkOutcome run(int dirfd) {
    const int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno(errno, "/", "walk");
    auto root = std::make_shared<Dir>();
    root->fd.reset(fd);
    if (opts_.path_glob) root->state = opts_.path_glob->start();
    {
      std::vector<Item> first;
      read_dir(root, first);
      push(first);
    }
    const unsigned threads = walk_thread_count(opts_.threads);
    std::vector<std::thread> helpers;
    try {
      work(0, [&] {
        // More than one directory's worth of work: let the other threads in.
        if (helpers.empty() && threads > 1 && stack_.size() > 1)
          for (unsigned i = 1; i < threads; ++i) helpers.emplace_back([this, i] { work(i, {}); });
      });
    } catch (...) {
      stop();
      for (auto& t : helpers) t.join();
      throw;
    }
    for (auto& t : helpers) t.join();
    if (error_) std::rethrow_exception(error_);
    return outcome_;
  }

 private:
  void stop() {
    std::lock_guard<std::mutex> lock(m_);
    stopped_ = true;
    cv_.notify_all();
  }

  void push(std::vector<Item>& items) {
    for (auto it = items.rbegin(); it != items.rend(); ++it) stack_.push_back(std::move(*it));
  }

  // Takes items until none is left anywhere. The calling thread (worker 0) also polls
  // cancellation and runs `between` after each item.
  void work(unsigned worker, const std::function<void()>& between) {
    const bool main = worker == 0;
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(m_);
        for (;;) {
          if (stopped_) return;
          if (main && opts_.cancelled && opts_.cancelled()) {
            outcome_.cancelled = true;
            stopped_ = true;
            cv_.notify_all();
            return;
          }
          if (!stack_.empty()) break;
          if (busy_ == 0) {
            cv_.notify_all();
            return;
          }
          if (main)
            cv_.wait_for(lock, std::chrono::milliseconds(20));
          else
            cv_.wait(lock);
        }
        item = std::move(stack_.back());
        stack_.pop_back();
        ++busy_;
      }
      std::vector<Item> produced;
      bool failed = false;
      try {
        process(item, produced, worker);
      } catch (...) {
        std::lock_guard<std::mutex> lock(m_);
        if (!error_) error_ = std::current_exception();
        stopped_ = true;
        failed = true;
      }
      {
        std::lock_guard<std::mutex> lock(m_);
        --busy_;
        push(produced);
        if (!produced.empty() || busy_ == 0 || failed) cv_.notify_all();
        if (main && between) between();
      }
    }
  }

  void process(Item& item, std::vector<Item>& produced, unsigned worker) {
    if (item.is_dir) {
      if (opts_.past && opts_.past(child_key(item.parent->key, item.names[0]))) return;
      const int fd = ::openat(item.parent->fd.get(), item.names[0].c_str(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return;  // gone, or swapped for a symlink or a file since it was listed
      auto dir = std::make_shared<Dir>();
      dir->fd.reset(fd);
      dir->key = child_key(item.parent->key, item.names[0]);
      dir->depth = item.parent->depth + 1;
      dir->state = std::move(item.state);
      read_dir(dir, produced);
      return;
    }
    for (size_t i = 0; i < item.names.size(); ++i) {
      const std::string key = child_key(item.parent->key, item.names[i]);
      if (opts_.past && opts_.past(key)) continue;
      visit_(WalkFile{item.parent->fd.get(), item.names[i], key, worker,
                      i < item.dirs.size() && item.dirs[i]});
    }
  }

  // Lists `dir` and turns its entries into items, in name order.
  void read_dir(const std::shared_ptr<Dir>& dir, std::vector<Item>& out) {
    std::vector<DirEntry> entries;
    if (!list_dir(dir->fd.get(), entries)) return;
    std::sort(entries.begin(), entries.end(),
              [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
    const size_t before = seen_.fetch_add(entries.size());
    if (before + entries.size() > opts_.max_entries) {
      note_truncated();
      entries.resize(before >= opts_.max_entries ? 0 : opts_.max_entries - before);
    }
    Item files;
    const auto flush = [&] {
      if (files.names.empty()) return;
      files.parent = dir;
      out.push_back(std::move(files));
      files = Item{};
    };
    // A file or directory to visit, in name order with the rest of the run.
    const auto visit = [&](std::string name, bool is_dir) {
      if (opts_.name_glob && !opts_.name_glob->match(name)) return;
      if (dir->state && !opts_.path_glob->accepts_after(*dir->state, name)) return;
      files.names.push_back(std::move(name));
      files.dirs.push_back(is_dir);
      if (files.names.size() == kFilesPerItem) flush();
    };
    for (auto& e : entries) {
      unsigned char type = e.type;
      if (type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(dir->fd.get(), e.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_UNKNOWN;
      }
      if (type == DT_DIR) {
        if (!opts_.skip.empty() && std::find(opts_.skip.begin(), opts_.skip.end(),
                                             child_key(dir->key, e.name)) != opts_.skip.end())
          continue;
        if (opts_.dirs) visit(e.name, true);
        if (dir->depth + 1 > opts_.max_depth) {
          note_truncated();
          continue;
        }
        Item sub;
        if (dir->state) {
          sub.state = opts_.path_glob->step(*dir->state, e.name);
          if (sub.state->empty()) continue;  // nothing below can match
        }
        flush();
        sub.parent = dir;
        sub.is_dir = true;
        sub.names.push_back(std::move(e.name));
        out.push_back(std::move(sub));
      } else if (type == DT_REG) {
        visit(std::move(e.name), false);
      }
    }
    flush();
  }

  void note_truncated() {
    std::lock_guard<std::mutex> lock(m_);
    outcome_.truncated = true;
  }

  const WalkOptions& opts_;
  const std::function<void(const WalkFile&)>& visit_;
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Item> stack_;
  size_t busy_ = 0;
  bool stopped_ = false;
  std::exception_ptr error_;
  WalkOutcome outcome_;
  std::atomic<size_t> seen_{0};
};

}  // namespace

WalkOutcome walk_files(int dirfd, const WalkOptions& opts,
                       const std::function<void(const WalkFile&)>& visit) {
  return Walk(opts, visit).run(dirfd);
}

}  // namespace agent_runner::fs_plugin
