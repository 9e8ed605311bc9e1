#include "workspace.hpp"

#include "file_ops.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

std::string tmp_base() {
  const char* base = std::getenv("TMPDIR");
  return base && *base == '/' ? base : "/tmp";
}

}  // namespace

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

Workspace::Workspace(const FsConfig& cfg, const std::optional<std::string>& session) {
  if (session) check_session_name(*session);
  std::error_code ec;
  std::filesystem::path root = std::filesystem::absolute(cfg.root_dir, ec);
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

  if (cfg.layout == Layout::shared) {
    // The user's own directory: never removed, whatever the session.
    persistent_ = true;
    path_ = root.string();
    ws_fd_.reset(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  } else {
    persistent_ = session.has_value();
    ws_name_ = session ? *session : ".ephemeral-" + random_hex(8);
    if (::mkdirat(root_fd_.get(), ws_name_.c_str(), 0700) != 0 && errno != EEXIST)
      throw Error(
          AR_ERR_PERMISSION_DENIED,
          "cannot create workspace " + (root / ws_name_).string() + ": " + std::strerror(errno));
  }
  if (!ws_name_.empty()) {
    ws_fd_.reset(
        ::openat(root_fd_.get(), ws_name_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!ws_fd_)
      throw Error(AR_ERR_INVALID_PATH,
                  "workspace " + (root / ws_name_).string() +
                      " is not a directory (a symlink?): " + std::strerror(errno));
    path_ = (root / ws_name_).string();
  }
  if (!ws_fd_)
    throw Error(AR_ERR_INTERNAL, "cannot open the workspace: " + std::string(std::strerror(errno)));
  try {
    create_tmp_dir();
  } catch (...) {
    release();
    throw;
  }
}

Workspace::~Workspace() {
  remove_tmp_dir();
}

void Workspace::create_tmp_dir() {
  // A private TMPDIR outside the workspace, removed on release.
  const std::string base = tmp_base();
  std::string tmpl = base + "/agent-runner-fs-XXXXXX";
  if (!::mkdtemp(tmpl.data()))
    throw Error(AR_ERR_INTERNAL, "cannot create the sandbox's private TMPDIR in " + base + ": " +
                                     std::string(std::strerror(errno)));
  tmp_dir_ = tmpl;
}

void Workspace::remove_tmp_dir() {
  if (tmp_dir_.empty()) return;
  Fd fd(::open(tmp_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) {
    try {
      remove_tree(fd.get(), tmp_dir_);
    } catch (...) {
    }
  }
  ::rmdir(tmp_dir_.c_str());
  tmp_dir_.clear();
}

bool Workspace::release() {
  remove_tmp_dir();
  if (persistent_ || ws_name_.empty()) return false;
  // Through fds, never following a symlink planted in it.
  Fd fd(
      ::openat(root_fd_.get(), ws_name_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (fd) remove_tree(fd.get(), path_);
  if (::unlinkat(root_fd_.get(), ws_name_.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    throw_errno(errno, path_, "removing the ephemeral workspace");
  ws_name_.clear();
  return true;
}

}  // namespace agent_runner::fs_plugin
