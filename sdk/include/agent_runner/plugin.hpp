// SPDX-License-Identifier: Apache-2.0
// agent-runner plugin SDK: header-only C++ helper over the C ABI in plugin.h.
//
// A plugin author derives from agent_runner::sdk::Sandbox, implements the operations it supports,
// gives the class a static factory, and exports it with one macro:
//
//   class MySandbox : public agent_runner::sdk::Sandbox {
//    public:
//     static std::unique_ptr<MySandbox> create(const agent_runner::sdk::CreateArgs& args);
//     boost::json::object info() const override;          // {"sandbox_id": ...}
//     agent_runner::sdk::Result execute(agent_runner::sdk::Call& call) override;
//   };
//   AGENT_RUNNER_PLUGIN(MySandbox, "my-plugin", "my-type", "0.1.0",
//                       AR_CAP_EXECUTE, R"({"type":"object"})")
//
// Every exception thrown by plugin code is caught at the boundary: an sdk::Error becomes its own
// status, anything else becomes AR_ERR_INTERNAL. Nothing C++ crosses into the host.
//
// Plugins link Boost.JSON (Boost::json). Build them with hidden visibility; the macro exports the
// one entry symbol.
#ifndef AGENT_RUNNER_PLUGIN_HPP
#define AGENT_RUNNER_PLUGIN_HPP

#include <agent_runner/plugin.h>

#include <boost/json.hpp>

#include <concepts>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agent_runner::sdk {
inline namespace v1 {

// An error a plugin raises on purpose: it reaches the host as `status` with `message`.
class Error : public std::runtime_error {
 public:
  Error(ar_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  ar_status status() const noexcept { return status_; }

 private:
  ar_status status_;
};

// The outcome of an operation: a status, a JSON body and byte buffers (file contents).
struct Result {
  ar_status status = AR_OK;
  boost::json::object body;
  std::vector<std::string> buffers;

  // Moves `body` in with its memory resource (an assignment would copy it into the default one).
  static Result ok(boost::json::object body = {}) { return Result{AR_OK, std::move(body), {}}; }
  static Result error(ar_status status, std::string_view message) {
    Result r;
    r.status = status;
    r.body["code"] = ar_status_name(status);
    r.body["message"] = message;
    return r;
  }
};

// The length (2 to 4) of the well-formed UTF-8 sequence that starts at s[0], a byte >= 0x80, in
// the `n` bytes at `s`; 0 when it does not start one (overlong forms, surrogates and code points
// past U+10FFFF are not well-formed).
inline size_t utf8_sequence_length(const unsigned char* s, size_t n) {
  const unsigned char c = s[0];
  size_t len = 0;
  uint32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (len > n) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((s[k] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (s[k] & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
      cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

// Replaces every invalid UTF-8 sequence with U+FFFD so the text is safe to put into JSON.
inline std::string utf8_sanitize(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  const size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && s[j] < 0x80) ++j;  // a run of ASCII, copied at once
    out.append(in.data() + i, j - i);
    i = j;
    if (i == n) break;
    if (const size_t len = utf8_sequence_length(s + i, n - i)) {
      out.append(in.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
  return out;
}

// Typed access to request and config members; a wrong type or a missing required member throws
// Error(AR_ERR_INVALID_ARGUMENT) naming the member.
namespace json_get {
inline const boost::json::value* find(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}
inline std::string string(const boost::json::object& o, std::string_view key) {
  const auto* v = find(o, key);
  if (!v)
    throw Error(AR_ERR_INVALID_ARGUMENT, "missing required member '" + std::string(key) + "'");
  if (!v->is_string())
    throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "' must be a string");
  return std::string(v->as_string());
}
inline std::optional<std::string> opt_string(const boost::json::object& o, std::string_view key) {
  const auto* v = find(o, key);
  if (!v) return std::nullopt;
  if (!v->is_string())
    throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "' must be a string");
  return std::string(v->as_string());
}
inline bool boolean(const boost::json::object& o, std::string_view key, bool dflt) {
  const auto* v = find(o, key);
  if (!v) return dflt;
  if (!v->is_bool())
    throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "' must be a boolean");
  return v->as_bool();
}
inline double number(const boost::json::object& o, std::string_view key, double dflt) {
  const auto* v = find(o, key);
  if (!v) return dflt;
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  if (v->is_double()) return v->as_double();
  throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "' must be a number");
}
// An integer member within [min, max]. The range is checked before any conversion: a double such
// as 6.7e79 is a whole number, but converting it to int64_t would be undefined behaviour.
inline int64_t integer(const boost::json::object& o, std::string_view key, int64_t dflt,
                       int64_t min = INT64_MIN, int64_t max = INT64_MAX) {
  const auto* v = find(o, key);
  if (!v) return dflt;
  std::optional<int64_t> n;
  if (v->is_int64()) {
    n = v->as_int64();
  } else if (v->is_uint64()) {
    if (v->as_uint64() <= static_cast<uint64_t>(INT64_MAX))
      n = static_cast<int64_t>(v->as_uint64());
  } else if (v->is_double()) {
    const double d = v->as_double();
    // -2^63 and 2^63 are exact doubles; everything in between converts.
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        d == static_cast<double>(static_cast<int64_t>(d)))
      n = static_cast<int64_t>(d);
  } else {
    throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "' must be an integer");
  }
  if (!n || *n < min || *n > max)
    throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) +
                                             "' must be an integer between " + std::to_string(min) +
                                             " and " + std::to_string(max) + " (got " +
                                             boost::json::serialize(*v) + ")");
  return *n;
}
// {"K": "V", ...}; any non-string value is an error.
inline std::vector<std::pair<std::string, std::string>> string_map(const boost::json::object& o,
                                                                   std::string_view key) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* v = find(o, key);
  if (!v) return out;
  if (!v->is_object())
    throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "' must be an object");
  for (const auto& kv : v->as_object()) {
    if (!kv.value().is_string())
      throw Error(AR_ERR_INVALID_ARGUMENT, "member '" + std::string(key) + "." +
                                               std::string(kv.key()) + "' must be a string");
    out.emplace_back(std::string(kv.key()), std::string(kv.value().as_string()));
  }
  return out;
}
}  // namespace json_get

