// Sandbox lifecycle: attach by id, find-or-create by session label, ephemeral create and delete.
#include "sandbox.hpp"

#include <algorithm>
#include <chrono>
#include <thread>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;
using namespace std::chrono;

namespace {
constexpr const char* kSessionLabel = "agent-runner.session";
constexpr const char* kEphemeralLabel = "agent-runner.ephemeral";

std::string str_member(const json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}
}  // namespace

DaytonaSandbox::DaytonaSandbox(Config cfg, sdk::Host host, std::optional<std::string> session)
    : cfg_(std::move(cfg)), host_(host), session_(std::move(session)) {
  HttpSettings s;
  s.api_key = cfg_.api_key;
  s.ca_file = cfg_.ca_file;
  s.connect_timeout = milliseconds(static_cast<int64_t>(cfg_.connect_timeout_s * 1000));
  s.request_timeout = milliseconds(static_cast<int64_t>(cfg_.request_timeout_s * 1000));
  s.max_attempts = cfg_.max_attempts;
  s.retry_budget = milliseconds(static_cast<int64_t>(cfg_.retry_budget_s * 1000));
  const std::string key = cfg_.api_key;
  sdk::Host h = host_;
  // Every log line goes through the key's redaction, whatever produced it.
  auto logger = [h, key](ar_log_level level, const std::string& msg) {
    std::string m = msg;
    if (!key.empty())
      for (size_t p = m.find(key); p != std::string::npos; p = m.find(key, p))
        m.replace(p, key.size(), "***");
    h.log(level, m);
  };
  api_ = std::make_unique<DaytonaApi>(cfg_.api_url, std::move(s), logger);
}

std::unique_ptr<DaytonaSandbox> DaytonaSandbox::create(const sdk::CreateArgs& args) {
  Config cfg = parse_config(args.config);
  if (args.session) {
    if (args.session->empty() || args.session->size() > 128 ||
        args.session->find('\0') != std::string::npos)
      throw Error(AR_ERR_INVALID_ARGUMENT, "session key must be 1 to 128 bytes without NUL");
  }
  auto sb = std::make_unique<DaytonaSandbox>(std::move(cfg), args.host, args.session);
  sb->open();
  return sb;
}

void DaytonaSandbox::open() {
  if (cfg_.sandbox_id)
    attach_by_id();
  else if (session_)
    attach_or_create_session();
  else
    create_ephemeral();
}

json::object DaytonaSandbox::create_body(const std::map<std::string, std::string>& labels,
                                         const std::optional<std::string>& name) const {
  json::object body;
  json::object lab;
  for (const auto& [k, v] : cfg_.labels) lab[k] = v;
  for (const auto& [k, v] : labels) lab[k] = v;
  body["labels"] = std::move(lab);
  body["env"] = json::object{};
  if (name) body["name"] = *name;
  if (cfg_.snapshot_id) body["snapshot"] = *cfg_.snapshot_id;
  if (cfg_.target) body["target"] = *cfg_.target;
  if (cfg_.auto_stop_interval) body["autoStopInterval"] = *cfg_.auto_stop_interval;
  if (cfg_.auto_delete_interval) body["autoDeleteInterval"] = *cfg_.auto_delete_interval;
  return body;
}

void DaytonaSandbox::attach_by_id() {
  auto sb = api_->get_sandbox(*cfg_.sandbox_id);
  if (!sb)
    throw Error(AR_ERR_NOT_FOUND, "sandbox.sandbox_id: no Daytona sandbox '" + *cfg_.sandbox_id +
                                      "' (GET /sandbox/" + *cfg_.sandbox_id + " -> HTTP 404)");
  id_ = sandbox_id(*sb);
  owned_ = false;
  host_.info("attaching to sandbox " + id_ + " (state " + sandbox_state(*sb) + ")");
  auto started = wait_started(std::move(*sb), false);
  connect_toolbox(started);
  health_check();
}

