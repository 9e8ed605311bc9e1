// SPDX-License-Identifier: Apache-2.0
// Reading a plugin file's descriptor without trusting the file: a constructor or an entry
// function that crashes, aborts or spins must cost one rejected file, never the host. The file is
// loaded and its entry called in a short-lived child process (fork, dlopen, entry, copy the
// descriptor's fields back over a pipe, within a time bound); the host maps the file itself only
// when the child came back with a descriptor that passes every check.
//
// One fork per file probed, so the caller decides which files are worth it (discovery probes
// every file it loads; a command that loads only the selected plugin probes only that one).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

struct ar_plugin_descriptor;

namespace agent_runner {

// The fields of a descriptor the host checks, copied out of the plugin's memory.
struct DescriptorInfo {
  uint32_t struct_size = 0;
  uint16_t abi_major = 0;
  uint16_t abi_minor = 0;
  std::optional<std::string> name, sandbox_type, plugin_version, sdk_version, config_schema;
  uint64_t capabilities = 0;
  bool has_create = false, has_release = false, has_free_result = false;
};

// Longest string a descriptor may hold: names and versions, and the config schema.
inline constexpr size_t kMaxDescriptorName = 4096;
inline constexpr size_t kMaxDescriptorSchema = 1u << 20;

// Copies what the host checks out of a descriptor, reading nothing past its struct_size. Strings
// longer than the limits above are cut (probe_plugin refuses them before this runs).
DescriptorInfo describe_descriptor(const ar_plugin_descriptor& d);

// The name of the descriptor string longer than its limit ("config_schema"), or null; reads
// nothing past `size` (the descriptor's struct_size).
const char* oversized_descriptor_field(const ar_plugin_descriptor& d, size_t size);

// Why a descriptor cannot be used (the ABI, the size, a missing name or function), or nullopt.
// The text does not name the file; the caller does.
std::optional<std::string> check_descriptor(const DescriptorInfo& d);

// The bytes the child sends back, and their strict reading (any malformed or oversized field is
// an error: the bytes come from a process running untrusted code).
std::string encode_descriptor(const DescriptorInfo& d);
std::optional<DescriptorInfo> decode_descriptor(std::string_view bytes, std::string& error);

struct ProbeOutcome {
  std::optional<DescriptorInfo> descriptor;  // the child read one
  std::string error;  // otherwise why not: "its entry function crashed with SIGSEGV", ...
};

inline constexpr std::chrono::milliseconds kProbeTimeout{2000};

// Loads `file` and calls its entry in a child process, killed after `timeout`.
ProbeOutcome probe_plugin(const std::filesystem::path& file,
                          std::chrono::milliseconds timeout = kProbeTimeout);

}  // namespace agent_runner
