// SPDX-License-Identifier: Apache-2.0
#include "paths.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>

namespace agent_runner::fs_plugin {
using sdk::Error;

void throw_errno(int err, const std::string& path, std::string_view action) {
  const std::string what = std::string(action) + " " + path + ": ";
  switch (err) {
    case ENOENT:
      throw Error(AR_ERR_FILE_NOT_FOUND, what + "no such file or directory");
    case EXDEV:
    case ELOOP:
      throw Error(AR_ERR_INVALID_PATH,
                  what +
                      "the path leads outside the sandbox (through '..', an absolute or "
                      "escaping symlink, or a magic link)");
    case ENOTDIR:
      throw Error(AR_ERR_NOT_A_DIRECTORY, what + "a component of the path is not a directory");
    case EISDIR:
      throw Error(AR_ERR_IS_DIRECTORY, what + "is a directory");
    case EEXIST:
      throw Error(AR_ERR_ALREADY_EXISTS, what + "already exists");
    case EROFS:
      throw Error(AR_ERR_PERMISSION_DENIED,
                  what + "read-only (this part of the sandbox's filesystem is mounted read-only)");
    case EACCES:
    case EPERM:
      throw Error(AR_ERR_PERMISSION_DENIED, what + std::strerror(err));
    case ENAMETOOLONG:
      throw Error(AR_ERR_INVALID_PATH, what + "path is too long");
    case EFBIG:
      throw Error(AR_ERR_TOO_LARGE, what + std::strerror(err));
    case ENOSPC:
      throw Error(AR_ERR_NO_SPACE, what + "no space left on the device");
    case EDQUOT:
      throw Error(AR_ERR_NO_SPACE, what + "no space left (disk quota exceeded)");
    case ENXIO:  // opening a FIFO for writing with no reader, or a socket
      throw Error(AR_ERR_INVALID_PATH, what + "not a regular file (a FIFO or socket)");
    case ENOTEMPTY:
      throw Error(AR_ERR_INVALID_ARGUMENT,
                  what + "directory is not empty (pass recursive: true to delete it)");
    default:
      throw Error(AR_ERR_INTERNAL,
                  what + std::strerror(err) + " (errno " + std::to_string(err) + ")");
  }
}

namespace {

std::atomic<int> g_openat2_state{0};  // 0 unknown, 1 available, -1 missing

int sys_openat2(int dirfd, const char* path, int flags, mode_t mode, bool in_root = false) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = (in_root ? RESOLVE_IN_ROOT : RESOLVE_BENEATH) | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: a concurrent rename raced the lookup and the kernel asks for a retry. Bounded: a
  // command renaming in a loop inside the workspace must not make a file operation spin forever.
  for (int attempt = 0;; ++attempt) {
    long fd = ::syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno == EINTR || (errno == EAGAIN && attempt < 1000)) continue;
    return -errno;
  }
}

}  // namespace

bool Resolver::openat2_available() {
  int st = g_openat2_state.load();
  if (st == 0) {
    int fd = sys_openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0);
    st = (fd == -ENOSYS) ? -1 : 1;
    if (fd >= 0) ::close(fd);
    g_openat2_state.store(st);
  }
  return st > 0;
}

Resolver::Resolver(int root_fd, bool force_walk, bool in_root, SandboxPath prefix)
    : root_fd_(root_fd), force_walk_(force_walk), in_root_(in_root), prefix_(std::move(prefix)) {}

bool Resolver::holds(const SandboxPath& p) const {
  return p.parts.size() >= prefix_.parts.size() &&
         std::equal(prefix_.parts.begin(), prefix_.parts.end(), p.parts.begin());
}

std::vector<std::string> Resolver::below(const SandboxPath& p) const {
  return {p.parts.begin() + static_cast<std::ptrdiff_t>(prefix_.parts.size()), p.parts.end()};
}

// The kernel's own filesystems. In the container view a symlink can lead into its /proc: file
// operations (which run with agent-runner's rights, not a command's) do not go there.
static bool kernel_filesystem(int fd) {
  struct statfs sf {};
  if (::fstatfs(fd, &sf) != 0) return false;
  switch (static_cast<unsigned long>(sf.f_type)) {
    case PROC_SUPER_MAGIC:
    case SYSFS_MAGIC:
    case DEBUGFS_MAGIC:
    case TRACEFS_MAGIC:
    case SECURITYFS_MAGIC:
    case CGROUP_SUPER_MAGIC:
    case CGROUP2_SUPER_MAGIC:
    case BPF_FS_MAGIC:
      return true;
    default:
      return false;
  }
}

int Resolver::open_beneath(const SandboxPath& p, int flags, mode_t mode) const {
  flags |= O_CLOEXEC;
  if (!holds(p)) return -EXDEV;
  const std::vector<std::string> parts = below(p);
  int fd;
  if (uses_openat2()) {
    std::string rel;
    for (const auto& part : parts) (rel += rel.empty() ? "" : "/") += part;
    fd = sys_openat2(root_fd_, rel.empty() ? "." : rel.c_str(), flags, mode, in_root_);
  } else {
    fd = walk(parts, flags, mode);
  }
  if (fd >= 0 && in_root_ && kernel_filesystem(fd)) {
    ::close(fd);
    return -EACCES;
  }
  return fd;
}

