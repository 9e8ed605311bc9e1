// tmpdir: an example agent-runner sandbox plugin, built out of tree against the SDK alone.
//
// Each sandbox is a fresh private temporary directory (mode 0700, under `base_dir`, default /tmp),
// removed when the sandbox is released; `agent-runner exec` therefore runs every command in a new
// directory. With a session (`--session KEY`) it is base_dir/agent-runner-tmpdir-session-KEY
// instead, kept for the next run. It implements:
//   execute  /bin/sh -c COMMAND in the directory: stdin closed, an explicit environment (nothing
//            inherited from the host), stdout/stderr captured and streamed, output capped (head and
//            tail kept), a timeout or a cancel kills the whole process tree, setsid and double-fork
//            escapees included (see Supervisor below);
//   ls, read, write  inside the directory, every path resolved by the kernel with
//            openat2(RESOLVE_BENEATH), so `..` and symlinks cannot leave it;
//   list_sessions, destroy_session  (ABI 1.1, `agent-runner sessions`): the session directories,
//            "in use" while a sandbox holds a shared flock(2) on its directory, last use = the
//            directory's mtime (touched on open and release).
// It offers no confinement beyond the directory: commands run as the host's user and can reach
// the rest of the machine. Use the filesystem plugin for confinement.
//
// Sandbox config (the host's generated config plus the config file's `sandbox:` map):
//   {"type": "tmpdir", "base_dir"?: "/abs/dir", "timeout_s"?: 120, "max_output_bytes"?: 102400,
//    "env"?: {"NAME": "value"}}
#include <agent_runner/fd.hpp>
#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>
#include <agent_runner/sandbox_path.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#ifndef TMPDIR_PLUGIN_VERSION
#define TMPDIR_PLUGIN_VERSION "0.1.0"
#endif

namespace tmpdir_plugin {
namespace sdk = agent_runner::sdk;
namespace jg = agent_runner::sdk::json_get;

// ---------------------------------------------------------------------------------------------
// Helpers. The SDK provides what every sandbox needs the same way (agent_runner/fd.hpp,
// sandbox_path.hpp, sandbox_ops.hpp): an owned fd, sandbox path parsing, result shapes, the
// read line window and head/tail output capture.

using sdk::Fd;
using sdk::SandboxPath;

ar_status status_from_errno(int err) {
  switch (err) {
    case ENOENT:
      return AR_ERR_FILE_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
      return AR_ERR_PERMISSION_DENIED;
    case EISDIR:
      return AR_ERR_IS_DIRECTORY;
    case ENOTDIR:
      return AR_ERR_NOT_A_DIRECTORY;
    case EEXIST:
      return AR_ERR_ALREADY_EXISTS;
    case EXDEV:  // RESOLVE_BENEATH: the path would leave the directory
    case ELOOP:  // a symlink where none may be, or too many
      return AR_ERR_INVALID_PATH;
    case EFBIG:
      return AR_ERR_TOO_LARGE;
    case ENOSYS:
      return AR_ERR_UNSUPPORTED;
    default:
      return AR_ERR_INTERNAL;
  }
}

[[noreturn]] void throw_errno(int err, std::string_view what, std::string_view path) {
  std::string msg = std::string(what) + " " + std::string(path) + ": " + std::strerror(err);
  if (err == EXDEV) msg = std::string(path) + ": path leaves the sandbox";
  if (err == ENOSYS) msg = "openat2 is not available (Linux 5.6 or later is needed)";
  throw sdk::Error(status_from_errno(err), msg);
}

// openat2 with RESOLVE_BENEATH: the kernel refuses any resolution that leaves `dir`.
int open_beneath(int dir, const std::string& rel, uint64_t flags, mode_t mode = 0) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = ::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how);
  } while (fd < 0 && errno == EINTR);
  return static_cast<int>(fd);
}

// A sandbox path ("/src/a.py", "src/a.py", "/"), parsed lexically by the SDK: NUL bytes and `..`
// above "/" are invalid_path. Symlinks are the kernel's business (open_beneath).
SandboxPath sandbox_path(const std::string& in) {
  return sdk::parse_sandbox_path(in);
}

