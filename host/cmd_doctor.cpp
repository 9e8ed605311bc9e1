// SPDX-License-Identifier: Apache-2.0
// `agent-runner doctor`: what this machine lets each sandbox plugin enforce, which plugins were
// found, and what is wrong with the configuration. The host does not know how a sandbox works:
// it asks every loaded plugin through the ABI 1.1 `probe` slot and prints the answer (a summary
// and a list of checks); a 1.0 plugin shows "no probe".
#include "app.hpp"
#include "cli.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <iostream>
#include <optional>

namespace agent_runner {
namespace {

// One plugin's probe answer, or why there is none.
struct Probe {
  std::string sandbox_type;
  std::optional<boost::json::object> report;
  std::string note;  // "no probe" (ABI 1.0) or the error
};

std::vector<Probe> probe_plugins(PluginRegistry& reg, const Config* cfg) {
  std::vector<Probe> out;
  for (const auto& type : reg.sandbox_types()) {
    auto plugin = reg.find(type);
    if (!plugin) continue;
    // The generated sandbox config goes to the configured plugin; the others get none.
    const boost::json::object config =
        cfg && cfg->sandbox_type == type ? cfg->sandbox_config() : boost::json::object{};
    OpResult r = call_plugin(*plugin, PluginFn::probe, config, {});
    Probe p{type, std::nullopt, ""};
    if (r.ok())
      p.report = std::move(r.body);
    else
      p.note = r.status == AR_ERR_UNSUPPORTED ? "no probe" : r.code() + ": " + r.message();
    out.push_back(std::move(p));
  }
  return out;
}

int doctor_command(App& app, bool json) {
  utsname u{};
  ::uname(&u);
  const bool root = ::geteuid() == 0;

  // --- configuration and plugins ---
  std::vector<std::string> problems;
  ConfigLoad load = load_config(app.options().cli, app.env());
  for (const auto& p : load.problems) problems.push_back(p.to_string());
  const Config* cfg = load.problems.empty() ? app.config() : nullptr;
  auto& reg = app.plugins();
  if (cfg && !reg.find(cfg->sandbox_type))
    problems.push_back("sandbox_type '" + cfg->sandbox_type + "' (mode " +
                       std::string(mode_name(cfg->mode)) +
                       "): no loaded plugin provides it; see `agent-runner plugins`");
  for (const auto& w : reg.warnings()) problems.push_back(w);
  const std::vector<Probe> probes = probe_plugins(reg, cfg);

  // What the probes say about the machine: every check by name (kernel.<name>), the isolation
  // levels and whether network isolation is possible.
  boost::json::object kernel{{"release", u.release}, {"root", root}};
  boost::json::array levels{"none"};
  bool network_isolation = false;
  for (const auto& p : probes) {
    if (!p.report) continue;
    if (const auto* checks = p.report->if_contains("checks"); checks && checks->is_array())
      for (const auto& c : checks->as_array()) {
        if (!c.is_object() || !c.as_object().contains("name")) continue;
        boost::json::object entry = c.as_object();
        const std::string name(entry.at("name").as_string());
        entry.erase("name");
        kernel[name] = std::move(entry);
      }
    if (const auto* lv = p.report->if_contains("isolation_levels"); lv && lv->is_array())
      levels = lv->as_array();
    if (const auto* ni = p.report->if_contains("network_isolation"); ni && ni->is_bool())
      network_isolation = network_isolation || ni->as_bool();
  }

  const bool healthy = problems.empty();
  if (json) {
    boost::json::array plugins, probs;
    boost::json::object by_type;
    for (const auto& r : reg.reports()) plugins.push_back(r.to_json());
    for (const auto& p : problems) probs.push_back(boost::json::string(p));
    for (const auto& p : probes)
      by_type[p.sandbox_type] =
          p.report ? boost::json::value(*p.report) : boost::json::value({{"error", p.note}});
    boost::json::object out{
        {"kernel", kernel},  {"isolation_levels", levels}, {"network_isolation", network_isolation},
        {"probes", by_type}, {"plugins", plugins},         {"config_problems", probs},
        {"ok", healthy}};
    if (cfg) {
      out["mode"] = mode_name(cfg->mode);
      out["sandbox_type"] = cfg->sandbox_type;
    }
    write_all(1, boost::json::serialize(out) + "\n");
    return healthy ? kExitOk : kExitFailure;
  }

  std::cout << "Kernel " << u.release << (root ? " (running as root)" : "") << "\n";
  for (const auto& p : probes) {
    if (!p.report) {
      std::cout << "Sandbox type " << p.sandbox_type << ": " << p.note << "\n";
      continue;
    }
    const auto* summary = p.report->if_contains("summary");
    std::cout << "Sandbox type " << p.sandbox_type << ": "
              << (summary && summary->is_string() ? std::string(summary->as_string()) : "") << "\n";
    if (const auto* checks = p.report->if_contains("checks"); checks && checks->is_array())
      for (const auto& c : checks->as_array()) {
        if (!c.is_object()) continue;
        const auto& o = c.as_object();
        const bool ok = o.contains("ok") && o.at("ok").is_bool() && o.at("ok").as_bool();
        auto text = [&](const char* k) {
          const auto* v = o.if_contains(k);
          return v && v->is_string() ? std::string(v->as_string()) : std::string();
        };
        std::cout << "  " << (ok ? "[ok]  " : "[no]  ") << text("name") << ": " << text("detail")
                  << "\n";
      }
  }
  std::cout << "Isolation levels available: ";
  for (size_t i = 0; i < levels.size(); ++i)
    std::cout << (i ? ", " : "") << std::string(levels[i].as_string());
  std::cout << "\nNetwork isolation (network: false): " << (network_isolation ? "yes" : "no")
            << "\n";
  std::cout << "Plugins:\n";
  if (reg.reports().empty()) std::cout << "  (none found)\n";
  for (const auto& r : reg.reports()) {
    std::cout << "  " << (r.loaded ? "[ok]  " : "[bad] ") << r.path;
    if (r.loaded)
      std::cout << ": " << r.name.value_or("?") << " (type " << r.sandbox_type.value_or("?")
                << ", version " << r.version.value_or("?") << ")";
    else
      std::cout << ": " << r.error.value_or("rejected");
    std::cout << "\n";
  }
  if (cfg)
    std::cout << "Configuration: mode " << mode_name(cfg->mode) << ", sandbox type "
              << cfg->sandbox_type << "\n";
  if (healthy) {
    std::cout << "No problems found.\n";
  } else {
    std::cout << "Problems:\n";
    for (const auto& p : problems) std::cout << "  - " << p << "\n";
  }
  return healthy ? kExitOk : kExitFailure;
}

}  // namespace

cli::Run cli::define_doctor(CLI::App& cmd) {
  cmd.description(R"(what this machine supports (isolation, plugins, config)

Reports what this machine lets each loaded sandbox plugin enforce, as the plugin itself probes
it (for the filesystem plugin: Landlock ABI, user/PID/mount/network/UTS namespaces, read-only
mounts, seccomp, capabilities, which limits apply to the whole command tree, openat2), every
plugin file found with why it was or was not loaded, and every configuration problem. Exit code 0
when nothing is wrong, 1 when a problem was found.)");
  auto json = std::make_shared<bool>(false);
  cmd.add_flag("--json", *json, "print one JSON object instead of text");
  return [json](App& app) { return doctor_command(app, *json); };
}

}  // namespace agent_runner
