// The test Daytona server (fake_daytona.py) as a child process on 127.0.0.1, its admin endpoints,
// and the built daytona.so loaded through the host's real PluginRegistry.
#pragma once

#include "plugin_loader.hpp"
#include "sandbox.hpp"

#include <boost/json.hpp>

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

namespace dt_test {

inline constexpr const char* kKey = "dtn_TEST_a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5";

struct HttpReply {
  int status = 0;
  std::string body;
};

// One HTTP/1.1 request with Connection: close over a plain socket (the tests' own client, so no
// test shares libcurl with the code under test).
HttpReply http(int port, const std::string& method, const std::string& path,
               const std::string& body = "");

class FakeDaytona {
 public:
  // tls_cert: a PEM file with certificate and key; the server then speaks HTTPS only.
  explicit FakeDaytona(const std::string& tls_cert = "");
  ~FakeDaytona();
  FakeDaytona(const FakeDaytona&) = delete;
  FakeDaytona& operator=(const FakeDaytona&) = delete;

  int port() const { return port_; }
  std::string api_url() const {
    return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_) +
           "/api";
  }

  void reset();
  void configure(const boost::json::object& cfg);
  // Appends fault rules: {"method","path" (regex),"times","action","status","retry_after","delay"}.
  void faults(const boost::json::array& rules);
  boost::json::object state();
  boost::json::array sandboxes();
  // Every request the server answered (or dropped): {method, path, status, host, auth}.
  boost::json::array requests();
  size_t count_requests(const std::string& method, const std::string& path_regex);
  void set_state(const std::string& id, const std::string& st);
  // Sets the sandbox's lastActivityAt `ago_s` seconds in the past.
  void set_activity(const std::string& id, double ago_s);

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  bool tls_ = false;
  int admin_port_ = 0;
};

// The daytona plugin as the host loads it.
std::shared_ptr<agent_runner::LoadedPlugin> daytona_plugin();
std::shared_ptr<agent_runner::LoadedPlugin> filesystem_plugin();  // null if not built

// A config for the fake server with quick timeouts; `extra` overrides.
boost::json::object config(const FakeDaytona& srv, const boost::json::object& extra = {});

// Sandbox::create or a test failure.
std::unique_ptr<agent_runner::Sandbox> open(const boost::json::object& cfg,
                                            const std::optional<std::string>& session = {});

}  // namespace dt_test
