// SPDX-License-Identifier: Apache-2.0
// Paths in the remote sandbox and small helpers of this plugin. An absolute path is the remote
// sandbox's real path, the same for commands and file operations; a relative one is relative to
// the sandbox's workdir (where commands start). Parsing, glob matching, base64 and shell quoting
// are the SDK's (agent_runner/sandbox_path.hpp, agent_runner/text.hpp).
#pragma once

#include <agent_runner/sandbox_path.hpp>
#include <agent_runner/text.hpp>

#include <string>
#include <string_view>

namespace agent_runner::daytona {

// A normalised absolute path in the remote sandbox: `..` above "/" is invalid_path. The remote
// sandbox is itself the isolation boundary, so symlinks inside it are the daemon's business, not
// a host escape.
using sdk::glob_match;
using sdk::parse_sandbox_path;
using sdk::SandboxPath;
using sdk::shell_quote;

// `input` as an absolute sandbox path: absolute as given, relative below `workdir`. Throws
// sdk::Error(invalid_path) as parse_sandbox_path does.
SandboxPath resolve_path(std::string_view input, const SandboxPath& workdir);

// "2026-06-01T12:00:00.123Z" -> "2026-06-01T12:00:00Z" (the filesystem plugin's format).
std::string normalize_time(std::string_view iso);

// `n` random bytes as lower-case hex, from the kernel's CSPRNG (the SDK's, shared with the host).
using sdk::random_hex;

// A stable, name-safe digest of `s` (two FNV-1a 64-bit hashes, 32 hex digits).
std::string name_digest(std::string_view s);

}  // namespace agent_runner::daytona
