// SPDX-License-Identifier: Apache-2.0
#include "mcp_server.hpp"

#include <agent_runner/fd.hpp>

#include "operations.hpp"

#include "logging.hpp"
#include "redact.hpp"

#include <agent_runner/plugin.hpp>

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

namespace agent_runner::mcp {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> logger() {
  static const auto l = component_logger("mcp");
  return l;
}

// Registered secret values never reach the client. Bytes that travel base64-encoded were redacted
// before encoding (mcp_render.cpp); a "match" inside base64 text would only corrupt them. Members
// that carry the protocol's own vocabulary are left alone, so a secret that happens to be a
// common word cannot break a message.
bool protocol_member(std::string_view key) {
  return key == "content_base64" || key == "jsonrpc" || key == "method" || key == "id" ||
         key == "type" || key == "progressToken";
}

// Sends notifications/progress for one running command: at least every `interval`, and sooner
// (but not more than four times per interval) when output arrives. `progress` is the elapsed
// time in seconds, so it increases with every notification as the protocol requires; the
// message tells the model how long the command has run and what it printed last.
class ProgressReporter {
 public:
  static constexpr size_t kLastLineBytes = 200;

  ProgressReporter(MessageWriter& writer, json::value token, const std::atomic<bool>& cancelled,
                   std::chrono::milliseconds interval)
      : writer_(writer),
        token_(std::move(token)),
        cancelled_(cancelled),
        interval_(interval),
        start_(Clock::now()),
        thread_([this] { loop(); }) {}
  ~ProgressReporter() { stop(); }

  void on_output(std::string_view data) {
    std::lock_guard lock(mutex_);
    bytes_ += data.size();
    tail_.append(data);
    output_pending_ = true;
    cv_.notify_one();
  }

  // Stops and joins; no notification is sent after this returns.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    Clock::time_point last_sent = start_;
    while (!stopping_) {
      const auto next_beat = last_sent + interval_;
      cv_.wait_until(lock, next_beat, [&] {
        return stopping_ || (output_pending_ && Clock::now() - last_sent >= interval_ / 4);
      });
      if (stopping_) break;
      if (cancelled_.load()) {
        // Nothing more is reported for a cancelled call. Clear what is pending and wait a whole
        // interval: otherwise the predicate stays true, wait_until returns at once without ever
        // releasing the mutex, and stop() (which needs it) waits forever: the worker hangs.
        output_pending_ = false;
        last_sent = Clock::now();
        continue;
      }
      const auto now = Clock::now();
      if (!output_pending_ && now < next_beat) continue;
      output_pending_ = false;
      json::object params = make_params(now);
      lock.unlock();
      writer_.send(jsonrpc::make_notification("notifications/progress", std::move(params)));
      lock.lock();
      last_sent = now;
    }
  }

  json::object make_params(Clock::time_point now) {
    double seconds =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count() / 1000.0;
    seconds = std::max(std::round(seconds * 10) / 10, last_progress_ + 0.1);
    last_progress_ = seconds;
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.1f", seconds);
    std::string message = std::string("running for ") + elapsed + " s, " + std::to_string(bytes_) +
                          " bytes of output";
    // Redacted before it is cut: a cut through a secret would leave a piece no redaction finds.
    const std::string tail = tail_.excerpt();
    std::string_view t = tail;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    if (auto nl = t.find_last_of('\n'); nl != std::string_view::npos) t.remove_prefix(nl + 1);
    if (t.size() > kLastLineBytes) {
      t = t.substr(t.size() - kLastLineBytes);
      // Start on a character, not inside one.
      while (!t.empty() && (static_cast<unsigned char>(t.front()) & 0xC0) == 0x80)
        t.remove_prefix(1);
    }
    if (!t.empty()) message += "; last line: " + sdk::utf8_sanitize(t);
    return json::object{{"progressToken", token_}, {"progress", seconds}, {"message", message}};
  }

