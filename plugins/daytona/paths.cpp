// SPDX-License-Identifier: Apache-2.0
#include "paths.hpp"

#include <agent_runner/plugin.hpp>

#include <cstdio>

namespace agent_runner::daytona {

using sdk::Error;

SandboxPath resolve_path(std::string_view input, const SandboxPath& workdir) {
  if (input.starts_with('/')) return parse_sandbox_path(input);
  return parse_sandbox_path(workdir.display() + "/" + std::string(input));
}

std::string normalize_time(std::string_view iso) {
  // Keep "YYYY-MM-DDTHH:MM:SS" and mark it UTC; the daemon always reports UTC ("...Z").
  if (iso.size() >= 19 && iso[4] == '-' && iso[10] == 'T')
    return std::string(iso.substr(0, 19)) + "Z";
  return std::string(iso);
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
