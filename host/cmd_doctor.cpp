// `agent-runner doctor`: what this machine supports for confining commands (Landlock, namespaces,
// rlimits, openat2), which plugins were found, and what is wrong with the configuration. The host
// does not know how a sandbox works; it only asks the kernel the same questions a local sandbox
// plugin would, so a user can see why `isolation: workspace-write` or `network: false` would fail.
#include "app.hpp"
#include "cli.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif

namespace agent_runner {
namespace {

// Result of trying a namespace in a throwaway child: "" when it worked, else the reason.
std::string try_namespaces(int flags) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return std::strerror(errno);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return std::strerror(errno);
  }
  if (pid == 0) {
    int err = ::unshare(flags) == 0 ? 0 : errno;
    (void)!::write(pipefd[1], &err, sizeof err);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  int err = -1;
  ssize_t n = ::read(pipefd[0], &err, sizeof err);
  ::close(pipefd[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (n != static_cast<ssize_t>(sizeof err)) return "probe failed";
  return err == 0 ? "" : std::strerror(err);
}

struct Check {
  std::string name;
  bool ok;
  std::string detail;
};

std::string read_first_line(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  return s.substr(0, s.find('\n'));
}

int doctor_command(App& app, bool json) {
  // --- kernel ---
  std::vector<Check> checks;
  utsname u{};
  ::uname(&u);
  const bool root = ::geteuid() == 0;

  long ll = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  const int landlock_abi = ll < 0 ? 0 : static_cast<int>(ll);
  std::string ll_detail;
  if (landlock_abi > 0) {
    ll_detail = "ABI " + std::to_string(landlock_abi);
    if (landlock_abi >= 6) ll_detail += " (filesystem, TCP, signal and abstract-socket scoping)";
  } else {
    ll_detail = errno == EOPNOTSUPP ? "built into the kernel but not enabled (add landlock to lsm=)"
                                    : "not available (needs Linux >= 5.13 with Landlock)";
  }
  checks.push_back({"landlock", landlock_abi > 0, ll_detail});

  const std::string userns = root ? "" : try_namespaces(CLONE_NEWUSER);
  std::string userns_detail =
      root ? "running as root: not needed"
           : (userns.empty() ? "unprivileged user namespaces work" : "refused: " + userns);
  if (!root) {
    const std::string max = read_first_line("/proc/sys/user/max_user_namespaces");
    if (max == "0") userns_detail += " (user.max_user_namespaces is 0)";
  }
  checks.push_back({"user_namespace", userns.empty(), userns_detail});
  const int userflag = root ? 0 : CLONE_NEWUSER;
  const std::string pidns = try_namespaces(userflag | CLONE_NEWPID);
  checks.push_back({"pid_namespace", pidns.empty(),
                    pidns.empty() ? "whole-tree kill by PID namespace"
                                  : "refused (" + pidns +
                                        "); tree kill falls back to process group + subreaper"});
  const std::string netns = try_namespaces(userflag | CLONE_NEWNET);
  checks.push_back({"network_namespace", netns.empty(),
                    netns.empty() ? "network: false is enforceable" : "refused: " + netns});

  open_how how{};
  how.flags = O_PATH | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  long fd = ::syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  const bool has_openat2 = fd >= 0 || errno != ENOSYS;
  if (fd >= 0) ::close(static_cast<int>(fd));
  checks.push_back({"openat2", has_openat2,
                    has_openat2 ? "paths resolved by the kernel (RESOLVE_BENEATH)"
                                : "missing (Linux < 5.6): plugins fall back to an fd-by-fd walk"});

  checks.push_back(
      {"rlimits", true,
       std::string("memory (RLIMIT_AS), cpu, open files, file size") +
           (root ? "; processes: RLIMIT_NPROC is not enforced for root, a writable pids cgroup "
                   "is used instead"
                 : "; processes (RLIMIT_NPROC, per user namespace)")});

  std::vector<std::string> levels = {"none"};
  if (landlock_abi > 0) {
    levels.push_back("workspace-write");
    levels.push_back("read-only");
  }

  // --- configuration and plugins ---
  std::vector<std::string> problems;
  ConfigLoad load = load_config(app.options().cli, app.env());
  for (const auto& p : load.problems) problems.push_back(p.to_string());
  const Config* cfg = load.problems.empty() ? app.config() : nullptr;
  auto& reg = app.plugins();
  if (cfg && !reg.find(cfg->sandbox_type))
    problems.push_back("sandbox_type '" + cfg->sandbox_type + "' (mode " +
                       std::string(mode_name(cfg->mode)) +
                       "): no loaded plugin provides it; see `agent-runner plugins`");
  for (const auto& w : reg.warnings()) problems.push_back(w);

  const bool healthy = problems.empty();
  if (json) {
    boost::json::object kernel{{"release", u.release}, {"root", root}};
    for (const auto& c : checks)
      kernel[c.name] = boost::json::object{{"ok", c.ok}, {"detail", c.detail}};
    kernel["landlock"].as_object()["abi"] = landlock_abi;
    boost::json::array lv, plugins, probs;
    for (const auto& l : levels) lv.push_back(boost::json::string(l));
    for (const auto& r : reg.reports()) plugins.push_back(r.to_json());
    for (const auto& p : problems) probs.push_back(boost::json::string(p));
    boost::json::object out{
        {"kernel", kernel},   {"isolation_levels", lv},   {"network_isolation", netns.empty()},
        {"plugins", plugins}, {"config_problems", probs}, {"ok", healthy}};
    if (cfg) {
      out["mode"] = mode_name(cfg->mode);
      out["sandbox_type"] = cfg->sandbox_type;
    }
    write_all(1, boost::json::serialize(out) + "\n");
    return healthy ? kExitOk : kExitFailure;
  }

  std::cout << "Kernel " << u.release << (root ? " (running as root)" : "") << "\n";
  for (const auto& c : checks)
    std::cout << "  " << (c.ok ? "[ok]  " : "[no]  ") << c.name << ": " << c.detail << "\n";
  std::cout << "Isolation levels available: ";
  for (size_t i = 0; i < levels.size(); ++i) std::cout << (i ? ", " : "") << levels[i];
  std::cout << "\nNetwork isolation (network: false): " << (netns.empty() ? "yes" : "no") << "\n";
  std::cout << "Plugins:\n";
  if (reg.reports().empty()) std::cout << "  (none found)\n";
  for (const auto& r : reg.reports()) {
    std::cout << "  " << (r.loaded ? "[ok]  " : "[bad] ") << r.path;
    if (r.loaded)
      std::cout << ": " << r.name.value_or("?") << " (type " << r.sandbox_type.value_or("?")
                << ", version " << r.version.value_or("?") << ")";
    else
      std::cout << ": " << r.error.value_or("rejected");
    std::cout << "\n";
  }
  if (cfg)
    std::cout << "Configuration: mode " << mode_name(cfg->mode) << ", sandbox type "
              << cfg->sandbox_type << "\n";
  if (healthy) {
    std::cout << "No problems found.\n";
  } else {
    std::cout << "Problems:\n";
    for (const auto& p : problems) std::cout << "  - " << p << "\n";
  }
  return healthy ? kExitOk : kExitFailure;
}

}  // namespace

cli::Run cli::define_doctor(CLI::App& cmd) {
  cmd.description(R"(what this machine supports (isolation, plugins, config)

Reports what this machine supports for local sandboxes (Landlock ABI version, user, PID and
network namespaces, rlimits, openat2), every plugin file found with why it was or was not loaded,
and every configuration problem. Exit code 0 when nothing is wrong, 1 when a problem was found.)");
  auto json = std::make_shared<bool>(false);
  cmd.add_flag("--json", *json, "print one JSON object instead of text");
  return [json](App& app) { return doctor_command(app, *json); };
}

}  // namespace agent_runner