boost::json::object file_info(const std::string& shown, const struct stat& st) {
  return sdk::file_entry(shown, S_ISDIR(st.st_mode), static_cast<int64_t>(st.st_size),
                         sdk::iso_time_utc(st.st_mtime));
}

// ---------------------------------------------------------------------------------------------
// Process control.
//
// The plugin runs inside the host, which may have other threads, so the forked children only use
// async-signal-safe calls (no allocation, no locks) and everything they need is prepared first.
//
//   plugin (host thread) --fork--> supervisor --fork--> /bin/sh -c COMMAND (own process group)
//
// The supervisor makes itself a child subreaper (PR_SET_CHILD_SUBREAPER), so every process the
// command leaves behind - in the background, after setsid, after a double fork - is re-parented
// to it rather than to init. When the command exits, or when the plugin closes the control pipe
// (timeout, cancel, or the host died), the supervisor SIGKILLs the command's process group and
// then, round after round, every child it has (from /proc/self/task/<pid>/children), reaping as
// it goes, until none is left. Nothing the command started outlives the call.

struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // NAME=value
  int cwd_fd = -1;
};

// Writes the wait status of the command (4 bytes) to status_fd once it exits.
[[noreturn]] void supervisor_main(char* const* argv, char* const* envp, int cwd_fd, int devnull,
                                  int out_w, int err_w, int ctl_r, int status_w) {
  // No host signal handler may run in this copy of the host. Signals aimed at the host's process
  // group (Ctrl-C) must not kill the supervisor and let the command's tree escape: it stops when
  // the plugin closes the control pipe, which also happens when the host dies. SIGCHLD must not be
  // ignored, or the kernel would reap the children before we see their status.
  struct sigaction dfl {
  }, ign{};
  dfl.sa_handler = SIG_DFL;
  ign.sa_handler = SIG_IGN;
  for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE}) ::sigaction(s, &ign, nullptr);
  ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

  // Keep only our own descriptors: a copy of another call's pipe would delay that call's EOF.
  int keep[] = {cwd_fd, devnull, out_w, err_w, ctl_r, status_w};
  std::sort(std::begin(keep), std::end(keep));
  unsigned next = 3;
  for (int k : keep) {
    if (k >= static_cast<int>(next)) {
      if (static_cast<unsigned>(k) > next) ::close_range(next, static_cast<unsigned>(k) - 1, 0);
      next = static_cast<unsigned>(k) + 1;
    }
  }
  ::close_range(next, ~0U, 0);

  const pid_t cmd = ::fork();
  if (cmd == 0) {
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) ::sigaction(s, &dfl, nullptr);  // SIG_IGN would survive exec
    // Move the sources above 2 first: if the host runs with a standard descriptor closed, a pipe
    // may itself be 0, 1 or 2 and be overwritten by an earlier dup2.
    if (::fchdir(cwd_fd) < 0) ::_exit(126);
    const int in = ::fcntl(devnull, F_DUPFD_CLOEXEC, 3);
    const int o = ::fcntl(out_w, F_DUPFD_CLOEXEC, 3);
    const int e = ::fcntl(err_w, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || o < 0 || e < 0 || ::dup2(in, 0) < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0)
      ::_exit(126);
    ::close_range(3, ~0U, 0);
    ::execve(argv[0], argv, envp);
    ::_exit(127);
  }
  ::close(out_w);
  ::close(err_w);
  ::close(devnull);
  ::close(cwd_fd);
  if (cmd < 0) ::_exit(125);
  ::setpgid(cmd, cmd);  // also done by the child; whichever runs first wins the race

  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, cmd, 0));
  struct pollfd fds[2] = {{ctl_r, POLLIN, 0}, {pidfd, POLLIN, 0}};
  bool exited = false;
  int status = 0;
  while (!exited) {
    // Without pidfd (Linux < 5.3) fall back to checking every 50 ms.
    const int n = ::poll(fds, pidfd >= 0 ? 2 : 1, pidfd >= 0 ? -1 : 50);
    int st;
    pid_t w;
    while ((w = ::waitpid(-1, &st, WNOHANG)) > 0) {
      if (w == cmd) {
        status = st;
        exited = true;
      }
    }
    if (!exited && n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) break;
  }
  if (exited) {
    ssize_t ignored = ::write(status_w, &status, sizeof status);
    (void)ignored;
  }

  // Kill whatever is left: the group first, then every (re-parented) child, round by round.
  ::kill(-cmd, SIGKILL);
  char path[64] = "/proc/self/task/";
  {
    char digits[16];
    int nd = 0;
    for (pid_t p = ::getpid(); p > 0 && nd < 15; p /= 10)
      digits[nd++] = static_cast<char>('0' + p % 10);
    size_t len = std::strlen(path);
    while (nd > 0) path[len++] = digits[--nd];
    std::memcpy(path + len, "/children", sizeof "/children");
  }
  for (;;) {
    const int cfd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (cfd >= 0) {
      char buf[4096];
      pid_t cur = 0;
      ssize_t r;
      while ((r = ::read(cfd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; ++i) {
          if (buf[i] >= '0' && buf[i] <= '9') {
            cur = cur * 10 + (buf[i] - '0');
          } else if (cur > 0) {
            ::kill(cur, SIGKILL);
            cur = 0;
          }
        }
      }
      if (cur > 0) ::kill(cur, SIGKILL);
      ::close(cfd);
    }
    int st;
    if (::waitpid(-1, &st, 0) < 0 && errno == ECHILD) break;
  }
  ::_exit(0);
}

