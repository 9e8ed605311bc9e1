// SPDX-License-Identifier: Apache-2.0
// Sandbox paths, the same for every plugin (header-only, needs plugin.hpp).
//
// An agent names files by sandbox path: rooted at "/" (the workspace), '/'-separated, relative
// paths meaning the same as absolute ones. Parsing is purely lexical: `.` and empty components
// vanish, `..` removes the previous component and may not climb above the root. Symlinks are not
// looked at here; a plugin that maps paths onto a host directory must still resolve them beneath
// the root itself (the filesystem plugin uses openat2(RESOLVE_BENEATH) or an O_NOFOLLOW walk).
#pragma once

#include <agent_runner/glob.hpp>  // split_path, glob_match, check_glob_pattern
#include <agent_runner/plugin.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::sdk {
inline namespace v1 {

// Longest sandbox path and path component accepted (bytes); longer ones are invalid_path.
inline constexpr size_t kMaxSandboxPathBytes = 4000;
inline constexpr size_t kMaxPathComponentBytes = 255;

// A sandbox path after lexical normalisation: the components below the root (empty = the root).
struct SandboxPath {
  std::vector<std::string> parts;

  bool is_root() const { return parts.empty(); }
  // "a/b", or "." for the root: relative to the workspace directory (for *at() calls).
  std::string relative() const {
    if (parts.empty()) return ".";
    std::string s;
    for (size_t i = 0; i < parts.size(); ++i) (s += i ? "/" : "") += parts[i];
    return s;
  }
  // "/a/b", or "/" for the root: how the path is shown to the agent and in error messages.
  std::string display() const {
    if (parts.empty()) return "/";
    std::string s;
    for (const auto& p : parts) (s += "/") += p;
    return s;
  }
  // The path below the directory `root` ("/work" -> "/work/a/b"; the root itself -> "/work").
  // Trailing slashes of `root` are ignored; `root` "/" gives display().
  std::string under(std::string_view root) const {
    while (root.size() > 1 && root.back() == '/') root.remove_suffix(1);
    if (parts.empty()) return std::string(root);
    return (root == "/" ? std::string() : std::string(root)) + display();
  }
  // The containing directory; the root's parent is the root.
  SandboxPath parent() const {
    SandboxPath p = *this;
    if (!p.parts.empty()) p.parts.pop_back();
    return p;
  }
  // The last component; only for a path that is not the root.
  const std::string& leaf() const { return parts.back(); }
  // This path with one more component `name` (taken as is: no '/', not "." or "..").
  SandboxPath child(const std::string& name) const {
    SandboxPath p = *this;
    p.parts.push_back(name);
    return p;
  }
  bool operator==(const SandboxPath&) const = default;
};

// Parses "/src/a.py", "src/a.py", "/", "a/./b//c/../d". Throws Error(AR_ERR_INVALID_PATH) for a
// NUL byte, `..` above the root, a path over kMaxSandboxPathBytes or a component over
// kMaxPathComponentBytes; the message names the path and what is wrong with it.
inline SandboxPath parse_sandbox_path(std::string_view path) {
  if (path.find('\0') != std::string_view::npos)
    throw Error(AR_ERR_INVALID_PATH, "path contains a NUL byte");
  if (path.size() > kMaxSandboxPathBytes)
    throw Error(AR_ERR_INVALID_PATH, "path is too long (" + std::to_string(path.size()) +
                                         " bytes; at most " + std::to_string(kMaxSandboxPathBytes) +
                                         ")");
  SandboxPath out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    const std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
      // "//" and "/./" mean nothing.
    } else if (part == "..") {
      if (out.parts.empty())
        throw Error(AR_ERR_INVALID_PATH,
                    "path '" + std::string(path) + "' leads outside the sandbox (.. above /)");
      out.parts.pop_back();
    } else {
      if (part.size() > kMaxPathComponentBytes)
        throw Error(AR_ERR_INVALID_PATH, "a path component is too long (at most " +
                                             std::to_string(kMaxPathComponentBytes) + " bytes)");
      out.parts.emplace_back(part);
    }
    i = j + 1;
  }
  return out;
}

}  // namespace v1
}  // namespace agent_runner::sdk
