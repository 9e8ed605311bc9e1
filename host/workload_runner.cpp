// One workload: open the sandbox, upload skills, run the steps with their expectations under the
// workload's deadline, release the sandbox whatever happened. Every event and every printed byte
// passes through the secret redactor.
#include "workload_runner.hpp"

#include "redact.hpp"
#include "step_output.hpp"

#include <agent_runner/text.hpp>

#include <boost/uuid/detail/sha1.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

namespace agent_runner {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

void Console::status(const std::string& line, bool final_line) {
  std::lock_guard lock(mutex_);
  std::string text = Redactor::global().redact(line);
  if (tty_) {
    write_all(2, "\r\033[K" + text + (final_line ? "\n" : ""));
    line_shown_ = !final_line;
  } else {
    write_all(2, text + "\n");
  }
}

void Console::output(int fd, std::string_view data) {
  if (!stream_output_ || data.empty()) return;
  std::lock_guard lock(mutex_);
  if (tty_ && line_shown_) {
    write_all(2, "\r\033[K");
    line_shown_ = false;
  }
  write_all(fd, data);
}

namespace {

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

std::string seconds_text(long long ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

std::optional<std::string> read_local(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return ss.str();
}

// Local files under `root` (a file: just it), sorted, with the sandbox path each goes to.
struct LocalFile {
  fs::path local;
  std::string rel;  // "" for a single file
  int mode = 0644;
};
std::vector<LocalFile> collect_files(const fs::path& root, std::string& error) {
  std::vector<LocalFile> files;
  std::error_code ec;
  auto mode_of = [](const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0644;
    return (st.st_mode & 0111) ? 0755 : 0644;
  };
  if (fs::is_regular_file(root, ec)) {
    files.push_back({root, "", mode_of(root)});
    return files;
  }
  if (!fs::is_directory(root, ec)) {
    error = root.string() + " is neither a file nor a directory";
    return files;
  }
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_symlink(ec)) {
      error = it->path().string() + " is a symbolic link; upload copies regular files only";
      return {};
    }
    if (it->is_regular_file(ec))
      files.push_back(
          {it->path(), fs::relative(it->path(), root).generic_string(), mode_of(it->path())});
  }
  if (ec) error = root.string() + ": " + ec.message();
  std::sort(files.begin(), files.end(),
            [](const LocalFile& a, const LocalFile& b) { return a.rel < b.rel; });
  return files;
}

std::string join_sandbox(const std::string& base, const std::string& rel) {
  if (rel.empty()) return base;
  return (base.empty() || base.back() != '/' ? base + "/" : base) + rel;
}

// Content address of a skill directory: relative paths, executable bits and bytes.
std::string content_hash(const std::vector<LocalFile>& files,
                         const std::vector<std::string>& contents) {
  boost::uuids::detail::sha1 h;
  for (size_t i = 0; i < files.size(); ++i) {
    std::string head = files[i].rel + '\0' + std::to_string(files[i].mode) + '\0' +
                       std::to_string(contents[i].size()) + '\0';
    h.process_bytes(head.data(), head.size());
    h.process_bytes(contents[i].data(), contents[i].size());
  }
  boost::uuids::detail::sha1::digest_type d;
  h.get_digest(d);
  char buf[41];
  for (int i = 0; i < 5; ++i) std::snprintf(buf + i * 8, 9, "%08x", d[i]);
  return std::string(buf, 16);
}

// A per-file error of upload/download as a step error with the same code.
OpResult file_error(const json::object& file, const std::string& fallback) {
  const auto* e = file.if_contains("error");
  std::string code, message = fallback;
  if (e && e->is_object()) {
    if (const auto* c = e->get_object().if_contains("code"); c && c->is_string())
      code = std::string(c->get_string());
    if (const auto* m = e->get_object().if_contains("message"); m && m->is_string())
      message = std::string(m->get_string());
  }
  ar_status status = AR_ERR_INTERNAL;
  for (int s = 1; s <= AR_ERR_UNAUTHORIZED; ++s)
    if (code == ar_status_name(static_cast<ar_status>(s))) status = static_cast<ar_status>(s);
  return OpResult::error(status, message);
}

int64_t int_member(const json::object& o, const char* key, int64_t fallback) {
  if (const auto* v = o.if_contains(key); v && v->is_int64()) return v->get_int64();
  if (const auto* v = o.if_contains(key); v && v->is_uint64())
    return static_cast<int64_t>(v->get_uint64());
  return fallback;
}
bool bool_member(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}
std::string string_member(const json::object& o, const char* key) {
  if (const auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->get_string());
  return "";
}

class Runner {
 public:
  Runner(App& app, const Workload& w, const RunOptions& o) : app_(app), w_(w), opts_(o) {}