struct ExecOutcome {
  int wait_status = 0;
  bool have_status = false;
  bool timed_out = false;
  bool cancelled = false;
};

ExecOutcome run_supervised(const ExecSpec& spec, double timeout_s, sdk::Call& call,
                           sdk::HeadTail& out, sdk::HeadTail& err, sdk::HeadTail& combined) {
  std::vector<char*> argv, envp;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : spec.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);

  int p_out[2], p_err[2], p_ctl[2], p_status[2];
  if (::pipe2(p_out, O_CLOEXEC) < 0) throw_errno(errno, "pipe", "");
  Fd out_r(p_out[0]), out_w(p_out[1]);
  if (::pipe2(p_err, O_CLOEXEC) < 0) throw_errno(errno, "pipe", "");
  Fd err_r(p_err[0]), err_w(p_err[1]);
  if (::pipe2(p_ctl, O_CLOEXEC) < 0) throw_errno(errno, "pipe", "");
  Fd ctl_r(p_ctl[0]), ctl_w(p_ctl[1]);
  if (::pipe2(p_status, O_CLOEXEC) < 0) throw_errno(errno, "pipe", "");
  Fd status_r(p_status[0]), status_w(p_status[1]);
  Fd devnull(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!devnull) throw_errno(errno, "open", "/dev/null");

  const pid_t sup = ::fork();
  if (sup < 0) throw_errno(errno, "fork", "");
  if (sup == 0) {
    ::close(out_r.get());
    ::close(err_r.get());
    ::close(ctl_w.get());  // else the supervisor would never see the plugin close it
    ::close(status_r.get());
    supervisor_main(argv.data(), envp.data(), spec.cwd_fd, devnull.get(), out_w.get(), err_w.get(),
                    ctl_r.get(), status_w.get());
  }
  out_w.reset();
  err_w.reset();
  ctl_r.reset();
  status_w.reset();
  devnull.reset();

  using clock = std::chrono::steady_clock;
  const bool has_deadline = timeout_s > 0;
  const auto deadline =
      clock::now() + std::chrono::duration_cast<clock::duration>(
                         std::chrono::duration<double>(has_deadline ? timeout_s : 0));
  ExecOutcome res;
  bool out_open = true, err_open = true, status_open = true;
  char buf[65536];
  while (out_open || err_open || status_open) {
    int wait_ms = 100;  // how often cancellation is checked
    if (ctl_w && has_deadline) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
      wait_ms = static_cast<int>(std::clamp<long long>(left, 0, wait_ms));
    }
    struct pollfd fds[3];
    nfds_t n = 0;
    int idx_out = -1, idx_err = -1, idx_status = -1;
    if (out_open) idx_out = static_cast<int>(n), fds[n++] = {out_r.get(), POLLIN, 0};
    if (err_open) idx_err = static_cast<int>(n), fds[n++] = {err_r.get(), POLLIN, 0};
    if (status_open) idx_status = static_cast<int>(n), fds[n++] = {status_r.get(), POLLIN, 0};
    const int pr = ::poll(fds, n, wait_ms);
    if (pr < 0 && errno != EINTR) break;

    if (ctl_w) {  // not yet told to kill
      if (call.cancelled()) {
        res.cancelled = true;
        ctl_w.reset();
      } else if (has_deadline && clock::now() >= deadline && !res.have_status) {
        res.timed_out = true;
        ctl_w.reset();
      }
    }
    if (pr <= 0) continue;
    auto drain = [&](int idx, Fd& fd, bool& open, sdk::HeadTail& sink, ar_stream stream) {
      if (idx < 0 || !(fds[idx].revents & (POLLIN | POLLHUP | POLLERR))) return;
      const ssize_t r = ::read(fd.get(), buf, sizeof buf);
      if (r > 0) {
        const std::string_view chunk(buf, static_cast<size_t>(r));
        sink.append(chunk);
        combined.append(chunk);
        call.emit(stream, chunk);
      } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
        open = false;
      }
    };
    drain(idx_out, out_r, out_open, out, AR_STREAM_STDOUT);
    drain(idx_err, err_r, err_open, err, AR_STREAM_STDERR);
    if (idx_status >= 0 && (fds[idx_status].revents & (POLLIN | POLLHUP | POLLERR))) {
      int st = 0;
      const ssize_t r = ::read(status_r.get(), &st, sizeof st);
      if (r == static_cast<ssize_t>(sizeof st)) {
        res.wait_status = st;
        res.have_status = true;
      } else if (r == 0 || (r < 0 && errno != EINTR)) {
        status_open = false;
      }
    }
  }
  ctl_w.reset();
  int st;
  while (::waitpid(sup, &st, 0) < 0 && errno == EINTR) {
  }
  if (!res.have_status && !res.timed_out && !res.cancelled)
    throw sdk::Error(AR_ERR_INTERNAL, "the command's supervisor ended without a status");
  return res;
}

