// SPDX-License-Identifier: Apache-2.0
#include "workspace.hpp"

#include "file_ops.hpp"
#include "leftovers.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/text.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

constexpr std::string_view kEphemeralPrefix = ".ephemeral-";
constexpr std::string_view kTmpPrefix = "agent-runner-fs-";
// root_dir/.tmp/<session>: cannot be a session's workspace (session names never start with '.').
constexpr const char* kSessionTmp = ".tmp";
// Fresh names to try when a sweep in another process removes the one just made.
constexpr int kClaimAttempts = 8;

std::string tmp_base() {
  const char* base = std::getenv("TMPDIR");
  return base && *base == '/' ? base : "/tmp";
}

}  // namespace

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
  } else if (session) {
    persistent_ = true;
    ws_name_ = *session;
    if (::mkdirat(root_fd_.get(), ws_name_.c_str(), 0700) != 0 && errno != EEXIST)
      throw Error(
          AR_ERR_PERMISSION_DENIED,
          "cannot create workspace " + (root / ws_name_).string() + ": " + std::strerror(errno));
  } else {
    sweep_leftovers(root.string(), kEphemeralPrefix);
    for (int i = 0; i < kClaimAttempts && !ws_lock_; ++i) {
      ws_name_ = leftover_name(kEphemeralPrefix) + sdk::random_hex(8);
      if (::mkdirat(root_fd_.get(), ws_name_.c_str(), 0700) != 0)
        throw Error(
            AR_ERR_PERMISSION_DENIED,
            "cannot create workspace " + (root / ws_name_).string() + ": " + std::strerror(errno));
      ws_lock_ = claim_dir(root_fd_.get(), ws_name_);
    }
    if (!ws_lock_)
      throw Error(AR_ERR_INTERNAL, "cannot claim an ephemeral workspace in " + root.string());
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
    if (session && cfg.layout == Layout::per_session) {
      open_session_tmp(*session);
    } else {
      create_tmp_dir();
      tmp_fd_.reset(::open(tmp_dir_.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (!tmp_fd_)
      throw Error(AR_ERR_INTERNAL, "cannot open the sandbox's tmp directory " + tmp_dir_ + ": " +
                                       std::strerror(errno));
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
  sweep_leftovers(base, kTmpPrefix);
  for (int i = 0; i < kClaimAttempts && !tmp_lock_; ++i) {
    std::string tmpl = base + "/" + leftover_name(kTmpPrefix) + "XXXXXX";
    if (!::mkdtemp(tmpl.data()))
      throw Error(AR_ERR_INTERNAL, "cannot create the sandbox's private TMPDIR in " + base + ": " +
                                       std::string(std::strerror(errno)));
    tmp_lock_ = claim_dir(AT_FDCWD, tmpl);
    if (tmp_lock_) tmp_dir_ = tmpl;
  }
  if (!tmp_lock_) throw Error(AR_ERR_INTERNAL, "cannot claim a private TMPDIR in " + base);
}

void Workspace::open_session_tmp(const std::string& session) {
  // Through descriptors, never following a symlink: root_dir/.tmp, then the session's directory.
  const std::string parent = path_.substr(0, path_.size() - ws_name_.size()) + kSessionTmp;
  auto make = [&](int at, const std::string& name, const std::string& shown) {
    if (::mkdirat(at, name.c_str(), 0700) != 0 && errno != EEXIST)
      throw Error(AR_ERR_PERMISSION_DENIED, "cannot create the session's tmp directory " + shown +
                                                ": " + std::strerror(errno));
    Fd fd(::openat(at, name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
      throw Error(AR_ERR_INVALID_PATH,
                  "the session's tmp directory " + shown +
                      " is not a directory (a symlink?): " + std::strerror(errno));
    return fd;
  };
  const Fd dir = make(root_fd_.get(), kSessionTmp, parent);
  tmp_dir_ = parent + "/" + session;
  tmp_fd_ = make(dir.get(), session, tmp_dir_);
  tmp_persistent_ = true;
}

void Workspace::remove_tmp_dir() {
  if (tmp_dir_.empty() || tmp_persistent_) return;
  try {
    remove_tree(tmp_lock_.get(), tmp_dir_);
  } catch (...) {
  }
  ::rmdir(tmp_dir_.c_str());
  tmp_dir_.clear();
  tmp_lock_.reset();
}

bool Workspace::release() {
  remove_tmp_dir();
  if (persistent_ || ws_name_.empty()) return false;
  // ws_lock_ is an O_RDONLY descriptor of the workspace opened without following a symlink.
  remove_tree(ws_lock_.get(), path_);
  if (::unlinkat(root_fd_.get(), ws_name_.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT)
    throw_errno(errno, path_, "removing the ephemeral workspace");
  ws_name_.clear();
  ws_lock_.reset();
  return true;
}

}  // namespace agent_runner::fs_plugin
