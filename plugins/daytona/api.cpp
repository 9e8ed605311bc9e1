#include "api.hpp"

#include <agent_runner/plugin.hpp>

#include <thread>

namespace agent_runner::daytona {

using sdk::Error;
namespace json = boost::json;

std::string str_member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

int64_t int_member(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end()) return 0;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64() && it->value().as_uint64() <= INT64_MAX)
    return static_cast<int64_t>(it->value().as_uint64());
  if (it->value().is_double()) {
    const double d = it->value().as_double();
    if (d >= -9.2e18 && d <= 9.2e18) return static_cast<int64_t>(d);
  }
  return 0;
}

std::string sandbox_state(const json::object& sb) {
  return str_member(sb, "state");
}

std::string sandbox_id(const json::object& sb) {
  return str_member(sb, "id");
}

std::string sandbox_label(const json::object& sb, std::string_view key) {
  auto lit = sb.find("labels");
  return lit != sb.end() && lit->value().is_object() ? str_member(lit->value().as_object(), key)
                                                     : "";
}

DaytonaApi::DaytonaApi(std::string api_url, HttpSettings settings, HttpClient::Logger logger)
    : api_url_(std::move(api_url)),
      http_(std::make_unique<HttpClient>(std::move(settings), std::move(logger))) {}

HttpResponse DaytonaApi::call(HttpRequest req) {
  return http_->perform(req);
}

std::string DaytonaApi::server_message(const HttpResponse& resp) const {
  if (resp.body.empty()) return "";
  boost::system::error_code ec;
  auto v = json::parse(resp.body, ec);
  std::string msg;
  if (!ec && v.is_object()) {
    const auto& o = v.as_object();
    if (auto it = o.find("message"); it != o.end()) {
      if (it->value().is_string())
        msg = std::string(it->value().as_string());
      else
        msg = json::serialize(it->value());
    } else if (auto e = o.find("error"); e != o.end() && e->value().is_string()) {
      msg = std::string(e->value().as_string());
    }
    if (auto e = o.find("errors"); msg.empty() && e != o.end()) msg = json::serialize(e->value());
  }
  if (msg.empty()) msg = resp.body.substr(0, 300);
  return http_->redact(sdk::utf8_sanitize(msg));
}

void DaytonaApi::fail(const HttpRequest& req, const HttpResponse& resp,
                      std::string_view context) const {
  const std::string what = (context.empty() ? "" : std::string(context) + ": ") + describe(req) +
                           " -> HTTP " + std::to_string(resp.status);
  const std::string msg = server_message(resp);
  const std::string detail = msg.empty() ? "" : ": " + msg;
  switch (resp.status) {
    case 401:
      throw Error(AR_ERR_UNAUTHORIZED,
                  what + detail + " (the Daytona API key was rejected; check DAYTONA_API_KEY)");
    case 403:
      throw Error(AR_ERR_UNAUTHORIZED,
                  what + detail + " (the Daytona API key lacks access to this resource)");
    case 404:
      throw Error(AR_ERR_NOT_FOUND, what + detail);
    case 408:
      throw Error(AR_ERR_TIMEOUT, what + detail);
    case 409:
      throw Error(AR_ERR_CONFLICT, what + detail);
    case 400:
    case 422:
      throw Error(AR_ERR_INVALID_ARGUMENT, what + detail);
    case 413:
      throw Error(AR_ERR_TOO_LARGE, what + detail);
    case 429:
      throw Error(AR_ERR_UNAVAILABLE,
                  what + detail + " (rate limited; the retry budget is spent, try again later)");
    default:
      if (resp.status >= 500)
        throw Error(AR_ERR_UNAVAILABLE, what + detail + " (Daytona server error)");
      throw Error(AR_ERR_INTERNAL, what + detail + " (unexpected status)");
  }
}

json::value DaytonaApi::parse_json(const HttpRequest& req, const HttpResponse& resp) const {
  boost::system::error_code ec;
  auto v = json::parse(resp.body, ec);
  if (ec)
    throw Error(AR_ERR_UNAVAILABLE, describe(req) + " -> HTTP " + std::to_string(resp.status) +
                                        ": the answer is not JSON (" + ec.message() + ")");
  return v;
}

std::optional<json::object> DaytonaApi::get_sandbox(const std::string& id_or_name) {
  HttpRequest req;
  req.url = api_url_ + "/sandbox/" + url_encode(id_or_name);
  req.idempotent = true;
  HttpResponse resp = call(req);
  if (resp.status == 404) return std::nullopt;
  if (!resp.ok()) fail(req, resp);
  auto v = parse_json(req, resp);
  if (!v.is_object())
    throw Error(AR_ERR_UNAVAILABLE, describe(req) + ": expected a Sandbox object");
  return std::move(v.as_object());
}

