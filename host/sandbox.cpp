// SPDX-License-Identifier: Apache-2.0
#include "sandbox.hpp"

#include "logging.hpp"

#include <array>
#include <memory>

namespace agent_runner {
namespace {

constexpr std::array kOpNames = {
#define AR_HOST_OP_NAME_(slot, name, tool, capability) std::string_view(name),
    AR_OPERATIONS(AR_HOST_OP_NAME_)
#undef AR_HOST_OP_NAME_
};

struct CallContext {
  const CallOptions* options;
};

void svc_emit(void* call_ctx, ar_stream stream, const char* data, size_t len) {
  auto* ctx = static_cast<CallContext*>(call_ctx);
  if (!ctx || !ctx->options || !ctx->options->on_output || !data) return;
  try {
    ctx->options->on_output(stream, std::string_view(data, len));
  } catch (const std::exception& e) {
    spdlog::error("output handler failed: {}", e.what());
  }
}

int svc_cancelled(void* call_ctx) {
  auto* ctx = static_cast<CallContext*>(call_ctx);
  return ctx && ctx->options && ctx->options->cancelled &&
                 ctx->options->cancelled->load(std::memory_order_relaxed)
             ? 1
             : 0;
}

ar_op_fn op_slot(const ar_plugin_descriptor& d, Op op) {
  switch (op) {
#define AR_HOST_OP_SLOT_(slot, name, tool, capability) \
  case Op::slot:                                       \
    return d.slot;
    AR_OPERATIONS(AR_HOST_OP_SLOT_)
#undef AR_HOST_OP_SLOT_
  }
  return nullptr;
}

ar_plugin_fn plugin_slot(const ar_plugin_descriptor& d, PluginFn fn) {
  switch (fn) {
    case PluginFn::probe:
      return d.probe;
    case PluginFn::list_sessions:
      return d.list_sessions;
    case PluginFn::destroy_session:
      return d.destroy_session;
  }
  return nullptr;
}

std::string_view plugin_fn_name(PluginFn fn) {
  switch (fn) {
    case PluginFn::probe:
      return "probe";
    case PluginFn::list_sessions:
      return "list_sessions";
    case PluginFn::destroy_session:
      return "destroy_session";
  }
  return "?";
}

std::vector<ar_bytes> input_views(const CallOptions& options) {
  std::vector<ar_bytes> inputs;
  inputs.reserve(options.inputs.size());
  for (auto in : options.inputs)
    inputs.push_back(ar_bytes{reinterpret_cast<const uint8_t*>(in.data()), in.size()});
  return inputs;
}

// Fills an ar_call for one request; `inputs` and `req` must outlive the call.
ar_call make_call(const std::string& req, const std::vector<ar_bytes>& inputs, CallContext& ctx) {
  ar_call c{};
  c.struct_size = sizeof(ar_call);
  c.request_json = req.data();
  c.request_len = req.size();
  c.inputs = inputs.empty() ? nullptr : inputs.data();
  c.input_count = inputs.size();
  c.host_call_ctx = &ctx;
  return c;
}

}  // namespace

// Lives as long as the sandbox (or the plugin-level call): the plugin may call these from any
// thread until release.
struct HostServices {
  ar_host_services table{};
  std::shared_ptr<spdlog::logger> logger;

  static void log(void* host_data, ar_log_level level, const char* msg, size_t len) {
    auto* self = static_cast<HostServices*>(host_data);
    if (!self || !msg) return;
    spdlog::level::level_enum l = spdlog::level::info;
    switch (level) {
      case AR_LOG_TRACE:
        l = spdlog::level::trace;
        break;
      case AR_LOG_DEBUG:
        l = spdlog::level::debug;
        break;
      case AR_LOG_INFO:
        l = spdlog::level::info;
        break;
      case AR_LOG_WARN:
        l = spdlog::level::warn;
        break;
      case AR_LOG_ERROR:
        l = spdlog::level::err;
        break;
    }
    self->logger->log(l, "{}", std::string_view(msg, len));
  }

