// SPDX-License-Identifier: Apache-2.0
// The layout of `--help`: generated from the CLI11 declarations of the commands and options.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>

namespace agent_runner {

// agent-runner --help:       usage, description, commands, global options, footer.
// agent-runner CMD --help:   usage (with positionals), description, options, footer, and a
//                            reminder that global options are accepted too.
std::shared_ptr<CLI::FormatterBase> help_formatter();

}  // namespace agent_runner
