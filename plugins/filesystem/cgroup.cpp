// SPDX-License-Identifier: Apache-2.0
#include "cgroup.hpp"

#include <agent_runner/plugin.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

bool has_option(const std::string& opts, const char* name) {
  return ("," + opts + ",").find("," + std::string(name) + ",") != std::string::npos;
}

// One mounted hierarchy and this process's cgroup in it.
struct Hierarchy {
  int version;
  std::string mount_point, mount_root, options;
  std::string cgroup_path;  // from /proc/self/cgroup
  std::string dir() const {
    std::string rel = cgroup_path;
    // A cgroup filesystem mounted at a sub-directory (a container) shows that directory's
    // contents at its mount point.
    if (mount_root != "/" && rel.compare(0, mount_root.size(), mount_root) == 0)
      rel = rel.substr(mount_root.size());
    return rel.empty() || rel == "/" ? mount_point : mount_point + rel;
  }
};

std::vector<Hierarchy> hierarchies() {
  std::vector<Hierarchy> out;
  std::istringstream mi(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(mi, line);) {
    // id parent major:minor root mount_point options [optional...] - fstype source super_options
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string w; ls >> w;) f.push_back(w);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || f.end() - dash < 2) continue;
    const std::string& fstype = *(dash + 1);
    const std::string super_opts = f.end() - dash >= 4 ? *(dash + 3) : "";
    if (fstype == "cgroup") out.push_back({1, f[4], f[3], super_opts, ""});
    if (fstype == "cgroup2") out.push_back({2, f[4], f[3], "", ""});
  }
  std::istringstream cg(read_text("/proc/self/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    // hierarchy-id:controllers:path ("0::path" for v2)
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    for (auto& h : out) {
      if (h.version == 2 && line.compare(0, a, "0") == 0 && ctrl.empty()) h.cgroup_path = path;
      if (h.version == 1 && !ctrl.empty()) {
        std::istringstream cs(ctrl);
        for (std::string c; std::getline(cs, c, ',');)
          if (has_option(h.options, c.c_str())) h.cgroup_path = path;
      }
    }
  }
  return out;
}

// Creates a probe child of `base` and checks that `file` in it can be written.
bool can_limit(const std::string& base, const char* file, bool* swap, const char* swap_file) {
  const std::string probe = base + "/agent-runner-probe-" + std::to_string(::getpid());
  if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) return false;
  const bool ok = ::access((probe + "/" + file).c_str(), W_OK) == 0;
  if (ok && swap) *swap = exists(probe + "/" + swap_file);
  ::rmdir(probe.c_str());
  return ok;
}

void write_file(const std::string& file, const std::string& value) {
  int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
  bool ok =
      fd >= 0 && ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
  const int err = errno;
  if (fd >= 0) ::close(fd);
  if (!ok)
    throw Error(AR_ERR_INTERNAL,
                "cgroup: writing '" + value + "' to " + file + " failed: " + std::strerror(err));
}

std::vector<pid_t> procs_of(const std::string& dir) {
  std::vector<pid_t> pids;
  std::istringstream in(read_text(dir + "/cgroup.procs"));
  for (long p; in >> p;)
    if (p > 0) pids.push_back(static_cast<pid_t>(p));
  return pids;
}

}  // namespace

CgroupPlaces find_cgroup_places() {
  CgroupPlaces p;
  for (const auto& h : hierarchies()) {
    if (h.cgroup_path.empty()) continue;
    const std::string base = h.dir();
    const bool v1 = h.version == 1;
    if (p.pids.empty() && (!v1 || has_option(h.options, "pids")) &&
        can_limit(base, "pids.max", nullptr, nullptr)) {
      p.pids = base;
      p.pids_version = h.version;
    }
    if (p.memory.empty() && (!v1 || has_option(h.options, "memory")) &&
        can_limit(base, v1 ? "memory.limit_in_bytes" : "memory.max", &p.memory_swap,
                  v1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max")) {
      p.memory = base;
      p.memory_version = h.version;
    }
  }
  return p;
}

CommandCgroup::~CommandCgroup() {
  for (const auto& d : dirs_) {
    for (int i = 0; i < 100 && ::rmdir(d.c_str()) != 0 && errno == EBUSY; ++i) {
      kill_all();
      ::usleep(1000);
    }
  }
}

void CommandCgroup::create(const CgroupPlaces& places, std::optional<uint64_t> pids_max,
                           std::optional<uint64_t> memory_bytes) {
  static std::atomic<uint64_t> counter{0};
  const std::string name =
      "/agent-runner-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  auto make = [&](const std::string& base) -> std::string {
    const std::string dir = base + name;
    if (std::find(dirs_.begin(), dirs_.end(), dir) != dirs_.end()) return dir;
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
      throw Error(AR_ERR_INTERNAL, "cgroup: mkdir " + dir + ": " + std::strerror(errno));
    dirs_.push_back(dir);
    return dir;
  };
  if (pids_max && !places.pids.empty())
    write_file(make(places.pids) + "/pids.max", std::to_string(*pids_max));
  if (memory_bytes && !places.memory.empty()) {
    const std::string dir = make(places.memory), bytes = std::to_string(*memory_bytes);
    if (places.memory_version == 1) {
      write_file(dir + "/memory.limit_in_bytes", bytes);
      if (places.memory_swap) write_file(dir + "/memory.memsw.limit_in_bytes", bytes);
    } else {
      write_file(dir + "/memory.max", bytes);
      if (places.memory_swap) write_file(dir + "/memory.swap.max", "0");
    }
  }
}

void CommandCgroup::add(pid_t pid) {
  for (const auto& d : dirs_) write_file(d + "/cgroup.procs", std::to_string(pid));
}

void CommandCgroup::kill_all() {
  if (dirs_.empty()) return;
  const std::string& dir = dirs_.front();
  if (exists(dir + "/cgroup.kill")) {
    int fd = ::open((dir + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)!::write(fd, "1", 1);
      ::close(fd);
    }
  }
  // A fork between reading the list and the kill adds a process: read again until empty.
  for (int round = 0; round < 200; ++round) {
    const auto pids = procs_of(dir);
    if (pids.empty()) return;
    for (pid_t p : pids) ::kill(p, SIGKILL);
    ::usleep(1000);
  }
}

void sweep_stale_cgroups(const CgroupPlaces& places) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::set<std::string> bases;
    if (!places.pids.empty()) bases.insert(places.pids);
    if (!places.memory.empty()) bases.insert(places.memory);
    const std::string prefix = "agent-runner-";
    for (const auto& base : bases) {
      DIR* d = ::opendir(base.c_str());
      if (!d) continue;
      while (dirent* e = ::readdir(d)) {
        std::string name = e->d_name;
        if (name.compare(0, prefix.size(), prefix) != 0) continue;
        std::string rest = name.substr(prefix.size());
        if (rest.compare(0, 6, "probe-") == 0) rest = rest.substr(6);
        const long pid = std::atol(rest.c_str());
        if (pid <= 0 || pid == ::getpid()) continue;
        // The owner is alive (or the pid was reused): leave it. rmdir refuses a non-empty one.
        if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
        ::rmdir((base + "/" + name).c_str());
      }
      ::closedir(d);
    }
  });
}

}  // namespace agent_runner::fs_plugin
