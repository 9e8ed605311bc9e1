// SPDX-License-Identifier: Apache-2.0
// Runs a loaded workload on the configured sandbox, step by step, reporting events.
#pragma once

#include "app.hpp"
#include "console.hpp"
#include "events.hpp"
#include "workload.hpp"

#include <atomic>
#include <mutex>
#include <optional>
#include <string>

namespace agent_runner {

struct RunOptions {
  std::optional<std::string> session;              // --session: overrides the file's
  EventSink* events = nullptr;                     // --events
  Console* console = nullptr;                      // progress for a person
  const std::atomic<bool>* interrupted = nullptr;  // SIGINT/SIGTERM
  // A worker's job: `download` writes nothing on this machine; the content travels back in the
  // step's result as `content_base64` (at most this many base64 bytes, else `too_large`).
  std::optional<size_t> inline_downloads;
};

enum class WorkloadStatus { succeeded, failed, cancelled };
// "succeeded", "failed", "cancelled": as workload.finished says it.
std::string_view workload_status_name(WorkloadStatus s);

struct WorkloadOutcome {
  WorkloadStatus status = WorkloadStatus::succeeded;
  int exit_code = 0;  // 0, 1, 2 (configuration), 3 (plugin)
  int steps_ok = 0;
  int steps_failed = 0;     // tolerated failures included
  int steps_tolerated = 0;  // failed steps marked continue_on_error
};

WorkloadOutcome run_workload(App& app, const Workload& workload, const RunOptions& options);

}  // namespace agent_runner
