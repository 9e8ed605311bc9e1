// SPDX-License-Identifier: Apache-2.0
// The MCP front door: bytes as a client would send them, cut into lines by the LineReader (with a
// small cap, so over-long lines are exercised), each line through the dispatcher of a real
// Server whose sandbox is a fake that answers every operation. Responses go to /dev/null.
#include "jsonrpc.hpp"
#include "mcp_server.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

namespace {
namespace json = boost::json;
using agent_runner::CallOptions;
using agent_runner::Op;
using agent_runner::OpResult;

// Plausible answers, built from the request, so that rendering sees every tool's result shape.
OpResult fake(Op op, const json::object& req, const CallOptions& o) {
  OpResult r;
  const std::string path = req.contains("path") && req.at("path").is_string()
                               ? std::string(req.at("path").get_string())
                               : "/";
  switch (op) {
    case Op::execute:
      if (o.on_output) o.on_output(AR_STREAM_STDOUT, json::serialize(req));
      r.body = {{"exit_code", 0},
                {"output", json::serialize(req)},
                {"truncated", false},
                {"timed_out", false}};
      break;
    case Op::read:
      r.body = {{"path", path}, {"total_lines", 2}, {"offset", 0}, {"lines", 2}, {"more", false}};
      r.buffers = {path + "\n\xff\n"};
      break;
    case Op::grep:
      r.body = {{"matches", json::array{json::object{{"path", path}, {"line", 1}, {"text", path}}}},
                {"truncated", false}};
      break;
    case Op::download: {
      json::array files;
      for (const auto& p : req.at("paths").get_array()) {
        files.push_back(
            {{"path", p}, {"ok", true}, {"size", 3}, {"mode", 420}, {"buffer", r.buffers.size()}});
        r.buffers.push_back("a\0b");
      }
      r.body = {{"files", files}};
      break;
    }
    case Op::upload: {
      json::array files;
      for (const auto& f : req.at("files").get_array())
        files.push_back({{"path", f.at("path")}, {"ok", true}});
      r.body = {{"files", files}};
      break;
    }
    default:
      r.body = {{"path", path},
                {"entries", json::array{}},
                {"occurrences", 1},
                {"deleted", true},
                {"bytes_written", 0}};
      break;
  }
  return r;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  static const int in = ::memfd_create("fuzz-jsonrpc", MFD_CLOEXEC);
  if (in < 0 || ::ftruncate(in, 0) != 0) return 0;
  if (size && ::pwrite(in, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  ::lseek(in, 0, SEEK_SET);

  agent_runner::mcp::ServerOptions options;
  options.max_workers = 2;
  options.progress_interval = std::chrono::milliseconds(1);
  options.limits.max_result_bytes = 4096;
  options.limits.max_matches = 10;
  agent_runner::mcp::Server server(fake, options, devnull);
  agent_runner::jsonrpc::LineReader reader(in, 512);
  const std::atomic<bool> stop{false};
  std::string line;
  for (;;) {
    size_t dropped = 0;
    auto st = reader.next(line, dropped, stop);
    if (st == agent_runner::jsonrpc::LineReader::Status::line) {
      server.handle_line(line);
      (void)agent_runner::jsonrpc::parse_line(line);
    } else if (st != agent_runner::jsonrpc::LineReader::Status::too_long) {
      break;
    }
  }
  server.wait_idle();
  return 0;
}
