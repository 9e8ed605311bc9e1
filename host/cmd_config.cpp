// `agent-runner config`: the effective configuration (secrets as "***").
#include "app.hpp"

#include <iostream>

namespace agent_runner {
namespace {
boost::json::value opt(const std::optional<std::string>& s) {
  if (s) return boost::json::value(*s);
  return nullptr;
}
boost::json::value secret(const std::optional<std::string>& s) {
  if (s) return "***";
  return nullptr;
}
}  // namespace

int cmd_config(App& app, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "-h" || a == "--help") {
      std::cout << "Usage: agent-runner config [--json]\n";
      return kExitOk;
    }
  }
  const Config* c = app.config();
  if (!c) return kExitUsage;
  boost::json::object o;
  o["mode"] = mode_name(c->mode);
  o["env"] = opt(c->env);
  o["temporal_namespace"] = c->temporal_namespace;
  o["temporal_service_address"] = c->temporal_service_address;
  o["task_queue"] = c->task_queue;
  o["max_concurrency"] = c->max_concurrency;
  o["stigmer_backend_endpoint"] = c->stigmer_backend_endpoint;
  o["stigmer_api_key"] = secret(c->stigmer_api_key);
  o["sandbox_type"] = c->sandbox_type;
  o["sandbox_root_dir"] = opt(c->sandbox_root_dir);
  o["redis_host"] = opt(c->redis_host);
  o["redis_port"] =
      c->redis_port ? boost::json::value(*c->redis_port) : boost::json::value(nullptr);
  o["redis_password"] = secret(c->redis_password);
  auto sc = c->sandbox_config();
  if (sc.contains("api_key")) sc["api_key"] = "***";
  o["sandbox_config"] = sc;
  write_all(1, boost::json::serialize(o) + "\n");
  return kExitOk;
}

}  // namespace agent_runner
