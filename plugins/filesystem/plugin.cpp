// The filesystem sandbox plugin: a workspace directory on this machine. Sessions map to
// root_dir/<session> (or root_dir itself with layout: shared); file operations are resolved by the
// kernel beneath the workspace; commands run in a supervised, confined process tree.
#include "file_ops.hpp"
#include "fs_config.hpp"
#include "isolation.hpp"
#include "paths.hpp"
#include "process.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>

extern char** environ;

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Error;
using sdk::Result;

namespace {

std::string random_hex(size_t bytes) {
  unsigned char b[32];
  bytes = std::min(bytes, sizeof b);
  if (::getrandom(b, bytes, 0) != static_cast<ssize_t>(bytes))
    throw Error(AR_ERR_INTERNAL, std::string("getrandom: ") + std::strerror(errno));
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < bytes; ++i) {
    s += hex[b[i] >> 4];
    s += hex[b[i] & 15];
  }
  return s;
}

void check_session_name(const std::string& s) {
  auto refuse = [&](const std::string& why) {
    throw Error(AR_ERR_INVALID_ARGUMENT,
                "session key is not a safe name (" + why +
                    "); use up to 128 bytes of letters, digits, '-', '_' or '.' not starting "
                    "with '.'");
  };
  if (s.empty()) refuse("it is empty");
  if (s.size() > 128) refuse("it is longer than 128 bytes");
  if (s.find('/') != std::string::npos) refuse("it contains '/'");
  if (s.find('\0') != std::string::npos) refuse("it contains a NUL byte");
  if (s == "." || s == ".." || s.find("..") != std::string::npos) refuse("it contains '..'");
  if (s[0] == '.') refuse("it starts with '.'");
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f) refuse("it contains a control character");
}

bool valid_env_name(const std::string& k) {
  return !k.empty() && k.find('=') == std::string::npos && k.find('\0') == std::string::npos;
}

class FsSandbox final : public sdk::Sandbox {
 public:
  static std::unique_ptr<FsSandbox> create(const sdk::CreateArgs& args) {
    auto sb = std::unique_ptr<FsSandbox>(new FsSandbox());
    sb->init(args);
    return sb;
  }

  ~FsSandbox() override { cleanup_tmp(); }

  json::object info() const override {
    return {{"sandbox_id", id_},
            {"session", session_ ? json::value(*session_) : json::value(nullptr)},
            {"persistent", persistent_},
            {"workspace", workspace_},
            {"tmp_dir", tmp_dir_},
            {"layout", cfg_.layout == Layout::shared ? "shared" : "per-session"},
            {"path_resolution", resolver_->uses_openat2() ? "openat2" : "fd-walk"},
            {"isolation", plan_.to_json()}};
  }

