// Sessions (persistent sandboxes) as the host sees them: the selected plugin's ABI 1.1 slots
// `list_sessions` and `destroy_session`, their answers checked (a plugin is not trusted to answer
// in shape), and the choice of idle sessions. Shared by `agent-runner sessions` and the worker's
// session_ttl expiry. The host knows nothing of how a plugin keeps its sessions.
#pragma once

#include "sandbox.hpp"

#include <boost/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner {

class App;

// One session as a plugin lists it (sdk/README.md "Sessions"), the members the host relies on.
struct SessionInfo {
  std::string session;
  std::string sandbox_id;
  std::string state;
  std::optional<bool> in_use;     // null: the plugin cannot tell from the listing
  std::optional<int64_t> idle_s;  // seconds since last use; null: unknown (never pruned)
  boost::json::object raw;        // everything the plugin said
};

class SessionsApi {
 public:
  SessionsApi(const LoadedPlugin& plugin, boost::json::object sandbox_config,
              const CallOptions* options = nullptr);

  // Every session, or only `only`. An answer out of shape is `internal`, naming the plugin.
  OpResult list(std::vector<SessionInfo>& out, const std::optional<std::string>& only = {});
  // Removes one session's sandbox. `force`: a session in use is removed too, its running
  // commands cancelled first. `idle_s`: only when still unused for that long (checked again by
  // the plugin: the session may have been used since it was listed); else `destroyed: false`.
  OpResult destroy(const std::string& session, bool force, std::optional<int64_t> idle_s = {});

  // "the X plugin does not manage sessions ...": what the commands say for `unsupported`.
  std::string unsupported_message() const;
  const LoadedPlugin& plugin() const { return plugin_; }

 private:
  const LoadedPlugin& plugin_;
  boost::json::object config_;
  CallOptions options_;
};

// The sessions of the configured plugin (its generated sandbox config checked as for `exec`);
// SIGINT/SIGTERM cancel a long plugin call. Null, with the reason printed and `exit_code` set
// (2 configuration, 3 plugin), when there is no such plugin.
std::optional<SessionsApi> open_sessions(App& app, int& exit_code);

// The sessions unused for at least `idle_s` seconds and not in use, oldest use first.
std::vector<SessionInfo> idle_sessions(const std::vector<SessionInfo>& all, int64_t idle_s);

}  // namespace agent_runner
