// Sandbox lifecycle: attach by id, find-or-create by session label, ephemeral create and delete.
#include "labels.hpp"
#include "sandbox.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

namespace agent_runner::daytona {

using sdk::Error;
using sdk::Result;
namespace json = boost::json;
using namespace std::chrono;

DaytonaSandbox::DaytonaSandbox(Config cfg, sdk::Host host, std::optional<std::string> session)
    : cfg_(std::move(cfg)), host_(host), session_(std::move(session)) {
  HttpSettings s;
  s.api_key = cfg_.api_key;
  s.ca_file = cfg_.ca_file;
  s.api_host = url_host(cfg_.api_url);
  s.trusted_hosts = cfg_.trusted_hosts;
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
  if (cfg_.workdir_from_old_name)
    host_.warn("sandbox.workspace_dir is the old name of sandbox.workdir; rename it");
  // The API URL is checked (and a plain-http warning given) before anything is sent.
  api_->http().check_url(cfg_.api_url, "sandbox.api_url");
  if (cfg_.sandbox_id)
    attach_by_id();
  else if (session_)
    attach_or_create_session();
  else
    create_ephemeral();
}

json::object DaytonaSandbox::create_body(const std::map<std::string, std::string>& labels,
                                         const std::string& name) const {
  json::object body;
  json::object lab;
  for (const auto& [k, v] : cfg_.labels) lab[k] = v;
  for (const auto& [k, v] : labels) lab[k] = v;
  body["labels"] = std::move(lab);
  body["env"] = json::object{};
  body["name"] = name;
  if (cfg_.snapshot_id) body["snapshot"] = *cfg_.snapshot_id;
  if (cfg_.target) body["target"] = *cfg_.target;
  if (cfg_.auto_stop_interval) body["autoStopInterval"] = *cfg_.auto_stop_interval;
  if (cfg_.auto_delete_interval) body["autoDeleteInterval"] = *cfg_.auto_delete_interval;
  return body;
}

json::object DaytonaSandbox::create_once(std::map<std::string, std::string> labels,
                                         const std::string& name) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  const std::string token = random_hex(16);
  labels[kCreateTokenLabel] = token;
  const json::object body = create_body(labels, name);
  const std::map<std::string, std::string> by_token{{kCreateTokenLabel, token}};
  // What an earlier attempt of this creation left, if anything; more than one cannot happen
  // (names are unique), but if it did, the oldest is kept and the others deleted.
  auto adopt = [&]() -> std::optional<json::object> {
    auto found = api_->list_sandboxes(by_token);
    if (found.empty()) return std::nullopt;
    std::sort(found.begin(), found.end(), [](const json::object& a, const json::object& b) {
      return str_member(a, "createdAt") < str_member(b, "createdAt");
    });
    for (size_t i = 1; i < found.size(); ++i) {
      const std::string extra = sandbox_id(found[i]);
      host_.warn("deleting sandbox " + extra + ", a second copy of one creation");
      if (api_->delete_sandbox(extra, DaytonaApi::kDeleteAttempts) == DaytonaApi::Deleted::busy)
        host_.error("could not delete sandbox " + extra + " yet (Daytona: state change in " +
                    "progress); delete it in Daytona");
    }
    host_.info("sandbox " + sandbox_id(found[0]) + " was created by an attempt whose answer " +
               "was lost; using it");
    return std::move(found[0]);
  };
  milliseconds slept{0};
  const milliseconds budget(static_cast<int64_t>(cfg_.retry_budget_s * 1000));
  for (int n = 1;; ++n) {
    std::string failure;
    ar_status status = AR_ERR_UNAVAILABLE;
    try {
      return api_->create_sandbox(body);
    } catch (const Error& e) {
      if (e.status() == AR_ERR_CONFLICT) {
        // The name is taken: by an earlier attempt of this creation (adopt it), or by another.
        auto taken = api_->get_sandbox(name);
        if (taken && sandbox_label(*taken, kCreateTokenLabel) == token) {
          host_.info("sandbox " + sandbox_id(*taken) +
                     " was created by an attempt whose answer was lost; using it");
          return std::move(*taken);
        }
        throw;
      }
      // 5xx and transport failures: the server may or may not have created it.
      if (e.status() != AR_ERR_UNAVAILABLE && e.status() != AR_ERR_TIMEOUT) throw;
      failure = e.what();
      status = e.status();
    }
    try {
      if (auto mine = adopt()) return std::move(*mine);
    } catch (const Error& e) {
      // Not knowing is no reason to stop: a repeated create with the same name cannot make a
      // second sandbox.
      if (e.status() == AR_ERR_UNAUTHORIZED) throw;
      host_.debug(std::string("looking up the creation token failed: ") + e.what());
    }
    const milliseconds wait(
        std::uniform_int_distribution<int64_t>(125 << std::min(n, 6), 250 << std::min(n, 6))(rng));
    if (n >= cfg_.max_attempts || slept + wait > budget) {
      // A creation still under way on the server carries our name: if it appears, it has the
      // ephemeral auto-delete (or the session's label) and can be found by its token.
      throw Error(status, failure + " (gave up after " + std::to_string(n) +
                              " attempts; if Daytona still creates sandbox '" + name +
                              "', labelled " + kCreateTokenLabel + "=" + token +
                              ", delete it in Daytona or let its auto-delete remove it)");
    }
    host_.info("creating a sandbox failed (" + failure + "); none was created, retrying in " +
               std::to_string(wait.count()) + " ms");
    std::this_thread::sleep_for(wait);
    slept += wait;
  }
}

