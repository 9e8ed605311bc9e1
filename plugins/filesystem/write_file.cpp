// SPDX-License-Identifier: Apache-2.0
// write, edit and upload put a file in place whole or not at all. Truncating the file and
// writing into it loses the old content when the disk fills up half way; instead the new content
// goes into a temporary file beside it (same directory, so same filesystem), is flushed to disk,
// and is renamed over the old one, which the kernel does atomically. Every name is looked up
// relative to a directory fd resolved beneath the workspace, and the temporary file is created
// O_EXCL (never through a symlink).
#include "file_ops.hpp"

#include <agent_runner/text.hpp>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unordered_map>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

// Symlinks followed at the leaf before giving up (as the kernel's ELOOP).
constexpr int kMaxLinks = 40;

void write_all_fd(int fd, std::string_view data, const std::string& path, std::string_view action) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, action);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
}

// A new, empty, uniquely named file in the directory `dirfd`, removed again unless keep().
class TempFile {
 public:
  TempFile(int dirfd, mode_t mode, const std::string& shown, std::string_view action)
      : dirfd_(dirfd) {
    for (int attempt = 0;; ++attempt) {
      // Random (a command cannot guess and pre-create it), new on every attempt.
      const std::string name = ".agent-runner-write-" + sdk::random_hex(8) + ".tmp";
      const int fd =
          ::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd >= 0) {
        fd_.reset(fd);
        name_ = name;
        return;
      }
      if (errno != EEXIST || attempt == 16) throw_errno(errno, shown, action);
    }
  }
  ~TempFile() {
    if (!name_.empty()) ::unlinkat(dirfd_, name_.c_str(), 0);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_.get(); }
  // Closes the file; the errno close(2) reports, or 0.
  int close() {
    const int fd = fd_.release();
    return ::close(fd) == 0 || errno == EINTR ? 0 : errno;
  }
  const std::string& name() const { return name_; }
  void keep() { name_.clear(); }

 private:
  int dirfd_;
  Fd fd_;
  std::string name_;
};

// Whether the filesystem of `fd` reserves space as write(2) is called, so that a full disk shows
// there and not only when the data is flushed later.
bool reserves_on_write(int fd) {
  struct statfs sf {};
  if (::fstatfs(fd, &sf) != 0) return false;
  switch (static_cast<unsigned long>(sf.f_type)) {
    case EXT4_SUPER_MAGIC:  // also ext2 and ext3
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case F2FS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:
      return true;
    default:
      return false;
  }
}

// Whether each ext4 filesystem mounted when the plugin was loaded orders a renamed file's data
// before the rename (see rename_keeps_content), by device: super-block options belong to the
// filesystem, so every bind mount of it shares them. Read once, at load, in the host's own mount
// namespace (a sandbox's view may have no /proc of its own, or a masked one); a filesystem mounted
// later is not in it and gets the fsync.
std::unordered_map<dev_t, bool> read_ext4_table() {
  std::unordered_map<dev_t, bool> out;
  std::FILE* f = std::fopen("/proc/self/mountinfo", "re");
  if (!f) return out;
  char* line = nullptr;
  size_t cap = 0;
  while (::getline(&line, &cap, f) > 0) {
    // "ID PARENT MAJOR:MINOR ROOT POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS"
    std::string_view l(line);
    while (!l.empty() && l.back() == '\n') l.remove_suffix(1);
    unsigned major = 0, minor = 0;
    if (std::sscanf(line, "%*s %*s %u:%u", &major, &minor) != 2) continue;
    const size_t dash = l.find(" - ");
    if (dash == std::string_view::npos) continue;
    std::string_view rest = l.substr(dash + 3);
    const size_t sp1 = rest.find(' ');
    if (sp1 == std::string_view::npos || rest.substr(0, sp1) != "ext4") continue;
    const size_t sp2 = rest.rfind(' ');
    if (sp2 == sp1) continue;
    std::string_view opts = rest.substr(sp2 + 1);
    bool safe = true;
    while (!opts.empty()) {
      const size_t comma = opts.find(',');
      const std::string_view o = opts.substr(0, comma);
      if (o == "noauto_da_alloc" || o == "data=writeback") safe = false;
      opts = comma == std::string_view::npos ? std::string_view() : opts.substr(comma + 1);
    }
    auto [it, fresh] = out.emplace(makedev(major, minor), safe);
    if (!fresh) it->second = it->second && safe;
  }
  std::free(line);
  std::fclose(f);
  return out;
}

const std::unordered_map<dev_t, bool> kExt4AtLoad = read_ext4_table();

