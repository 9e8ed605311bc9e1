// SPDX-License-Identifier: Apache-2.0
// The MCP server over real pipes, with a fake sandbox: lifecycle, concurrency, progress,
// cancellation and malformed input. (The real host and plugins: process_test.cpp, conformance.mjs.)
#include "mcp_server.hpp"
#include "redact.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <functional>
#include <future>
#include <mutex>
#include <thread>

namespace {
namespace json = boost::json;
namespace mcp = agent_runner::mcp;
using agent_runner::CallOptions;
using agent_runner::Op;
using agent_runner::OpResult;
using namespace std::chrono_literals;

// Waits that only guard against a hung test; nothing asserts on how long anything takes.
constexpr auto kHangGuard = 60s;

// A sandbox in memory. "wait" runs until cancelled, printing a line now and then.
struct FakeSandbox {
  std::atomic<int> waiting{0};
  std::atomic<int> cancelled_calls{0};
  // The thread each read ran on.
  struct Threads {
    std::mutex mutex;
    std::vector<std::thread::id> ids;
    std::thread::id last_wait;  // the thread the latest "/wait" read runs on
    void push(std::thread::id id, bool waits) {
      std::lock_guard lock(mutex);
      ids.push_back(id);
      if (waits) last_wait = id;
    }
    std::thread::id last_waiting() {
      std::lock_guard lock(mutex);
      return last_wait;
    }
    bool contains(std::thread::id id) {
      std::lock_guard lock(mutex);
      return std::find(ids.begin(), ids.end(), id) != ids.end();
    }
  } reader_threads;

  OpResult operator()(Op op, const json::object& req, const CallOptions& o) {
    OpResult r;
    if (op == Op::execute) {
      const std::string cmd(req.at("command").as_string());
      if (cmd == "wait") {
        ++waiting;
        const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
        for (int i = 0; !o.cancelled->load() && std::chrono::steady_clock::now() < give_up; ++i) {
          if (o.on_output && i % 10 == 0)
            o.on_output(AR_STREAM_STDOUT, "tick " + std::to_string(i) + "\n");
          std::this_thread::sleep_for(5ms);
        }
        --waiting;
        ++cancelled_calls;
        return OpResult::error(AR_ERR_CANCELLED, "cancelled by the host");
      }
      r.body = {{"exit_code", 0}, {"output", cmd}, {"truncated", false}, {"timed_out", false}};
      return r;
    }
    if (op == Op::read) {
      reader_threads.push(std::this_thread::get_id(), req.at("path") == "/wait");
      if (req.at("path") == "/wait") {  // a file operation that never ends by itself
        ++waiting;
        const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
        while (!o.cancelled->load() && std::chrono::steady_clock::now() < give_up)
          std::this_thread::sleep_for(5ms);
        --waiting;
        ++cancelled_calls;
        return OpResult::error(AR_ERR_CANCELLED, "cancelled by the host");
      }
      r.body = {{"path", req.at("path")},
                {"total_lines", 1},
                {"offset", 0},
                {"lines", 1},
                {"more", false}};
      r.buffers = {"hello\n"};
      return r;
    }
    return OpResult::error(AR_ERR_UNSUPPORTED, "not in the fake");
  }
};

class Harness {
 public:
  explicit Harness(mcp::OpRunner runner, mcp::ServerOptions options = {}) {
    std::signal(SIGPIPE, SIG_IGN);
    int a[2], b[2];
    EXPECT_EQ(::pipe2(a, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(b, O_CLOEXEC), 0);
    server_in_ = a[0];
    to_server_ = a[1];
    from_server_ = b[0];
    server_out_ = b[1];
    options.progress_interval = 50ms;
    server_ = std::make_unique<mcp::Server>(std::move(runner), options, server_out_);
    thread_ = std::thread([this] { end_ = server_->serve(server_in_, stop_); });
  }
  ~Harness() {
    close_input();
    join();
    server_.reset();
    for (int fd : {server_in_, from_server_}) ::close(fd);
  }

  void send(std::string_view line) {
    std::string s(line);
    s += '\n';
    std::string_view rest = s;
    while (!rest.empty()) {
      ssize_t n = ::write(to_server_, rest.data(), rest.size());
      ASSERT_GT(n, 0);
      rest.remove_prefix(static_cast<size_t>(n));
    }
  }
  void request(int id, std::string_view method, std::string_view params = "{}") {
    send(R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"method":")" + std::string(method) +
         R"(","params":)" + std::string(params) + "}");
  }
  void initialize(std::string_view version = "2025-11-25") {
    request(0, "initialize",
            R"({"protocolVersion":")" + std::string(version) +
                R"(","capabilities":{},"clientInfo":{"name":"test","version":"1"}})");
    EXPECT_TRUE(response(0).contains("result"));
    send(R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }

