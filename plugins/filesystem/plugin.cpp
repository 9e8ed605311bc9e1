// SPDX-License-Identifier: Apache-2.0
// The filesystem sandbox plugin: a workspace directory on this machine (workspace.hpp) seen by
// commands and file operations alike through one view table (view.hpp): a root of the sandbox's
// own built once per sandbox (view_mount.hpp), or the host's paths where the machine refuses it.
// File operations resolve through it (sandbox_files.hpp, paths.hpp, file_ops.hpp); commands run
// in a supervised, confined process tree (execute.hpp, process.hpp, supervisor.hpp) under the
// plan made at create (isolation.hpp). The plugin-level `probe` reports what this machine
// enforces.
#include "execute.hpp"
#include "file_ops.hpp"
#include "fs_config.hpp"
#include "isolation.hpp"
#include "paths.hpp"
#include "probe.hpp"
#include "sandbox_files.hpp"
#include "sessions.hpp"
#include "view.hpp"
#include "view_mount.hpp"
#include "workspace.hpp"

#include <agent_runner/plugin.hpp>
#include <agent_runner/text.hpp>

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <memory>

namespace agent_runner::fs_plugin {
namespace json = boost::json;
using sdk::Result;

namespace {

// The host's real path of `p`, or empty.
std::string real_path(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

// Host directories of agent-runner's own that a read-only system directory of the view could
// show (say root_dir under /opt): the other workspaces, the other sandboxes' tmp directories,
// the plugins.
std::vector<std::string> hidden_host_dirs(const FsConfig& cfg) {
  std::vector<std::string> out;
  const char* tmp = std::getenv("TMPDIR");
  for (const std::string& p : {cfg.root_dir, std::string(tmp && *tmp == '/' ? tmp : "/tmp")})
    if (auto r = real_path(p); !r.empty()) out.push_back(r);
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&hidden_host_dirs), &info) && info.dli_fname)
    if (auto r = real_path(std::filesystem::path(info.dli_fname).parent_path().string());
        !r.empty())
      out.push_back(r);
  return out;
}

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
            {"workdir", table_.workdir()},
            {"view", table_.is_container() ? "container" : "host"},
            {"mounts", table_.to_json()},
            {"layout", cfg_.layout == Layout::shared ? "shared" : "per-session"},
            {"path_resolution", files_->uses_openat2() ? "openat2" : "fd-walk"},
            {"isolation", plan_.to_json()}};
  }

  Result release() override {
    replaced_.drain();  // the files writes replaced are freed before the sandbox is gone
    if (hold_) hold_->release();
    view_.reset();  // the namespaces go with their last descriptor
    ws_->release();
    return Result::ok({{"sandbox_id", id_}, {"removed", !ws_->persistent()}});
  }

  Result execute(sdk::Call& c) override {
    if (!hold_) return op_execute(ExecContext{cfg_, table_, view_.get(), *files_, plan_}, c);
    // A session: its command stops when `sessions rm --force` (another process) removes it.
    if (std::string why = hold_->gone(); !why.empty()) throw sdk::Error(AR_ERR_NOT_FOUND, why);
    SessionHold::Running running(*hold_);
    try {
      return op_execute(ExecContext{cfg_, table_, view_.get(), *files_, plan_}, c,
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

  FileContext ctx() const {
    return {*files_, cfg_.max_file_bytes, cfg_.max_search_entries, &replaced_};
  }

  void init(const sdk::CreateArgs& args) {
    cfg_ = parse_config(args.config);
    session_ = args.session;
    ws_ = std::make_unique<Workspace>(cfg_, session_);
    if (session_ && cfg_.layout == Layout::per_session)
      hold_ = std::make_unique<SessionHold>(ws_->path(), ws_->fd(), *session_);
    try {
      plan_ = plan_isolation(cfg_);
      if (plan_.view) {
        table_ = ViewTable::container(
            {cfg_.workdir, ws_->path(), ws_->tmp_dir(), cfg_.mounts, hidden_host_dirs(cfg_)});
        try {
          view_ = std::make_unique<ViewNamespaces>(
              table_, ViewOptions{plan_.user_ns, plan_.pid_ns, plan_.net_ns});
        } catch (const sdk::Error& e) {
          if (!cfg_.best_effort || !cfg_.mounts.empty()) throw;
          plan_ = plan_isolation(cfg_, false);
          plan_.degraded.push_back(std::string("the container view: ") + e.what());
        }
      }
      if (!view_) {
        table_ = ViewTable::host(ws_->path(), ws_->tmp_dir());
        if (plan_.read_only_root && cfg_.isolation == Isolation::workspace_write)
          plan_.writable = {ws_->path(), ws_->tmp_dir()};
      }
      plan_landlock(plan_, table_, view_ ? view_->root_fd() : -1);
      const char* force = std::getenv("AGENT_RUNNER_FS_FORCE_FD_WALK");
      files_ = std::make_unique<SandboxFiles>(table_, view_ ? view_->root_fd() : -1, ws_->fd(),
                                              ws_->tmp_fd(), force && *force == '1');
    } catch (...) {
      view_.reset();
      ws_->release();
      throw;
    }
    for (const auto& d : plan_.degraded) args.host.warn("filesystem sandbox (best_effort): " + d);
    id_ = "fs-" + sdk::random_hex(6);
  }

  FsConfig cfg_;
  std::optional<std::string> session_;
  std::string id_;
  std::unique_ptr<Workspace> ws_;
  std::unique_ptr<SessionHold> hold_;  // a session's: in use while open (sessions.hpp)
  IsolationPlan plan_;
  ViewTable table_;
  std::unique_ptr<ViewNamespaces> view_;  // the container view's namespaces (null: host view)
  std::unique_ptr<SandboxFiles> files_;   // what file operations see: the same table
  mutable DeferredRelease replaced_;      // files writes replaced, freed after their answer
};

}  // namespace
}  // namespace agent_runner::fs_plugin

AGENT_RUNNER_PLUGIN(agent_runner::fs_plugin::FsSandbox, "filesystem", "filesystem", "0.1.0",
                    AR_CAP_EXECUTE | AR_CAP_STREAMING | AR_CAP_TIMEOUT | AR_CAP_TREE_KILL |
                        AR_CAP_OUTPUT_CAP | AR_CAP_ENV | AR_CAP_FILES | AR_CAP_SEARCH |
                        AR_CAP_TRANSFER | AR_CAP_SESSIONS | AR_CAP_CANCEL | AR_CAP_ISOLATION |
                        AR_CAP_NETWORK_POLICY | AR_CAP_RESOURCE_LIMITS,
                    agent_runner::fs_plugin::kConfigSchema)
