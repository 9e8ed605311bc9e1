// SPDX-License-Identifier: Apache-2.0
// The Daytona plugin's parsing of what a Daytona server (or anything pretending to be one) sends:
// error bodies turned into messages, Retry-After values, paths and timestamps, sandbox objects,
// and the plugin config. The plugin's own sources are compiled into this target.
//
// What is not reachable from here: the toolbox answers (file info, listings, search matches,
// command status) are parsed inline in the functions that make the HTTP calls (files.cpp,
// execute.cpp, lifecycle.cpp); they need to become functions of their own to be fuzzed directly.
#include "api.hpp"
#include "config.hpp"
#include "http.hpp"
#include "paths.hpp"

#include <agent_runner/plugin.hpp>

#include <cstdint>
#include <string_view>

namespace {
namespace json = boost::json;
namespace daytona = agent_runner::daytona;

daytona::DaytonaApi& api() {
  static daytona::DaytonaApi a = [] {
    daytona::HttpSettings settings;
    settings.api_key = "fz-key";  // never sent: nothing here makes a request
    return daytona::DaytonaApi("http://127.0.0.1:9/api", settings,
                               [](ar_log_level, const std::string&) {});
  }();
  return a;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t selector = data[0];
  const uint8_t status_byte = data[1];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  switch (selector % 5) {
    case 0: {  // an error response: its message, and the error it becomes
      daytona::HttpResponse resp;
      resp.status = 300 + status_byte * 2 % 300;
      resp.body = std::string(rest);
      (void)api().server_message(resp);
      try {
        api().fail(daytona::request_for("GET", "http://127.0.0.1:9/api/sandbox/x"), resp);
      } catch (const agent_runner::sdk::Error&) {
      }
      break;
    }
    case 1:  // Retry-After
      (void)daytona::parse_retry_after(rest);
      break;
    case 2: {  // a path the agent gave, resolved against the sandbox's workdir; a timestamp
      try {
        (void)daytona::resolve_path(rest, daytona::parse_sandbox_path("/home/daytona"));
      } catch (const agent_runner::sdk::Error&) {
      }
      (void)daytona::normalize_time(rest);
      break;
    }
    case 3: {  // a sandbox object (or anything) from the control plane
      json::error_code ec;
      auto v = json::parse(rest, ec);
      if (!ec && v.is_object()) {
        (void)daytona::sandbox_state(v.get_object());
        (void)daytona::sandbox_id(v.get_object());
      }
      break;
    }
    case 4: {  // the plugin config
      json::error_code ec;
      auto v = json::parse(rest, ec);
      if (ec || !v.is_object()) break;
      try {
        (void)daytona::parse_config(v.get_object());
      } catch (const agent_runner::sdk::Error&) {
      }
      break;
    }
  }
  return 0;
}