  // The next message the server sends, or null after the hang guard.
  std::optional<json::object> next() {
    const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        json::value v =
            json::parse(line);  // throws on a non-JSON line: stdout must be protocol only
        return v.as_object();
      }
      if (std::chrono::steady_clock::now() > give_up) return std::nullopt;
      pollfd p{from_server_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char chunk[65536];
      ssize_t n = ::read(from_server_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  // Messages until one matches; the others are kept in `seen`.
  json::object wait_for(const std::function<bool(const json::object&)>& match) {
    for (auto it = seen.begin(); it != seen.end(); ++it) {
      if (match(*it)) {
        json::object m = *it;
        seen.erase(it);
        return m;
      }
    }
    for (;;) {
      auto m = next();
      if (!m) {
        ADD_FAILURE() << "the server never sent the expected message";
        return {};
      }
      if (match(*m)) return *m;
      seen.push_back(*m);
    }
  }
  json::object response(const json::value& id) {
    return wait_for([&](const json::object& m) {
      return !m.contains("method") && m.contains("id") && m.at("id") == id;
    });
  }
  void close_input() {
    if (to_server_ >= 0) ::close(to_server_);
    to_server_ = -1;
  }
  // Waits for serve() to return, then closes the server's end of its output so that next()
  // sees the end of the stream after the last message.
  void join() {
    if (thread_.joinable()) thread_.join();
    if (server_out_ >= 0) ::close(server_out_);
    server_out_ = -1;
  }
  void stop() { stop_.store(true); }
  mcp::Server::End end() const { return end_; }
  mcp::Server& server() { return *server_; }
  std::thread::id serve_thread_id() const { return thread_.get_id(); }

  std::vector<json::object> seen;

 private:
  int server_in_ = -1, to_server_ = -1, from_server_ = -1, server_out_ = -1;
  std::atomic<bool> stop_{false};
  std::unique_ptr<mcp::Server> server_;
  std::thread thread_;
  mcp::Server::End end_ = mcp::Server::End::read_error;
  std::string buf_;
};

int64_t error_code(const json::object& m) {
  return m.at("error").at("code").as_int64();
}
std::string text_of(const json::object& m) {
  return std::string(m.at("result").at("content").at(0).at("text").as_string());
}

void wait_until(const std::function<bool()>& cond) {
  const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
  while (!cond() && std::chrono::steady_clock::now() < give_up) std::this_thread::sleep_for(5ms);
  ASSERT_TRUE(cond());
}

TEST(McpServer, NegotiatesTheProtocolVersion) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  for (auto v : mcp::kProtocolVersions) {
    h.request(1, "initialize",
              R"({"protocolVersion":")" + std::string(v) + R"(","capabilities":{}})");
    auto r = h.response(1);
    EXPECT_EQ(r.at("result").at("protocolVersion"), json::string(v));
    EXPECT_EQ(r.at("result").at("serverInfo").at("name"), "agent-runner");
    EXPECT_TRUE(r.at("result").at("capabilities").as_object().contains("tools"));
  }
  h.request(2, "initialize", R"({"protocolVersion":"1999-01-01","capabilities":{}})");
  EXPECT_EQ(h.response(2).at("result").at("protocolVersion"),
            json::string(mcp::kProtocolVersions[0]))
      << "an unknown version is answered with the latest one";
  h.request(3, "initialize", R"({"capabilities":{}})");
  EXPECT_EQ(error_code(h.response(3)), -32602);
}

TEST(McpServer, OldProtocolGetsNoStructuredContent) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize("2024-11-05");
  h.request(1, "tools/list");
  const auto listed = h.response(1);
  for (const auto& t : listed.at("result").at("tools").as_array())
    EXPECT_FALSE(t.as_object().contains("outputSchema"));
  h.request(2, "tools/call", R"({"name":"execute","arguments":{"command":"hi"}})");
  EXPECT_FALSE(h.response(2).at("result").as_object().contains("structuredContent"));
}