  MessageWriter& writer_;
  json::value token_;
  const std::atomic<bool>& cancelled_;
  std::chrono::milliseconds interval_;
  Clock::time_point start_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool output_pending_ = false;
  size_t bytes_ = 0;
  RedactedTail tail_{Redactor::global(), 4 * kLastLineBytes};
  double last_progress_ = 0;
  std::thread thread_;  // last: starts after everything above is initialized
};

}  // namespace

// ---- MessageWriter ------------------------------------------------------------------------------

bool MessageWriter::send(json::object message) {
  // Redacted in place: the message is this call's own (callers hand over their temporaries), so
  // no deep copy of a result that may be megabytes of file content.
  json::value v(std::move(message));
  const Redactor& redactor = Redactor::global();
  if (!redactor.empty()) redactor.redact_json(v, protocol_member);
  std::string line = json::serialize(v);
  line += '\n';
  std::lock_guard lock(mutex_);
  if (broken_.load()) return false;
  if (const int err = sdk::write_all(fd_, line)) {
    logger()->warn("cannot write to the MCP client (stdout): {}; stopping", std::strerror(err));
    broken_.store(true);
    return false;
  }
  return true;
}

// ---- WorkerPool ---------------------------------------------------------------------------------

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::submit(std::function<void()> task) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(task));
  const size_t idle = threads_.size() - busy_;
  if (idle < queue_.size() && threads_.size() < max_) threads_.emplace_back([this] { run(); });
  cv_.notify_one();
}

void WorkerPool::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
}

bool WorkerPool::wait_idle_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_for(lock, timeout, [&] { return queue_.empty() && busy_ == 0; });
}

void WorkerPool::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping
    auto task = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    lock.unlock();
    try {
      task();
    } catch (const std::exception& e) {
      logger()->error("tool call failed: {}", e.what());
    }
    lock.lock();
    --busy_;
    if (queue_.empty() && busy_ == 0) idle_cv_.notify_all();
  }
}

// ---- Server -------------------------------------------------------------------------------------

Server::Server(OpRunner runner, ServerOptions options, int out_fd)
    : runner_(std::move(runner)),
      options_(std::move(options)),
      writer_(out_fd),
      command_pool_(options_.max_workers),
      file_pool_(options_.max_workers) {}

Server::~Server() {
  cancel_all();
  wait_idle();
}

// serve()'s two threads take turns: one reads, the other (the relief) waits on an alarm that the
// reader sets only while it runs a file operation itself. Whoever sees the end of input wakes the
// other through `wake`.
struct Server::Readers {
  Readers(int in_fd, size_t max_line, const std::atomic<bool>& stop_flag)
      : reader(in_fd, max_line), stop(stop_flag) {}
  jsonrpc::LineReader reader;  // only the reader of the moment touches it
  const std::atomic<bool>& stop;
  sdk::Fd alarm;  // timerfd
  sdk::Fd wake;   // eventfd
  std::mutex mutex;
  std::condition_variable done_cv;
  std::thread::id reader_id;    // which thread reads now
  bool relief_waiting = false;  // the other thread waits on the alarm
  bool inline_running = false;  // the reader runs a call itself (then the alarm is set)
  bool ended = false;
  End end = End::eof;

  void set_alarm(std::chrono::microseconds after) {
    itimerspec its{};
    its.it_value.tv_sec = static_cast<time_t>(after.count() / 1000000);
    its.it_value.tv_nsec = static_cast<long>(after.count() % 1000000) * 1000;
    ::timerfd_settime(alarm.get(), 0, &its, nullptr);
  }
  // Under `mutex`.
  void finish(End how) {
    if (!ended) {
      ended = true;
      end = how;
    }
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake.get(), &one, sizeof one);
    done_cv.notify_all();
  }
};

bool Server::run_on_reader(const std::function<void()>& run) {
  Readers* rs = readers_;
  if (!rs) return false;
  {
    std::lock_guard lock(rs->mutex);
    if (!rs->relief_waiting || rs->inline_running || rs->ended) return false;
    rs->inline_running = true;
    rs->set_alarm(kReliefAfter);
  }
  try {
    run();
  } catch (const std::exception& e) {
    logger()->error("tool call failed: {}", e.what());
  }
  std::lock_guard lock(rs->mutex);
  rs->inline_running = false;
  // Still the reader (the relief slept through it): nothing more may ring.
  if (rs->reader_id == std::this_thread::get_id()) rs->set_alarm(std::chrono::microseconds(0));
  rs->done_cv.notify_all();
  return true;
}

