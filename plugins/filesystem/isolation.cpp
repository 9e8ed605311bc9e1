#include "isolation.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <linux/landlock.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

// Landlock constants newer than Debian 12's kernel headers.
constexpr uint64_t kLlExecute = 1ull << 0, kLlWriteFile = 1ull << 1, kLlReadFile = 1ull << 2,
                   kLlReadDir = 1ull << 3, kLlRemoveDir = 1ull << 4, kLlRemoveFile = 1ull << 5,
                   kLlMakeChar = 1ull << 6, kLlMakeDir = 1ull << 7, kLlMakeReg = 1ull << 8,
                   kLlMakeSock = 1ull << 9, kLlMakeFifo = 1ull << 10, kLlMakeBlock = 1ull << 11,
                   kLlMakeSym = 1ull << 12, kLlRefer = 1ull << 13, kLlTruncate = 1ull << 14,
                   kLlIoctlDev = 1ull << 15;
constexpr uint64_t kLlScopeAbstractUnix = 1ull << 0, kLlScopeSignal = 1ull << 1;

struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};

int landlock_abi_version() {
  long v = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return v < 0 ? 0 : static_cast<int>(v);
}

uint64_t handled_fs(int abi) {
  uint64_t a = kLlExecute | kLlWriteFile | kLlReadFile | kLlReadDir | kLlRemoveDir | kLlRemoveFile |
               kLlMakeChar | kLlMakeDir | kLlMakeReg | kLlMakeSock | kLlMakeFifo | kLlMakeBlock |
               kLlMakeSym;
  if (abi >= 2) a |= kLlRefer;
  if (abi >= 3) a |= kLlTruncate;
  if (abi >= 5) a |= kLlIoctlDev;
  return a;
}