// ---------------------------------------------------------------------------------------------
// Sessions: base_dir/agent-runner-tmpdir-session-KEY. A sandbox open on one holds a shared lock on
// the directory (several processes may use one session at once); `destroy_session` takes it
// exclusively, so it knows when the session is in use, also by another process.

constexpr std::string_view kSessionPrefix = "agent-runner-tmpdir-session-";

std::string base_dir(const boost::json::object& cfg) {
  const std::string base = jg::opt_string(cfg, "base_dir").value_or("/tmp");
  if (base.empty() || base.front() != '/')
    throw sdk::Error(AR_ERR_INVALID_CONFIG,
                     "sandbox.base_dir: must be an absolute path, got '" + base + "'");
  return base;
}

// A key is one safe file name component.
void check_session_key(const std::string& key) {
  if (key.empty() || key.size() > 64 || key.front() == '.' ||
      key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
          std::string::npos)
    throw sdk::Error(AR_ERR_INVALID_ARGUMENT,
                     "session key '" + key + "': use 1 to 64 letters, digits, '.', '_', '-'");
}

// The session's directory, opened without following a symlink; no fd when it does not exist.
Fd open_session_dir(const std::string& base, const std::string& key) {
  const std::string dir = base + "/" + std::string(kSessionPrefix) + key;
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd && errno != ENOENT) throw_errno(errno, "open", dir);
  return fd;
}

// ---------------------------------------------------------------------------------------------
// The sandbox.

