// SPDX-License-Identifier: Apache-2.0
// One workload: open the sandbox, upload skills, run the steps with their expectations under the
// workload's deadline, release the sandbox whatever happened. Every event and every printed byte
// passes through the secret redactor.
#include "workload_runner.hpp"

#include "expectations.hpp"
#include "local_files.hpp"
#include "operations.hpp"
#include "redact.hpp"
#include "step_output.hpp"

#include <agent_runner/text.hpp>

#include <chrono>
#include <condition_variable>
#include <thread>

namespace agent_runner {
namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string_view workload_status_name(WorkloadStatus s) {
  // In the order of enum WorkloadStatus.
  static constexpr std::string_view kNames[] = {"succeeded", "failed", "cancelled"};
  return kNames[static_cast<size_t>(s)];
}

namespace {

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
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
      out.status = WorkloadStatus::failed;
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
          {"workdir", sandbox->workdir()},
          {"steps", w_.steps.size()}});

    std::thread monitor([this] { watch(); });
    bool ok = upload_skills();
    size_t index = 0;
    for (; ok && index < w_.steps.size(); ++index) {
      if (stop_.load()) break;
      const bool step_ok = run_step(index, w_.steps[index]);
      (step_ok ? out.steps_ok : out.steps_failed)++;
      // continue_on_error works as GitHub Actions' continue-on-error: the step's failure is
      // tolerated and does not fail the workload.
      if (!step_ok && w_.steps[index].continue_on_error) out.steps_tolerated++;
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
      out.status = WorkloadStatus::cancelled;
      out.exit_code = kExitFailure;
    } else if (!ok || out.steps_failed > out.steps_tolerated || stop_reason_ == "deadline") {
      out.status = WorkloadStatus::failed;
      out.exit_code = kExitFailure;
    } else {
      out.status = WorkloadStatus::succeeded;
    }
    json::object fin{
        {"event", "workload.finished"},
        {"status", workload_status_name(out.status)},
        {"steps_ok", out.steps_ok},
        {"steps_failed", out.steps_failed},
        {"steps_tolerated", out.steps_tolerated},
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
      std::string error, path;
      size_t count = 0;
      auto files = collect_files(dir);
      if (!files) error = files.error();
      std::vector<std::string> contents;
      for (size_t i = 0; files && error.empty() && i < files->size(); ++i) {
        auto data = read_local((*files)[i].local);
        if (!data)
          error = "cannot read " + (*files)[i].local.string();
        else
          contents.push_back(std::move(*data));
      }
      if (error.empty()) {
        count = files->size();
        // Relative, so below the sandbox's workdir (where commands start) on every plugin; the
        // event reports it absolute.
        path = "bin/skills/" + content_hash(*files, contents) + "/";
        std::vector<UploadFile> uploads;
        for (size_t i = 0; i < count; ++i)
          uploads.push_back(
              {join_sandbox(path, (*files)[i].rel), (*files)[i].mode, std::move(contents[i])});
        CallOptions co;
        co.cancelled = &stop_;
        OpResult r = call(*sandbox_, upload_request(std::move(uploads)), co);
        if (!r.ok()) {
          error = r.code() + ": " + r.message();
        } else {
          for (const auto& f : file_outcomes(r.body))
            if (!f.ok)
              error = f.path + ": " + (f.error ? json::serialize(*f.error) : std::string("failed"));
        }
      }
      json::object ev{{"event", "skill.uploaded"},
                      {"name", dir.filename().string()},
                      {"path", path.empty() || sandbox_->workdir().empty()
                                   ? path
                                   : join_sandbox(sandbox_->workdir(), path)},
                      {"files", count},
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
        (r.status == AR_ERR_CANCELLED || !r.ok() || execute_view(result).timed_out)) {
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
    json::object finished{
        {"event", "step.finished"}, {"index", index}, {"op", step.kind},  {"ok", ok},
        {"result", result},         {"error", error}, {"duration_ms", ms}};
    if (!ok && step.continue_on_error) finished["tolerated"] = true;
    emit(std::move(finished));
    return ok;
  }

  OpResult perform(size_t index, const WorkloadStep& step, json::object& result) {
    CallOptions co;
    co.cancelled = &stop_;
    OpResult r;
    switch (step.op) {
      case Op::upload:
        r = upload(step, co);
        break;
      case Op::download:
        r = download(step, co);
        break;
      default: {
        json::object args = step.args;
        if (step.op == Op::execute) {
          // The workload's env and secrets, then the step's own.
          json::object env;
          for (const auto& [k, v] : w_.env) env[k] = v;
          for (const auto& [k, v] : w_.secrets) env[k] = v;
          if (const auto* se = step.args.if_contains("env"); se && se->is_object())
            for (const auto& kv : se->get_object()) env[kv.key()] = kv.value();
          args.erase("env");
          if (!env.empty()) args["env"] = std::move(env);
        }
        auto req = make_request(step.op, Front::step, args);
        if (!req) return OpResult::error(req.error().status, req.error().message);
        r = step.op == Op::execute ? execute(index, *req, co) : call(*sandbox_, *req, co);
        break;
      }
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

  // An execute step, its output redacted, made valid UTF-8, coalesced and bounded on its way to
  // the events (step_output.hpp); the terminal gets the redacted bytes as they were written.
  OpResult execute(size_t index, const Request& req, CallOptions& co) {
    StepOutput::Terminal terminal;
    if (opts_.console)
      terminal = [c = opts_.console](ar_stream stream, std::string_view data) {
        c->output(stream == AR_STREAM_STDERR ? 2 : 1, data);
      };
    StepOutput live(opts_.events, std::move(terminal), w_.name, index,
                    static_cast<size_t>(max_step_output_bytes()));
    set_live_output(&live);
    co.on_output = [&live](ar_stream stream, std::string_view data) { live.push(stream, data); };
    OpResult r = call(*sandbox_, req, co);
    live.finish();
    set_live_output(nullptr);
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
    const fs::path from = w_.local_path(std::string(step.args.at("from").get_string()));
    const std::string to(step.args.at("to").get_string());
    auto files = collect_files(from);
    if (!files) return OpResult::error(AR_ERR_FILE_NOT_FOUND, files.error());
    std::vector<UploadFile> uploads;
    for (const auto& f : *files) {
      auto data = read_local(f.local);
      if (!data)
        return OpResult::error(AR_ERR_PERMISSION_DENIED, "cannot read " + f.local.string());
      uploads.push_back({join_sandbox(to, f.rel), f.mode, std::move(*data)});
    }
    OpResult r = call(*sandbox_, upload_request(std::move(uploads)), co);
    if (!r.ok()) return r;
    // One failed file fails the step, with that file's own error.
    for (const auto& f : file_outcomes(r.body))
      if (!f.ok) return f.as_error(f.path + ": upload failed");
    return r;
  }

  OpResult download(const WorkloadStep& step, CallOptions& co) {
    const std::string from(step.args.at("from").get_string());
    fs::path to(std::string(step.args.at("to").get_string()));
    if (to.is_relative()) to = w_.base_dir / to;
    to = to.lexically_normal();
    OpResult r = call(*sandbox_, download_request({from}), co);
    if (!r.ok()) return r;
    const auto files = file_outcomes(r.body);
    if (files.empty())
      return OpResult::error(AR_ERR_INTERNAL, "the plugin's download result has no files");
    const FileOutcome& f = files[0];
    if (!f.ok) return f.as_error(from + ": download failed");
    if (!f.buffer || *f.buffer >= r.buffers.size())
      return OpResult::error(AR_ERR_INTERNAL, "the plugin's download result lost the content");
    const std::string& content = r.buffers[*f.buffer];
    const int mode = static_cast<int>(f.mode.value_or(0644));
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
      ok.body["content_base64"] = b64;
      ok.body["mode"] = mode;
      return ok;
    }
    std::string err = write_local_atomically(to, content, mode);
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

WorkloadOutcome run_workload(App& app, const Workload& workload, const RunOptions& options) {
  return Runner(app, workload, options).run();
}

}  // namespace agent_runner
