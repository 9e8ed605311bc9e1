// SPDX-License-Identifier: Apache-2.0
// The Model Context Protocol server behind `agent-runner serve --mcp`: JSON-RPC 2.0 over
// newline-delimited stdio, the sandbox's operations as tools.
//
// Threads: one reader at a time parses every line and answers the quick methods itself. Commands
// run on workers of their own. A file operation runs on the reader itself when the relief (a
// second thread of serve(), waiting on an alarm) is free: handing a call to a worker costs two
// thread wakeups, more than a small read or write takes. The alarm rings after kReliefAfter, and
// then the relief becomes the reader, so a slow file operation holds up the next line (a
// cancellation, say) by that much at most; otherwise file operations run on a pool of their own.
// A long command never holds up a file read or a cancellation. Every message goes out through
// one writer (a mutex around whole lines).
#pragma once

#include "jsonrpc.hpp"
#include "mcp_tools.hpp"
#include "sandbox.hpp"

#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace agent_runner::mcp {

// The protocol versions this server speaks, newest first: those of the official TypeScript SDK.
inline constexpr std::array<std::string_view, 5> kProtocolVersions = {
    "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05", "2024-10-07"};

// Runs one sandbox operation (the real server passes Sandbox::call; tests pass a fake).
using OpRunner = std::function<OpResult(Op, const boost::json::object&, const CallOptions&)>;

struct ServerOptions {
  size_t max_message_bytes = 8 * 1024 * 1024;
  size_t max_workers = 16;  // commands running at once, and file operations running at once;
                            // more wait in a queue
  std::chrono::milliseconds progress_interval{1000};
  CallLimits limits;  // per tool call: bytes of files and matching lines, matches
  std::string server_version = "0.0.0";
  std::string instructions;  // shown to the model by clients that support it
};

// Writes whole protocol messages to a file descriptor, one line each, from any thread.
class MessageWriter {
 public:
  explicit MessageWriter(int fd) : fd_(fd) {}
  // False once the peer has gone (EPIPE and the like); later sends are dropped.
  bool send(boost::json::object message);
  bool broken() const { return broken_.load(); }

 private:
  int fd_;
  std::mutex mutex_;
  std::atomic<bool> broken_{false};
};

// A fixed-size pool that starts threads lazily, up to `max`.
class WorkerPool {
 public:
  explicit WorkerPool(size_t max) : max_(max == 0 ? 1 : max) {}
  ~WorkerPool();
  void submit(std::function<void()> task);
  // Blocks until the queue is empty and no task is running.
  void wait_idle();
  // Same, for at most `timeout`; true when idle.
  bool wait_idle_for(std::chrono::milliseconds timeout);

 private:
  void run();
  size_t max_;
  std::mutex mutex_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::function<void()>> queue_;
  std::vector<std::thread> threads_;
  size_t busy_ = 0;
  bool stopping_ = false;
};

class Server {
 public:
  // How long a file operation run by the reader may keep the next line waiting.
  static constexpr std::chrono::microseconds kReliefAfter{1000};

  Server(OpRunner runner, ServerOptions options, int out_fd);
  ~Server();

  enum class End { eof, stopped, output_closed, read_error };
  // Serves messages from in_fd until EOF, `stop` turning true, or the client going away. On EOF
  // the calls still running are finished and answered; otherwise they are cancelled. Returns when
  // no call is running any more.
  End serve(int in_fd, const std::atomic<bool>& stop);

  // One incoming line (what serve() does per line; public for tests).
  void handle_line(std::string_view line);
  // Cancels every running call (their process trees are killed) without answering them.
  void cancel_all();
  void wait_idle() {
    command_pool_.wait_idle();
    file_pool_.wait_idle();
  }
  const std::string& protocol_version() const { return protocol_version_; }

 private:
  struct Call {
    boost::json::value id;
    std::atomic<bool> cancelled{false};
  };
  struct Readers;  // serve()'s two threads (mcp_server.cpp)

  // One of serve()'s threads: the reader until the relief takes over, or the relief until the
  // alarm rings while the reader runs a call; returns once serving has ended.
  void serve_thread(Readers& rs, bool reading);
  // Ends serving as the thread that saw the end: cancels the running calls, or after the end of
  // input lets them finish (unless told to stop meanwhile).
  void end_serving(Readers& rs, End how);
  // Runs the call on this thread (the reader) if the relief is free; false otherwise.
  bool run_on_reader(const std::function<void()>& run);

  void handle_request(jsonrpc::Message m);
  void handle_notification(const jsonrpc::Message& m);
  boost::json::object initialize(const boost::json::object& params);
  void start_tool_call(jsonrpc::Message m);
  void run_tool_call(const std::shared_ptr<Call>& call, const ToolSpec& tool,
                     const boost::json::object& arguments, const boost::json::value& token,
                     const Features& features);
  void finish(const std::shared_ptr<Call>& call, boost::json::object response);
  // A download, one file at a time, that stops holding file contents once they reach the
  // per-call limit; the files left out say so.
  OpResult download(const PreparedCall& prepared, const CallOptions& opts);

  OpRunner runner_;
  ServerOptions options_;
  MessageWriter writer_;
  std::mutex calls_mutex_;
  std::map<std::string, std::shared_ptr<Call>> calls_;  // by jsonrpc::id_key
  std::atomic<bool> initialized_{false};
  std::string protocol_version_ = std::string(kProtocolVersions[0]);
  Features features_;
  Readers* readers_ = nullptr;  // while serve() runs
  // Commands and file operations have workers of their own, so however many long commands run,
  // a file read never waits for one. Last: their threads stop before the members they use go.
  WorkerPool command_pool_;
  WorkerPool file_pool_;
};

}  // namespace agent_runner::mcp
