// The Daytona REST API as this plugin uses it: control plane (sandboxes) and toolbox (the daemon
// inside one sandbox), with Daytona's status codes mapped to the SDK's error codes. Shapes and
// version differences: ../shared/reference/daytona-api.md.
#pragma once

#include "http.hpp"

#include <boost/json.hpp>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace agent_runner::daytona {

class DaytonaApi {
 public:
  DaytonaApi(std::string api_url, HttpSettings settings, HttpClient::Logger logger);

  // --- control plane ({api_url}/sandbox...) ---
  // The sandbox, or nullopt when the server says 404.
  std::optional<boost::json::object> get_sandbox(const std::string& id_or_name);
  // Every sandbox carrying all these labels, over every page; accepts {items,nextCursor} and
  // the bare array of servers before v0.180.0.
  std::vector<boost::json::object> list_sandboxes(const std::map<std::string, std::string>& labels);
  // POST /sandbox, sent once (never repeated by the HTTP layer once it may have reached the
  // server, except after 429). A 409 (name taken) throws sdk::Error(conflict).
  boost::json::object create_sandbox(const boost::json::object& body);
  boost::json::object start_sandbox(const std::string& id);
  enum class Deleted { yes, busy };
  // DELETE /sandbox/{id}. yes: deleted or already gone; busy: Daytona still answered 409 (a state
  // change in progress, e.g. still creating) after `attempts` tries spaced 250 ms, 500 ms, 1 s,
  // 2 s... Other failures throw.
  Deleted delete_sandbox(const std::string& id, int attempts);
  // The attempts of a delete that must not wait long (under 4 s in all).
  static constexpr int kDeleteAttempts = 5;
  // The toolbox base URL of a sandbox: its toolboxProxyUrl, else
  // GET /sandbox/{id}/toolbox-proxy-url, else GET /config proxyToolboxUrl, else the deprecated
  // {api_url}/toolbox/{id}/toolbox route.
  std::string toolbox_base(const boost::json::object& sandbox);

  // --- toolbox ---
  struct ToolboxCall {
    std::string method = "GET";
    std::string path;  // "/files/info?path=..." (appended to the toolbox base)
    std::string body;
    std::string content_type;
    std::vector<MimePart> mime;  // a multipart/form-data body
    bool idempotent = false;
    std::optional<std::chrono::milliseconds> timeout;
    size_t max_response_bytes = 64 * 1024 * 1024;
    std::function<bool()> cancelled;
    std::vector<std::string> headers;  // "Name: value"
  };
  // Performs a toolbox call and returns the response whatever its status (the caller maps
  // file-level statuses itself); transport failures throw.
  HttpResponse toolbox(const std::string& base, const ToolboxCall& call);

  // Throws the sdk::Error a non-2xx response means: 401/403 unauthorized, 404 not_found,
  // 409 conflict, 400/422 invalid_argument, 408 timeout, 429 and 5xx unavailable. The message
  // names method, path and status and never the API key.
  [[noreturn]] void fail(const HttpRequest& req, const HttpResponse& resp,
                         std::string_view context = {}) const;
  // The server's own message of an error response ("" when the body has none).
  std::string server_message(const HttpResponse& resp) const;

  HttpClient& http() { return *http_; }
  const std::string& api_url() const { return api_url_; }

 private:
  HttpResponse call(HttpRequest req);
  boost::json::value parse_json(const HttpRequest& req, const HttpResponse& resp) const;

  std::string api_url_;
  std::unique_ptr<HttpClient> http_;
};

// JSON member accessors for Daytona's DTOs: "" / 0 when absent or of another type.
std::string str_member(const boost::json::object& o, std::string_view key);
int64_t int_member(const boost::json::object& o, std::string_view key);
// Sandbox DTO accessors.
std::string sandbox_state(const boost::json::object& sb);
std::string sandbox_id(const boost::json::object& sb);
// The value of label `key` ("" when absent).
std::string sandbox_label(const boost::json::object& sb, std::string_view key);

}  // namespace agent_runner::daytona
