// SPDX-License-Identifier: Apache-2.0
#include "fs_test_util.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace fs_test {

std::shared_ptr<agent_runner::LoadedPlugin> plugin() {
  static agent_runner::PluginRegistry reg = [] {
    agent_runner::PluginRegistry r;
    r.load_file(fs::path(AR_TEST_PLUGIN_DIR) / "filesystem.so", "test");
    return r;
  }();
  return reg.find("filesystem");
}

std::unique_ptr<Sandbox> open_sandbox(boost::json::object config,
                                      std::optional<std::string> session, OpResult& err) {
  auto p = plugin();
  if (!p) {
    err = OpResult::error(AR_ERR_UNAVAILABLE, "filesystem.so did not load");
    return nullptr;
  }
  return Sandbox::create(p, config, session, err);
}

Box::Box(boost::json::object extra, std::optional<std::string> session) {
  boost::json::object cfg{{"type", "filesystem"}, {"root_dir", root.path().string()}};
  for (auto& kv : extra) cfg[kv.key()] = kv.value();
  sb = open_sandbox(cfg, session, create_error);
}

fs::path Box::ws() const {
  return std::string(sb->info().at("workspace").as_string());
}

std::string info_str(const Box& b, const char* key) {
  const auto info = b.sb->info();
  auto it = info.find(key);
  return it != info.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

std::string workdir(const Box& b) {
  return info_str(b, "workdir");
}

std::string in_ws(const Box& b, const std::string& rel) {
  return rel.empty() ? workdir(b) : workdir(b) + "/" + rel;
}

bool container_view(const Box& b) {
  return info_str(b, "view") == "container";
}

std::string tmp_path(const Box& b) {
  return container_view(b) ? "/tmp" : info_str(b, "tmp_dir");
}

OpResult Box::exec(const std::string& cmd, boost::json::object extra,
                   const agent_runner::CallOptions& opts) {
  boost::json::object req{{"command", cmd}};
  for (auto& kv : extra) req[kv.key()] = kv.value();
  return sb->call(Op::execute, req, opts);
}

OpResult Box::write(const std::string& path, const std::string& content, bool overwrite) {
  agent_runner::CallOptions o;
  o.inputs = {content};
  return sb->call(Op::write, {{"path", path}, {"overwrite", overwrite}}, o);
}

OpResult Box::read(const std::string& path) {
  return sb->call(Op::read, {{"path", path}});
}

std::vector<pid_t> pids_with(const std::string& needle) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end || pid <= 0 || pid == ::getpid()) continue;
    std::ifstream in("/proc/" + std::string(e->d_name) + "/cmdline", std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string cmd = ss.str();
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    if (cmd.find(needle) != std::string::npos) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

std::string marker() {
  static std::atomic<int> n{0};
  std::random_device rd;
  return std::to_string(::getpid()) + std::to_string(rd() % 100000) + std::to_string(n++);
}

PrivateTmpfs::PrivateTmpfs(const std::string& options) {
  if (::geteuid() != 0) {
    error_ = "needs root to mount a tmpfs";
    return;
  }
  cwd_ = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  old_ns_ = ::open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (old_ns_ < 0 || ::unshare(CLONE_NEWNS) != 0) {
    error_ = std::string("cannot make a private mount namespace: ") + std::strerror(errno);
    return;
  }
  in_ns_ = true;
  // Private first, so the mount below does not propagate back to the host's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      ::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
    error_ = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
    return;
  }
  mounted_ = true;
}

PrivateTmpfs::~PrivateTmpfs() {
  if (mounted_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  // Back to the host's namespace (which also resets the thread's cwd: restored after).
  if (in_ns_ && ::setns(old_ns_, CLONE_NEWNS) != 0)
    std::fprintf(stderr, "PrivateTmpfs: setns back failed: %s\n", std::strerror(errno));
  if (cwd_ >= 0) {
    if (::fchdir(cwd_) != 0) std::perror("PrivateTmpfs: fchdir");
    ::close(cwd_);
  }
  if (old_ns_ >= 0) ::close(old_ns_);
}

std::string str(const OpResult& r, const char* key) {
  auto it = r.body.find(key);
  return it != r.body.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}
int64_t num(const OpResult& r, const char* key) {
  auto it = r.body.find(key);
  return it != r.body.end() && it->value().is_int64() ? it->value().as_int64() : -1;
}
bool flag(const OpResult& r, const char* key) {
  auto it = r.body.find(key);
  return it != r.body.end() && it->value().is_bool() && it->value().as_bool();
}

}  // namespace fs_test