// The host's services, as given at create.
class Host {
 public:
  Host() = default;
  explicit Host(const ar_host_services* services) : services_(services) {}

  void log(ar_log_level level, std::string_view msg) const noexcept {
    if (services_ && services_->log)
      services_->log(services_->host_data, level, msg.data(), msg.size());
  }
  void debug(std::string_view msg) const noexcept { log(AR_LOG_DEBUG, msg); }
  void info(std::string_view msg) const noexcept { log(AR_LOG_INFO, msg); }
  void warn(std::string_view msg) const noexcept { log(AR_LOG_WARN, msg); }
  void error(std::string_view msg) const noexcept { log(AR_LOG_ERROR, msg); }
  const ar_host_services* raw() const noexcept { return services_; }

 private:
  const ar_host_services* services_ = nullptr;
};

// One operation call: the parsed request, the input buffers and the per-call services.
class Call {
 public:
  Call(const Host& host, const ar_call* call, boost::json::object request)
      : host_(host), call_(call), request_(std::move(request)) {}

  const boost::json::object& request() const noexcept { return request_; }
  size_t input_count() const noexcept { return call_ ? call_->input_count : 0; }
  std::string_view input(size_t i) const {
    if (!call_ || i >= call_->input_count)
      throw Error(AR_ERR_INVALID_ARGUMENT, "missing input buffer " + std::to_string(i));
    const ar_bytes& b = call_->inputs[i];
    return {reinterpret_cast<const char*>(b.data), b.size};
  }
  // Stream a chunk of command output to the host while the command runs.
  void emit(ar_stream stream, std::string_view data) const noexcept {
    const auto* s = host_.raw();
    if (s && s->emit_output && call_ && !data.empty())
      s->emit_output(call_->host_call_ctx, stream, data.data(), data.size());
  }
  // True once the host wants this operation to stop.
  bool cancelled() const noexcept {
    const auto* s = host_.raw();
    return s && s->is_cancelled && call_ && s->is_cancelled(call_->host_call_ctx) != 0;
  }
  const Host& host() const noexcept { return host_; }

 private:
  Host host_;
  const ar_call* call_;
  boost::json::object request_;
};

// A plugin-level call (ABI 1.1: probe, list_sessions, destroy_session): no sandbox is open; the
// generated sandbox config comes with the request.
class PluginCall : public Call {
 public:
  PluginCall(const Host& host, const ar_call* call, boost::json::object request,
             boost::json::object config)
      : Call(host, call, std::move(request)), config_(std::move(config)) {}
  const boost::json::object& config() const noexcept { return config_; }

 private:
  boost::json::object config_;
};

struct CreateArgs {
  boost::json::object config;          // the generated sandbox config
  std::optional<std::string> session;  // persistent sandbox key, if any
  Host host;
};

