// SPDX-License-Identifier: Apache-2.0
#include "view_mount.hpp"

#include "namespaces.hpp"
#include "supervisor_launch.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <set>

namespace agent_runner::fs_plugin {
using sdk::Error;

namespace {

// Where the new root is put together before the pivot: a tmpfs mounted over /tmp of the child's
// private copy of the host's mounts (the host's /tmp is untouched; bind sources are reached
// through descriptors, so nothing is looked up below it).
constexpr const char* kBase = "/tmp";
constexpr int kMaxNs = 6;

enum Op : int32_t {
  kOpMkdir,    // mkdir target
  kOpTouch,    // create an empty file target
  kOpBind,     // bind source over target
  kOpBindRec,  // the same with everything mounted below the source
  kOpSymlink,  // symlink target -> source
  kOpTmpfs,    // tmpfs on target with options `source`
  kOpProc,     // proc on target; where refused, the host's /proc (source) bound instead
  kOpDevpts,   // a new devpts instance on target with options `source`
  kOpUnmount,  // detach what is mounted on target
  kOpRmdir,    // remove the directory target
  kOpAttr,     // mount_setattr target: set `set`, clear `clr`
  kOpAttrRec,  // the same on everything mounted below it
};

struct Step {
  Op op;
  const char* target;
  const char* source;
  unsigned long flags;
  uint64_t set, clr;
};

// What the child reports (with the descriptors as SCM_RIGHTS when ok).
struct Report {
  int32_t ok;
  int32_t step;  // index of the failed step, -1 for the namespace set-up
  int32_t err;
  int32_t n_fds;
  int32_t types[kMaxNs];  // namespace type of fds[1..]
};

// A bind source: opened by the child at `fd` before anything is mounted (a bind must come from a
// mount of the child's own namespace, so a descriptor opened by agent-runner would not do), and
// bound from "/proc/self/fd/<fd>" whatever the child has mounted over its path by then.
struct Source {
  const char* path;
  int flags;
  int fd;
};

// Everything the child needs, prepared before the clone.
struct Plan {
  std::deque<std::string> strings;  // stable addresses for the steps' strings
  std::vector<Step> steps;
  std::vector<std::string> what;  // per step, for the error message
  std::vector<Source> sources;
  int first_source_fd = 0;  // above every descriptor the child keeps
  int ctl = -1;
  pid_t host_pid = 0;
  bool user_ns = false, net_ns = false, pid_ns = false;
  char uid_map[64] = {}, gid_map[64] = {};