class TmpdirSandbox : public sdk::Sandbox {
 public:
  static std::unique_ptr<TmpdirSandbox> create(const sdk::CreateArgs& args) {
    const auto& cfg = args.config;
    auto sb = std::unique_ptr<TmpdirSandbox>(new TmpdirSandbox);
    const std::string base = base_dir(cfg);
    sb->timeout_s_ = jg::number(cfg, "timeout_s", 120);
    if (sb->timeout_s_ < 0)
      throw sdk::Error(AR_ERR_INVALID_CONFIG, "sandbox.timeout_s: must be >= 0 (0 = no timeout)");
    const int64_t cap = jg::integer(cfg, "max_output_bytes", 100 * 1024);
    if (cap < 1024)
      throw sdk::Error(AR_ERR_INVALID_CONFIG,
                       "sandbox.max_output_bytes: must be an integer >= 1024");
    sb->max_output_ = static_cast<size_t>(cap);
    sb->config_env_ = jg::string_map(cfg, "env");

    if (args.session) {
      check_session_key(*args.session);
      sb->session_ = *args.session;
      sb->dir_ = base + "/" + std::string(kSessionPrefix) + *args.session;
      if (::mkdir(sb->dir_.c_str(), 0700) < 0 && errno != EEXIST)
        throw sdk::Error(AR_ERR_INVALID_CONFIG, "sandbox.base_dir: cannot create " + sb->dir_ +
                                                    ": " + std::strerror(errno));
      sb->lock_ = open_session_dir(base, *args.session);
      if (!sb->lock_) throw_errno(errno, "open", sb->dir_);
      ::flock(sb->lock_.get(), LOCK_SH);     // in use until release
      ::futimens(sb->lock_.get(), nullptr);  // last use: now
      sb->dir_fd_ = Fd(::open(sb->dir_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sb->dir_fd_) throw_errno(errno, "open", sb->dir_);
      return sb;
    }
    std::string templ = base + "/agent-runner-tmpdir-XXXXXX";
    if (!::mkdtemp(templ.data()))  // mode 0700
      throw sdk::Error(AR_ERR_INVALID_CONFIG, "sandbox.base_dir: cannot create a directory in " +
                                                  base + ": " + std::strerror(errno));
    sb->dir_ = templ;
    sb->dir_fd_ = Fd(::open(templ.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!sb->dir_fd_) throw_errno(errno, "open", templ);
    args.host.debug("tmpdir: created " + templ);
    return sb;
  }

  ~TmpdirSandbox() override {
    if (session_.empty()) remove_dir();
  }

  boost::json::object info() const override {
    return {
        {"sandbox_id", "tmpdir-" + std::filesystem::path(dir_).filename().string()},
        {"session", session_.empty() ? boost::json::value(nullptr) : boost::json::value(session_)},
        {"persistent", !session_.empty()},
        {"workspace", dir_}};
  }

  sdk::Result release() override {
    if (!session_.empty()) {
      ::futimens(lock_.get(), nullptr);  // last use: now
      lock_.reset();                     // closing the fd drops the lock
      return sdk::Result::ok();
    }
    remove_dir();
    return sdk::Result::ok();
  }

  // ABI 1.1: every session directory under base_dir (request {"session"?: KEY} for one).
  static sdk::Result list_sessions(sdk::PluginCall& call) {
    const std::string base = base_dir(call.config());
    const auto only = jg::opt_string(call.request(), "session");
    boost::json::array out;
    DIR* d = ::opendir(base.c_str());
    if (!d) return sdk::Result::ok({{"sessions", out}});
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    const time_t now = ::time(nullptr);
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind(kSessionPrefix, 0) != 0) continue;
      const std::string key = name.substr(kSessionPrefix.size());
      if (only && key != *only) continue;
      Fd fd = open_session_dir(base, key);
      struct stat st {};
      if (!fd || ::fstat(fd.get(), &st) < 0) continue;
      // A sandbox holding the shared lock makes an exclusive one fail: in use.
      const bool in_use = ::flock(fd.get(), LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
      out.push_back({{"session", key},
                     {"sandbox_id", "tmpdir-" + name},
                     {"state", in_use ? "running" : "stopped"},
                     {"in_use", in_use},
                     {"created_at", nullptr},
                     {"last_used_at", sdk::iso_time_utc(st.st_mtime)},
                     {"idle_s", static_cast<int64_t>(std::max<time_t>(0, now - st.st_mtime))},
                     {"size_bytes", nullptr},
                     {"labels", nullptr},
                     {"workspace", base + "/" + name}});
    }
    return sdk::Result::ok({{"sessions", std::move(out)}});
  }

  // ABI 1.1: removes one session directory. In use: `conflict`, unless force (this example cannot
  // cancel another process's command: the directory is removed under it; the filesystem plugin
  // kills such commands first). idle_s: kept when used more recently than that.
  static sdk::Result destroy_session(sdk::PluginCall& call) {
    const std::string base = base_dir(call.config());
    const std::string key = jg::string(call.request(), "session");
    check_session_key(key);
    const bool force = jg::boolean(call.request(), "force", false);
    const int64_t idle_s = jg::integer(call.request(), "idle_s", -1);
    Fd fd = open_session_dir(base, key);
    if (!fd) throw sdk::Error(AR_ERR_NOT_FOUND, "no session '" + key + "'");
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0 && !force)
      throw sdk::Error(AR_ERR_CONFLICT, "a sandbox of another process has it open");
    struct stat st {};
    if (idle_s >= 0 && ::fstat(fd.get(), &st) == 0 && ::time(nullptr) - st.st_mtime < idle_s)
      return sdk::Result::ok({{"session", key}, {"destroyed", false}, {"reason", "used since"}});
    std::error_code ec;
    std::filesystem::remove_all(base + "/" + std::string(kSessionPrefix) + key, ec);
    if (ec) throw sdk::Error(AR_ERR_INTERNAL, "removing session '" + key + "': " + ec.message());
    return sdk::Result::ok({{"session", key}, {"destroyed", true}});
  }