  WorkloadOutcome run() {
    for (const auto& [name, value] : w_.secrets) Redactor::global().add(value);
    start_ = Clock::now();
    WorkloadOutcome out;
    session_ = opts_.session ? opts_.session : w_.session;
    int code = kExitOk;
    auto sandbox = app_.open_sandbox(session_, code);
    if (!sandbox) {
      out.status = "failed";
      out.exit_code = code;
      emit({{"event", "workload.finished"},
            {"status", "failed"},
            {"error",
             {{"code", code == kExitPlugin ? "plugin_unavailable" : "sandbox_unavailable"},
              {"message", "the sandbox could not be opened (see stderr)"}}},
            {"steps_ok", 0},
            {"steps_failed", 0},
            {"duration_ms", ms_since(start_)}});
      return out;
    }
    sandbox_ = sandbox.get();
    const Config* cfg = app_.config();
    emit({{"event", "workload.started"},
          {"file", w_.file.string()},
          {"session", session_ ? json::value(*session_) : json::value(nullptr)},
          {"sandbox_type", cfg ? cfg->sandbox_type : ""},
          {"sandbox_id", sandbox->id()},
          {"steps", w_.steps.size()}});

    std::thread monitor([this] { watch(); });
    bool ok = upload_skills();
    size_t index = 0;
    for (; ok && index < w_.steps.size(); ++index) {
      if (stop_.load()) break;
      bool step_ok = run_step(index, w_.steps[index]);
      (step_ok ? out.steps_ok : out.steps_failed)++;
      if (!step_ok && !w_.steps[index].continue_on_error) break;
    }
    {
      std::lock_guard lock(monitor_mutex_);
      finished_ = true;
    }
    monitor_cv_.notify_all();
    monitor.join();

    OpResult rel = sandbox->release();
    if (!rel.ok())
      spdlog::warn("[{}] releasing the sandbox failed: {}: {}", w_.name, rel.code(),
                   Redactor::global().redact(rel.message()));

    if (stop_reason_ == "cancelled") {
      out.status = "cancelled";
      out.exit_code = kExitFailure;
    } else if (!ok || out.steps_failed > 0 || stop_reason_ == "deadline") {
      out.status = "failed";
      out.exit_code = kExitFailure;
    } else {
      out.status = "succeeded";
    }
    json::object fin{
        {"event", "workload.finished"},
        {"status", out.status},
        {"steps_ok", out.steps_ok},
        {"steps_failed", out.steps_failed},
        {"steps_skipped", static_cast<int64_t>(w_.steps.size()) - out.steps_ok - out.steps_failed},
        {"duration_ms", ms_since(start_)}};
    if (stop_reason_ == "deadline")
      fin["error"] = {
          {"code", "timeout"},
          {"message", "the workload deadline of " + seconds_text(deadline_ms()) + " passed"}};
    emit(std::move(fin));
    return out;
  }

 private:
  long long deadline_ms() const {
    return w_.timeout_s ? static_cast<long long>(*w_.timeout_s * 1000.0) : -1;
  }

  // Sets the cancellation flag the plugin polls when the deadline passes or a signal arrives,
  // and keeps the terminal progress line's clock moving.
  void watch() {
    std::unique_lock lock(monitor_mutex_);
    while (!finished_) {
      monitor_cv_.wait_for(lock, std::chrono::milliseconds(50));
      if (finished_) break;
      if (!stop_.load()) {
        if (opts_.interrupted && opts_.interrupted->load()) {
          stop_reason_ = "cancelled";
          stop_.store(true);
        } else if (deadline_ms() >= 0 && ms_since(start_) >= deadline_ms()) {
          stop_reason_ = "deadline";
          stop_.store(true);
        }
      }
      if (live_output_) live_output_->flush_older_than(std::chrono::milliseconds(50));
      if (opts_.console && opts_.console->live() && ++ticks_ % 5 == 0 && !current_.empty())
        opts_.console->status(current_ + "  " + seconds_text(ms_since(step_start_)), false);
    }
  }

