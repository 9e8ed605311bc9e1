// SPDX-License-Identifier: Apache-2.0
// Reading a local file that a user or an attacker may have pointed us at (--config, a workload, a
// secret's `file:`): only a regular file, never more than a fixed number of bytes, and never a
// blocking open. `--config /dev/zero` or a FIFO must fail with a clear message, not grow memory
// or hang.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace agent_runner {

// Reads all of `path` when it is a regular file of at most `max_bytes`. On failure returns
// nullopt and sets `error` to a sentence without the path ("is a FIFO, not a regular file",
// "is larger than the limit of 16 MiB", "No such file or directory"); callers name the file.
std::optional<std::string> read_regular_file(const std::string& path, size_t max_bytes,
                                             std::string& error);

// "16 MiB", "512 KiB" or "100 bytes", for limits in messages.
std::string size_text(size_t bytes);

}  // namespace agent_runner