// Base class of a plugin's sandbox. Operations a plugin does not override are `unsupported`.
class Sandbox {
 public:
  virtual ~Sandbox() = default;

  // {"sandbox_id": "...", ...}: returned to the host after create.
  virtual boost::json::object info() const = 0;
  // Called once before destruction: remove an ephemeral sandbox, keep a persistent one.
  virtual Result release() { return Result::ok(); }

  // One virtual per operation of the catalogue (AR_OPERATIONS in plugin.h): execute, ls, read,
  // write, edit, glob, grep, upload, download, remove.
#define AR_SDK_OPERATION_VIRTUAL_(slot, name, tool, capability) \
  virtual Result slot(Call&) {                                  \
    return unsupported(name);                                   \
  }
  AR_OPERATIONS(AR_SDK_OPERATION_VIRTUAL_)
#undef AR_SDK_OPERATION_VIRTUAL_

  void set_host(Host host) noexcept {
    host_ = host;
  }
  const Host& host() const noexcept {
    return host_;
  }

 protected:
  static Result unsupported(std::string_view op) {
    return Result::error(AR_ERR_UNSUPPORTED, std::string(op) + " is not supported by this plugin");
  }

 private:
  Host host_;
};

namespace detail {

struct ResultStorage {
  std::string json;
  std::vector<std::string> buffers;
  std::vector<ar_bytes> views;
};

// Moves a Result into C memory owned by a ResultStorage (freed by free_result).
inline ar_status fill(const Result& r, ar_result* out) noexcept {
  if (!out) return r.status;
  *out = ar_result{};
  out->status = r.status;
  try {
    auto* st = new ResultStorage;
    st->json = boost::json::serialize(r.body);
    st->buffers = r.buffers;
    st->views.reserve(st->buffers.size());
    for (const auto& b : st->buffers)
      st->views.push_back(ar_bytes{reinterpret_cast<const uint8_t*>(b.data()), b.size()});
    out->json = st->json.data();
    out->json_len = st->json.size();
    out->buffers = st->views.empty() ? nullptr : st->views.data();
    out->buffer_count = st->views.size();
    out->plugin_data = st;
  } catch (...) {
    // Out of memory while building the result: report it without JSON.
    out->status = AR_ERR_INTERNAL;
  }
  return out->status;
}

inline void free_result(ar_result* r) noexcept {
  if (!r) return;
  delete static_cast<ResultStorage*>(r->plugin_data);
  *r = ar_result{};
}

inline ar_status error_to(ar_result* out, ar_status st, std::string_view message) noexcept {
  try {
    return fill(Result::error(st, message), out);
  } catch (...) {
    if (out) *out = ar_result{};
    if (out) out->status = AR_ERR_INTERNAL;
    return AR_ERR_INTERNAL;
  }
}

// Runs fn, turning any exception into an error result.
template <typename Fn>
ar_status guarded(ar_result* out, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const Error& e) {
    return error_to(out, e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return error_to(out, AR_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return error_to(out, AR_ERR_INTERNAL, std::string("plugin error: ") + e.what());
  } catch (...) {
    return error_to(out, AR_ERR_INTERNAL, "plugin error: unknown exception");
  }
}

inline boost::json::object parse_object(const char* text, size_t len, std::string_view what) {
  if (!text || len == 0) return {};
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(std::string_view(text, len), ec);
  if (ec)
    throw Error(AR_ERR_INVALID_ARGUMENT, std::string(what) + " is not valid JSON: " + ec.message());
  if (!v.is_object())
    throw Error(AR_ERR_INVALID_ARGUMENT, std::string(what) + " must be a JSON object");
  return std::move(v.as_object());
}

template <typename T>
ar_status create(const ar_host_services* services, const char* config, size_t config_len,
                 const char* session, size_t session_len, ar_sandbox** out,
                 ar_result* result) noexcept {
  return guarded(result, [&]() -> ar_status {
    if (!out) throw Error(AR_ERR_INVALID_ARGUMENT, "create: no output pointer");
    *out = nullptr;
    CreateArgs args;
    args.host = Host(services);
    args.config = parse_object(config, config_len, "sandbox config");
    if (session && session_len > 0) args.session = std::string(session, session_len);
    std::unique_ptr<T> sb = T::create(args);
    if (!sb) throw Error(AR_ERR_INTERNAL, "create returned no sandbox");
    sb->set_host(args.host);
    Result r = Result::ok(sb->info());
    ar_status st = fill(r, result);
    Sandbox* base = sb.release();
    *out = reinterpret_cast<ar_sandbox*>(base);
    return st;
  });
}

inline ar_status release(ar_sandbox* sandbox, ar_result* result) noexcept {
  std::unique_ptr<Sandbox> sb(reinterpret_cast<Sandbox*>(sandbox));
  if (!sb) return error_to(result, AR_ERR_INVALID_ARGUMENT, "release: no sandbox");
  ar_status st = guarded(result, [&]() { return fill(sb->release(), result); });
  try {
    sb.reset();
  } catch (...) {
    // A destructor that throws must not cross the boundary.
  }
  return st;
}

template <Result (Sandbox::*Op)(Call&)>
ar_status op(ar_sandbox* sandbox, const ar_call* call, ar_result* result) noexcept {
  return guarded(result, [&]() -> ar_status {
    auto* sb = reinterpret_cast<Sandbox*>(sandbox);
    if (!sb || !call) throw Error(AR_ERR_INVALID_ARGUMENT, "no sandbox or call");
    Call c(sb->host(), call, parse_object(call->request_json, call->request_len, "request"));
    return fill((sb->*Op)(c), result);
  });
}

// A plugin-level function of class T (static Result T::probe(PluginCall&), and likewise
// list_sessions and destroy_session), wrapped for the C ABI.
template <Result (*Fn)(PluginCall&)>
ar_status plugin_fn(const ar_host_services* services, const char* config, size_t config_len,
                    const ar_call* call, ar_result* result) noexcept {
  return guarded(result, [&]() -> ar_status {
    if (!call) throw Error(AR_ERR_INVALID_ARGUMENT, "no call");
    Host host(services);
    PluginCall c(host, call, parse_object(call->request_json, call->request_len, "request"),
                 parse_object(config, config_len, "sandbox config"));
    return fill(Fn(c), result);
  });
}

template <typename T>
concept HasProbe = requires(PluginCall& c) {
  { T::probe(c) } -> std::same_as<Result>;
};
template <typename T>
concept HasListSessions = requires(PluginCall& c) {
  { T::list_sessions(c) } -> std::same_as<Result>;
};
template <typename T>
concept HasDestroySession = requires(PluginCall& c) {
  { T::destroy_session(c) } -> std::same_as<Result>;
};

// The descriptor of plugin class T: every operation slot points at T's override (or the base
// class's `unsupported`); the ABI 1.1 plugin-level slots are set when T declares them.
template <typename T>
constexpr ar_plugin_descriptor make_descriptor(const char* name, const char* sandbox_type,
                                               const char* version, uint64_t capabilities,
                                               const char* config_schema) {
  ar_plugin_descriptor d{};
  d.struct_size = sizeof(ar_plugin_descriptor);
  d.abi_major = AR_ABI_VERSION_MAJOR;
  d.abi_minor = AR_ABI_VERSION_MINOR;
  d.name = name;
  d.sandbox_type = sandbox_type;
  d.plugin_version = version;
  d.sdk_version = AR_SDK_VERSION;
  d.capabilities = capabilities;
  d.config_schema = config_schema;
  d.create = &create<T>;
  d.release = &release;
  d.free_result = &free_result;
#define AR_SDK_OPERATION_SLOT_(slot, name_, tool, capability) d.slot = &op<&Sandbox::slot>;
  AR_OPERATIONS(AR_SDK_OPERATION_SLOT_)
#undef AR_SDK_OPERATION_SLOT_
  if constexpr (HasProbe<T>) d.probe = &plugin_fn<&T::probe>;
  if constexpr (HasListSessions<T>) d.list_sessions = &plugin_fn<&T::list_sessions>;
  if constexpr (HasDestroySession<T>) d.destroy_session = &plugin_fn<&T::destroy_session>;
  return d;
}

}  // namespace detail
}  // namespace v1
}  // namespace agent_runner::sdk

// Exports a plugin class as the plugin's one entry symbol. Optional static members of Class,
// each `static agent_runner::sdk::Result F(agent_runner::sdk::PluginCall&)`, fill the ABI 1.1
// slots: probe, list_sessions, destroy_session.
#define AGENT_RUNNER_PLUGIN(Class, Name, SandboxType, Version, Capabilities, ConfigSchema)  \
  extern "C" AR_PLUGIN_EXPORT const ar_plugin_descriptor* agent_runner_plugin_entry(void) { \
    static const ar_plugin_descriptor descriptor =                                          \
        ::agent_runner::sdk::detail::make_descriptor<Class>(Name, SandboxType, Version,     \
                                                            (Capabilities), ConfigSchema);  \
    return &descriptor;                                                                     \
  }

#endif  // AGENT_RUNNER_PLUGIN_HPP
