// SPDX-License-Identifier: Apache-2.0
// SIGINT/SIGTERM turn into a cancellation flag that running operations poll (the plugin kills
// the command's process tree and returns `cancelled`).
#pragma once

#include <atomic>

namespace agent_runner {

// Installs the handlers (idempotent) and returns the process-wide flag.
const std::atomic<bool>& install_cancel_signals();
// The signal that set the flag (0 if none), for the exit status.
int cancel_signal();

}  // namespace agent_runner
