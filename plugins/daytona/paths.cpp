#include "paths.hpp"

#include <agent_runner/plugin.hpp>

#include <fnmatch.h>
#include <sys/random.h>

#include <cstdio>

namespace agent_runner::daytona {

using sdk::Error;

std::string SandboxPath::display() const {
  if (parts.empty()) return "/";
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

SandboxPath SandboxPath::parent() const {
  SandboxPath p = *this;
  if (!p.parts.empty()) p.parts.pop_back();
  return p;
}

SandboxPath SandboxPath::child(const std::string& name) const {
  SandboxPath p = *this;
  p.parts.push_back(name);
  return p;
}

std::string SandboxPath::remote(const std::string& workspace) const {
  std::string base = workspace;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (parts.empty()) return base;
  return (base == "/" ? "" : base) + display();
}

SandboxPath parse_sandbox_path(std::string_view path) {
  if (path.find('\0') != std::string_view::npos)
    throw Error(AR_ERR_INVALID_PATH, "path contains a NUL byte");
  if (path.size() > 4000) throw Error(AR_ERR_INVALID_PATH, "path is too long");
  SandboxPath out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (part.empty() || part == ".") {
      // "//" and "/./" mean nothing.
    } else if (part == "..") {
      if (out.parts.empty())
        throw Error(AR_ERR_INVALID_PATH,
                    "path '" + std::string(path) + "' leads outside the sandbox (.. above /)");
      out.parts.pop_back();
    } else {
      if (part.size() > 255) throw Error(AR_ERR_INVALID_PATH, "a path component is too long");
      out.parts.emplace_back(part);
    }
    i = j + 1;
  }
  return out;
}

bool to_sandbox_path(const std::string& workspace, std::string_view remote, SandboxPath& out) {
  std::string base = workspace;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  if (base != "/") {
    if (!remote.starts_with(base)) return false;
    remote.remove_prefix(base.size());
    if (!remote.empty() && remote.front() != '/') return false;
  }
  try {
    out = parse_sandbox_path(remote);
  } catch (const Error&) {
    return false;
  }
  return true;
}

namespace {
std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find('/', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool match_parts(const std::vector<std::string_view>& pat, size_t pi,
                 const std::vector<std::string_view>& path, size_t si) {
  while (pi < pat.size()) {
    if (pat[pi] == "**") {
      // Collapse repeated ** and try every split point.
      while (pi + 1 < pat.size() && pat[pi + 1] == "**") ++pi;
      if (pi + 1 == pat.size()) return true;
      for (size_t k = si; k <= path.size(); ++k)
        if (match_parts(pat, pi + 1, path, k)) return true;
      return false;
    }
    if (si >= path.size()) return false;
    const std::string p(pat[pi]), s(path[si]);
    if (::fnmatch(p.c_str(), s.c_str(), 0) != 0) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}
}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_parts(split(pattern), 0, split(path), 0);
}

std::string normalize_time(std::string_view iso) {
  // Keep "YYYY-MM-DDTHH:MM:SS" and mark it UTC; the daemon always reports UTC ("...Z").
  if (iso.size() >= 19 && iso[4] == '-' && iso[10] == 'T')
    return std::string(iso.substr(0, 19)) + "Z";
  return std::string(iso);
}

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string base64(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v =
        (uint32_t(uint8_t(in[i])) << 16) | (uint32_t(uint8_t(in[i + 1])) << 8) | uint8_t(in[i + 2]);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint32_t(uint8_t(in[i])) << 16;
    if (i + 1 < in.size()) v |= uint32_t(uint8_t(in[i + 1])) << 8;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += i + 1 < in.size() ? tbl[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string random_hex(size_t n) {
  std::string bytes(n, '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::getrandom(bytes.data() + got, n - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  std::string out;
  char buf[3];
  for (unsigned char c : bytes) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string name_digest(std::string_view s) {
  auto fnv = [&](uint64_t h) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
  };
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(fnv(14695981039346656037ull)),
                static_cast<unsigned long long>(fnv(0x9e3779b97f4a7c15ull)));
  return buf;
}

}  // namespace agent_runner::daytona
