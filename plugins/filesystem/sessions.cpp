#include "sessions.hpp"

#include "file_ops.hpp"
#include "paths.hpp"
#include "workspace.hpp"

#include <agent_runner/sandbox_ops.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;
using sdk::Result;
using namespace std::chrono;

namespace {

constexpr const char* kControlDir = ".sessions";
// The session's own tmp directory, where the plugin keeps one (root_dir/.tmp/<key>).
constexpr const char* kSessionTmp = ".tmp";
// How long an opener waits for a removal that holds the workspace's lock to finish.
constexpr milliseconds kOpenWait{30000};
// --force: how long the remover waits for the commands it cancelled to stop (their host
// processes poll every 50 ms) and for their sandboxes to close; then it removes the session
// anyway (a sandbox held open but idle, as by `serve --mcp`, finds it gone on its next call).
constexpr milliseconds kForceWait{10000};
constexpr milliseconds kIdleHolderWait{1000};
// Entries counted for size_bytes before giving up (null).
constexpr size_t kMaxSizeEntries = 200000;

std::string use_name(const std::string& key) {
  return "use-" + key;
}
std::string cancel_name(const std::string& key) {
  return "cancel-" + key;
}

// root_dir/.sessions (created with `create`); no fd when it is not there.
sdk::Fd control_dir(int root_fd, bool create) {
  if (create && ::mkdirat(root_fd, kControlDir, 0700) != 0 && errno != EEXIST)
    throw_errno(errno, kControlDir, "creating the sessions' control directory");
  return sdk::Fd(::openat(root_fd, kControlDir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// A file of the control directory, not following a symlink.
sdk::Fd control_file(int root_fd, const std::string& name, int flags) {
  sdk::Fd dir = control_dir(root_fd, (flags & O_CREAT) != 0);
  if (!dir) return {};
  return sdk::Fd(::openat(dir.get(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, 0600));
}

void touch_use(int root_fd, const std::string& key) {
  sdk::Fd f = control_file(root_fd, use_name(key), O_RDWR | O_CREAT);
  if (f) ::futimens(f.get(), nullptr);
}

bool cancel_pending(int root_fd, const std::string& key) {
  struct stat st {};
  return ::fstatat(root_fd, (std::string(kControlDir) + "/" + cancel_name(key)).c_str(), &st,
                   AT_SYMLINK_NOFOLLOW) == 0;
}

// Whether someone else holds a lock on `fd` that excludes an exclusive one. Takes and drops it
// otherwise (keep: keeps it).
bool locked_by_others(int fd, bool keep = false) {
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return errno == EWOULDBLOCK;
  if (!keep) ::flock(fd, LOCK_UN);
  return false;
}

std::string root_path(const FsConfig& cfg) {
  std::error_code ec;
  auto root = std::filesystem::absolute(cfg.root_dir, ec).lexically_normal().string();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  return root;
}

sdk::Fd open_root(const std::string& root) {
  sdk::Fd fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!fd && errno != ENOENT) throw_errno(errno, root, "opening sandbox.root_dir");
  return fd;
}

// The session's workspace, opened for locking; no fd when there is no such session.
sdk::Fd open_workspace(int root_fd, const std::string& key) {
  return sdk::Fd(::openat(root_fd, key.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// Disk usage of a tree (st_blocks), never following a symlink; nullopt past kMaxSizeEntries.
bool add_usage(int dfd, uint64_t& total, size_t& entries) {
  sdk::Fd own(::openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  DIR* d = own ? ::fdopendir(own.release()) : nullptr;
  if (!d) return true;
  std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
  while (dirent* e = ::readdir(d)) {
    const std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    if (++entries > kMaxSizeEntries) return false;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    total += static_cast<uint64_t>(st.st_blocks) * 512;
    if (!S_ISDIR(st.st_mode)) continue;
    sdk::Fd sub(::openat(::dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub && !add_usage(sub.get(), total, entries)) return false;
  }
  return true;
}

// root_dir/.tmp/<key>, when the session has one.
sdk::Fd open_session_tmp(int root_fd, const std::string& key) {
  sdk::Fd parent(::openat(root_fd, kSessionTmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!parent) return {};
  return open_workspace(parent.get(), key);
}

json::object describe(int root_fd, const std::string& root, const std::string& key, int ws_fd,
                      time_t now) {
  struct statx sx {};
  ::statx(ws_fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx);
  const bool open = locked_by_others(ws_fd);
  bool running = false;
  time_t used = sx.stx_mtime.tv_sec;
  if (sdk::Fd use = control_file(root_fd, use_name(key), O_RDONLY)) {
    struct stat st {};
    if (::fstat(use.get(), &st) == 0) used = st.st_mtime;
    running = locked_by_others(use.get());
  }
  const std::string workspace = root + "/" + key;
  json::object e{{"session", key},
                 {"sandbox_id", workspace},
                 {"state", open ? "running" : "stopped"},
                 {"in_use", open},
                 {"command_running", running},
                 {"created_at", nullptr},
                 {"last_used_at", sdk::iso_time_utc(used)},
                 {"idle_s", static_cast<int64_t>(std::max<time_t>(0, now - used))},
                 {"size_bytes", nullptr},
                 {"labels", nullptr},
                 {"workspace", workspace}};
  if (sx.stx_mask & STATX_BTIME) e["created_at"] = sdk::iso_time_utc(sx.stx_btime.tv_sec);
  uint64_t total = static_cast<uint64_t>(sx.stx_blocks) * 512;
  size_t entries = 0;
  bool complete = add_usage(ws_fd, total, entries);
  if (sdk::Fd tmp = open_session_tmp(root_fd, key)) {
    e["tmp_dir"] = root + "/" + kSessionTmp + "/" + key;
    complete = complete && add_usage(tmp.get(), total, entries);
  }
  if (complete) e["size_bytes"] = static_cast<int64_t>(total);
  return e;
}

// Seconds since the session's last use.
int64_t idle_seconds(int root_fd, const std::string& key, int ws_fd) {
  struct stat st {};
  if (::fstat(ws_fd, &st) != 0) return 0;
  time_t used = st.st_mtime;
  if (sdk::Fd use = control_file(root_fd, use_name(key), O_RDONLY))
    if (::fstat(use.get(), &st) == 0) used = st.st_mtime;
  return std::max<int64_t>(0, ::time(nullptr) - used);
}

// Removes the workspace, the session's tmp directory and its use file.
void remove_session(int root_fd, const std::string& root, const std::string& key, int ws_fd) {
  const std::string workspace = root + "/" + key;
  remove_tree(ws_fd, workspace);
  if (::unlinkat(root_fd, key.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    throw_errno(errno, workspace, "removing the session's workspace");
  if (sdk::Fd tmp = open_session_tmp(root_fd, key)) {
    const std::string shown = root + "/" + kSessionTmp + "/" + key;
    remove_tree(tmp.get(), shown);
    sdk::Fd parent(::openat(root_fd, kSessionTmp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (parent) ::unlinkat(parent.get(), key.c_str(), AT_REMOVEDIR);
  }
  if (sdk::Fd dir = control_dir(root_fd, false)) ::unlinkat(dir.get(), use_name(key).c_str(), 0);
}

}  // namespace

// --- SessionHold ---------------------------------------------------------------------------------

SessionHold::SessionHold(const std::string& workspace, int ws_fd, const std::string& key)
    : key_(key), workspace_(workspace) {
  const std::string root = std::filesystem::path(workspace).parent_path().string();
  root_ = open_root(root);
  if (root_) lock_ = open_workspace(root_.get(), key);
  struct stat a {
  }, b{};
  if (!lock_ || ::fstat(lock_.get(), &a) != 0 || ::fstat(ws_fd, &b) != 0 || a.st_dev != b.st_dev ||
      a.st_ino != b.st_ino)
    throw Error(AR_ERR_CONFLICT, "session '" + key + "': its workspace " + workspace +
                                     " was removed while the sandbox opened; try again");
  // Shared: several sandboxes may use one session. Only a remover holds it exclusively.
  const auto deadline = steady_clock::now() + kOpenWait;
  while (::flock(lock_.get(), LOCK_SH | LOCK_NB) != 0) {
    if (steady_clock::now() >= deadline)
      throw Error(AR_ERR_CONFLICT,
                  "session '" + key + "' is being removed (agent-runner sessions rm); try again");
    std::this_thread::sleep_for(milliseconds(10));
  }
  if (std::string why = gone(); !why.empty()) throw Error(AR_ERR_CONFLICT, why + "; try again");
  touch_use(root_.get(), key_);
}

SessionHold::~SessionHold() {
  release();
}

void SessionHold::release() {
  if (!lock_) return;
  touch_use(root_.get(), key_);
  lock_.reset();  // closing the descriptor drops the lock
}

std::string SessionHold::gone() const {
  struct stat st {};
  if (!lock_ || ::fstat(lock_.get(), &st) != 0 || st.st_nlink == 0)
    return "session '" + key_ + "' was removed (agent-runner sessions rm)";
  if (cancel_pending(root_.get(), key_))
    return "session '" + key_ + "' is being removed (agent-runner sessions rm --force)";
  return "";
}

SessionHold::Running::Running(const SessionHold& hold) : hold_(hold) {
  use_ = control_file(hold.root_.get(), use_name(hold.key_), O_RDWR | O_CREAT);
  if (!use_) return;             // last use and --force's wait then fall back to the workspace lock
  ::flock(use_.get(), LOCK_SH);  // a remover only tests it: held for an instant
  ::futimens(use_.get(), nullptr);
}

SessionHold::Running::~Running() {
  if (use_) ::futimens(use_.get(), nullptr);
}

bool SessionHold::Running::stop_requested() {
  if (stopped_) return true;
  if (cancel_pending(hold_.root_.get(), hold_.key_)) {
    // Counted by the remover: one byte per command stopped.
    sdk::Fd f = control_file(hold_.root_.get(), cancel_name(hold_.key_), O_WRONLY | O_APPEND);
    const ssize_t n = f ? ::write(f.get(), "x", 1) : 0;
    (void)n;  // an acknowledgement lost only changes the count the remover prints
    stopped_ = true;
  } else if (!hold_.gone().empty()) {
    stopped_ = true;
  }
  return stopped_;
}

// --- the plugin-level slots --------------------------------------------------------------------

Result list_fs_sessions(const FsConfig& cfg, const json::object& request) {
  const auto only = sdk::json_get::opt_string(request, "session");
  json::array out;
  // layout: shared is one directory for every sandbox: no session has a workspace of its own.
  if (cfg.layout == Layout::shared) return Result::ok({{"sessions", std::move(out)}});
  const std::string root = root_path(cfg);
  sdk::Fd root_fd = open_root(root);
  if (!root_fd) return Result::ok({{"sessions", std::move(out)}});
  std::vector<std::string> keys;
  if (only) {
    keys.push_back(*only);
  } else {
    sdk::Fd list(::openat(root_fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    DIR* d = list ? ::fdopendir(list.release()) : nullptr;
    if (!d) throw_errno(errno, root, "listing sandbox.root_dir");
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    while (dirent* e = ::readdir(d)) keys.emplace_back(e->d_name);
  }
  std::sort(keys.begin(), keys.end());
  const time_t now = ::time(nullptr);
  for (const auto& key : keys) {
    try {
      check_session_name(key);  // also skips ".", "..", .ephemeral-*, .sessions, .tmp
    } catch (const Error&) {
      continue;
    }
    sdk::Fd ws = open_workspace(root_fd.get(), key);
    if (!ws) continue;  // a file, a symlink, or removed meanwhile
    out.push_back(describe(root_fd.get(), root, key, ws.get(), now));
  }
  return Result::ok({{"sessions", std::move(out)}});
}

Result destroy_fs_session(const FsConfig& cfg, const json::object& request) {
  const std::string key = sdk::json_get::string(request, "session");
  check_session_name(key);
  const bool force = sdk::json_get::boolean(request, "force", false);
  const int64_t idle_s = sdk::json_get::integer(request, "idle_s", -1);
  const std::string root = root_path(cfg);
  auto not_found = [&] {
    return Error(AR_ERR_NOT_FOUND,
                 cfg.layout == Layout::shared
                     ? "no session '" + key + "': with layout: shared no session has a workspace"
                     : "no session '" + key + "': no workspace " + root + "/" + key);
  };
  if (cfg.layout == Layout::shared) throw not_found();
  sdk::Fd root_fd = open_root(root);
  if (!root_fd) throw not_found();
  sdk::Fd ws = open_workspace(root_fd.get(), key);
  if (!ws) throw not_found();
  json::object done{{"session", key}, {"destroyed", true}, {"sandbox_id", root + "/" + key}};

  if (!locked_by_others(ws.get(), /*keep=*/true)) {
    // Nobody has it open, and nobody can open it while the lock is ours.
    struct stat st {};
    if (::fstat(ws.get(), &st) == 0 && st.st_nlink == 0) throw not_found();  // removed meanwhile
    if (idle_s >= 0) {
      const int64_t idle = idle_seconds(root_fd.get(), key, ws.get());
      if (idle < idle_s)
        return Result::ok({{"session", key},
                           {"destroyed", false},
                           {"reason", "used " + std::to_string(idle) + " s ago"}});
    }
    remove_session(root_fd.get(), root, key, ws.get());
    done["cancelled"] = 0;
    return Result::ok(std::move(done));
  }
  if (!force || idle_s >= 0)
    throw Error(AR_ERR_CONFLICT, "a sandbox of another agent-runner process has it open");

  // --force: ask the running commands to stop, wait (bounded) for them and for the sandboxes to
  // close, then remove it in any case.
  sdk::Fd cancel = control_file(root_fd.get(), cancel_name(key), O_RDWR | O_CREAT);
  if (!cancel) throw_errno(errno, root + "/" + kControlDir, "marking the session's removal");
  if (::flock(cancel.get(), LOCK_EX | LOCK_NB) != 0)
    throw Error(AR_ERR_CONFLICT, "another `sessions rm --force` is removing it");
  if (::ftruncate(cancel.get(), 0) != 0) throw_errno(errno, cancel_name(key), "truncate");
  const auto start = steady_clock::now();
  auto idle_since = start;
  while (steady_clock::now() - start < kForceWait) {
    if (!locked_by_others(ws.get(), /*keep=*/true)) break;
    sdk::Fd use = control_file(root_fd.get(), use_name(key), O_RDONLY);
    if (use && locked_by_others(use.get()))
      idle_since = steady_clock::now();
    else if (steady_clock::now() - idle_since >= kIdleHolderWait)
      break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  struct stat st {};
  const int64_t cancelled = ::fstat(cancel.get(), &st) == 0 ? st.st_size : 0;
  try {
    remove_session(root_fd.get(), root, key, ws.get());
  } catch (...) {
    if (sdk::Fd dir = control_dir(root_fd.get(), false))
      ::unlinkat(dir.get(), cancel_name(key).c_str(), 0);
    throw;
  }
  if (sdk::Fd dir = control_dir(root_fd.get(), false))
    ::unlinkat(dir.get(), cancel_name(key).c_str(), 0);
  done["cancelled"] = cancelled;
  return Result::ok(std::move(done));
}

}  // namespace agent_runner::fs_plugin
