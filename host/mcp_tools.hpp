// SPDX-License-Identifier: Apache-2.0
// The sandbox's operations as MCP tools: their schemas and model-oriented descriptions, turning
// tool arguments into a sandbox request, and turning the operation's result into a
// CallToolResult (text for the model plus structuredContent). No I/O here.
#pragma once

#include <agent_runner/text.hpp>

#include "sandbox.hpp"

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner::mcp {

// What the negotiated protocol version lets a result carry.
struct Features {
  bool structured = true;   // outputSchema, structuredContent, title (2025-06-18 and later)
  bool annotations = true;  // tool annotations (2025-03-26 and later)
};
Features features_for(std::string_view protocol_version);

struct ToolSpec {
  std::string name;
  Op op;
  std::string title;
  std::string description;
  boost::json::object input_schema;
  boost::json::object output_schema;
  boost::json::object annotations;
};

// Every tool, in the order tools/list shows them.
const std::vector<ToolSpec>& tool_specs();
const ToolSpec* find_tool(std::string_view name);

// The `tools` array of a tools/list result.
boost::json::array tools_list(const Features& features);

// What one tool call may bring back into the host's memory and to the client (settings of
// `serve`): without them a download of many files, or a grep for "^" in a big file, builds
// results of any size.
struct CallLimits {
  size_t max_result_bytes = 16u << 20;  // download: bytes of all files; grep: of matching lines
  size_t max_matches = 5000;            // grep: matching lines
};

// A tool call ready for the sandbox, or the reason its arguments were refused (for the model).
struct PreparedCall {
  Op op = Op::execute;
  boost::json::object request;
  std::vector<std::string> inputs;  // write: content; upload: decoded bytes per file
  std::string error;                // non-empty: invalid arguments, nothing to run
  CallLimits limits;
  std::string note;  // what the limits changed in the request, for the result text
};
PreparedCall prepare_call(const ToolSpec& tool, const boost::json::object& arguments,
                          const CallLimits& limits = {});

// A CallToolResult for the model. File bytes are redacted of registered secrets before they are
// base64-encoded (inside base64 no secret can be found later).
boost::json::object render_result(const ToolSpec& tool, const PreparedCall& call,
                                  const OpResult& result, const Features& features);
// A failed call as a CallToolResult: isError, "Error: CODE: MESSAGE" as its text and
// structuredContent {"error": {"code", "message"}}.
boost::json::object error_result(std::string_view code, std::string_view message,
                                 const Features& features);

// Helpers, public for the unit tests.
using sdk::base64_decode;  // agent_runner/text.hpp, shared with plugins
using sdk::base64_encode;
// `cat -n` style: "%6d\t" + line, numbered from first_line; lines longer than max_line_bytes are
// split into chunks numbered N, N.1, N.2, ... (never inside a UTF-8 sequence).
std::string number_lines(std::string_view text, int64_t first_line, size_t max_line_bytes = 10000);

}  // namespace agent_runner::mcp
