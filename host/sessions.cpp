#include "sessions.hpp"

#include "app.hpp"
#include "signals.hpp"

#include <algorithm>

namespace agent_runner {
namespace json = boost::json;

namespace {

// A session key or id as the plugin gave it: a string of sane length, else nothing.
std::optional<std::string> text_member(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->get_string().size() > 4096) return std::nullopt;
  return std::string(v->get_string());
}

}  // namespace

SessionsApi::SessionsApi(const LoadedPlugin& plugin, json::object sandbox_config,
                         const CallOptions* options)
    : plugin_(plugin), config_(std::move(sandbox_config)) {
  if (options) options_.cancelled = options->cancelled;  // no output, no inputs
}

std::string SessionsApi::unsupported_message() const {
  return "the " + plugin_.name() + " plugin (sandbox type " + plugin_.sandbox_type() +
         ") does not manage sessions: it has no list_sessions/destroy_session (plugin ABI 1.1); "
         "remove its persistent sandboxes with the backend's own tools";
}

OpResult SessionsApi::list(std::vector<SessionInfo>& out, const std::optional<std::string>& only) {
  out.clear();
  json::object req;
  if (only) req["session"] = *only;
  OpResult r = call_plugin(plugin_, PluginFn::list_sessions, config_, req, options_);
  if (!r.ok()) return r;
  auto bad = [&](const std::string& what) {
    return OpResult::error(AR_ERR_INTERNAL, "the " + plugin_.name() +
                                                " plugin answered list_sessions out of shape: " +
                                                what + " (a bug in the plugin)");
  };
  const auto* sessions = r.body.if_contains("sessions");
  if (!sessions || !sessions->is_array()) return bad("no \"sessions\" array");
  for (const auto& v : sessions->get_array()) {
    if (!v.is_object()) return bad("a session that is not an object");
    const auto& o = v.get_object();
    SessionInfo s;
    auto key = text_member(o, "session");
    if (!key || key->empty()) return bad("a session without a \"session\" string");
    s.session = *key;
    s.sandbox_id = text_member(o, "sandbox_id").value_or("");
    s.state = text_member(o, "state").value_or("");
    if (const auto* u = o.if_contains("in_use"); u && u->is_bool()) s.in_use = u->get_bool();
    if (const auto* i = o.if_contains("idle_s"); i && i->is_number()) {
      boost::system::error_code ec;
      const double d = i->to_number<double>(ec);
      if (!ec && d >= 0 && d < 1e15) s.idle_s = static_cast<int64_t>(d);
    }
    s.raw = o;
    if (only && s.session != *only) continue;
    out.push_back(std::move(s));
  }
  std::sort(out.begin(), out.end(),
            [](const SessionInfo& a, const SessionInfo& b) { return a.session < b.session; });
  return r;
}

OpResult SessionsApi::destroy(const std::string& session, bool force,
                              std::optional<int64_t> idle_s) {
  json::object req{{"session", session}};
  if (force) req["force"] = true;
  if (idle_s) req["idle_s"] = *idle_s;
  OpResult r = call_plugin(plugin_, PluginFn::destroy_session, config_, req, options_);
  if (r.ok()) {
    const auto* d = r.body.if_contains("destroyed");
    if (!d || !d->is_bool())
      return OpResult::error(AR_ERR_INTERNAL,
                             "the " + plugin_.name() +
                                 " plugin answered destroy_session without \"destroyed\" (a bug "
                                 "in the plugin)");
  }
  return r;
}

std::optional<SessionsApi> open_sessions(App& app, int& exit_code) {
  json::object config;
  auto plugin = app.selected_plugin(config, exit_code);
  if (!plugin) return std::nullopt;
  CallOptions options;
  options.cancelled = &install_cancel_signals();
  // The registry keeps the plugin loaded for the life of the process.
  return SessionsApi(*plugin, std::move(config), &options);
}

std::vector<SessionInfo> idle_sessions(const std::vector<SessionInfo>& all, int64_t idle_s) {
  std::vector<SessionInfo> out;
  for (const auto& s : all)
    if (s.idle_s && *s.idle_s >= idle_s && s.in_use != true) out.push_back(s);
  std::stable_sort(out.begin(), out.end(), [](const SessionInfo& a, const SessionInfo& b) {
    return *a.idle_s > *b.idle_s;
  });
  return out;
}

}  // namespace agent_runner
