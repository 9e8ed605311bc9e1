// SPDX-License-Identifier: Apache-2.0
// `agent-runner __run-job --dir DIR` (hidden): one job of `agent-runner worker`, in a process of
// its own so that a plugin that crashes or leaks loses this job only. The job's JSON arrives on
// stdin; run's --events JSON lines go to file descriptor 3, which the worker forwards to Redis; the
// exit code is run's. DIR is an empty private directory the worker created (and removes): the job's
// inlined files are written there.
#include "app.hpp"
#include "cli.hpp"
#include "events.hpp"
#include "signals.hpp"
#include "worker/job.hpp"
#include "workload_runner.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <iostream>

namespace agent_runner {

namespace {

int run_job_command(App& app, const std::string& dir) {
  if (::fcntl(3, F_GETFD) < 0) {
    std::cerr << "agent-runner __run-job: an internal command of `agent-runner worker`, not for "
                 "direct use (see agent-runner worker --help)\n";
    return kExitUsage;
  }
  // Nothing the job starts inherits the events pipe.
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  EventSink sink(3);
  const auto& interrupted = install_cancel_signals();
  std::string name;
  auto fail = [&](const std::string& code, const std::string& message) {
    sink.emit({{"event", "workload.finished"},
               {"workload", name},
               {"status", "failed"},
               {"error", {{"code", code}, {"message", message}}},
               {"steps_ok", 0},
               {"steps_failed", 0},
               {"duration_ms", 0}});
    std::cerr << "agent-runner __run-job: " << code << ": " << message << "\n";
    return kExitUsage;
  };
  const Config* cfg = app.config();
  if (!cfg) return fail("invalid_config", "the worker's configuration has errors (see its log)");
  const size_t cap = static_cast<size_t>(cfg->job_max_bytes);
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > cap) break;
  }
  auto parsed = worker::parse_job(text, cap);
  if (!parsed.job) return fail("invalid_job", parsed.error);
  name = std::string(parsed.job->document.at("name").get_string());
  auto load = worker::materialise_job(*parsed.job, dir, app.env());
  if (!load.workload) {
    std::string all;
    for (const auto& e : load.errors) all += (all.empty() ? "" : "; ") + e;
    return fail("invalid_workload", all);
  }
  app.selected_plugins();
  RunOptions opts;
  opts.events = &sink;
  opts.interrupted = &interrupted;
  opts.inline_downloads = cap;
  return run_workload(app, *load.workload, opts).exit_code;
}

}  // namespace

cli::Run cli::define_run_job(CLI::App& cmd) {
  cmd.description("one job of `agent-runner worker` (internal; not listed)");
  auto dir = std::make_shared<std::string>();
  cmd.add_option("--dir", *dir, "the job's private directory")->required()->type_name(kDir);
  return [dir](App& app) { return run_job_command(app, *dir); };
}

}  // namespace agent_runner
