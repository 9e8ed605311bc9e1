// SPDX-License-Identifier: Apache-2.0
// tmpdir: an example sandbox plugin, built out of tree against the SDK alone (README.md). Each
// sandbox is a fresh directory (0700) under `base_dir`, removed on release; with a session KEY it
// is base_dir/agent-runner-tmpdir-session-KEY, kept. It shows the descriptor (AGENT_RUNNER_PLUGIN,
// at the bottom), a config whose only definition is its JSON Schema (sdk::ConfigSchema checks and
// reads it), execute (own process group, killed on timeout or cancel), ls/read/write beneath the
// directory (openat2 RESOLVE_BENEATH) and the session slots. Commands are not confined.
#include <agent_runner/fd.hpp>
#include <agent_runner/json_schema.hpp>
#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>
#include <agent_runner/sandbox_path.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifndef TMPDIR_PLUGIN_VERSION
#define TMPDIR_PLUGIN_VERSION "0.1.0"
#endif

namespace tmpdir_plugin {
namespace sdk = agent_runner::sdk;
namespace jg = agent_runner::sdk::json_get;
namespace json = boost::json;
using sdk::Fd;

// clang-format off
constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "type": {"const": "tmpdir"},
    "root_dir": {"type": "string", "description": "the host's local workspace root (SANDBOX_ROOT_DIR); unused here"},
    "base_dir": {"type": "string", "pattern": "^/", "default": "/tmp", "description": "absolute directory for the sandboxes"},
    "timeout_s": {"type": "number", "minimum": 0, "default": 120, "description": "default execute timeout in seconds, 0 = none"},
    "max_output_bytes": {"type": "integer", "minimum": 1024, "default": 102400, "description": "output kept per stream"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}, "description": "variables for every command"}
  }
})json";
// clang-format on

const sdk::ConfigSchema& config_schema() {
  static const sdk::ConfigSchema s(kConfigSchema);  // refuses a schema it could check only in part
  return s;
}
std::string base_dir(const json::object& cfg) {
  config_schema().check(cfg);
  return std::string(config_schema().value(cfg, "base_dir").as_string());
}

[[noreturn]] void throw_errno(int err, const std::string& what) {
  const ar_status s = err == ENOENT                   ? AR_ERR_FILE_NOT_FOUND
                      : err == EACCES || err == EPERM ? AR_ERR_PERMISSION_DENIED
                      : err == EISDIR                 ? AR_ERR_IS_DIRECTORY
                      : err == ENOTDIR                ? AR_ERR_NOT_A_DIRECTORY
                      : err == EEXIST                 ? AR_ERR_ALREADY_EXISTS
                      : err == EXDEV || err == ELOOP  ? AR_ERR_INVALID_PATH  // would leave the dir
                                                      : AR_ERR_INTERNAL;
  throw sdk::Error(s, what + ": " + std::strerror(err));
}

// openat2 with RESOLVE_BENEATH: the kernel refuses any resolution that leaves `dir`.
Fd open_beneath(int dir, const std::string& rel, uint64_t flags, mode_t mode = 0) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  return Fd(static_cast<int>(
      ::syscall(SYS_openat2, dir, rel.empty() ? "." : rel.c_str(), &how, sizeof how)));
}

constexpr std::string_view kSessionPrefix = "agent-runner-tmpdir-session-";
std::string session_dir(const std::string& base, const std::string& key) {
  if (key.empty() || key.size() > 64 || key[0] == '.' ||
      key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos)
    throw sdk::Error(AR_ERR_INVALID_ARGUMENT,
                     "session key '" + key + "': use 1-64 of [A-Za-z0-9._-]");
  return base + "/" + std::string(kSessionPrefix) + key;
}

