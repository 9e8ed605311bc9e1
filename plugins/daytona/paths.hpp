// Sandbox paths mapped beneath the remote workspace directory, and small helpers of this plugin.
// Parsing sandbox paths, glob matching, base64 and shell quoting are the SDK's
// (agent_runner/sandbox_path.hpp, agent_runner/text.hpp).
#pragma once

#include <agent_runner/sandbox_path.hpp>
#include <agent_runner/text.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::daytona {

// Sandbox paths are the SDK's: lexical, rooted at "/", `..` above the root = invalid_path. The
// remote sandbox is itself the isolation boundary, so symlinks inside it are the daemon's
// business, not a host escape. p.under(workspace) is the absolute path inside the sandbox.
using sdk::glob_match;
using sdk::parse_sandbox_path;
using sdk::SandboxPath;
using sdk::shell_quote;

// Maps an absolute remote path back to a sandbox path; false when it is not beneath workspace.
bool to_sandbox_path(const std::string& workspace, std::string_view remote, SandboxPath& out);

// "2026-06-01T12:00:00.123Z" -> "2026-06-01T12:00:00Z" (the filesystem plugin's format).
std::string normalize_time(std::string_view iso);

// `n` random bytes as lower-case hex, from the kernel's CSPRNG.
std::string random_hex(size_t n);

// A stable, name-safe digest of `s` (two FNV-1a 64-bit hashes, 32 hex digits).
std::string name_digest(std::string_view s);

}  // namespace agent_runner::daytona
