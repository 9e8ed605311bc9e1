// `agent-runner sessions`: list, inspect, remove and prune the selected plugin's sessions
// (persistent sandboxes), through its list_sessions and destroy_session slots (sessions.hpp).
#include "app.hpp"
#include "cli.hpp"
#include "duration.hpp"
#include "redact.hpp"
#include "sessions.hpp"
#include "signals.hpp"

#include <cstdio>
#include <iostream>

namespace agent_runner {
namespace json = boost::json;
namespace {

struct SessionsArgs {
  bool json = false;            // sessions --json
  std::string show_id;          // sessions show ID
  bool show_json = false;       // sessions show --json
  std::vector<std::string> rm;  // sessions rm ID...
  bool force = false;           // sessions rm --force
  std::string idle;             // sessions prune --idle DURATION
  bool dry_run = false;         // sessions prune --dry-run
};

// The selected plugin's sessions, or why not (exit code in `code`).
// An error of the plugin, printed; the exit code it means.
int plugin_failed(const SessionsApi& api, const char* what, const OpResult& r) {
  if (r.status == AR_ERR_UNSUPPORTED) {
    std::cerr << "agent-runner " << what << ": " << api.unsupported_message() << "\n";
    return kExitPlugin;
  }
  std::cerr << "agent-runner " << what << ": " << r.code() << ": "
            << Redactor::global().redact(r.message()) << "\n";
  if (r.status == AR_ERR_INVALID_CONFIG) return kExitUsage;
  return kExitFailure;
}

std::string text(const json::object& o, std::string_view key, std::string dflt = "-") {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return dflt;
  if (v->is_string()) return std::string(v->get_string());
  return json::serialize(*v);
}

std::string human_size(const json::object& o) {
  const auto* v = o.if_contains("size_bytes");
  if (!v || !v->is_number()) return "-";
  boost::system::error_code ec;
  double b = v->to_number<double>(ec);
  if (ec) return "-";
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  size_t u = 0;
  while (b >= 1024 && u + 1 < std::size(kUnits)) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, kUnits[u]);
  return buf;
}

std::string labels(const json::object& o) {
  const auto* v = o.if_contains("labels");
  if (!v || !v->is_object() || v->get_object().empty()) return "-";
  std::string out;
  for (const auto& kv : v->get_object())
    out += (out.empty() ? "" : ",") + std::string(kv.key()) + "=" +
           (kv.value().is_string() ? std::string(kv.value().get_string())
                                   : json::serialize(kv.value()));
  return out;
}

std::string state(const SessionInfo& s) {
  return (s.state.empty() ? "-" : s.state) + (s.in_use == true ? " (in use)" : "");
}

std::string last_used(const SessionInfo& s) {
  std::string t = text(s.raw, "last_used_at");
  if (s.idle_s) t += " (" + format_duration(*s.idle_s) + " ago)";
  return t;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], row[c].size());
    }
  std::string out;
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      out += row[c];
      if (c + 1 < row.size()) out += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += "\n";
  }
  write_all(1, Redactor::global().redact(out));
}

int list_command(App& app, const SessionsArgs& a) {
  int code = kExitOk;
  auto api = open_sessions(app, code);
  if (!api) return code;
  std::vector<SessionInfo> all;
  OpResult r = api->list(all);
  if (!r.ok()) return plugin_failed(*api, "sessions", r);
  if (a.json) {
    json::array arr;
    for (const auto& s : all) arr.push_back(s.raw);
    json::object out{{"sandbox_type", api->plugin().sandbox_type()}, {"sessions", std::move(arr)}};
    write_all(1, Redactor::global().redact(json::serialize(out)) + "\n");
    return kExitOk;
  }
  if (all.empty()) {
    std::cout << "No sessions (sandbox type " << api->plugin().sandbox_type() << ").\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows{
      {"SESSION", "SANDBOX", "STATE", "CREATED", "LAST USED", "SIZE", "LABELS"}};
  for (const auto& s : all)
    rows.push_back({s.session, s.sandbox_id.empty() ? "-" : s.sandbox_id, state(s),
                    text(s.raw, "created_at"), last_used(s), human_size(s.raw), labels(s.raw)});
  print_table(rows);
  return kExitOk;
}

