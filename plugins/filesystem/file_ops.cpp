// SPDX-License-Identifier: Apache-2.0
#include "file_ops.hpp"

#include "walk.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;
using sdk::Result;

std::string read_all(int fd, uint64_t max, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_errno(errno, path, "read");
  if (S_ISDIR(st.st_mode)) throw Error(AR_ERR_IS_DIRECTORY, "read " + path + ": is a directory");
  if (!S_ISREG(st.st_mode))
    throw Error(AR_ERR_INVALID_ARGUMENT, "read " + path + ": not a regular file");
  auto too_large = [&](uint64_t size) {
    return Error(AR_ERR_TOO_LARGE, "read " + path + ": " + std::to_string(size) +
                                       " bytes is over the limit of " + std::to_string(max) +
                                       " (sandbox.max_file_bytes)");
  };
  if (static_cast<uint64_t>(st.st_size) > max) throw too_large(static_cast<uint64_t>(st.st_size));
  std::string out;
  out.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  for (;;) {
    if (got == out.size()) {
      if (out.size() >= max + 1) break;
      out.resize(std::min<uint64_t>(max + 1, out.size() + 65536));  // the file grew
    }
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno(errno, path, "read");
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  if (got > max) throw too_large(got);
  return out;
}

namespace {

// What ls shows of an entry besides its name.
struct EntryInfo {
  bool ok = false;  // false: gone since it was listed
  bool is_dir = false;
  int64_t size = 0;
  time_t mtime = 0;
};

// Only what an entry shows (type, size, mtime), and no waiting on a remote filesystem's sync.
EntryInfo stat_entry(int dirfd, const std::string& name) {
  struct statx sx {};
  if (::statx(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
              STATX_TYPE | STATX_SIZE | STATX_MTIME, &sx) != 0)
    return {};
  return {true, S_ISDIR(sx.stx_mode), static_cast<int64_t>(sx.stx_size),
          static_cast<time_t>(sx.stx_mtime.tv_sec)};
}

// A directory this big is stat'ed by several threads (one lookup per entry is most of an ls).
constexpr size_t kParallelStatEntries = 4096;

std::vector<EntryInfo> stat_entries(int dirfd, const std::vector<DirEntry>& names) {
  std::vector<EntryInfo> out(names.size());
  const size_t threads =
      names.size() < kParallelStatEntries ? 1 : std::min<size_t>(walk_thread_count(0), 8);
  const auto run = [&](size_t part) {
    for (size_t i = part * names.size() / threads; i < (part + 1) * names.size() / threads; ++i)
      out[i] = stat_entry(dirfd, names[i].name);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(run, t);
  run(0);
  for (auto& h : helpers) h.join();
  return out;
}

}  // namespace

Result op_ls(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = ctx.files.path_arg(req, "path", ".");
  Fd dir = ctx.files.open(p, O_RDONLY | O_DIRECTORY, "ls");
  std::vector<DirEntry> names;
  if (!list_dir(dir.get(), names)) throw_errno(errno, p.display(), "ls");
  // Sorting the names sorts the paths: they share the directory's prefix.
  std::sort(names.begin(), names.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  const std::vector<EntryInfo> info = stat_entries(dir.get(), names);
  // One arena for the whole answer: no allocation and no free per entry.
  const json::storage_ptr sp = json::make_shared_resource<json::monotonic_resource>();
  json::array entries(sp);
  entries.reserve(names.size());
  std::string path = p.is_root() ? "/" : p.display() + "/";
  const size_t prefix = path.size();
  char when[32];
  for (size_t i = 0; i < names.size(); ++i) {
    if (!info[i].ok) continue;
    path.resize(prefix);
    path += names[i].name;
    entries.push_back(sdk::file_entry(path, info[i].is_dir, info[i].size,
                                      sdk::format_iso_time_utc(info[i].mtime, when), sp));
  }
  json::object body(sp);
  body["path"] = p.display();
  body["entries"] = std::move(entries);
  return Result::ok(std::move(body));
}

Result op_read(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = ctx.files.path_arg(req, "path");
  const auto window = sdk::LineWindow::from_request(req);
  Fd f = ctx.files.open_file(p, O_RDONLY, "read");
  return window.result(p.display(), read_all(f.get(), ctx.max_file_bytes, p.display()));
}

Result op_write(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = ctx.files.path_arg(req, "path");
  const bool overwrite = sdk::json_get::boolean(req, "overwrite", false);
  std::string_view content = call.input_count() > 0 ? call.input(0) : std::string_view();
  if (call.input_count() == 0) {
    if (auto c = sdk::json_get::opt_string(req, "content"))
      throw Error(AR_ERR_INVALID_ARGUMENT, "write: pass the content as the input buffer");
  }
  bool created = write_file(ctx, p, content, WriteMode{.overwrite = overwrite}, "write");
  return Result::ok({{"path", p.display()},
                     {"bytes_written", static_cast<int64_t>(content.size())},
                     {"created", created}});
}

Result op_edit(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = ctx.files.path_arg(req, "path");
  const auto edit = sdk::TextEdit::from_request(req);
  int64_t count = 0;
  std::string out;
  {
    Fd f = ctx.files.open_file(p, O_RDONLY, "edit");
    out = edit.apply(read_all(f.get(), ctx.max_file_bytes, p.display()), ctx.max_file_bytes,
                     p.display(), count);
  }
  write_file(ctx, p, out, WriteMode{.overwrite = true, .must_exist = true}, "edit");
  return Result::ok({{"path", p.display()}, {"occurrences", count}});
}

Result op_upload(const FileContext& ctx, sdk::Call& call) {
  return sdk::upload_files(
      call, [&](std::string_view raw) { return ctx.files.path(raw); },
      [&](const SandboxPath& p, std::string_view content, int mode) {
        write_file(ctx, p, content, WriteMode{.overwrite = true, .mode = mode}, "upload");
      });
}

Result op_download(const FileContext& ctx, sdk::Call& call) {
  const auto resolve = [&](std::string_view raw) { return ctx.files.path(raw); };
  return sdk::download_files(call.request(), resolve, [&](const SandboxPath& p) {
    Fd f = ctx.files.open_file(p, O_RDONLY, "download");
    struct stat st {};
    if (::fstat(f.get(), &st) != 0) throw_errno(errno, p.display(), "download");
    return sdk::DownloadedFile{read_all(f.get(), ctx.max_file_bytes, p.display()),
                               static_cast<int64_t>(st.st_mode & 07777)};
  });
}

// Removes everything inside the directory `dfd` without following any symlink.
void remove_tree(int dfd, const std::string& shown) {
  int fd = ::openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno(errno, shown, "delete");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    throw_errno(errno, shown, "delete");
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  for (const auto& n : names) {
    struct stat st {};
    if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) {
        int err = errno;
        ::closedir(d);
        throw_errno(err, shown + "/" + n, "delete");
      }
      try {
        remove_tree(sub, shown + "/" + n);
      } catch (...) {
        ::close(sub);
        ::closedir(d);
        throw;
      }
      ::close(sub);
      if (::unlinkat(::dirfd(d), n.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
        int err = errno;
        ::closedir(d);
        throw_errno(err, shown + "/" + n, "delete");
      }
    } else if (::unlinkat(::dirfd(d), n.c_str(), 0) != 0 && errno != ENOENT) {
      int err = errno;
      ::closedir(d);
      throw_errno(err, shown + "/" + n, "delete");
    }
  }
  ::closedir(d);
}

Result op_delete(const FileContext& ctx, sdk::Call& call) {
  const auto& req = call.request();
  SandboxPath p = ctx.files.path_arg(req, "path");
  const bool recursive = sdk::json_get::boolean(req, "recursive", false);
  if (p.is_root()) throw Error(AR_ERR_INVALID_PATH, "delete /: the sandbox root cannot be deleted");
  if (ctx.files.is_mount_point(p))
    throw Error(AR_ERR_INVALID_PATH,
                "delete " + p.display() +
                    ": the sandbox mounts it there (the workspace, /tmp or a system directory); "
                    "it cannot be deleted or emptied by a file operation");
  Fd parent = ctx.files.open_parent(p, "delete");
  const std::string& leaf = p.leaf();
  struct stat st {};
  if (::fstatat(parent.get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    throw_errno(errno, p.display(), "delete");
  if (S_ISDIR(st.st_mode)) {
    if (recursive) {
      int sub =
          ::openat(parent.get(), leaf.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0) throw_errno(errno, p.display(), "delete");
      Fd subfd(sub);
      remove_tree(subfd.get(), p.display());
    }
    if (::unlinkat(parent.get(), leaf.c_str(), AT_REMOVEDIR) != 0) {
      if (errno == ENOTEMPTY || errno == EEXIST) throw_errno(ENOTEMPTY, p.display(), "delete");
      throw_errno(errno, p.display(), "delete");
    }
  } else if (::unlinkat(parent.get(), leaf.c_str(), 0) != 0) {
    throw_errno(errno, p.display(), "delete");
  }
  return Result::ok({{"path", p.display()}, {"deleted", true}});
}

}  // namespace agent_runner::fs_plugin
