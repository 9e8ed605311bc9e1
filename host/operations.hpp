// SPDX-License-Identifier: Apache-2.0
// The sandbox operations as every front end (`exec`, `run`, `serve --mcp`, the worker) sees them:
// the catalogue (AR_OPERATIONS in plugin.h), the JSON shapes of their arguments, requests and
// results (schemas/operations.schema.json, compiled in), turning arguments into an ABI request,
// and reading a result through a typed view. Adding an operation means a line in AR_OPERATIONS,
// its shapes in the schema file, a case in make_request and, if it has one, its view here.
#pragma once

#include "sandbox.hpp"

#include <agent_runner/json_member.hpp>

#include <boost/json.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace agent_runner {

// ---- the catalogue ------------------------------------------------------------------------------

struct OperationInfo {
  Op op;
  std::string_view name;  // in messages ("delete" for Op::remove)
  std::string_view tool;  // the workload step kind and MCP tool name
  uint64_t capability;    // AR_CAP_*
};

inline constexpr std::array kOperations = {
#define AR_HOST_OP_INFO_(slot, name, tool, capability) \
  OperationInfo{Op::slot, name, tool, capability},
    AR_OPERATIONS(AR_HOST_OP_INFO_)
#undef AR_HOST_OP_INFO_
};

const OperationInfo& operation(Op op);
std::optional<Op> op_from_tool(std::string_view tool);

// ---- shapes ------------------------------------------------------------------------------------

// Who passes the arguments: a workload step or an MCP tool call. The two take the same arguments
// except where a contract differs (edit_file's old/new vs old_string/new_string; upload and
// download, which move local files in a workload and base64 over MCP).
enum class Front { step, tool };
enum class Shape { arguments, request, result, output };

// schemas/operations.schema.json.
const boost::json::object& operations_schema();
// "execute.arguments", "edit_file.tool", ...: the $defs member that holds a shape.
std::string shape_name(Op op, Shape shape, Front front);
// The shape as a standalone schema (its $refs replaced by what they point to), for clients that
// read a schema on its own (MCP tools/list).
boost::json::object standalone_schema(Op op, Shape shape, Front front);

// ---- requests ----------------------------------------------------------------------------------

// Why a request could not be made (arguments the schema cannot rule out, such as bad base64).
struct RequestError {
  ar_status status = AR_ERR_INVALID_ARGUMENT;
  std::string message;
};
[[noreturn]] void throw_exception_from_error(const RequestError& e,
                                             const boost::source_location& loc);

// An ABI request: the JSON the plugin receives and the input buffers (write: content; upload: one
// per file).
struct Request {
  Op op = Op::execute;
  boost::json::object body;
  std::vector<std::string> inputs;
};

// Arguments already valid against the front's `arguments` shape, as the plugin's request. A
// workload's upload and download (local files) are made by upload_request/download_request.
boost::system::result<Request, RequestError> make_request(Op op, Front front,
                                                          const boost::json::object& arguments);

struct UploadFile {
  std::string path;  // in the sandbox
  int mode = 0644;
  std::string content;
};
Request upload_request(std::vector<UploadFile> files);
Request download_request(const std::vector<std::string>& paths);

// Sends a request: its inputs become the call's.
OpResult call(Sandbox& sandbox, const Request& request, CallOptions options = {});

// ---- typed views of results --------------------------------------------------------------------
// Each reads a plugin's result once, leniently (a member missing or of the wrong type takes its
// default), so no front end re-reads the JSON on its own.

struct ExecuteView {
  int64_t exit_code = -1;
  std::string output, stdout_text, stderr_text;
  bool truncated = false;
  bool timed_out = false;
  std::optional<int64_t> duration_ms, stdout_bytes, stderr_bytes;
};
ExecuteView execute_view(const boost::json::object& body);

struct FileEntry {
  std::string path;
  bool is_dir = false;
  std::optional<int64_t> size;
  std::optional<std::string> modified_at;
  boost::json::object to_json() const;
};
// ls and glob.
struct ListingView {
  std::optional<std::string> path;
  std::vector<FileEntry> entries;
  bool truncated = false;
};
ListingView listing_view(const boost::json::object& body);

struct ReadView {
  std::optional<std::string> path;
  std::optional<int64_t> offset, lines, total_lines, size;
  std::optional<bool> more;
  std::string_view bytes;  // the selected lines (the result's first buffer)
};
ReadView read_view(const OpResult& result);

struct GrepMatch {
  std::string path;
  int64_t line = 0;
  std::string text;
};
struct GrepView {
  std::vector<GrepMatch> matches;
  bool truncated = false;
};
GrepView grep_view(const boost::json::object& body);

// write, edit and delete: the path and what changed.
struct ChangeView {
  std::optional<std::string> path;
  std::optional<int64_t> bytes_written;  // write
  std::optional<bool> created;           // write
  std::optional<int64_t> occurrences;    // edit
  std::optional<bool> deleted;           // delete
};
ChangeView change_view(const boost::json::object& body);

// upload and download: one outcome per file.
struct FileOutcome {
  std::string path;
  bool ok = false;
  std::optional<int64_t> size, mode;
  std::optional<size_t> buffer;              // download: the index of its bytes in the result
  std::optional<boost::json::object> error;  // {"code","message"} when not ok
  // The error as an OpResult with the same status (a plugin's code, or internal).
  OpResult as_error(std::string_view fallback) const;
};
std::vector<FileOutcome> file_outcomes(const boost::json::object& body);

// The status an error code names ("file_not_found" -> AR_ERR_FILE_NOT_FOUND); internal if none.
ar_status status_from_code(std::string_view code);

// Lenient member readers (agent_runner/json_member.hpp), shared by the views and the front ends
// that read their own JSON (events, expectations).
using sdk::bool_member;
using sdk::exact_int;
using sdk::int_member;
using sdk::string_member;

}  // namespace agent_runner