  static std::unique_ptr<HostServices> make(const std::string& plugin_name) {
    auto s = std::make_unique<HostServices>();
    s->logger = component_logger("plugin:" + plugin_name);
    s->table.struct_size = sizeof(ar_host_services);
    s->table.host_data = s.get();
    s->table.log = &HostServices::log;
    s->table.emit_output = &svc_emit;
    s->table.is_cancelled = &svc_cancelled;
    return s;
  }
};

std::string_view op_name(Op op) {
  return kOpNames[static_cast<size_t>(op)];
}

std::optional<Op> op_from_name(std::string_view name) {
  for (size_t i = 0; i < kOpNames.size(); ++i)
    if (kOpNames[i] == name) return static_cast<Op>(i);
  return std::nullopt;
}

std::string OpResult::message() const {
  if (auto it = body.find("message"); it != body.end() && it->value().is_string())
    return std::string(it->value().as_string());
  return ok() ? "" : code();
}

boost::json::value OpResult::error_json() const {
  if (ok()) return nullptr;
  return boost::json::object{{"code", code()}, {"message", message()}};
}

OpResult OpResult::error(ar_status status, std::string_view message) {
  OpResult r;
  r.status = status;
  r.body["code"] = ar_status_name(status);
  r.body["message"] = message;
  return r;
}

OpResult& OpResult::operator=(OpResult&& other) noexcept {
  if (this == &other) return *this;
  status = other.status;
  std::destroy_at(&body);
  std::construct_at(&body, std::move(other.body));
  buffers = std::move(other.buffers);
  return *this;
}

OpResult take_result(const ar_plugin_descriptor& d, ar_result& r, ar_status returned) {
  OpResult out;
  out.status = returned;
  if (r.status != returned && r.status != AR_OK) out.status = r.status;
  if (out.status < AR_OK || out.status >= AR_STATUS_COUNT_) out.status = AR_ERR_INTERNAL;
  if (r.json && r.json_len > 0) {
    boost::system::error_code ec;
    // An arena per result: parsing allocates by bumping a pointer and the whole result is freed
    // at once (a large ls or grep result is 100 000 small objects). The body keeps the arena
    // alive, and so does any value moved out of it.
    auto v =
        boost::json::parse(std::string_view(r.json, r.json_len), ec,
                           boost::json::make_shared_resource<boost::json::monotonic_resource>());
    if (ec || !v.is_object()) {
      out = OpResult::error(AR_ERR_INTERNAL, "plugin returned a result that is not a JSON object");
    } else {
      std::destroy_at(&out.body);
      std::construct_at(&out.body, std::move(v.as_object()));
    }
  }
  for (size_t i = 0; i < r.buffer_count && r.buffers; ++i)
    out.buffers.emplace_back(reinterpret_cast<const char*>(r.buffers[i].data), r.buffers[i].size);
  if (d.free_result) d.free_result(&r);
  if (!out.ok() && out.body.find("code") == out.body.end()) {
    out.body["code"] = out.code();
    if (out.body.find("message") == out.body.end()) out.body["message"] = out.code();
  }
  return out;
}

Sandbox::Sandbox(std::shared_ptr<LoadedPlugin> plugin, std::unique_ptr<HostServices> services)
    : plugin_(std::move(plugin)), services_(std::move(services)) {}

std::unique_ptr<Sandbox> Sandbox::create(const std::shared_ptr<LoadedPlugin>& plugin,
                                         const boost::json::object& config,
                                         const std::optional<std::string>& session,
                                         OpResult& error) {
  auto services = HostServices::make(plugin->name());

  std::unique_ptr<Sandbox> sb(new Sandbox(plugin, std::move(services)));
  const std::string cfg = boost::json::serialize(config);
  const auto& d = plugin->descriptor();
  ar_result r{};
  ar_sandbox* handle = nullptr;
  ar_status st =
      d.create(&sb->services_->table, cfg.data(), cfg.size(), session ? session->data() : nullptr,
               session ? session->size() : 0, &handle, &r);
  OpResult res = take_result(d, r, st);
  if (!res.ok() || !handle) {
    if (handle) {
      ar_result rr{};
      take_result(d, rr, d.release(handle, &rr));
    }
    error = res.ok() ? OpResult::error(AR_ERR_INTERNAL, "plugin create returned no sandbox") : res;
    return nullptr;
  }
  sb->handle_ = handle;
  sb->info_ = std::move(res.body);
  return sb;
}

Sandbox::~Sandbox() {
  OpResult r = release();
  if (!r.ok()) spdlog::warn("releasing sandbox {} failed: {}", id(), r.message());
}

std::string Sandbox::id() const {
  if (auto it = info_.find("sandbox_id"); it != info_.end() && it->value().is_string())
    return std::string(it->value().as_string());
  return "";
}

std::string Sandbox::workdir() const {
  if (auto it = info_.find("workdir"); it != info_.end() && it->value().is_string())
    return std::string(it->value().as_string());
  return "";
}

OpResult Sandbox::call(Op op, const boost::json::object& request, const CallOptions& options) {
  const auto& d = plugin_->descriptor();
  ar_op_fn fn = op_slot(d, op);
  if (!fn)
    return OpResult::error(
        AR_ERR_UNSUPPORTED,
        std::string(op_name(op)) + " is not supported by the " + plugin_->name() + " plugin");
  if (!handle_) return OpResult::error(AR_ERR_UNAVAILABLE, "sandbox was already released");
  const std::string req = boost::json::serialize(request);
  const std::vector<ar_bytes> inputs = input_views(options);
  CallContext ctx{&options};
  const ar_call c = make_call(req, inputs, ctx);
  ar_result r{};
  ar_status st = fn(handle_, &c, &r);
  return take_result(d, r, st);
}

OpResult call_plugin(const LoadedPlugin& plugin, PluginFn which, const boost::json::object& config,
                     const boost::json::object& request, const CallOptions& options) {
  const auto& d = plugin.descriptor();
  ar_plugin_fn fn = plugin_slot(d, which);
  if (!fn)
    return OpResult::error(AR_ERR_UNSUPPORTED, "the " + plugin.name() + " plugin does not offer " +
                                                   std::string(plugin_fn_name(which)) +
                                                   " (plugin ABI 1.1)");
  auto services = HostServices::make(plugin.name());
  const std::string cfg = boost::json::serialize(config);
  const std::string req = boost::json::serialize(request);
  const std::vector<ar_bytes> inputs = input_views(options);
  CallContext ctx{&options};
  const ar_call c = make_call(req, inputs, ctx);
  ar_result r{};
  ar_status st = fn(&services->table, cfg.data(), cfg.size(), &c, &r);
  return take_result(d, r, st);
}

OpResult Sandbox::release() {
  std::lock_guard lock(release_mutex_);
  if (!handle_) return {};
  const auto& d = plugin_->descriptor();
  ar_result r{};
  ar_status st = d.release(handle_, &r);
  handle_ = nullptr;
  return take_result(d, r, st);
}

}  // namespace agent_runner