void DaytonaSandbox::attach_or_create_session() {
  const std::map<std::string, std::string> labels{{kSessionLabel, *session_}};
  // The name makes creation race-free across host processes: Daytona refuses a second sandbox
  // with the same name (409), and the loser attaches to the winner's sandbox.
  const std::string name = "agent-runner-" + name_digest(*session_);
  bool created_now = false;
  std::optional<json::object> sb;
  auto found = api_->list_sandboxes(labels);
  // Prefer a usable one; among equals the oldest (creation order), so every process picks the same.
  std::sort(found.begin(), found.end(), [](const json::object& a, const json::object& b) {
    auto rank = [](const json::object& s) {
      const std::string st = sandbox_state(s);
      return st == "started"                                                 ? 0
             : (st == "error" || st == "build_failed" || st == "destroying") ? 2
                                                                             : 1;
    };
    if (rank(a) != rank(b)) return rank(a) < rank(b);
    return str_member(a, "createdAt") < str_member(b, "createdAt");
  });
  if (!found.empty()) {
    sb = found.front();
    host_.debug("session " + *session_ + ": found sandbox " + sandbox_id(*sb));
  } else {
    try {
      sb = api_->create_sandbox(create_body(labels, name));
      created_now = true;
      host_.info("session " + *session_ + ": created sandbox " + sandbox_id(*sb));
    } catch (const Error& e) {
      if (e.status() != AR_ERR_CONFLICT) throw;
      // Another process created it between our list and our create.
      sb = api_->get_sandbox(name);
      if (!sb) throw;
      host_.debug("session " + *session_ + ": another process created sandbox " + sandbox_id(*sb));
    }
  }
  // A name collision with a foreign sandbox must not hand someone else's files to this session.
  auto lit = sb->find("labels");
  if (lit == sb->end() || !lit->value().is_object() ||
      str_member(lit->value().as_object(), kSessionLabel) != *session_)
    throw Error(AR_ERR_CONFLICT, "sandbox '" + name + "' exists but is not labelled " +
                                     kSessionLabel + "=" + *session_ +
                                     "; rename or delete it in Daytona");
  id_ = sandbox_id(*sb);
  owned_ = false;  // a session's sandbox outlives this host process
  try {
    auto started = wait_started(std::move(*sb), created_now);
    connect_toolbox(started);
    health_check();
  } catch (...) {
    if (created_now) delete_owned_quietly("its creation failed");
    throw;
  }
}

void DaytonaSandbox::create_ephemeral() {
  std::map<std::string, std::string> labels{{kEphemeralLabel, "true"}};
  Config& c = cfg_;
  // Safety net if this process dies before release: the server deletes the sandbox once it has
  // auto-stopped (autoDeleteInterval 0), unless the config says otherwise.
  if (!c.auto_delete_interval) c.auto_delete_interval = 0;
  auto sb = api_->create_sandbox(create_body(labels, std::nullopt));
  id_ = sandbox_id(sb);
  owned_ = true;
  host_.info("created ephemeral sandbox " + id_);
  try {
    auto started = wait_started(std::move(sb), true);
    connect_toolbox(started);
  } catch (...) {
    delete_owned_quietly("its creation failed");
    owned_ = false;
    throw;
  }
}

json::object DaytonaSandbox::wait_started(json::object sb, bool delete_on_failure) {
  const auto t0 = steady_clock::now();
  const auto budget = milliseconds(static_cast<int64_t>(cfg_.create_timeout_s * 1000));
  // The official SDKs' schedule: 100 ms, growing by 10% per poll after 5 s, at most 1 s.
  milliseconds interval{100};
  bool start_sent = false;
  for (;;) {
    const std::string state = sandbox_state(sb);
    if (state == "started") return sb;
    if (state == "error" || state == "build_failed") {
      std::string reason = str_member(sb, "errorReason");
      const std::string msg =
          "sandbox " + id_ + " failed to start: state '" + state + "'" +
          (reason.empty() ? "" : ", errorReason: " + api_->http().redact(reason));
      if (delete_on_failure) {
        delete_owned_quietly("it went to state " + state);
        throw Error(AR_ERR_UNAVAILABLE, msg + " (the sandbox was deleted)");
      }
      throw Error(AR_ERR_UNAVAILABLE, msg + " (recover or delete it in Daytona)");
    }
    if (state == "destroyed" || state == "destroying")
      throw Error(AR_ERR_NOT_FOUND, "sandbox " + id_ + " is being deleted (state " + state + ")");
    if (!start_sent && (state == "stopped" || state == "archived" || state == "paused")) {
      host_.info("starting sandbox " + id_ + " (state " + state + ")");
      auto r = api_->start_sandbox(id_);
      start_sent = true;
      if (!r.empty()) sb = std::move(r);
      continue;
    }
    const auto elapsed = steady_clock::now() - t0;
    if (elapsed >= budget) {
      const std::string msg = "sandbox " + id_ + " did not reach state 'started' within " +
                              std::to_string(static_cast<int64_t>(cfg_.create_timeout_s)) +
                              " s (sandbox.create_timeout_s); last state '" + state + "'";
      if (delete_on_failure) {
        delete_owned_quietly("it did not start in time");
        throw Error(AR_ERR_TIMEOUT, msg + " (the sandbox was deleted)");
      }
      throw Error(AR_ERR_TIMEOUT, msg);
    }
    std::this_thread::sleep_for(
        std::min<steady_clock::duration>(interval, budget - elapsed + milliseconds(1)));
    if (steady_clock::now() - t0 > seconds(5))
      interval = std::min(milliseconds(1000), milliseconds(interval.count() * 11 / 10 + 1));
    auto fresh = api_->get_sandbox(id_);
    if (!fresh) throw Error(AR_ERR_NOT_FOUND, "sandbox " + id_ + " disappeared while starting");
    sb = std::move(*fresh);
  }
}