void DaytonaSandbox::attach_by_id() {
  auto sb = api_->get_sandbox(*cfg_.sandbox_id);
  if (!sb)
    throw Error(AR_ERR_NOT_FOUND, "sandbox.sandbox_id: no Daytona sandbox '" + *cfg_.sandbox_id +
                                      "' (GET /sandbox/" + *cfg_.sandbox_id + " -> HTTP 404)");
  id_ = sandbox_id(*sb);
  owned_ = false;
  host_.info("attaching to sandbox " + id_ + " (state " + sandbox_state(*sb) + ")");
  auto started = wait_started(std::move(*sb));
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
      sb = create_once(labels, name);
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
  if (sandbox_label(*sb, kSessionLabel) != *session_)
    throw Error(AR_ERR_CONFLICT, "sandbox '" + name + "' exists but is not labelled " +
                                     kSessionLabel + "=" + *session_ +
                                     "; rename or delete it in Daytona");
  id_ = sandbox_id(*sb);
  owned_ = false;  // a session's sandbox outlives this host process
  try {
    auto started = wait_started(std::move(*sb));
    connect_toolbox(started);
    health_check();
  } catch (const Error& e) {
    if (!created_now) throw;
    throw Error(e.status(), e.what() + discard_created("its creation failed"));
  }
}

void DaytonaSandbox::create_ephemeral() {
  // Safety net if this process dies before release: the server deletes the sandbox once it has
  // auto-stopped (autoDeleteInterval 0), unless the config says otherwise.
  if (!cfg_.auto_delete_interval) cfg_.auto_delete_interval = 0;
  // A unique name: Daytona refuses a second sandbox of one creation, whatever was retried.
  auto sb = create_once({{kEphemeralLabel, "true"}}, "agent-runner-" + random_hex(16));
  id_ = sandbox_id(sb);
  owned_ = true;
  host_.info("created ephemeral sandbox " + id_);
  try {
    auto started = wait_started(std::move(sb));
    connect_toolbox(started);
  } catch (const Error& e) {
    owned_ = false;
    throw Error(e.status(), e.what() + discard_created("its creation failed"));
  } catch (...) {
    owned_ = false;
    discard_created("its creation failed");
    throw;
  }
}

std::string DaytonaSandbox::discard_created(const std::string& why) {
  try {
    if (api_->delete_sandbox(id_, DaytonaApi::kDeleteAttempts) == DaytonaApi::Deleted::yes) {
      host_.info("deleted sandbox " + id_ + " because " + why);
      return " (sandbox " + id_ + " was deleted)";
    }
  } catch (const std::exception& e) {
    host_.error("could not delete sandbox " + id_ + " (" + why + "): " + e.what());
    return " (sandbox " + id_ + " could not be deleted: " + e.what() + "; delete it in Daytona)";
  }
  const std::string autodel =
      cfg_.auto_delete_interval && *cfg_.auto_delete_interval >= 0
          ? "Daytona's auto-delete removes it " +
                (*cfg_.auto_delete_interval == 0
                     ? std::string("once it stops")
                     : std::to_string(*cfg_.auto_delete_interval) + " min after it stops") +
                ", or delete it in Daytona"
          : "delete it in Daytona";
  host_.warn("sandbox " + id_ + " could not be deleted yet (" + why + "): " + autodel);
  return " (sandbox " + id_ +
         " could not be deleted yet: Daytona still reports a state change in progress; " + autodel +
         ")";
}

