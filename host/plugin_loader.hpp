// SPDX-License-Identifier: Apache-2.0
// Plugin discovery and loading. Every file found is reported, loaded or rejected with a reason
// that names the file; one bad file never stops the good ones.
#pragma once

#include <agent_runner/plugin.h>

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::dll {
class shared_library;
}

namespace agent_runner {

// One row of `agent-runner plugins`.
struct PluginReport {
  std::string path;
  std::optional<std::string> name;
  std::optional<std::string> sandbox_type;
  std::optional<std::string> version;
  std::optional<std::string> abi;  // "MAJOR.MINOR"
  bool loaded = false;
  std::optional<std::string> error;
  uint64_t capabilities = 0;
  std::string
      source;  // which search location found it ("beside binary", "AGENT_RUNNER_PLUGIN_PATH", ...)

  boost::json::object to_json() const;
};

// Names of the capability bits set in `caps`, in bit order.
std::vector<std::string> capability_names(uint64_t caps);

// A loaded plugin. Shared: every sandbox it creates holds a reference, so its descriptor stays
// valid while any of them lives. The library itself stays mapped until the process exits (it is
// pinned with RTLD_NODELETE when accepted; see load_file).
class LoadedPlugin {
 public:
  LoadedPlugin(std::unique_ptr<boost::dll::shared_library> lib, const ar_plugin_descriptor& desc,
               std::string path);
  ~LoadedPlugin();
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  // The descriptor, copied and zero-filled past the plugin's own struct_size.
  const ar_plugin_descriptor& descriptor() const { return desc_; }
  const std::string& path() const { return path_; }
  std::string name() const { return desc_.name ? desc_.name : ""; }
  std::string sandbox_type() const { return desc_.sandbox_type ? desc_.sandbox_type : ""; }
  std::string config_schema() const { return desc_.config_schema ? desc_.config_schema : ""; }

 private:
  std::unique_ptr<boost::dll::shared_library> lib_;
  ar_plugin_descriptor desc_;
  std::string path_;
};

struct SearchDir {
  std::filesystem::path dir;
  std::string source;
  bool required = false;  // --plugin-dir: a missing directory is reported
};

// The search order of docs/DESIGN.md: beside the binary, the system drop-in directory, the config
// file's plugin_dirs, AGENT_RUNNER_PLUGIN_PATH, then --plugin-dir.
std::vector<SearchDir> default_search_dirs(const std::vector<std::string>& config_dirs,
                                           const std::optional<std::string>& env_path,
                                           const std::vector<std::string>& flag_dirs);

// The directory of the running executable.
std::filesystem::path executable_dir();

class PluginRegistry {
 public:
  // Scans every directory (non-recursively) for *.so files and loads each.
  static PluginRegistry discover(const std::vector<SearchDir>& dirs);
  // Loads only the plugin of `sandbox_type`: the file `<sandbox_type>.so` in the first search
  // location that has one, without a test load in a child (plugin_guard.hpp). When there is no
  // such file, or it is rejected or provides another type, falls back to discover(), so the
  // command's error lists every file as before.
  static PluginRegistry select(const std::vector<SearchDir>& dirs, std::string_view sandbox_type);
  // Loads exactly one file after a test load in a child (used by tests and by discover).
  void load_file(const std::filesystem::path& file, const std::string& source);

  const std::vector<PluginReport>& reports() const { return reports_; }
  // Non-fatal problems with search locations (missing --plugin-dir, unsafe directory).
  const std::vector<std::string>& warnings() const { return warnings_; }
  std::shared_ptr<LoadedPlugin> find(std::string_view sandbox_type) const;
  std::vector<std::string> sandbox_types() const;

 private:
  enum class LoadMode { probe_first, selected };
  void load(const std::filesystem::path& file, const std::string& source, LoadMode mode);

  std::vector<PluginReport> reports_;
  std::vector<std::string> warnings_;
  std::vector<std::shared_ptr<LoadedPlugin>> loaded_;
  std::vector<std::filesystem::path> seen_;
};

}  // namespace agent_runner
