// SPDX-License-Identifier: Apache-2.0
// A small HTTP client over libcurl for one Daytona sandbox: keep-alive handles, a connect and a
// total timeout on every request, retries with backoff for requests that are safe to repeat, TLS
// verification always on, the API key sent only to trusted hosts and kept out of every message.
#pragma once

#include <agent_runner/plugin.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::daytona {

struct HttpSettings {
  std::string api_key;                 // sent as "Authorization: Bearer <key>"; never printed
  std::optional<std::string> ca_file;  // extra CA bundle (system CAs stay trusted)
  // Hosts the key may be sent to: the API's host (and its subdomains) plus these names; an entry
  // "*.example.com" trusts every subdomain of example.com.
  std::string api_host;
  std::vector<std::string> trusted_hosts;
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds request_timeout{60'000};  // default total time of one attempt
  int max_attempts = 5;                               // first try + retries
  std::chrono::milliseconds retry_budget{60'000};     // total time spent sleeping between tries
  std::chrono::milliseconds backoff_base{250};
  std::chrono::milliseconds backoff_max{8'000};
};

// One part of a multipart/form-data body (built with libcurl's curl_mime). `data` is not copied
// until the request is sent: it must outlive the call.
struct MimePart {
  std::string name;
  std::string_view data;
  std::optional<std::string> filename;  // set: a file part (application/octet-stream)
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string body;
  std::string content_type;    // empty: no body
  std::vector<MimePart> mime;  // non-empty: a multipart/form-data body instead of `body`
  std::vector<std::string> headers;
  // Repeating it cannot change the outcome (GET, DELETE, PUT, or a POST made safe to repeat by
  // its content). A request that is not idempotent always goes out on a fresh connection, so that
  // libcurl never re-sends it by itself when a reused keep-alive connection turns out dead, and it
  // is never retried once it may have reached the server.
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
  // budget (unavailable / timeout / cancelled), for oversized responses (too_large) and for a URL
  // whose host may not receive the key (invalid_config, nothing sent).
  HttpResponse perform(const HttpRequest& req);

  // Whether `url` may receive the API key: http(s), and its host is the API's host, a subdomain
  // of it or listed in trusted_hosts. Warns (once per host) when the URL is plain http:// to a
  // host that is not this machine. Throws sdk::Error(invalid_config) naming `what` otherwise.
  void check_url(const std::string& url, std::string_view what);

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
  std::mutex checked_mutex_;
  std::set<std::string> checked_;  // scheme://host already checked (and warned about)
};

// "GET /api/sandbox/abc" style description of a request for messages: scheme, host and any
// userinfo removed, query kept (it never carries the key).
std::string describe(const HttpRequest& req);

// Percent-encodes a query value or path segment.
std::string url_encode(std::string_view s);

// The lower-case host name of an http(s) URL without port, brackets or userinfo ("" if none).
std::string url_host(std::string_view url);

// True for "localhost" (and its subdomains), 127.0.0.0/8 and ::1: traffic that stays on this
// machine, where plain HTTP exposes nothing.
bool is_loopback_host(std::string_view host);

// Whether `host` matches the API's host (itself or a subdomain) or an entry of `trusted`
// ("name" exactly, "*.name" any subdomain of name).
bool host_trusted(std::string_view host, std::string_view api_host,
                  const std::vector<std::string>& trusted);

// Seconds to wait from a Retry-After value (delta-seconds or an HTTP date); nullopt if unusable.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

}  // namespace agent_runner::daytona