void Server::serve_thread(Readers& rs, bool reading) {
  const auto self = std::this_thread::get_id();
  std::string line;
  for (;;) {
    if (!reading) {
      {
        std::lock_guard lock(rs.mutex);
        if (rs.ended) return;
        rs.relief_waiting = true;
      }
      pollfd pfd[2] = {{rs.alarm.get(), POLLIN, 0}, {rs.wake.get(), POLLIN, 0}};
      const int pr = ::poll(pfd, 2, -1);
      std::lock_guard lock(rs.mutex);
      rs.relief_waiting = false;
      if (rs.ended) return;
      if (pr < 0 && errno != EINTR) {
        logger()->error("waiting for the MCP reader's alarm failed: {}", std::strerror(errno));
        rs.finish(End::read_error);
        cancel_all();
        return;
      }
      uint64_t ticks;
      [[maybe_unused]] const ssize_t n = ::read(rs.alarm.get(), &ticks, sizeof ticks);
      // The reader is still in its call: take over reading (it becomes the relief when done).
      if (rs.inline_running && rs.reader_id != self) {
        rs.reader_id = self;
        reading = true;
      }
      continue;
    }
    if (writer_.broken()) {
      end_serving(rs, End::output_closed);
      return;
    }
    size_t dropped = 0;
    auto st = rs.reader.next(line, dropped, rs.stop);
    if (st == jsonrpc::LineReader::Status::line) {
      handle_line(line);
      std::lock_guard lock(rs.mutex);
      if (rs.ended) return;
      reading = rs.reader_id == self;  // the relief took over while this thread ran a call
    } else if (st == jsonrpc::LineReader::Status::too_long) {
      logger()->warn("dropped a message of {} bytes (limit {})", dropped,
                     options_.max_message_bytes);
      writer_.send(jsonrpc::make_error(
          nullptr, jsonrpc::kInvalidRequest,
          "Invalid Request: message of " + std::to_string(dropped) +
              " bytes exceeds the limit of " + std::to_string(options_.max_message_bytes) +
              " bytes; it was dropped (raise it with agent-runner serve --max-message-bytes)"));
    } else {
      End how = End::eof;
      if (st == jsonrpc::LineReader::Status::stopped) {
        how = End::stopped;
      } else if (st == jsonrpc::LineReader::Status::error) {
        logger()->error("reading from the MCP client (stdin) failed: {}",
                        std::strerror(rs.reader.last_errno()));
        how = End::read_error;
      }
      end_serving(rs, how);
      return;
    }
  }
}

void Server::end_serving(Readers& rs, End how) {
  {
    std::lock_guard lock(rs.mutex);
    rs.finish(how);
  }
  if (how != End::eof) {
    cancel_all();
    return;
  }
  // The client closed its side: answer what is still running (a call the other thread runs
  // itself included), unless told to stop meanwhile.
  logger()->info("stdin closed; finishing the calls still running");
  auto inline_done = [&] {
    std::unique_lock lock(rs.mutex);
    return rs.done_cv.wait_for(lock, std::chrono::milliseconds(100),
                               [&] { return !rs.inline_running; });
  };
  while (!inline_done() || !command_pool_.wait_idle_for(std::chrono::milliseconds(100)) ||
         !file_pool_.wait_idle_for(std::chrono::milliseconds(100))) {
    if (rs.stop.load() || writer_.broken()) {
      cancel_all();
      break;
    }
  }
}