class TmpdirSandbox : public sdk::Sandbox {
 public:
  static std::unique_ptr<TmpdirSandbox> create(const sdk::CreateArgs& args) {
    auto sb = std::unique_ptr<TmpdirSandbox>(new TmpdirSandbox);
    const std::string base = base_dir(args.config);
    const auto& s = config_schema();
    sb->timeout_s_ = s.value(args.config, "timeout_s").to_number<double>();
    sb->max_output_ = s.value(args.config, "max_output_bytes").to_number<size_t>();
    for (const auto& kv : s.value(args.config, "env").as_object())
      sb->env_[std::string(kv.key())] = std::string(kv.value().as_string());
    if (args.session) {
      sb->session_ = *args.session;
      sb->dir_ = session_dir(base, *args.session);
      if (::mkdir(sb->dir_.c_str(), 0700) < 0 && errno != EEXIST) throw_errno(errno, sb->dir_);
      sb->lock_ = Fd(::open(sb->dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sb->lock_) throw_errno(errno, sb->dir_);
      ::flock(sb->lock_.get(), LOCK_SH);     // in use until release
      ::futimens(sb->lock_.get(), nullptr);  // last use: now
    } else {
      std::string templ = base + "/agent-runner-tmpdir-XXXXXX";
      if (!::mkdtemp(templ.data())) throw_errno(errno, "sandbox.base_dir: " + base);
      sb->dir_ = templ;
    }
    sb->dir_fd_ = Fd(::open(sb->dir_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sb->dir_fd_) throw_errno(errno, sb->dir_);
    return sb;
  }
  ~TmpdirSandbox() override { release(); }

  json::object info() const override {
    return {{"sandbox_id", "tmpdir-" + std::filesystem::path(dir_).filename().string()},
            {"session", session_.empty() ? json::value(nullptr) : json::value(session_)},
            {"persistent", !session_.empty()},
            {"workspace", dir_}};
  }

  sdk::Result release() override {
    if (!session_.empty() && lock_) ::futimens(lock_.get(), nullptr);
    lock_.reset();  // drops the session's lock
    std::error_code ec;
    if (session_.empty() && !dir_.empty()) std::filesystem::remove_all(dir_, ec);
    if (session_.empty()) dir_.clear();
    return sdk::Result::ok();
  }

  static sdk::Result list_sessions(sdk::PluginCall& call) {
    const std::string base = base_dir(call.config());
    const auto only = jg::opt_string(call.request(), "session");
    json::array out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(kSessionPrefix, 0) != 0) continue;
      const std::string key = name.substr(kSessionPrefix.size());
      Fd fd(::open(e.path().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      struct stat st {};
      if ((only && key != *only) || !fd || ::fstat(fd.get(), &st) < 0) continue;
      const bool in_use = ::flock(fd.get(), LOCK_EX | LOCK_NB) < 0;  // a sandbox holds LOCK_SH
      out.push_back({{"session", key},
                     {"sandbox_id", "tmpdir-" + name},
                     {"state", in_use ? "running" : "stopped"},
                     {"in_use", in_use},
                     {"last_used_at", sdk::iso_time_utc(st.st_mtime)},
                     {"idle_s", std::max<int64_t>(0, ::time(nullptr) - st.st_mtime)},
                     {"workspace", e.path().string()}});
    }
    return sdk::Result::ok({{"sessions", std::move(out)}});
  }

  static sdk::Result destroy_session(sdk::PluginCall& call) {
    const std::string key = jg::string(call.request(), "session");
    const std::string dir = session_dir(base_dir(call.config()), key);
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) throw sdk::Error(AR_ERR_NOT_FOUND, "no session '" + key + "'");
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0 && !jg::boolean(call.request(), "force", false))
      throw sdk::Error(AR_ERR_CONFLICT, "a sandbox has session '" + key + "' open");
    struct stat st {};
    const int64_t idle_s = jg::integer(call.request(), "idle_s", -1);
    if (idle_s >= 0 && ::fstat(fd.get(), &st) == 0 && ::time(nullptr) - st.st_mtime < idle_s)
      return sdk::Result::ok({{"session", key}, {"destroyed", false}, {"reason", "used since"}});
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (ec) throw sdk::Error(AR_ERR_INTERNAL, "removing " + dir + ": " + ec.message());
    return sdk::Result::ok({{"session", key}, {"destroyed", true}});
  }

