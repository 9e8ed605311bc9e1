// SPDX-License-Identifier: Apache-2.0
#include "http.hpp"

#include <curl/curl.h>

#include <arpa/inet.h>
#include <algorithm>
#include <cctype>
#include <ctime>
#include <mutex>

#include <random>
#include <thread>

namespace agent_runner::daytona {
namespace {

using sdk::Error;
using namespace std::chrono;

void global_init() {
  static std::once_flag once;
  // Never cleaned up: the plugin may be unloaded while another libcurl user lives in the process.
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

struct TransferState {
  HttpResponse* resp;
  size_t max_bytes;
  bool too_large = false;
  const std::function<bool()>* cancelled;
  bool was_cancelled = false;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const size_t len = size * n;
  if (st->resp->body.size() + len > st->max_bytes) {
    st->too_large = true;
    return 0;  // aborts with CURLE_WRITE_ERROR
  }
  st->resp->body.append(data, len);
  return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* st = static_cast<TransferState*>(user);
  const size_t len = size * n;
  std::string_view line(data, len);
  if (line.starts_with("HTTP/")) {
    st->resp->headers.clear();  // a new response (after 100-continue)
    return len;
  }
  auto colon = line.find(':');
  if (colon != std::string_view::npos)
    st->resp->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<TransferState*>(user);
  if (st->cancelled && *st->cancelled && (*st->cancelled)()) {
    st->was_cancelled = true;
    return 1;
  }
  return 0;
}

// Failures where the request never reached the server: repeating is always safe.
bool nothing_sent(CURLcode c) {
  return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST ||
         c == CURLE_COULDNT_RESOLVE_PROXY;
}

bool transport_retryable(CURLcode c) {
  switch (c) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool status_retryable(long s) {
  return s == 500 || s == 502 || s == 503 || s == 504;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Handle {
  CURL* curl = nullptr;
  Handle() : curl(curl_easy_init()) {
    if (!curl) throw Error(AR_ERR_INTERNAL, "libcurl could not create a handle");
  }
  ~Handle() {
    if (curl) curl_easy_cleanup(curl);
  }
};

HttpClient::HttpClient(HttpSettings settings, Logger logger)
    : settings_(std::move(settings)), log_(std::move(logger)) {
  global_init();
}

HttpClient::~HttpClient() = default;

std::unique_ptr<HttpClient::Handle> HttpClient::acquire() {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      auto h = std::move(pool_.back());
      pool_.pop_back();
      return h;
    }
  }
  return std::make_unique<Handle>();
}

void HttpClient::give_back(std::unique_ptr<Handle> h) {
  std::lock_guard lock(pool_mutex_);
  // A few idle connections are plenty: operations on one sandbox rarely overlap.
  if (pool_.size() < 4) pool_.push_back(std::move(h));
}

std::string HttpClient::redact(std::string_view text) const {
  std::string out(text);
  const std::string& key = settings_.api_key;
  if (key.empty()) return out;
  for (size_t pos = out.find(key); pos != std::string::npos; pos = out.find(key, pos))
    out.replace(pos, key.size(), "***"), pos += 3;
  return out;
}

int HttpClient::attempt(Handle& h, const HttpRequest& req, HttpResponse& resp,
                        std::string& error_text) {
  CURL* c = h.curl;
  // reset keeps the connection cache, so the next request reuses the open connection.
  curl_easy_reset(c);
  resp = HttpResponse{};
  TransferState st{&resp, req.max_response_bytes, false, &req.cancelled, false};
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* hdrs = nullptr;
  // perform() checked the host: the key goes only where check_url allows it.
  const std::string auth = "Authorization: Bearer " + settings_.api_key;
  hdrs = curl_slist_append(hdrs, auth.c_str());
  hdrs = curl_slist_append(hdrs, "X-Daytona-Source: agent-runner");
  // A real SDK version >= 0.167.0: session output comes back demultiplexed (reference 4.4.1).
  hdrs = curl_slist_append(hdrs, "X-Daytona-SDK-Version: 0.190.0");
  hdrs = curl_slist_append(hdrs, "Accept: application/json, */*");
  hdrs = curl_slist_append(hdrs, "Expect:");
  std::string ctype;
  if (!req.content_type.empty()) {
    ctype = "Content-Type: " + req.content_type;
    hdrs = curl_slist_append(hdrs, ctype.c_str());
  }
  for (const auto& extra : req.headers) hdrs = curl_slist_append(hdrs, extra.c_str());

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // never carry the bearer to another host
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if (settings_.ca_file) {
    curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca_file->c_str());
    // CAINFO replaces the default bundle; keep the system's CA directory so ca_file adds a CA.
    const curl_version_info_data* vi = curl_version_info(CURLVERSION_NOW);
    curl_easy_setopt(c, CURLOPT_CAPATH, vi && vi->capath ? vi->capath : "/etc/ssl/certs");
  }
  curl_easy_setopt(c, CURLOPT_USERAGENT, "agent-runner-daytona/0.1.0");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings_.connect_timeout.count()));
  const auto total = req.timeout.value_or(settings_.request_timeout);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &st);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (req.cancelled) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &st);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  // libcurl re-sends a request by itself when a reused connection turns out closed; for a request
  // that must not run twice, a fresh connection leaves nothing to re-send.
  curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, req.idempotent ? 0L : 1L);
  curl_mime* mime = nullptr;
  if (!req.mime.empty()) {
    mime = curl_mime_init(c);
    for (const auto& p : req.mime) {
      curl_mimepart* part = curl_mime_addpart(mime);
      curl_mime_name(part, p.name.c_str());
      curl_mime_data(part, p.data.data(), p.data.size());
      if (p.filename) {
        curl_mime_filename(part, p.filename->c_str());
        curl_mime_type(part, "application/octet-stream");
      }
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
    if (req.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "POST" || !req.body.empty() || !req.content_type.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    if (req.method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hdrs);
  curl_mime_free(mime);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (rc != CURLE_OK) {
    if (st.too_large)
      throw Error(AR_ERR_TOO_LARGE, describe(req) + ": response larger than " +
                                        std::to_string(req.max_response_bytes) + " bytes");
    if (st.was_cancelled) throw Error(AR_ERR_CANCELLED, describe(req) + ": cancelled");
    error_text = redact(errbuf[0] ? errbuf : curl_easy_strerror(rc));
  }
  return static_cast<int>(rc);
}

HttpResponse HttpClient::perform(const HttpRequest& req) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  check_url(req.url, describe(req));
  auto handle = acquire();
  milliseconds slept{0};
  HttpResponse resp;
  std::string what = describe(req);
  for (int n = 1;; ++n) {
    std::string error_text;
    const auto t0 = steady_clock::now();
    // An exception (too large, cancelled) leaves the connection mid-response: the handle is
    // dropped with it, never reused.
    const auto rc = static_cast<CURLcode>(attempt(*handle, req, resp, error_text));
    const auto ms = duration_cast<milliseconds>(steady_clock::now() - t0).count();

    bool retry = false;
    std::optional<milliseconds> server_wait;
    std::string reason;
    if (rc != CURLE_OK) {
      log_(AR_LOG_DEBUG, what + ": " + error_text + " after " + std::to_string(ms) + " ms");
      // Once a request may have reached the server, only an idempotent one is sent again.
      retry = transport_retryable(rc) && (req.idempotent || nothing_sent(rc));
      reason = error_text;
      if (!retry || n >= settings_.max_attempts) {
        const std::string tries = n > 1 ? " (after " + std::to_string(n) + " attempts)" : "";
        if (rc == CURLE_OPERATION_TIMEDOUT)
          throw Error(AR_ERR_TIMEOUT,
                      what + ": no complete answer within " +
                          std::to_string(req.timeout.value_or(settings_.request_timeout).count()) +
                          " ms" + tries + ": " + error_text);
        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
          throw Error(AR_ERR_UNAVAILABLE,
                      what + ": TLS verification failed: " + error_text +
                          " (set the sandbox config's ca_file to trust a private CA)");
        throw Error(AR_ERR_UNAVAILABLE, what + ": " + error_text + tries);
      }
    } else {
      log_(AR_LOG_DEBUG,
           what + " -> " + std::to_string(resp.status) + " in " + std::to_string(ms) + " ms");
      if (resp.status == 429) {
        // Throttled before any processing: safe to repeat whatever the method.
        retry = true;
      } else if (status_retryable(resp.status) && req.idempotent) {
        retry = true;
      }
      if (retry) {
        std::string ra = resp.header("retry-after");
        if (ra.empty())
          for (const auto& [k, v] : resp.headers)
            if (k.starts_with("retry-after-")) ra = v;  // Nest throttler: Retry-After-<name>
        if (!ra.empty()) server_wait = parse_retry_after(ra);
        reason = "HTTP " + std::to_string(resp.status);
      }
      if (!retry || n >= settings_.max_attempts) {
        give_back(std::move(handle));
        return resp;
      }
    }
    // Exponential backoff with jitter; the server's Retry-After wins when it says more.
    const auto cap =
        std::min(settings_.backoff_max, settings_.backoff_base * (1 << std::min(n - 1, 16)));
    std::uniform_int_distribution<long> jitter(cap.count() / 2, std::max<long>(cap.count(), 1));
    milliseconds wait{jitter(rng)};
    if (server_wait) wait = std::max(wait, *server_wait);
    if (slept + wait > settings_.retry_budget) {
      log_(AR_LOG_WARN, what + ": " + reason + "; retry budget of " +
                            std::to_string(settings_.retry_budget.count()) +
                            " ms spent, giving up");
      if (rc != CURLE_OK)
        throw Error(AR_ERR_UNAVAILABLE, what + ": " + error_text + " (retry budget spent after " +
                                            std::to_string(n) + " attempts)");
      give_back(std::move(handle));
      return resp;
    }
    log_(AR_LOG_INFO, what + ": " + reason + ", retrying in " + std::to_string(wait.count()) +
                          " ms (attempt " + std::to_string(n + 1) + " of " +
                          std::to_string(settings_.max_attempts) + ")");
    // Sleep in slices so a cancelled call does not wait out the backoff.
    const auto until = steady_clock::now() + wait;
    while (steady_clock::now() < until) {
      if (req.cancelled && req.cancelled()) throw Error(AR_ERR_CANCELLED, what + ": cancelled");
      std::this_thread::sleep_for(
          std::min<steady_clock::duration>(milliseconds(50), until - steady_clock::now()));
    }
    slept += wait;
  }
}

void HttpClient::check_url(const std::string& url, std::string_view what) {
  const std::string scheme = lower(std::string_view(url).substr(0, url.find("://")));
  const std::string host = url_host(url);
  const std::string key = scheme + "://" + host;
  {
    std::lock_guard lock(checked_mutex_);
    if (checked_.count(key)) return;
  }
  if ((scheme != "https" && scheme != "http") || host.empty())
    throw Error(AR_ERR_INVALID_CONFIG,
                std::string(what) + ": '" + redact(url) + "' is not an http(s) URL with a host");
  if (!host_trusted(host, settings_.api_host, settings_.trusted_hosts))
    throw Error(AR_ERR_INVALID_CONFIG,
                std::string(what) + ": host '" + host + "' is not the API's host ('" +
                    settings_.api_host +
                    "'), so the Daytona API key is not sent there; if that host is yours, add it "
                    "to sandbox.trusted_hosts");
  if (scheme == "http" && !is_loopback_host(host)) {
    // Once per process and host: every sandbox of a long-running server would repeat it.
    static std::mutex warned_mutex;
    static std::set<std::string> warned;
    std::lock_guard lock(warned_mutex);
    if (warned.insert(host).second)
      log_(AR_LOG_WARN, "the Daytona API key goes to " + host +
                            " over plain http:// (readable on the network); use https://");
  }
  std::lock_guard lock(checked_mutex_);
  checked_.insert(key);
}

std::string url_host(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return "";
  url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  if (url.starts_with("[")) {
    auto close = url.find(']');
    return close == std::string_view::npos ? "" : lower(url.substr(1, close - 1));
  }
  std::string host = lower(url.substr(0, url.find(':')));
  while (!host.empty() && host.back() == '.') host.pop_back();  // "example.com." is example.com
  return host;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host.ends_with(".localhost") || host == "::1") return true;
  in_addr a4{};
  if (::inet_pton(AF_INET, std::string(host).c_str(), &a4) == 1)
    return (ntohl(a4.s_addr) >> 24) == 127;
  return false;
}