  void emit(json::object e) {
    if (!opts_.events && !progress_) return;
    json::object tagged{{"event", e.at("event")}, {"workload", w_.name}};
    for (auto& kv : e)
      if (kv.key() != "event") tagged[kv.key()] = std::move(kv.value());
    if (progress_) progress_->on_event(tagged);
    if (opts_.events) opts_.events->emit(std::move(tagged));
  }

  bool upload_skills() {
    for (const auto& dir : w_.skills) {
      std::string error;
      auto files = collect_files(dir, error);
      std::vector<std::string> contents;
      for (const auto& f : files) {
        auto data = read_local(f.local);
        if (!data) {
          error = "cannot read " + f.local.string();
          break;
        }
        contents.push_back(std::move(*data));
      }
      std::string path;
      if (error.empty()) {
        path = "/bin/skills/" + content_hash(files, contents) + "/";
        json::array list;
        std::vector<std::string_view> inputs;
        for (size_t i = 0; i < files.size(); ++i) {
          list.push_back({{"path", join_sandbox(path, files[i].rel)}, {"mode", files[i].mode}});
          inputs.push_back(contents[i]);
        }
        CallOptions co;
        co.inputs = inputs;
        co.cancelled = &stop_;
        OpResult r = sandbox_->call(Op::upload, {{"files", list}}, co);
        if (!r.ok()) {
          error = r.code() + ": " + r.message();
        } else if (const auto* fr = r.body.if_contains("files"); fr && fr->is_array()) {
          for (const auto& f : fr->get_array())
            if (f.is_object() && !bool_member(f.get_object(), "ok"))
              error = string_member(f.get_object(), "path") + ": " +
                      json::serialize(f.get_object().at("error"));
        }
      }
      json::object ev{{"event", "skill.uploaded"},
                      {"name", dir.filename().string()},
                      {"path", path},
                      {"files", files.size()},
                      {"ok", error.empty()}};
      if (!error.empty()) ev["error"] = {{"code", "upload_failed"}, {"message", error}};
      emit(std::move(ev));
      if (!error.empty()) {
        spdlog::error("[{}] skill {}: {}", w_.name, dir.string(), error);
        return false;
      }
    }
    return true;
  }

  // The step's arguments as shown in events (file content summarised, not repeated).
  static json::object shown_args(const WorkloadStep& s) {
    json::object a = s.args;
    if (s.op == Op::write) {
      a["content_bytes"] = a.at("content").get_string().size();
      a.erase("content");
    }
    return a;
  }

  bool run_step(size_t index, const WorkloadStep& step) {
    const std::string prefix =
        step_progress_prefix(index, w_.steps.size(), w_.name, step.kind, step.label);
    {
      std::lock_guard lock(monitor_mutex_);
      step_start_ = Clock::now();
      current_ = prefix;
    }
    json::object started{{"event", "step.started"},
                         {"index", index},
                         {"op", step.kind},
                         {"line", step.line},
                         {"args", shown_args(step)}};
    if (!step.label.empty()) started["name"] = step.label;
    emit(std::move(started));

    json::object result;
    json::value error = nullptr;
    OpResult r = perform(index, step, result);
    if (!r.ok()) error = r.error_json();
    if (stop_.load() &&
        (r.status == AR_ERR_CANCELLED || !r.ok() || bool_member(result, "timed_out"))) {
      error = stop_reason_ == "deadline"
                  ? json::value{{"code", "timeout"},
                                {"message", "the workload deadline of " +
                                                seconds_text(deadline_ms()) + " passed"}}
                  : json::value{{"code", "cancelled"}, {"message", "cancelled by a signal"}};
    }
    std::string failure = error.is_null() ? check_expect(step, result)
                                          : check_expected_error(step, error.get_object());
    bool ok = failure.empty();
    if (!ok && error.is_null()) error = {{"code", "expectation_failed"}, {"message", failure}};
    if (ok) error = nullptr;
    long long ms;
    {
      std::lock_guard lock(monitor_mutex_);
      current_.clear();
      ms = ms_since(step_start_);
    }
    emit({{"event", "step.finished"},
          {"index", index},
          {"op", step.kind},
          {"ok", ok},
          {"result", result},
          {"error", error},
          {"duration_ms", ms}});
    return ok;
  }