json::object DaytonaSandbox::wait_started(json::object sb) {
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
      throw Error(AR_ERR_UNAVAILABLE,
                  "sandbox " + id_ + " failed to start: state '" + state + "'" +
                      (reason.empty() ? "" : ", errorReason: " + api_->http().redact(reason)));
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
    if (elapsed >= budget)
      throw Error(AR_ERR_TIMEOUT, "sandbox " + id_ + " did not reach state 'started' within " +
                                      std::to_string(static_cast<int64_t>(cfg_.create_timeout_s)) +
                                      " s (sandbox.create_timeout_s); last state '" + state + "'");
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
  unsigned major = 0, minor = 0;
  shell_stdin_ =
      std::sscanf(str_member(sb, "daemonVersion").c_str(), "%u.%u", &major, &minor) == 2 &&
      (major > 0 || minor >= 156);
  std::string dir;
  if (cfg_.workdir) {
    dir = *cfg_.workdir;
    DaytonaApi::ToolboxCall c;
    c.method = "POST";
    c.path = "/files/folder?path=" + url_encode(dir) + "&mode=755";
    c.idempotent = true;
    auto r = tb(c);
    if (r.status == 403)
      throw Error(AR_ERR_PERMISSION_DENIED, "sandbox.workdir " + dir +
                                                ": the sandbox's user may not create it; choose "
                                                "a directory it can write");
    if (!r.ok()) {
      HttpRequest req = request_for(c.method, toolbox_ + c.path);
      api_->fail(req, r, "creating sandbox.workdir " + dir);
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
      if (!ec && v.is_object()) dir = str_member(v.as_object(), "dir");
      if (!dir.empty()) break;
    }
    if (dir.empty() || dir.front() != '/')
      throw Error(AR_ERR_UNAVAILABLE, "sandbox " + id_ +
                                          " did not tell its work dir (GET /work-dir); set "
                                          "sandbox.workdir");
  }
  workdir_ = parse_sandbox_path(dir);
  host_.debug("sandbox " + id_ + ": toolbox ready, workdir " + workdir_.display());
}

void DaytonaSandbox::health_check() {
  // The seed's check: the sandbox answers a trivial command. A few tries within the create budget.
  const auto deadline =
      steady_clock::now() + milliseconds(static_cast<int64_t>(cfg_.create_timeout_s * 1000));
  std::string last;
  for (int i = 0;; ++i) {
    try {
      auto r = run_short("echo alive", 10, true);
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

json::object DaytonaSandbox::info() const {
  const std::string wd = workdir_.display();
  json::object o{{"sandbox_id", id_},
                 {"session", session_ ? json::value(*session_) : json::value(nullptr)},
                 {"persistent", !owned_},
                 {"workdir", wd},
                 {"remote_workspace", wd}};
  return o;
}

Result DaytonaSandbox::release() {
  if (!owned_) return Result::ok({{"sandbox_id", id_}, {"deleted", false}});
  try {
    if (api_->delete_sandbox(id_, DaytonaApi::kDeleteAttempts) == DaytonaApi::Deleted::busy)
      return Result::error(AR_ERR_CONFLICT,
                           "deleting ephemeral sandbox " + id_ +
                               ": Daytona still reports a state change in progress; its "
                               "auto-delete removes it once it stops, or delete it in Daytona");
  } catch (const Error& e) {
    return Result::error(e.status(), std::string("deleting ephemeral sandbox ") + id_ + ": " +
                                         e.what() + " (delete it in Daytona)");
  }
  owned_ = false;
  host_.info("deleted ephemeral sandbox " + id_);
  return Result::ok({{"sandbox_id", id_}, {"deleted", true}});
}

}  // namespace agent_runner::daytona
