// SPDX-License-Identifier: Apache-2.0
// `agent-runner run`: workload files, each in its own sandbox, with JSON-lines events.
#include "app.hpp"
#include "cli.hpp"
#include "redact.hpp"
#include "signals.hpp"
#include "workload.hpp"
#include "workload_runner.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <thread>

namespace agent_runner {
namespace {

struct RunArgs {
  std::vector<std::string> files;
  std::optional<std::string> session, events_target;
  std::optional<int> parallel;
};

int run_command(App& app, const RunArgs& args) {
  const auto& files = args.files;
  const auto& session = args.session;
  const auto& events_target = args.events_target;
  const auto& parallel = args.parallel;
  if (files.empty()) {
    std::cerr << "agent-runner run: no workload file given; usage: agent-runner run WORKLOAD... "
                 "(see --help)\n";
    return kExitUsage;
  }

  // Everything is validated before anything runs.
  auto loaded = load_workloads(files, app.env(), "run");
  if (!loaded) return kExitUsage;
  std::vector<Workload>& workloads = *loaded;
  // Every workload's secrets are masked from the start, so one workload's output cannot show
  // another's secret before that one begins.
  for (const auto& w : workloads)
    for (const auto& [name, value] : w.secrets) Redactor::global().add(value);
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  app.selected_plugins();  // loaded once, before workloads run in parallel

  int events_fd = -1;
  if (events_target && (events_fd = open_events_target(*events_target, "run")) < 0)
    return kExitUsage;
  std::optional<EventSink> sink;
  if (events_fd >= 0) sink.emplace(events_fd);
  Console console(::isatty(2) == 1, workloads.size() == 1 && events_fd != 1);

  RunOptions opts;
  opts.session = session;
  opts.events = sink ? &*sink : nullptr;
  opts.console = &console;
  opts.interrupted = &install_cancel_signals();

  std::vector<WorkloadOutcome> outcomes(workloads.size());
  const size_t width = std::min<size_t>(
      workloads.size(), static_cast<size_t>(parallel.value_or(cfg->max_concurrency)));
  std::atomic<size_t> next{0};
  auto worker = [&] {
    for (size_t i = next++; i < workloads.size(); i = next++) {
      if (opts.interrupted->load()) {
        outcomes[i] = {WorkloadStatus::cancelled, kExitFailure};
        continue;
      }
      outcomes[i] = run_workload(app, workloads[i], opts);
    }
  };
  if (width <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 0; t < width; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (events_fd > 1) ::close(events_fd);

  int worst = kExitOk;
  for (const auto& o : outcomes) worst = std::max(worst, o.exit_code);
  if (workloads.size() > 1) {
    int ok = 0;
    for (const auto& o : outcomes) ok += o.status == WorkloadStatus::succeeded;
    console.status(
        std::to_string(ok) + " of " + std::to_string(workloads.size()) + " workloads succeeded",
        true);
  }
  return worst;
}

}  // namespace

cli::Run cli::define_run(CLI::App& cmd) {
  cmd.description(R"(run workload files; 0 succeeded, 1 failed

Runs workload files (YAML or JSON; schema: schemas/workload.schema.json, installed under
share/agent-runner/) in the sandbox the configuration selects. Every file is validated before any
step runs. Each workload gets its own sandbox: persistent when it names a `session`, ephemeral
(removed afterwards) otherwise.)");
  cmd.footer(
      R"(A step fails when its operation returns an error or its `expect` is not met (execute steps
expect exit_code 0 unless `expect` says otherwise; `expect: {error: file_not_found}` expects an
error). The workload stops at a failed step unless the step says `continue_on_error: true`: then
the failure is tolerated (as GitHub Actions' continue-on-error) and does not fail the workload.
Secrets' values print as *** in events, output and logs. SIGINT/SIGTERM cancel running steps
(their processes are killed), release the sandboxes and end with status "cancelled".

Progress goes to stderr (a live line on a terminal). With one workload and events not on stdout,
the commands' output streams to stdout/stderr as it arrives.

Exit code: 0 every step of every workload succeeded (or its failure was tolerated); 1 a step failed, the deadline passed or the
run was cancelled; 2 an invalid workload file or configuration; 3 the plugin could not be loaded.
With several workloads, the worst of them.

Example (examples/hello.yaml):
  name: hello
  steps:
    - write_file: {path: /hello.sh, content: "echo hello from the sandbox\n"}
    - execute: {command: "sh hello.sh"}
      expect: {output_contains: "hello"})");
  auto a = std::make_shared<RunArgs>();
  cmd.add_option("WORKLOAD", a->files, "workload files (YAML or JSON)")->type_name(kFile);
  cmd.add_option("--session", a->session,
                 "attach every workload to this persistent sandbox (overrides the files')")
      ->type_name("ID");
  cmd.add_option("--events", a->events_target,
                 "write one JSON object per line, flushed per line, to FILE or stdout (-):\n"
                 "workload.started, skill.uploaded, step.started, step.output,\n"
                 "step.finished, workload.finished; every event carries \"workload\"")
      ->type_name("FILE|-");
  cmd.add_option("--parallel", a->parallel,
                 "run up to N workloads at once (default: max_concurrency, 10)")
      ->type_name("N")
      ->check(whole_number(1, 1000));
  return [a](App& app) { return run_command(app, *a); };
}

}  // namespace agent_runner