// The fallback for kernels without openat2: one component at a time, never letting the kernel
// follow a symlink (O_NOFOLLOW); symlink targets are spliced in by hand. Beneath a root, absolute
// targets and `..` above the root are refused; in a root, `..` stops at it and an absolute
// target starts from it again.
int Resolver::walk(const std::vector<std::string>& parts, int flags, mode_t mode) const {
  std::vector<Fd> dirs;
  {
    int r = ::openat(root_fd_, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r < 0) return -errno;
    dirs.emplace_back(r);
  }
  std::deque<std::string> todo(parts.begin(), parts.end());
  int links = 0;
  if (todo.empty()) {
    int r = ::openat(root_fd_, ".", flags, mode);
    return r < 0 ? -errno : r;
  }
  auto splice_link = [&](int dirfd, const std::string& name) -> int {
    if (++links > 40) return -ELOOP;
    char buf[4096];
    ssize_t n = ::readlinkat(dirfd, name.c_str(), buf, sizeof buf - 1);
    if (n < 0) return -errno;
    buf[n] = '\0';
    if (buf[0] == '/') {
      if (!in_root_) return -EXDEV;
      dirs.resize(1);
    }
    std::vector<std::string> parts;
    std::string_view t(buf, static_cast<size_t>(n));
    size_t i = 0;
    while (i <= t.size()) {
      size_t j = t.find('/', i);
      if (j == std::string_view::npos) j = t.size();
      if (j > i) parts.emplace_back(t.substr(i, j - i));
      i = j + 1;
    }
    todo.insert(todo.begin(), parts.begin(), parts.end());
    return 0;
  };
  while (!todo.empty()) {
    std::string name = std::move(todo.front());
    todo.pop_front();
    if (name == "." || name.empty()) {
      if (todo.empty()) {
        int r = ::openat(dirs.back().get(), ".", flags, mode);
        return r < 0 ? -errno : r;
      }
      continue;
    }
    if (name == "..") {
      if (dirs.size() == 1 && !in_root_) return -EXDEV;
      if (dirs.size() > 1) dirs.pop_back();
      if (todo.empty()) {
        int r = ::openat(dirs.back().get(), ".", flags, mode);
        return r < 0 ? -errno : r;
      }
      continue;
    }
    const int dfd = dirs.back().get();
    struct stat st {};
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      if (todo.empty() && (flags & O_NOFOLLOW)) return -ELOOP;
      if (int r = splice_link(dfd, name); r < 0) return r;
      continue;
    }
    if (!todo.empty()) {
      int r = ::openat(dfd, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (r < 0) {
        if (errno == ELOOP) {  // became a symlink since the fstatat: take it from the top
          todo.push_front(name);
          continue;
        }
        return -errno;
      }
      dirs.emplace_back(r);
      continue;
    }
    int r = ::openat(dfd, name.c_str(), flags | O_NOFOLLOW, mode);
    if (r < 0) {
      if (errno == ELOOP && !(flags & O_NOFOLLOW)) {  // swapped to a symlink: resolve it by hand
        todo.push_front(name);
        if (++links > 40) return -ELOOP;
        continue;
      }
      return -errno;
    }
    return r;
  }
  // The last component was a symlink to a directory already open ("/" in a root).
  const int r = ::openat(dirs.back().get(), ".", flags, mode);
  return r < 0 ? -errno : r;
}

Fd Resolver::open(const SandboxPath& p, int flags, std::string_view action, mode_t mode) const {
  int r = open_beneath(p, flags, mode);
  if (r < 0) throw_errno(-r, p.display(), action);
  return Fd(r);
}

void check_file_type(mode_t mode, const std::string& path, std::string_view action) {
  if (S_ISREG(mode) || S_ISDIR(mode)) return;
  const char* what = S_ISFIFO(mode)                   ? "is a FIFO"
                     : S_ISSOCK(mode)                 ? "is a socket"
                     : S_ISCHR(mode) || S_ISBLK(mode) ? "is a device"
                                                      : "is not a regular file";
  throw Error(AR_ERR_INVALID_PATH, std::string(action) + " " + path + ": " + what +
                                       " (only regular files and directories can be used)");
}

Fd Resolver::open_file(const SandboxPath& p, int flags, std::string_view action) const {
  struct stat st {};
  {
    Fd probe = open(p, O_PATH, action);
    if (::fstat(probe.get(), &st) != 0) throw_errno(errno, p.display(), action);
    check_file_type(st.st_mode, p.display(), action);
  }
  // Between the two opens a command may swap in something else: O_NONBLOCK keeps that open from
  // blocking, and the type is checked again on what was opened.
  Fd f = open(p, flags | O_NONBLOCK | O_NOCTTY, action);
  if (::fstat(f.get(), &st) != 0) throw_errno(errno, p.display(), action);
  check_file_type(st.st_mode, p.display(), action);
  return f;
}

Fd Resolver::open_parent(const SandboxPath& p, std::string_view action) const {
  if (p.is_root())
    throw Error(AR_ERR_INVALID_PATH, std::string(action) + " /: not allowed on the sandbox root");
  if (p == prefix_)
    throw Error(AR_ERR_INVALID_PATH, std::string(action) + " " + p.display() +
                                         ": not allowed on the workspace or tmp directory itself");
  return open(p.parent(), O_PATH | O_DIRECTORY, action);
}

Fd Resolver::make_dirs(const SandboxPath& p, std::string_view action) const {
  if (!holds(p)) throw_errno(EXDEV, p.display(), action);
  SandboxPath cur = prefix_;
  Fd dir = open(cur, O_PATH | O_DIRECTORY, action);
  for (const auto& part : below(p)) {
    SandboxPath next = cur.child(part);
    int r = open_beneath(next, O_PATH | O_DIRECTORY);
    if (r == -ENOENT) {
      if (::mkdirat(dir.get(), part.c_str(), 0755) != 0 && errno != EEXIST)
        throw_errno(errno, next.display(), action);
      r = open_beneath(next, O_PATH | O_DIRECTORY);
    }
    if (r < 0) throw_errno(-r, next.display(), action);
    dir.reset(r);
    cur = std::move(next);
  }
  return dir;
}

}  // namespace agent_runner::fs_plugin
