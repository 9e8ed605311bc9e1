// Sandbox paths (rooted at "/", mapped beneath the remote workspace directory), glob matching and
// small text helpers shared by the operations.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::daytona {

// A sandbox path after lexical normalisation: components below the workspace root (empty = the
// root itself). `..` may not climb above the root (invalid_path). The remote sandbox is itself the
// isolation boundary, so symlinks inside it are the daemon's business, not a host escape.
struct SandboxPath {
  std::vector<std::string> parts;
  bool is_root() const { return parts.empty(); }
  std::string display() const;  // "/a/b" or "/"
  SandboxPath parent() const;
  SandboxPath child(const std::string& name) const;
  // The absolute path inside the remote sandbox: workspace + "/a/b".
  std::string remote(const std::string& workspace) const;
};

// Parses "/src/a.py", "src/a.py", "/"; throws sdk::Error(invalid_path) for NUL bytes, `..` above
// the root or an over-long path.
SandboxPath parse_sandbox_path(std::string_view path);

// Maps an absolute remote path back to a sandbox path; false when it is not beneath workspace.
bool to_sandbox_path(const std::string& workspace, std::string_view remote, SandboxPath& out);

// Glob over '/'-separated paths: `*`, `?`, `[...]` within one component, `**` for any number of
// components (including none).
bool glob_match(std::string_view pattern, std::string_view path);

// "2026-06-01T12:00:00.123Z" -> "2026-06-01T12:00:00Z" (the filesystem plugin's format).
std::string normalize_time(std::string_view iso);

// POSIX shell single-quoting.
std::string shell_quote(std::string_view s);

// Standard base64 (with padding).
std::string base64(std::string_view in);

// `n` random bytes as lower-case hex, from the kernel's CSPRNG.
std::string random_hex(size_t n);

// A stable, name-safe digest of `s` (two FNV-1a 64-bit hashes, 32 hex digits).
std::string name_digest(std::string_view s);

}  // namespace agent_runner::daytona