  sdk::Result execute(sdk::Call& call) override {
    const auto& req = call.request();
    const std::string command = jg::string(req, "command");
    const double timeout = jg::number(req, "timeout_s", timeout_s_);
    if (timeout < 0) throw sdk::Error(AR_ERR_INVALID_ARGUMENT, "timeout_s must be >= 0");

    Fd cwd;
    if (auto c = jg::opt_string(req, "cwd")) {
      const SandboxPath p = sandbox_path(*c);
      cwd = Fd(open_beneath(dir_fd_.get(), p.relative(), O_PATH | O_DIRECTORY));
      if (!cwd) throw_errno(errno, "cwd", p.display());
    } else {
      cwd = Fd(::open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!cwd) throw_errno(errno, "open", dir_);
    }

    // The environment is built here, never inherited: the host's API keys stay in the host.
    std::map<std::string, std::string> env = {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
                                              {"HOME", dir_},
                                              {"TMPDIR", dir_},
                                              {"LANG", "C.UTF-8"}};
    for (const auto& [k, v] : config_env_) env[k] = v;
    for (const auto& [k, v] : jg::string_map(req, "env")) env[k] = v;
    ExecSpec spec;
    spec.argv = {"/bin/sh", "-c", command};
    for (const auto& [k, v] : env) {
      if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
          v.find('\0') != std::string::npos)
        throw sdk::Error(AR_ERR_INVALID_ARGUMENT,
                         "env: invalid variable name or value '" + k + "'");
      spec.env.push_back(k + "=" + v);
    }
    if (command.find('\0') != std::string::npos)
      throw sdk::Error(AR_ERR_INVALID_ARGUMENT, "command contains a NUL byte");
    spec.cwd_fd = cwd.get();

    sdk::HeadTail out(max_output_), err(max_output_), combined(max_output_);
    const auto t0 = std::chrono::steady_clock::now();
    const ExecOutcome r = run_supervised(spec, timeout, call, out, err, combined);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    if (r.cancelled) return sdk::Result::error(AR_ERR_CANCELLED, "the command was cancelled");