// Whether renaming a new file over an existing one on the filesystem of `fd` already keeps the
// old content or the new one whole across a power cut, without an fsync:
//  - tmpfs: nothing of it survives a power cut (and its fsync does nothing);
//  - ext4 with auto_da_alloc (its default) in data=ordered (its default) or data=journal mode:
//    a rename over an existing file makes ext4 allocate the new file's delayed blocks before the
//    rename is journaled, and ordered mode writes those data blocks before the transaction that
//    holds the rename commits (Documentation/admin-guide/ext4.rst, "auto_da_alloc"). After a
//    crash the name holds the old file or the new one with its data, never an empty file.
//    Mounted noauto_da_alloc or data=writeback, it does not, and the fsync stays.
bool rename_keeps_content(int fd) {
  struct statfs sf {};
  if (::fstatfs(fd, &sf) != 0) return false;
  if (static_cast<unsigned long>(sf.f_type) == TMPFS_MAGIC) return true;
  if (static_cast<unsigned long>(sf.f_type) != EXT4_SUPER_MAGIC) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  const auto it = kExt4AtLoad.find(st.st_dev);
  return it != kExt4AtLoad.end() && it->second;
}

// Makes sure everything written to the temporary file is accounted for before it replaces
// anything. When it replaces an existing file, fsync, unless the filesystem itself orders the
// data before the rename (rename_keeps_content): without it a power cut right after the rename
// can leave an empty file on XFS and others, and the old content is what must never be lost
// (edits and overwrites). A new file has nothing to lose, so it is flushed only on a filesystem
// that may report a full disk (or an I/O error) no earlier than writeback (NFS, FUSE, ...).
// Everywhere, the error close(2) reports counts.
void finish(TempFile& tmp, bool replacing, const std::string& shown, std::string_view action) {
  const bool flush = replacing ? !rename_keeps_content(tmp.fd()) : !reserves_on_write(tmp.fd());
  if (flush && ::fsync(tmp.fd()) != 0) throw_errno(errno, shown, action);
  if (const int err = tmp.close(); err != 0) throw_errno(err, shown, action);
}

// Where a write lands: the directory and the name in it, after following a symlink at the leaf,
// and what is there now.
struct Target {
  SandboxPath path;
  Fd dir;
  bool exists = false;
  struct stat st {};
};

// Follows symlinks at the leaf by their text, relative to the sandbox path of the directory that
// holds them; an absolute target is a sandbox path in the container view and invalid_path in
// the host view, one climbing above the root is invalid_path, as for every other lookup. The
// directories on the way are resolved through the sandbox's files again.
Target find_target(const FileContext& ctx, const SandboxPath& p, const WriteMode& how,
                   std::string_view action) {
  Target t;
  t.path = p;
  t.dir =
      how.must_exist ? ctx.files.open_parent(p, action) : ctx.files.make_dirs(p.parent(), action);
  for (int links = 0;; ++links) {
    const std::string shown = t.path.display();
    if (::fstatat(t.dir.get(), t.path.leaf().c_str(), &t.st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) throw_errno(errno, shown, action);
      if (how.must_exist) throw_errno(ENOENT, shown, action);
      return t;
    }
    if (!S_ISLNK(t.st.st_mode)) {
      t.exists = true;
      return t;
    }
    if (!how.overwrite)
      throw Error(AR_ERR_ALREADY_EXISTS, std::string(action) + " " + p.display() +
                                             ": file already exists (pass overwrite: true to "
                                             "replace it)");
    if (links == kMaxLinks) throw_errno(ELOOP, p.display(), action);
    char buf[4096];
    const ssize_t n = ::readlinkat(t.dir.get(), t.path.leaf().c_str(), buf, sizeof buf - 1);
    if (n < 0) throw_errno(errno, shown, action);
    const std::string link(buf, static_cast<size_t>(n));
    if (link[0] == '/' && !ctx.files.absolute_links()) throw_errno(EXDEV, p.display(), action);
    SandboxPath next;
    try {
      next = parse_sandbox_path(link[0] == '/' ? link : t.path.parent().display() + "/" + link);
    } catch (const Error&) {
      throw_errno(EXDEV, p.display(), action);
    }
    if (next.is_root())
      throw Error(AR_ERR_IS_DIRECTORY,
                  std::string(action) + " " + p.display() + ": is a directory");
    t.dir = ctx.files.open_parent(next, action);
    t.path = std::move(next);
  }
}

}  // namespace