bool host_trusted(std::string_view host, std::string_view api_host,
                  const std::vector<std::string>& trusted) {
  auto subdomain_of = [&](std::string_view base) {
    return !base.empty() && host.size() > base.size() && host.ends_with(base) &&
           host[host.size() - base.size() - 1] == '.';
  };
  if (host.empty()) return false;
  if (host == api_host) return true;
  // A name below the API's host belongs to its owner; an IP address has no such names.
  in_addr a4{};
  in6_addr a6{};
  const std::string api(api_host);
  const bool api_is_ip =
      ::inet_pton(AF_INET, api.c_str(), &a4) == 1 || ::inet_pton(AF_INET6, api.c_str(), &a6) == 1;
  if (!api_is_ip && subdomain_of(api_host)) return true;
  for (const auto& t : trusted) {
    const std::string name = lower(t);
    if (name.starts_with("*.") ? subdomain_of(std::string_view(name).substr(2)) : host == name)
      return true;
  }
  return false;
}

std::string describe(const HttpRequest& req) {
  std::string_view u = req.url;
  auto scheme = u.find("://");
  if (scheme != std::string_view::npos) {
    u.remove_prefix(scheme + 3);
    auto slash = u.find('/');
    u = slash == std::string_view::npos ? std::string_view("/") : u.substr(slash);
  }
  return req.method + " " + std::string(u);
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  // A wait longer than any retry budget; what the server says beyond it changes nothing.
  constexpr time_t kLongest = 999'999;  // seconds
  std::string v = trim(value);
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (v.size() > 6) return std::chrono::seconds(kLongest);
    return std::chrono::seconds(std::stol(v));
  }
  // HTTP-date, e.g. "Wed, 21 Oct 2015 07:28:00 GMT". curl_getdate reads a year of up to ten
  // digits: a date that far ahead is no reason to overflow a count of milliseconds.
  const time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  const time_t now = std::time(nullptr);
  return std::chrono::seconds(when <= now ? 0 : std::min<time_t>(when - now, kLongest));
}

}  // namespace agent_runner::daytona