    int exit_code = 124;
    if (!r.timed_out) {
      exit_code = WIFEXITED(r.wait_status)     ? WEXITSTATUS(r.wait_status)
                  : WIFSIGNALED(r.wait_status) ? 128 + WTERMSIG(r.wait_status)
                                               : 1;
    }
    return sdk::Result::ok(
        {{"exit_code", exit_code},
         {"output", sdk::utf8_sanitize(combined.text())},
         {"stdout", sdk::utf8_sanitize(out.text())},
         {"stderr", sdk::utf8_sanitize(err.text())},
         {"truncated", out.truncated() || err.truncated() || combined.truncated()},
         {"timed_out", r.timed_out},
         {"duration_ms", static_cast<int64_t>(ms)},
         {"stdout_bytes", out.total()},
         {"stderr_bytes", err.total()}});
  }

  sdk::Result ls(sdk::Call& call) override {
    const SandboxPath p = sandbox_path(jg::opt_string(call.request(), "path").value_or("/"));
    Fd dfd(open_beneath(dir_fd_.get(), p.relative(), O_RDONLY | O_DIRECTORY));
    if (!dfd) throw_errno(errno, "ls", p.display());
    DIR* d = ::fdopendir(::dup(dfd.get()));
    if (!d) throw_errno(errno, "ls", p.display());
    std::unique_ptr<DIR, int (*)(DIR*)> guard(d, ::closedir);
    boost::json::array entries;
    std::vector<std::pair<std::string, boost::json::object>> rows;
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (::fstatat(dfd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
      const std::string shown = p.child(name).display();
      rows.emplace_back(shown, file_info(shown, st));
    }
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& r : rows) entries.push_back(std::move(r.second));
    return sdk::Result::ok({{"path", p.display()}, {"entries", std::move(entries)}});
  }

  sdk::Result read(sdk::Call& call) override {
    const auto& req = call.request();
    const SandboxPath p = sandbox_path(jg::string(req, "path"));
    const auto window = sdk::LineWindow::from_request(req);
    // O_NONBLOCK: a FIFO a command left behind must not block the host.
    Fd fd(open_beneath(dir_fd_.get(), p.relative(), O_RDONLY | O_NONBLOCK));
    if (!fd) throw_errno(errno, "read", p.display());
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0) throw_errno(errno, "stat", p.display());
    if (S_ISDIR(st.st_mode)) throw sdk::Error(AR_ERR_IS_DIRECTORY, p.display() + " is a directory");
    if (!S_ISREG(st.st_mode))
      throw sdk::Error(AR_ERR_INVALID_ARGUMENT, p.display() + " is not a regular file");
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes)
      throw sdk::Error(AR_ERR_TOO_LARGE,
                       p.display() + " is larger than " + std::to_string(kMaxFileBytes) + " bytes");
    std::string content;
    char buf[65536];
    ssize_t r;
    while ((r = ::read(fd.get(), buf, sizeof buf)) != 0) {
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) throw_errno(errno, "read", p.display());
      content.append(buf, static_cast<size_t>(r));
      if (content.size() > kMaxFileBytes)
        throw sdk::Error(AR_ERR_TOO_LARGE,
                         p.display() + " grew beyond " + std::to_string(kMaxFileBytes) + " bytes");
    }
    return window.result(p.display(), content);
  }

  sdk::Result write(sdk::Call& call) override {
    const auto& req = call.request();
    const SandboxPath p = sandbox_path(jg::string(req, "path"));
    const bool overwrite = jg::boolean(req, "overwrite", false);
    const std::string_view content = call.input(0);
    if (p.is_root()) throw sdk::Error(AR_ERR_IS_DIRECTORY, "/ is a directory");
    if (content.size() > kMaxFileBytes)
      throw sdk::Error(AR_ERR_TOO_LARGE,
                       "content is larger than " + std::to_string(kMaxFileBytes) + " bytes");

    // Create missing parent directories one component at a time, each resolved beneath the
    // sandbox directory, so a symlinked component can never redirect the write outside.
    const std::filesystem::path rel(p.relative());
    Fd parent(::dup(dir_fd_.get()));
    if (!parent) throw_errno(errno, "dup", p.display());
    std::string walked;
    for (const auto& comp : rel.parent_path()) {
      const std::string c = comp.string();
      walked += "/" + c;
      Fd next(open_beneath(parent.get(), c, O_PATH | O_DIRECTORY));
      if (!next && errno == ENOENT) {
        if (::mkdirat(parent.get(), c.c_str(), 0755) < 0 && errno != EEXIST)
          throw_errno(errno, "mkdir", walked);
        next = Fd(open_beneath(parent.get(), c, O_PATH | O_DIRECTORY));
      }
      if (!next) throw_errno(errno, "open", walked);
      parent = std::move(next);
    }
    const std::string name = rel.filename().string();
    bool created = true;
    Fd fd(open_beneath(parent.get(), name, O_WRONLY | O_CREAT | O_EXCL, 0644));
    if (!fd && errno == EEXIST) {
      if (!overwrite)
        throw sdk::Error(AR_ERR_ALREADY_EXISTS,
                         p.display() + " already exists (set overwrite to replace it)");
      created = false;
      // O_NONBLOCK: opening a FIFO fails (ENXIO) instead of waiting for a reader.
      fd = Fd(open_beneath(parent.get(), name, O_WRONLY | O_NONBLOCK));
      if (fd) {
        struct stat st {};
        if (::fstat(fd.get(), &st) < 0) throw_errno(errno, "stat", p.display());
        if (S_ISDIR(st.st_mode))
          throw sdk::Error(AR_ERR_IS_DIRECTORY, p.display() + " is a directory");
        if (!S_ISREG(st.st_mode))
          throw sdk::Error(AR_ERR_INVALID_ARGUMENT, p.display() + " is not a regular file");
        if (::ftruncate(fd.get(), 0) < 0) throw_errno(errno, "truncate", p.display());
        ::fcntl(fd.get(), F_SETFL, 0);
      }
    }
    if (!fd) throw_errno(errno, "write", p.display());
    size_t done = 0;
    while (done < content.size()) {
      const ssize_t w = ::write(fd.get(), content.data() + done, content.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw_errno(errno, "write", p.display());
      done += static_cast<size_t>(w);
    }
    return sdk::Result::ok({{"path", p.display()},
                            {"bytes_written", static_cast<int64_t>(done)},
                            {"created", created}});
  }

 private:
  static constexpr uint64_t kMaxFileBytes = 10 * 1024 * 1024;

  TmpdirSandbox() = default;

  void remove_dir() noexcept {
    if (dir_.empty()) return;
    dir_fd_.reset();
    std::error_code ec;
    // Does not follow symlinks; nothing runs in the directory any more (every command's process
    // tree was killed when its execute returned), so nothing can race the removal.
    std::filesystem::remove_all(dir_, ec);
    if (ec) host().warn("tmpdir: could not remove " + dir_ + ": " + ec.message());
    dir_.clear();
  }

  std::string dir_;
  Fd dir_fd_;
  std::string session_;  // empty: ephemeral
  Fd lock_;              // a session's directory, flock(LOCK_SH) while open
  double timeout_s_ = 120;
  size_t max_output_ = 100 * 1024;
  std::vector<std::pair<std::string, std::string>> config_env_;
};