bool write_file(const FileContext& ctx, const SandboxPath& p, std::string_view content,
                const WriteMode& how, std::string_view action) {
  const std::string shown = p.display();
  const std::string what = std::string(action) + " " + shown;
  if (p.is_root()) throw Error(AR_ERR_IS_DIRECTORY, what + ": is a directory");
  if (content.size() > ctx.max_file_bytes)
    throw Error(AR_ERR_TOO_LARGE,
                what + ": " + std::to_string(content.size()) + " bytes is over the limit of " +
                    std::to_string(ctx.max_file_bytes) + " (sandbox.max_file_bytes)");
  Target t = find_target(ctx, p, how, action);
  if (t.exists) {
    if (S_ISDIR(t.st.st_mode)) throw Error(AR_ERR_IS_DIRECTORY, what + ": is a directory");
    check_file_type(t.st.st_mode, shown, action);
    if (!how.overwrite)
      throw Error(AR_ERR_ALREADY_EXISTS,
                  what + ": file already exists (pass overwrite: true to replace it)");
    // A rename needs only the directory to be writable; the file's own permission still decides
    // whether it may be replaced, as when it was written in place.
    if (::faccessat(t.dir.get(), t.path.leaf().c_str(), W_OK, AT_EACCESS) != 0)
      throw_errno(errno, shown, action);
  }
  const int dir = t.dir.get();
  const std::string& leaf = t.path.leaf();
  auto put = [&] {
    TempFile tmp(dir, how.mode >= 0 ? static_cast<mode_t>(how.mode & 0777) : 0644, shown, action);
    write_all_fd(tmp.fd(), content, shown, action);
    // The host's credentials do not change while it runs.
    static const uid_t euid = ::geteuid();
    static const gid_t egid = ::getegid();
    if (t.exists && (t.st.st_uid != euid || t.st.st_gid != egid))
      (void)::fchown(tmp.fd(), t.st.st_uid, t.st.st_gid);  // best effort: root can, others not
    const mode_t mode = how.mode >= 0 ? static_cast<mode_t>(how.mode & 0777)
                        : t.exists    ? t.st.st_mode & 07777
                                      : 0;
    if ((how.mode >= 0 || t.exists) && ::fchmod(tmp.fd(), mode) != 0)
      throw_errno(errno, shown, "chmod");
    finish(tmp, t.exists, shown, action);
    bool created = !t.exists;
    if (t.exists) {
      // A reference to the file being replaced, so that it is freed after the answer, not by
      // the rename (deferred_release.hpp). Whatever the name holds by now, only a reference.
      Fd old;
      if (ctx.replaced) old.reset(::openat(dir, leaf.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
      if (::renameat(dir, tmp.name().c_str(), dir, leaf.c_str()) != 0)
        throw_errno(errno, shown, action);
      tmp.keep();
      if (old) ctx.replaced->release(std::move(old), static_cast<uint64_t>(t.st.st_size));
    } else if (::renameat2(dir, tmp.name().c_str(), dir, leaf.c_str(), RENAME_NOREPLACE) == 0) {
      tmp.keep();
    } else if (errno == EINVAL) {
      // A filesystem without RENAME_NOREPLACE: a hard link refuses an existing name alike (the
      // temporary name is removed on the way out).
      if (::linkat(dir, tmp.name().c_str(), dir, leaf.c_str(), 0) != 0)
        throw_errno(errno, shown, action);
    } else if (errno == EEXIST && how.overwrite) {  // created meanwhile: replace it
      if (::renameat(dir, tmp.name().c_str(), dir, leaf.c_str()) != 0)
        throw_errno(errno, shown, action);
      tmp.keep();
      created = false;
    } else {
      throw_errno(errno, shown, action);
    }
    return created;
  };
  try {
    const uint64_t freed = ctx.replaced ? ctx.replaced->freed() : 0;
    try {
      return put();
    } catch (const Error& e) {
      // Replaced files this sandbox had not freed yet may be what the disk lacked: free them,
      // and if any was freed meanwhile, try once more, so that a write fails for want of space
      // only when there is none.
      if (e.status() != AR_ERR_NO_SPACE || !ctx.replaced) throw;
      ctx.replaced->flush();
      if (ctx.replaced->freed() == freed) throw;
    }
    return put();
  } catch (const Error& e) {
    if (e.status() != AR_ERR_NO_SPACE) throw;
    throw Error(AR_ERR_NO_SPACE,
                std::string(e.what()) +
                    (t.exists ? "; the file keeps its old content" : "; the file was not created") +
                    " (free space in the workspace and try again)");
  }
}

}  // namespace agent_runner::fs_plugin
