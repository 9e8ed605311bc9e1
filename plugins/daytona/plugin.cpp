// SPDX-License-Identifier: Apache-2.0
// The plugin's one exported symbol: the descriptor of the "daytona" sandbox type.
#include "config.hpp"
#include "sandbox.hpp"

AGENT_RUNNER_PLUGIN(agent_runner::daytona::DaytonaSandbox, "daytona", "daytona", "0.1.0",
                    AR_CAP_EXECUTE | AR_CAP_STREAMING | AR_CAP_TIMEOUT | AR_CAP_TREE_KILL |
                        AR_CAP_OUTPUT_CAP | AR_CAP_ENV | AR_CAP_FILES | AR_CAP_SEARCH |
                        AR_CAP_TRANSFER | AR_CAP_SESSIONS | AR_CAP_CANCEL | AR_CAP_REMOTE,
                    agent_runner::daytona::kConfigSchema)