int show_command(App& app, const SessionsArgs& a) {
  int code = kExitOk;
  auto api = open_sessions(app, code);
  if (!api) return code;
  std::vector<SessionInfo> found;
  OpResult r = api->list(found, a.show_id);
  if (!r.ok()) return plugin_failed(*api, "sessions show", r);
  if (found.empty()) {
    std::cerr << "agent-runner sessions show: no session '" << a.show_id << "' (sandbox type "
              << api->plugin().sandbox_type() << "); `agent-runner sessions` lists them\n";
    return kExitFailure;
  }
  const SessionInfo& s = found.front();
  if (a.show_json) {
    write_all(1, Redactor::global().redact(json::serialize(s.raw)) + "\n");
    return kExitOk;
  }
  // The members the host knows first, then whatever else the plugin tells.
  std::vector<std::vector<std::string>> rows{
      {"session:", s.session},      {"sandbox:", s.sandbox_id.empty() ? "-" : s.sandbox_id},
      {"state:", state(s)},         {"created:", text(s.raw, "created_at")},
      {"last used:", last_used(s)}, {"size:", human_size(s.raw)},
      {"labels:", labels(s.raw)}};
  for (const auto& kv : s.raw) {
    const std::string k(kv.key());
    if (k == "session" || k == "sandbox_id" || k == "state" || k == "in_use" || k == "created_at" ||
        k == "last_used_at" || k == "idle_s" || k == "size_bytes" || k == "labels")
      continue;
    rows.push_back({k + ":", text(s.raw, k)});
  }
  print_table(rows);
  return kExitOk;
}

int rm_command(App& app, const SessionsArgs& a) {
  int code = kExitOk;
  auto api = open_sessions(app, code);
  if (!api) return code;
  int worst = kExitOk;
  for (const auto& id : a.rm) {
    OpResult r = api->destroy(id, a.force);
    if (r.ok()) {
      const bool destroyed = r.body.at("destroyed").as_bool();
      std::string line = destroyed ? "removed " + id : "kept " + id + ": " + text(r.body, "reason");
      if (const auto* c = r.body.if_contains("cancelled");
          c && c->is_number() && c->to_number<int64_t>() > 0)
        line += " (" + json::serialize(*c) + " running command(s) cancelled)";
      write_all(1, Redactor::global().redact(line) + "\n");
      if (!destroyed) worst = std::max(worst, kExitFailure);
      continue;
    }
    if (r.status == AR_ERR_UNSUPPORTED) return plugin_failed(*api, "sessions rm", r);
    std::cerr << "agent-runner sessions rm: " << id << ": ";
    if (r.status == AR_ERR_CONFLICT)
      std::cerr << "in use: " << Redactor::global().redact(r.message())
                << "; not removed (--force cancels what runs in it and removes it)\n";
    else if (r.status == AR_ERR_NOT_FOUND)
      std::cerr << "no such session (sandbox type " << api->plugin().sandbox_type()
                << "); `agent-runner sessions` lists them\n";
    else
      std::cerr << r.code() << ": " << Redactor::global().redact(r.message()) << "\n";
    worst = std::max(worst, r.status == AR_ERR_INVALID_CONFIG ? kExitUsage : kExitFailure);
  }
  return worst;
}

int prune_command(App& app, const SessionsArgs& a) {
  const auto idle = parse_duration(a.idle);
  if (!idle) {
    std::cerr << "agent-runner sessions prune: --idle '" << a.idle << "' is not " << kDurationHelp
              << " (see agent-runner sessions prune --help)\n";
    return kExitUsage;
  }
  int code = kExitOk;
  auto api = open_sessions(app, code);
  if (!api) return code;
  std::vector<SessionInfo> all;
  OpResult r = api->list(all);
  if (!r.ok()) return plugin_failed(*api, "sessions prune", r);
  int worst = kExitOk;
  size_t removed = 0;
  const auto candidates = idle_sessions(all, *idle);
  for (const auto& s : all)
    if (s.in_use == true && s.idle_s && *s.idle_s >= *idle)
      std::cout << "kept " << s.session << ": in use\n";
  for (const auto& s : candidates) {
    const std::string why = " (unused for " + format_duration(*s.idle_s) + ")";
    if (a.dry_run) {
      std::cout << "would remove " << s.session << why << "\n";
      continue;
    }
    OpResult d = api->destroy(s.session, false, *idle);
    if (d.ok() && d.body.at("destroyed").as_bool()) {
      std::cout << "removed " << s.session << why << "\n";
      ++removed;
    } else if (d.ok() || d.status == AR_ERR_CONFLICT || d.status == AR_ERR_NOT_FOUND) {
      // Used, or removed, since the listing: not idle after all, or nothing left to do.
      std::cout << "kept " << s.session << ": "
                << Redactor::global().redact(d.ok() ? text(d.body, "reason") : d.message()) << "\n";
    } else {
      std::cerr << "agent-runner sessions prune: " << s.session << ": " << d.code() << ": "
                << Redactor::global().redact(d.message()) << "\n";
      worst = kExitFailure;
    }
  }
  if (!a.dry_run)
    std::cerr << "removed " << removed << " of " << all.size() << " session"
              << (all.size() == 1 ? "" : "s") << " (unused for at least " << format_duration(*idle)
              << ")\n";
  return worst;
}

}  // namespace

