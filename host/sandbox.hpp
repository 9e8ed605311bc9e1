// SPDX-License-Identifier: Apache-2.0
// The host's view of one sandbox created by a plugin: RAII over the C ABI. Holds a reference to
// its plugin (the descriptor); the library itself stays mapped until the process exits.
#pragma once

#include "plugin_loader.hpp"

#include <agent_runner/plugin.h>

#include <boost/json.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

// The sandbox operations, in the catalogue's order (AR_OPERATIONS in plugin.h).
enum class Op {
#define AR_HOST_OP_ENUM_(slot, name, tool, capability) slot,
  AR_OPERATIONS(AR_HOST_OP_ENUM_)
#undef AR_HOST_OP_ENUM_
};

// Plugin-level functions of ABI 1.1 (no sandbox needed).
enum class PluginFn { probe, list_sessions, destroy_session };

// The operation's public name ("delete" for Op::remove).
std::string_view op_name(Op op);
std::optional<Op> op_from_name(std::string_view name);

// What an operation gave back, copied out of plugin memory.
struct OpResult {
  ar_status status = AR_OK;
  // Result object, or {"code","message"} on error. A plugin's result lives in an arena of its
  // own (take_result): 100 000 ls entries are parsed by bumping a pointer and freed at once.
  boost::json::object body;
  std::vector<std::string> buffers;  // file contents

  OpResult() = default;
  OpResult(const OpResult&) = default;
  OpResult& operator=(const OpResult&) = default;
  OpResult(OpResult&&) noexcept = default;
  // Moves the body with its storage: the default member-wise move would copy a body whose
  // storage differs from this one's (Boost.JSON copies across memory resources).
  OpResult& operator=(OpResult&& other) noexcept;

  bool ok() const { return status == AR_OK; }
  std::string code() const { return ar_status_name(status); }
  std::string message() const;
  // {"code","message"} for an error, null when ok.
  boost::json::value error_json() const;
  static OpResult error(ar_status status, std::string_view message);
};

// Per-call hooks: streamed output and cancellation.
struct CallOptions {
  std::function<void(ar_stream, std::string_view)> on_output;
  const std::atomic<bool>* cancelled = nullptr;
  std::vector<std::string_view> inputs;  // write: content; upload: one per file
};

// The services table the host hands a plugin (log, emit_output, is_cancelled), defined in
// sandbox.cpp.
struct HostServices;

class Sandbox {
 public:
  // Creates (or attaches to, with a session) a sandbox. On failure returns null and fills
  // `error`.
  static std::unique_ptr<Sandbox> create(const std::shared_ptr<LoadedPlugin>& plugin,
                                         const boost::json::object& config,
                                         const std::optional<std::string>& session,
                                         OpResult& error);
  ~Sandbox();
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // Thread-safe: several calls may run at once.
  OpResult call(Op op, const boost::json::object& request, const CallOptions& options = {});
  // Releases the sandbox (ephemeral ones are removed). Idempotent; the destructor calls it.
  OpResult release();

  const boost::json::object& info() const { return info_; }
  std::string id() const;
  // The sandbox's working directory as its plugin reports it (info "workdir"): where commands
  // start and relative paths lead. Empty when the plugin does not say.
  std::string workdir() const;
  const LoadedPlugin& plugin() const { return *plugin_; }

 private:
  Sandbox(std::shared_ptr<LoadedPlugin> plugin, std::unique_ptr<HostServices> services);

  std::shared_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<HostServices> services_;
  ar_sandbox* handle_ = nullptr;
  boost::json::object info_;
  std::mutex release_mutex_;
};

// Calls a plugin-level function (ABI 1.1) with the generated sandbox config. A plugin without the
// slot (every 1.0 plugin) answers `unsupported`.
OpResult call_plugin(const LoadedPlugin& plugin, PluginFn fn, const boost::json::object& config,
                     const boost::json::object& request, const CallOptions& options = {});

// Turns a plugin-filled ar_result into an OpResult and hands the memory back to the plugin.
OpResult take_result(const ar_plugin_descriptor& d, ar_result& r, ar_status returned);

}  // namespace agent_runner
