// SPDX-License-Identifier: Apache-2.0
#include "signals.hpp"

#include <csignal>

namespace agent_runner {
namespace {
std::atomic<bool> g_cancelled{false};
std::atomic<int> g_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free, "signal handler needs a lock-free flag");

extern "C" void on_cancel_signal(int sig) {
  g_signal.store(sig);
  g_cancelled.store(true);
}
}  // namespace

const std::atomic<bool>& install_cancel_signals() {
  static const bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = on_cancel_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocking reads return EINTR and see the flag
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    // A closed stdout/stderr pipe must be an error result, not a silent death.
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)installed;
  return g_cancelled;
}

int cancel_signal() {
  return g_signal.load();
}

}  // namespace agent_runner