TEST(McpServer, PingListAndCall) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  h.request(1, "ping");
  EXPECT_EQ(h.response(1).at("result"), json::object{});
  h.request(2, "tools/list");
  EXPECT_EQ(h.response(2).at("result").at("tools").as_array().size(), mcp::tool_specs().size());
  h.request(3, "tools/call", R"({"name":"read_file","arguments":{"path":"/a.txt"}})");
  auto r = h.response(3);
  EXPECT_EQ(text_of(r), "     1\thello");
  EXPECT_EQ(r.at("result").at("structuredContent").at("content"), "hello\n");
  h.request(4, "tools/call", R"({"name":"ls","arguments":{}})");
  r = h.response(4);
  EXPECT_TRUE(r.at("result").at("isError").as_bool()) << "operation errors are results";
  EXPECT_NE(text_of(r).find("unsupported"), std::string::npos);
}

TEST(McpServer, MalformedInputGetsTheRightErrorAndServingGoesOn) {
  FakeSandbox fake;
  mcp::ServerOptions opts;
  opts.max_message_bytes = 1024 * 1024;
  Harness h(std::ref(fake), opts);
  h.initialize();
  h.send("this is not json");
  EXPECT_EQ(error_code(h.wait_for([](auto& m) { return m.contains("error"); })), -32700);
  h.send(R"({"jsonrpc":"2.0","id":5})");
  EXPECT_EQ(error_code(h.response(5)), -32600);
  h.request(6, "no/such/method");
  EXPECT_EQ(error_code(h.response(6)), -32601);
  h.request(7, "tools/call", R"({"name":"no_such_tool","arguments":{}})");
  EXPECT_EQ(error_code(h.response(7)), -32602);
  h.request(8, "tools/call", R"({"name":"execute","arguments":"ls"})");
  EXPECT_EQ(error_code(h.response(8)), -32602);
  h.request(9, "tools/call", R"({"arguments":{}})");
  EXPECT_EQ(error_code(h.response(9)), -32602);
  // Wrong argument types are for the model to fix: a tool error naming the field.
  h.request(10, "tools/call", R"({"name":"execute","arguments":{"command":42}})");
  auto r = h.response(10);
  EXPECT_TRUE(r.at("result").at("isError").as_bool());
  EXPECT_NE(text_of(r).find("command"), std::string::npos);
  // A 10 MB line: dropped with an error, without being held in memory, and the server goes on.
  h.send(R"({"jsonrpc":"2.0","id":11,"method":"ping","params":{"pad":")" +
         std::string(10 * 1024 * 1024, 'x') + "\"}}");
  auto big = h.wait_for([](auto& m) { return m.contains("error"); });
  EXPECT_EQ(error_code(big), -32600);
  EXPECT_TRUE(big.at("id").is_null());
  h.request(12, "ping");
  EXPECT_TRUE(h.response(12).contains("result"));
  // Notifications are never answered, not even unknown ones.
  h.send(R"({"jsonrpc":"2.0","method":"notifications/whatever"})");
  h.request(13, "ping");
  EXPECT_TRUE(h.response(13).contains("result"));
  EXPECT_TRUE(h.seen.empty()) << json::serialize(h.seen.front());
}

TEST(McpServer, LongCommandDoesNotBlockFileReads) {
  FakeSandbox fake;
  mcp::ServerOptions opts;
  opts.max_workers = 1;  // even with one worker per kind, a command cannot hold up a read
  Harness h(std::ref(fake), opts);
  h.initialize();
  h.request(1, "tools/call", R"({"name":"execute","arguments":{"command":"wait"}})");
  wait_until([&] { return fake.waiting.load() == 1; });
  for (int id = 2; id < 6; ++id)
    h.request(id, "tools/call", R"({"name":"read_file","arguments":{"path":"/a"}})");
  for (int id = 2; id < 6; ++id) EXPECT_EQ(text_of(h.response(id)), "     1\thello");
  EXPECT_EQ(fake.waiting.load(), 1) << "the command is still running";
  h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
  wait_until([&] { return fake.waiting.load() == 0; });
}

TEST(McpServer, QuickFileOperationsRunOnTheReader) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  // The relief thread starts with serve(); once it waits on its alarm, a read runs on the thread
  // that read its line (serve()'s caller) instead of a worker. On a loaded machine the new thread
  // may not run for a while: until then every read goes to a worker.
  const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
  for (int id = 1; !fake.reader_threads.contains(h.serve_thread_id()) &&
                   std::chrono::steady_clock::now() < give_up;
       ++id) {
    h.request(id, "tools/call", R"({"name":"read_file","arguments":{"path":"/a"}})");
    EXPECT_EQ(text_of(h.response(id)), "     1\thello");
    if (id > 10) std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(fake.reader_threads.contains(h.serve_thread_id()))
      << "no read ran on serve()'s own thread";
}