  const char* str(std::string s) {
    strings.push_back(std::move(s));
    return strings.back().c_str();
  }
  void add(Op op, const std::string& target, const char* source, std::string what_text,
           unsigned long flags = 0, uint64_t set = 0, uint64_t clr = 0) {
    steps.push_back({op, str(target), source, flags, set, clr});
    what.push_back(std::move(what_text));
  }
  // "/proc/self/fd/N" of the child's descriptor of `host`.
  const char* source_of(const std::string& host, bool is_dir) {
    const int fd = first_source_fd + static_cast<int>(sources.size());
    sources.push_back({str(host), O_PATH | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0), fd});
    return str("/proc/self/fd/" + std::to_string(fd));
  }
};

std::string target_of(const std::string& path) {
  return path == "/" ? std::string(kBase) : kBase + path;
}

void plan_view(const ViewTable& table, Plan& plan) {
  const auto& entries = table.entries();
  const uint64_t kLocked = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  const bool masks = std::any_of(entries.begin(), entries.end(),
                                 [](const MountEntry& e) { return e.kind == MountKind::mask; });
  // The empty file and directory masks are bound from live on a small tmpfs of their own, detached
  // once they are bound (a directory removed from under its binds would list as an error).
  const std::string masks_dir = std::string(kBase) + "/.masks";
  const std::string mask_file = masks_dir + "/file";
  const std::string mask_dir = masks_dir + "/dir";
  std::set<std::string> made{"/"};
  for (const auto& e : entries) {
    const std::string t = target_of(e.path);
    const std::string shown = e.path + (e.source.empty() ? "" : " (host " + e.source + ")");
    if (e.kind == MountKind::root) {
      plan.add(kOpTmpfs, t, plan.str("mode=0755,size=1m"), "mounting the root tmpfs",
               MS_NOSUID | MS_NODEV);
      if (masks) {
        plan.add(kOpMkdir, masks_dir, nullptr, "creating the mount point of the masks");
        plan.add(kOpTmpfs, masks_dir, plan.str("mode=0755,size=4k"), "mounting the masks' tmpfs",
                 MS_NOSUID | MS_NODEV | MS_NOEXEC);
        plan.add(kOpTouch, mask_file, nullptr, "creating the empty file masks are bound from");
        plan.add(kOpMkdir, mask_dir, nullptr, "creating the empty directory masks are bound from");
      }
      continue;
    }
    // Mount points in a tmpfs of the view's own are made here; one inside a bind (a mask over a
    // secret in /etc) exists already.
    const MountEntry* in = table.find(sdk::parse_sandbox_path(e.path).parent());
    const bool ours = in && (in->kind == MountKind::root || in->kind == MountKind::dev);
    if (ours) {
      const sdk::SandboxPath p = sdk::parse_sandbox_path(e.path);
      sdk::SandboxPath a;
      for (size_t i = 0; i + 1 < p.parts.size(); ++i) {
        a = a.child(p.parts[i]);
        if (made.insert(a.display()).second)
          plan.add(kOpMkdir, target_of(a.display()), nullptr, "creating " + a.display());
      }
      if (e.kind != MountKind::symlink)
        plan.add(e.is_dir ? kOpMkdir : kOpTouch, t, nullptr, "creating the mount point " + e.path);
    }
    made.insert(e.path);
    switch (e.kind) {
      case MountKind::symlink:
        plan.add(kOpSymlink, t, plan.str(e.source), "creating the symlink " + shown);
        break;
      case MountKind::system:
      case MountKind::workspace:
      case MountKind::tmp:
      case MountKind::mount:
        plan.add(kOpBindRec, t, plan.source_of(e.source, e.is_dir), "bind-mounting " + shown);
        plan.add(kOpAttrRec, t, nullptr, "setting the mount flags of " + e.path, 0,
                 e.writable ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV : kLocked,
                 e.writable ? MOUNT_ATTR_RDONLY : 0);
        break;
      case MountKind::mask:
        plan.add(kOpBind, t, plan.str(e.is_dir ? mask_dir : mask_file), "masking " + e.path);
        plan.add(kOpAttr, t, nullptr, "making the mask of " + e.path + " read-only", 0, kLocked);
        break;
      case MountKind::proc:
        plan.add(kOpProc, t, plan.source_of("/proc", true), "mounting /proc",
                 MS_NOSUID | MS_NODEV | MS_NOEXEC);
        break;
      case MountKind::dev:
        plan.add(kOpTmpfs, t, plan.str("mode=0755,size=64k"), "mounting the tmpfs of /dev",
                 MS_NOSUID | MS_NOEXEC);
        break;
      case MountKind::device:
        plan.add(kOpBind, t, plan.source_of(e.source, false), "bind-mounting " + shown);
        plan.add(kOpAttr, t, nullptr, "setting the mount flags of " + e.path, 0,
                 MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
        break;
      case MountKind::devpts:
        plan.add(kOpDevpts, t, plan.str("newinstance,ptmxmode=0666,mode=0620"), "mounting /dev/pts",
                 MS_NOSUID | MS_NOEXEC);
        break;
      case MountKind::shm:
        plan.add(kOpTmpfs, t, plan.str("mode=1777"), "mounting /dev/shm", MS_NOSUID | MS_NODEV);
        break;
      case MountKind::root:
        break;
    }
  }
  if (masks) {
    plan.add(kOpUnmount, masks_dir, nullptr, "detaching the masks' tmpfs");
    plan.add(kOpRmdir, masks_dir, nullptr, "removing the mount point of the masks");
  }
  // Last, once everything below it is in place: /dev itself read-only.
  for (const auto& e : entries)
    if (e.kind == MountKind::dev)
      plan.add(kOpAttr, target_of(e.path), nullptr, "making /dev read-only", 0,
               MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
}

// ---- the child: raw syscalls only ----

bool set_attr(const char* path, bool recursive, uint64_t set, uint64_t clr) {
  mount_attr attr{};
  attr.attr_set = set;
  attr.attr_clr = clr;
  return ::syscall(SYS_mount_setattr, AT_FDCWD, path, recursive ? AT_RECURSIVE : 0, &attr,
                   sizeof attr) == 0;
}

bool run_step(const Step& s) {
  switch (s.op) {
    case kOpMkdir:
      return ::mkdir(s.target, 0755) == 0 || errno == EEXIST;
    case kOpTouch: {
      int fd = ::open(s.target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) return false;
      ::close(fd);
      return true;
    }
    case kOpBind:
      return ::mount(s.source, s.target, nullptr, MS_BIND, nullptr) == 0;
    case kOpBindRec:
      return ::mount(s.source, s.target, nullptr, MS_BIND | MS_REC, nullptr) == 0;
    case kOpSymlink:
      return ::symlink(s.source, s.target) == 0;
    case kOpTmpfs:
      return ::mount("tmpfs", s.target, "tmpfs", s.flags, s.source) == 0;
    case kOpProc:
      // A /proc of the child's PID namespace; where the kernel refuses that (a container that
      // masks parts of /proc), the host's, as a command without the view would see it.
      return ::mount("proc", s.target, "proc", s.flags, nullptr) == 0 ||
             ::mount(s.source, s.target, nullptr, MS_BIND | MS_REC, nullptr) == 0;
    case kOpDevpts:
      return ::mount("devpts", s.target, "devpts", s.flags, s.source) == 0;
    case kOpUnmount:
      return ::umount2(s.target, MNT_DETACH) == 0;
    case kOpRmdir:
      return ::rmdir(s.target) == 0;
    case kOpAttr:
    case kOpAttrRec:
      return set_attr(s.target, s.op == kOpAttrRec, s.set, s.clr);
  }
  errno = EINVAL;
  return false;
}

void close_all_but(int keep) {
  const unsigned int k = static_cast<unsigned int>(keep);
  if (k > 3) ::syscall(SYS_close_range, 3u, k - 1, 0);
  const unsigned int from = k + 1;
  if (::syscall(SYS_close_range, from, ~0u, 0) != 0) {
    rlimit rl{};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    const unsigned int top = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 65536
                                 ? 65536
                                 : static_cast<unsigned int>(rl.rlim_cur);
    for (unsigned int fd = from; fd < top; ++fd) ::close(static_cast<int>(fd));
  }
}

[[noreturn]] void fail(const Plan& p, int32_t step) {
  Report r{};
  r.step = step;
  r.err = errno;
  ssize_t n;
  do n = ::send(p.ctl, &r, sizeof r, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  ::_exit(1);
}

[[noreturn]] void build(const Plan& p) {
  // Dies with agent-runner. In a PID namespace of its own getppid() is 0 whoever the parent is;
  // a builder whose host died before this line finishes alone and exits anyway.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (!p.pid_ns && ::getppid() != p.host_pid) ::_exit(1);
  // Copies of the host's other descriptors (other commands' pipes, locks) must not linger here.
  close_all_but(p.ctl);
  if (p.user_ns) {
    ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (!write_id_maps(p.uid_map, p.gid_map)) fail(p, -1);
  }
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  Report ok{};
  ok.ok = 1;
  int fds[1 + kMaxNs];
  int n = 1;
  auto ns = [&](const char* path, int type) {
    fds[n] = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fds[n] < 0) fail(p, -1);
    ok.types[n - 1] = type;
    ++n;
  };
  if (p.user_ns) ns("/proc/self/ns/user", CLONE_NEWUSER);
  ns("/proc/self/ns/mnt", CLONE_NEWNS);
  ns("/proc/self/ns/uts", CLONE_NEWUTS);
  ns("/proc/self/ns/ipc", CLONE_NEWIPC);
  if (p.net_ns) {
    ns("/proc/self/ns/net", CLONE_NEWNET);
    if (!bring_up_loopback()) fail(p, -1);
  }
  // Nothing done below may propagate back into the host's mounts.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(p, -1);
  for (const Source& src : p.sources) {
    int fd = ::open(src.path, src.flags);
    if (fd >= 0 && fd != src.fd) {
      const int moved = ::dup3(fd, src.fd, O_CLOEXEC);
      ::close(fd);
      fd = moved;
    }
    if (fd < 0) fail(p, -2 - static_cast<int32_t>(&src - p.sources.data()));
  }
  for (size_t i = 0; i < p.steps.size(); ++i)
    if (!run_step(p.steps[i])) fail(p, static_cast<int32_t>(i));
  const int32_t pivot = static_cast<int32_t>(p.steps.size());
  // The tmpfs becomes the root and the host's old root is detached from under it.
  if (::chdir(kBase) != 0 || ::syscall(SYS_pivot_root, ".", ".") != 0 ||
      ::umount2(".", MNT_DETACH) != 0 || ::chdir("/") != 0)
    fail(p, pivot);
  if (!set_attr("/", false, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, 0))
    fail(p, pivot + 1);
  fds[0] = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fds[0] < 0) fail(p, pivot + 1);
  ok.n_fds = n;
  char cbuf[CMSG_SPACE(sizeof fds)] = {};
  iovec iov{&ok, sizeof ok};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf;
  msg.msg_controllen = CMSG_SPACE(sizeof(int) * static_cast<size_t>(n));
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * static_cast<size_t>(n));
  std::memcpy(CMSG_DATA(c), fds, sizeof(int) * static_cast<size_t>(n));
  ssize_t sent;
  do sent = ::sendmsg(p.ctl, &msg, MSG_NOSIGNAL);
  while (sent < 0 && errno == EINTR);
  ::_exit(sent == static_cast<ssize_t>(sizeof ok) ? 0 : 1);
}

int builder_entry(void* plan) {
  build(*static_cast<const Plan*>(plan));
}

std::string step_text(const Plan& p, int32_t step) {
  if (step <= -2 && static_cast<size_t>(-2 - step) < p.sources.size())
    return std::string("opening ") + p.sources[static_cast<size_t>(-2 - step)].path;
  if (step < 0) return "setting up its namespaces";
  if (static_cast<size_t>(step) < p.what.size()) return p.what[static_cast<size_t>(step)];
  if (static_cast<size_t>(step) == p.steps.size()) return "pivoting into the new root";
  return "making the new root read-only";
}

}  // namespace