  // An expected error code turns that error into success; any other error stays a failure.
  static std::string check_expected_error(const WorkloadStep& step, const json::object& error) {
    std::string want = string_member(step.expect, "error");
    std::string got = string_member(error, "code");
    if (!want.empty() && want == got) return "";
    return got + ": " + string_member(error, "message");
  }

  static std::string check_expect(const WorkloadStep& step, const json::object& result) {
    const auto& e = step.expect;
    if (e.contains("error"))
      return "expected error " + string_member(e, "error") + " but the step succeeded";
    if (step.op == Op::execute) {
      bool timed_out = bool_member(result, "timed_out");
      bool want_timeout = bool_member(e, "timed_out");
      if (timed_out != want_timeout)
        return timed_out ? "the command timed out (its process tree was killed)"
                         : "expected the command to time out";
      if (!timed_out) {
        int64_t want = int_member(e, "exit_code", 0);
        int64_t got = int_member(result, "exit_code", -1);
        if (want != got)
          return "exit code " + std::to_string(got) + ", expected " + std::to_string(want);
      }
    }
    std::string output = string_member(result, step.op == Op::read ? "content" : "output");
    if (auto s = string_member(e, "output_contains");
        e.contains("output_contains") && output.find(s) == std::string::npos)
      return "output does not contain \"" + s + "\"";
    if (auto s = string_member(e, "output_not_contains");
        e.contains("output_not_contains") && output.find(s) != std::string::npos)
      return "output contains \"" + s + "\"";
    if (auto s = string_member(e, "content_contains");
        e.contains("content_contains") &&
        string_member(result, "content").find(s) == std::string::npos)
      return "content does not contain \"" + s + "\"";
    if (e.contains("count")) {
      int64_t want = int_member(e, "count", 0), got = -1;
      for (const char* k : {"entries", "matches"})
        if (const auto* v = result.if_contains(k); v && v->is_array())
          got = static_cast<int64_t>(v->get_array().size());
      if (step.op == Op::edit) got = int_member(result, "occurrences", -1);
      if (got != want)
        return "count is " + std::to_string(got) + ", expected " + std::to_string(want);
    }
    return "";
  }

  OpResult perform(size_t index, const WorkloadStep& step, json::object& result) {
    CallOptions co;
    co.cancelled = &stop_;
    json::object req = step.args;
    OpResult r;
    switch (step.op) {
      case Op::execute: {
        json::object env;
        for (const auto& [k, v] : w_.env) env[k] = v;
        for (const auto& [k, v] : w_.secrets) env[k] = v;
        if (const auto* se = step.args.if_contains("env"))
          for (const auto& kv : se->get_object())
            env[kv.key()] =
                kv.value().is_string() ? kv.value() : json::value(json::serialize(kv.value()));
        req.erase("env");
        if (!env.empty()) req["env"] = env;
        if (const auto* t = step.args.if_contains("timeout")) {
          req["timeout_s"] = *t;
          req.erase("timeout");
        }
        // Redacted, made valid UTF-8, coalesced and bounded on its way to the events
        // (step_output.hpp); the terminal gets the redacted bytes as they were written.
        StepOutput::Terminal terminal;
        if (opts_.console)
          terminal = [c = opts_.console](ar_stream stream, std::string_view data) {
            c->output(stream == AR_STREAM_STDERR ? 2 : 1, data);
          };
        StepOutput live(opts_.events, std::move(terminal), w_.name, index,
                        static_cast<size_t>(max_step_output_bytes()));
        set_live_output(&live);
        co.on_output = [&live](ar_stream stream, std::string_view data) {
          live.push(stream, data);
        };
        r = sandbox_->call(Op::execute, req, co);
        live.finish();
        set_live_output(nullptr);
        break;
      }
      case Op::write: {
        std::string content(step.args.at("content").get_string());
        req.erase("content");
        co.inputs = {content};
        r = sandbox_->call(Op::write, req, co);
        break;
      }
      case Op::upload:
        r = upload(step, co);
        break;
      case Op::download:
        r = download(step, co);
        break;
      default:
        r = sandbox_->call(step.op, req, co);
        break;
    }
    if (r.ok()) {
      result = r.body;
      if (step.op == Op::read && !r.buffers.empty()) {
        if (sdk::is_valid_utf8(r.buffers[0])) {
          result["content"] = r.buffers[0];
        } else {
          // Redact the bytes before encoding them: inside base64 no secret can be found.
          result["content_base64"] = sdk::base64_encode(Redactor::global().redact(r.buffers[0]));
        }
      }
    }
    return r;
  }

