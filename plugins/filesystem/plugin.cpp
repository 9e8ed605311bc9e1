// The filesystem sandbox plugin: a workspace directory on this machine (workspace.hpp); file
// operations are resolved by the kernel beneath it (paths.hpp, file_ops.hpp); commands run in a
// supervised, confined process tree (execute.hpp, process.hpp, supervisor.hpp) under the plan
// made at create (isolation.hpp). The plugin-level `probe` reports what this machine enforces.
#include "execute.hpp"
#include "file_ops.hpp"
#include "fs_config.hpp"
#include "isolation.hpp"
#include "paths.hpp"
#include "probe.hpp"
#include "sessions.hpp"
#include "workspace.hpp"

#include <agent_runner/plugin.hpp>

#include <cstdlib>
#include <memory>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Result;

namespace {

class FsSandbox final : public sdk::Sandbox {
 public:
  static std::unique_ptr<FsSandbox> create(const sdk::CreateArgs& args) {
    auto sb = std::unique_ptr<FsSandbox>(new FsSandbox());
    sb->init(args);
    return sb;
  }

  // ABI 1.1: what this machine lets the plugin enforce; needs no sandbox and no config.
  static Result probe(sdk::PluginCall&) { return Result::ok(probe_report()); }

  // ABI 1.1: the sessions (persistent workspaces) under root_dir (sessions.hpp).
  static Result list_sessions(sdk::PluginCall& c) {
    return list_fs_sessions(parse_config(c.config()), c.request());
  }
  static Result destroy_session(sdk::PluginCall& c) {
    return destroy_fs_session(parse_config(c.config()), c.request());
  }

  json::object info() const override {
    return {{"sandbox_id", id_},
            {"session", session_ ? json::value(*session_) : json::value(nullptr)},
            {"persistent", ws_->persistent()},
            {"workspace", ws_->path()},
            {"tmp_dir", ws_->tmp_dir()},
            {"layout", cfg_.layout == Layout::shared ? "shared" : "per-session"},
            {"path_resolution", resolver_->uses_openat2() ? "openat2" : "fd-walk"},
            {"isolation", plan_.to_json()}};
  }

  Result release() override {
    if (hold_) hold_->release();
    ws_->release();
    return Result::ok({{"sandbox_id", id_}, {"removed", !ws_->persistent()}});
  }

  Result execute(sdk::Call& c) override {
    if (!hold_)
      return op_execute(ExecContext{cfg_, *resolver_, plan_, ws_->path(), ws_->tmp_dir()}, c);
    // A session: its command stops when `sessions rm --force` (another process) removes it.
    if (std::string why = hold_->gone(); !why.empty()) throw sdk::Error(AR_ERR_NOT_FOUND, why);
    SessionHold::Running running(*hold_);
    try {
      return op_execute(ExecContext{cfg_, *resolver_, plan_, ws_->path(), ws_->tmp_dir()}, c,
                        [&running] { return running.stop_requested(); });
    } catch (const sdk::Error& e) {
      if (e.status() != AR_ERR_CANCELLED || !running.stopped()) throw;
      throw sdk::Error(AR_ERR_CANCELLED, "execute: cancelled: " + hold_->gone() +
                                             "; the command's process tree was killed");
    }
  }
  Result ls(sdk::Call& c) override { return op_ls(ctx(), c); }
  Result read(sdk::Call& c) override { return op_read(ctx(), c); }
  Result write(sdk::Call& c) override { return op_write(ctx(), c); }
  Result edit(sdk::Call& c) override { return op_edit(ctx(), c); }
  Result glob(sdk::Call& c) override { return op_glob(ctx(), c); }
  Result grep(sdk::Call& c) override { return op_grep(ctx(), c); }
  Result upload(sdk::Call& c) override { return op_upload(ctx(), c); }
  Result download(sdk::Call& c) override { return op_download(ctx(), c); }
  Result remove(sdk::Call& c) override { return op_delete(ctx(), c); }

 private:
  FsSandbox() = default;

  FileContext ctx() const { return {*resolver_, cfg_.max_file_bytes, cfg_.max_search_entries}; }

  void init(const sdk::CreateArgs& args) {
    cfg_ = parse_config(args.config);
    session_ = args.session;
    ws_ = std::make_unique<Workspace>(cfg_, session_);
    if (session_ && cfg_.layout == Layout::per_session)
      hold_ = std::make_unique<SessionHold>(ws_->path(), ws_->fd(), *session_);
    const char* force = std::getenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
    resolver_ = std::make_unique<Resolver>(ws_->fd(), force && *force == '1');
    try {
      plan_ = plan_isolation(cfg_, ws_->path(), ws_->tmp_dir());
    } catch (...) {
      ws_->release();
      throw;
    }
    for (const auto& d : plan_.degraded) args.host.warn("filesystem sandbox (best_effort): " + d);
    id_ = "fs-" + random_hex(6);
  }

  FsConfig cfg_;
  std::optional<std::string> session_;
  std::string id_;
  std::unique_ptr<Workspace> ws_;
  std::unique_ptr<SessionHold> hold_;  // a session's: in use while open (sessions.hpp)
  std::unique_ptr<Resolver> resolver_;
  IsolationPlan plan_;
};

}  // namespace
}  // namespace agent_runner::fs_plugin

AGENT_RUNNER_PLUGIN(agent_runner::fs_plugin::FsSandbox, "filesystem", "filesystem", "0.1.0",
                    AR_CAP_EXECUTE | AR_CAP_STREAMING | AR_CAP_TIMEOUT | AR_CAP_TREE_KILL |
                        AR_CAP_OUTPUT_CAP | AR_CAP_ENV | AR_CAP_FILES | AR_CAP_SEARCH |
                        AR_CAP_TRANSFER | AR_CAP_SESSIONS | AR_CAP_CANCEL | AR_CAP_ISOLATION |
                        AR_CAP_NETWORK_POLICY | AR_CAP_RESOURCE_LIMITS,
                    agent_runner::fs_plugin::kConfigSchema)