  Result release() override {
    cleanup_tmp();
    if (!persistent_ && !ws_name_.empty()) {
      // Remove the ephemeral workspace through fds (never following a symlink planted in it).
      int fd = ::openat(root_fd_.get(), ws_name_.c_str(),
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) {
        Fd d(fd);
        remove_tree(d.get(), workspace_);
      }
      if (::unlinkat(root_fd_.get(), ws_name_.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
        throw_errno(errno, workspace_, "removing the ephemeral workspace");
      ws_name_.clear();
    }
    return Result::ok({{"sandbox_id", id_}, {"removed", !persistent_}});
  }

  Result execute(sdk::Call& call) override {
    const auto& req = call.request();
    ExecSpec spec;
    spec.command = sdk::json_get::string(req, "command");
    if (spec.command.empty()) throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'command' is empty");
    if (spec.command.find('\0') != std::string::npos)
      throw Error(AR_ERR_INVALID_ARGUMENT, "execute: 'command' contains a NUL byte");
    spec.timeout_s = sdk::json_get::number(req, "timeout_s", cfg_.timeout_s);
    if (spec.timeout_s < 0) throw Error(AR_ERR_INVALID_ARGUMENT, "execute: timeout_s must be >= 0");
    spec.shell = cfg_.shell;
    spec.max_output_bytes = cfg_.max_output_bytes;
    spec.plan = &plan_;
    spec.limits = &cfg_.limits;

    SandboxPath cwd = parse_sandbox_path(sdk::json_get::opt_string(req, "cwd").value_or("/"));
    Fd cwd_fd = resolver_->open(cwd, O_PATH | O_DIRECTORY, "execute: cwd");
    spec.cwd_fd = cwd_fd.get();

    // The environment is built, not inherited: the host's API keys never reach a command unless
    // the config says inherit_env: true.
    std::map<std::string, std::string> env;
    if (cfg_.inherit_env) {
      for (char** e = environ; e && *e; ++e) {
        std::string kv = *e;
        auto eq = kv.find('=');
        if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    if (!env.count("PATH"))
      env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    env["HOME"] = workspace_;
    if (!env.count("LANG")) env["LANG"] = "C.UTF-8";
    env["TMPDIR"] = tmp_dir_;
    for (const auto& [k, v] : cfg_.env) env[k] = v;
    for (const auto& [k, v] : sdk::json_get::string_map(req, "env")) {
      if (!valid_env_name(k))
        throw Error(AR_ERR_INVALID_ARGUMENT, "execute: env name '" + k + "' is not valid");
      env[k] = v;
    }
    for (const auto& [k, v] : env) spec.env.push_back(k + "=" + v);

    ExecOutcome o = run_command(spec, call);
    if (o.cancelled)
      throw Error(AR_ERR_CANCELLED,
                  "execute: cancelled by the host; the command's process tree was killed");
    return Result::ok({{"exit_code", o.exit_code},
                       {"output", sdk::utf8_sanitize(o.output)},
                       {"stdout", sdk::utf8_sanitize(o.out)},
                       {"stderr", sdk::utf8_sanitize(o.err)},
                       {"truncated", o.truncated},
                       {"timed_out", o.timed_out},
                       {"duration_ms", o.duration_ms},
                       {"stdout_bytes", static_cast<int64_t>(o.out_bytes)},
                       {"stderr_bytes", static_cast<int64_t>(o.err_bytes)}});
  }

  Result ls(sdk::Call& c) override { return op_ls(ctx(), c); }
  Result read(sdk::Call& c) override { return op_read(ctx(), c); }
  Result write(sdk::Call& c) override { return op_write(ctx(), c); }
  Result edit(sdk::Call& c) override { return op_edit(ctx(), c); }
  Result glob(sdk::Call& c) override { return op_glob(ctx(), c); }
  Result grep(sdk::Call& c) override { return op_grep(ctx(), c); }
  Result upload(sdk::Call& c) override { return op_upload(ctx(), c); }
  Result download(sdk::Call& c) override { return op_download(ctx(), c); }
  Result remove(sdk::Call& c) override { return op_delete(ctx(), c); }

 private:
  FsSandbox() = default;

  FileContext ctx() const { return {*resolver_, cfg_.max_file_bytes, cfg_.max_search_entries}; }

  void init(const sdk::CreateArgs& args) {
    cfg_ = parse_config(args.config);
    session_ = args.session;
    if (session_) check_session_name(*session_);
    std::error_code ec;
    std::filesystem::path root = std::filesystem::absolute(cfg_.root_dir, ec);
    if (ec) throw Error(AR_ERR_INVALID_CONFIG, "sandbox.root_dir: " + ec.message());
    root = root.lexically_normal();
    if (root.has_filename() == false && root != root.root_path()) root = root.parent_path();
    std::filesystem::create_directories(root, ec);
    if (ec)
      throw Error(AR_ERR_INVALID_CONFIG,
                  "sandbox.root_dir: cannot create " + root.string() + ": " + ec.message());
    root_fd_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root_fd_)
      throw Error(AR_ERR_INVALID_CONFIG,
                  "sandbox.root_dir: cannot open " + root.string() + ": " + std::strerror(errno));

    if (cfg_.layout == Layout::shared) {
      // The user's own directory: never removed, whatever the session.
      persistent_ = true;
      workspace_ = root.string();
      ws_fd_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    } else {
      persistent_ = session_.has_value();
      ws_name_ = session_ ? *session_ : ".ephemeral-" + random_hex(8);
      if (::mkdirat(root_fd_.get(), ws_name_.c_str(), 0700) != 0 && errno != EEXIST)
        throw Error(
            AR_ERR_PERMISSION_DENIED,
            "cannot create workspace " + (root / ws_name_).string() + ": " + std::strerror(errno));
      ws_fd_.reset(::openat(root_fd_.get(), ws_name_.c_str(),
                            O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!ws_fd_)
        throw Error(AR_ERR_INVALID_PATH,
                    "workspace " + (root / ws_name_).string() +
                        " is not a directory (a symlink?): " + std::strerror(errno));
      workspace_ = (root / ws_name_).string();
      if (!persistent_) created_ephemeral_ = true;
    }
    if (!ws_fd_)
      throw Error(AR_ERR_INTERNAL,
                  "cannot open the workspace: " + std::string(std::strerror(errno)));

    // A private TMPDIR outside the workspace, removed on release.
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base && *base == '/' ? base : "/tmp") + "/agent-runner-fs-XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      throw Error(AR_ERR_INTERNAL, "cannot create the sandbox's private TMPDIR: " +
                                       std::string(std::strerror(errno)));
    tmp_dir_ = tmpl;

    const char* force = std::getenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
    resolver_ = std::make_unique<Resolver>(ws_fd_.get(), force && *force == '1');
    try {
      plan_ = plan_isolation(cfg_, workspace_, tmp_dir_);
    } catch (...) {
      cleanup_tmp();
      if (created_ephemeral_) ::unlinkat(root_fd_.get(), ws_name_.c_str(), AT_REMOVEDIR);
      throw;
    }
    for (const auto& d : plan_.degraded) args.host.warn("filesystem sandbox (best_effort): " + d);
    id_ = "fs-" + random_hex(6);
  }

  void cleanup_tmp() {
    if (tmp_dir_.empty()) return;
    int fd = ::open(tmp_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      try {
        remove_tree(fd, tmp_dir_);
      } catch (...) {
      }
      ::close(fd);
    }
    ::rmdir(tmp_dir_.c_str());
    tmp_dir_.clear();
  }

  FsConfig cfg_;
  std::optional<std::string> session_;
  bool persistent_ = false;
  bool created_ephemeral_ = false;
  std::string id_, workspace_, ws_name_, tmp_dir_;
  Fd root_fd_, ws_fd_;
  std::unique_ptr<Resolver> resolver_;
  IsolationPlan plan_;
};

}  // namespace
}  // namespace agent_runner::fs_plugin

AGENT_RUNNER_PLUGIN(agent_runner::fs_plugin::FsSandbox, "filesystem", "filesystem", "0.1.0",
                    AR_CAP_EXECUTE | AR_CAP_STREAMING | AR_CAP_TIMEOUT | AR_CAP_TREE_KILL |
                        AR_CAP_OUTPUT_CAP | AR_CAP_ENV | AR_CAP_FILES | AR_CAP_SEARCH |
                        AR_CAP_TRANSFER | AR_CAP_SESSIONS | AR_CAP_CANCEL | AR_CAP_ISOLATION |
                        AR_CAP_NETWORK_POLICY | AR_CAP_RESOURCE_LIMITS,
                    agent_runner::fs_plugin::kConfigSchema)