std::vector<json::object> DaytonaApi::list_sandboxes(
    const std::map<std::string, std::string>& labels) {
  json::object lab;
  for (const auto& [k, v] : labels) lab[k] = v;
  const std::string filter = url_encode(json::serialize(lab));
  std::vector<json::object> out;
  std::string cursor;
  for (int page = 0; page < 1000; ++page) {
    HttpRequest req;
    req.url = api_url_ + "/sandbox?labels=" + filter + "&limit=100";
    if (!cursor.empty()) req.url += "&cursor=" + url_encode(cursor);
    req.idempotent = true;
    HttpResponse resp = call(req);
    if (!resp.ok()) fail(req, resp, "listing sandboxes by label");
    auto v = parse_json(req, resp);
    const json::array* items = nullptr;
    cursor.clear();
    if (v.is_array()) {
      items = &v.as_array();  // servers before v0.180.0: a bare array, no pages
    } else if (v.is_object()) {
      const auto& o = v.as_object();
      if (auto it = o.find("items"); it != o.end() && it->value().is_array())
        items = &it->value().as_array();
      if (auto it = o.find("nextCursor"); it != o.end() && it->value().is_string())
        cursor = std::string(it->value().as_string());
    }
    if (!items)
      throw Error(AR_ERR_UNAVAILABLE,
                  describe(req) + ": expected {items, nextCursor} or an array of sandboxes");
    for (const auto& it : *items) {
      if (!it.is_object()) continue;
      // Filter again: an old server may ignore the labels parameter.
      const auto& sb = it.as_object();
      bool match = true;
      auto lit = sb.find("labels");
      for (const auto& [k, val] : labels) {
        if (lit == sb.end() || !lit->value().is_object()) {
          match = false;
          break;
        }
        auto f = lit->value().as_object().find(k);
        if (f == lit->value().as_object().end() || !f->value().is_string() ||
            f->value().as_string() != val)
          match = false;
      }
      if (match) out.push_back(sb);
    }
    if (cursor.empty() || v.is_array()) break;
  }
  return out;
}

json::object DaytonaApi::create_sandbox(const json::object& body) {
  HttpRequest req;
  req.method = "POST";
  req.url = api_url_ + "/sandbox";
  req.body = json::serialize(body);
  req.content_type = "application/json";
  // Not idempotent: a repeated create could make a second sandbox. Only failures where nothing
  // reached the server, and 429, are retried.
  req.idempotent = false;
  HttpResponse resp = call(req);
  if (!resp.ok()) fail(req, resp, "creating a sandbox");
  auto v = parse_json(req, resp);
  if (!v.is_object() || sandbox_id(v.as_object()).empty())
    throw Error(AR_ERR_UNAVAILABLE, describe(req) + ": the answer carries no sandbox id");
  return std::move(v.as_object());
}

json::object DaytonaApi::start_sandbox(const std::string& id) {
  HttpRequest req;
  req.method = "POST";
  req.url = api_url_ + "/sandbox/" + url_encode(id) + "/start";
  req.content_type = "application/json";
  req.idempotent = true;  // starting a started sandbox is a no-op
  HttpResponse resp = call(req);
  if (!resp.ok()) fail(req, resp, "starting sandbox " + id);
  auto v = parse_json(req, resp);
  return v.is_object() ? std::move(v.as_object()) : json::object{};
}

DaytonaApi::Deleted DaytonaApi::delete_sandbox(const std::string& id, int attempts) {
  std::chrono::milliseconds wait{250};
  for (int n = 1;; ++n) {
    HttpRequest req;
    req.method = "DELETE";
    req.url = api_url_ + "/sandbox/" + url_encode(id);
    req.idempotent = true;
    HttpResponse resp = call(req);
    if (resp.ok() || resp.status == 404) return Deleted::yes;
    // 409: a state change is in progress (e.g. still creating); it may settle shortly.
    if (resp.status != 409) fail(req, resp, "deleting sandbox " + id);
    if (n >= attempts) return Deleted::busy;
    std::this_thread::sleep_for(wait);
    wait *= 2;
  }
}

std::string DaytonaApi::toolbox_base(const json::object& sb) {
  const std::string id = sandbox_id(sb);
  // The URL comes from the server: the key goes there only if its host is trusted.
  auto join = [&](std::string base) {
    while (!base.empty() && base.back() == '/') base.pop_back();
    base += "/" + url_encode(id);
    http_->check_url(base, "the toolbox URL of sandbox " + id);
    return base;
  };
  if (auto it = sb.find("toolboxProxyUrl");
      it != sb.end() && it->value().is_string() && !it->value().as_string().empty())
    return join(std::string(it->value().as_string()));
  {
    HttpRequest req;
    req.url = api_url_ + "/sandbox/" + url_encode(id) + "/toolbox-proxy-url";
    req.idempotent = true;
    HttpResponse resp = call(req);
    if (resp.ok()) {
      auto v = parse_json(req, resp);
      if (v.is_object())
        if (auto u = v.as_object().find("url"); u != v.as_object().end() && u->value().is_string())
          return join(std::string(u->value().as_string()));
    } else if (resp.status != 404) {
      fail(req, resp, "finding the toolbox URL");
    }
  }
  {
    HttpRequest req;
    req.url = api_url_ + "/config";
    req.idempotent = true;
    HttpResponse resp = call(req);
    if (resp.ok()) {
      auto v = parse_json(req, resp);
      if (v.is_object())
        if (auto u = v.as_object().find("proxyToolboxUrl");
            u != v.as_object().end() && u->value().is_string() && !u->value().as_string().empty())
          return join(std::string(u->value().as_string()));
    } else if (resp.status != 404) {
      fail(req, resp, "finding the toolbox URL");
    }
  }
  // Deprecated but still served in v0.190.0: the API proxies the daemon itself.
  return api_url_ + "/toolbox/" + url_encode(id) + "/toolbox";
}

HttpResponse DaytonaApi::toolbox(const std::string& base, const ToolboxCall& c) {
  HttpRequest req;
  req.method = c.method;
  req.url = base + c.path;
  req.body = c.body;
  req.content_type = c.content_type;
  req.mime = c.mime;
  req.idempotent = c.idempotent;
  req.timeout = c.timeout;
  req.max_response_bytes = c.max_response_bytes;
  req.cancelled = c.cancelled;
  req.headers = c.headers;
  return call(req);
}

}  // namespace agent_runner::daytona