ViewNamespaces::ViewNamespaces(const ViewTable& table, const ViewOptions& opts) : opts_(opts) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    throw Error(AR_ERR_INTERNAL, std::string("socketpair: ") + std::strerror(errno));
  Fd mine(sv[0]), theirs(sv[1]);
  Plan plan;
  plan.ctl = theirs.get();
  plan.first_source_fd = std::max(plan.ctl + 1, 10);
  plan_view(table, plan);
  plan.host_pid = ::getpid();
  plan.user_ns = opts.user_ns;
  plan.net_ns = opts.net_ns;
  plan.pid_ns = opts.pid_ns;
  std::snprintf(plan.uid_map, sizeof plan.uid_map, "%u %u 1\n", ::geteuid(), ::geteuid());
  std::snprintf(plan.gid_map, sizeof plan.gid_map, "%u %u 1\n", ::getegid(), ::getegid());

  unsigned long flags = SIGCHLD | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  if (opts.user_ns) flags |= CLONE_NEWUSER;
  if (opts.pid_ns) flags |= CLONE_NEWPID;
  if (opts.net_ns) flags |= CLONE_NEWNET;
  // The builder shares the host's memory (no copy of its page tables to make and tear down,
  // supervisor_launch.hpp) on a slot's stack and TLS, except with a user namespace, whose id maps
  // it writes as a process of its own. It is reaped below on every path, before `launch` ends.
  SupervisorLaunch launch;
  const long pid = launch.start_child(builder_entry, &plan, flags, !opts.user_ns);
  if (pid < 0)
    throw Error(AR_ERR_UNSUPPORTED,
                std::string("building the sandbox's view: clone failed: ") + std::strerror(-pid));
  theirs.reset();

  // The child answers within milliseconds; it is given generous time on a loaded machine and
  // killed after that.
  Report r{};
  int fds[1 + kMaxNs];
  int n_fds = 0;
  bool answered = false, exited = false;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!answered && !exited && std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{mine.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 50) > 0) {
      char cbuf[CMSG_SPACE(sizeof fds)] = {};
      iovec iov{&r, sizeof r};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = cbuf;
      msg.msg_controllen = sizeof cbuf;
      const ssize_t got = ::recvmsg(mine.get(), &msg, MSG_CMSG_CLOEXEC);
      if (got == static_cast<ssize_t>(sizeof r)) {
        answered = true;
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
          if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            n_fds = static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            std::memcpy(fds, CMSG_DATA(c), sizeof(int) * static_cast<size_t>(n_fds));
          }
      }
    }
    if (!answered && ::waitpid(static_cast<pid_t>(pid), &status, WNOHANG) == pid) exited = true;
  }
  if (!exited) {
    if (!answered) ::kill(static_cast<pid_t>(pid), SIGKILL);
    while (::waitpid(static_cast<pid_t>(pid), &status, 0) < 0 && errno == EINTR) {
    }
  }
  std::vector<Fd> received;
  received.reserve(static_cast<size_t>(n_fds));
  for (int i = 0; i < n_fds; ++i) received.emplace_back(fds[i]);
  if (!answered)
    throw Error(
        AR_ERR_UNSUPPORTED,
        "building the sandbox's view: the builder process " +
            std::string(exited ? "died" : "did not answer within 30 s") +
            " (run `agent-runner doctor`; sandbox.best_effort: true runs without the view)");
  if (!r.ok)
    throw Error(
        AR_ERR_UNSUPPORTED,
        "building the sandbox's view: " + step_text(plan, r.step) +
            " failed: " + std::strerror(r.err) +
            " (run `agent-runner doctor`; sandbox.best_effort: true runs without the view)");
  if (n_fds != r.n_fds || n_fds < 2)
    throw Error(AR_ERR_INTERNAL, "building the sandbox's view: descriptors were lost");
  root_ = std::move(received[0]);
  for (int i = 1; i < n_fds; ++i) ns_.push_back({std::move(received[i]), r.types[i - 1]});
}

}  // namespace agent_runner::fs_plugin