void cancel(Harness& h, int id) {
  h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":)" +
         std::to_string(id) + "}}");
}

// Starts a read of "/wait" that runs on serve()'s own thread and returns its id; the ids it used
// are added to `used`. A file operation runs on the reader only while the relief thread waits on
// its alarm, which a test cannot arrange, so a read that went to a worker is cancelled and tried
// again.
int slow_read_on_the_reader(Harness& h, FakeSandbox& fake, std::vector<int>& used) {
  const auto give_up = std::chrono::steady_clock::now() + kHangGuard;
  for (int id = 1000; std::chrono::steady_clock::now() < give_up; ++id) {
    used.push_back(id);
    const int cancelled = fake.cancelled_calls.load();
    h.request(id, "tools/call", R"({"name":"read_file","arguments":{"path":"/wait"}})");
    wait_until([&] { return fake.waiting.load() == 1; });
    if (fake.reader_threads.last_waiting() == h.serve_thread_id()) return id;
    cancel(h, id);
    wait_until(
        [&] { return fake.cancelled_calls.load() == cancelled + 1 && fake.waiting.load() == 0; });
  }
  ADD_FAILURE() << "no slow read ran on serve()'s own thread";
  return -1;
}

TEST(McpServer, SlowFileOperationOnTheReaderDoesNotHoldUpTheNextLines) {
  FakeSandbox fake;
  mcp::ServerOptions opts;
  opts.max_workers = 1;
  Harness h(std::ref(fake), opts);
  h.initialize();
  std::vector<int> cancelled_ids;
  const int first = slow_read_on_the_reader(h, fake, cancelled_ids);
  ASSERT_GT(first, 0);
  // The relief reads on while serve()'s thread is in the read: a ping, a quick read and a second
  // slow read (both on the one file worker) get through.
  h.request(2, "ping");
  h.response(2);
  h.request(3, "tools/call", R"({"name":"read_file","arguments":{"path":"/a"}})");
  EXPECT_EQ(text_of(h.response(3)), "     1\thello");
  h.request(4, "tools/call", R"({"name":"read_file","arguments":{"path":"/wait"}})");
  cancelled_ids.push_back(4);
  wait_until([&] { return fake.waiting.load() == 2; });
  h.request(5, "ping");
  h.response(5);
  // Both are cancelled through lines read while they run, and neither is answered.
  const int cancelled_before = fake.cancelled_calls.load();
  cancel(h, first);
  cancel(h, 4);
  wait_until([&] { return fake.cancelled_calls.load() == cancelled_before + 2; });
  for (int id = 6; id < 16; ++id) {
    h.request(id, "tools/call", R"({"name":"read_file","arguments":{"path":"/a"}})");
    EXPECT_EQ(text_of(h.response(id)), "     1\thello");
  }
  h.close_input();
  h.join();
  EXPECT_EQ(h.end(), mcp::Server::End::eof);
  while (auto m = h.next()) h.seen.push_back(*m);
  for (const auto& m : h.seen) {
    for (int id : cancelled_ids)
      EXPECT_FALSE(m.contains("id") && m.at("id") == id)
          << "cancelled request answered: " << json::serialize(m);
  }
}

TEST(McpServer, StopCancelsAFileOperationRunningOnTheReader) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  std::vector<int> ids;
  ASSERT_GT(slow_read_on_the_reader(h, fake, ids), 0);
  const int cancelled_before = fake.cancelled_calls.load();
  h.stop();
  h.join();
  EXPECT_EQ(h.end(), mcp::Server::End::stopped);
  EXPECT_EQ(fake.cancelled_calls.load(), cancelled_before + 1);
}

TEST(McpServer, ProgressThenCancellationKillsTheCallAndSendsNoResponse) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  h.request(1, "tools/call",
            R"({"name":"execute","arguments":{"command":"wait"},"_meta":{"progressToken":"tok"}})");
  double last = 0;
  for (int i = 0; i < 3; ++i) {
    auto p = h.wait_for(
        [](auto& m) { return m.contains("method") && m.at("method") == "notifications/progress"; });
    const auto& params = p.at("params").as_object();
    EXPECT_EQ(params.at("progressToken"), "tok");
    EXPECT_GT(params.at("progress").to_number<double>(), last) << "progress must increase";
    last = params.at("progress").to_number<double>();
    EXPECT_NE(params.at("message").as_string().find("tick"), std::string::npos);
  }
  h.send(
      R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1,"reason":"user"}})");
  wait_until([&] { return fake.cancelled_calls.load() == 1; });
  h.request(2, "ping");
  h.response(2);
  h.close_input();
  h.join();
  while (auto m = h.next()) h.seen.push_back(*m);
  for (const auto& m : h.seen)
    EXPECT_FALSE(m.contains("id") && m.at("id") == 1)
        << "cancelled request answered: " << json::serialize(m);
}

