// SPDX-License-Identifier: Apache-2.0
// `agent-runner queue`: what an operator checks on the task queue.
#include "app.hpp"
#include "cli.hpp"
#include "worker/job.hpp"
#include "worker/queue_client.hpp"

#include <iomanip>
#include <iostream>
#include <sstream>

namespace agent_runner {
namespace json = boost::json;

namespace {

long long field_int(const worker::RedisReply& flat, const std::string& key) {
  for (size_t i = 0; i + 1 < flat.elements.size(); i += 2)
    if (flat.elements[i].str == key) return flat.elements[i + 1].integer;
  return 0;
}
std::string field_str(const worker::RedisReply& flat, const std::string& key) {
  for (size_t i = 0; i + 1 < flat.elements.size(); i += 2)
    if (flat.elements[i].str == key) return flat.elements[i + 1].text();
  return "";
}

int queue_command(App& app, bool as_json) {
  const Config* cfg = app.config();
  if (!cfg) return kExitUsage;
  auto redis = worker::connect_queue(*cfg, "queue");
  if (!redis) return kExitUsage;
  const std::string& q = cfg->task_queue;
  try {
    auto r = redis->pipeline({{"XLEN", q},
                              {"XINFO", "GROUPS", q},
                              {"XINFO", "CONSUMERS", q, worker::kGroup},
                              {"XLEN", worker::dead_key(q)}});
    if (r[1].is_error()) {
      std::cerr << "agent-runner queue: no queue " << q << " at " << redis->endpoint().where()
                << " (" << r[1].str
                << "); a worker or `submit` creates it, or set task_queue to the right name\n";
      return kExitUsage;
    }
    long long pending = 0;
    bool has_group = false;
    for (const auto& g : r[1].elements)
      if (field_str(g, "name") == worker::kGroup) {
        pending = field_int(g, "pending");
        has_group = true;
      }
    const long long length = r[0].integer;
    const long long waiting = has_group ? std::max(0LL, length - pending) : length;
    json::array consumers;
    if (r[2].is_array())
      for (const auto& c : r[2].elements)
        consumers.push_back({{"name", field_str(c, "name")},
                             {"pending", field_int(c, "pending")},
                             {"idle_ms", field_int(c, "idle")}});
    json::object o{{"queue", q},
                   {"redis", redis->endpoint().where()},
                   {"length", length},
                   {"waiting", waiting},
                   {"pending", pending},
                   {"dead_lettered", r[3].integer},
                   {"consumers", consumers}};
    if (as_json) {
      write_all(1, json::serialize(o) + "\n");
      return kExitOk;
    }
    std::ostringstream out;
    out << "queue " << q << " at " << redis->endpoint().where() << "\n"
        << "  waiting        " << waiting << "   (no worker has taken them yet)\n"
        << "  pending        " << pending << "   (taken by a worker, not finished)\n"
        << "  dead-lettered  " << r[3].integer << "   (stream " << worker::dead_key(q) << ")\n"
        << "  consumers      " << consumers.size() << "\n";
    for (const auto& c : consumers) {
      const auto& co = c.get_object();
      out << "    " << std::left << std::setw(32) << std::string(co.at("name").get_string())
          << " pending " << co.at("pending").get_int64() << ", idle " << std::fixed
          << std::setprecision(1) << static_cast<double>(co.at("idle_ms").get_int64()) / 1000.0
          << "s\n";
    }
    write_all(1, out.str());
    return kExitOk;
  } catch (const worker::RedisError& e) {
    std::cerr << "agent-runner queue: " << e.what() << "\n";
    return kExitUsage;
  }
}

}  // namespace

cli::Run cli::define_queue(CLI::App& cmd) {
  cmd.description(R"(the task queue: waiting, pending per consumer, dead letters

The task queue (task_queue, default agent_execution_runner) on Redis: jobs waiting for a worker,
jobs taken and not yet finished (pending) per consumer with its idle time, the consumers of the
group "agent-runner", and the dead-lettered entries (stream <task_queue>:dead).)");
  cmd.footer(R"(Exit code: 0; 2 no such queue (no worker or submit has created it), or Redis is
unreachable.)");
  auto json = std::make_shared<bool>(false);
  cmd.add_flag("--json", *json,
               "{\"queue\",\"redis\",\"length\",\"waiting\",\"pending\",\"dead_lettered\",\n"
               " \"consumers\":[{\"name\",\"pending\",\"idle_ms\"}]}");
  return [json](App& app) { return queue_command(app, *json); };
}

}  // namespace agent_runner
