// SPDX-License-Identifier: Apache-2.0
#include "landlock.hpp"

#include <agent_runner/plugin.hpp>

#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

uint64_t handled_fs(int abi) {
  uint64_t a = kLlExecute | kLlWriteFile | kLlReadFile | kLlReadDir | kLlRemoveDir | kLlRemoveFile |
               kLlMakeChar | kLlMakeDir | kLlMakeReg | kLlMakeSock | kLlMakeFifo | kLlMakeBlock |
               kLlMakeSym;
  if (abi >= 2) a |= kLlRefer;
  if (abi >= 3) a |= kLlTruncate;
  if (abi >= 5) a |= kLlIoctlDev;
  return a;
}

}  // namespace

Fd build_landlock_ruleset(int abi, Isolation level, const LandlockPaths& paths) {
  const uint64_t handled = handled_fs(abi);
  RulesetAttr attr{};
  attr.handled_access_fs = handled;
  size_t attr_size = sizeof(uint64_t);
  if (abi >= 6) {
    // Keep the command from signalling processes outside the sandbox or connecting to abstract
    // unix sockets of the host.
    attr.scoped = kLlScopeAbstractUnix | kLlScopeSignal;
    attr_size = sizeof(RulesetAttr);
  }
  long rs = ::syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
  if (rs < 0)
    throw Error(AR_ERR_INTERNAL,
                std::string("landlock_create_ruleset failed: ") + std::strerror(errno));
  Fd ruleset(static_cast<int>(rs));
  auto allow = [&](const LandlockRule& rule, uint64_t access) {
    struct stat st {};
    ::fstat(rule.fd.get(), &st);
    if (!S_ISDIR(st.st_mode))
      access &= kLlExecute | kLlWriteFile | kLlReadFile | kLlTruncate | kLlIoctlDev;
    PathBeneathAttr pb{access & handled, rule.fd.get()};
    if (::syscall(SYS_landlock_add_rule, ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
      throw Error(AR_ERR_INTERNAL, "landlock_add_rule " + rule.name + ": " + std::strerror(errno));
  };
  allow(paths.root, kLlExecute | kLlReadFile | kLlReadDir);
  // Writing to the usual character devices is what every shell script does.
  for (const auto& d : paths.devices)
    allow(d, kLlReadFile | kLlWriteFile | kLlTruncate | kLlIoctlDev);
  if (level == Isolation::workspace_write) {
    // Everything but device nodes (also refused by the seccomp filter and the nodev mounts).
    const uint64_t write = handled & ~(kLlMakeChar | kLlMakeBlock);
    for (const auto& w : paths.writable) allow(w, write);
  }
  return ruleset;
}

}  // namespace agent_runner::fs_plugin