// The JSON Schema of the sandbox config; the host shows it in `agent-runner plugins --json`.
// clang-format off
constexpr const char* kConfigSchema = R"json({
  "type": "object",
  "properties": {
    "type": {"const": "tmpdir"},
    "base_dir": {"type": "string", "description": "absolute directory for the sandboxes (default /tmp)"},
    "timeout_s": {"type": "number", "minimum": 0, "description": "default execute timeout in seconds, 0 = none (default 120)"},
    "max_output_bytes": {"type": "integer", "minimum": 1024, "description": "output kept per stream (default 102400)"},
    "env": {"type": "object", "additionalProperties": {"type": "string"}, "description": "variables for every command"}
  }
})json";
// clang-format on

}  // namespace tmpdir_plugin

AGENT_RUNNER_PLUGIN(tmpdir_plugin::TmpdirSandbox, "tmpdir", "tmpdir", TMPDIR_PLUGIN_VERSION,
                    AR_CAP_EXECUTE | AR_CAP_STREAMING | AR_CAP_TIMEOUT | AR_CAP_TREE_KILL |
                        AR_CAP_OUTPUT_CAP | AR_CAP_ENV | AR_CAP_CANCEL | AR_CAP_SESSIONS,
                    tmpdir_plugin::kConfigSchema)