TEST(McpServer, DuplicateIdOfARunningRequestIsRefused) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  h.request(1, "tools/call", R"({"name":"execute","arguments":{"command":"wait"}})");
  wait_until([&] { return fake.waiting.load() == 1; });
  h.request(1, "tools/call", R"({"name":"read_file","arguments":{"path":"/a"}})");
  EXPECT_EQ(error_code(h.response(1)), -32600);
  h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
}

TEST(McpServer, EofAnswersRunningCallsThenReturns) {
  std::atomic<bool> release{false};
  Harness h([&](Op, const json::object&, const CallOptions&) {
    while (!release.load()) std::this_thread::sleep_for(1ms);
    OpResult r;
    r.body = {{"path", "/x"}, {"deleted", true}};
    return r;
  });
  h.initialize();
  h.request(1, "tools/call", R"({"name":"delete","arguments":{"path":"/x"}})");
  h.close_input();
  release.store(true);
  EXPECT_EQ(text_of(h.response(1)), "Deleted /x");
  h.join();
  EXPECT_EQ(h.end(), mcp::Server::End::eof);
}

TEST(McpServer, StopCancelsRunningCalls) {
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  h.request(1, "tools/call", R"({"name":"execute","arguments":{"command":"wait"}})");
  wait_until([&] { return fake.waiting.load() == 1; });
  h.stop();
  h.join();
  EXPECT_EQ(h.end(), mcp::Server::End::stopped);
  EXPECT_EQ(fake.cancelled_calls.load(), 1);
}

TEST(McpServer, RegisteredSecretsNeverReachTheClient) {
  agent_runner::Redactor::global().add("sekrit-value-4711");
  FakeSandbox fake;
  Harness h(std::ref(fake));
  h.initialize();
  h.request(1, "tools/call",
            R"({"name":"execute","arguments":{"command":"echo sekrit-value-4711"}})");
  const std::string line = json::serialize(h.response(1));
  EXPECT_EQ(line.find("sekrit"), std::string::npos) << line;
  EXPECT_NE(line.find("echo ***"), std::string::npos) << line;
}

// Every 4-byte piece of `secret` that occurs in `text` (none may: a piece is a partial leak).
std::vector<std::string> pieces_in(const std::string& text, const std::string& secret) {
  std::vector<std::string> found;
  for (size_t i = 0; i + 4 <= secret.size(); ++i)
    if (text.find(secret.substr(i, 4)) != std::string::npos) found.push_back(secret.substr(i, 4));
  return found;
}

TEST(McpServer, ProgressNeverQuotesAPieceOfASecretAtEitherEdgeOfItsCut) {
  // Upper-case letters only: nothing else in a progress message can contain them.
  const std::string secret = "QZJXPLMKWVUTHGFEDCBAQZJXPLMKWVUT";
  agent_runner::Redactor::global().add(secret);
  std::atomic<int> phase{0};
  Harness h([&](Op op, const json::object&, const CallOptions& o) {
    if (op != Op::execute) return OpResult::error(AR_ERR_UNSUPPORTED, "no");
    // 1: the secret is being written, its first 20 bytes are out; 2: it is out whole, and the
    // last 200 bytes of the line start inside it.
    o.on_output(AR_STREAM_STDOUT, "start " + secret.substr(0, 20));
    wait_until([&] { return phase.load() >= 1 || o.cancelled->load(); });
    o.on_output(AR_STREAM_STDOUT, secret.substr(20) + std::string(190, 'y'));
    wait_until([&] { return phase.load() >= 2 || o.cancelled->load(); });
    OpResult r;
    r.body = {{"exit_code", 0}, {"output", ""}, {"truncated", false}, {"timed_out", false}};
    return r;
  });
  h.initialize();
  h.request(1, "tools/call",
            R"({"name":"execute","arguments":{"command":"x"},"_meta":{"progressToken":"t"}})");
  auto progress_with = [&](const std::string& bytes) {
    return h.wait_for([&](const json::object& m) {
      return m.contains("method") && m.at("method") == "notifications/progress" &&
             std::string(m.at("params").at("message").as_string()).find(bytes) != std::string::npos;
    });
  };
  const auto first = json::serialize(progress_with("26 bytes of output"));
  EXPECT_EQ(pieces_in(first, secret), std::vector<std::string>{}) << first;
  phase.store(1);
  const auto second = json::serialize(progress_with("228 bytes of output"));
  EXPECT_EQ(pieces_in(second, secret), std::vector<std::string>{}) << second;
  EXPECT_NE(second.find("yyyy"), std::string::npos) << "the line is still quoted: " << second;
  phase.store(2);
  h.response(1);
}