Server::End Server::serve(int in_fd, const std::atomic<bool>& stop) {
  Readers rs(in_fd, options_.max_message_bytes, stop);
  rs.alarm.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  rs.wake.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  rs.reader_id = std::this_thread::get_id();
  std::thread relief;
  if (rs.alarm && rs.wake) {
    readers_ = &rs;
    try {
      relief = std::thread([this, &rs] { serve_thread(rs, false); });
    } catch (const std::system_error& e) {
      readers_ = nullptr;  // every file operation goes to the pool
      logger()->warn("no relief reader ({}); file operations run on workers only", e.what());
    }
  }
  serve_thread(rs, true);
  if (relief.joinable()) relief.join();  // after its call, if it runs one
  readers_ = nullptr;
  wait_idle();
  return rs.end;
}

void Server::handle_line(std::string_view line) {
  jsonrpc::Parsed parsed = jsonrpc::parse_line(line);
  if (parsed.error) {
    logger()->debug("refused a message: {}",
                    json::serialize(parsed.error->at("error").at("message")));
    writer_.send(*parsed.error);
    return;
  }
  if (!parsed.message) return;  // blank line
  jsonrpc::Message& m = *parsed.message;
  switch (m.kind) {
    case jsonrpc::Message::Kind::request:
      handle_request(std::move(m));
      break;
    case jsonrpc::Message::Kind::notification:
      handle_notification(m);
      break;
    case jsonrpc::Message::Kind::response:
      // This server sends no requests, so there is nothing to match a response to.
      logger()->debug("ignoring a response with id {}", json::serialize(m.id));
      break;
  }
}

void Server::handle_request(jsonrpc::Message m) {
  if (m.method == "initialize") {
    if (const json::value* v = m.params.if_contains("protocolVersion"); !v || !v->is_string()) {
      writer_.send(jsonrpc::make_error(
          m.id, jsonrpc::kInvalidParams,
          "Invalid params: initialize needs \"protocolVersion\" (a string such as \"" +
              std::string(kProtocolVersions[0]) + "\")"));
      return;
    }
    writer_.send(jsonrpc::make_result(m.id, initialize(m.params)));
  } else if (m.method == "ping") {
    writer_.send(jsonrpc::make_result(m.id, json::object{}));
  } else if (m.method == "tools/list") {
    if (const json::value* c = m.params.if_contains("cursor"); c && !c->is_string()) {
      writer_.send(jsonrpc::make_error(m.id, jsonrpc::kInvalidParams,
                                       "Invalid params: \"cursor\" must be a string"));
      return;
    }
    Features f;
    {
      std::lock_guard lock(calls_mutex_);
      f = features_;
    }
    writer_.send(jsonrpc::make_result(m.id, json::object{{"tools", tools_list(f)}}));
  } else if (m.method == "tools/call") {
    start_tool_call(std::move(m));
  } else {
    writer_.send(jsonrpc::make_error(
        m.id, jsonrpc::kMethodNotFound,
        "Method not found: " + m.method +
            " (this server offers initialize, ping, tools/list and tools/call)"));
  }
}

json::object Server::initialize(const json::object& params) {
  const std::string requested(params.at("protocolVersion").get_string());
  std::string chosen(kProtocolVersions[0]);
  for (auto v : kProtocolVersions)
    if (v == requested) chosen = requested;
  {
    std::lock_guard lock(calls_mutex_);
    protocol_version_ = chosen;
    features_ = features_for(chosen);
  }
  std::string client = "unknown client";
  if (const json::value* ci = params.if_contains("clientInfo"); ci && ci->is_object()) {
    if (const json::value* n = ci->get_object().if_contains("name"); n && n->is_string())
      client = std::string(n->get_string());
    if (const json::value* v = ci->get_object().if_contains("version"); v && v->is_string())
      client += " " + std::string(v->get_string());
  }
  logger()->info("initialize from {}: protocol {} requested, {} chosen", client, requested, chosen);
  json::object result{
      {"protocolVersion", chosen},
      {"capabilities", json::object{{"tools", json::object{{"listChanged", false}}}}},
      {"serverInfo", json::object{{"name", "agent-runner"}, {"version", options_.server_version}}}};
  if (!options_.instructions.empty()) result["instructions"] = options_.instructions;
  return result;
}