  sdk::Result execute(sdk::Call& call) override {
    const auto& req = call.request();
    const std::string command = jg::string(req, "command");
    const double timeout = jg::number(req, "timeout_s", timeout_s_);
    const auto cwd_path = sdk::parse_sandbox_path(jg::opt_string(req, "cwd").value_or("/"));
    Fd cwd = open_beneath(dir_fd_.get(), cwd_path.relative(), O_PATH | O_DIRECTORY);
    if (!cwd) throw_errno(errno, "cwd " + cwd_path.display());
    // Built here, never inherited: the host's API keys stay in the host.
    std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                              {"HOME", dir_},
                                              {"TMPDIR", dir_},
                                              {"LANG", "C.UTF-8"}};
    for (const auto& [k, v] : env_) env[k] = v;
    for (const auto& [k, v] : jg::string_map(req, "env")) env[k] = v;
    std::vector<std::string> env_lines;
    for (const auto& [k, v] : env) env_lines.push_back(k + "=" + v);
    // Everything the child needs is prepared before fork: the host has other threads, so the
    // child may only make async-signal-safe calls.
    const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
    std::vector<const char*> envp;
    for (const auto& e : env_lines) envp.push_back(e.c_str());
    envp.push_back(nullptr);
    int out_p[2], err_p[2];
    if (::pipe2(out_p, O_CLOEXEC) < 0) throw_errno(errno, "pipe");
    Fd out_r(out_p[0]), out_w(out_p[1]);
    if (::pipe2(err_p, O_CLOEXEC) < 0) throw_errno(errno, "pipe");
    Fd err_r(err_p[0]), err_w(err_p[1]);

    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno(errno, "fork");
    if (pid == 0) {
      ::setpgid(0, 0);  // its own process group: the one kill below reaches its children too
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      for (int s : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP}) ::signal(s, SIG_DFL);
      // Sources above 2 first: with a standard descriptor closed in the host, a pipe may be 1.
      const int in = ::open("/dev/null", O_RDONLY), hi = 3;
      const int i = ::fcntl(in, F_DUPFD, hi), o = ::fcntl(out_w.get(), F_DUPFD, hi),
                e = ::fcntl(err_w.get(), F_DUPFD, hi);
      if (::fchdir(cwd.get()) < 0 || ::dup2(i, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
        ::_exit(126);
      ::close_range(3, ~0U, 0);  // nothing of the host's leaks into the command
      ::execve(argv[0], const_cast<char* const*>(argv), const_cast<char* const*>(envp.data()));
      ::_exit(127);
    }
    ::setpgid(pid, pid);  // also done by the child; whichever runs first
    out_w.reset();
    err_w.reset();

    sdk::HeadTail out(max_output_), err(max_output_), both(max_output_);
    const auto deadline = t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(timeout));
    bool exited = false, timed_out = false, cancelled = false;
    char buf[65536];
    for (;;) {
      siginfo_t si{};  // the shell done (not reaped yet, so its group id stays ours): kill the rest
      if (!exited && ::waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid) {
        exited = true;
        ::kill(-pid, SIGKILL);
      }
      if (exited && !out_r && !err_r) break;  // and its output read to the end
      const bool late = timeout > 0 && std::chrono::steady_clock::now() >= deadline;
      timed_out = late && !exited;
      cancelled = !exited && call.cancelled();
      if (late || cancelled) break;
      pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
      if (::poll(fds, 2, 100) <= 0) continue;  // wakes every 100 ms to check the clock
      for (int i = 0; i < 2; ++i) {
        if (!fds[i].revents) continue;
        Fd& fd = i == 0 ? out_r : err_r;
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n <= 0) {
          if (n == 0 || errno != EINTR) fd.reset();
          continue;
        }
        const std::string_view chunk(buf, static_cast<size_t>(n));
        (i == 0 ? out : err).append(chunk);
        both.append(chunk);
        call.emit(i == 0 ? AR_STREAM_STDOUT : AR_STREAM_STDERR, chunk);
      }
    }
    // Kill the group before reaping its leader, so the group id cannot have been reused.
    ::kill(-pid, SIGKILL);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (cancelled) return sdk::Result::error(AR_ERR_CANCELLED, "the command was cancelled");
    const int code = timed_out             ? 124
                     : WIFEXITED(status)   ? WEXITSTATUS(status)
                     : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                           : 1;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    return sdk::Result::ok({{"exit_code", code},
                            {"output", sdk::utf8_sanitize(both.text())},
                            {"stdout", sdk::utf8_sanitize(out.text())},
                            {"stderr", sdk::utf8_sanitize(err.text())},
                            {"truncated", out.truncated() || err.truncated() || both.truncated()},
                            {"timed_out", timed_out},
                            {"duration_ms", ms.count()},
                            {"stdout_bytes", out.total()},
                            {"stderr_bytes", err.total()}});
  }

  sdk::Result ls(sdk::Call& call) override {
    const auto p = sdk::parse_sandbox_path(jg::opt_string(call.request(), "path").value_or("/"));
    Fd dfd = open_beneath(dir_fd_.get(), p.relative(), O_RDONLY | O_DIRECTORY);
    if (!dfd) throw_errno(errno, "ls " + p.display());
    std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(::dup(dfd.get())), ::closedir);
    if (!d) throw_errno(errno, "ls " + p.display());
    std::map<std::string, json::object> rows;  // sorted by name
    while (struct dirent* e = ::readdir(d.get())) {
      struct stat st {};
      const std::string name = e->d_name;
      if (name == "." || name == ".." ||
          ::fstatat(dfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      const std::string shown = p.child(name).display();
      rows[shown] =
          sdk::file_entry(shown, S_ISDIR(st.st_mode), st.st_size, sdk::iso_time_utc(st.st_mtime));
    }
    json::array entries;
    for (auto& [name, row] : rows) entries.push_back(std::move(row));
    return sdk::Result::ok({{"path", p.display()}, {"entries", std::move(entries)}});
  }

  sdk::Result read(sdk::Call& call) override {
    const auto p = sdk::parse_sandbox_path(jg::string(call.request(), "path"));
    const auto window = sdk::LineWindow::from_request(call.request());
    Fd fd = open_beneath(dir_fd_.get(), p.relative(), O_RDONLY | O_NONBLOCK);  // a FIFO: no wait
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) < 0) throw_errno(errno, "read " + p.display());
    if (!S_ISREG(st.st_mode))
      throw sdk::Error(S_ISDIR(st.st_mode) ? AR_ERR_IS_DIRECTORY : AR_ERR_INVALID_ARGUMENT,
                       p.display() + " is not a regular file");
    std::string content;
    char buf[65536];
    for (ssize_t n; (n = ::read(fd.get(), buf, sizeof buf)) != 0;) {
      if (n < 0 && errno != EINTR) throw_errno(errno, "read " + p.display());
      if (n > 0) content.append(buf, static_cast<size_t>(n));
      if (content.size() > kMaxFileBytes)
        throw sdk::Error(AR_ERR_TOO_LARGE, p.display() + ": too large");
    }
    return window.result(p.display(), content);
  }

  sdk::Result write(sdk::Call& call) override {
    const auto p = sdk::parse_sandbox_path(jg::string(call.request(), "path"));
    const std::string_view content = call.input(0);
    if (p.is_root()) throw sdk::Error(AR_ERR_IS_DIRECTORY, "/ is a directory");
    if (content.size() > kMaxFileBytes) throw sdk::Error(AR_ERR_TOO_LARGE, "content too large");
    // Missing parents are made one component at a time, each opened beneath the last.
    const std::filesystem::path rel(p.relative());
    Fd parent = open_beneath(dir_fd_.get(), "", O_PATH | O_DIRECTORY);
    for (const auto& comp : rel.parent_path()) {
      Fd next = open_beneath(parent.get(), comp.string(), O_PATH | O_DIRECTORY);
      if (!next && errno == ENOENT && ::mkdirat(parent.get(), comp.c_str(), 0755) == 0)
        next = open_beneath(parent.get(), comp.string(), O_PATH | O_DIRECTORY);
      if (!next) throw_errno(errno, "write " + p.display());
      parent = std::move(next);
    }
    const bool overwrite = jg::boolean(call.request(), "overwrite", false);
    const auto name = rel.filename().string();
    Fd fd = open_beneath(parent.get(), name, O_WRONLY | O_CREAT | O_EXCL, 0644);
    const bool created = static_cast<bool>(fd);
    if (!fd && errno == EEXIST && overwrite)  // O_NONBLOCK: a FIFO fails rather than waits
      fd = open_beneath(parent.get(), name, O_WRONLY | O_TRUNC | O_NONBLOCK);
    if (!fd) throw_errno(errno, "write " + p.display() + (overwrite ? "" : " (overwrite: false)"));
    for (size_t done = 0; done < content.size();) {
      const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno != EINTR) throw_errno(errno, "write " + p.display());
      if (n > 0) done += static_cast<size_t>(n);
    }
    return sdk::Result::ok({{"path", p.display()},
                            {"bytes_written", static_cast<int64_t>(content.size())},
                            {"created", created}});
  }

 private:
  static constexpr size_t kMaxFileBytes = 10 * 1024 * 1024;
  TmpdirSandbox() = default;
  std::string dir_, session_;  // session_ empty: ephemeral
  Fd dir_fd_, lock_;           // lock_: the session directory, flock(LOCK_SH) while open
  double timeout_s_ = 120;
  size_t max_output_ = 100 * 1024;
  std::map<std::string, std::string> env_;
};

}  // namespace tmpdir_plugin

AGENT_RUNNER_PLUGIN(tmpdir_plugin::TmpdirSandbox, "tmpdir", "tmpdir", TMPDIR_PLUGIN_VERSION,
                    AR_CAP_EXECUTE | AR_CAP_STREAMING | AR_CAP_TIMEOUT | AR_CAP_OUTPUT_CAP |
                        AR_CAP_ENV | AR_CAP_CANCEL | AR_CAP_SESSIONS,
                    tmpdir_plugin::kConfigSchema)