TEST(McpServer, DownloadStopsHoldingFilesAtTheByteLimitAndSaysWhichWereLeftOut) {
  std::atomic<size_t> most_paths{0};
  std::vector<std::string> asked;
  std::mutex asked_mutex;
  mcp::ServerOptions options;
  options.limits.max_result_bytes = 10000;
  Harness h(
      [&](Op op, const json::object& req, const CallOptions&) {
        if (op != Op::download) return OpResult::error(AR_ERR_UNSUPPORTED, "no");
        const auto& paths = req.at("paths").as_array();
        most_paths.store(std::max(most_paths.load(), paths.size()));
        OpResult r;
        json::array files;
        for (const auto& p : paths) {
          std::lock_guard lock(asked_mutex);
          asked.emplace_back(p.as_string());
          const size_t size = p.as_string() == "/big" ? 20000 : 4000;
          files.push_back({{"path", p},
                           {"ok", true},
                           {"size", size},
                           {"mode", 420},
                           {"buffer", r.buffers.size()}});
          r.buffers.push_back(std::string(size, 'a'));
        }
        r.body = {{"files", files}};
        return r;
      },
      options);
  h.initialize();
  h.request(1, "tools/call",
            R"({"name":"download","arguments":{"paths":["/a","/b","/big","/c","/d","/e"]}})");
  const auto res = h.response(1).at("result").as_object();
  EXPECT_EQ(most_paths.load(), 1u) << "one file at a time, never all at once";
  const auto& files = res.at("structuredContent").at("files").as_array();
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(files[0].at("ok"), true);
  EXPECT_EQ(files[1].at("ok"), true);
  EXPECT_EQ(files[2].at("ok"), false);  // 20000 bytes: over the limit by itself
  EXPECT_EQ(files[3].at("ok"), false);  // 4000 + 4000 + 4000 > 10000
  EXPECT_EQ(files[3].at("error").at("code"), "too_large");
  EXPECT_NE(files[3].at("error").at("message").as_string().find("serve --max-result-bytes"),
            std::string::npos);
  size_t carried = 0;
  for (const auto& f : files)
    if (const auto* c = f.as_object().if_contains("content_base64"); c && c->is_string())
      carried += mcp::base64_decode(c->as_string())->size();
  EXPECT_LE(carried, 10000u);
}

TEST(McpServer, OutputAfterCancellationNeverWedgesTheWorker) {
  // Found by fuzz_jsonrpc: a cancelled call whose command printed once more left its progress
  // reporter spinning with its mutex held, and the worker waited for it forever.
  std::atomic<bool> returned{false};
  Harness h([&](Op, const json::object&, const CallOptions& o) {
    o.on_output(AR_STREAM_STDOUT, "before\n");
    wait_until([&] { return o.cancelled->load(); });
    // Output that arrives more than a quarter interval (the harness's 50 ms) after the last
    // notification makes the reporter want to send; the call being cancelled, it must not.
    std::this_thread::sleep_for(30ms);
    o.on_output(AR_STREAM_STDOUT, "after\n");
    std::this_thread::sleep_for(30ms);
    returned.store(true);
    return OpResult::error(AR_ERR_CANCELLED, "cancelled by the host");
  });
  h.initialize();
  h.request(1, "tools/call",
            R"({"name":"execute","arguments":{"command":"x"},"_meta":{"progressToken":"t"}})");
  h.wait_for([](auto& m) { return m.contains("method"); });  // a progress notification
  h.send(R"({"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}})");
  wait_until([&] { return returned.load(); });
  auto idle = std::async(std::launch::async, [&] { h.server().wait_idle(); });
  if (idle.wait_for(kHangGuard) != std::future_status::ready) {
    ADD_FAILURE() << "the worker of the cancelled call never finished";
    std::_Exit(1);  // the stuck thread cannot be joined
  }
}

}  // namespace