void DaytonaSandbox::connect_toolbox(const json::object& sb) {
  toolbox_ = api_->toolbox_base(sb);
  if (cfg_.workspace_dir) {
    workspace_ = *cfg_.workspace_dir;
    DaytonaApi::ToolboxCall c;
    c.method = "POST";
    c.path = "/files/folder?path=" + url_encode(workspace_) + "&mode=755";
    c.idempotent = true;
    auto r = tb(c);
    if (!r.ok()) {
      HttpRequest req = request_for(c.method, toolbox_ + c.path);
      api_->fail(req, r, "creating sandbox.workspace_dir");
    }
  } else {
    for (const char* ep : {"/work-dir", "/user-home-dir", "/project-dir"}) {
      DaytonaApi::ToolboxCall c;
      c.path = ep;
      c.idempotent = true;
      auto r = tb(c);
      if (r.status == 404) continue;
      if (!r.ok()) {
        HttpRequest req = request_for(c.method, toolbox_ + c.path);
        api_->fail(req, r, "asking the sandbox for its work dir");
      }
      boost::system::error_code ec;
      auto v = json::parse(r.body, ec);
      if (!ec && v.is_object()) workspace_ = str_member(v.as_object(), "dir");
      if (!workspace_.empty()) break;
    }
    if (workspace_.empty())
      throw Error(AR_ERR_UNAVAILABLE,
                  "sandbox " + id_ + " did not tell its work dir; set sandbox.workspace_dir");
  }
  host_.debug("sandbox " + id_ + ": toolbox ready, workspace " + workspace_);
}

void DaytonaSandbox::health_check() {
  // The seed's check: the sandbox answers a trivial command. A few tries within the create budget.
  const auto deadline =
      steady_clock::now() + milliseconds(static_cast<int64_t>(cfg_.create_timeout_s * 1000));
  std::string last;
  for (int i = 0;; ++i) {
    try {
      auto r = run_short("echo alive", 10);
      if (r.exit_code == 0 && r.output.find("alive") != std::string::npos) return;
      last = "exit code " + std::to_string(r.exit_code);
    } catch (const Error& e) {
      if (e.status() == AR_ERR_UNAUTHORIZED) throw;
      last = e.what();
    }
    if (i >= 4 || steady_clock::now() > deadline)
      throw Error(AR_ERR_UNAVAILABLE,
                  "sandbox " + id_ + " does not answer a command (echo alive): " + last);
    std::this_thread::sleep_for(milliseconds(200 << i));
  }
}

void DaytonaSandbox::delete_owned_quietly(const std::string& why) {
  if (id_.empty() || deleted_) return;
  try {
    api_->delete_sandbox(id_, 30);
    deleted_ = true;
    host_.info("deleted sandbox " + id_ + " because " + why);
  } catch (const std::exception& e) {
    host_.error("could not delete sandbox " + id_ + " (" + why + "): " + e.what() +
                "; delete it in Daytona");
  }
}

json::object DaytonaSandbox::info() const {
  json::object o{{"sandbox_id", id_},
                 {"session", session_ ? json::value(*session_) : json::value(nullptr)},
                 {"persistent", !owned_},
                 {"remote_workspace", workspace_}};
  return o;
}

Result DaytonaSandbox::release() {
  if (!owned_) return Result::ok({{"sandbox_id", id_}, {"deleted", false}});
  try {
    api_->delete_sandbox(id_, std::max(30.0, cfg_.request_timeout_s));
  } catch (const Error& e) {
    return Result::error(e.status(), std::string("deleting ephemeral sandbox ") + id_ + ": " +
                                         e.what() + " (delete it in Daytona)");
  }
  owned_ = false;
  host_.info("deleted ephemeral sandbox " + id_);
  return Result::ok({{"sandbox_id", id_}, {"deleted", true}});
}

}  // namespace agent_runner::daytona
