// SPDX-License-Identifier: Apache-2.0
// The filesystem plugin's configuration: one definition, the JSON Schema in the descriptor (checked
// with the SDK validator, read with its defaults), validated at create with messages naming the
// key.
#pragma once

#include "view.hpp"

#include <boost/json/object.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace agent_runner::fs_plugin {

enum class Layout { per_session, shared };
enum class Isolation { none, workspace_write, read_only };

struct Limits {
  std::optional<uint64_t> memory_mb;     // RLIMIT_AS
  std::optional<uint64_t> cpu_s;         // RLIMIT_CPU
  std::optional<uint64_t> open_files;    // RLIMIT_NOFILE
  std::optional<uint64_t> file_size_mb;  // RLIMIT_FSIZE
  std::optional<uint64_t> processes;     // pids cgroup and/or RLIMIT_NPROC
  bool any() const { return memory_mb || cpu_s || open_files || file_size_mb || processes; }
};

struct FsConfig {
  std::string root_dir;
  Layout layout = Layout::per_session;
  Isolation isolation = Isolation::workspace_write;
  bool best_effort = false;
  bool network = true;
  Limits limits;
  std::string shell = "/bin/sh";
  std::vector<std::pair<std::string, std::string>> env;
  bool inherit_env = false;
  double timeout_s = 120;
  uint64_t max_output_bytes = 102400;
  uint64_t max_file_bytes = 10ull << 20;
  uint64_t max_search_entries = 1000000;  // glob/grep look at no more entries (truncated)
  // The sandbox path of the workspace and the commands' starting directory (container view).
  std::string workdir = "/workspace";
  std::vector<MountSpec> mounts;  // operators' extra binds (container view only)
};

// Parses and validates the generated sandbox config; throws sdk::Error(AR_ERR_INVALID_CONFIG)
// whose message names the key ("sandbox.limits.memory_mb: must be an integer >= 1").
FsConfig parse_config(const boost::json::object& config);

const char* isolation_name(Isolation i);

// The JSON Schema of the config, as given in the descriptor.
extern const char* const kConfigSchema;

}  // namespace agent_runner::fs_plugin
