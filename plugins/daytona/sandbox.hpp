// One Daytona sandbox as the host sees it: lifecycle (attach by id, find or create by session,
// ephemeral create + delete on release) and every operation of DESIGN.md's sandbox semantics
// through the sandbox's toolbox API.
#pragma once

#include "api.hpp"
#include "config.hpp"
#include "paths.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/sandbox_ops.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace agent_runner::daytona {

// What GET /files/info (or one row of GET /files) says about a remote path.
struct RemoteInfo {
  bool is_dir = false;
  int64_t size = 0;
  int64_t mode = 0;  // permission bits
  std::string modified_at;
};
RemoteInfo to_info(const boost::json::object& file_info);

// "read /a/b": the operation and path that open an error message.
std::string op_s(std::string_view op, const SandboxPath& p);

// Result of a short script run with POST /process/execute.
struct ShortExec {
  int64_t exit_code = -1;
  std::string output;
};

class DaytonaSandbox : public sdk::Sandbox {
 public:
  static std::unique_ptr<DaytonaSandbox> create(const sdk::CreateArgs& args);

  boost::json::object info() const override;
  sdk::Result release() override;

  sdk::Result execute(sdk::Call& call) override;
  sdk::Result ls(sdk::Call& call) override;
  sdk::Result read(sdk::Call& call) override;
  sdk::Result write(sdk::Call& call) override;
  sdk::Result edit(sdk::Call& call) override;
  sdk::Result glob(sdk::Call& call) override;
  sdk::Result grep(sdk::Call& call) override;
  sdk::Result upload(sdk::Call& call) override;
  sdk::Result download(sdk::Call& call) override;
  sdk::Result remove(sdk::Call& call) override;

  DaytonaSandbox(Config cfg, sdk::Host host, std::optional<std::string> session);

  // --- sessions (sessions.cpp): the ABI 1.1 plugin-level slots ---
  // The sandboxes labelled agent-runner.session, one entry per sandbox (sdk/README.md).
  static sdk::Result list_sessions(sdk::PluginCall& call);
  // Deletes the sandboxes of one session; refuses one with a command running (conflict) unless
  // `force`, which cancels those commands first.
  static sdk::Result destroy_session(sdk::PluginCall& call);

  // The cancel marker's suffix: execute's scripts report a call whose /tmp/agent-runner-<id>
  // has it as cancelled ("AR1 cancelled") and answer with the suffix kCancelSeen.
  static constexpr const char* kCancelMark = ".cancel";
  static constexpr const char* kCancelSeen = ".cancel-seen";

 private:
  // --- sessions (sessions.cpp) ---
  // The sandboxes carrying the session label (`only`: with this value), oldest first.
  std::vector<boost::json::object> session_sandboxes(const std::optional<std::string>& only);
  // Points this object at `sb`'s toolbox without any of open()'s checks, for maintenance calls
  // that must not count as activity (they would reset the idle time they look at).
  void maintain(const boost::json::object& sb);
  // The execute calls (their ids) whose command runs in the maintained sandbox right now.
  std::vector<std::string> running_commands();
  // Marks those calls cancelled, kills their processes and waits (bounded) for the host
  // processes polling them to see the mark, so that their execute ends as `cancelled`.
  void cancel_commands(const std::vector<std::string>& ids);

  // --- lifecycle (lifecycle.cpp) ---
  void open();
  void attach_by_id();
  void attach_or_create_session();
  void create_ephemeral();
  boost::json::object create_body(const std::map<std::string, std::string>& labels,
                                  const std::string& name) const;
  // POST /sandbox made safe to repeat: every attempt carries one creation token (a label) and
  // the same name, so after a failure the server may have acted on (5xx, timeout, lost answer)
  // the sandbox is looked up by its token and adopted, and Daytona's unique names refuse a
  // second one. Throws conflict when the name belongs to another creation.
  boost::json::object create_once(std::map<std::string, std::string> labels,
                                  const std::string& name);
  // Waits (polling with growing intervals, bounded by create_timeout_s) until the sandbox is
  // started, starting it when stopped. Never deletes anything.
  boost::json::object wait_started(boost::json::object sb);
  void connect_toolbox(const boost::json::object& sb);
  void health_check();
  // The one cleanup after a failed creation of a sandbox this process created: a bounded delete.
  // Returns what happened, for the error message (" (sandbox X was deleted)" or why not).
  std::string discard_created(const std::string& why);

  // --- toolbox plumbing (toolbox.cpp) ---
  // A toolbox call; if the sandbox turns out stopped (auto-stop), starts it and tries again once.
  HttpResponse tb(const DaytonaApi::ToolboxCall& call);
  // A request path or argument as an absolute sandbox path (relative ones below workdir).
  SandboxPath path(std::string_view input) const;
  SandboxPath path_arg(const boost::json::object& req, std::string_view key = "path") const;
  std::string q(const SandboxPath& p) const;  // url-encoded remote path
  std::optional<RemoteInfo> stat(const SandboxPath& p, std::string_view op);
  // Throws the error for a path that does not exist: not_a_directory when a parent is a file,
  // else file_not_found.
  [[noreturn]] void missing(const SandboxPath& p, std::string_view op);
  // Throws the error for a failed toolbox call on `p` (404 -> missing, 403 -> permission_denied,
  // else the API error naming the request).
  [[noreturn]] void fs_fail(const SandboxPath& p, std::string_view op,
                            const DaytonaApi::ToolboxCall& call, const HttpResponse& resp);
  // GET of a /files endpoint about `p` ("/files/search?path=...&pattern=..."): its parsed JSON
  // answer (null when it is not JSON), or nullopt for a 404 when `missing_ok`; other failures
  // throw as fs_fail does.
  std::optional<boost::json::value> files_get(const SandboxPath& p, std::string_view op,
                                              const std::string& path, bool missing_ok = false);
  std::string fetch(const SandboxPath& p, std::string_view op, const RemoteInfo& info);
  void put(const SandboxPath& p, std::string_view op, std::string_view content);
  void check_file_size(const SandboxPath& p, std::string_view op, uint64_t size) const;
  // Runs a shell script with POST /process/execute. `idempotent`: the script is safe to run
  // twice (the HTTP layer may then repeat it after a lost answer).
  ShortExec run_short(const std::string& script, double timeout_s, bool idempotent = false,
                      const std::function<bool()>& cancelled = {});

  Config cfg_;
  sdk::Host host_;
  std::optional<std::string> session_;
  std::unique_ptr<DaytonaApi> api_;
  std::string id_;
  std::string toolbox_;  // toolbox base URL ({toolboxProxyUrl}/{id})
  SandboxPath workdir_;  // where commands start and relative paths lead
  // The daemon pipes /process/execute commands into a shell (v0.156.0+): scripts go as they are,
  // without the base64 wrapper older daemons (which split the command line) need.
  bool shell_stdin_ = false;
  bool owned_ = false;  // ephemeral: deleted on release
  // Toolbox calls of `sessions` (maintain()): sent with X-Daytona-Skip-Last-Activity-Update.
  bool maintenance_ = false;
  std::mutex restart_mutex_;
};

}  // namespace agent_runner::daytona