  int max_step_output_bytes() {
    const Config* cfg = app_.config(false);
    return cfg ? cfg->max_step_output_bytes : 0;
  }

  // The running step's output, for the monitor thread to flush what trickles in.
  void set_live_output(StepOutput* live) {
    std::lock_guard lock(monitor_mutex_);
    live_output_ = live;
  }

  OpResult upload(const WorkloadStep& step, CallOptions& co) {
    fs::path from = w_.local_path(std::string(step.args.at("from").get_string()));
    std::string to(step.args.at("to").get_string());
    std::string error;
    auto files = collect_files(from, error);
    if (!error.empty()) return OpResult::error(AR_ERR_FILE_NOT_FOUND, error);
    std::vector<std::string> contents;
    json::array list;
    for (const auto& f : files) {
      auto data = read_local(f.local);
      if (!data)
        return OpResult::error(AR_ERR_PERMISSION_DENIED, "cannot read " + f.local.string());
      contents.push_back(std::move(*data));
      list.push_back({{"path", join_sandbox(to, f.rel)}, {"mode", f.mode}});
    }
    for (const auto& c : contents) co.inputs.push_back(c);
    OpResult r = sandbox_->call(Op::upload, {{"files", list}}, co);
    if (!r.ok()) return r;
    // One failed file fails the step, with that file's own error.
    if (const auto* fr = r.body.if_contains("files"); fr && fr->is_array())
      for (const auto& f : fr->get_array())
        if (f.is_object() && !bool_member(f.get_object(), "ok"))
          return file_error(f.get_object(),
                            string_member(f.get_object(), "path") + ": upload failed");
    return r;
  }

  OpResult download(const WorkloadStep& step, CallOptions& co) {
    std::string from(step.args.at("from").get_string());
    fs::path to(std::string(step.args.at("to").get_string()));
    if (to.is_relative()) to = w_.base_dir / to;
    to = to.lexically_normal();
    OpResult r = sandbox_->call(Op::download, {{"paths", json::array{from}}}, co);
    if (!r.ok()) return r;
    const auto* fr = r.body.if_contains("files");
    if (!fr || !fr->is_array() || fr->get_array().empty() || !fr->get_array()[0].is_object())
      return OpResult::error(AR_ERR_INTERNAL, "the plugin's download result has no files");
    const auto& f = fr->get_array()[0].get_object();
    if (!bool_member(f, "ok")) return file_error(f, from + ": download failed");
    int64_t b = int_member(f, "buffer", -1);
    if (b < 0 || static_cast<size_t>(b) >= r.buffers.size())
      return OpResult::error(AR_ERR_INTERNAL, "the plugin's download result lost the content");
    const std::string& content = r.buffers[static_cast<size_t>(b)];
    OpResult ok;
    ok.body = {{"from", from}, {"to", to.string()}, {"size", content.size()}};
    if (opts_.inline_downloads) {
      // A worker never writes where a job says: the content goes back to the submitter.
      std::string b64 = sdk::base64_encode(content);
      if (b64.size() > *opts_.inline_downloads)
        return OpResult::error(AR_ERR_TOO_LARGE,
                               from + " is " + std::to_string(content.size()) +
                                   " bytes; a job's download brings back at most " +
                                   std::to_string(*opts_.inline_downloads) + " base64 bytes");
      ok.body["content_base64"] = std::move(b64);
      ok.body["mode"] = int_member(f, "mode", 0644);
      return ok;
    }
    std::string err =
        write_local_atomically(to, content, static_cast<int>(int_member(f, "mode", 0644)));
    if (!err.empty()) return OpResult::error(AR_ERR_PERMISSION_DENIED, err);
    return ok;
  }