// Forks a throwaway child with `flags` to see whether the kernel lets us create those namespaces.
bool can_clone(unsigned long flags) {
  long pid = ::syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid < 0) return false;
  if (pid == 0) ::syscall(SYS_exit_group, 0);
  int st = 0;
  while (::waitpid(static_cast<pid_t>(pid), &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A pids-controller cgroup directory we can create children in (v1 "pids" hierarchy or v2 with
// the pids controller enabled for children), or "".
std::string find_pids_cgroup() {
  std::string mount_v1, mount_v2;
  std::istringstream mi(read_text("/proc/self/mountinfo"));
  for (std::string line; std::getline(mi, line);) {
    // ... mount_point ... - fstype source super_options
    std::istringstream ls(line);
    std::vector<std::string> f;
    for (std::string w; ls >> w;) f.push_back(w);
    auto dash = std::find(f.begin(), f.end(), "-");
    if (dash == f.end() || f.size() < 5 || dash + 3 >= f.end() + 1) continue;
    const std::string& fstype = *(dash + 1);
    const std::string opts = dash + 3 < f.end() ? *(dash + 3) : "";
    if (fstype == "cgroup" && ("," + opts + ",").find(",pids,") != std::string::npos)
      mount_v1 = f[4];
    if (fstype == "cgroup2" && mount_v2.empty()) mount_v2 = f[4];
  }
  std::string path_v1, path_v2;
  std::istringstream cg(read_text("/proc/self/cgroup"));
  for (std::string line; std::getline(cg, line);) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string ctrl = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (("," + ctrl + ",").find(",pids,") != std::string::npos) path_v1 = path;
    if (ctrl.empty() && line.substr(0, a) == "0") path_v2 = path;
  }
  std::vector<std::string> candidates;
  if (!mount_v1.empty()) candidates.push_back(mount_v1 + path_v1);
  if (!mount_v2.empty()) candidates.push_back(mount_v2 + path_v2);
  for (const auto& base : candidates) {
    const std::string probe = base + "/agent-runner-probe-" + std::to_string(::getpid());
    if (::mkdir(probe.c_str(), 0755) != 0 && errno != EEXIST) continue;
    const bool ok = ::access((probe + "/pids.max").c_str(), W_OK) == 0;
    ::rmdir(probe.c_str());
    if (ok) return base;
  }
  return "";
}

}  // namespace

const KernelFeatures& kernel_features() {
  static std::once_flag once;
  static KernelFeatures f;
  std::call_once(once, [] {
    f.landlock_abi = landlock_abi_version();
    f.is_root = ::geteuid() == 0;
    f.openat2 = Resolver::openat2_available();
    const unsigned long userns = f.is_root ? 0 : CLONE_NEWUSER;
    f.user_ns = f.is_root || can_clone(CLONE_NEWUSER);
    f.pid_ns = can_clone(userns | CLONE_NEWPID);
    f.net_ns = can_clone(userns | CLONE_NEWNET);
    if (f.is_root) f.pids_cgroup = find_pids_cgroup();
  });
  return f;
}

boost::json::object IsolationPlan::to_json() const {
  boost::json::array deg;
  for (const auto& d : degraded) deg.push_back(boost::json::string(d));
  return {{"level", isolation_name(level)},      {"landlock_abi", landlock_abi},
          {"no_new_privs", no_new_privs},        {"pid_namespace", pid_ns},
          {"user_namespace", user_ns},           {"network_namespace", net_ns},
          {"pids_cgroup", !pids_cgroup.empty()}, {"degraded", std::move(deg)}};
}

IsolationPlan plan_isolation(const FsConfig& cfg, const std::string& workspace,
                             const std::string& tmp_dir) {
  const KernelFeatures& k = kernel_features();
  IsolationPlan plan;
  plan.level = cfg.isolation;
  auto missing = [&](const std::string& what, const std::string& why) {
    if (!cfg.best_effort)
      throw Error(AR_ERR_UNSUPPORTED,
                  what + " is not available on this machine: " + why +
                      ". Set sandbox.best_effort: true to run without it, or change the config "
                      "(run `agent-runner doctor` to see what this kernel supports)");
    plan.degraded.push_back(what + ": " + why);
  };

  // The whole-tree kill: a PID namespace when possible, else process group + subreaper.
  // AGENT_RUNNER_FS_NO_PID_NAMESPACE=1 forces the fallback (for testing it on capable kernels).
  const char* no_pidns = std::getenv("AGENT_RUNNER_FS_NO_PID_NAMESPACE");
  plan.pid_ns = k.pid_ns && !(no_pidns && *no_pidns == '1');
  plan.user_ns = !k.is_root && k.pid_ns;

  if (!cfg.network) {
    if (k.net_ns) {
      plan.net_ns = true;
      plan.user_ns = !k.is_root;
    } else {
      missing("network isolation (network: false)",
              k.is_root ? "the kernel refused a new network namespace"
                        : "unprivileged user namespaces are disabled");
    }
  }

  if (cfg.isolation != Isolation::none) {
    plan.no_new_privs = true;
    if (k.landlock_abi < 1) {
      missing(std::string("isolation '") + isolation_name(cfg.isolation) + "' (Landlock)",
              "the kernel has no Landlock LSM enabled (needs Linux >= 5.13 with lsm=landlock)");
    } else {
      plan.landlock_abi = k.landlock_abi;
      const uint64_t handled = handled_fs(k.landlock_abi);
      RulesetAttr attr{};
      attr.handled_access_fs = handled;
      size_t attr_size = sizeof(uint64_t);
      if (k.landlock_abi >= 6) {
        // Keep the command from signalling processes outside the sandbox or connecting to
        // abstract unix sockets of the host.
        attr.scoped = kLlScopeAbstractUnix | kLlScopeSignal;
        attr_size = sizeof(RulesetAttr);
      }
      long rs = ::syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
      if (rs < 0)
        throw Error(AR_ERR_INTERNAL,
                    std::string("landlock_create_ruleset failed: ") + std::strerror(errno));
      plan.landlock_ruleset.reset(static_cast<int>(rs));
      auto allow = [&](const std::string& path, uint64_t access, bool required) {
        int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
        if (fd < 0) {
          if (required)
            throw Error(AR_ERR_INTERNAL,
                        "landlock: cannot open " + path + ": " + std::strerror(errno));
          return;
        }
        struct stat st {};
        ::fstat(fd, &st);
        if (!S_ISDIR(st.st_mode))
          access &= kLlExecute | kLlWriteFile | kLlReadFile | kLlTruncate | kLlIoctlDev;
        PathBeneathAttr pb{access & handled, fd};
        long r = ::syscall(SYS_landlock_add_rule, plan.landlock_ruleset.get(),
                           LANDLOCK_RULE_PATH_BENEATH, &pb, 0);
        int err = errno;
        ::close(fd);
        if (r < 0)
          throw Error(AR_ERR_INTERNAL, "landlock_add_rule " + path + ": " + std::strerror(err));
      };
      const uint64_t read_exec = kLlExecute | kLlReadFile | kLlReadDir;
      allow("/", read_exec, true);
      // Writing to the usual character devices is what every shell script does.
      for (const char* dev : {"/dev/null", "/dev/zero", "/dev/full", "/dev/tty"})
        allow(dev, kLlReadFile | kLlWriteFile | kLlTruncate | kLlIoctlDev, false);
      if (cfg.isolation == Isolation::workspace_write) {
        allow(workspace, handled, true);
        allow(tmp_dir, handled, true);
      }
    }
  }

  if (cfg.limits.processes) {
    if (k.is_root) {
      // RLIMIT_NPROC is not enforced for root: count the tree in a pids cgroup instead.
      if (!k.pids_cgroup.empty())
        plan.pids_cgroup = k.pids_cgroup;
      else
        missing("limits.processes",
                "running as root, RLIMIT_NPROC is not enforced and no writable "
                "pids cgroup was found");
    } else {
      plan.nproc_rlimit = true;
      if (!plan.user_ns)
        plan.degraded.push_back(
            "limits.processes: without a user namespace RLIMIT_NPROC counts every process of "
            "this user, not only the sandbox's");
    }
  }
  return plan;
}

}  // namespace agent_runner::fs_plugin