cli::Run cli::define_sessions(CLI::App& cmd) {
  cmd.description(R"(list, inspect, remove and prune sessions (persistent sandboxes)

A session (`exec --session ID`, `run --session ID`, a workload's `session:`) keeps its sandbox for
the next run: a workspace directory under SANDBOX_ROOT_DIR (filesystem plugin) or a Daytona
sandbox labelled with the key (daytona plugin). Without a command, lists every session of the
selected plugin (MODE, SANDBOX_TYPE): id, sandbox id, state, created, last used, size where the
plugin knows it (local), labels (Daytona).)");
  cmd.footer(
      R"(Exit codes: 0 success; 1 a session could not be removed (in use, not found, a backend error);
2 usage or configuration error; 3 no plugin could be loaded, or the selected plugin does not
manage sessions (a plugin built against SDK 1.0 has no list_sessions/destroy_session).

The worker removes sessions unused for longer than the session_ttl setting (README "Sessions").)");
  cmd.require_subcommand(0, 1);
  auto a = std::make_shared<SessionsArgs>();
  cmd.add_flag("--json", a->json,
               "print one JSON object: {\"sandbox_type\", \"sessions\": [{\"session\",\n"
               " \"sandbox_id\", \"state\", \"in_use\", \"created_at\", \"last_used_at\",\n"
               " \"idle_s\", \"size_bytes\", \"labels\", ...}]}");

  auto sub = [&cmd](const char* name, const char* description) {
    CLI::App* s = cmd.add_subcommand(name, description);
    s->set_help_flag("-h,--help", "this command's options and use");
    s->fallthrough();  // global options after it reach the root
    return s;
  };
  CLI::App* show = sub("show", R"(one session in full

Prints everything the plugin knows about session ID: the columns of `sessions` and the plugin's
own details (the workspace and its private /tmp for the filesystem plugin; the sandbox's name,
Daytona state and labels for daytona). Exit code 1 when there is no such session.)");
  show->add_option("ID", a->show_id, "the session key")->required()->type_name("ID");
  show->add_flag("--json", a->show_json, "print the session as one JSON object");

  CLI::App* rm = sub("rm", R"(remove sessions and their sandboxes

Removes each session ID with its sandbox: the workspace and its private /tmp (filesystem), the
Daytona sandbox (daytona). A session in use — a command of another agent-runner process running
in it — is refused unless --force.)");
  rm->add_option("ID", a->rm, "session keys")->required()->type_name("ID");
  rm->add_flag("--force", a->force,
               "remove a session in use too: its running commands are cancelled first\n"
               "(their processes killed; the `exec` or `run` running them ends as cancelled)");
  rm->footer(
      "Exit code 1 when a session could not be removed (in use, not found, a backend "
      "error); the others are still removed.");

  CLI::App* prune = sub("prune", R"(remove the sessions unused for longer than --idle

Removes every session of the selected plugin whose last use is at least DURATION ago and that is
not in use. The plugin checks again just before removing one, so a session used meanwhile is
kept. Sessions whose last use the plugin cannot tell are kept.)");
  prune
      ->add_option("--idle", a->idle,
                   std::string("remove sessions unused for this long: ") + kDurationHelp)
      ->required()
      ->type_name("DURATION");
  prune->add_flag("--dry-run", a->dry_run, "only print which sessions would be removed");
  prune->footer("Exit code 1 when a session could not be removed (a backend error).");

  return [a, show, rm, prune](App& app) {
    if (show->parsed()) return show_command(app, *a);
    if (rm->parsed()) return rm_command(app, *a);
    if (prune->parsed()) return prune_command(app, *a);
    return list_command(app, *a);
  };
}

}  // namespace agent_runner