  App& app_;
  const Workload& w_;
  const RunOptions& opts_;
  std::optional<std::string> session_;
  Sandbox* sandbox_ = nullptr;
  Clock::time_point start_;
  Clock::time_point step_start_;  // guarded by monitor_mutex_
  std::atomic<bool> stop_{false};
  std::string stop_reason_;  // written by the monitor before stop_ is set
  std::mutex monitor_mutex_;
  std::condition_variable monitor_cv_;
  bool finished_ = false;
  int ticks_ = 0;
  std::optional<ProgressView> progress_ =
      opts_.console ? std::optional<ProgressView>(std::in_place, *opts_.console) : std::nullopt;
  std::string current_;  // the running step's progress text; guarded by monitor_mutex_
  StepOutput* live_output_ = nullptr;  // guarded by monitor_mutex_
};

}  // namespace

std::string write_local_atomically(const fs::path& target, std::string_view data, int mode) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(target, ec)))
    return target.string() + " is a directory; give a file path";
  fs::create_directories(target.parent_path(), ec);
  if (ec) return "cannot create " + target.parent_path().string() + ": " + ec.message();
  std::string tmp = (target.parent_path() /
                     ("." + target.filename().string() + ".part-" + std::to_string(::getpid())))
                        .string();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  static_cast<mode_t>(mode & 0777));
  if (fd < 0) return "cannot create " + tmp + ": " + std::strerror(errno);
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return "cannot write " + target.string() + ": " + err;
    }
    off += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), target.c_str()) != 0) {
    std::string err = std::strerror(errno);
    ::unlink(tmp.c_str());
    return "cannot write " + target.string() + ": " + err;
  }
  return "";
}

std::string step_progress_prefix(size_t index, size_t total, const std::string& workload,
                                 const std::string& op, const std::string& label) {
  return "[" + std::to_string(index + 1) + "/" + std::to_string(total) + "] " + workload + ": " +
         op + (label.empty() ? "" : " (" + label + ")");
}

void ProgressView::on_event(const json::object& e) {
  const std::string kind = string_member(e, "event");
  const std::string name = string_member(e, "workload");
  if (kind == "workload.started") {
    steps_ = static_cast<size_t>(int_member(e, "steps", 0));
  } else if (kind == "skill.uploaded") {
    if (bool_member(e, "ok"))
      console_.status(
          name + ": skill " + string_member(e, "name") + " at " + string_member(e, "path"), true);
  } else if (kind == "step.started") {
    prefix_ = step_progress_prefix(static_cast<size_t>(int_member(e, "index", 0)), steps_, name,
                                   string_member(e, "op"), string_member(e, "name"));
    if (console_.live()) console_.status(prefix_, false);
  } else if (kind == "step.finished") {
    std::string verdict = "ok";
    if (!bool_member(e, "ok")) {
      const auto* err = e.if_contains("error");
      const json::object none;
      const auto& eo = err && err->is_object() ? err->get_object() : none;
      verdict = "FAILED: " + string_member(eo, "code") + ": " + string_member(eo, "message");
    }
    console_.status(
        prefix_ + ": " + verdict + " (" + seconds_text(int_member(e, "duration_ms", 0)) + ")",
        true);
  } else if (kind == "workload.finished" && e.contains("steps_skipped")) {
    // (A workload whose sandbox could not be opened has said why on stderr already.)
    console_.status(name + ": " + string_member(e, "status") + " (" +
                        std::to_string(int_member(e, "steps_ok", 0)) + " ok, " +
                        std::to_string(int_member(e, "steps_failed", 0)) + " failed, " +
                        std::to_string(int_member(e, "steps_skipped", 0)) + " not run) in " +
                        seconds_text(int_member(e, "duration_ms", 0)),
                    true);
  }
}

WorkloadOutcome run_workload(App& app, const Workload& workload, const RunOptions& options) {
  return Runner(app, workload, options).run();
}

}  // namespace agent_runner
