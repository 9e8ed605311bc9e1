// SPDX-License-Identifier: Apache-2.0
#include "cli.hpp"

#include <sys/prctl.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace {

// The host's API keys arrive in its environment. /proc/PID/environ shows the initial
// environment block of a process to anyone who may read it — on some kernels even for a
// non-dumpable process — and the sandbox supervisor, which shares or copies the host's memory,
// carries the same block. So every variable is copied to the heap (getenv keeps working) and the
// values in the initial block are wiped before anything else runs.
void wipe_initial_environment() {
  std::vector<std::pair<std::string, std::string>> vars;
  std::vector<char*> originals;
  for (char** e = environ; e && *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    if (!eq) continue;
    vars.emplace_back(std::string(*e, static_cast<size_t>(eq - *e)), std::string(eq + 1));
    originals.push_back(*e);
  }
  for (const auto& [name, value] : vars) ::setenv(name.c_str(), value.c_str(), 1);
  for (char* original : originals) {
    bool still_used = false;
    for (char** e = environ; e && *e; ++e) still_used = still_used || *e == original;
    if (still_used) continue;  // setenv refused (odd name): leave it rather than corrupt it
    char* value = std::strchr(original, '=') + 1;
    std::memset(value, 0, std::strlen(value));
  }
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// Sanitizer builds only (the asan preset); tests start this binary with an environment of their
// own, so the option is built in. gcc 12's LeakSanitizer records the bounds of a dlopened
// module's dynamic TLS block by guessing at a glibc 2.19 header in front of it; on glibc 2.36 the
// block comes from malloc, and when it happens to start 16 bytes past a page boundary the guess
// reads garbage and LeakSanitizer's tracer segfaults at exit ("Tracer caught signal 11"), which
// fails the run whatever it did. Without the interception dynamic TLS is not scanned for roots,
// which can only add a report (memory reachable from nothing but a plugin's thread_local), never
// hide a leak.
extern "C" const char* __asan_default_options() {  // NOLINT(bugprone-reserved-identifier)
  return "intercept_tls_get_addr=0";
}
#endif

int main(int argc, char** argv) {
  // Non-dumpable: the host's memory (/proc/PID/mem), maps and core dumps are closed to other
  // processes of the same user, sandboxed commands included (they also lack CAP_SYS_PTRACE).
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  wipe_initial_environment();
  try {
    return agent_runner::cli_main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "agent-runner: internal error: " << e.what() << "\n";
    return 1;
  }
}
