// A small HTTP client over libcurl for one Daytona sandbox: keep-alive handles, a connect and a
// total timeout on every request, retries with backoff for requests that are safe to repeat, TLS
// verification always on, and the API key kept out of every message it produces.
#pragma once

#include <agent_runner/plugin.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::daytona {

struct HttpSettings {
  std::string api_key;                 // sent as "Authorization: Bearer <key>"; never printed
  std::optional<std::string> ca_file;  // extra CA bundle (system CAs stay trusted)
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};  // default total time of one attempt
  int max_attempts = 5;                               // first try + retries
  std::chrono::milliseconds retry_budget{60'000};     // total time spent sleeping between tries
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_max{8'000};
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::string content_type;  // empty: no body
  std::vector<std::string> headers;
  // Repeating it cannot change the outcome (GET, DELETE, PUT, or a POST known to be harmless).
  bool idempotent = false;
  std::optional<std::chrono::milliseconds> timeout;  // overrides request_timeout
  size_t max_response_bytes = 64 * 1024 * 1024;
  std::function<bool()> cancelled;  // aborts the transfer when it turns true
};

// A request that is only used to describe an exchange in messages.
inline HttpRequest request_for(std::string method, std::string url) {
  HttpRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  return r;
}

struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names; last value wins
  std::string header(std::string_view name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

class HttpClient {
 public:
  using Logger = std::function<void(ar_log_level, const std::string&)>;
  HttpClient(HttpSettings settings, Logger logger);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Performs the request, retrying what is safe to retry. Returns every HTTP answer that is not
  // retried (the caller maps statuses); throws sdk::Error for transport failures after the retry
  // budget (unavailable / timeout / cancelled) and for oversized responses (too_large).
  HttpResponse perform(const HttpRequest& req);

  // Removes the API key (and its bearer form) from any text.
  std::string redact(std::string_view text) const;
  const HttpSettings& settings() const { return settings_; }

 private:
  struct Handle;
  std::unique_ptr<Handle> acquire();
  void give_back(std::unique_ptr<Handle> h);
  // One attempt. Returns the curl code; fills resp.
  int attempt(Handle& h, const HttpRequest& req, HttpResponse& resp, std::string& error_text);

  HttpSettings settings_;
  Logger log_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<Handle>> pool_;  // idle keep-alive handles
};

// "GET /api/sandbox/abc" style description of a request for messages: scheme, host and any
// userinfo removed, query kept (it never carries the key).
std::string describe(const HttpRequest& req);

// Percent-encodes a query value or path segment.
std::string url_encode(std::string_view s);

// Seconds to wait from a Retry-After value (delta-seconds or an HTTP date); nullopt if unusable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

}  // namespace agent_runner::daytona
