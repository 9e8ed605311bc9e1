// SPDX-License-Identifier: Apache-2.0
#include "worker/follow.hpp"

#include "app.hpp"
#include "local_files.hpp"
#include "worker/job.hpp"

#include <agent_runner/text.hpp>

#include <iostream>
#include <map>
#include <optional>
#include <thread>

namespace agent_runner::worker {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

bool terminal(const std::string& status) {
  const auto s = parse_job_status(status);
  return s && *s != JobStatus::queued && *s != JobStatus::running;
}

struct Follower {
  explicit Follower(const FollowedJob& j) : job(j) {}
  const FollowedJob& job;
  std::string last = "0-0";
  bool done = false;
  int exit_code = 1;
  std::optional<ProgressView> progress;
  Clock::time_point next_check = Clock::now();
};

// A download's content came back inside the step result: written here, where `run` would have
// written it, and removed from the event so the event is run's.
void land_download(const Workload& w, json::object& event) {
  auto* result = event.if_contains("result");
  if (!result || !result->is_object()) return;
  auto& r = result->get_object();
  const auto* b64 = r.if_contains("content_base64");
  const auto* index = event.if_contains("index");
  if (!b64 || !b64->is_string() || !index || !index->is_number()) return;
  auto i = index->to_number<size_t>();
  std::string error;
  if (i >= w.steps.size() || w.steps[i].op != Op::download) {
    error = "the worker sent download content for a step that is not a download";
  } else {
    auto data = sdk::base64_decode(b64->get_string());
    int mode = 0644;
    if (const auto* m = r.if_contains("mode"); m && m->is_int64()) mode = m->get_int64() & 0777;
    // The target comes from this machine's copy of the workload, never from the worker.
    fs::path to =
        w.local_path(std::string(w.steps[i].args.at("to").get_string())).lexically_normal();
    error = data ? write_local_atomically(to, *data, mode) : "the content is not valid base64";
  }
  r.erase("content_base64");
  r.erase("mode");
  if (!error.empty()) {
    event["ok"] = false;
    event["error"] = {{"code", "permission_denied"}, {"message", error}};
  }
}

}  // namespace

std::vector<int> follow_jobs(RedisClient& redis, const std::vector<FollowedJob>& jobs,
                             const FollowOptions& options) {
  std::vector<Follower> fs;
  fs.reserve(jobs.size());
  for (const auto& j : jobs) {
    fs.emplace_back(j);
    if (options.console) fs.back().progress.emplace(*options.console);
  }
  std::map<std::string, Follower*> by_key;
  for (auto& f : fs) by_key[events_key(f.job.id)] = &f;

  auto handle = [&](Follower& f, std::string line) {
    auto v = parse_bounded_json(line, options.max_line_bytes);
    if (!v || !v->is_object()) return;
    auto& e = v->get_object();
    const auto* k = e.if_contains("event");
    const std::string kind = k && k->is_string() ? std::string(k->get_string()) : "";
    if (kind == "step.finished") {
      const auto* r = e.if_contains("result");
      if (r && r->is_object() && r->get_object().contains("content_base64")) {
        land_download(*f.job.workload, e);
        line = json::serialize(e);
      }
    }
    if (options.events_fd >= 0) write_all(options.events_fd, line + "\n");
    if (f.progress) f.progress->on_event(e);
    if (kind == "step.output" && options.console) {
      const auto* s = e.if_contains("stream");
      const auto* d = e.if_contains("data");
      if (s && d && d->is_string())
        options.console->output(s->is_string() && s->get_string() == "stderr" ? 2 : 1,
                                d->get_string());
    }
    if (kind == "workload.finished") f.next_check = Clock::now();
  };

  // Reads what is there (blocking up to `block` when nothing is).
  auto read = [&](std::optional<milliseconds> block) {
    std::vector<std::string> cmd{"XREAD", "COUNT", "500"};
    if (block) cmd.insert(cmd.end(), {"BLOCK", std::to_string(block->count())});
    cmd.emplace_back("STREAMS");
    std::vector<Follower*> open;
    for (auto& f : fs)
      if (!f.done) open.push_back(&f);
    for (auto* f : open) cmd.push_back(events_key(f->job.id));
    for (auto* f : open) cmd.push_back(f->last);
    auto r = redis.command(cmd, milliseconds(10000));
    size_t n = 0;
    if (!r.is_array()) return n;
    for (const auto& stream : r.elements) {
      if (stream.elements.size() < 2) continue;
      auto it = by_key.find(stream.elements[0].str);
      if (it == by_key.end()) continue;
      for (const auto& entry : stream.elements[1].elements) {
        if (entry.elements.size() < 2) continue;
        it->second->last = entry.elements[0].str;
        const auto& kv = entry.elements[1].elements;
        for (size_t i = 0; i + 1 < kv.size(); i += 2)
          if (kv[i].str == "event") handle(*it->second, kv[i + 1].str);
        ++n;
      }
    }
    return n;
  };

  bool warned = false;
  for (;;) {
    if (options.interrupted && options.interrupted->load()) {
      std::cerr << "agent-runner submit: stopped following; the jobs keep running (`agent-runner "
                   "status ID`, `agent-runner cancel ID`)\n";
      return std::vector<int>(jobs.size(), kExitFailure);
    }
    bool all_done = true;
    for (const auto& f : fs) all_done = all_done && f.done;
    if (all_done) break;
    try {
      if (!redis.ensure_connected()) {
        if (!warned) std::cerr << "agent-runner submit: " << redis.last_error() << "; retrying\n";
        warned = true;
        std::this_thread::sleep_for(milliseconds(200));
        continue;
      }
      warned = false;
      read(milliseconds(500));
      for (auto& f : fs) {
        if (f.done || Clock::now() < f.next_check) continue;
        f.next_check = Clock::now() + milliseconds(1000);
        auto h = redis.command({"HMGET", job_key(f.job.id), "status", "exit_code"});
        if (!h.is_array() || h.elements.size() < 2 || !terminal(h.elements[0].str)) continue;
        // Finished: whatever it wrote before its result is in the stream already.
        while (read(std::nullopt) > 0) {
        }
        f.done = true;
        try {
          f.exit_code = std::stoi(h.elements[1].str);
        } catch (const std::exception&) {
          f.exit_code = kExitFailure;
        }
      }
    } catch (const RedisError& e) {
      if (!warned) std::cerr << "agent-runner submit: " << e.what() << "; retrying\n";
      warned = true;
    }
  }
  std::vector<int> codes;
  codes.reserve(fs.size());
  for (const auto& f : fs) codes.push_back(f.exit_code);
  return codes;
}

}  // namespace agent_runner::worker