void Server::handle_notification(const jsonrpc::Message& m) {
  if (m.method == "notifications/initialized") {
    initialized_.store(true);
    logger()->debug("client initialized");
  } else if (m.method == "notifications/cancelled") {
    const json::value* id = m.params.if_contains("requestId");
    if (!id) return;
    std::shared_ptr<Call> call;
    {
      std::lock_guard lock(calls_mutex_);
      if (auto it = calls_.find(jsonrpc::id_key(*id)); it != calls_.end()) call = it->second;
    }
    if (!call) {
      logger()->debug("cancellation for {}, which is not running", json::serialize(*id));
      return;
    }
    std::string reason;
    if (const json::value* r = m.params.if_contains("reason"); r && r->is_string())
      reason = std::string(r->get_string());
    logger()->info("client cancelled request {}{}{}", json::serialize(*id),
                   reason.empty() ? "" : ": ", reason);
    call->cancelled.store(true);
  } else {
    logger()->debug("ignoring notification {}", m.method);
  }
}

void Server::start_tool_call(jsonrpc::Message m) {
  const json::value* name = m.params.if_contains("name");
  if (!name || !name->is_string()) {
    writer_.send(jsonrpc::make_error(
        m.id, jsonrpc::kInvalidParams,
        "Invalid params: tools/call needs \"name\", the tool's name as a string"));
    return;
  }
  const ToolSpec* tool = find_tool(name->get_string());
  if (!tool) {
    std::string names;
    for (const auto& t : tool_specs()) names += (names.empty() ? "" : ", ") + t.name;
    writer_.send(jsonrpc::make_error(
        m.id, jsonrpc::kInvalidParams,
        "Unknown tool: " + std::string(name->get_string()) + " (tools: " + names + ")"));
    return;
  }
  json::object arguments;
  if (auto a = m.params.find("arguments"); a != m.params.end() && !a->value().is_null()) {
    if (!a->value().is_object()) {
      writer_.send(jsonrpc::make_error(m.id, jsonrpc::kInvalidParams,
                                       "Invalid params: \"arguments\" must be an object"));
      return;
    }
    arguments = std::move(a->value().get_object());  // the message is ours: no copy of content
  }
  json::value token = nullptr;
  if (const json::value* meta = m.params.if_contains("_meta"); meta && meta->is_object()) {
    if (const json::value* t = meta->get_object().if_contains("progressToken");
        t && (t->is_string() || t->is_int64() || t->is_uint64()))
      token = *t;
  }

  auto call = std::make_shared<Call>();
  call->id = m.id;
  Features features;
  {
    std::lock_guard lock(calls_mutex_);
    auto [it, inserted] = calls_.emplace(jsonrpc::id_key(m.id), call);
    if (!inserted) {
      writer_.send(jsonrpc::make_error(m.id, jsonrpc::kInvalidRequest,
                                       "Invalid Request: id " + json::serialize(m.id) +
                                           " is already used by a running request"));
      return;
    }
    features = features_;
  }
  auto run = [this, call, tool, arguments = std::move(arguments), token = std::move(token),
              features] { run_tool_call(call, *tool, arguments, token, features); };
  if (tool->op == Op::execute) {
    command_pool_.submit(std::move(run));
  } else if (!run_on_reader(run)) {
    file_pool_.submit(std::move(run));
  }
}

