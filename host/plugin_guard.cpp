// SPDX-License-Identifier: Apache-2.0
#include "plugin_guard.hpp"

#include "app.hpp"

#include <agent_runner/plugin.h>

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <string>

namespace agent_runner {
namespace {

constexpr std::array kFatal = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGSYS};

// Everything the handler writes is made before the guard is armed: a signal handler may only
// call async-signal-safe functions (write, _exit), so no formatting happens there.
struct Messages {
  std::string head;                                // "agent-runner: plugin FILE "
  std::array<std::string, 3> where;                // per phase
  std::array<std::string, kFatal.size()> crashed;  // "crashed with SIGSEGV "
  std::string timed_out;                           // "timed out after 2 s "
  std::string tail;                                // "; ...fix\n"
};

Messages g_messages;
std::atomic<int> g_phase{0};
std::array<struct sigaction, kFatal.size()> g_previous{};
struct sigaction g_previous_alarm {};

void say(const std::string& s) {
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    const ssize_t n = ::write(2, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void report_and_exit(const std::string& what) {
  say(g_messages.head);
  say(what);
  say(g_messages.where[static_cast<size_t>(g_phase.load())]);
  say(g_messages.tail);
  ::_exit(kExitPlugin);
}

void on_fatal(int sig) {
  for (size_t i = 0; i < kFatal.size(); ++i)
    if (kFatal[i] == sig) report_and_exit(g_messages.crashed[i]);
  report_and_exit("crashed ");
}

void on_alarm(int) {
  report_and_exit(g_messages.timed_out);
}

std::string signal_name(int sig) {
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

}  // namespace

PluginLoadGuard::PluginLoadGuard(const std::filesystem::path& file,
                                 std::chrono::milliseconds timeout) {
  g_messages.head = "agent-runner: plugin " + file.string() + " ";
  // The same words as the child probe's (plugin_probe.cpp), so `agent-runner plugins` and a
  // failed command tell the same story.
  g_messages.where = {"while it was loaded (in its constructors)",
                      "in its entry function " AR_PLUGIN_ENTRY_SYMBOL,
                      "while its descriptor was read"};
  for (size_t i = 0; i < kFatal.size(); ++i)
    g_messages.crashed[i] = "crashed with " + signal_name(kFatal[i]) + " ";
  const long long ms = timeout.count();
  g_messages.timed_out = "timed out after " + (ms % 1000 == 0 ? std::to_string(ms / 1000) + " s "
                                                              : std::to_string(ms) + " ms ");
  g_messages.tail =
      "; it is the plugin the configuration selects (sandbox type), so the command cannot run. "
      "Run `agent-runner plugins` to see every plugin file and its state; fix or remove the "
      "file.\n";
  g_phase.store(0);

  struct sigaction act {};
  act.sa_handler = &on_fatal;
  sigemptyset(&act.sa_mask);
  act.sa_flags = SA_NODEFER | SA_RESETHAND;
  for (size_t i = 0; i < kFatal.size(); ++i) ::sigaction(kFatal[i], &act, &g_previous[i]);
  struct sigaction alarm_act {};
  alarm_act.sa_handler = &on_alarm;
  sigemptyset(&alarm_act.sa_mask);
  ::sigaction(SIGALRM, &alarm_act, &g_previous_alarm);
  ::alarm(static_cast<unsigned>(std::max<long long>(1, (ms + 999) / 1000)));
}

PluginLoadGuard::~PluginLoadGuard() {
  ::alarm(0);
  ::sigaction(SIGALRM, &g_previous_alarm, nullptr);
  for (size_t i = 0; i < kFatal.size(); ++i) ::sigaction(kFatal[i], &g_previous[i], nullptr);
}

void PluginLoadGuard::phase(Phase p) {
  g_phase.store(static_cast<int>(p));
}

}  // namespace agent_runner
