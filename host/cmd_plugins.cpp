// SPDX-License-Identifier: Apache-2.0
// `agent-runner plugins`: every plugin file found, loaded or rejected with the reason.
#include "app.hpp"
#include "cli.hpp"

#include <algorithm>
#include <iostream>

namespace agent_runner {

namespace {

int list_plugins(App& app, bool json) {
  // The config file may name more plugin directories; a broken or incomplete config (cloud mode
  // without its keys, say) must neither hide plugins nor clutter the listing.
  (void)app.config(/*report=*/false);
  const auto& reports = app.plugins().reports();
  if (json) {
    boost::json::array arr;
    for (const auto& r : reports) arr.push_back(r.to_json());
    write_all(1, boost::json::serialize(arr) + "\n");
    return kExitOk;
  }
  if (reports.empty()) {
    std::cout << "No plugin files found. Searched: <binary>/../lib/agent-runner/plugins, "
                 "/usr/local/lib/agent-runner/plugins, AGENT_RUNNER_PLUGIN_PATH, --plugin-dir.\n";
    return kExitOk;
  }
  std::vector<std::array<std::string, 6>> rows;
  rows.push_back({"STATUS", "TYPE", "NAME", "VERSION", "ABI", "PATH"});
  for (const auto& r : reports)
    rows.push_back({r.loaded ? "loaded" : "rejected", r.sandbox_type.value_or("-"),
                    r.name.value_or("-"), r.version.value_or("-"), r.abi.value_or("-"), r.path});
  std::array<size_t, 6> width{};
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t c = 0; c < rows[i].size(); ++c) {
      out += rows[i][c];
      if (c + 1 < rows[i].size()) out += std::string(width[c] - rows[i][c].size() + 2, ' ');
    }
    out += "\n";
    if (i > 0) {
      const auto& r = reports[i - 1];
      if (r.error) out += "    reason: " + *r.error + "\n";
      if (r.loaded) {
        auto caps = capability_names(r.capabilities);
        std::string joined;
        for (size_t k = 0; k < caps.size(); ++k) joined += (k ? "," : "") + caps[k];
        out += "    capabilities: " + joined + "\n";
      }
    }
  }
  write_all(1, out);
  return kExitOk;
}

}  // namespace

cli::Run cli::define_plugins(CLI::App& cmd) {
  cmd.description(
      "every plugin file found, loaded or rejected with the reason\n\n"
      "Lists every plugin file found in the search locations, loaded or rejected with the\n"
      "reason. Exit code 0 even when some files are rejected.");
  auto json = std::make_shared<bool>(false);
  cmd.add_flag("--json", *json,
               "print a JSON array, one object per file:\n"
               "{\"path\", \"name\", \"sandbox_type\", \"version\", \"abi\": \"MAJOR.MINOR\",\n"
               " \"status\": \"loaded\"|\"rejected\", \"error\": null|\"reason\",\n"
               " \"capabilities\": [names], \"source\"}");
  return [json](App& app) { return list_plugins(app, *json); };
}

}  // namespace agent_runner