void Server::run_tool_call(const std::shared_ptr<Call>& call, const ToolSpec& tool,
                           const json::object& arguments, const json::value& token,
                           const Features& features) {
  if (call->cancelled.load()) {  // cancelled while it waited for a worker
    finish(call, {});
    return;
  }
  PreparedCall prepared = prepare_call(tool, arguments, options_.limits);
  if (!prepared.error.empty()) {
    finish(call, jsonrpc::make_result(call->id,
                                      error_result("invalid_argument", prepared.error, features)));
    return;
  }
  CallOptions opts;
  opts.cancelled = &call->cancelled;
  for (const auto& in : prepared.inputs) opts.inputs.emplace_back(in);
  std::unique_ptr<ProgressReporter> progress;
  if (!token.is_null() && tool.op == Op::execute) {
    progress = std::make_unique<ProgressReporter>(writer_, token, call->cancelled,
                                                  options_.progress_interval);
    opts.on_output = [p = progress.get()](ar_stream, std::string_view data) { p->on_output(data); };
  }
  const auto start = Clock::now();
  OpResult r;
  try {
    r = prepared.op == Op::download ? download(prepared, opts)
                                    : runner_(prepared.op, prepared.request, opts);
  } catch (const std::exception& e) {
    r = OpResult::error(AR_ERR_INTERNAL, e.what());
  }
  if (progress) progress->stop();
  logger()->debug(
      "{} {} in {} ms", tool.name, r.ok() ? "ok" : r.code(),
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
  json::object result;
  try {
    result = render_result(tool, prepared, r, features);
  } catch (const std::exception& e) {
    result =
        error_result("internal", std::string("could not render the result: ") + e.what(), features);
  }
  finish(call, jsonrpc::make_result(call->id, std::move(result)));
}

void Server::finish(const std::shared_ptr<Call>& call, json::object response) {
  {
    std::lock_guard lock(calls_mutex_);
    calls_.erase(jsonrpc::id_key(call->id));
  }
  // A cancelled request gets no response (MCP "Cancellation"): the client has forgotten it.
  if (call->cancelled.load()) {
    logger()->debug("request {} was cancelled; not answering it", json::serialize(call->id));
    return;
  }
  writer_.send(std::move(response));
}

OpResult Server::download(const PreparedCall& prepared, const CallOptions& opts) {
  const size_t limit = options_.limits.max_result_bytes;
  OpResult merged;
  json::array files;
  size_t held = 0;
  for (const auto& path : prepared.request.at("paths").get_array()) {
    if (opts.cancelled && opts.cancelled->load())
      return OpResult::error(AR_ERR_CANCELLED, "cancelled by the client");
    auto left_out = [&](std::string message) {
      files.push_back(json::object{
          {"path", path},
          {"ok", false},
          {"error", json::object{{"code", "too_large"}, {"message", std::move(message)}}}});
    };
    if (held >= limit) {
      left_out("left out: the files before it already reach this server's limit of " +
               std::to_string(limit) +
               " bytes per call (serve --max-result-bytes); download it in another call");
      continue;
    }
    OpResult one = runner_(Op::download, json::object{{"paths", json::array{path}}}, opts);
    if (!one.ok()) return one;  // the whole call failed (cancelled, unavailable, ...)
    const auto outcomes = file_outcomes(one.body);
    const json::value* fr = one.body.if_contains("files");
    if (outcomes.empty() || !fr || !fr->is_array() || !fr->get_array()[0].is_object()) {
      left_out("the plugin's answer had no entry for this file");
      continue;
    }
    json::object f = fr->get_array()[0].get_object();
    const size_t at = outcomes[0].buffer.value_or(SIZE_MAX);
    f["buffer"] = nullptr;  // renumbered below, into the merged result's buffers
    if (at < one.buffers.size()) {
      std::string& bytes = one.buffers[at];
      if (held + bytes.size() > limit) {
        left_out("is " + std::to_string(bytes.size()) + " bytes" +
                 (held ? "; with the files before it that is" : ",") + " more than this server's " +
                 "limit of " + std::to_string(limit) + " bytes per call (serve " +
                 "--max-result-bytes); " +
                 (held ? "download it in another call" : "read it in parts with read_file"));
        continue;  // `one` and its bytes go here
      }
      held += bytes.size();
      f["buffer"] = merged.buffers.size();
      merged.buffers.push_back(std::move(bytes));
    }
    files.push_back(std::move(f));
  }
  merged.body = json::object{{"files", std::move(files)}};
  return merged;
}

void Server::cancel_all() {
  std::lock_guard lock(calls_mutex_);
  for (auto& [key, call] : calls_) call->cancelled.store(true);
}

}  // namespace agent_runner::mcp
